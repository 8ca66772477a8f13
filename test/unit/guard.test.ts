import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { UserError } from "../../src/core/errors.js";
import type { Change } from "../../src/core/plan.js";
import { planAll, type TargetSpec } from "../../src/engine/run.js";
import { createResolver } from "../../src/engine/resolver.js";
import { clusterProviders } from "../../src/providers/index.js";
import { guardProvider, modelAfter, requirementsOf, responsibleChanges } from "../../src/providers/proxmox/guard.js";
import { emptyObserved, type ObservedAcl, type ObservedCluster, type ObservedUser } from "../../src/providers/proxmox/observed.js";
import { modelFromObserved, privilegesOn } from "../../src/providers/proxmox/privileges.js";
import type { ClusterTarget, PveApi } from "../../src/providers/proxmox/target.js";
import { parseRelease, releaseAtLeast, versionGatedUses } from "../../src/providers/proxmox/versions.js";
import { minimal } from "../helpers/config.js";

process.env.SSO_SECRET = "sso-client-secret-1";
process.env.PVE_TOKEN = "unused";

const TOKEN = "homelab@pve!converge";
let versionCalls = 0;
const api = new Proxy({}, {
  get: (_, name) => name === "version"
    ? async () => { versionCalls++; return { version: "9.1.4", release: "9.1", repoid: "x" }; }
    : () => { throw new Error(`the guard must not call ${String(name)}`); },
}) as PveApi;

function target(text: string, applying = false): ClusterTarget {
  const c = buildDesired(validateText(text).config).clusters[0]!;
  return { desired: c, api, resolver: createResolver(), runAs: { tokenId: TOKEN, userid: "homelab@pve" }, applying };
}

/**
 * Observed state as the reads produce it: root@pam, homelab@pve with its token (privsep=0 unless said),
 * the sso realm in sync with `minimal`, and whatever the case adds.
 */
function observed(o: { users?: Partial<ObservedUser>[]; groups?: string[]; roles?: Record<string, string[]>; acl?: Partial<ObservedAcl>[]; privsep?: boolean; permissions?: ObservedCluster["permissions"] } = {}): ObservedCluster {
  const ob = emptyObserved();
  ob.realms.set("pam", { type: "pam", options: {} });
  ob.realms.set("pve", { type: "pve", options: {} });
  ob.realms.set("sso", { type: "openid", options: { "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", "client-key": "sso-client-secret-1", "username-claim": "username" }, digest: "d1" });
  const users: Partial<ObservedUser>[] = [{ userid: "root@pam" }, { userid: "homelab@pve", tokens: [{ tokenid: "converge", privsep: o.privsep ?? false, expire: 0 }] }, ...(o.users ?? [])];
  for (const u of users) ob.users.set(u.userid!, { enable: true, expire: 0, groups: [], tokens: [], ...u } as ObservedUser);
  for (const g of o.groups ?? []) ob.groups.set(g, { groupid: g, users: [...ob.users.values()].filter((u) => u.groups.includes(g)).map((u) => u.userid) });
  for (const r of ["Administrator", "NoAccess", "PVEAdmin", "PVEAuditor", "PVEUserAdmin"]) ob.roles.set(r, { roleid: r, privs: [], special: true });
  for (const [r, privs] of Object.entries(o.roles ?? {})) ob.roles.set(r, { roleid: r, privs: [...privs].sort(), special: false }); // sorted, as the client reads them
  for (const a of o.acl ?? []) ob.acl.push({ type: "user", propagate: true, ...a } as ObservedAcl);
  if (o.permissions) ob.permissions = o.permissions;
  return ob;
}

const homelabAdmin = { path: "/", ugid: "homelab@pve", roleid: "Administrator" };
const janeAdmin = { path: "/", ugid: "jane@sso", roleid: "Administrator" };

function plan(t: ClusterTarget, ob: ObservedCluster) {
  const spec: TargetSpec<ClusterTarget, ObservedCluster> = { name: t.desired.name, target: t, providers: clusterProviders, empty: emptyObserved };
  return planAll([spec], new Map([[spec.name, ob]]));
}

