import { describe, it, expect, beforeAll, afterAll, beforeEach } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { AuthError, RemoteError, SecretError, UserError } from "../../src/core/errors.js";
import { Secret } from "../../src/core/secret.js";
import { redact } from "../../src/log/redact.js";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { generateSelfSignedCert } from "../../src/sim/tls.js";
import {
  createProxmoxClient,
  encodeForm,
  FREE_SOCKET_TIMEOUT_MS,
  isAlreadyExists,
  isNotFound,
  normalizeAclEntry,
  normalizeGroup,
  normalizeRealm,
  normalizeRole,
  normalizeUser,
  proxmoxErrorInfo,
  type ProxmoxClient,
  type ProxmoxClientOptions,
  type RetryEvent,
} from "../../src/providers/proxmox/client.js";

/** A known token secret, seeded into the simulator, that must never appear in any error or log. */
const KNOWN_SECRET = "0badc0de-5eed-4e11-8a5e-7e57cafe0001";
const KNOWN_TOKEN_ID = "root@pam!seeded";
const ENV_NAME = "HOMELAB_TEST_PVE_SEEDED_SECRET";

let sim: ProxmoxSim;
const clients: ProxmoxClient[] = [];

beforeAll(async () => {
  sim = await startProxmoxSim({
    unauthorizedDelayMs: 0,
    fixture: {
      tokens: [{ userid: "root@pam", tokenid: "seeded", privsep: 0, secret: KNOWN_SECRET }],
      users: [
        { userid: "fixture@pve", enable: 0, firstname: "Fix", groups: ["zeta", "alpha"] },
        { userid: "plain@pve" },
      ],
      groups: [{ groupid: "zeta" }, { groupid: "alpha", comment: "" }, { groupid: "empty", comment: "nobody" }],
      acl: [{ path: "/vms", type: "user", ugid: "plain@pve", roleid: "PVEAuditor" }],
    },
  });
  process.env[ENV_NAME] = KNOWN_SECRET;
});

afterAll(async () => {
  for (const c of clients) c.close();
  delete process.env[ENV_NAME];
  await sim.close();
});

beforeEach(() => sim.setFaults(undefined));

function client(over: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  const c = createProxmoxClient({
    name: "pve1",
    url: sim.url,
    token: { id: KNOWN_TOKEN_ID, secret: new Secret(`\${env:${ENV_NAME}}`, "clusters.pve1.token.secret", "/") },
    tls: { fingerprint: sim.fingerprint },
    retryBaseDelayMs: 5,
    ...over,
  });
  clients.push(c);
  return c;
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

function assertNoSecret(err: unknown): void {
  const e = err as Error;
  for (const text of [String(e), e.stack ?? "", JSON.stringify(e), inspect(e, { depth: 10, showHidden: true })]) {
    expect(text).not.toContain(KNOWN_SECRET);
  }
}

describe("TLS", () => {
  it("pins the simulator's self-signed certificate by fingerprint (any case, with or without colons)", async () => {
    const a = client();
    expect((await a.listRealms()).map((r) => r.realm)).toEqual(["pam", "pve"]);
    const b = client({ tls: { fingerprint: sim.fingerprint.replace(/:/g, "").toLowerCase() } });
    expect((await b.listRealms()).map((r) => r.realm)).toEqual(["pam", "pve"]);
    expect(a.warnings).toEqual([]);
  });

  it("a wrong pin is an AuthError naming cluster and both fingerprints, and no request reaches the server", async () => {
    const wrong = "AA:".repeat(31) + "AA";
    const c = client({ tls: { fingerprint: wrong } });
    sim.clearLog();
    const err = await caught(c.listUsers());
    expect(err).toBeInstanceOf(AuthError);
    const e = err as AuthError;
    expect(e.exitCode).toBe(4);
    expect(e.code).toBe("E_TLS_PIN");
    expect(e.message).toContain("pve1");
    expect(e.message).toContain(wrong);
    expect(e.message).toContain(sim.fingerprint);
    expect(e.hint).toMatch(/fingerprint/);
    expect(sim.requestLog).toEqual([]);
    // not retried either: one attempt in the client's log, no HTTP status
    expect(c.requestLog).toEqual([{ method: "GET", path: "/access/users?full=1", status: 0, ms: expect.any(Number), attempt: 1 }]);
    assertNoSecret(err);
  });

  it("trusts a CA file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "homelab-ca-"));
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, sim.certPem);
    const c = client({ tls: { ca } });
    expect((await c.listRoles()).length).toBeGreaterThanOrEqual(17);
  });

  it("an unreadable CA file is a UserError naming the field", async () => {
    const c = client({ tls: { ca: "/nonexistent/ca.pem" } });
    const err = await caught(c.listRoles());
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("clusters.pve1.tls.ca");
    expect(err.message).toContain("ENOENT");
  });

  it("verifies against the system CAs by default: a self-signed certificate fails with a hint", async () => {
    const c = client({ tls: {} });
    sim.clearLog();
    const err = await caught(c.listRealms());
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).not.toBeInstanceOf(AuthError);
    const e = err as RemoteError;
    expect(e.code).toBe("E_TLS");
    expect(e.service).toBe("proxmox");
    expect(e.message).toMatch(/certificate verification failed/);
    expect(e.message).toMatch(/self[- ]signed/);
    expect(e.hint).toContain("clusters.pve1.tls.fingerprint");
    expect(sim.requestLog).toEqual([]);
    expect(c.requestLog).toHaveLength(1); // TLS failures are not retried
    assertNoSecret(err);
  });

  it("insecure works and produces a warning (array and callback)", async () => {
    const seen: string[] = [];
    const c = client({ tls: { insecure: true }, onWarning: (w) => seen.push(w) });
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toMatch(/pve1.*verification is disabled/);
    expect(seen).toEqual(c.warnings);
    expect((await c.listGroups()).map((g) => g.groupid)).toContain("alpha");
  });
});

