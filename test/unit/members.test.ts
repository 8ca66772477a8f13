import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { ConfigError } from "../../src/core/errors.js";
import type { Change } from "../../src/core/plan.js";
import { createResolver } from "../../src/engine/resolver.js";
import { refuseUnreadable, unreadableWarning } from "../../src/providers/entra/directory.js";
import { emptyObservedTenant, type ObservedTenant } from "../../src/providers/entra/target.js";
import type { EntraMember, EntraUserStatus } from "../../src/providers/entra/types.js";
import { aclPrunes, prunedPrincipals } from "../../src/providers/proxmox/acl.js";
import { memberUserId } from "../../src/providers/proxmox/members.js";
import { emptyObserved, type ObservedAcl, type ObservedCluster, type ObservedUser } from "../../src/providers/proxmox/observed.js";
import type { ClusterTarget, PveApi } from "../../src/providers/proxmox/target.js";
import { userProvider } from "../../src/providers/proxmox/user.js";
import { rng } from "../helpers/rng.js";

/**
 * The members-sync and leavers planners (issue 13), pure: desired × observed cluster × observed tenant → user
 * changes and warnings. No simulator, no network.
 */

process.env.T_SECRET = "unused";
process.env.PVE_TOKEN = "unused";

const TENANT_ID = "0a1b2c3d-0000-4000-8000-000000000001";
const ADMINS = "aaaaaaaa-0000-4000-8000-00000000000a";
const GID = `${ADMINS}-azure`;

const config = (realm: string, group = "members: sync") => `version: 1
tenants:
  contoso: { tenantId: ${TENANT_ID}, credentials: { clientId: 0a1b2c3d-0000-4000-8000-000000000002, clientSecret: "\${env:T_SECRET}" } }
clusters:
  pve: { url: "https://pve.lan:8006", token: { id: "homelab@pve!converge", secret: "\${env:PVE_TOKEN}" } }
realms:
  azure: { tenant: contoso, ${realm} }
groups:
  admins: { realm: azure, entraGroup: Proxmox Admins, ${group} }
  ops: { members: [ops@pve] }
access:
  - { group: admins, role: PVEAuditor, path: / }
`;

const noApi = new Proxy({}, { get: () => () => { throw new Error("the planner must not call the API"); } }) as PveApi;

function target(text: string): ClusterTarget {
  const d = buildDesired(validateText(text).config);
  const resolver = createResolver();
  // What the entra.group planner records when it resolves the display name.
  resolver.recordGroup({ tenant: "contoso", displayName: "Proxmox Admins", realm: "" }, ADMINS);
  resolver.record({ ref: "entra.group/contoso:Proxmox Admins", field: "id" }, ADMINS);
  return { desired: d.clusters[0]!, api: noApi, resolver, runAs: { tokenId: "homelab@pve!converge", userid: "homelab@pve" } };
}

const member = (upn: string, o: Partial<EntraMember> = {}): EntraMember => ({ id: `${upn.length.toString(16).padStart(8, "0")}-0000-4000-8000-${Buffer.from(upn).toString("hex").slice(0, 12).padEnd(12, "0")}`, userPrincipalName: upn, mail: upn, givenName: null, surname: null, accountEnabled: true, ...o });

function tenant(members: EntraMember[], directory: EntraUserStatus[] = members): ObservedTenant {
  return { ...emptyObservedTenant(), members: new Map([[ADMINS, members]]), directory };
}

function cluster(users: Partial<ObservedUser>[] = [], acl: Partial<ObservedAcl>[] = []): ObservedCluster {
  const ob = emptyObserved();
  for (const u of [{ userid: "root@pam" }, { userid: "homelab@pve" }, { userid: "ops@pve", groups: ["ops"] }, ...users]) ob.users.set(u.userid!, { enable: true, expire: 0, groups: [], tokens: [], ...u } as ObservedUser);
  ob.groups.set(GID, { groupid: GID, users: [] });
  ob.groups.set("ops", { groupid: "ops", users: ["ops@pve"] });
  for (const a of acl) ob.acl.push({ type: "user", propagate: true, ...a } as ObservedAcl);
  return ob;
}

