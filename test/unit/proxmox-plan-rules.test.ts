import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import type { Change, Plan } from "../../src/core/plan.js";
import { planAll, type TargetSpec } from "../../src/engine/run.js";
import { createResolver } from "../../src/engine/resolver.js";
import { aclProvider } from "../../src/providers/proxmox/acl.js";
import { groupProvider } from "../../src/providers/proxmox/group.js";
import { emptyObserved, type ObservedAcl, type ObservedCluster, type ObservedUser } from "../../src/providers/proxmox/observed.js";
import { realmProvider } from "../../src/providers/proxmox/realm.js";
import { roleProvider } from "../../src/providers/proxmox/role.js";
import type { ClusterTarget, PveApi } from "../../src/providers/proxmox/target.js";
import { userProvider } from "../../src/providers/proxmox/user.js";

/**
 * Planner tables for the Proxmox rules of issue 8 (pure: desired × observed → changes, no network). The
 * resource providers only: the pre-flights and the lockout guard have tests of their own.
 */
process.env.RULES_KEY = "rules-client-key-0815";
process.env.PVE_TOKEN = "unused";

const noApi = new Proxy({}, { get: () => () => { throw new Error("the planner must not call the API"); } }) as PveApi;
const providers = [realmProvider, roleProvider, groupProvider, userProvider, aclProvider];

const head = `version: 1
clusters:
  pve:
    url: https://pve.lan:8006
    token: { id: "homelab@pve!converge", secret: "\${env:PVE_TOKEN}" }
`;

function plan(body: string, ob: ObservedCluster): Plan {
  const c = buildDesired(validateText(head + body).config).clusters[0]!;
  const spec: TargetSpec<ClusterTarget, ObservedCluster> = {
    name: c.name,
    target: { desired: c, api: noApi, resolver: createResolver(), runAs: { tokenId: "homelab@pve!converge", userid: "homelab@pve" } },
    providers,
    empty: emptyObserved,
  };
  return planAll([spec], new Map([[c.name, ob]]));
}

interface Seed {
  realms?: Record<string, { type: string; options?: Record<string, string | boolean> }>;
  users?: Partial<ObservedUser>[];
  groups?: Record<string, string[]>;
  roles?: Record<string, string[]>;
  acl?: Partial<ObservedAcl>[];
}

/** Observed state as Proxmox shows it: the built-in realms always carry their default comments (spec 3.1.1). */
function observed(o: Seed = {}): ObservedCluster {
  const ob = emptyObserved();
  ob.realms.set("pam", { type: "pam", options: { comment: "Linux PAM standard authentication" }, digest: "d0" });
  ob.realms.set("pve", { type: "pve", options: { comment: "Proxmox VE authentication server" }, digest: "d0" });
  for (const [k, v] of Object.entries(o.realms ?? {})) ob.realms.set(k, { type: v.type, options: v.options ?? {}, digest: "d0" });
  ob.users.set("root@pam", { userid: "root@pam", enable: true, expire: 0, groups: [], tokens: [] });
  for (const u of o.users ?? []) ob.users.set(u.userid!, { enable: true, expire: 0, groups: [], tokens: [], ...u } as ObservedUser);
  for (const [g, members] of Object.entries(o.groups ?? {})) ob.groups.set(g, { groupid: g, users: members });
  for (const [r, privs] of Object.entries(o.roles ?? {})) ob.roles.set(r, { roleid: r, privs, special: false });
  ob.roles.set("Administrator", { roleid: "Administrator", privs: [], special: true });
  for (const a of o.acl ?? []) ob.acl.push({ type: "user", propagate: true, ...a } as ObservedAcl);
  return ob;
}

const summary = (changes: Change[]) => changes.map((c) => `${c.action} ${c.address}`);
const find = (p: Plan, address: string) => p.changes.find((c) => c.address === address)!;

const sso = `  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:RULES_KEY}
    usernameClaim: username
`;
const ssoRead = { type: "openid", options: { "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", "client-key": "rules-client-key-0815", "username-claim": "username" } };

describe("built-in realms: the default comment is the unset value (failure 2)", () => {
  it("a built-in realm declared without a comment plans nothing for the comment", () => {
    const p = plan("realms:\n  pve: { default: true }\n", observed());
    expect(summary(p.changes)).toEqual(["update proxmox.realm/pve:pve"]);
    expect(find(p, "proxmox.realm/pve:pve").fields).toEqual([{ path: "default", before: false, after: true }]);
    const again = plan("realms:\n  pve: { default: true }\n", observed({ realms: { pve: { type: "pve", options: { comment: "Proxmox VE authentication server", default: true } } } }));
    expect(again.changes).toEqual([]);
  });

  it("a custom comment on pam goes back to the default when the file sets none", () => {
    const p = plan("realms:\n  pam: { default: true }\n", observed({ realms: { pam: { type: "pam", options: { comment: "hand-made", default: true } } } }));
    expect(find(p, "proxmox.realm/pve:pam").fields).toEqual([{ path: "comment", before: "hand-made", after: "Linux PAM standard authentication" }]);
  });
});

