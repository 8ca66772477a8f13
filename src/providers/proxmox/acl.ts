import type { DesiredAcl } from "../../core/desired.js";
import type { Provider } from "../../engine/provider.js";
import { byAddress, byString, groupIdOf, groupIsManaged, prunedGroups, prunedUsers, shownGroupId, userIsManaged, type Change, type PlanPart } from "./common.js";
import type { ObservedAcl, ObservedCluster } from "./observed.js";
import { syncedMembers } from "./members.js";
import { carriedAcl, carriedAclAddress, groupRenames } from "./rename.js";
import type { ClusterTarget } from "./target.js";

export const ACL_KIND = "proxmox.acl";

const key = (path: string, type: string, ugid: string, roleid: string) => `${path}\0${type}\0${ugid}\0${roleid}`;

export const aclProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: ACL_KIND,

  /** GET /access/acl: every entry on every path, in one call (spec 3.6). */
  async read(target) {
    return { acl: await target.api.listAcl() };
  },

  plan(target, observed, world = new Map()): PlanPart {
    const c = target.desired;
    const changes: Change[] = [];
    let unchanged = 0;
    const have = new Map<string, ObservedAcl>();
    for (const e of observed.acl) have.set(key(e.path, e.type, e.ugid, e.roleid), e);
    const deps = dependencyIndex(target);

    for (const a of c.acl) {
      const ugid = typeof a.ugid === "string" ? a.ugid : groupIdOf(a.ugid, target.resolver);
      const k = ugid === undefined ? undefined : key(a.path, a.type, ugid, a.roleid);
      const existing = k === undefined ? undefined : have.get(k);
      if (existing && existing.propagate === a.propagate) {
        unchanged++;
        continue;
      }
      const base = { address: a.address, kind: ACL_KIND, target: c.name, dependsOn: deps(a), data: { path: a.path, roleid: a.roleid, type: a.type, propagate: a.propagate } };
      if (!existing) {
        changes.push({ ...base, action: "create", fields: [{ path: a.type, after: typeof a.ugid === "string" ? a.ugid : shownGroupId(a.ugid, target.resolver) }, { path: "propagate", after: a.propagate }] });
      } else {
        changes.push({ ...base, action: "update", fields: [{ path: "propagate", before: existing.propagate, after: a.propagate }] });
      }
    }

    // A changed app role value (rename.ts): the old group's entries the file does not give the new group, carried over.
    for (const r of groupRenames(target, observed)) {
      for (const e of carriedAcl(target, observed, r)) {
        changes.push({
          address: carriedAclAddress(c.name, e.path, r.to, e.roleid), kind: ACL_KIND, target: c.name, action: "create", dependsOn: [r.group.address],
          reason: `carried over from ${r.from}, which ${r.to} replaces (app role value ${r.oldValue} → ${r.group.groupid.roleValue})`,
          fields: [{ path: "group", after: r.to }, { path: "propagate", after: e.propagate }],
          data: { path: e.path, roleid: e.roleid, type: "group", ugid: r.to, propagate: e.propagate },
        });
      }
    }

    for (const e of aclPrunes(target, observed, world)) {
      changes.push({
        address: aclAddress(c.name, e), kind: ACL_KIND, target: c.name, action: "delete", dependsOn: [],
        reason: "not declared in access (prune.acl)",
        fields: [{ path: e.type, before: e.ugid }, { path: "propagate", before: e.propagate }],
        data: { path: e.path, roleid: e.roleid, type: e.type, ugid: e.ugid, propagate: e.propagate },
      });
    }
    return { changes, unchanged };
  },

  /** One PUT /access/acl per (path, role, propagate, add or delete), carrying every user and group. */
  batchKey(change) {
    const d = change.data as { path: string; roleid: string; propagate: boolean };
    return `${change.target}\0${d.path}\0${d.roleid}\0${change.action === "delete" ? "delete" : `add:${d.propagate}`}`;
  },

  async apply(changes, target) {
    const first = changes[0]!;
    const d = first.data as { path: string; roleid: string; propagate: boolean };
    const users: string[] = [];
    const groups: string[] = [];
    for (const ch of changes) {
      const cd = ch.data as { type: string; ugid?: string };
      let ugid = cd.ugid;
      if (ugid === undefined) {
        const a = byAddress(target.desired.acl, ch.address)!;
        ugid = typeof a.ugid === "string" ? a.ugid : groupIdOf(a.ugid, target.resolver);
        if (ugid === undefined) throw new Error(`${ch.address}: the Entra group's object id is not known`);
      }
      (cd.type === "group" ? groups : users).push(ugid);
    }
    await target.api.putAcl({
      path: d.path, roles: [d.roleid], ...(users.length ? { users: users.sort() } : {}), ...(groups.length ? { groups: groups.sort() } : {}),
      propagate: d.propagate, ...(first.action === "delete" ? { delete: true } : {}),
    });
  },
};