describe("secrets", () => {
  it("reveals the token secret lazily: a missing variable is a SecretError at the first call, not at construction", async () => {
    const c = client({ token: { id: KNOWN_TOKEN_ID, secret: new Secret("${env:HOMELAB_TEST_UNSET_VAR}", "clusters.pve1.token.secret", "/") } });
    const err = await caught(c.listRealms());
    expect(err).toBeInstanceOf(SecretError);
    expect(err.message).toContain("HOMELAB_TEST_UNSET_VAR");
  });

  it("a wrong token is an AuthError (401) that never shows either secret", async () => {
    const wrongSecret = "11111111-2222-4333-8444-555555555555";
    const c = client({ token: { id: KNOWN_TOKEN_ID, secret: Secret.fromValue(wrongSecret, "clusters.pve1.token.secret") } });
    const err = await caught(c.listUsers());
    expect(err).toBeInstanceOf(AuthError);
    const e = err as AuthError;
    expect(e.status).toBe(401);
    expect(e.exitCode).toBe(4);
    expect(e.message).toBe("proxmox cluster 'pve1': GET /access/users?full=1 failed: 401 Authentication failed!");
    expect(e.hint).toContain("clusters.pve1.token");
    for (const t of [String(e), e.stack ?? "", JSON.stringify(e), inspect(e, { depth: 10, showHidden: true })]) expect(t).not.toContain(wrongSecret);
    assertNoSecret(err);
  });

  it("the seeded secret is absent from errors of every kind and from the request log", async () => {
    const c = client();
    const errors = [
      await caught(c.getRealm("nosuch")), // 500
      await caught(c.createRole({ roleid: "PVEnope", privs: [] })), // 400
      await caught(client({ tls: {} }).listAcl()), // TLS
      await caught(client({ tls: { fingerprint: "00" } }).listAcl()), // pin
    ];
    for (const e of errors) assertNoSecret(e);
    expect(JSON.stringify(c.requestLog)).not.toContain(KNOWN_SECRET);
    expect(JSON.stringify(sim.requestLog)).not.toContain(KNOWN_SECRET);
  });
});

