/**
 * The rows of `homelab verify` read from the tenant side of a realm: its app registration, the directory users named
 * in access, the groups claim and the mapped groups' assignment to the app, and (per cluster) members sync and
 * leavers (issue 13). Pure: facts.ts reads what these look at.
 */
import type { DesiredCluster } from "../core/desired.js";
import { HomelabError } from "../core/errors.js";
import { realmOf } from "../core/pve.js";
import { redact } from "../log/redact.js";
import { createResolver } from "../engine/resolver.js";
import type { EntraApplication } from "../providers/entra/types.js";
import { emptyObservedTenant } from "../providers/entra/target.js";
import { findLeavers } from "../providers/proxmox/leavers.js";
import { syncedMembers } from "../providers/proxmox/members.js";
import { emptyObserved } from "../providers/proxmox/observed.js";
import { errorHint, errorText, fail, groupClaimsEmit, leaversCheck, membersCheck, pass, warnCheck, type Check } from "./checks.js";
import type { ClusterFacts, GroupFacts, RealmPlan, TenantFacts } from "./facts.js";

/**
 * `members` and `leavers` rows for a tenant realm on one cluster (issue 13), computed by the planners' own pure
 * functions from what verify read, so verify and apply cannot disagree about who is a member or a leaver.
 */
export function peopleChecks(r: RealmPlan, cluster: DesiredCluster, cf: ClusterFacts, facts: TenantFacts | undefined): Check[] {
  if (!r.tenant || !facts?.ok || !cf.ok) return [];
  const people = facts.people;
  if ("error" in people) {
    const e = people.error;
    return [warnCheck("leavers", r.realm, cluster.name, `could not read the directory: ${redact(e instanceof Error ? e.message : String(e))}`, e instanceof HomelabError && e.hint ? e.hint : "grant the automation app User.Read.All and GroupMember.Read.All (homelab bootstrap does)")];
  }
  const resolver = createResolver();
  for (const [name, id] of people.groupIds) {
    const g = r.tenant.groups.find((x) => x.displayName.toLowerCase() === name)!;
    resolver.recordGroup({ tenant: r.tenant.name, displayName: g.displayName, realm: "" }, id);
    resolver.record({ ref: g.address, field: "id" }, id);
  }
  const target = { desired: cluster, api: undefined as never, resolver, runAs: { tokenId: cluster.token.id, userid: cluster.token.id.split("!")[0]! } };
  const observed = emptyObserved();
  for (const [id, u] of cf.users) observed.users.set(id, u);
  const world = new Map<string, unknown>([[r.tenant.name, { ...emptyObservedTenant(), members: people.members, ...(people.directory ? { directory: people.directory } : {}) }]]);
  const out: Check[] = [];
  const sync = syncedMembers(target, world);
  const realmGroups = cluster.groups.filter((g) => g.syncMembers && g.realm === r.realm);
  const groups = [...sync.groups.entries()]
    .filter(([gid]) => realmGroups.some((g) => sync.groupAddress.get(gid) === g.address))
    .map(([gid, displayName]) => ({
      displayName, groupid: gid,
      entra: [...sync.memberOf.entries()].filter(([u, gs]) => gs.has(gid) && (cf.users.has(u) || sync.profiles.get(u)?.accountEnabled !== false)).map(([u]) => u).sort(),
      proxmox: [...cf.users.values()].filter((u) => u.groups.includes(gid)).map((u) => u.userid).sort(),
    }));
  const m = membersCheck(r.realm, cluster.name, groups);
  if (m) out.push(m);
  if (people.directory) {
    const { leavers, unknown } = findLeavers(target, observed, world);
    const mine = leavers.filter((l) => l.realm === r.realm);
    const total = [...cf.users.keys()].filter((u) => realmOf(u) === r.realm).length;
    out.push(leaversCheck(r.realm, cluster.name, mine, unknown.filter((u) => realmOf(u) === r.realm), total));
  }
  return out;
}

export function realmWideChecks(r: RealmPlan, facts: TenantFacts | undefined): Check[] {
  if (!r.tenant) return [];
  if (!facts || !facts.ok) {
    const err = facts && !facts.ok ? facts.error : undefined;
    return [fail("tenant", r.realm, undefined, `cannot read tenant ${r.tenant.name}: ${errorText(err)}`, errorHint(err, "check the network path to Microsoft Graph and run again"))];
  }
  const out: Check[] = [];
  const found = facts.apps.get(r.realm) ?? [];
  const tag = `homelab:realm=${r.realm}`;
  if (found.length === 0) out.push(fail("app", r.realm, undefined, `no app registration in tenant ${r.tenant.name} carries the tag ${tag}`, "run homelab apply to create it (homelab finds a realm's app by this tag, never by its name)"));
  else if (found.length > 1) out.push(fail("app", r.realm, undefined, `${found.length} app registrations carry the tag ${tag} (${found.map((a) => a.appId).join(", ")})`, "delete the extra app registrations in Entra ID: homelab never creates two"));
  else out.push(pass("app", r.realm, undefined, `${found[0]!.displayName} (client id ${found[0]!.appId}) in tenant ${r.tenant.name}`));

  const dir = facts.directory.get(r.realm);
  if (dir && "error" in dir) {
    out.push(warnCheck("directory", r.realm, undefined, `cannot read users in tenant ${r.tenant.name}: ${errorText(dir.error)}`, "grant the automation app User.ReadBasic.All (or User.Read.All) to check that named users exist in the directory"));
  } else if (dir instanceof Map) {
    const missing = [...dir.entries()].filter(([, u]) => u === undefined).map(([upn]) => upn);
    if (missing.length > 0)
      out.push(fail("directory", r.realm, undefined, `not in tenant ${r.tenant.name}: ${missing.join(", ")}`, `check the spelling in access (the login produces <UPN>@${r.realm}), or create the user in Entra ID`));
    else out.push(pass("directory", r.realm, undefined, `${dir.size} named user${dir.size === 1 ? " exists" : "s exist"} in tenant ${r.tenant.name}`));
  }
  if (r.app && r.app.assignedGroups.length > 0 && found.length === 1) out.push(groupClaimsCheck(r, found[0]!), groupAssignmentCheck(r, r.app.assignedGroups, facts.groups.get(r.realm)));
  return out;
}