describe("realm digests (failure 1)", () => {
  it("every realm update and replace carries the digest of the read it was planned from", () => {
    const body = `realms:\n  pve: { comment: "Local accounts (break-glass)" }\n${sso.replace("username\n", "email\n")}`;
    const p = plan(body, observed({ realms: { sso: ssoRead } }));
    expect(summary(p.changes)).toEqual(["update proxmox.realm/pve:pve", "replace proxmox.realm/pve:sso"]);
    for (const c of p.changes) expect(c.data).toEqual({ digest: "d0" });
  });
});

describe("client keys (issue 14)", () => {
  it("a realm read without client-key has none: the key the file gives is planned", () => {
    const noKey = { type: "openid", options: { ...ssoRead.options } as Record<string, string | boolean> };
    delete noKey.options["client-key"];
    const p = plan(`realms:\n${sso}`, observed({ realms: { sso: noKey } }));
    expect(summary(p.changes)).toEqual(["update proxmox.realm/pve:sso"]);
    expect(find(p, "proxmox.realm/pve:sso").fields).toEqual([{ path: "client-key", after: "(sensitive)", sensitive: true }]);
    expect(JSON.stringify(p)).not.toContain("rules-client-key-0815");
  });

  it("a key the file does not give is left alone", () => {
    const body = `realms:\n${sso.replace("    clientKey: ${env:RULES_KEY}\n", "")}`;
    expect(plan(body, observed({ realms: { sso: ssoRead } })).changes).toEqual([]);
  });
});

describe("group members are the whole list (failure 11)", () => {
  const body = `realms:\n${sso}groups:\n  operators: { members: [bob@sso] }\nusers:\n  bob@sso: {}\n`;
  const state = (extra: string[]) =>
    observed({
      realms: { sso: ssoRead },
      users: [{ userid: "bob@sso", groups: ["operators"] }, ...extra.map((u) => ({ userid: u, groups: ["operators", "other"] }))],
      groups: { operators: ["bob@sso", ...extra], other: extra },
    });

  it("a member added by hand is removed, other memberships kept", () => {
    const p = plan(body, state(["zed@pve"]));
    expect(summary(p.changes)).toEqual(["update proxmox.user/pve:zed@pve"]);
    const c = find(p, "proxmox.user/pve:zed@pve");
    expect(c.fields).toEqual([{ path: "groups", before: ["operators", "other"], after: ["other"] }]);
    expect(c.reason).toMatch(/not a member of operators in the file/);
  });

  it("membersExclusive: false leaves hand-added members alone", () => {
    const p = plan(body.replace("{ members: [bob@sso] }", "{ members: [bob@sso], membersExclusive: false }"), state(["zed@pve"]));
    expect(p.changes).toEqual([]);
  });

  it("a declared user who joined by hand leaves the group; a declared member missing is added", () => {
    const p = plan(`${body}  amy@sso: {}\n`, observed({ realms: { sso: ssoRead }, users: [{ userid: "bob@sso" }, { userid: "amy@sso", groups: ["operators"] }], groups: { operators: ["amy@sso"] } }));
    expect(find(p, "proxmox.user/pve:amy@sso").fields).toEqual([{ path: "groups", before: ["operators"], after: [] }]);
    expect(find(p, "proxmox.user/pve:bob@sso").fields).toEqual([{ path: "groups", before: [], after: ["operators"] }]);
  });
});

describe("pruned groups and memberships (failure 8)", () => {
  it("a membership in a group being pruned is dropped from the user's update", () => {
    const body = `realms:\n${sso}groups:\n  ops-sso: { members: [bob@sso] }\nusers:\n  bob@sso: {}\nprune: { groups: true }\n`;
    const p = plan(body, observed({ realms: { sso: ssoRead }, users: [{ userid: "bob@sso", groups: ["devs-sso"] }], groups: { "devs-sso": ["bob@sso"] } }));
    expect(summary(p.changes)).toEqual(["delete proxmox.group/pve:devs-sso", "create proxmox.group/pve:ops-sso", "update proxmox.user/pve:bob@sso"]);
    expect(find(p, "proxmox.user/pve:bob@sso").fields).toEqual([{ path: "groups", before: ["devs-sso"], after: ["ops-sso"] }]);
  });
});