function plan(text: string, ob: ObservedCluster, t: ObservedTenant) {
  return userProvider.plan(target(text), ob, new Map([["contoso", t]]));
}
const byAddr = (changes: Change[], userid: string) => changes.find((c) => c.address === `proxmox.user/pve:${userid}`);

describe("members: sync (pure planner)", () => {
  it("with prune.users and prune.acl, a synced member is created (never pruned), one who left is pruned, and the ACL planner does not count a synced member as going", () => {
    const text = `${config("usernameClaim: upn")}prune: { users: true, acl: true }\n`;
    const ob = cluster([{ userid: "carol@contoso.com@azure", groups: [GID] }, { userid: "dave@contoso.com@azure", groups: [GID] }], [{ path: "/vms", ugid: "carol@contoso.com@azure", roleid: "PVEVMUser" }]);
    const t = tenant([member("carol@contoso.com"), member("erin@contoso.com")]);
    const p = plan(text, ob, t);
    expect(byAddr(p.changes, "erin@contoso.com@azure")?.action).toBe("create");
    expect(byAddr(p.changes, "carol@contoso.com@azure")).toBeUndefined();
    expect(byAddr(p.changes, "dave@contoso.com@azure")?.action).toBe("delete");
    // carol stays, so her undeclared entry is pruned by the ACL planner itself; dave's goes with dave.
    const world = new Map([["contoso", t]]);
    const acl = aclPrunes(target(text), ob, world).map((e) => e.ugid);
    expect(acl).toEqual(["carol@contoso.com@azure"]);
    expect([...prunedPrincipals(target(text), ob, world)]).toEqual(["user:dave@contoso.com@azure"]);
  });

  it("creates a missing member with email and names from Graph, in the mapped group, naming the Entra group", () => {
    const p = plan(config("usernameClaim: upn"), cluster(), tenant([member("carol@contoso.com", { givenName: "Carol", surname: "Chen" })]));
    const c = byAddr(p.changes, "carol@contoso.com@azure")!;
    expect(c.action).toBe("create");
    expect(c.fields).toEqual([
      { path: "email", after: "carol@contoso.com" },
      { path: "firstname", after: "Carol" },
      { path: "groups", after: [GID] },
      { path: "lastname", after: "Chen" },
    ]);
    expect(c.reason).toBe('member of Entra group "Proxmox Admins" (members: sync)');
  });

  it("maps the username claim: upn ← userPrincipalName, email ← mail, oid ← id (lower case); none for sub", () => {
    const m = member("Carol@contoso.com", { id: "ABCDEF01-0000-4000-8000-000000000001", mail: "carol.chen@contoso.com" });
    expect(memberUserId(m, "upn", "azure")).toBe("Carol@contoso.com@azure");
    expect(memberUserId(m, "email", "azure")).toBe("carol.chen@contoso.com@azure");
    expect(memberUserId(m, "oid", "azure")).toBe("abcdef01-0000-4000-8000-000000000001@azure");
    expect(memberUserId(m, "sub", "azure")).toBeUndefined();
    expect(memberUserId(m, undefined, "azure")).toBeUndefined();
    expect(memberUserId({ ...m, mail: null }, "email", "azure")).toBeUndefined();
    // A name Proxmox would refuse (a colon, or past 64 characters) is not made up.
    expect(memberUserId({ ...m, userPrincipalName: "a:b@contoso.com" }, "upn", "azure")).toBeUndefined();
    expect(memberUserId({ ...m, userPrincipalName: `${"x".repeat(60)}@c.com` }, "upn", "azure")).toBeUndefined();
  });

  it("a member without a mail under `email` is skipped with a warning, not created", () => {
    const p = plan(config("usernameClaim: email"), cluster(), tenant([member("dave@contoso.com", { mail: null })]));
    expect(p.changes).toEqual([]);
    expect(p.warnings!.join("\n")).toMatch(/1 member of Entra group "Proxmox Admins" cannot be given a Proxmox user id .*dave@contoso\.com/);
  });

  it("adds an existing user to the group, keeps their other groups, and removes someone no longer a member", () => {
    const p = plan(
      config("usernameClaim: upn"),
      cluster([
        { userid: "jane@contoso.com@azure", groups: ["ops"] },
        { userid: "gone@contoso.com@azure", groups: [GID, "ops"] },
      ]),
      tenant([member("jane@contoso.com")], [member("jane@contoso.com"), member("gone@contoso.com")]),
    );
    const jane = byAddr(p.changes, "jane@contoso.com@azure")!;
    // ops is an exclusive plain group whose members are ops@pve only: jane's stray membership goes too.
    expect(jane.fields).toEqual([{ path: "groups", before: ["ops"], after: [GID] }]);
    expect(jane.reason).toMatch(/^member of Entra group "Proxmox Admins" \(members: sync\); not a member of ops in the file/);
    const gone = byAddr(p.changes, "gone@contoso.com@azure")!;
    expect(gone.fields).toEqual([{ path: "groups", before: [GID, "ops"], after: [] }]);
    expect(gone.reason).toMatch(/no longer a member of Entra group "Proxmox Admins" \(members: sync\)/);
  });

  it("in sync: nothing to do; without `members: sync` the login-filled group is left alone", () => {
    const users = [{ userid: "jane@contoso.com@azure", groups: [GID] }, { userid: "old@contoso.com@azure", groups: [GID] }];
    const t = tenant([member("jane@contoso.com")], [member("jane@contoso.com"), member("old@contoso.com")]);
    const synced = plan(config("usernameClaim: upn"), cluster(users), t);
    expect(synced.changes.map((c) => c.address)).toEqual(["proxmox.user/pve:old@contoso.com@azure"]);
    const notSynced = plan(config("usernameClaim: upn", "comment: Admins"), cluster(users), { ...t, members: new Map() });
    expect(notSynced.changes).toEqual([]);
  });

  it("a disabled member gets no new user", () => {
    const p = plan(config("usernameClaim: upn"), cluster(), tenant([member("carol@contoso.com", { accountEnabled: false })]));
    expect(p.changes.filter((c) => c.action === "create")).toEqual([]);
  });
});

