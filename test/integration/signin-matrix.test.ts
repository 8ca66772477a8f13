/**
 * Issue 11's test matrix, end to end: homelab (the built CLI) converges a homelab.yaml with tenant realms against the
 * Entra ID simulator and the Proxmox VE simulator, then people sign in through the real chain (auth-url on the node,
 * the sign-in at Entra, login on the node, permissions with the ticket: test/helpers/signin.ts) and what they get is
 * checked against what the file says. One lab per describe; independent sign-ins run in parallel.
 *
 * The Entra simulator serves plain HTTP on 127.0.0.1, so the Proxmox simulator's node needs no extra trusted CA
 * (`openidTrustedCAs`) to reach it, as in `homelab demo`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_ROLES } from "../../src/core/pve.js";
import { DEFAULT_ACCESS_ROLE_ID } from "../../src/sim/entra/ids.js";
import { DISABLED_UPN, GUEST_UPN, MANY_GROUPS_UPN, SIGN_IN_USERS, type EntraFixture, type EntraSim } from "../../src/sim/entra/index.js";
import { RawClient, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { homelab, type RunResult } from "../helpers/cli.js";
import { homelabApps, lab, realmOn, type Lab } from "../helpers/lab.js";
import { authorize, login, loginFailures, privsOn, signInThrough, signedIn, type Authorized, type SignInResult } from "../helpers/signin.js";

const JANE = "jane@contoso.com";
/** Jane's mail differs from her UPN, so the upn and email rows cannot pass by reading each other's claim. */
const JANE_MAIL = "jane.doe@contoso.com";
const BOB = "bob@contoso.com";
const CAROL = "carol@contoso.com";
const DAVE = "dave@contoso.com";
/** The guest's sign-in address (`mail`); her UPN in the tenant is GUEST_UPN (`jane_example.com#EXT#@…`). */
const GUEST_MAIL = "jane@example.com";

const DIRECTORY: EntraFixture = {
  users: [
    { displayName: "Jane Doe", userPrincipalName: JANE, mail: JANE_MAIL, givenName: "Jane", surname: "Doe" },
    { displayName: "Bob Builder", userPrincipalName: BOB, mail: BOB, givenName: "Bob", surname: "Builder" },
    { displayName: "Carol Locked", userPrincipalName: CAROL, mail: CAROL },
    { displayName: "Dave Expired", userPrincipalName: DAVE, mail: DAVE },
    ...SIGN_IN_USERS,
  ],
  groups: [
    { displayName: "Proxmox Admins", members: [JANE, BOB, CAROL, DAVE, GUEST_UPN, MANY_GROUPS_UPN] },
    { displayName: "VM Operators", members: [BOB] },
  ],
};

const privs = (role: string): string[] => [...BUILTIN_ROLES[role]!].sort();

/** `homelab -f <file> <args>` with the lab's secrets in the environment. */
const run = (l: Lab, args: string[]): Promise<RunResult> => homelab(["-f", l.file, ...args], { env: l.env });

