import type { DesiredUser } from "../../core/desired.js";
import { realmOf } from "../../core/pve.js";
import type { Provider } from "../../engine/provider.js";
import { aclAddress, aclPrunes } from "./acl.js";
import { byString, diffFields, groupIdOf, prunedGroups, prunedUsers, type Change, type FieldDiff, type PlanPart } from "./common.js";
import { GROUP_KIND } from "./group.js";
import { findLeavers, leaverWarning, type Leaver } from "./leavers.js";
import { syncedMembers, type SyncedMembers } from "./members.js";
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

  plan(target, observed, world = new Map()): PlanPart {
    const c = target.desired;
    const changes: Change[] = [];
    const warnings: string[] = [];
    let unchanged = 0;
    const realmChanges = new Set(c.realms.map((r) => r.address));
    const groupAddress = new Map(c.groups.filter((g) => typeof g.groupid === "string").map((g) => [g.groupid as string, g.address]));
    // Members sync (issue 13): the synced groups' membership is Entra's, like an exclusive group's is the file's.
    const sync = syncedMembers(target, world);
    warnings.push(...sync.warnings);
    for (const [gid, address] of sync.groupAddress) groupAddress.set(gid, address);
    const dictated = dictatedGroups(target, observed);
    for (const gid of sync.groups.keys()) dictated.add(gid);
    const exclusive = new Set(c.groups.filter((g) => typeof g.groupid === "string" && g.membersExclusive).map((g) => g.groupid as string));
    const declared = new Set(c.users.map((u) => u.userid));
    const pruned = prunedUsers(target, observed.users.keys(), sync.memberOf);
    const { leavers, unknown } = findLeavers(target, observed, world);
    const leaverOf = new Map(leavers.filter((l) => !pruned.has(l.userid)).map((l) => [l.userid, l]));
    const prunedAcl = new Map<string, string[]>();
    for (const e of aclPrunes(target, observed, world)) if (e.type === "user") prunedAcl.set(e.ugid, [...(prunedAcl.get(e.ugid) ?? []), aclAddress(c.name, e)]);
    const depsOf = (userid: string, groups: Iterable<string>) => {
      const deps = [`${REALM_KIND}/${c.name}:${realmOf(userid)}`].filter((a) => realmChanges.has(a));
      for (const g of groups) {
        const a = groupAddress.get(g);
        if (a && !deps.includes(a)) deps.push(a);
      }
      return deps;
    };

    for (const u of c.users) {
      const have = observed.users.get(u.userid);
      const synced = sync.memberOf.get(u.userid) ?? new Set<string>();
      const wantGroups = [...new Set([...u.groups, ...synced])].sort();
      const base = { address: u.address, kind: USER_KIND, target: c.name, dependsOn: depsOf(u.userid, wantGroups) };
      const { want, before } = comparable({ ...u, groups: wantGroups }, have, dictated);
      if (!have) {
        const after = { ...want };
        if (after.enable === true) delete after.enable;
        if (after.expire === 0) delete after.expire;
        if ((after.groups as string[]).length === 0) delete after.groups;
        const why = syncReason([], wantGroups, sync.groups);
        changes.push({ ...base, action: "create", fields: diffFields({}, after), ...(why ? { reason: why } : {}) });
        continue;
      }
      // A declared leaver is disabled (never deleted: the file would create it again at the next run).
      const l = leaverOf.get(u.userid);
      const act = l && l.policy !== "report" ? leaverFields(l, have, want, before) : undefined;
      if (l) warnings.push(leaverWarning(c.name, l, l.policy === "report" ? "none" : act ? (l.policy === "delete" ? "disable-declared" : "disable") : "done"));
      const fields = diffFields(before, want);
      const reasons = [syncReason(have.groups, want.groups as string[], sync.groups), act ? leaverReason(l!, "disable") : undefined].filter(Boolean);
      if (act?.tokens.length) fields.push(tokensField(act.tokens));
      if (fields.length) changes.push({ ...base, action: "update", fields, ...(reasons.length ? { reason: reasons.join("; ") } : {}), ...(act?.tokens.length ? { data: { tokens: act.tokens } } : {}) });
      else unchanged++;
    }

    // Members of synced groups that the file does not declare: created before their first sign-in, or put in the group.
    for (const [userid, gids] of [...sync.memberOf.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (declared.has(userid) || pruned.has(userid)) continue;
      const have = observed.users.get(userid);
      const profile = sync.profiles.get(userid) ?? {};
      const address = `${USER_KIND}/${c.name}:${userid}`;
      if (!have) {
        // A disabled account gets no new user: it would be a leaver at once.
        if (profile.accountEnabled === false) continue;
        const groups = [...gids].sort();
        const after: Record<string, unknown> = { groups };
        for (const f of ["email", "firstname", "lastname"] as const) if (profile[f] !== undefined) after[f] = profile[f];
        changes.push({ address, kind: USER_KIND, target: c.name, action: "create", dependsOn: depsOf(userid, groups), fields: diffFields({}, after), reason: syncReason([], groups, sync.groups)! });
        continue;
      }
      const update = undeclaredUpdate(c.name, have, [...gids], { dictated, exclusive, sync, leaver: leaverOf.get(userid), prunedAcl, depsOf, warnings });
      changes.push(...update);
      if (update.length === 0) unchanged++;
    }

    // Users neither declared nor synced: strays in exclusive or synced groups (drift), and leavers.
    for (const have of [...observed.users.values()].sort(byString((u) => u.userid))) {
      if (declared.has(have.userid) || pruned.has(have.userid) || sync.memberOf.has(have.userid)) continue;
      changes.push(...undeclaredUpdate(c.name, have, [], { dictated, exclusive, sync, leaver: leaverOf.get(have.userid), prunedAcl, depsOf, warnings }));
    }
    for (const userid of unknown) warnings.push(`${c.name}: cannot tell whether the Entra account of ${userid} is enabled (Graph returns no accountEnabled for it); it is not treated as a leaver`);

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
    return { changes, unchanged, warnings };
  },

  async apply([change], target) {
    const userid = change!.address.slice(change!.address.indexOf(":") + 1);
    if (change!.action === "delete") {
      await target.api.deleteUser(userid);
      return;
    }
    const params: Record<string, unknown> = {};
    for (const f of change!.fields) {
      if (f.path === "tokens") continue; // deleted one by one below
      const v = f.path === "groups" ? (f.after as string[] | undefined)?.join(",") ?? "" : f.after;
      params[f.path] = v === undefined ? "" : v; // an empty string clears a text field (spec 3.2)
    }
    // An update may concern a user the file does not declare (a membership it removes), so go by the address.
    if (change!.action === "create") await target.api.createUser({ userid, ...params });
    else if (Object.keys(params).length > 0) await target.api.updateUser(userid, params);
    // A leaver's tokens, after the user is disabled: a disabled user's token is refused already, and deleting
    // it makes sure a later re-enable does not bring it back (sim13 notes, Proxmox user tokens).
    for (const tokenid of ((change!.data?.tokens as string[] | undefined) ?? [])) await target.api.deleteToken(userid, tokenid);
  },
};

