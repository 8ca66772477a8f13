import { HomelabError } from "../../core/errors.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import type { ObservedTenant, TenantTarget } from "./target.js";

export const ENTRA_GROUP_KIND = "entra.group";

/**
 * Groups are managed in Entra ID, not by homelab: this kind only resolves each mapped group's display
 * name to its object id (for the Proxmox group `<objectid>-<realm>` and the app assignment), and refuses
 * a name that matches no group or several.
 */
export const entraGroupProvider: Provider<TenantTarget, ObservedTenant> = {
  kind: ENTRA_GROUP_KIND,

  async read(target) {
    const names = target.desired.groups.map((g) => g.displayName);
    return { groups: names.length ? await target.graph.findGroupsByDisplayName(names) : new Map() };
  },

  plan(target, observed): PlanPart {
    for (const g of target.desired.groups) {
      const matches = [...observed.groups.entries()].filter(([name]) => name.toLowerCase() === g.displayName.toLowerCase()).flatMap(([, list]) => list);
      const exact = matches.filter((m) => m.displayName.toLowerCase() === g.displayName.toLowerCase());
      if (exact.length === 0) {
        throw new HomelabError("E_ENTRA_GROUP", `tenant ${target.desired.name}: no Entra group is named "${g.displayName}"`, {
          hint: "check the group's display name in the Entra admin center (Groups > All groups), or create the group there",
        });
      }
      if (exact.length > 1) {
        throw new HomelabError("E_ENTRA_GROUP", `tenant ${target.desired.name}: ${exact.length} Entra groups are named "${g.displayName}" (${exact.map((m) => m.id).join(", ")})`, {
          hint: "display names are not unique in Entra ID: rename one of the groups so the mapping is unambiguous",
        });
      }
      const id = exact[0]!.id;
      target.resolver.recordGroup({ tenant: target.desired.name, displayName: g.displayName, realm: "" }, id);
      target.resolver.record({ ref: g.address, field: "id" }, id);
    }
    return { changes: [], unchanged: target.desired.groups.length };
  },

  async apply() {
    // Never planned: groups are only looked up.
  },
};