describe("typed methods round-trip", () => {
  it("realms: create, list, get (normalised), update with delete + digest, refuse username-claim, delete", async () => {
    const c = client();
    await c.createRealm({
      realm: "entra",
      type: "openid",
      "issuer-url": "https://login.example/tenant/v2.0",
      "client-id": "c1d2",
      "client-key": "realm-client-key-value",
      "username-claim": "upn",
      autocreate: true,
      "groups-claim": "groups",
      "query-userinfo": false,
      comment: undefined,
      prompt: null,
      default: true,
    });
    const list = await c.listRealms();
    expect(list).toEqual([
      { realm: "entra", type: "openid", default: true },
      { realm: "pam", type: "pam", comment: "Linux PAM standard authentication", default: false },
      { realm: "pve", type: "pve", comment: "Proxmox VE authentication server", default: false },
    ]);
    const got1 = await c.getRealm("entra");
    expect(got1).toEqual({
      realm: "entra",
      type: "openid",
      digest: expect.stringMatching(/^[0-9a-f]{40}$/),
      options: {
        "issuer-url": "https://login.example/tenant/v2.0",
        "client-id": "c1d2",
        "client-key": "realm-client-key-value",
        "username-claim": "upn",
        autocreate: true,
        "groups-claim": "groups",
        "query-userinfo": false,
        default: true,
      },
    });
    expect(redact("key realm-client-key-value!")).toBe("key (sensitive)!"); // a client-key read is registered as a secret

    await c.updateRealm("entra", { comment: "Entra; a=b & c", autocreate: false }, { delete: ["groups-claim"], digest: got1.digest });
    const got2 = await c.getRealm("entra");
    expect(got2.options.comment).toBe("Entra; a=b & c");
    expect(got2.options.autocreate).toBe(false);
    expect(got2.options["groups-claim"]).toBeUndefined();
    expect(got2.digest).not.toBe(got1.digest);

    // a stale digest is refused by the server
    const stale = await caught(c.updateRealm("entra", { comment: "x" }, { digest: got1.digest }));
    expect(stale).toBeInstanceOf(RemoteError);
    expect((stale as RemoteError).status).toBe(500);
    expect(stale.message).toContain("detected modified configuration");

    // username-claim is never sent
    sim.clearLog();
    await expect(c.updateRealm("entra", { "username-claim": "email" })).rejects.toThrow(/internal error.*username-claim/);
    await expect(c.updateRealm("entra", {}, { delete: ["username-claim"] })).rejects.toThrow(/internal error/);
    expect(sim.requestLog).toEqual([]);

    await c.deleteRealm("entra");
    expect((await c.listRealms()).map((r) => r.realm)).toEqual(["pam", "pve"]);
  });

  it("users and groups: create, list (sorted, normalised), update (clear with \"\"), delete", async () => {
    const c = client();
    await c.createGroup({ groupid: "ops", comment: "Operators" });
    await c.createGroup({ groupid: "devs" });
    await c.createUser({
      userid: "jane@pve",
      enable: false,
      expire: 1893456000,
      firstname: "Jane",
      email: "jane@example.com",
      comment: "first",
      groups: ["ops", "devs"],
    });
    await c.createUser({ userid: "bob@pve", groups: ["ops"] });

    const users = await c.listUsers();
    expect(users.map((u) => u.userid)).toEqual([...users.map((u) => u.userid)].sort());
    const jane = users.find((u) => u.userid === "jane@pve");
    expect(jane).toEqual({
      userid: "jane@pve",
      enable: false,
      expire: 1893456000,
      firstname: "Jane",
      email: "jane@example.com",
      comment: "first",
      realmType: "pve",
      groups: ["devs", "ops"],
      tokens: [],
    });
    const bob = users.find((u) => u.userid === "bob@pve");
    expect(bob).toEqual({ userid: "bob@pve", enable: true, expire: 0, realmType: "pve", groups: ["ops"], tokens: [] });

    let groups = await c.listGroups();
    expect(groups.find((g) => g.groupid === "ops")).toEqual({ groupid: "ops", comment: "Operators", users: ["bob@pve", "jane@pve"] });
    expect(groups.find((g) => g.groupid === "devs")).toEqual({ groupid: "devs", users: ["jane@pve"] });

    await c.updateUser("jane@pve", { enable: true, comment: "", email: "", expire: 0, groups: ["devs"] });
    const jane2 = (await c.listUsers()).find((u) => u.userid === "jane@pve");
    expect(jane2).toEqual({ userid: "jane@pve", enable: true, expire: 0, firstname: "Jane", realmType: "pve", groups: ["devs"], tokens: [] });
    await c.updateUser("jane@pve", { groups: ["ops"], append: true });
    expect((await c.listUsers()).find((u) => u.userid === "jane@pve")?.groups).toEqual(["devs", "ops"]);

    await c.updateGroup("ops", { comment: "" });
    await c.updateGroup("devs", { comment: "Developers" });
    groups = await c.listGroups();
    expect(groups.find((g) => g.groupid === "ops")).toEqual({ groupid: "ops", users: ["bob@pve", "jane@pve"] });
    expect(groups.find((g) => g.groupid === "devs")?.comment).toBe("Developers");

    await c.deleteUser("jane@pve");
    await c.deleteUser("bob@pve");
    await c.deleteGroup("ops");
    await c.deleteGroup("devs");
    expect((await c.listUsers()).map((u) => u.userid)).not.toContain("jane@pve");
    expect((await c.listGroups()).map((g) => g.groupid)).not.toContain("ops");
  });

  it("roles: create, list (sorted privs, special), update replaces, [] empties, delete", async () => {
    const c = client();
    await c.createRole({ roleid: "Helpdesk", privs: ["VM.PowerMgmt", "VM.Audit", "VM.Console"] });
    let roles = await c.listRoles();
    expect(roles.find((r) => r.roleid === "Helpdesk")).toEqual({ roleid: "Helpdesk", privs: ["VM.Audit", "VM.Console", "VM.PowerMgmt"], special: false });
    expect(roles.find((r) => r.roleid === "NoAccess")).toEqual({ roleid: "NoAccess", privs: [], special: true });
    expect(roles.find((r) => r.roleid === "PVEAuditor")?.special).toBe(true);
    expect(roles.map((r) => r.roleid)).toEqual([...roles.map((r) => r.roleid)].sort());

    await c.updateRole("Helpdesk", ["Sys.Audit"]);
    roles = await c.listRoles();
    expect(roles.find((r) => r.roleid === "Helpdesk")?.privs).toEqual(["Sys.Audit"]); // replaced, not appended
    await c.updateRole("Helpdesk", []);
    expect((await c.listRoles()).find((r) => r.roleid === "Helpdesk")?.privs).toEqual([]);

    await c.createRole({ roleid: "Empty", privs: [] });
    expect((await c.listRoles()).find((r) => r.roleid === "Empty")?.privs).toEqual([]);
    await c.deleteRole("Empty");
    await c.deleteRole("Helpdesk");
    expect((await c.listRoles()).map((r) => r.roleid)).not.toContain("Helpdesk");
  });

  it("ACL: batched add of several users and groups in one call, propagate, batched delete", async () => {
    const c = client();
    await c.createGroup({ groupid: "g1" });
    await c.createGroup({ groupid: "g2" });
    await c.createUser({ userid: "u1@pve" });
    await c.createUser({ userid: "u2@pve" });
    sim.clearLog();
    await c.putAcl({ path: "/vms/100", roles: ["PVEVMUser", "PVEAuditor"], users: ["u2@pve", "u1@pve"], groups: ["g2", "g1"], propagate: false });
    expect(sim.requestLog.filter((r) => r.method === "PUT")).toEqual([{ method: "PUT", path: "/api2/json/access/acl", status: 200 }]);

    let acl = (await c.listAcl()).filter((a) => a.path === "/vms/100");
    expect(acl).toEqual([
      { path: "/vms/100", type: "group", ugid: "g1", roleid: "PVEAuditor", propagate: false },
      { path: "/vms/100", type: "group", ugid: "g1", roleid: "PVEVMUser", propagate: false },
      { path: "/vms/100", type: "group", ugid: "g2", roleid: "PVEAuditor", propagate: false },
      { path: "/vms/100", type: "group", ugid: "g2", roleid: "PVEVMUser", propagate: false },
      { path: "/vms/100", type: "user", ugid: "u1@pve", roleid: "PVEAuditor", propagate: false },
      { path: "/vms/100", type: "user", ugid: "u1@pve", roleid: "PVEVMUser", propagate: false },
      { path: "/vms/100", type: "user", ugid: "u2@pve", roleid: "PVEAuditor", propagate: false },
      { path: "/vms/100", type: "user", ugid: "u2@pve", roleid: "PVEVMUser", propagate: false },
    ]);

    // upsert flips propagate
    await c.putAcl({ path: "/vms/100", roles: ["PVEAuditor"], users: ["u1@pve"], propagate: true });
    acl = (await c.listAcl()).filter((a) => a.path === "/vms/100" && a.ugid === "u1@pve" && a.roleid === "PVEAuditor");
    expect(acl).toEqual([{ path: "/vms/100", type: "user", ugid: "u1@pve", roleid: "PVEAuditor", propagate: true }]);

    sim.clearLog();
    await c.putAcl({ path: "/vms/100", roles: ["PVEVMUser", "PVEAuditor"], users: ["u1@pve", "u2@pve"], groups: ["g1", "g2"], propagate: true, delete: true });
    expect(sim.requestLog.filter((r) => r.method === "PUT")).toHaveLength(1);
    expect((await c.listAcl()).filter((a) => a.path === "/vms/100")).toEqual([]);
    // deleting an absent entry succeeds
    await c.putAcl({ path: "/vms/100", roles: ["PVEAuditor"], users: ["u1@pve"], propagate: true, delete: true });
    await expect(c.putAcl({ path: "/", roles: ["PVEAuditor"], propagate: true })).rejects.toThrow(/internal error/);

    for (const u of ["u1@pve", "u2@pve"]) await c.deleteUser(u);
    for (const g of ["g1", "g2"]) await c.deleteGroup(g);
  });

  it("permissions: the admin token holds every privilege on /", async () => {
    const c = client();
    const perms = await c.permissions("/");
    expect(Object.keys(perms)).toEqual(["/"]);
    expect(perms["/"]!["Sys.Audit"]).toBe(true);
    expect(perms["/"]!["Permissions.Modify"]).toBe(true);
    const all = await c.permissions();
    expect(Object.keys(all)).toContain("/access");
  });
});

