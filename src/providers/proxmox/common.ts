export { diffFields, type Change, type FieldDiff } from "../../core/plan.js";
export type { PlanPart } from "../../engine/provider.js";
import type { EntraGroupId } from "../../core/desired.js";
import { KNOWN_AFTER_APPLY, type Resolver } from "../../engine/resolver.js";
import { realmOf } from "../../core/pve.js";
import { renamedRoleRef } from "../entra/application.js";
import type { ClusterTarget } from "./target.js";

/**
 * The Proxmox group id of a desired group: literal; `<value>-<realm>` for an Entra group of an app roles realm (the
 * `roles` claim carries the value; issue 13 part 3); else `<objectid>-<realm>` once the Entra group is resolved
 * (spec 4.6). The one place that says it: planners, members sync and the demo sign-in all ask here.
 */
export function groupIdOf(id: string | EntraGroupId, resolver: Pick<Resolver, "groupId">): string | undefined {
  if (typeof id === "string") return id;
  return id.roleValue !== undefined ? `${id.roleValue}-${id.realm}` : resolver.groupId(id);
}

/**
 * The Proxmox group an app roles group had before its role's value changed in the file (`<old value>-<realm>`), when
 * the application planner found the role under its id with another value (entra/application.ts roleRenames); else
 * undefined. See rename.ts.
 */
export function previousGroupIdOf(id: string | EntraGroupId, resolver: Pick<Resolver, "value">): string | undefined {
  if (typeof id === "string" || id.roleValue === undefined) return undefined;
  const was = resolver.value(renamedRoleRef(id.tenant, id.realm, id.roleValue));
  return was === undefined || was === id.roleValue ? undefined : `${was}-${id.realm}`;
}

export function shownGroupId(id: string | EntraGroupId, resolver: Pick<Resolver, "groupId">): string {
  return groupIdOf(id, resolver) ?? (typeof id === "string" ? id : `${KNOWN_AFTER_APPLY} (Entra group "${id.displayName}")-${id.realm}`);
}

/** Users homelab may delete or strip: in a realm it manages, and never itself or root@pam (DESIGN.md "Scoped pruning"). */
export function userIsManaged(userid: string, target: ClusterTarget): boolean {
  return userid !== "root@pam" && userid !== target.runAs.userid && target.desired.managedRealms.includes(realmOf(userid));
}

/** Groups inside a realm homelab manages: the `<name>-<realm>` groups that OpenID logins map into (spec 4.6). */
export function groupIsManaged(groupid: string, target: ClusterTarget): boolean {
  return target.desired.managedRealms.some((r) => groupid.endsWith(`-${r}`));
}

/** Users the user planner deletes (prune.users): undeclared users of managed realms. */
export function prunedUsers(target: ClusterTarget, users: Iterable<string>, synced: { has(userid: string): boolean }): Set<string> {
  const c = target.desired;
  const out = new Set<string>();
  if (!c.prune.users) return out;
  const declared = new Set(c.users.map((u) => u.userid));
  // A member of a `members: sync` group is declared by Entra (members.ts syncedMembers(...).memberOf): never pruned.
  for (const u of users) if (!declared.has(u) && !synced.has(u) && userIsManaged(u, target)) out.add(u);
  return out;
}

/**
 * Groups the group planner deletes (prune.groups): undeclared groups of managed realms. Not the old group of a
 * changed app role value: it is deleted as part of its replace (rename.ts), after its members have joined the new
 * group, and the user planner leaves memberships in it alone (as without prune.groups) so nobody drops out early.
 */
export function prunedGroups(target: ClusterTarget, groups: Iterable<string>): Set<string> {
  const c = target.desired;
  const out = new Set<string>();
  if (!c.prune.groups) return out;
  const declared = new Set(c.groups.flatMap((g) => [groupIdOf(g.groupid, target.resolver), previousGroupIdOf(g.groupid, target.resolver)]));
  for (const g of groups) if (!declared.has(g) && groupIsManaged(g, target)) out.add(g);
  return out;
}

export function byString<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

const indexes = new WeakMap<readonly { address: string }[], Map<string, { address: string }>>();

/** The desired object with this address (an index per list, built once: apply looks up every change). */
export function byAddress<T extends { address: string }>(list: readonly T[], address: string): T | undefined {
  let index = indexes.get(list);
  if (!index) {
    index = new Map(list.map((x) => [x.address, x]));
    indexes.set(list, index);
  }
  return index.get(address) as T | undefined;
}