interface UndeclaredContext {
  dictated: ReadonlySet<string>;
  exclusive: ReadonlySet<string>;
  sync: SyncedMembers;
  leaver: Leaver | undefined;
  prunedAcl: ReadonlyMap<string, string[]>;
  depsOf(userid: string, groups: Iterable<string>): string[];
  warnings: string[];
}

/**
 * The change for an existing user the file does not declare: its memberships in groups whose membership is
 * dictated (exclusive plain groups, synced Entra groups, groups this plan deletes) become exactly `synced`, and a
 * leaver is disabled (tokens deleted) or deleted as its realm's `leavers` says.
 */
function undeclaredUpdate(cluster: string, have: ObservedUser, synced: string[], x: UndeclaredContext): Change[] {
  const address = `${USER_KIND}/${cluster}:${have.userid}`;
  const l = x.leaver;
  if (l && l.policy === "delete") {
    x.warnings.push(leaverWarning(cluster, l, "delete"));
    return [{
      address, kind: USER_KIND, target: cluster, action: "delete",
      // An ACL entry prune.acl deletes goes first: Proxmox refuses it once the user is gone.
      dependsOn: x.prunedAcl.get(have.userid) ?? [],
      reason: leaverReason(l, "delete"),
      fields: [{ path: "userid", before: have.userid }, ...(l.tokens.length ? [{ path: "tokens", before: l.tokens }] : []), ...(l.acl.length ? [{ path: "acl", before: l.acl }] : [])],
    }];
  }
  // Only strays in exclusive groups or a synced difference change the memberships (then memberships in groups this
  // plan deletes go too: Proxmox refuses a group list naming a deleted group); a group delete alone needs no update.
  const wanted = [...new Set([...have.groups.filter((g) => !x.dictated.has(g)), ...synced])].sort();
  const changed = have.groups.some((g) => x.exclusive.has(g) && !wanted.includes(g)) || syncReason(have.groups, wanted, x.sync.groups) !== undefined;
  const groups = changed ? wanted : have.groups;
  const want: Record<string, unknown> = { groups };
  const before: Record<string, unknown> = { groups: have.groups };
  const act = l && l.policy === "disable" ? leaverFields(l, have, want, before) : undefined;
  if (l) x.warnings.push(leaverWarning(cluster, l, l.policy === "report" ? "none" : act ? "disable" : "done"));
  const fields = diffFields(before, want);
  if (act?.tokens.length) fields.push(tokensField(act.tokens));
  if (fields.length === 0) return [];
  const strays = have.groups.filter((g) => x.exclusive.has(g) && !groups.includes(g));
  const reasons = [
    syncReason(have.groups, groups, x.sync.groups),
    strays.length ? `not a member of ${strays.join(", ")} in the file (a group's \`members\` is the whole list unless \`membersExclusive: false\`)` : undefined,
    act ? leaverReason(l!, "disable") : undefined,
  ].filter(Boolean);
  const added = groups.filter((g) => !have.groups.includes(g));
  return [{
    address, kind: USER_KIND, target: cluster, action: "update", dependsOn: x.depsOf(have.userid, added), fields,
    ...(reasons.length ? { reason: reasons.join("; ") } : {}),
    ...(act?.tokens.length ? { data: { tokens: act.tokens } } : {}),
  }];
}