describe("normalisation", () => {
  it("reads the fixture state normalised: enable 0 → false, missing expire → 0, sorted groups, members, propagate default", async () => {
    const c = client();
    const users = await c.listUsers();
    expect(users.find((u) => u.userid === "fixture@pve")).toEqual({
      userid: "fixture@pve",
      enable: false,
      expire: 0,
      firstname: "Fix",
      realmType: "pve",
      groups: ["alpha", "zeta"],
      tokens: [],
    });
    const root = users.find((u) => u.userid === "root@pam");
    expect(root?.tokens.find((t) => t.tokenid === "seeded")).toEqual({ tokenid: "seeded", privsep: false, expire: 0 });
    const groups = await c.listGroups();
    expect(groups.find((g) => g.groupid === "alpha")).toEqual({ groupid: "alpha", users: ["fixture@pve"] }); // "" comment → absent
    expect(groups.find((g) => g.groupid === "empty")).toEqual({ groupid: "empty", comment: "nobody", users: [] });
    expect((await c.listAcl()).find((a) => a.path === "/vms" && a.ugid === "plain@pve")).toEqual({
      path: "/vms",
      type: "user",
      ugid: "plain@pve",
      roleid: "PVEAuditor",
      propagate: true,
    });
  });

  it("accepts 0/1, \"0\"/\"1\" and true/false; fills defaults; drops empty strings; sorts lists", () => {
    expect(normalizeUser({ userid: "a@pve", enable: true, groups: "z,a,,m", email: "", tokens: null })).toEqual({
      userid: "a@pve",
      enable: true,
      expire: 0,
      groups: ["a", "m", "z"],
      tokens: [],
    });
    expect(normalizeUser({ userid: "b@pve", enable: "0", expire: "12", tokens: [{ tokenid: "t2", privsep: "1" }, { tokenid: "t1", privsep: false, expire: 5, comment: "" }] })).toEqual({
      userid: "b@pve",
      enable: false,
      expire: 12,
      groups: [],
      tokens: [
        { tokenid: "t1", privsep: false, expire: 5 },
        { tokenid: "t2", privsep: true, expire: 0 },
      ],
    });
    expect(normalizeUser({ userid: "c@pve" }).enable).toBe(true);
    expect(normalizeGroup({ groupid: "g", users: "b@pve,a@pve", comment: "" })).toEqual({ groupid: "g", users: ["a@pve", "b@pve"] });
    expect(normalizeRole({ roleid: "R", privs: "VM.Console,VM.Audit", special: 0 })).toEqual({ roleid: "R", privs: ["VM.Audit", "VM.Console"], special: false });
    expect(normalizeRole({ roleid: "NoAccess", privs: "", special: true })).toEqual({ roleid: "NoAccess", privs: [], special: true });
    expect(normalizeAclEntry({ path: "/", type: "group", ugid: "g", roleid: "R" }).propagate).toBe(true);
    expect(normalizeAclEntry({ path: "/", type: "group", ugid: "g", roleid: "R", propagate: 0 }).propagate).toBe(false);
    expect(normalizeAclEntry({ path: "/", type: "group", ugid: "g", roleid: "R", propagate: false }).propagate).toBe(false);
    expect(normalizeRealm("r", { type: "openid", digest: "d", autocreate: 1, "query-userinfo": "0", comment: "", "client-id": "x" })).toEqual({
      realm: "r",
      type: "openid",
      digest: "d",
      options: { autocreate: true, "query-userinfo": false, "client-id": "x" },
    });
  });
});

