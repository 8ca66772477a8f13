import type { DesiredGroup, EntraGroupId } from "../../core/desired.js";
import { groupIdOf, previousGroupIdOf } from "./common.js";
import type { ObservedAcl, ObservedCluster } from "./observed.js";
import type { ClusterTarget } from "./target.js";

/**
 * A changed app role value, on one cluster (issue 13 part 3): in a realm with `groupsClaim: roles` the Proxmox group
 * of a mapped Entra group is `<value>-<realm>`, so renaming the group's key renames the group. Proxmox cannot rename
 * a group, so it is replaced: `<to>` is created (or kept, on a rerun), the members of `<from>` and its ACL entries
 * are carried over, `<from>` is deleted, and only then is the app role's value PATCHed (entra/application.ts
 * renameChange). Until that PATCH, Graph still shows the old value under the role's stable id, which is how every
 * run, including one after a failure midway, knows `<from>`: the application planner records it in the resolver.
 *
 * Nothing is renamed when `<from>` does not exist on the cluster (nothing to carry), or when the file maps another
 * group to `<from>` (a swap; the application planner then changes the values without carrying anything).
 */
export interface GroupRename {
  /** The desired group, under its new key. */
  group: DesiredGroup & { groupid: EntraGroupId & { roleValue: string } };
  from: string;
  to: string;
  oldValue: string;
  /** `<to>` already exists (a rerun after a failure midway, or made by hand): it is kept, not created. */
  exists: boolean;
}

/** The renames on this cluster, in the order of the desired groups. Pure. */
export function groupRenames(target: ClusterTarget, observed: Pick<ObservedCluster, "groups">): GroupRename[] {
  const c = target.desired;
  const declared = new Set(c.groups.map((g) => groupIdOf(g.groupid, target.resolver)));
  const out: GroupRename[] = [];
  for (const g of c.groups) {
    if (typeof g.groupid === "string" || g.groupid.roleValue === undefined) continue;
    const from = previousGroupIdOf(g.groupid, target.resolver);
    const to = groupIdOf(g.groupid, target.resolver)!;
    if (from === undefined || !observed.groups.has(from) || declared.has(from)) continue;
    out.push({ group: g as GroupRename["group"], from, to, oldValue: from.slice(0, -`-${g.groupid.realm}`.length), exists: observed.groups.has(to) });
  }
  return out;
}

/** Users in `<from>`, as read (sorted). */
export function membersOf(observed: Pick<ObservedCluster, "users">, groupid: string): string[] {
  return [...observed.users.values()].filter((u) => u.groups.includes(groupid)).map((u) => u.userid).sort();
}

/** The address of a carried entry's change: `proxmox.acl/<cluster>:<path>:@<to>:<role>`. */
export const carriedAclAddress = (cluster: string, path: string, to: string, roleid: string): string => `proxmox.acl/${cluster}:${path}:@${to}:${roleid}`;

/**
 * The ACL entries of `<from>` that `<to>` gets besides the file's own entries for it: every entry the old group has
 * on a (path, role) the file does not give the new group, unless `prune.acl` would remove it from the new group at
 * the next run (then it goes with the old group; the file's entries are planned as usual). With the default
 * `prune.acl: false` that is every entry, hand-made ones included. Entries `<to>` already has are left out.
 */
export function carriedAcl(target: ClusterTarget, observed: Pick<ObservedCluster, "acl">, r: GroupRename): ObservedAcl[] {
  const c = target.desired;
  if (c.prune.acl) return [];
  const declared = new Set(
    c.acl.filter((a) => a.type === "group" && groupIdOf(a.ugid, target.resolver) === r.to).map((a) => `${a.path}\0${a.roleid}`),
  );
  const has = new Set(observed.acl.filter((e) => e.type === "group" && e.ugid === r.to).map((e) => `${e.path}\0${e.roleid}`));
  return observed.acl
    .filter((e) => e.type === "group" && e.ugid === r.from && !declared.has(`${e.path}\0${e.roleid}`) && !has.has(`${e.path}\0${e.roleid}`))
    .map((e) => ({ ...e, ugid: r.to }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.roleid < b.roleid ? -1 : a.roleid > b.roleid ? 1 : 0));
}

/** Every ACL change that gives `<to>` its rights: the file's entries for the group, and the carried ones. */
export function newGroupAclAddresses(target: ClusterTarget, observed: Pick<ObservedCluster, "acl">, r: GroupRename): string[] {
  const c = target.desired;
  const own = c.acl.filter((a) => a.type === "group" && groupIdOf(a.ugid, target.resolver) === r.to).map((a) => a.address);
  return [...own, ...carriedAcl(target, observed, r).map((e) => carriedAclAddress(c.name, e.path, r.to, e.roleid))];
}
