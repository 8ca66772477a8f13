import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import type { Change } from "../../src/core/plan.js";
import { planAll, type TargetSpec } from "../../src/engine/run.js";
import { createResolver } from "../../src/engine/resolver.js";
import { clusterProviders } from "../../src/providers/index.js";
import { emptyObserved, type ObservedAcl, type ObservedCluster, type ObservedUser } from "../../src/providers/proxmox/observed.js";
import type { ClusterTarget, PveApi } from "../../src/providers/proxmox/target.js";
import { minimal } from "../helpers/config.js";

process.env.SSO_SECRET = "sso-client-secret-1";
process.env.PVE_TOKEN = "unused";

const noApi = new Proxy({}, { get: () => () => { throw new Error("the planner must not call the API"); } }) as PveApi;

function spec(text: string): TargetSpec<ClusterTarget, ObservedCluster> {
  const d = buildDesired(validateText(text).config);
  const c = d.clusters[0]!;
  return { name: c.name, target: { desired: c, api: noApi, resolver: createResolver(), runAs: { tokenId: "homelab@pve!converge", userid: "homelab@pve" } }, providers: clusterProviders, empty: emptyObserved };
}

/** Observed state in the normalised form the providers' reads produce. */
function observed(o: { realms?: Record<string, { type: string; options?: Record<string, string | boolean> }>; users?: Partial<ObservedUser>[]; groups?: string[]; roles?: Record<string, string[]>; acl?: Partial<ObservedAcl>[] } = {}): ObservedCluster {
  const ob = emptyObserved();
  ob.realms.set("pam", { type: "pam", options: {} });
  ob.realms.set("pve", { type: "pve", options: {} });
  for (const [k, v] of Object.entries(o.realms ?? {})) ob.realms.set(k, { type: v.type, options: v.options ?? {}, digest: "d1" });
  ob.users.set("root@pam", { userid: "root@pam", enable: true, expire: 0, groups: [], tokens: [] });
  for (const u of o.users ?? []) ob.users.set(u.userid!, { enable: true, expire: 0, groups: [], ...u } as ObservedUser);
  for (const g of o.groups ?? []) ob.groups.set(g, { groupid: g, users: [] });
  for (const [r, privs] of Object.entries(o.roles ?? {})) ob.roles.set(r, { roleid: r, privs, special: false });
  ob.roles.set("Administrator", { roleid: "Administrator", privs: [], special: true });
  for (const a of o.acl ?? []) ob.acl.push({ type: "user", propagate: true, ...a } as ObservedAcl);
  return ob;
}

const ssoInSync = { type: "openid", options: { "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", "client-key": "sso-client-secret-1", "username-claim": "username" } };
const janeAdmin = { path: "/", ugid: "jane@sso", roleid: "Administrator" };

function plan(text: string, ob: ObservedCluster) {
  const s = spec(text);
  return planAll([s], new Map([[s.name, ob]]));
}
const summary = (changes: Change[]) => changes.map((c) => `${c.action} ${c.address}`);

