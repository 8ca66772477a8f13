import type { DesiredUser } from "../../core/desired.js";
import { realmOf } from "../../core/pve.js";
import type { Provider } from "../../engine/provider.js";
import { byString, diffFields, groupIdOf, prunedGroups, prunedUsers, type Change, type PlanPart } from "./common.js";
import { GROUP_KIND } from "./group.js";
import type { ObservedCluster, ObservedUser } from "./observed.js";
import { REALM_KIND } from "./realm.js";
import type { ClusterTarget } from "./target.js";

export const USER_KIND = "proxmox.user";
const TEXT_FIELDS = ["firstname", "lastname", "email", "comment"] as const;

/**
 * Group ids whose membership the file dictates for every user: declared plain groups whose `members` is the
 * whole list (`membersExclusive`, the default; issue 8 failure 11), and groups this plan deletes (prune.groups;
 * a membership in them is dropped from the user's update, or Proxmox refuses it: failure 8). Memberships
 * in any other group (Entra-mapped groups filled at login, groups the file does not declare, groups with
 * `membersExclusive: false`) are left alone.
 */
function dictatedGroups(target: ClusterTarget, observed: ObservedCluster): Set<string> {
  const out = prunedGroups(target, observed.groups.keys());
  for (const g of target.desired.groups) if (typeof g.groupid === "string" && g.membersExclusive) out.add(g.groupid);
  return out;
}

/** Fields compared for an existing user: enable and expire always, text fields only when the file sets them. */
function comparable(u: DesiredUser, have: ObservedUser | undefined, dictated: ReadonlySet<string>): { want: Record<string, unknown>; before: Record<string, unknown> } {
  const keep = (have?.groups ?? []).filter((g) => !dictated.has(g));
  const want: Record<string, unknown> = { enable: u.enable, expire: u.expire, groups: [...new Set([...keep, ...u.groups])].sort() };
  const before: Record<string, unknown> = have ? { enable: have.enable, expire: have.expire, groups: have.groups } : {};
  for (const f of TEXT_FIELDS) {
    if (u[f] === undefined) continue;
    want[f] = u[f];
    if (have) before[f] = have[f] ?? "";
  }
  return { want, before };
}

export const userProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: USER_KIND,

  /** GET /access/users?full=1: every user with its groups, in one call. */
  async read(target) {
    const users = new Map<string, ObservedUser>();
    for (const u of await target.api.listUsers()) users.set(u.userid, u); // groups come sorted from the client
    return { users };
  },

  plan(target, observed): PlanPart {
    const c = target.desired;
    const changes: Change[] = [];
    let unchanged = 0;
    const realmChanges = new Set(c.realms.map((r) => r.address));
    const groupAddress = new Map(c.groups.filter((g) => typeof g.groupid === "string").map((g) => [g.groupid as string, g.address]));
    const dictated = dictatedGroups(target, observed);
    const exclusive = new Set(c.groups.filter((g) => typeof g.groupid === "string" && g.membersExclusive).map((g) => g.groupid as string));
    for (const u of c.users) {
      const have = observed.users.get(u.userid);
      const deps = [`${REALM_KIND}/${c.name}:${realmOf(u.userid)}`].filter((a) => realmChanges.has(a));
      for (const g of u.groups) {
        const a = groupAddress.get(g);
        if (a) deps.push(a);
      }
      const base = { address: u.address, kind: USER_KIND, target: c.name, dependsOn: deps };
      const { want, before } = comparable(u, have, dictated);
      if (!have) {
        const after = { ...want };
        if (after.enable === true) delete after.enable;
        if (after.expire === 0) delete after.expire;
        if ((after.groups as string[]).length === 0) delete after.groups;
        changes.push({ ...base, action: "create", fields: diffFields({}, after) });
        continue;
      }
      const fields = diffFields(before, want);
      if (fields.length) changes.push({ ...base, action: "update", fields });
      else unchanged++;
    }
    // Members of exclusive groups that the file does not list, among users it does not declare: drift.
    const declared = new Set(c.users.map((u) => u.userid));
    const pruned = prunedUsers(target, observed.users.keys());
    for (const have of [...observed.users.values()].sort(byString((u) => u.userid))) {
      if (declared.has(have.userid) || pruned.has(have.userid)) continue;
      const extra = have.groups.filter((g) => exclusive.has(g));
      if (extra.length === 0) continue;
      changes.push({
        address: `${USER_KIND}/${c.name}:${have.userid}`, kind: USER_KIND, target: c.name, action: "update", dependsOn: [],
        reason: `not a member of ${extra.join(", ")} in the file (a group's \`members\` is the whole list unless \`membersExclusive: false\`)`,
        // Memberships in groups this plan deletes go too: Proxmox refuses a group list naming a deleted group.
        fields: [{ path: "groups", before: have.groups, after: have.groups.filter((g) => !dictated.has(g)) }],
      });
    }
    if (c.prune.users) {
      for (const have of [...observed.users.values()].sort(byString((u) => u.userid))) {
        if (!pruned.has(have.userid)) continue;
        changes.push({
          address: `${USER_KIND}/${c.name}:${have.userid}`, kind: USER_KIND, target: c.name, action: "delete", dependsOn: [],
          reason: `a user of managed realm ${realmOf(have.userid)} not declared (prune.users); its ACL entries, memberships and tokens go with it`,
          fields: [{ path: "userid", before: have.userid }],
        });
      }
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    const userid = change!.address.slice(change!.address.indexOf(":") + 1);
    if (change!.action === "delete") {
      await target.api.deleteUser(userid);
      return;
    }
    const params: Record<string, unknown> = {};
    for (const f of change!.fields) {
      const v = f.path === "groups" ? (f.after as string[] | undefined)?.join(",") ?? "" : f.after;
      params[f.path] = v === undefined ? "" : v; // an empty string clears a text field (spec 3.2)
    }
    // An update may concern a user the file does not declare (a membership it removes), so go by the address.
    if (change!.action === "create") await target.api.createUser({ userid, ...params });
    else await target.api.updateUser(userid, params);
  },
};

export { GROUP_KIND, groupIdOf };