/** Sets `enable: false` in `want` for a leaver still enabled, and returns the tokens to delete; undefined when nothing is left to do. */
function leaverFields(l: Leaver, have: ObservedUser, want: Record<string, unknown>, before: Record<string, unknown>): { tokens: string[] } | undefined {
  if (have.enable) {
    want.enable = false;
    before.enable = true;
  }
  return have.enable || l.tokens.length ? { tokens: l.tokens } : undefined;
}

function tokensField(tokens: string[]): FieldDiff {
  return { path: "tokens", before: tokens, after: [] };
}

function leaverReason(l: Leaver, action: "disable" | "delete"): string {
  const why = l.why === "disabled" ? "its Entra account is disabled" : "its Entra account no longer exists";
  return action === "delete"
    ? `leaver: ${why} (realms.${l.realm}.leavers: delete); its ACL entries, memberships and API tokens go with it`
    : `leaver: ${why}; disabled and its API tokens deleted (a token outlives the identity provider)`;
}

/** "joins Entra group "X"; leaves Entra group "Y" (members: sync)" for the synced groups that differ, else undefined. */
function syncReason(before: readonly string[], after: readonly string[], synced: ReadonlyMap<string, string>): string | undefined {
  const name = (g: string) => `"${synced.get(g)}"`;
  const joins = after.filter((g) => synced.has(g) && !before.includes(g)).map(name);
  const leaves = before.filter((g) => synced.has(g) && !after.includes(g)).map(name);
  const parts = [...(joins.length ? [`member of Entra group ${joins.join(", ")}`] : []), ...(leaves.length ? [`no longer a member of Entra group ${leaves.join(", ")}`] : [])];
  return parts.length ? `${parts.join("; ")} (members: sync)` : undefined;
}

export { GROUP_KIND, groupIdOf };