function refusal(f: () => unknown): UserError {
  try {
    f();
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("version check (failure 6)", () => {
  it("parses GET /version answers", () => {
    expect(parseRelease({ version: "9.2.1", release: "9.2" })).toEqual([9, 2]);
    expect(parseRelease({ version: "", release: "8.4" })).toEqual([8, 4]);
    expect(parseRelease({ version: "pve" })).toBeUndefined();
    expect(releaseAtLeast([9, 1], [9, 2])).toBe(false);
    expect(releaseAtLeast([10, 0], [9, 2])).toBe(true);
    expect(releaseAtLeast([9, 2], [9, 2])).toBe(true);
  });

  it("finds the version-gated features a cluster uses, with the field that asks for them", () => {
    const t = target(`${minimal.replace("usernameClaim: username", "usernameClaim: username\n    audiences: [a, b]\n    groupsClaim: groups")}  - { user: jane@sso, role: PVEAuditor, path: /sdn/route-maps/rm1 }\n  - { user: jane@sso, role: PVEAuditor, path: /sdn/fabrics }\n  - { user: jane@sso, role: PVEAuditor, path: /sdn/zones/z1 }\n`);
    expect(versionGatedUses(t.desired).map((u) => `${u.field} ${u.needs.join(".")}`)).toEqual([
      "realms.sso.groupsClaim 8.4",
      "realms.sso.audiences 9.2",
      "proxmox.acl/pve:/sdn/fabrics:jane@sso:PVEAuditor 9.0",
      "proxmox.acl/pve:/sdn/route-maps/rm1:jane@sso:PVEAuditor 9.2",
    ]);
    expect(versionGatedUses(target(minimal).desired)).toEqual([]);
  });

  it("reads GET /version only when the file uses such a feature", async () => {
    versionCalls = 0;
    expect(await guardProvider.read(target(minimal))).toEqual({});
    expect(versionCalls).toBe(0);
    const t = target(minimal.replace("usernameClaim: username", "usernameClaim: username\n    audiences: [a]"));
    expect(await guardProvider.read(t)).toEqual({ version: { version: "9.1.4", release: "9.1", repoid: "x" } });
    expect(versionCalls).toBe(1);
  });

  it("refuses, before any change, a feature newer than the cluster: field, release needed, release found", () => {
    const t = target(minimal.replace("usernameClaim: username", "usernameClaim: username\n    audiences: [a]"));
    const ob = observed({ users: [{ userid: "jane@sso" }], acl: [janeAdmin, homelabAdmin] });
    ob.version = { version: "9.1.4", release: "9.1", repoid: "x" };
    const e = refusal(() => plan(t, ob));
    expect(e.code).toBe("E_PVE_VERSION");
    expect(e.message).toContain("runs Proxmox VE 9.1.4");
    expect(e.message).toContain("realms.sso.audiences: realm option audiences needs Proxmox VE 9.2 or later");
    ob.version = { version: "9.2.0", release: "9.2", repoid: "x" };
    expect(plan(t, ob).changes.map((c) => c.address)).toEqual(["proxmox.realm/pve:sso"]);
  });
});

describe("lockout guard (failure 10)", () => {
  it("refuses disabling the token's own user, naming the change", () => {
    const t = target(`${minimal}users:\n  homelab@pve: { enable: false }\n`);
    const e = refusal(() => plan(t, observed({ users: [{ userid: "jane@sso" }], acl: [janeAdmin, homelabAdmin] })));
    expect(e.code).toBe("E_LOCKOUT");
    expect(e.message).toContain(`homelab's own token ${TOKEN}`);
    expect(e.message).toContain("could not even log in");
    expect(e.message).toMatch(/Responsible:\n {2}update proxmox\.user\/pve:homelab@pve$/);
  });

  it("refuses taking the token's rights through a pruned group entry and the pruned role it used (both named)", () => {
    // The token's user holds its rights through the declared group `automation` and the custom role Homelab.
    const text = `${minimal}groups:\n  automation: { members: [homelab@pve] }\nprune: { acl: true, roles: true }\n`;
    const ob = observed({
      users: [{ userid: "jane@sso" }, { userid: "homelab@pve", groups: ["automation"], tokens: [{ tokenid: "converge", privsep: false, expire: 0 }] }],
      groups: ["automation"], roles: { Homelab: ["Sys.Audit", "Sys.Modify", "Permissions.Modify", "User.Modify", "Realm.Allocate", "Realm.AllocateUser", "Group.Allocate"] },
      acl: [janeAdmin, { path: "/", type: "group", ugid: "automation", roleid: "Homelab" }],
    });
    const e = refusal(() => plan(target(text), ob));
    expect(e.code).toBe("E_LOCKOUT");
    expect(e.message).toContain("Sys.Audit on /access");
    expect(e.message).toContain("delete proxmox.acl/pve:/:@automation:Homelab");
    expect(e.message).toContain("delete proxmox.role/pve:Homelab");
    // Declaring the role and the entry keeps both: nothing to do.
    const declared = `${minimal}  - { group: automation, role: Homelab, path: / }\nroles:\n  Homelab: { privs: [${ob.roles.get("Homelab")!.privs.join(", ")}] }\ngroups:\n  automation: { members: [homelab@pve] }\nprune: { acl: true, roles: true }\n`;
    const kept = plan(target(declared), ob);
    expect(kept.changes.map((c) => `${c.action} ${c.address} ${JSON.stringify(c.fields)}`)).toEqual([]);
  });

  it("a privsep token loses what its user loses, even when its own entries stay", () => {
    const t = target(`${minimal}prune: { acl: true }\ngroups:\n  ops: { members: [jane@sso] }\n`);
    const before = observed({
      privsep: true,
      users: [{ userid: "jane@sso", groups: ["ops"] }, { userid: "homelab@pve", groups: ["ops"], tokens: [{ tokenid: "converge", privsep: true, expire: 0 }] }],
      groups: ["ops"],
      acl: [janeAdmin, { path: "/", type: "group", ugid: "ops", roleid: "Administrator" }, { path: "/", type: "token", ugid: TOKEN, roleid: "Administrator" }],
    });
    // `ops` is exclusive: homelab@pve is not listed, so the plan removes it from the group, and with it the token's rights.
    const e = refusal(() => plan(t, before));
    expect(e.code).toBe("E_LOCKOUT");
    expect(e.message).toMatch(/Responsible:\n {2}update proxmox\.user\/pve:homelab@pve/);
  });

  it("refuses leaving no enabled administrator but root@pam and homelab's user; group members count, disabled and expired users do not", () => {
    const text = `${minimal.replace("role: Administrator", "role: PVEAuditor")}prune: { acl: true }\n`;
    const ob = (ann: Partial<ObservedUser>) => observed({ users: [{ userid: "jane@sso" }, { userid: "ann@pve", groups: ["admins"], ...ann }], groups: ["admins"], acl: [janeAdmin, homelabAdmin, { path: "/", type: "group", ugid: "admins", roleid: "Administrator" }] });
    const e = refusal(() => plan(target(text), ob({ groups: [] })));
    expect(e.code).toBe("E_LAST_ADMIN");
    expect(e.message).toContain("(today: jane@sso)");
    expect(e.message).toMatch(/Responsible:\n {2}delete proxmox\.acl\/pve:\/:jane@sso:Administrator$/);
    // ann, an enabled member of a group with Administrator on /, is left: allowed.
    expect(plan(target(text), ob({})).changes.map((c) => `${c.action} ${c.address}`)).toEqual(["delete proxmox.acl/pve:/:jane@sso:Administrator", "create proxmox.acl/pve:/:jane@sso:PVEAuditor"]);
    // A disabled or expired ann does not count.
    expect(refusal(() => plan(target(text), ob({ enable: false })))).toMatchObject({ code: "E_LAST_ADMIN" });
    expect(refusal(() => plan(target(text), ob({ expire: 1000 })))).toMatchObject({ code: "E_LAST_ADMIN" });
  });

  it("a cluster where only root@pam administers still converges", () => {
    const text = minimal.replace("role: Administrator", "role: PVEAuditor");
    expect(plan(target(text), observed({ acl: [homelabAdmin] })).changes.map((c) => c.address)).toEqual(["proxmox.user/pve:jane@sso", "proxmox.acl/pve:/:jane@sso:PVEAuditor"]);
  });

  it("responsibleChanges: the single changes that fix it, else a minimal set, else every candidate", () => {
    const ch = (a: string) => ({ address: a, kind: "k", target: "t", action: "delete", fields: [], dependsOn: [] }) as Change;
    const [a, b, c] = [ch("a"), ch("b"), ch("c")];
    const all = [a, b, c];
    const has = (plan: readonly Change[], x: Change) => plan.includes(x);
    expect(responsibleChanges(all, all, (p) => !has(p, a) || !has(p, b))).toEqual([a, b]); // either alone fixes it
    expect(responsibleChanges(all, all, (p) => !has(p, a) && !has(p, b))).toEqual([a, b]); // both must go
    expect(responsibleChanges(all, [c], () => false)).toEqual([c]);
  });
});

describe("the state after a plan is derived from the changes", () => {
  it("deletes cascade: a user's entries and tokens, a group's memberships and entries, a role's entries", () => {
    const t = target(minimal);
    const before = modelFromObserved(observed({
      users: [{ userid: "ann@pve", groups: ["ops"] }, { userid: "bob@pve", groups: ["ops"] }],
      roles: { Ops: ["Sys.Audit"] },
      acl: [{ path: "/", type: "group", ugid: "ops", roleid: "PVEAuditor" }, { path: "/access", ugid: "bob@pve", roleid: "Ops" }],
    }));
    const del = (address: string, data?: Record<string, unknown>) => ({ address, kind: address.split("/")[0]!, target: "pve", action: "delete", fields: [], dependsOn: [], ...(data ? { data } : {}) }) as Change;
    const after = modelAfter(before, [del("proxmox.group/pve:ops", { groupid: "ops" }), del("proxmox.role/pve:Ops")], t);
    expect([...after.users.get("ann@pve")!.groups]).toEqual([]);
    expect(after.acl).toEqual([]);
    expect(privilegesOn(after, "bob@pve", "/access").size).toBe(0);
    // A membership removal of an undeclared user (an update with groups before/after, no desired object).
    const upd = { address: "proxmox.user/pve:ann@pve", kind: "proxmox.user", target: "pve", action: "update", dependsOn: [], fields: [{ path: "groups", before: ["ops"], after: [] }] } as Change;
    expect(privilegesOn(modelAfter(before, [upd], t), "ann@pve", "/").size).toBe(0);
    expect(privilegesOn(before, "ann@pve", "/").has("Sys.Audit")).toBe(true);
  });
});

describe("write-privilege pre-flight (failure 13)", () => {
  const auditor = (perms?: ObservedCluster["permissions"]) => observed({ privsep: true, acl: [{ path: "/", ugid: "homelab@pve", roleid: "Administrator" }, { path: "/", type: "token", ugid: TOKEN, roleid: "PVEAuditor" }], ...(perms ? { permissions: perms } : {}) });

  it("lists what is missing and on which path: a warning when planning, a refusal when applying", () => {
    const p = plan(target(minimal), auditor());
    expect(p.changes).toHaveLength(2);
    const w = p.warnings.join("\n");
    expect(w).toContain(`token ${TOKEN} lacks privileges this plan needs`);
    expect(w).toContain("Realm.AllocateUser on /access/realm/sso (for proxmox.user/pve:jane@sso)");
    expect(w).toContain("User.Modify on /access/groups (for proxmox.user/pve:jane@sso)");
    expect(w).toContain("Permissions.Modify on / (for proxmox.acl/pve:/:jane@sso:Administrator)");
    const e = refusal(() => plan(target(minimal, true), auditor()));
    expect(e.code).toBe("E_PRIVILEGES");
    expect(e.message).toContain("Permissions.Modify on /");
  });

  it("PVEAdmin lacks Permissions.Modify and Realm.Allocate", () => {
    const t = target(minimal.replace("usernameClaim: username", "usernameClaim: username\n    autocreate: true"), true);
    const ob = observed({ users: [{ userid: "jane@sso" }], acl: [janeAdmin, { path: "/", ugid: "homelab@pve", roleid: "PVEAdmin" }], privsep: false });
    const e = refusal(() => plan(t, ob));
    expect(e.message).toContain("Realm.Allocate on /access/realm (for proxmox.realm/pve:sso)");
    expect(e.message).not.toContain("User.Modify");
  });

  it("Proxmox's own answer (GET /access/permissions) counts where it covers the path", () => {
    // The model says auditor; the server says the token holds everything on / and /access...: no warning there.
    const all = { "Permissions.Modify": true, "User.Modify": true, "Realm.AllocateUser": true, "Sys.Audit": true };
    const p = plan(target(minimal), auditor({ "/": all, "/access": all, "/access/groups": all }));
    const w = p.warnings.join("\n");
    expect(w).not.toContain("Permissions.Modify on /");
    expect(w).not.toContain("User.Modify on /access/groups");
    // /access/realm/sso is not covered by the answer (no ACL entry there): the evaluation of the observed state decides.
    expect(w).toContain("Realm.AllocateUser on /access/realm/sso");
  });

  it("a plan without changes needs nothing, whatever the token", () => {
    const p = plan(target(minimal, true), observed({ privsep: true, users: [{ userid: "jane@sso" }], acl: [janeAdmin, { path: "/", type: "token", ugid: TOKEN, roleid: "PVEAuditor" }] }));
    expect(p.changes).toEqual([]);
    expect(p.warnings).toEqual([]);
  });

  it("ACL writes on /vms/<id> may use VM.Allocate for a subset of the token's own privileges (spec 3.6)", () => {
    const t = target(minimal);
    const ch = { address: "proxmox.acl/pve:/vms/100:jane@sso:PVEVMUser", kind: "proxmox.acl", target: "pve", action: "create", fields: [], dependsOn: [], data: { path: "/vms/100", roleid: "PVEVMUser", type: "user", propagate: true } } as Change;
    const roles = modelFromObserved(observed()).roles;
    expect(requirementsOf(ch, t, roles)).toEqual([{ kind: "perm-modify", path: "/vms/100", roleid: "PVEVMUser", rolePrivs: roles.get("PVEVMUser"), propagate: true }]);
  });
});