/**
 * A mapped Entra group gives its members rights only if their ID token carries it: the app must emit the groups
 * claim (`groupMembershipClaims`, and the `groups` optional claim homelab sets on the ID token).
 */
function groupClaimsCheck(r: RealmPlan, app: EntraApplication): Check {
  const emit = groupClaimsEmit(app.groupMembershipClaims);
  const shown = app.groupMembershipClaims ?? "None";
  const optional = (app.optionalClaims?.idToken ?? []).some((x) => x.name === "groups");
  const problems: string[] = [];
  if (emit === "none") problems.push(`the app's groupMembershipClaims is ${shown}, so ID tokens carry no groups`);
  if (!optional) problems.push("the app's ID token has no groups optional claim");
  const hint = "run homelab apply to restore them (groupMembershipClaims ApplicationGroup and the groups optional claim): without them members of the mapped groups get no rights in Proxmox";
  if (problems.length > 0) return fail("group-claims", r.realm, undefined, problems.join("; "), hint);
  if (emit === "all")
    return warnCheck("group-claims", r.realm, undefined, `the app's groupMembershipClaims is ${shown}: ID tokens carry every group of the user, and none at all for a user in more than 200 groups`, "run homelab apply to set ApplicationGroup, which puts only the groups assigned to the app in the token");
  return pass("group-claims", r.realm, undefined, `ID tokens carry the groups assigned to the app (groupMembershipClaims ${shown}, groups optional claim)`);
}

/** With ApplicationGroup, Entra ID puts only groups assigned to the app in the token: each mapped group must be assigned. */
function groupAssignmentCheck(r: RealmPlan, mapped: string[], g: GroupFacts | { error: unknown } | undefined): Check {
  const realm = r.realm;
  if (!g) return warnCheck("group-assignment", realm, undefined, "not checked", "run homelab verify again");
  if ("error" in g)
    return warnCheck("group-assignment", realm, undefined, `cannot read the app's assignments or the groups: ${errorText(g.error)}`, "grant the automation app Application.Read.All and GroupMember.Read.All to check that the mapped groups are assigned to the app");
  if (!g.sp)
    return fail("group-assignment", realm, undefined, `the app has no service principal (enterprise application), so no group is assigned to it: ${mapped.join(", ")}`, "run homelab apply: it creates the service principal and assigns the mapped groups");
  const missing: string[] = [];
  const ambiguous: string[] = [];
  const unassigned: string[] = [];
  for (const name of mapped) {
    const found = g.byName.get(name) ?? [];
    if (found.length === 0) missing.push(name);
    else if (found.length > 1) ambiguous.push(`${name} (${found.length} groups)`);
    else if (!g.assigned.some((a) => a.principalId.toLowerCase() === found[0]!.id.toLowerCase())) unassigned.push(name);
  }
  const tenant = r.tenant!.name;
  const parts = [
    ...(unassigned.length ? [`not assigned to the app: ${unassigned.join(", ")}, so Entra ID leaves ${unassigned.length === 1 ? "it" : "them"} out of the groups claim and ${unassigned.length === 1 ? "its" : "their"} members get no rights through it`] : []),
    ...(missing.length ? [`no group named ${missing.join(", ")} in tenant ${tenant}`] : []),
    ...(ambiguous.length ? [`several groups share the name ${ambiguous.join(", ")} in tenant ${tenant}`] : []),
  ];
  if (parts.length > 0) {
    const hints = [
      ...(unassigned.length ? ["run homelab apply to assign them (the automation app needs AppRoleAssignment.ReadWrite.All), or assign them to the enterprise application in the Entra admin center"] : []),
      ...(missing.length || ambiguous.length ? ["check groups.*.entraGroup against the display names in Entra ID (they must name exactly one group)"] : []),
    ];
    return fail("group-assignment", realm, undefined, parts.join("; "), hints.join("; "));
  }
  return pass("group-assignment", realm, undefined, `${mapped.length === 1 ? "the mapped group is" : `${mapped.length} mapped groups are`} assigned to the app: ${mapped.join(", ")}`);
}
