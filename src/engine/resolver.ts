import type { EntraGroupId, Ref } from "../core/desired.js";

/**
 * Values the file cannot know: the client id of an app homelab creates, a client secret it generates,
 * the object id of an Entra group. Planners ask here; `undefined` means "known after apply" (shown as
 * such in the diff). Apply steps that create such values record them, so later steps can use them.
 */
export interface Resolver {
  value(ref: Ref): string | undefined;
  groupId(g: EntraGroupId): string | undefined;
  record(ref: Ref, value: string): void;
  recordGroup(g: EntraGroupId, objectId: string): void;
}

export const KNOWN_AFTER_APPLY = "(known after apply)";

export function createResolver(): Resolver {
  const values = new Map<string, string>();
  const groups = new Map<string, string>();
  const gkey = (g: EntraGroupId) => `${g.tenant}\0${g.displayName.toLowerCase()}`;
  return {
    value: (ref) => values.get(`${ref.ref}\0${ref.field}`),
    groupId: (g) => {
      const oid = groups.get(gkey(g));
      return oid === undefined ? undefined : `${oid}-${g.realm}`;
    },
    record: (ref, value) => void values.set(`${ref.ref}\0${ref.field}`, value),
    recordGroup: (g, objectId) => void groups.set(gkey(g), objectId),
  };
}