/** The address of an observed entry's change: `proxmox.acl/<cluster>:<path>:<user id or @group>:<role>`. */
export function aclAddress(cluster: string, e: ObservedAcl): string {
  return `${ACL_KIND}/${cluster}:${e.path}:${e.type === "group" ? `@${e.ugid}` : e.ugid}:${e.roleid}`;
}

/**
 * The observed entries the ACL planner deletes (prune.acl), sorted: entries of managed users and groups that
 * `access` does not declare. Entries of principals whose deletion is planned are not in it: they go with
 * the principal (spec 5.3), and Proxmox would refuse a separate delete once it is gone. Shared with the role
 * planner, whose deletes must wait for these (the ACL endpoint checks the role even when deleting).
 */
export function aclPrunes(target: ClusterTarget, observed: ObservedCluster, world: ReadonlyMap<string, unknown>): ObservedAcl[] {
  const c = target.desired;
  if (!c.prune.acl) return [];
  const wanted = new Set<string>();
  for (const a of c.acl) {
    const ugid = typeof a.ugid === "string" ? a.ugid : groupIdOf(a.ugid, target.resolver);
    if (ugid !== undefined) wanted.add(key(a.path, a.type, ugid, a.roleid));
  }
  const declaredGroups = new Set(c.groups.map((g) => groupIdOf(g.groupid, target.resolver)).filter((g): g is string => g !== undefined));
  const gone = prunedPrincipals(target, observed, world);
  const out: ObservedAcl[] = [];
  for (const e of [...observed.acl].sort(byString((x) => key(x.path, x.type, x.ugid, x.roleid)))) {
    if (wanted.has(key(e.path, e.type, e.ugid, e.roleid))) continue;
    if (gone.has(`${e.type}:${e.ugid}`)) continue;
    const managed = e.type === "user" ? userIsManaged(e.ugid, target) : e.type === "group" ? declaredGroups.has(e.ugid) || groupIsManaged(e.ugid, target) : false;
    if (managed) out.push(e);
  }
  return out;
}

/**
 * Users and groups the user and group planners will delete (the same rules as theirs, and the old group of a changed
 * app role value): their ACL entries
 * go with them (spec 5.3), so the ACL planner neither deletes those entries itself nor counts them as kept.
 */
export function prunedPrincipals(target: ClusterTarget, observed: ObservedCluster, world: ReadonlyMap<string, unknown>): Set<string> {
  return new Set([
    ...[...prunedUsers(target, observed.users.keys(), syncedMembers(target, world).memberOf)].map((u) => `user:${u}`),
    ...[...prunedGroups(target, observed.groups.keys())].map((g) => `group:${g}`),
    // The old group of a changed app role value is deleted by the group planner once the new one has its rights.
    ...groupRenames(target, observed).map((r) => `group:${r.from}`),
  ]);
}

/** What an ACL entry needs to exist first: its user or group, and its custom role (indexed once per plan). */
function dependencyIndex(target: ClusterTarget): (a: DesiredAcl) => string[] {
  const c = target.desired;
  const users = new Map(c.users.map((u) => [u.userid, u.address]));
  const groups = new Map(c.groups.map((g) => [typeof g.groupid === "string" ? g.groupid : `${g.groupid.displayName}\0${g.groupid.realm}`, g.address]));
  const roles = new Map(c.roles.map((r) => [r.roleid, r.address]));
  return (a) => {
    const principal = a.type === "user" ? users.get(a.ugid as string) : groups.get(typeof a.ugid === "string" ? a.ugid : `${a.ugid.displayName}\0${a.ugid.realm}`);
    const role = roles.get(a.roleid);
    return [...(principal ? [principal] : []), ...(role ? [role] : [])];
  };
}