describe("leavers (pure planner)", () => {
  const users = (extra: Partial<ObservedUser> = {}) => [
    { userid: "carol@contoso.com@azure", tokens: [{ tokenid: "laptop", privsep: false, expire: 0 }, { tokenid: "ci", privsep: true, expire: 0 }], ...extra },
    { userid: "jane@contoso.com@azure" },
    { userid: "someone@pve" },
  ];
  const acl = [{ path: "/vms", ugid: "carol@contoso.com@azure", roleid: "PVEVMUser" }, { path: "/", type: "token" as const, ugid: "carol@contoso.com@azure!ci", roleid: "PVEAuditor" }];
  const directory = (carol: boolean | null | "gone") => [member("jane@contoso.com"), ...(carol === "gone" ? [] : [member("carol@contoso.com", { accountEnabled: carol })])];

  it("report (the default): listed with tokens and ACL entries under a warning, nothing changed", () => {
    const p = plan(config("usernameClaim: upn", "comment: x"), cluster(users(), acl), { ...emptyObservedTenant(), directory: directory(false) });
    expect(p.changes).toEqual([]);
    expect(p.warnings).toEqual([
      "leaver carol@contoso.com@azure on pve: Entra account disabled; enabled in Proxmox; API tokens: ci, laptop; ACL entries: / PVEAuditor (token ci), /vms PVEVMUser; realms.azure.leavers is report: nothing is changed (set it to disable or delete)",
    ]);
  });

  it("disable: enable 0 and every token deleted in one change; the second run has nothing left to do", () => {
    const p = plan(config("usernameClaim: upn, leavers: disable", "comment: x"), cluster(users(), acl), { ...emptyObservedTenant(), directory: directory(false) });
    expect(p.changes).toHaveLength(1);
    const c = p.changes[0]!;
    expect(c).toMatchObject({ address: "proxmox.user/pve:carol@contoso.com@azure", action: "update", data: { tokens: ["ci", "laptop"] } });
    expect(c.fields).toEqual([{ path: "enable", before: true, after: false }, { path: "tokens", before: ["ci", "laptop"], after: [] }]);
    expect(c.reason).toMatch(/leaver: its Entra account is disabled; disabled and its API tokens deleted/);
    const after = plan(config("usernameClaim: upn, leavers: disable", "comment: x"), cluster(users({ enable: false, tokens: [] }), acl), { ...emptyObservedTenant(), directory: directory(false) });
    expect(after.changes).toEqual([]);
    expect(after.warnings!.join("\n")).toMatch(/leaver carol@contoso\.com@azure on pve: .*disabled in Proxmox; no API tokens; .*nothing left to do/);
  });

  it("delete: an account that no longer exists is deleted (its ACL entries and tokens go with it)", () => {
    const p = plan(config("usernameClaim: upn, leavers: delete", "comment: x"), cluster(users(), acl), { ...emptyObservedTenant(), directory: directory("gone") });
    expect(p.changes.map((c) => `${c.action} ${c.address}`)).toEqual(["delete proxmox.user/pve:carol@contoso.com@azure"]);
    expect(p.changes[0]!.reason).toMatch(/its Entra account no longer exists \(realms\.azure\.leavers: delete\)/);
    expect(p.warnings!.join("\n")).toMatch(/no Entra account any more/);
  });

  it("delete on a user the file declares only disables it (the file would create it again)", () => {
    const text = config("usernameClaim: upn, leavers: delete", "comment: x") + "  - { user: carol@contoso.com@azure, role: PVEAuditor, path: /vms }\n";
    const p = plan(text, cluster(users(), acl), { ...emptyObservedTenant(), directory: directory(false) });
    expect(p.changes).toHaveLength(1);
    expect(p.changes[0]!.action).toBe("update");
    expect(p.changes[0]!.fields[0]).toEqual({ path: "enable", before: true, after: false });
    expect(p.warnings!.join("\n")).toMatch(/the file still declares this user/);
  });

  it("accountEnabled neither true nor false: 'cannot tell', never a leaver, never enabled", () => {
    const p = plan(config("usernameClaim: upn, leavers: delete", "comment: x"), cluster(users(), acl), { ...emptyObservedTenant(), directory: directory(null) });
    expect(p.changes).toEqual([]);
    expect(p.warnings).toEqual(["pve: cannot tell whether the Entra account of carol@contoso.com@azure is enabled (Graph returns no accountEnabled for it); it is not treated as a leaver"]);
  });

  it("never root@pam, never homelab's own token user, never a user outside the realm, even when the realm is pve or pam", () => {
    // Nobody in the directory: every user of the realm would be a leaver; those outside it are not.
    const p = plan(config("usernameClaim: upn, leavers: delete", "comment: x"), cluster(users()), { ...emptyObservedTenant(), directory: [] });
    expect(p.changes.map((c) => c.address).sort()).toEqual(["proxmox.user/pve:carol@contoso.com@azure", "proxmox.user/pve:jane@contoso.com@azure"]);
  });

  it("seeded: only users of the realm whose account is disabled or gone are leavers, whatever the mix", () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100000);
    const r = rng(seed);
    for (let round = 0; round < 50; round++) {
      const states = ["enabled", "disabled", "gone", "unknown"] as const;
      const people = Array.from({ length: 1 + r.int(12) }, (_, i) => ({ upn: `u${i}@contoso.com`, state: states[r.int(4)]!, outside: r.int(5) === 0 }));
      const dir = people.filter((x) => x.state !== "gone").map((x) => member(x.upn, { accountEnabled: x.state === "enabled" ? true : x.state === "disabled" ? false : null }));
      const observedUsers = people.map((x) => ({ userid: x.outside ? `${x.upn}@pve` : `${x.upn}@azure` }));
      const run = () => plan(config("usernameClaim: upn, leavers: disable", "comment: x"), cluster(observedUsers), { ...emptyObservedTenant(), directory: dir });
      // Nobody's accountEnabled known (as without User.Read.All): acting on leavers is refused instead.
      if (dir.length > 0 && !dir.some((u) => typeof u.accountEnabled === "boolean")) {
        expect(run, `seed ${seed} round ${round}`).toThrowError(/does not say whether accounts of tenant contoso are enabled/);
        continue;
      }
      const p = run();
      const want = people.filter((x) => !x.outside && (x.state === "disabled" || x.state === "gone")).map((x) => `proxmox.user/pve:${x.upn}@azure`).sort();
      expect(p.changes.map((c) => c.address).sort(), `seed ${seed} round ${round}`).toEqual(want);
      for (const c of p.changes) expect(c.fields, `seed ${seed}`).toContainEqual({ path: "enable", before: true, after: false });
    }
  });
});