describe("error mapping", () => {
  it("a missing object (500) is a RemoteError carrying the server message, trimmed; isNotFound recognises it", async () => {
    const c = client();
    const err = await caught(c.getRealm("nosuch"));
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).not.toBeInstanceOf(AuthError);
    const e = err as RemoteError;
    expect(e.status).toBe(500);
    expect(e.service).toBe("proxmox");
    expect(e.method).toBe("GET");
    expect(e.url).toBe(`${sim.url}/api2/json/access/domains/nosuch`);
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe("proxmox cluster 'pve1': GET /access/domains/nosuch failed: 500 domain 'nosuch' does not exist");
    expect(proxmoxErrorInfo(e)).toEqual({ cluster: "pve1", serverMessage: "domain 'nosuch' does not exist" });
    expect(isNotFound(e)).toBe(true);
    expect(isAlreadyExists(e)).toBe(false);
    expect(isNotFound(new Error("domain 'x' does not exist"))).toBe(false);
    // a 500 is not retried, even on a GET
    expect(c.requestLog.filter((r) => r.path === "/access/domains/nosuch")).toHaveLength(1);
  });

  it("already exists → isAlreadyExists; a missing user on update → isNotFound", async () => {
    const c = client();
    const dup = await caught(c.createGroup({ groupid: "zeta" }));
    expect(dup.message).toContain("create group failed: group 'zeta' already exists");
    expect(isAlreadyExists(dup)).toBe(true);
    expect(isNotFound(dup)).toBe(false);
    const missing = await caught(c.updateUser("ghost@pve", { comment: "x" }));
    expect(isNotFound(missing)).toBe(true);
    expect((missing as RemoteError).method).toBe("PUT");
  });

  it("400 parameter errors render the errors map as field: text", async () => {
    const c = client();
    const err = await caught(c.createRole({ roleid: "PVEcustom", privs: ["VM.Audit"] }));
    const e = err as RemoteError;
    expect(e).toBeInstanceOf(RemoteError);
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/^proxmox cluster 'pve1': POST \/access\/roles failed: 400 Parameter verification failed\. \(roleid: cannot use role ID starting with the \(case-insensitive\) 'PVE' namespace\)$/);
    expect(proxmoxErrorInfo(e)?.errors).toEqual({ roleid: "cannot use role ID starting with the (case-insensitive) 'PVE' namespace" });

    const bad = await caught(c.createRole({ roleid: "Bad", privs: ["VM.Foo"] }));
    expect(bad.message).toContain("privs: invalid format - invalid privilege 'VM.Foo'");
  });

  it("a 403 is an AuthError with the permission path in the message", async () => {
    const limited = sim.createToken("root@pam", "limited", { privsep: 1 });
    const c = client({ token: { id: limited.id, secret: Secret.fromValue(limited.secret, "t") } });
    const err = await caught(c.createGroup({ groupid: "nope" }));
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).status).toBe(403);
    expect(err.message).toContain("Permission check failed");
    expect((err as AuthError).hint).toContain("Administrator");
  });

  it("connection refused is a RemoteError with a clear message and hint (retried on GET)", async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    const events: RetryEvent[] = [];
    const c = client({ url: `https://127.0.0.1:${port}`, retries: 2, onRetry: (e) => events.push(e) });
    const err = await caught(c.listRealms());
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).code).toBe("E_NETWORK");
    expect(err.message).toContain("connection refused");
    expect((err as RemoteError).hint).toContain("clusters.pve1.url");
    expect(events.map((e) => [e.attempt, e.reason])).toEqual([[1, "ECONNREFUSED"], [2, "ECONNREFUSED"]]);
    expect(c.requestLog).toHaveLength(3);
  });
});