describe("pruned groups and hand-added members together (property test seeds 8186, 8191)", () => {
  it("an undeclared user leaving an exclusive group also drops the group being pruned", () => {
    const body = `realms:\n${sso}groups:\n  operators: { members: [bob@sso] }\nusers:\n  bob@sso: {}\nprune: { groups: true }\n`;
    const p = plan(body, observed({ realms: { sso: ssoRead }, users: [{ userid: "bob@sso", groups: ["operators"] }, { userid: "zed@pve", groups: ["old-sso", "operators", "other"] }], groups: { operators: ["bob@sso", "zed@pve"], "old-sso": ["zed@pve"], other: ["zed@pve"] } }));
    expect(summary(p.changes)).toEqual(["delete proxmox.group/pve:old-sso", "update proxmox.user/pve:zed@pve"]);
    expect(find(p, "proxmox.user/pve:zed@pve").fields).toEqual([{ path: "groups", before: ["old-sso", "operators", "other"], after: ["other"] }]);
  });
});

describe("pruned roles (failure 7)", () => {
  const body = (prune: string) => `realms:\n${sso}users:\n  bob@sso: {}\nprune: { ${prune} }\n`;
  const legacyUsedBy = (acl: Partial<ObservedAcl>[], users: Partial<ObservedUser>[] = []) =>
    observed({ realms: { sso: ssoRead }, users: [{ userid: "bob@sso" }, ...users], roles: { Legacy: ["VM.Audit"] }, acl });

  it("ACL deletes go first: the role delete depends on every pruned entry that names it", () => {
    const p = plan(body("acl: true, roles: true"), legacyUsedBy([{ path: "/vms", ugid: "bob@sso", roleid: "Legacy" }, { path: "/", ugid: "bob@sso", roleid: "Legacy" }]));
    expect(summary(p.changes)).toEqual(["delete proxmox.role/pve:Legacy", "delete proxmox.acl/pve:/:bob@sso:Legacy", "delete proxmox.acl/pve:/vms:bob@sso:Legacy"]);
    expect(find(p, "proxmox.role/pve:Legacy").dependsOn.sort()).toEqual(["proxmox.acl/pve:/:bob@sso:Legacy", "proxmox.acl/pve:/vms:bob@sso:Legacy"]);
    expect(p.warnings).toEqual([]);
  });

  it("a role still used by an entry homelab does not manage is kept, and the plan says why", () => {
    const p = plan(body("acl: true, roles: true"), legacyUsedBy([{ path: "/vms", ugid: "bob@sso", roleid: "Legacy" }, { path: "/storage", ugid: "zed@pve", roleid: "Legacy" }], [{ userid: "zed@pve" }]));
    expect(summary(p.changes)).toEqual(["delete proxmox.acl/pve:/vms:bob@sso:Legacy"]);
    expect(p.warnings.join("\n")).toMatch(/role Legacy is not declared but is not deleted.*1 ACL entry.*\/storage user zed@pve/);
  });

  it("without prune.acl, a managed user's entry also keeps the role (the plan never hides a deletion)", () => {
    const p = plan(body("roles: true"), legacyUsedBy([{ path: "/vms", ugid: "bob@sso", roleid: "Legacy" }]));
    expect(p.changes).toEqual([]);
    expect(p.warnings).toHaveLength(1);
  });

  it("an entry that goes with a pruned user does not keep the role", () => {
    const p = plan(body("users: true, roles: true"), legacyUsedBy([{ path: "/vms", ugid: "old@sso", roleid: "Legacy" }], [{ userid: "old@sso" }]));
    expect(summary(p.changes)).toEqual(["delete proxmox.role/pve:Legacy", "delete proxmox.user/pve:old@sso"]);
  });

  it("an entry of a token whose user is pruned does not keep the role (soak seed 1012142)", () => {
    const p = plan(body("users: true, roles: true"), legacyUsedBy([{ path: "/vms/100", type: "token", ugid: "old@sso!monitor", roleid: "Legacy" }], [{ userid: "old@sso" }]));
    expect(summary(p.changes)).toEqual(["delete proxmox.role/pve:Legacy", "delete proxmox.user/pve:old@sso"]);
    expect(p.warnings).toEqual([]);
  });

  it("an unused role is simply deleted", () => {
    const p = plan(body("roles: true"), legacyUsedBy([]));
    expect(summary(p.changes)).toEqual(["delete proxmox.role/pve:Legacy"]);
    expect(find(p, "proxmox.role/pve:Legacy").dependsOn).toEqual([]);
  });
});