describe("permissions: a blind read is refused before any write", () => {
  const d = buildDesired(validateText(config("usernameClaim: upn")).config).tenants[0]!;
  it("accountEnabled null for everyone (User.ReadBasic.All only): with leavers: report a warning naming the tenant, realm and permission; with disable or delete refused", () => {
    const blind = [member("jane@contoso.com", { accountEnabled: null }), member("carol@contoso.com", { accountEnabled: null })];
    const t = { ...tenant([blind[0]!], blind) };
    t.groups.set("Proxmox Admins", [{ id: ADMINS, displayName: "Proxmox Admins" }]);
    // The default (report): a tenant bootstrapped before leavers existed keeps working, with a warning.
    expect(() => refuseUnreadable(d, t)).not.toThrow();
    expect(unreadableWarning(d, t)).toMatch(/^tenant contoso: Microsoft Graph does not say whether accounts are enabled .*leavers of realm azure: grant .*User\.Read\.All .*homelab bootstrap --tenant contoso/);
    const ob = cluster([{ userid: "carol@contoso.com@azure" }]);
    expect(byAddr(plan(config("usernameClaim: upn"), ob, t).changes, "carol@contoso.com@azure")).toBeUndefined();
    // Acting on leavers needs to know who is one: refused before any write.
    for (const policy of ["disable", "delete"]) {
      const text = config(`usernameClaim: upn, leavers: ${policy}`);
      expect(() => plan(text, ob, t)).toThrowError(new RegExp(`realm azure has leavers: ${policy}, but Microsoft Graph does not say whether accounts of tenant contoso are enabled`));
    }
    // Readable: no warning.
    expect(unreadableWarning(d, tenant([member("jane@contoso.com")]))).toBeUndefined();
  });
  it("members as 'limited information' (a group permission only): refused", () => {
    const t = tenant([{ id: ADMINS.replace("a", "b"), userPrincipalName: null }], [member("jane@contoso.com")]);
    t.groups.set("Proxmox Admins", [{ id: ADMINS, displayName: "Proxmox Admins" }]);
    expect(() => refuseUnreadable(d, t)).toThrowError(/only the object ids of 1 member of Entra group "Proxmox Admins"/);
  });
  it("some booleans: fine (the rest are 'cannot tell' per user)", () => {
    expect(() => refuseUnreadable(d, tenant([member("jane@contoso.com")], [member("jane@contoso.com"), member("x@contoso.com", { accountEnabled: null })]))).not.toThrow();
  });
});

describe("members: sync with app roles (groupsClaim: roles)", () => {
  const problems = (text: string) => {
    try {
      validateText(text);
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
      throw e;
    }
  };

  it("is accepted with a username claim Graph knows, and syncs the group the roles claim names: <key>-<realm>", () => {
    const text = config("usernameClaim: upn, groupsClaim: roles");
    expect(problems(text)).toEqual([]);
    const p = plan(text, cluster(), tenant([member("carol@contoso.com")]));
    expect(byAddr(p.changes, "carol@contoso.com@azure")).toMatchObject({ action: "create", fields: expect.arrayContaining([{ path: "groups", after: ["admins-azure"] }]) });
  });

  it("is still refused, located at the group's members, where Graph cannot know the user ids (sub)", () => {
    for (const realm of ["groupsClaim: roles", "usernameClaim: sub, groupsClaim: roles"]) {
      expect(problems(config(realm)), realm).toEqual([expect.stringMatching(/^groups\.admins\.members: `members: sync` creates each member's Proxmox user before their first sign-in, but realm `azure` uses the `sub` claim/)]);
    }
  });
});