describe("retries", () => {
  it("retries a GET on 503 and succeeds once the fault clears; onRetry sees method, path, attempt, reason", async () => {
    const events: RetryEvent[] = [];
    const c = client({
      onRetry: (e) => {
        events.push(e);
        if (e.attempt === 2) sim.setFaults(undefined);
      },
    });
    sim.clearLog();
    sim.setFaults({ rate: 1, kinds: ["503"] });
    const roles = await c.listRoles();
    expect(roles.length).toBeGreaterThanOrEqual(17);
    expect(sim.requestLog.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(events.map((e) => ({ method: e.method, path: e.path, attempt: e.attempt, reason: e.reason }))).toEqual([
      { method: "GET", path: "/access/roles", attempt: 1, reason: "503 Service Unavailable" },
      { method: "GET", path: "/access/roles", attempt: 2, reason: "503 Service Unavailable" },
    ]);
    expect(JSON.stringify(events)).not.toContain(KNOWN_SECRET);
    expect(c.requestLog.map((r) => [r.attempt, r.status])).toEqual([[1, 503], [2, 503], [3, 200]]);
  });

  it("gives up after the retry limit with the last error", async () => {
    const c = client({ retries: 2 });
    sim.clearLog();
    sim.setFaults({ rate: 1, kinds: ["502"] });
    const err = await caught(c.listAcl());
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).status).toBe(502);
    expect(sim.requestLog).toHaveLength(3);
  });

  it("retries a reset connection on GET", async () => {
    const c = client({ onRetry: () => sim.setFaults(undefined) });
    sim.clearLog();
    sim.setFaults({ rate: 1, kinds: ["reset"] });
    expect((await c.listGroups()).length).toBeGreaterThan(0);
    expect(sim.requestLog.map((r) => r.status)).toEqual([0, 200]);
  });

  it("a response timeout is an E_TIMEOUT RemoteError naming the origin, the timeout and its variable, not retried", async () => {
    const events: RetryEvent[] = [];
    const c = client({ timeoutMs: 150, retries: 3, onRetry: (e) => events.push(e) });
    sim.clearLog();
    sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 600 });
    const err = await caught(c.listRealms());
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).code).toBe("E_TIMEOUT");
    expect(err.message).toBe(`proxmox cluster 'pve1': GET /access/domains: timed out (no answer from ${sim.url} within 0.15 s (HOMELAB_REQUEST_TIMEOUT_S))`);
    expect((err as RemoteError).hint).toBe(`check that ${sim.url} is reachable from here and its service is running; on a slow link raise HOMELAB_CONNECT_TIMEOUT_S or HOMELAB_REQUEST_TIMEOUT_S (seconds)`);
    // Not repeated: the timeout bounds the request (issue 10 item 10: 4 x 30 s of silence before).
    expect(events).toEqual([]);
    expect(c.requestLog.map((r) => r.status)).toEqual([0]);
    // (the simulator never logs a request its client abandoned during a "slow" fault: see the report)
  });

  it("honours Retry-After (seconds) on a 503", async () => {
    // A bare HTTPS server: the simulator sends no Retry-After.
    const cert = generateSelfSignedCert();
    let hits = 0;
    const srv = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
      hits++;
      if (hits === 1) {
        res.writeHead(503, "Service Unavailable", { "Retry-After": "1", "Content-Length": 0 });
        res.end();
      } else {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ data: [{ roleid: "R", privs: "B,A", special: 0 }] }));
      }
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    try {
      const events: RetryEvent[] = [];
      const c = client({ url: `https://127.0.0.1:${(srv.address() as { port: number }).port}`, tls: { fingerprint: cert.fingerprint256 }, onRetry: (e) => events.push(e) });
      const started = Date.now();
      expect(await c.listRoles()).toEqual([{ roleid: "R", privs: ["A", "B"], special: false }]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(events).toHaveLength(1);
      expect(events[0]!.delayMs).toBe(1000);
      expect(hits).toBe(2);
      c.close();
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it("never retries a PUT, POST or DELETE, and never a 500", async () => {
    const c = client();
    await c.createGroup({ groupid: "retrytest" });
    for (const [kind, call] of [
      ["503", () => c.updateGroup("retrytest", { comment: "x" })],
      ["503", () => c.createGroup({ groupid: "retrytest2" })],
      ["503", () => c.deleteGroup("retrytest")],
    ] as const) {
      sim.clearLog();
      sim.setFaults({ rate: 1, kinds: [kind] });
      await expect(call()).rejects.toBeInstanceOf(RemoteError);
      expect(sim.requestLog).toHaveLength(1);
    }
    // A reset on a NEW connection: the server may have read the write, so it is not repeated. (On a reused
    // connection it is sent once more: see "keep-alive" below.)
    c.close();
    sim.clearLog();
    sim.setFaults({ rate: 1, kinds: ["reset"] });
    await expect(c.updateGroup("retrytest", { comment: "x" })).rejects.toBeInstanceOf(RemoteError);
    expect(sim.requestLog).toHaveLength(1);
    sim.clearLog();
    sim.setFaults({ rate: 1, kinds: ["500"] });
    const err = await caught(c.listUsers());
    expect((err as RemoteError).status).toBe(500);
    expect(err.message).toContain("simulated fault");
    expect(sim.requestLog).toHaveLength(1);
    sim.setFaults(undefined);
    await c.deleteGroup("retrytest");
  });
});

