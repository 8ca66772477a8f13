import { HomelabError } from "../../core/errors.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import type { ObservedCluster } from "../proxmox/observed.js";
import { directoryRead, exactGroup, realmUsers, refuseUnreadable, unreadableWarning } from "./directory.js";
import type { ObservedTenant, TenantTarget } from "./target.js";
import type { EntraGroup, EntraMember } from "./types.js";

export const ENTRA_GROUP_KIND = "entra.group";

/**
 * Groups are managed in Entra ID, not by homelab: this kind only resolves each mapped group's display
 * name to its object id (for the Proxmox group `<objectid>-<realm>` and the app assignment), and refuses
 * a name that matches no group or several.
 *
 * It also reads what the Proxmox user planner needs from the directory (issue 13): the transitive user
 * members of each group some mapping syncs (`members: sync`, one paged read per group), and, after the first
 * plan, when the clusters' users are known, the accounts of the Proxmox users of the realms the tenant provisions,
 * with `accountEnabled` (to find leavers: `readAfterPlan`). The plan refuses, before any write, a read that
 * permissions made blind (directory.ts).
 */
export const entraGroupProvider: Provider<TenantTarget, ObservedTenant> = {
  kind: ENTRA_GROUP_KIND,

  async read(target) {
    const names = target.desired.groups.map((g) => g.displayName);
    const synced = target.desired.groups.filter((g) => g.syncMembers);
    const groups = names.length ? await target.graph.findGroupsByDisplayName(names) : new Map<string, EntraGroup[]>();
    const members = new Map<string, EntraMember[]>();
    // One paged read per synced group; a missing or ambiguous name is refused by plan() below.
    await Promise.all(
      synced.map(async (g) => {
        const found = exactGroup(groups, g.displayName);
        if (found.length === 1) members.set(found[0]!.id.toLowerCase(), await target.graph.listTransitiveUserMembers(found[0]!.id));
      }),
    );
    return { groups, ...(synced.length ? { members } : {}) };
  },

  /**
   * Leavers (issue 13): whether the Proxmox users of each realm the tenant provisions (as the clusters' reads found
   * them, in `world`) still have an enabled Entra account. Nothing when no realm can name its users from Graph (`sub`)
   * or no realm has a user; one filtered request for up to 15 names; else the whole directory, 999 users a page
   * (directory.ts directoryRead). Until then `directory` is absent and the leaver planner concludes nothing; the
   * engine plans again with it. Depends on no other late read: the clusters' users come from their first read.
   */
  async readAfterPlan(target, _observed, _changes, world) {
    const read = directoryRead(target.desired, realmUsers(target.desired, (cluster) => (world.get(cluster) as ObservedCluster | undefined)?.users.keys()));
    if (read.kind === "none") return undefined;
    return { directory: read.kind === "some" ? await target.graph.findUserStatuses(read.key, read.names) : await target.graph.listUserStatuses() };
  },

  plan(target, observed): PlanPart {
    for (const g of target.desired.groups) {
      const exact = exactGroup(observed.groups, g.displayName);
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
    refuseUnreadable(target.desired, observed);
    const blind = unreadableWarning(target.desired, observed);
    return { changes: [], unchanged: target.desired.groups.length, ...(blind ? { warnings: [blind] } : {}) };
  },

  async apply() {
    // Never planned: groups are only looked up.
  },
};
