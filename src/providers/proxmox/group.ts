import type { Provider } from "../../engine/provider.js";
import { byAddress, byString, diffFields, groupIdOf, groupIsManaged, prunedUsers, shownGroupId, type Change, type PlanPart } from "./common.js";
import { findLeavers } from "./leavers.js";
import { syncedMembers } from "./members.js";
import type { ObservedCluster, ObservedGroup } from "./observed.js";
import { groupRenames, membersOf, newGroupAclAddresses, type GroupRename } from "./rename.js";
import type { ClusterTarget } from "./target.js";

export const GROUP_KIND = "proxmox.group";
const USER_KIND = "proxmox.user";

export const groupProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: GROUP_KIND,

  async read(target) {
    const groups = new Map<string, ObservedGroup>();
    for (const g of await target.api.listGroups()) groups.set(g.groupid, g);
    return { groups };
  },

  plan(target, observed, world = new Map()): PlanPart {
    const c = target.desired;
    const changes: Change[] = [];
    let unchanged = 0;
    const declared = new Set<string>();
    const renames = new Map(groupRenames(target, observed).map((r) => [r.group.address, r]));
    for (const g of c.groups) {
      const id = groupIdOf(g.groupid, target.resolver);
      if (id !== undefined) declared.add(id);
      const have = id === undefined ? undefined : observed.groups.get(id);
      const base = { address: g.address, kind: GROUP_KIND, target: c.name, dependsOn: typeof g.groupid === "string" ? [] : [`entra.group/${g.groupid.tenant}:${g.groupid.displayName}`] };
      const rename = renames.get(g.address);
      if (rename) {
        declared.add(rename.from); // deleted below, as part of the replace, not by prune.groups
        changes.push(...renameChanges(target, observed, world, rename, base.dependsOn));
        continue;
      }
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
    const rename = change!.data?.rename as RenameData | undefined;
    if (rename) {
      if (rename.create) await target.api.createGroup({ groupid: rename.to, ...(g.comment !== undefined ? { comment: g.comment } : {}) });
      // `append`: only this membership is added, whatever else the user's groups became meanwhile (spec 3.2).
      for (const userid of rename.members) await target.api.updateUser(userid, { groups: [rename.to], append: true });
      return;
    }
    const id = groupIdOf(g.groupid, target.resolver);
    if (id === undefined) throw new Error(`${g.address}: the Entra group's object id is not known`);
    if (change!.action === "create") await target.api.createGroup({ groupid: id, ...(g.comment !== undefined ? { comment: g.comment } : {}) });
    else await target.api.updateGroup(id, { comment: g.comment ?? "" });
  },
};

interface RenameData {
  from: string;
  to: string;
  /** `<to>` did not exist when planned. */
  create: boolean;
  /** Members of `<from>` the replace adds to `<to>` (none for a synced group: the user planner moves them). */
  members: string[];
}

/**
 * A changed app role value on this cluster (rename.ts): the replace of `<from>` by `<to>`, then the delete of `<from>`.
 *
 * Order, so the members keep their rights throughout and a failure is taken up by the next run (Graph keeps the old
 * value until the very last step, entra/application.ts renameChange):
 * 1. the replace creates `<to>` and adds the members of `<from>` to it. It waits for the user planner's changes to
 *    those users (they set whole group lists, which would drop `<to>` if they came after). With `members: sync` the
 *    user planner moves the members itself (its changes wait for this one, which creates the group);
 * 2. the ACL changes give `<to>` the file's entries and the carried ones (acl.ts; they wait for 1);
 * 3. `<from>` is deleted, with its entries and memberships, once 1, 2 and the members' changes are done;
 * 4. the app role's value is PATCHed: new sign-ins carry the new value.
 */
function renameChanges(target: ClusterTarget, observed: ObservedCluster, world: ReadonlyMap<string, unknown>, r: GroupRename, groupDeps: string[]): Change[] {
  const c = target.desired;
  const g = r.group;
  // Users this plan deletes (prune.users, leavers: delete) are not carried: the replace would fail on them.
  const deleted = new Set([...prunedUsers(target, observed.users.keys(), syncedMembers(target, world).memberOf), ...findLeavers(target, observed, world).leavers.filter((l) => l.policy === "delete").map((l) => l.userid)]);
  const members = membersOf(observed, r.from);
  const carried = members.filter((u) => !deleted.has(u) && !observed.users.get(u)!.groups.includes(r.to));
  const synced = g.syncMembers === true;
  const userAddress = (u: string) => `${USER_KIND}/${c.name}:${u}`;
  const joining = synced ? [...syncedMembers(target, world).memberOf].filter(([, gids]) => gids.has(r.to)).map(([u]) => u) : [];
  const why = `app role value ${r.oldValue} → ${g.groupid.roleValue} in realm ${g.groupid.realm}`;
  const old = observed.groups.get(r.from);
  return [
    {
      address: g.address, kind: GROUP_KIND, target: c.name, action: "replace",
      reason: `${why}: Proxmox group ${r.from} is replaced by ${r.to}; ${synced ? "the Entra members join it (members: sync)" : "its members join it"} and its ACL entries are carried over before ${r.from} is deleted`,
      dependsOn: [...groupDeps, ...(synced ? [] : members.map(userAddress))],
      fields: [
        { path: "groupid", before: r.from, after: r.to },
        ...(!r.exists && g.comment !== undefined ? [{ path: "comment", after: g.comment }] : []),
        ...(!synced && carried.length ? [{ path: "members", after: carried }] : []),
      ],
      data: { rename: { from: r.from, to: r.to, create: !r.exists, members: synced ? [] : carried } satisfies RenameData },
    },
    {
      address: `${GROUP_KIND}/${c.name}:${r.from}`, kind: GROUP_KIND, target: c.name, action: "delete",
      reason: `replaced by ${r.to} (${why}); its ACL entries and memberships go with it, once ${r.to} has them`,
      dependsOn: [g.address, ...newGroupAclAddresses(target, observed, r), ...[...new Set([...members, ...joining])].sort().map(userAddress)],
      fields: [{ path: "groupid", before: r.from }, ...(old?.comment ? [{ path: "comment", before: old.comment }] : [])],
      data: { groupid: r.from },
    },
  ];
}