describe("encoding", () => {
  const tricky = "a;b=c&d+e%f 100% ü ñ 日本 ✓ x=y;z";

  it("form-encodes every value: ; = & + % spaces and non-ASCII round-trip", async () => {
    const c = client();
    await c.createGroup({ groupid: "enc", comment: tricky });
    expect((await c.listGroups()).find((g) => g.groupid === "enc")?.comment).toBe(tricky);
    await c.createUser({ userid: "enc@pve", comment: tricky, firstname: "Zoë+1", groups: ["enc"] });
    const u = (await c.listUsers()).find((x) => x.userid === "enc@pve");
    expect(u?.comment).toBe(tricky);
    expect(u?.firstname).toBe("Zoë+1");
    expect(sim.state().groups?.find((g) => g.groupid === "enc")?.comment).toBe(tricky);
    await c.updateGroup("enc", { comment: `${tricky}!` });
    expect((await c.listGroups()).find((g) => g.groupid === "enc")?.comment).toBe(`${tricky}!`);
    await c.deleteUser("enc@pve");
    await c.deleteGroup("enc");
  });

  it("encodes path parameters, puts GET/DELETE params in the query string, omits null/undefined", async () => {
    const c = client();
    await c.createUser({ userid: "path.test@pve" });
    sim.clearLog();
    await c.deleteUser("path.test@pve");
    expect(sim.requestLog).toEqual([{ method: "DELETE", path: "/api2/json/access/users/path.test%40pve", status: 200 }]);
    await c.permissions("/vms");
    expect(c.requestLog.at(-1)?.path).toBe("/access/permissions?path=%2Fvms");
    expect(encodeForm({ a: true, b: false, c: 0, d: ["x", "y"], e: undefined, f: null, g: "", h: "1;2=3&4+5%" })).toBe("a=1&b=0&c=0&d=x%2Cy&g=&h=1%3B2%3D3%264%2B5%25");
  });
});

/** A bare HTTPS server on 127.0.0.1 (the simulator cannot misbehave at the socket level on purpose). */
async function bareServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; fingerprint: string; sockets: () => number; close: () => Promise<void> }> {
  const cert = generateSelfSignedCert();
  const srv = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, handler);
  let sockets = 0;
  srv.on("secureConnection", () => sockets++);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `https://127.0.0.1:${(srv.address() as { port: number }).port}`,
    fingerprint: cert.fingerprint256,
    sockets: () => sockets,
    close: async () => {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
}

const answer = (res: ServerResponse, data: unknown) => {
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ data }));
};