/** An app-only Graph token of the automation app (client credentials), for changes made "in the portal". */
async function graphToken(entra: EntraSim): Promise<string> {
  const r = await fetch(`${entra.loginUrl}/${entra.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: entra.automation.clientId, client_secret: entra.automation.clientSecret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { access_token: string }).access_token;
}

/** Assign an Entra group to a realm's app (default access), as an admin would in the portal, outside the file. */
async function assignOutsideFile(entra: EntraSim, pve: ProxmoxSim, realm: string, group: string): Promise<void> {
  const appId = String(realmOn(pve, realm)!["client-id"]);
  const sp = (entra.state().servicePrincipals as { id: string; appId: string }[]).find((s) => s.appId === appId)!;
  const r = await fetch(`${entra.graphUrl}/v1.0/servicePrincipals/${sp.id}/appRoleAssignedTo`, {
    method: "POST",
    headers: { authorization: `Bearer ${await graphToken(entra)}`, "content-type": "application/json" },
    body: JSON.stringify({ principalId: groupId(entra, group), resourceId: sp.id, appRoleId: DEFAULT_ACCESS_ROLE_ID }),
  });
  expect(r.status, await r.clone().text()).toBe(201);
}

const groupId = (entra: EntraSim, displayName: string): string => (entra.state().groups as { id: string; displayName: string }[]).find((g) => g.displayName === displayName)!.id;

/**
 * The labs are independent and spend most of their time waiting (for the CLI, for Entra to accept a new secret): their
 * setups all start before the first describe runs, and each describe waits for its own.
 */
const setups = new Map<string, () => Promise<void>>();
const running = new Map<string, Promise<void>>();
function setup(name: string, fn: () => Promise<void>): void {
  setups.set(name, fn);
  beforeAll(() => running.get(name), 90_000);
}
beforeAll(() => {
  for (const [name, fn] of setups) {
    const p = fn();
    p.catch(() => undefined); // reported by the describe that waits for it
    running.set(name, p);
  }
});

// ---------------------------------------------------------------------------------------------------------------

/**
 * Lab 1: one apply, seven tenant realms (one app registration each) that differ in the row under test.
 * - upn, email, username: the username claims whose value is known before the first login;
 * - sub, sub2: usernameClaim unset (Proxmox's default `sub`), two apps to show that it is pairwise;
 * - uname also has autocreate off;
 * - gover: groupsOverwrite; gauto: groupsAutocreate; upn has neither.
 */
const LAB1 = `realms:
  upn: { tenant: contoso, usernameClaim: upn, autocreate: true }
  mail: { tenant: contoso, usernameClaim: email, autocreate: true }
  uname: { tenant: contoso, usernameClaim: username }
  sub: { tenant: contoso, autocreate: true }
  sub2: { tenant: contoso, autocreate: true }
  gover: { tenant: contoso, usernameClaim: upn, autocreate: true, groupsOverwrite: true }
  gauto: { tenant: contoso, usernameClaim: upn, autocreate: true, groupsAutocreate: true }
groups:
  admins: { realm: upn, entraGroup: Proxmox Admins }
  admins-gover: { realm: gover, entraGroup: Proxmox Admins }
  admins-gauto: { realm: gauto, entraGroup: Proxmox Admins }
  ops: { members: [${JANE}@upn, ${JANE}@gover] }
users:
  ${CAROL}@upn: { enable: false }
  ${DAVE}@upn: { expire: 2020-01-01 }
access:
  - { group: admins, role: PVEAdmin, path: / }
  - { group: admins-gover, role: PVEAdmin, path: / }
  - { group: admins-gauto, role: PVEAdmin, path: / }
  - { group: ops, role: PVEAuditor, path: /storage }
  - { user: ${JANE}@upn, role: PVEVMUser, path: / }
  - { user: "${GUEST_UPN}@upn", role: PVEPoolUser, path: / }
  - { user: ${JANE_MAIL}@mail, role: PVEAuditor, path: / }
  - { user: ${GUEST_MAIL}@mail, role: PVEDatastoreUser, path: / }
  - { user: ${JANE}@uname, role: PVEAuditor, path: / }
  - { user: ${GUEST_MAIL}@uname, role: PVEPoolUser, path: / }
`;

describe("sign-in matrix: username claims, autocreate, groups, guests, disabled and expired accounts", () => {
  let l: Lab;
  let pve: ProxmoxSim;
  let validateSub: RunResult;
  let validateMain: RunResult;
  /** Every sign-in of this lab, started together once the file is applied. */
  let results: Record<string, SignInResult>;
  /** `homelab plan` after the sign-ins: what the logins changed behind homelab's back. */
  let planAfter: RunResult;
  let adminsUpn: string;

  setup("lab1", async () => {
    l = await lab(["pve1"], { fixture: DIRECTORY });
    pve = l.pve.get("pve1")!;
    // validate refuses a user named before the first login in a realm that names people by the pairwise `sub`.
    l.write(LAB1.replace("access:\n", `access:\n  - { user: ${JANE}@sub, role: PVEAuditor, path: / }\n`));
    validateSub = await run(l, ["validate"]);
    l.write(LAB1);
    validateMain = await run(l, ["validate"]);
    const applied = await run(l, ["apply"]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    adminsUpn = `${groupId(l.entra, "Proxmox Admins")}-upn`;

    // "In the portal": VM Operators assigned to the upn and gauto apps, outside the file.
    await assignOutsideFile(l.entra, pve, "upn", "VM Operators");
    await assignOutsideFile(l.entra, pve, "gauto", "VM Operators");
    // The tutorial's way for a pairwise realm: an admin creates the person's account by hand before they sign in.
    const admin = new RawClient(pve.url, pve.certPem).withAuth({ token: pve.adminToken });
    expect((await admin.post("/access/users", { userid: `${JANE}@sub`, email: JANE_MAIL })).status).toBe(200);
    admin.close();

    const plan: [string, string, string][] = [
      ["jane@upn", "upn", JANE],
      ["bob@upn", "upn", BOB],
      ["guest@upn", "upn", GUEST_MAIL],
      ["many@upn", "upn", MANY_GROUPS_UPN],
      ["carol@upn", "upn", CAROL],
      ["dave@upn", "upn", DAVE],
      ["disabled@upn", "upn", DISABLED_UPN],
      ["jane@mail", "mail", JANE],
      ["guest@mail", "mail", GUEST_MAIL],
      ["jane@uname", "uname", JANE],
      ["guest@uname", "uname", GUEST_MAIL],
      ["bob@uname", "uname", BOB],
      ["jane@sub", "sub", JANE],
      ["jane@sub2", "sub2", JANE],
      ["jane@gover", "gover", JANE],
      ["bob@gauto", "gauto", BOB],
    ];
    const done = await Promise.all(plan.map(([, realm, who]) => signInThrough(pve, realm, who)));
    results = Object.fromEntries(plan.map(([key], i) => [key, done[i]!]));
    // A second sign-in through sub: the pairwise value is stable for one user and app.
    results["jane@sub again"] = await signInThrough(pve, "sub", JANE);
    planAfter = await run(l, ["plan", "--detailed-exitcode"]);
  });

  afterAll(async () => {
    await l?.close();
  });

  it("usernameClaim upn: jane signs in as <upn>@realm, the user homelab created, with her own role on / and her groups", () => {
    const r = signedIn(results["jane@upn"]!);
    expect(r.userid).toBe(`${JANE}@upn`);
    // Her own ACL entry on / replaces her group's there; on /storage, ops's entry replaces what / passes down, her
    // own role included (PVE::AccessControl::roles: the deepest path with entries for her wins, users before groups).
    expect(privsOn(r, "/")).toEqual(privs("PVEVMUser"));
    expect(privsOn(r, "/storage")).toEqual(privs("PVEAuditor"));
    expect(r.groups).toEqual([adminsUpn, "ops"].sort());
  });

  it("usernameClaim email: jane signs in as <mail>@realm (not her UPN)", () => {
    const r = signedIn(results["jane@mail"]!);
    expect(r.userid).toBe(`${JANE_MAIL}@mail`);
    expect(privsOn(r, "/")).toEqual(privs("PVEAuditor"));
  });

  it("usernameClaim username: Entra issues no `username`, Proxmox falls back to preferred_username (the UPN)", () => {
    const r = signedIn(results["jane@uname"]!);
    expect(r.userid).toBe(`${JANE}@uname`);
    expect(privsOn(r, "/")).toEqual(privs("PVEAuditor"));
    expect(pve.syslog.map((e) => e.message)).toContainEqual(expect.stringMatching(/^simulator: openid claims for realm 'uname': (?!.*\busername\b).*\bpreferred_username\b/));
  });

  it("usernameClaim unset (pairwise sub): validate refuses a named user; a user created before the first login is not the one who signs in", () => {
    expect(validateMain.code, validateMain.stderr).toBe(0);
    expect(validateSub.code).not.toBe(0);
    expect(validateSub.stderr).toContain(`realm \`sub\` uses the \`sub\` claim (the default), but \`${JANE}@sub\``);
    expect(validateSub.stderr).toContain("is named before its first login");
    const first = signedIn(results["jane@sub"]!);
    const again = signedIn(results["jane@sub again"]!);
    const other = signedIn(results["jane@sub2"]!);
    // <sub>@realm: 43 base64url characters, not her UPN, mail or object id.
    expect(first.userid).toMatch(/^[A-Za-z0-9_-]{43}@sub$/);
    expect(again.userid).toBe(first.userid);
    // Pairwise: another app (realm sub2) sees another sub for the same person.
    expect(other.userid).toMatch(/^[A-Za-z0-9_-]{43}@sub2$/);
    expect(other.userid.replace(/@sub2$/, "")).not.toBe(first.userid.replace(/@sub$/, ""));
    const oid = (l.entra.state().users as { id: string; userPrincipalName: string }[]).find((u) => u.userPrincipalName === JANE)!.id;
    expect([first.userid, other.userid].map((u) => u.replace(/@.*$/, ""))).not.toContain(oid);
    // The account made in advance is still there, and nobody signs in as it.
    expect(pve.state().users!.map((u) => u.userid)).toEqual(expect.arrayContaining([`${JANE}@sub`, first.userid]));
    expect(first.userid).not.toBe(`${JANE}@sub`);
  });

  it("autocreate on: a member of the mapped group who is not named in the file is created at the first sign-in, with the group's rights", () => {
    const r = signedIn(results["bob@upn"]!);
    expect(r.userid).toBe(`${BOB}@upn`);
    expect(privsOn(r, "/")).toEqual(privs("PVEAdmin"));
    // Created enabled, with email and names from the claims (given_name/family_name from userinfo).
    expect(r.user).toMatchObject({ enable: 1, email: BOB, firstname: "Bob", lastname: "Builder" });
  });

  it("autocreate off: a person homelab did not create is refused (401), with the reason in the node's syslog", () => {
    const refused = results["bob@uname"]!;
    expect(refused).toMatchObject({ ok: false, step: "login", status: 401, message: "authentication failure" });
    expect(loginFailures(pve)).toContain(`no such user ('${BOB}@uname')`);
    expect(pve.state().users!.map((u) => u.userid)).not.toContain(`${BOB}@uname`);
  });

  it("groups claim without groups-autocreate: only Proxmox groups that exist are joined (a group assigned outside the file is not)", () => {
    const r = signedIn(results["bob@upn"]!);
    // bob is in Proxmox Admins (mapped, created by homelab) and VM Operators (assigned to the app in the portal).
    expect(r.groups).toEqual([adminsUpn]);
    expect(pve.state().groups!.map((g) => g.groupid)).not.toContain(`${groupId(l.entra, "VM Operators")}-upn`);
  });

  it("groups claim with groups-autocreate: the group assigned outside the file is created and joined", () => {
    const r = signedIn(results["bob@gauto"]!);
    const vmOps = `${groupId(l.entra, "VM Operators")}-gauto`;
    expect(r.groups).toEqual([`${groupId(l.entra, "Proxmox Admins")}-gauto`, vmOps].sort());
    expect(pve.syslog.map((e) => e.message)).toContain(`groups created automatically from openid claim: ${vmOps}`);
  });

  it("groups claim with groups-overwrite: the login removes the homelab-managed membership in a plain group; validate warns, the next plan adds it back", () => {
    expect(validateMain.stderr).toMatch(/^warning .*realms\.gover\.groupsOverwrite: realm `gover` has `groupsOverwrite: true`, so each login removes `jane@contoso\.com@gover` from `ops`/m);
    // Only gover has overwrite: jane@upn's ops membership is not mentioned.
    expect(validateMain.stderr).not.toContain("`jane@contoso.com@upn` from `ops`");
    const r = signedIn(results["jane@gover"]!);
    expect(r.groups).toEqual([`${groupId(l.entra, "Proxmox Admins")}-gover`]);
    expect(privsOn(r, "/storage")).toEqual(privs("PVEAdmin"));
    expect(pve.syslog.map((e) => e.message)).toContain(`openid overwrite groups enabled; user '${JANE}@gover' removed from all groups`);
    // Without overwrite (realm upn) the membership stays: checked in the upn row. homelab sees the drift.
    expect(planAfter.code, planAfter.stderr).toBe(2);
    expect(planAfter.stdout).toContain(`~ proxmox.user/pve1:${JANE}@gover\n      groups: ["${groupId(l.entra, "Proxmox Admins")}-gover"] → ["${groupId(l.entra, "Proxmox Admins")}-gover", "ops"]`);
    expect(planAfter.stdout).toMatch(/^Plan: 0 to create, 1 to update, 0 to replace, 0 to delete;/m);
  });

  // What Entra puts in a guest's ID token (spec entra 5.2): `email` always (her home address), `preferred_username` her
  // home address, `upn` the `#EXT#` UPN of the resource tenant. The last is what the simulator does today; field reports
  // [S] say real Entra leaves `upn` out for guests unless the optional claim has `include_externally_authenticated_upn`
  // (which homelab does not set): then Proxmox would refuse her in realm upn (missing configured claim 'upn').
  it("a guest (#EXT# UPN) gets the user id the file names: the #EXT# UPN with upn, her own address with email and username", () => {
    const upn = signedIn(results["guest@upn"]!);
    expect(upn.userid).toBe(`${GUEST_UPN}@upn`);
    expect(privsOn(upn, "/")).toEqual(privs("PVEPoolUser"));
    const mail = signedIn(results["guest@mail"]!);
    expect(mail.userid).toBe(`${GUEST_MAIL}@mail`);
    expect(privsOn(mail, "/")).toEqual(privs("PVEDatastoreUser"));
    const uname = signedIn(results["guest@uname"]!);
    expect(uname.userid).toBe(`${GUEST_MAIL}@uname`);
    expect(privsOn(uname, "/")).toEqual(privs("PVEPoolUser"));
  });

  it("a disabled Entra account is refused at Entra (AADSTS50057) and never reaches Proxmox's login", () => {
    expect(results["disabled@upn"]).toMatchObject({ ok: false, step: "entra", aadsts: 50057 });
    expect(pve.syslog.some((e) => e.message.includes("disabled.user"))).toBe(false);
    // Every other sign-in through upn used its auth state at the login; the disabled user's is still pending.
    expect(pve.openIdPending("upn")).toBe(1);
    expect(pve.state().users!.map((u) => u.userid)).not.toContain(`${DISABLED_UPN}@upn`);
  });

  it("a Proxmox account disabled (enable: false) or expired (expire) in the file is refused (401); syslog says why", () => {
    for (const who of ["carol@upn", "dave@upn"]) expect(results[who]).toMatchObject({ ok: false, step: "login", status: 401, message: "authentication failure" });
    expect(loginFailures(pve)).toEqual(expect.arrayContaining([`user '${CAROL}@upn' is disabled`, `user '${DAVE}@upn' access expired`]));
  });

  it("more than 200 groups, but homelab's ApplicationGroup claim lists only the app's groups: no overage, the mapped group is joined", () => {
    const r = signedIn(results["many@upn"]!);
    expect(r.userid).toBe(`${MANY_GROUPS_UPN}@upn`);
    expect(r.groups).toEqual([adminsUpn]);
    expect(privsOn(r, "/")).toEqual(privs("PVEAdmin"));
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** The generated groups MANY_GROUPS_UPN is a direct member of (src/sim/entra/state.ts seeds `Generated group NNN`). */
const GENERATED = Array.from({ length: 201 }, (_, i) => `Generated group ${String(i + 1).padStart(3, "0")}`);

/**
 * Lab 2: the overage form. With homelab's `ApplicationGroup` claim only the groups assigned to the app count, so a
 * person is in overage only when more than 200 of the app's groups hold them directly: the file maps 201.
 * groupsOverwrite is on, and the person is also in a plain homelab group.
 */
const LAB2 = `realms:
  over: { tenant: contoso, usernameClaim: upn, autocreate: true, groupsOverwrite: true }
groups:
${GENERATED.map((g, i) => `  g${i + 1}: { realm: over, entraGroup: ${g} }`).join("\n")}
  keep: { members: [${MANY_GROUPS_UPN}@over] }
access:
  - { group: keep, role: PVEAuditor, path: / }
  - { group: g1, role: PVEAdmin, path: / }
`;

describe("sign-in matrix: a groups claim in overage (more than 200 of the app's groups)", () => {
  let l: Lab;
  let pve: ProxmoxSim;
  let many: SignInResult;
  let bob: SignInResult;

  setup("lab2", async () => {
    l = await lab(["pve1"], { fixture: DIRECTORY });
    pve = l.pve.get("pve1")!;
    l.entra.directory.addMember(GENERATED[0]!, BOB);
    l.write(LAB2);
    const applied = await run(l, ["apply"]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    [many, bob] = await Promise.all([signInThrough(pve, "over", MANY_GROUPS_UPN), signInThrough(pve, "over", BOB)]);
  });

  afterAll(async () => {
    await l?.close();
  });

  it("the ID token carries _claim_names/_claim_sources instead of groups; Proxmox does not follow the pointer and maps no groups", () => {
    const r = signedIn(many);
    expect(r.userid).toBe(`${MANY_GROUPS_UPN}@over`);
    const claims = pve.syslog.map((e) => e.message).find((m) => m.startsWith("simulator: openid claims for realm 'over'") && m.includes("_claim_names"));
    expect(claims, "the overage form reached the node").toBeDefined();
    expect(claims).not.toMatch(/\bgroups\b/);
    // OpenId.pm: a missing groups claim is logged and the whole mapping skipped (spec 4.6), overwrite included.
    expect(pve.syslog.map((e) => e.message)).toContain("openid groups claim 'groups' is not found in claims");
    // No generated group joined; the plain group homelab manages survives groups-overwrite (nothing was overwritten).
    expect(r.groups).toEqual(["keep"]);
    expect(privsOn(r, "/")).toEqual(privs("PVEAuditor"));
  });

  it("a person in one of those groups (no overage) gets it mapped in the same realm", () => {
    const r = signedIn(bob);
    expect(r.groups).toEqual([`${groupId(l.entra, "Generated group 001")}-over`]);
    expect(privsOn(r, "/")).toEqual(privs("PVEAdmin"));
  });
});

// ---------------------------------------------------------------------------------------------------------------

const LAB3 = `realms:
  rot: { tenant: contoso, usernameClaim: upn, autocreate: true }
access:
  - { user: ${JANE}@rot, role: PVEVMUser, path: / }
`;

/**
 * Lab 3: `homelab apply --rotate-secrets` while people are between auth-url and login. homelab's renewal order (spec 6):
 * add the new secret, wait until Entra accepts it (here Entra refuses a new secret for its first two token requests:
 * `secretActivationDelay`), switch the realm's client-key, then remove the old secret. Proxmox reads the realm's
 * client-key when the login exchanges the code (OpenId.pm: the realm config is looked up in the login call, not kept
 * with the auth state), so a login started before the rotation and finished during or after it presents whichever
 * key the realm holds at that moment, and Entra accepts both until the old one is removed, after the switch.
 */
describe("sign-in matrix: a secret rotated in the middle of sign-ins", () => {
  let l: Lab;
  let pve: ProxmoxSim;
  let rotated: RunResult;
  let oldKey: string;
  let oldKeyId: string;
  /**
   * Each login with the stage of the rotation it was sent in: `before` nothing changed yet, `added` the new secret
   * exists but the realm still holds the old key, `switched` the realm holds the new key and the old secret still
   * exists, `done` the old secret is gone.
   */
  const logins: { result: SignInResult; stage: Stage }[] = [];
  type Stage = "before" | "added" | "switched" | "done";

  setup("lab3", async () => {
    l = await lab(["pve1"], { fixture: DIRECTORY });
    pve = l.pve.get("pve1")!;
    l.write(LAB3);
    const applied = await run(l, ["apply"]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    oldKey = String(realmOn(pve, "rot")!["client-key"]);
    oldKeyId = homelabApps(l.entra)[0]!.passwordCredentials![0]!.keyId;

    // Sign-ins that have been to auth-url and to Entra (they hold a code) before the rotation starts.
    const pending: Authorized[] = [];
    for (const a of await Promise.all(Array.from({ length: 8 }, () => authorize(pve, "rot", JANE)))) {
      if (!a.ok) expect.fail(`authorize: ${a.step} ${a.message}`);
      pending.push(a.auth);
    }
    const stage = (): Stage => {
      const creds = homelabApps(l.entra)[0]!.passwordCredentials!.map((c) => c.keyId);
      const switched = String(realmOn(pve, "rot")!["client-key"]) !== oldKey;
      if (!creds.includes(oldKeyId)) return "done";
      if (switched) return "switched";
      return creds.length > 1 ? "added" : "before";
    };
    const one = async (auth: Authorized) => {
      const at = stage();
      logins.push({ result: await login(pve, auth), stage: at });
    };
    l.entra.setKnobs({ secretActivationDelay: 2 });
    let finished = false;
    const rotation = run(l, ["apply", "--rotate-secrets"]).then((r) => {
      finished = true;
      return r;
    });
    // Two logins in each stage of the rotation that lasts long enough to be seen, the rest once it is over.
    const served = new Map<Stage, number>();
    while (!finished) {
      const at = stage();
      if (at !== "before" && at !== "done" && (served.get(at) ?? 0) < 2 && pending.length > 2) {
        served.set(at, (served.get(at) ?? 0) + 1);
        await one(pending.shift()!);
      } else await new Promise((r) => setTimeout(r, 20));
    }
    rotated = await rotation;
    for (const auth of pending) await one(auth);
  });

  afterAll(async () => {
    await l?.close();
  });

  it("homelab rotated: the realm holds a new key Entra accepts, the old secret is gone", () => {
    expect(rotated.code, rotated.stdout + rotated.stderr).toBe(0);
    const newKey = String(realmOn(pve, "rot")!["client-key"]);
    expect(newKey).not.toBe(oldKey);
    const clientId = String(realmOn(pve, "rot")!["client-id"]);
    expect(l.entra.checkClientSecret(clientId, newKey)).toBe(true);
    expect(l.entra.checkClientSecret(clientId, oldKey)).toBe(false);
    const creds = homelabApps(l.entra)[0]!.passwordCredentials!;
    expect(creds).toHaveLength(1);
    expect(creds[0]!.keyId).not.toBe(oldKeyId);
  });

  it("every login started before the rotation works, while the realm holds the old key and after it holds the new one: no retry needed", () => {
    const failed = logins.filter((x) => !x.result.ok);
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(loginFailures(pve)).toEqual([]);
    for (const x of logins) expect(signedIn(x.result).userid).toBe(`${JANE}@rot`);
    // While homelab waited for Entra to accept the new secret (about two seconds here), the realm kept the old key and
    // logins went on with it; the last ones ran after the old secret was removed, with the new key.
    expect(logins.filter((x) => x.stage === "added").length).toBeGreaterThan(0);
    expect(logins.filter((x) => x.stage === "done").length).toBeGreaterThanOrEqual(2);
    expect(logins.length).toBe(8);
  });
});
