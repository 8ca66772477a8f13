import { describe, expect, it } from "vitest";
import { appRoleId, buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { dependencyGraph, topologicalOrder } from "../../src/core/graph.js";
import type { Change } from "../../src/core/plan.js";
import { createResolver, type Resolver } from "../../src/engine/resolver.js";
import { applicationProvider, graphRole } from "../../src/providers/entra/application.js";
import { emptyObservedTenant, type ObservedTenant, type TenantTarget } from "../../src/providers/entra/target.js";
import type { EntraMember } from "../../src/providers/entra/types.js";
import { aclProvider } from "../../src/providers/proxmox/acl.js";
import { groupProvider } from "../../src/providers/proxmox/group.js";
import { guardProvider } from "../../src/providers/proxmox/guard.js";
import { emptyObserved, type ObservedCluster } from "../../src/providers/proxmox/observed.js";
import { realmProvider } from "../../src/providers/proxmox/realm.js";
import type { ClusterTarget, PveApi } from "../../src/providers/proxmox/target.js";
import { userProvider } from "../../src/providers/proxmox/user.js";

/**
 * A changed app role value (issue 13 part 3), pure: the application planner finds the role under its stable id with
 * the old value and plans the in-place rename; the Proxmox planners replace `<old>-<realm>` by `<new>-<realm>`
 * (members, ACL entries), delete the old group, and every change is ordered so the members keep their rights and
 * the value changes last. One table of situations, each planned and checked against the same rules.
 */

process.env.T_SECRET = "unused";
process.env.PVE_TOKEN = "unused";

const TENANT_ID = "0a1b2c3d-0000-4000-8000-000000000001";
const ADMINS_OID = "aaaaaaaa-0000-4000-8000-00000000000a";
const OPS_OID = "bbbbbbbb-0000-4000-8000-00000000000b";
const JANE = "jane@contoso.com@azure";
const ROLE = appRoleId(TENANT_ID, "azure", "Proxmox Admins");

interface Case {
  name: string;
  /** The group's key in the file now (it was `admins`). */
  key?: string;
  sync?: boolean;
  prune?: string;
  /** Extra groups in the file. */
  extra?: string;
  /** The new group already exists, with jane and the entries (a rerun after a failure midway). */
  rerun?: boolean;
  /** The old group is not on the cluster. */
  noOldGroup?: boolean;
  /** jane is declared in `users`. */
  declared?: boolean;
  /** The role the group holds on `/` (default PVEAdmin). With Administrator, homelab's token user holds it too, as on a real cluster. */
  role?: string;
}

const config = (c: Case) => `version: 1
tenants:
  contoso: { tenantId: ${TENANT_ID}, credentials: { clientId: 0a1b2c3d-0000-4000-8000-000000000002, clientSecret: "\${env:T_SECRET}" } }
clusters:
  pve: { url: "https://pve.lan:8006", token: { id: "homelab@pve!converge", secret: "\${env:PVE_TOKEN}" } }
realms:
  azure: { tenant: contoso, usernameClaim: upn, groupsClaim: roles }
groups:
  ${c.key ?? "sysadmins"}: { realm: azure, entraGroup: Proxmox Admins${c.sync ? ", members: sync" : ""} }
${c.extra ?? ""}access:
  - { group: ${c.key ?? "sysadmins"}, role: ${c.role ?? "PVEAdmin"}, path: / }
${c.prune ? `prune: ${c.prune}\n` : ""}${c.declared ? `users:\n  ${JANE}: { email: jane@contoso.com }\n` : ""}`;

const noApi = new Proxy({}, { get: () => () => { throw new Error("the planner must not call an API"); } });

const member = (upn: string): EntraMember => ({ id: "cccccccc-0000-4000-8000-00000000000c", userPrincipalName: upn, mail: upn, givenName: null, surname: null, accountEnabled: true });

/** The tenant as read: the realm's app with the homelab role `admins` under the Proxmox Admins group's id. */
function observedTenant(desired: ReturnType<typeof buildDesired>): ObservedTenant {
  const d = desired.tenants[0]!.applications[0]!;
  const admins = graphRole({ id: ROLE, value: "admins", group: "Proxmox Admins" }, "azure");
  const app = {
    id: "app-object-id", appId: "app-client-id", displayName: d.displayName, tags: ["homelab", "homelab:realm=azure"],
    web: { redirectUris: d.redirectUris }, groupMembershipClaims: "None", appRoles: [admins],
  };
  return {
    ...emptyObservedTenant(),
    apps: new Map([["azure", [app]]]),
    sps: new Map([["app-client-id", { id: "sp-id", appId: "app-client-id" } as never]]),
    assignments: new Map([["sp-id", [{ id: "as-1", principalId: ADMINS_OID, appRoleId: ROLE, principalType: "Group", resourceId: "sp-id", principalDisplayName: "Proxmox Admins" }]]]),
    members: new Map([[ADMINS_OID, [member("jane@contoso.com")]]]),
    directory: [{ id: "cccccccc-0000-4000-8000-00000000000c", userPrincipalName: "jane@contoso.com", mail: "jane@contoso.com", accountEnabled: true }],
  };
}

/** The cluster as read: admins-azure with jane, the file's entry and a hand-made one; the realm as the file has it. */
function observedCluster(c: Case): ObservedCluster {
  const ob = emptyObserved();
  const groups = [...(c.noOldGroup ? [] : ["admins-azure"]), ...(c.rerun ? ["sysadmins-azure"] : [])];
  for (const g of groups) ob.groups.set(g, { groupid: g, comment: "Proxmox Admins", users: [JANE] } as never);
  ob.users.set("root@pam", { userid: "root@pam", enable: true, expire: 0, groups: [], tokens: [] } as never);
  ob.users.set(JANE, { userid: JANE, enable: true, expire: 0, groups, tokens: [] } as never);
  if (c.role === "Administrator") {
    ob.users.set("homelab@pve", { userid: "homelab@pve", enable: true, expire: 0, groups: [], tokens: [] } as never);
    ob.acl.push({ path: "/", type: "user", ugid: "homelab@pve", roleid: "Administrator", propagate: true });
  }
  for (const g of groups) {
    ob.acl.push({ path: "/", type: "group", ugid: g, roleid: c.role ?? "PVEAdmin", propagate: true });
    ob.acl.push({ path: "/storage", type: "group", ugid: g, roleid: "PVEDatastoreUser", propagate: true });
  }
  return ob;
}

/** Every planner involved, tenant first (as the engine does), with one resolver. */
function plan(c: Case): { changes: Change[]; resolver: Resolver; target: ClusterTarget; cluster: ObservedCluster } {
  const desired = buildDesired(validateText(config(c)).config);
  const resolver = createResolver();
  resolver.recordGroup({ tenant: "contoso", displayName: "Proxmox Admins", realm: "" }, ADMINS_OID);
  resolver.record({ ref: "entra.group/contoso:Proxmox Admins", field: "id" }, ADMINS_OID);
  resolver.recordGroup({ tenant: "contoso", displayName: "VM Operators", realm: "" }, OPS_OID);
  resolver.record({ ref: "entra.group/contoso:VM Operators", field: "id" }, OPS_OID);
  const tenant = observedTenant(desired);
  const tt = { desired: desired.tenants[0]!, graph: noApi, resolver, now: () => new Date(0), rotateSecrets: false } as unknown as TenantTarget;
  const changes = [...applicationProvider.plan(tt, tenant, new Map()).changes];
  const ct: ClusterTarget = { desired: desired.clusters[0]!, api: noApi as PveApi, resolver, runAs: { tokenId: "homelab@pve!converge", userid: "homelab@pve" } };
  const cluster = observedCluster(c);
  const world = new Map<string, unknown>([["contoso", tenant], ["pve", cluster]]);
  for (const p of [realmProvider, groupProvider, userProvider, aclProvider]) changes.push(...p.plan(ct, cluster, world).changes);
  // As planAll does: a dependency on something that needs no change is already satisfied.
  const present = new Set(changes.map((x) => x.address));
  for (const x of changes) x.dependsOn = x.dependsOn.filter((d) => present.has(d));
  return { changes, resolver, target: ct, cluster };
}

const find = (changes: Change[], address: string) => changes.find((c) => c.address === address);
/** a comes before b in every order the executor may take: b depends on a, directly or not. */
function before(changes: Change[], a: string, b: string): boolean {
  const deps = dependencyGraph(changes);
  const seen = new Set<string>();
  const walk = (x: string): boolean => (deps.get(x) ?? []).some((d) => d === a || (!seen.has(d) && (seen.add(d), walk(d))));
  return walk(b);
}

const REPLACE = "proxmox.group/pve:sysadmins";
const OLD = "proxmox.group/pve:admins-azure";
const RENAME = "entra.application/contoso:azure/appRoles";
const FILE_ACL = "proxmox.acl/pve:/:@sysadmins:PVEAdmin";
const CARRIED = "proxmox.acl/pve:/storage:@sysadmins-azure:PVEDatastoreUser";

const CASES: Case[] = [
  { name: "default (prune off, members from sign-ins)" },
  { name: "members: sync", sync: true },
  { name: "prune.acl", prune: "{ acl: true }" },
  { name: "prune.groups", prune: "{ groups: true }" },
  { name: "prune.acl and prune.groups, members: sync", sync: true, prune: "{ acl: true, groups: true }" },
  { name: "a rerun after a failure midway", rerun: true },
  // A declared member keeps the old group until it goes (no update drops it before the new group has the rights).
  { name: "a declared member, prune.groups", declared: true, prune: "{ groups: true }" },
];

describe("a changed app role value (pure planners)", () => {
  for (const c of CASES) {
    it(`${c.name}: replace, carry, delete the old group, then the value in place; ordered; no cycle`, () => {
      const { changes, resolver } = plan(c);
      expect(() => topologicalOrder(changes), c.name).not.toThrow();
      // Tenant side: the value changes in a change of its own, the role keeps its id; the app update, if any, does not touch it.
      const rename = find(changes, RENAME)!;
      expect(rename.fields).toEqual([{ path: 'appRoles["Proxmox Admins"].value', before: "admins", after: "sysadmins" }]);
      expect(rename.data!.renames).toEqual([{ id: ROLE, from: "admins", to: "sysadmins" }]);
      expect(JSON.stringify(find(changes, "entra.application/contoso:azure")?.fields ?? [])).not.toContain("sysadmins");
      expect(resolver.value({ ref: "entra.application/contoso:azure", field: "appRole:sysadmins:was" })).toBe("admins");

      // Cluster side: the replace, the old group's delete (once, whatever prune.groups says).
      const replace = find(changes, REPLACE)!;
      expect(replace.action).toBe("replace");
      expect(replace.fields[0]).toEqual({ path: "groupid", before: "admins-azure", after: "sysadmins-azure" });
      expect(replace.data!.rename).toMatchObject({ from: "admins-azure", to: "sysadmins-azure", create: !c.rerun, members: c.sync || c.rerun ? [] : [JANE] });
      expect(changes.filter((x) => x.address === OLD).map((x) => x.action)).toEqual(["delete"]);
      // The old group's entries go with it: never deleted one by one (Proxmox would refuse them once the group is gone).
      expect(changes.filter((x) => x.kind === "proxmox.acl" && x.action === "delete")).toEqual([]);
      // The hand-made entry is carried unless prune.acl would remove it from the new group at the next run.
      const carried = find(changes, CARRIED);
      if (c.rerun || c.prune?.includes("acl")) expect(carried).toBeUndefined();
      else expect(carried!.data).toEqual({ path: "/storage", roleid: "PVEDatastoreUser", type: "group", ugid: "sysadmins-azure", propagate: true });

      // Order: the new group, then its rights and members, then the old group goes, then the value changes.
      expect(before(changes, REPLACE, OLD)).toBe(true);
      expect(before(changes, OLD, RENAME)).toBe(true);
      if (!c.rerun) expect(before(changes, FILE_ACL, OLD)).toBe(true);
      if (carried) expect(before(changes, REPLACE, CARRIED) && before(changes, CARRIED, OLD)).toBe(true);
      const jane = find(changes, `proxmox.user/pve:${JANE}`);
      if (c.sync && !c.rerun) {
        // members: sync: the user planner moves jane into the new group, after it exists and before the old one goes.
        expect(jane!.fields).toEqual([{ path: "groups", before: ["admins-azure"], after: ["admins-azure", "sysadmins-azure"] }]);
        expect(before(changes, REPLACE, jane!.address) && before(changes, jane!.address, OLD)).toBe(true);
      } else {
        // Memberships are left to the replace, which adds jane with `append` after any other update of hers (those
        // set whole group lists and would undo it if they came later).
        expect(jane?.fields.find((f) => f.path === "groups")).toBeUndefined();
        if (jane) expect(before(changes, jane.address, REPLACE)).toBe(true);
        expect(jane !== undefined).toBe(c.declared === true); // the declared user's email, in this table
      }
    });
  }

  it("renaming the group that gives the only admins Administrator on / is no lockout: the guard counts the members the replace adds", () => {
    const { changes, target, cluster } = plan({ name: "", role: "Administrator" });
    expect(find(changes, REPLACE)).toMatchObject({ action: "replace", data: { rename: { members: [JANE] } } });
    expect(() => guardProvider.review!(target, cluster, changes)).not.toThrow();
  });

  it("the old group is not on the cluster: the new group is created as usual; only the value changes on the tenant", () => {
    const { changes } = plan({ name: "", noOldGroup: true });
    expect(find(changes, REPLACE)).toMatchObject({ action: "create" });
    expect(find(changes, OLD)).toBeUndefined();
    expect(find(changes, RENAME)).toBeDefined();
  });

  it("the old value is the key of another group of the file (a swap): nothing is carried, the app update changes the values", () => {
    // admins is now VM Operators' key: the Proxmox group admins-azure stays (the file maps it), nothing moves.
    const { changes, resolver } = plan({ name: "", extra: "  admins: { realm: azure, entraGroup: VM Operators }\n" });
    expect(find(changes, RENAME)).toBeUndefined();
    expect(resolver.value({ ref: "entra.application/contoso:azure", field: "appRole:sysadmins:was" })).toBeUndefined();
    expect(find(changes, REPLACE)).toMatchObject({ action: "create" });
    expect(find(changes, OLD)).toBeUndefined();
    const update = find(changes, "entra.application/contoso:azure")!;
    expect(JSON.stringify(update.fields)).toContain("sysadmins (Proxmox Admins)");
  });

  it("the realm on two clusters: the value changes after both have replaced the group", () => {
    const text = config({ name: "" }).replace(/(clusters:\n  pve: .*\n)/, "$1  pve2: { url: \"https://pve2.lan:8006\", token: { id: \"homelab@pve!converge\", secret: \"${env:PVE_TOKEN}\" } }\n");
    const desired = buildDesired(validateText(text).config);
    expect(desired.clusters.map((c) => c.name)).toEqual(["pve", "pve2"]);
    const tt = { desired: desired.tenants[0]!, graph: noApi, resolver: createResolver(), now: () => new Date(0), rotateSecrets: false } as unknown as TenantTarget;
    const rename = find(applicationProvider.plan(tt, observedTenant(desired), new Map()).changes, RENAME)!;
    expect(rename.dependsOn).toEqual([
      "entra.application/contoso:azure",
      "proxmox.group/pve:sysadmins", "proxmox.group/pve:admins-azure",
      "proxmox.group/pve2:sysadmins", "proxmox.group/pve2:admins-azure",
    ]);
  });

  it("the role id comes from the Entra group, not the value: a changed key keeps it, another group gets another", () => {
    expect(appRoleId(TENANT_ID, "azure", "Proxmox Admins")).toBe(appRoleId(TENANT_ID.toUpperCase(), "azure", "proxmox admins"));
    expect(appRoleId(TENANT_ID, "azure", "Proxmox Admins")).not.toBe(appRoleId(TENANT_ID, "azure", "VM Operators"));
    expect(appRoleId(TENANT_ID, "azure", "Proxmox Admins")).not.toBe(appRoleId(TENANT_ID, "lab", "Proxmox Admins"));
    expect(appRoleId(TENANT_ID, "azure", "Proxmox Admins")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