describe("keep-alive (chain soak C4: a request on a socket the server had closed)", () => {
  it("a reset on a REUSED socket before any answer is sent once more on a new connection, GET and writes alike", async () => {
    // The server drops (without a byte of answer) every second request on a connection: what a request
    // written on a kept-alive socket just as the server closes it sees.
    const perSocket = new WeakMap<object, number>();
    const answered: string[] = [];
    const srv = await bareServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n === 2) {
        req.socket.destroy();
        return;
      }
      answered.push(req.method!);
      answer(res, req.method === "GET" ? [] : null);
    });
    try {
      const events: RetryEvent[] = [];
      const c = client({ url: srv.url, tls: { fingerprint: srv.fingerprint }, retries: 0, onRetry: (e) => events.push(e) });
      await c.listGroups(); // opens the connection
      await c.createGroup({ groupid: "g1" }); // reused → dropped → sent again on a new connection
      await c.listGroups(); // the second connection's second request: dropped, sent again
      expect(answered).toEqual(["GET", "POST", "GET"]);
      expect(events.map((e) => [e.method, e.reason, e.delayMs])).toEqual([
        ["POST", expect.stringMatching(/^(ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE) on a reused connection$/), 0],
        ["GET", expect.stringMatching(/on a reused connection$/), 0],
      ]);
      expect(c.requestLog.map((r) => [r.method, r.status, r.attempt])).toEqual([["GET", 200, 1], ["POST", 0, 1], ["POST", 200, 2], ["GET", 0, 1], ["GET", 200, 2]]);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it("only once, and never for a write on a NEW connection or after part of an answer", async () => {
    let mode: "drop" | "half" = "drop";
    let hits = 0;
    const srv = await bareServer((req, res) => {
      hits++;
      if (mode === "drop") req.socket.destroy();
      else {
        // Headers and part of the body, then the connection dies: the server did act on it.
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": 100 });
        res.write('{"data":');
        setTimeout(() => req.socket.destroy(), 20);
      }
    });
    try {
      const c = client({ url: srv.url, tls: { fingerprint: srv.fingerprint }, retries: 0 });
      // New connection, dropped: a write is not repeated.
      await expect(c.createGroup({ groupid: "g" })).rejects.toBeInstanceOf(RemoteError);
      expect(hits).toBe(1);
      // Part of an answer on a new connection: not repeated either.
      mode = "half";
      hits = 0;
      await expect(c.updateGroup("g", { comment: "x" })).rejects.toBeInstanceOf(RemoteError);
      expect(hits).toBe(1);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it("closes idle sockets before the server does: after an idle pause longer than freeSocketTimeoutMs a new connection is used", async () => {
    const srv = await bareServer((_req, res) => answer(res, []));
    try {
      const events: RetryEvent[] = [];
      const c = client({ url: srv.url, tls: { fingerprint: srv.fingerprint }, freeSocketTimeoutMs: 200, onRetry: (e) => events.push(e) });
      await c.listGroups();
      await c.listGroups(); // at once: the same connection
      expect(srv.sockets()).toBe(1);
      await new Promise((r) => setTimeout(r, 400));
      await c.listGroups(); // idle 400 ms > 200 ms: the client had closed it
      expect(srv.sockets()).toBe(2);
      expect(events).toEqual([]);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it("the default idle timeout (4 s) is below the simulator's and pveproxy's 5 s, and does not cut a slow answer", async () => {
    expect(FREE_SOCKET_TIMEOUT_MS).toBeLessThan(5000);
    const srv = await bareServer((_req, res) => setTimeout(() => answer(res, [{ groupid: "slow" }]), 600));
    try {
      const c = client({ url: srv.url, tls: { fingerprint: srv.fingerprint }, freeSocketTimeoutMs: 200 });
      await c.listGroups();
      expect((await c.listGroups()).map((g) => g.groupid)).toEqual(["slow"]); // 600 ms in flight on a reused socket
      c.close();
    } finally {
      await srv.close();
    }
  });
});

describe("timeouts and close", () => {
  it("a server that completes TLS and never answers: E_TIMEOUT after the response timeout, once", async () => {
    const cert = generateSelfSignedCert();
    const held: Socket[] = [];
    const silent = createTlsServer({ cert: cert.certPem, key: cert.keyPem }, () => {});
    silent.on("connection", (s: Socket) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const url = `https://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const c = client({ url, tls: { fingerprint: cert.fingerprint256 }, timeoutMs: 300, connectTimeoutMs: 300 });
      const started = Date.now();
      const err = await caught(c.listUsers());
      expect(Date.now() - started).toBeLessThan(1500);
      expect((err as RemoteError).code).toBe("E_TIMEOUT");
      expect(err.message).toContain(`no answer from ${url} within 0.3 s (HOMELAB_REQUEST_TIMEOUT_S)`);
      expect(c.requestLog).toHaveLength(1);
      c.close();
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("a port that accepts TCP and never speaks TLS: E_TIMEOUT after the connect timeout, pinned or not", async () => {
    const held: Socket[] = [];
    const mute = createServer((s) => held.push(s));
    await new Promise<void>((r) => mute.listen(0, "127.0.0.1", r));
    const url = `https://127.0.0.1:${(mute.address() as { port: number }).port}`;
    try {
      for (const tls of [{ fingerprint: sim.fingerprint }, { insecure: true }]) {
        const c = client({ url, tls, timeoutMs: 5000, connectTimeoutMs: 300 });
        const started = Date.now();
        const err = await caught(c.listUsers());
        expect(Date.now() - started).toBeLessThan(1500);
        expect((err as RemoteError).code).toBe("E_TIMEOUT");
        expect(err.message).toContain(`could not connect to ${url} within 0.3 s (HOMELAB_CONNECT_TIMEOUT_S)`);
        expect(c.requestLog).toHaveLength(1);
        c.close();
      }
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it("the timeouts come from HOMELAB_CONNECT_TIMEOUT_S / HOMELAB_REQUEST_TIMEOUT_S; a bad value is a UserError naming it", async () => {
    process.env.HOMELAB_REQUEST_TIMEOUT_S = "0.2";
    try {
      const c = client();
      sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 600 });
      const err = await caught(c.listRoles());
      expect(err.message).toContain("within 0.2 s (HOMELAB_REQUEST_TIMEOUT_S)");
      process.env.HOMELAB_REQUEST_TIMEOUT_S = "soon";
      expect(() => client()).toThrow(/HOMELAB_REQUEST_TIMEOUT_S must be a number of seconds from 0.1 to 3600, not `soon`/);
    } finally {
      delete process.env.HOMELAB_REQUEST_TIMEOUT_S;
    }
  });

  it("close() ends a request waiting to be retried: no further attempt and no further onRetry; the client stays usable", async () => {
    const events: RetryEvent[] = [];
    const c = client({ retries: 5, retryBaseDelayMs: 2000, onRetry: (e) => events.push(e) });
    sim.clearLog();
    sim.setFaults({ rate: 1, kinds: ["503"] });
    const pending = caught(c.listRoles());
    while (events.length === 0) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    c.close();
    const err = await pending;
    expect(Date.now() - started).toBeLessThan(500);
    expect(err).toBeInstanceOf(RemoteError);
    expect(events).toHaveLength(1);
    expect(sim.requestLog).toHaveLength(1);
    sim.setFaults(undefined);
    expect((await c.listRoles()).length).toBeGreaterThan(0);
  });
});