describe("planning a cluster", () => {
  it("from empty: creates realm, user and ACL entry in dependency order", () => {
    const p = plan(minimal, observed());
    expect(summary(p.changes)).toEqual([
      "create proxmox.realm/pve:sso",
      "create proxmox.user/pve:jane@sso",
      "create proxmox.acl/pve:/:jane@sso:Administrator",
    ]);
    const [realm, user, acl] = p.changes;
    expect(realm!.fields).toEqual([
      { path: "type", after: "openid" },
      { path: "client-id", after: "proxmox" },
      { path: "issuer-url", after: "https://auth.lan/application/o/proxmox/" },
      { path: "username-claim", after: "username" },
      { path: "client-key", after: "(sensitive)", sensitive: true },
    ]);
    expect(user!.dependsOn).toEqual(["proxmox.realm/pve:sso"]);
    expect(acl!.dependsOn).toEqual(["proxmox.user/pve:jane@sso"]);
    expect(JSON.stringify(p)).not.toContain("sso-client-secret-1");
  });

  it("in sync: no changes, everything counted unchanged (server defaults normalised)", () => {
    const withDefaults = { ...ssoInSync, options: { ...ssoInSync.options, scopes: "profile email", "query-userinfo": true, autocreate: false } };
    const p = plan(minimal, observed({ realms: { sso: withDefaults }, users: [{ userid: "jane@sso", email: "jane@x.org", groups: ["other"] }], acl: [janeAdmin] }));
    expect(p.changes).toEqual([]);
    expect(p.unchanged).toBe(3);
  });

  const cases: { name: string; text?: string; ob: ObservedCluster; want: string[]; check?: (c: Change[]) => void }[] = [
    {
      name: "a changed realm option is an update with before → after",
      ob: observed({ realms: { sso: { ...ssoInSync, options: { ...ssoInSync.options, autocreate: true } } }, users: [{ userid: "jane@sso" }], acl: [janeAdmin] }),
      want: ["update proxmox.realm/pve:sso"],
      check: ([c]) => {
        expect(c!.fields).toEqual([{ path: "autocreate", before: true, after: false }]);
        expect(c!.data).toEqual({ digest: "d1" });
      },
    },
    {
      name: "a changed client key is an update of a sensitive field, values hidden",
      ob: observed({ realms: { sso: { ...ssoInSync, options: { ...ssoInSync.options, "client-key": "old-secret-value" } } }, users: [{ userid: "jane@sso" }], acl: [janeAdmin] }),
      want: ["update proxmox.realm/pve:sso"],
      check: ([c]) => {
        expect(c!.fields).toEqual([{ path: "client-key", before: "(sensitive)", after: "(sensitive)", sensitive: true }]);
        expect(JSON.stringify(c)).not.toMatch(/old-secret-value|sso-client-secret-1/);
      },
    },
    {
      name: "a different username claim replaces the realm and says why",
      ob: observed({ realms: { sso: { ...ssoInSync, options: { ...ssoInSync.options, "username-claim": "email" } } }, users: [{ userid: "jane@sso" }], acl: [janeAdmin] }),
      want: ["replace proxmox.realm/pve:sso"],
      check: ([c]) => expect(c!.reason).toMatch(/`username-claim` cannot be changed on an existing realm/),
    },
    {
      name: "a realm of another type is replaced",
      ob: observed({ realms: { sso: { type: "ldap", options: {} } }, users: [{ userid: "jane@sso" }], acl: [janeAdmin] }),
      want: ["replace proxmox.realm/pve:sso"],
      check: ([c]) => expect(c!.reason).toMatch(/type is ldap, not openid/),
    },
    {
      name: "a flipped propagate flag is an update",
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }], acl: [{ ...janeAdmin, propagate: false }] }),
      want: ["update proxmox.acl/pve:/:jane@sso:Administrator"],
      check: ([c]) => expect(c!.fields).toEqual([{ path: "propagate", before: false, after: true }]),
    },
    {
      name: "an extra ACL entry is left alone without prune",
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }, { userid: "bob@sso" }], acl: [janeAdmin, { path: "/vms", ugid: "bob@sso", roleid: "PVEVMAdmin" }] }),
      want: [],
    },
    {
      name: "an extra ACL entry of a managed user is deleted with prune.acl",
      text: `${minimal}prune: { acl: true }\n`,
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }, { userid: "bob@sso" }, { userid: "carl@pve" }], acl: [janeAdmin, { path: "/vms", ugid: "bob@sso", roleid: "PVEVMAdmin" }, { path: "/vms", ugid: "carl@pve", roleid: "PVEVMAdmin" }, { path: "/", type: "token", ugid: "homelab@pve!converge", roleid: "Administrator" }] }),
      want: ["delete proxmox.acl/pve:/vms:bob@sso:PVEVMAdmin"],
      check: ([c]) => expect(c!.reason).toMatch(/prune\.acl/),
    },
    {
      name: "undeclared users of a managed realm are deleted with prune.users, their ACL entries with them",
      text: `${minimal}prune: { acl: true, users: true }\n`,
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }, { userid: "bob@sso" }, { userid: "homelab@pve" }], acl: [janeAdmin, { path: "/vms", ugid: "bob@sso", roleid: "PVEVMAdmin" }] }),
      want: ["delete proxmox.user/pve:bob@sso"],
    },
    {
      name: "a removed user is created again",
      ob: observed({ realms: { sso: ssoInSync }, acl: [] }),
      want: ["create proxmox.user/pve:jane@sso", "create proxmox.acl/pve:/:jane@sso:Administrator"],
    },
    {
      name: "declared user attributes are managed, undeclared ones left alone",
      text: `${minimal}users:\n  jane@sso: { firstname: Jane, enable: false }\n`,
      // ann keeps administering the cluster while jane is disabled (the lockout guard would refuse otherwise).
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso", firstname: "J", email: "keep@x.org" }, { userid: "ann@pve" }], acl: [janeAdmin, { path: "/", ugid: "ann@pve", roleid: "Administrator" }] }),
      want: ["update proxmox.user/pve:jane@sso"],
      check: ([c]) => expect(c!.fields).toEqual([{ path: "enable", before: true, after: false }, { path: "firstname", before: "J", after: "Jane" }]),
    },
    {
      name: "memberships in declared groups are managed; other groups are kept",
      text: `${minimal}groups:\n  ops: { members: [jane@sso] }\n  dev: {}\n`,
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso", groups: ["dev", "oidc-sso"] }], groups: ["ops", "dev", "oidc-sso"], acl: [janeAdmin] }),
      want: ["update proxmox.user/pve:jane@sso"],
      check: ([c]) => expect(c!.fields).toEqual([{ path: "groups", before: ["dev", "oidc-sso"], after: ["oidc-sso", "ops"] }]),
    },
    {
      name: "a custom role is created before the mapping that uses it",
      text: `${minimal.replace("role: Administrator", "role: Ops")}roles:\n  Ops: { privs: [VM.Audit] }\n`,
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }] }),
      want: ["create proxmox.role/pve:Ops", "create proxmox.acl/pve:/:jane@sso:Ops"],
      check: ([, acl]) => expect(acl!.dependsOn).toEqual(["proxmox.role/pve:Ops"]),
    },
    {
      name: "a role's privileges are replaced whole",
      text: `${minimal}roles:\n  Ops: { privs: [VM.Audit, VM.Console] }\n`,
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }], roles: { Ops: ["VM.Audit", "VM.PowerMgmt"] }, acl: [janeAdmin] }),
      want: ["update proxmox.role/pve:Ops"],
      check: ([c]) => expect(c!.fields).toEqual([{ path: "privs", before: ["VM.Audit", "VM.PowerMgmt"], after: ["VM.Audit", "VM.Console"] }]),
    },
    {
      name: "the built-in pve realm gets its comment, never a create",
      text: minimal.replace("realms:\n", "realms:\n  pve: { comment: Local accounts }\n"),
      ob: observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }], acl: [janeAdmin] }),
      want: ["update proxmox.realm/pve:pve"],
      // Proxmox always shows the default comment of a built-in realm (spec 3.1.1): that is the "before".
      check: ([c]) => expect(c!.fields).toEqual([{ path: "comment", before: "Proxmox VE authentication server", after: "Local accounts" }]),
    },
  ];
  it.each(cases)("$name", ({ text, ob, want, check }) => {
    const p = plan(text ?? minimal, ob);
    expect(summary(p.changes)).toEqual(want);
    check?.(p.changes);
  });

  it("refuses a plan that removes the last Administrator on / (the lockout guard, guard.ts), naming the change", () => {
    const text = `${minimal.replace("role: Administrator", "role: PVEAuditor")}prune: { acl: true }\n`;
    expect(() => plan(text, observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }], acl: [janeAdmin] }))).toThrow(/no enabled user other than root@pam \(and homelab's own homelab@pve\) holding Permissions\.Modify and User\.Modify on \/ \(today: jane@sso\)[^]*delete proxmox\.acl\/pve:\/:jane@sso:Administrator/);
    // Another enabled user with Administrator on / (one homelab does not manage) keeps the plan allowed.
    const ok = plan(text, observed({ realms: { sso: ssoInSync }, users: [{ userid: "jane@sso" }, { userid: "ann@pve" }], acl: [janeAdmin, { path: "/", ugid: "ann@pve", roleid: "Administrator" }] }));
    expect(summary(ok.changes)).toEqual(["delete proxmox.acl/pve:/:jane@sso:Administrator", "create proxmox.acl/pve:/:jane@sso:PVEAuditor"]);
  });

  it("never prunes root@pam or the user homelab runs as", () => {
    const text = `${minimal.replace("jane@sso", "jane@pve").replace("realms:\n", "realms:\n  pve: { comment: x }\n")}prune: { acl: true, users: true }\n`;
    const p = plan(text, observed({ realms: { sso: ssoInSync, pve: { type: "pve", options: { comment: "x" } } }, users: [{ userid: "jane@pve" }, { userid: "homelab@pve" }, { userid: "ann@pve" }], acl: [{ ...janeAdmin, ugid: "jane@pve" }, { path: "/", ugid: "homelab@pve", roleid: "Administrator" }, { path: "/", ugid: "ann@pve", roleid: "PVEAuditor" }] }));
    // pve is built in, never a managed realm: nothing of it is pruned.
    expect(summary(p.changes)).toEqual([]);
  });
});
