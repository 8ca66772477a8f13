import type { Provider } from "../../engine/provider.js";
import { byAddress, byString, diffFields, groupIdOf, groupIsManaged, shownGroupId, type Change, type PlanPart } from "./common.js";
import type { ObservedCluster, ObservedGroup } from "./observed.js";
import type { ClusterTarget } from "./target.js";

export const GROUP_KIND = "proxmox.group";

export const groupProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: GROUP_KIND,

  async read(target) {
    const groups = new Map<string, ObservedGroup>();
    for (const g of await target.api.listGroups()) groups.set(g.groupid, g);
    return { groups };
  },

  plan(target, observed): PlanPart {
    const c = target.desired;
    const changes: Change[] = [];
    let unchanged = 0;
    const declared = new Set<string>();
    for (const g of c.groups) {
      const id = groupIdOf(g.groupid, target.resolver);
      if (id !== undefined) declared.add(id);
      const have = id === undefined ? undefined : observed.groups.get(id);
      const base = { address: g.address, kind: GROUP_KIND, target: c.name, dependsOn: typeof g.groupid === "string" ? [] : [`entra.group/${g.groupid.tenant}:${g.groupid.displayName}`] };
      if (!have) {
        changes.push({ ...base, action: "create", fields: [{ path: "groupid", after: shownGroupId(g.groupid, target.resolver) }, ...(g.comment !== undefined ? [{ path: "comment", after: g.comment }] : [])] });
        continue;
      }
      // A comment the file does not set is left alone.
      const fields = g.comment === undefined ? [] : diffFields({ comment: have.comment ?? "" }, { comment: g.comment });
      if (fields.length) changes.push({ ...base, action: "update", fields });
      else unchanged++;
    }
    if (c.prune.groups) {
      for (const have of [...observed.groups.values()].sort(byString((g) => g.groupid))) {
        if (declared.has(have.groupid) || !groupIsManaged(have.groupid, target)) continue;
        changes.push({
          address: `${GROUP_KIND}/${c.name}:${have.groupid}`, kind: GROUP_KIND, target: c.name, action: "delete", dependsOn: [],
          reason: "a group of a managed realm not declared in groups (prune.groups); its ACL entries and memberships go with it",
          fields: [{ path: "groupid", before: have.groupid }, ...(have.comment ? [{ path: "comment", before: have.comment }] : [])],
          data: { groupid: have.groupid },
        });
      }
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    if (change!.action === "delete") {
      await target.api.deleteGroup(String(change!.data!.groupid));
      return;
    }
    const g = byAddress(target.desired.groups, change!.address)!;
    const id = groupIdOf(g.groupid, target.resolver);
    if (id === undefined) throw new Error(`${g.address}: the Entra group's object id is not known`);
    if (change!.action === "create") await target.api.createGroup({ groupid: id, ...(g.comment !== undefined ? { comment: g.comment } : {}) });
    else await target.api.updateGroup(id, { comment: g.comment ?? "" });
  },
};
