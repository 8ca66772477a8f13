import type { EntraGroupId, Ref } from "../core/desired.js";

/**
 * Values the file cannot know: the client id of an app homelab creates, a client secret it generates,
 * the object id of an Entra group. Planners ask here; `undefined` means "known after apply" (shown as
 * such in the diff). Apply steps that create such values record them, so later steps can use them.
 */
export interface Resolver {
  value(ref: Ref): string | undefined;
  groupId(g: EntraGroupId): string | undefined;
  /**
   * Record a value. `discard` undoes what produced it (e.g. removes a client secret just created) and is
   * called when the change that was to consume it fails, so nothing is left orphaned.
   */
  record(ref: Ref, value: string, discard?: () => Promise<void>): void;
  recordGroup(g: EntraGroupId, objectId: string): void;
  /** The plan will produce a new value for `ref` (shown as changing; known after apply). */
  markPending(ref: Ref): void;
  isPending(ref: Ref): boolean;
  /** Undo the producer of `ref`'s value, if it registered how (see `record`). Never throws. */
  discard(ref: Ref): Promise<void>;
}

export const KNOWN_AFTER_APPLY = "(known after apply)";

export function createResolver(): Resolver {
  const values = new Map<string, string>();
  const discards = new Map<string, () => Promise<void>>();
  const pending = new Set<string>();
  const groups = new Map<string, string>();
  const key = (ref: Ref) => `${ref.ref}\0${ref.field}`;
  const gkey = (g: EntraGroupId) => `${g.tenant}\0${g.displayName.toLowerCase()}`;
  return {
    value: (ref) => values.get(key(ref)),
    groupId: (g) => {
      const oid = groups.get(gkey(g));
      return oid === undefined ? undefined : `${oid}-${g.realm}`;
    },
    record: (ref, value, discard) => {
      values.set(key(ref), value);
      if (discard) discards.set(key(ref), discard);
    },
    recordGroup: (g, objectId) => void groups.set(gkey(g), objectId),
    markPending: (ref) => void pending.add(key(ref)),
    isPending: (ref) => pending.has(key(ref)),
    discard: async (ref) => {
      const d = discards.get(key(ref));
      discards.delete(key(ref));
      values.delete(key(ref));
      if (d) await d().catch(() => undefined);
    },
  };
}
