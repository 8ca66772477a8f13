/**
 * Contract tests of the Proxmox VE simulator for the rules of issue 8 ("Make the simulator as strict
 * as Proxmox here"): each rule below is one that a real cluster enforces (sources cited in the
 * simulator) and that homelab once got wrong. Every test talks raw HTTP, like the other proxmox-*
 * contract tests.
 */
import { spawn } from "node:child_process";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startProxmoxSim, type ProxmoxFixture, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";
import { FileLock, LockTimeout } from "../../src/sim/proxmox/lock.js";
import { bin, homelab, simInfo } from "../helpers/cli.js";

const STALE = "update auth server failed: detected modified configuration - file changed by other user? Try again.\n";
const NOT_IN_SCHEMA = "property is not defined in schema and the schema does not allow additional properties";

const oidc = (realm: string): Record<string, string | number> => ({
  realm,
  type: "openid",
  "issuer-url": `https://idp.example/${realm}`,
  "client-id": "pve",
  "client-key": "s3cret",
});

interface Sim {
  sim: ProxmoxSim;
  c: RawClient;
  stop(): Promise<void>;
}

async function start(opts: Parameters<typeof startProxmoxSim>[0] = {}): Promise<Sim> {
  const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, ...opts });
  const c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
  return {
    sim,
    c,
    stop: async () => {
      c.close();
      await sim.close();
    },
  };
}

async function realm(c: RawClient, id: string): Promise<Record<string, unknown>> {
  const r = await c.get(`/access/domains/${id}`);
  expect(r.status).toBe(200);
  return r.json.data as Record<string, unknown>;
}

async function listed(c: RawClient): Promise<Record<string, Record<string, unknown>>> {
  const r = await c.withAuth("none").get("/access/domains");
  return Object.fromEntries((r.json.data as Array<Record<string, unknown>>).map((d) => [d.realm as string, d]));
}

describe("rule 1: the realm digest is the SHA-1 of the whole domains.cfg", () => {
  let s: Sim;
  beforeAll(async () => {
    s = await start();
    expect((await s.c.post("/access/domains", oidc("alpha"))).status).toBe(200);
    expect((await s.c.post("/access/domains", oidc("beta"))).status).toBe(200);
  });
  afterAll(() => s.stop());

  it("read A and B, write A, PUT B with B's old digest: 500 and nothing changed", async () => {
    const a = await realm(s.c, "alpha");
    const b = await realm(s.c, "beta");
    expect(b.digest).toBe(a.digest); // one file, one digest
    expect((await s.c.put("/access/domains/alpha", { comment: "first", digest: a.digest as string })).status).toBe(200);
    const b2 = await realm(s.c, "beta");
    expect(b2.digest).toMatch(/^[0-9a-f]{40}$/);
    expect(b2.digest).not.toBe(b.digest);

    const before = s.sim.state();
    const stale = await s.c.put("/access/domains/beta", { comment: "second", digest: b.digest as string });
    expect(stale.status).toBe(500);
    expect(stale.json).toEqual({ data: null, message: STALE });
    expect(s.sim.state()).toEqual(before);
    expect((await realm(s.c, "beta")).comment).toBeUndefined();
  });

  it("creating and deleting another realm change the digest too", async () => {
    const d0 = (await realm(s.c, "beta")).digest;
    expect((await s.c.post("/access/domains", oidc("gamma"))).status).toBe(200);
    const d1 = (await realm(s.c, "beta")).digest;
    expect(d1).not.toBe(d0);
    expect((await s.c.delete("/access/domains/gamma")).status).toBe(200);
    const d2 = (await realm(s.c, "beta")).digest;
    expect(d2).not.toBe(d1);
    // The file is back to what it was, byte for byte, and so is its SHA-1.
    expect(d2).toBe(d0);
    expect((await s.c.put("/access/domains/beta", { comment: "x", digest: d1 as string })).json.message).toBe(STALE);
  });

  it("a write that leaves the file identical keeps the digest (it hashes content, not a counter)", async () => {
    const d0 = (await realm(s.c, "alpha")).digest as string;
    expect((await s.c.put("/access/domains/alpha", { comment: "first", digest: d0 })).status).toBe(200);
    expect((await realm(s.c, "alpha")).digest).toBe(d0);
  });

  it("an empty digest is Perl-false and not compared (assert_if_modified)", async () => {
    const r = await s.c.put("/access/domains/beta", { comment: "no digest", digest: "" });
    expect(r.status).toBe(200);
    expect((await realm(s.c, "beta")).comment).toBe("no digest");
  });
});

describe("rule 2: the built-in realms' default comments come back on every read", () => {
  let s: Sim;
  beforeAll(async () => {
    s = await start();
  });
  afterAll(() => s.stop());

  it("PUT pve delete=comment: the next read shows the default comment", async () => {
    expect((await s.c.put("/access/domains/pve", { comment: "Local accounts" })).status).toBe(200);
    expect((await realm(s.c, "pve")).comment).toBe("Local accounts");
    expect((await s.c.put("/access/domains/pve", { default: 1, delete: "comment" })).status).toBe(200);
    const pve = await realm(s.c, "pve");
    expect(pve.comment).toBe("Proxmox VE authentication server");
    expect(pve.default).toBe(1);
    expect((await listed(s.c)).pve).toEqual({ realm: "pve", type: "pve", comment: "Proxmox VE authentication server", default: 1 });
  });

  it("an empty or Perl-false comment is replaced as well, for pam too", async () => {
    expect((await s.c.put("/access/domains/pam", { comment: "" })).status).toBe(200);
    expect((await realm(s.c, "pam")).comment).toBe("Linux PAM standard authentication");
    expect((await s.c.put("/access/domains/pam", { comment: "0" })).status).toBe(200);
    expect((await realm(s.c, "pam")).comment).toBe("Linux PAM standard authentication");
  });

  it("only the built-in realms get a default; another realm's deleted comment stays gone", async () => {
    expect((await s.c.post("/access/domains", { ...oidc("corp"), comment: "Corp" })).status).toBe(200);
    expect((await s.c.put("/access/domains/corp", { delete: "comment" })).status).toBe(200);
    expect((await realm(s.c, "corp")).comment).toBeUndefined();
    // write_config skips a Perl-false comment, so "0" does not survive the write either
    expect((await s.c.put("/access/domains/corp", { comment: "0" })).status).toBe(200);
    expect((await realm(s.c, "corp")).comment).toBeUndefined();
    expect((await listed(s.c)).corp).toEqual({ realm: "corp", type: "openid" });
  });

  it("a deleted pve realm comes back with its default comment and without default", async () => {
    expect((await s.c.delete("/access/domains/pve")).status).toBe(200);
    expect((await listed(s.c)).pve).toEqual({ realm: "pve", type: "pve", comment: "Proxmox VE authentication server" });
  });
});

describe("rule 3: values are trimmed when Proxmox reads its files back", () => {
  let s: Sim;
  beforeAll(async () => {
    s = await start({ fixture: { groups: [{ groupid: "ops" }] } });
  });
  afterAll(() => s.stop());

  it("domains.cfg: every option value is trimmed; a blank one is gone", async () => {
    expect((await s.c.post("/access/domains", { ...oidc("kc"), comment: " Keycloak (lab) ", "client-id": "pve  " })).status).toBe(200);
    const kc = await realm(s.c, "kc");
    expect(kc.comment).toBe("Keycloak (lab)");
    expect(kc["client-id"]).toBe("pve");
    expect((await listed(s.c)).kc!.comment).toBe("Keycloak (lab)");
    expect((await s.c.put("/access/domains/kc", { comment: "   " })).status).toBe(200);
    expect((await realm(s.c, "kc")).comment).toBeUndefined();
    expect((await s.c.put("/access/domains/pve", { comment: "  " })).status).toBe(200);
    expect((await realm(s.c, "pve")).comment).toBe("Proxmox VE authentication server");
  });

  it("user.cfg: user, group and token text fields are trimmed; a blank one is gone", async () => {
    const u = await s.c.post("/access/users", { userid: "pat@pve", firstname: "Pat ", lastname: "  Doe", comment: " x ", keys: "abc" });
    expect(u.status).toBe(200);
    expect((await s.c.get("/access/users/pat@pve")).json.data).toMatchObject({ firstname: "Pat", lastname: "Doe", comment: "x" });
    expect((await s.c.put("/access/users/pat@pve", { firstname: "   " })).status).toBe(200);
    expect((await s.c.get("/access/users/pat@pve")).json.data.firstname).toBeUndefined();

    expect((await s.c.put("/access/groups/ops", { comment: " x" })).status).toBe(200);
    expect((await s.c.get("/access/groups/ops")).json.data.comment).toBe("x");
    const listedGroup = ((await s.c.get("/access/groups")).json.data as Array<{ groupid: string; comment?: string }>).find((g) => g.groupid === "ops");
    expect(listedGroup?.comment).toBe("x");

    expect((await s.c.post("/access/users/pat@pve/token/ci", { comment: " pipeline " })).status).toBe(200);
    expect((await s.c.get("/access/users/pat@pve/token/ci")).json.data.comment).toBe("pipeline");
  });

  it("encoded characters survive: a tab or line feed at the end of a user.cfg comment is not trimmed", async () => {
    // encode_text escapes control characters (%09, %0A) before the line is split and trimmed.
    expect((await s.c.put("/access/users/pat@pve", { comment: "tabbed\t", lastname: "two\nlines" })).status).toBe(200);
    const d = (await s.c.get("/access/users/pat@pve")).json.data;
    expect(d.comment).toBe("tabbed\t");
    expect(d.lastname).toBe("two\nlines");
  });
});

describe("rule 4: line feeds are refused in domains.cfg values", () => {
  let s: Sim;
  beforeAll(async () => {
    s = await start();
    expect((await s.c.post("/access/domains", oidc("kc"))).status).toBe(200);
  });
  afterAll(() => s.stop());

  it("a folded YAML comment (ending in \\n) on create and on update: 500, nothing written", async () => {
    const before = s.sim.state();
    const create = await s.c.post("/access/domains", { ...oidc("lf"), comment: "Keycloak\n" });
    expect(create.status).toBe(500);
    expect(create.json.message).toBe("add auth server failed: property contains a line feed\n");
    const update = await s.c.put("/access/domains/kc", { comment: "a\r\nb" });
    expect(update.status).toBe(500);
    expect(update.json.message).toBe("update auth server failed: property contains a line feed\n");
    expect(s.sim.state()).toEqual(before);
  });

  it("a trailing \\n passes a schema pattern (Perl's `$`) and then meets the line-feed rule", async () => {
    const r = await s.c.put("/access/domains/kc", { "acr-values": "urn:mfa\n" });
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("update auth server failed: property contains a line feed\n");
    const mid = await s.c.put("/access/domains/kc", { "acr-values": "urn:a\nb" });
    expect(mid.status).toBe(400);
    expect(mid.json.errors).toEqual({ "acr-values": "value does not match the regex pattern" });
  });
});

describe("rule 5: ACL role checks on delete, and the delete cascades", () => {
  const fixture: ProxmoxFixture = {
    groups: [{ groupid: "ops" }, { groupid: "devs" }],
    users: [
      { userid: "alice@pve", groups: ["ops", "devs"] },
      { userid: "bob@pve", groups: ["ops"] },
    ],
    roles: [{ roleid: "Legacy", privs: ["VM.Audit"] }, { roleid: "Keep", privs: ["VM.Console"] }],
    tokens: [{ userid: "alice@pve", tokenid: "ci" }],
    acl: [
      { path: "/vms", type: "user", ugid: "alice@pve", roleid: "Legacy" },
      { path: "/vms", type: "group", ugid: "ops", roleid: "Legacy" },
      { path: "/storage", type: "token", ugid: "alice@pve!ci", roleid: "Legacy", propagate: 0 },
      { path: "/vms", type: "user", ugid: "alice@pve", roleid: "Keep" },
      { path: "/", type: "group", ugid: "ops", roleid: "Keep" },
      { path: "/nodes", type: "group", ugid: "devs", roleid: "PVEAuditor" },
    ],
  };
  let s: Sim;
  beforeAll(async () => {
    s = await start({ fixture });
  });
  afterAll(() => s.stop());

  it("an ACL delete naming a missing role fails with 500 and removes nothing", async () => {
    const before = s.sim.state();
    const r = await s.c.put("/access/acl", { path: "/vms", roles: "Gone,Keep", users: "alice@pve", delete: 1 });
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("ACL update failed: role 'Gone' does not exist\n");
    expect(s.sim.state()).toEqual(before);
  });

  it("deleting a role drops every ACL entry naming it (users, groups, tokens), then its ACL delete fails", async () => {
    expect((await s.c.delete("/access/roles/Legacy")).status).toBe(200);
    const acl = (await s.c.get("/access/acl")).json.data as Array<{ roleid: string }>;
    expect(acl.filter((e) => e.roleid === "Legacy")).toEqual([]);
    expect(acl.filter((e) => e.roleid === "Keep")).toHaveLength(2);
    const late = await s.c.put("/access/acl", { path: "/vms", roles: "Legacy", users: "alice@pve", delete: 1 });
    expect(late.status).toBe(500);
    expect(late.json.message).toBe("ACL update failed: role 'Legacy' does not exist\n");
  });

  it("deleting a group drops its memberships and its ACL entries, and nothing else", async () => {
    expect((await s.c.delete("/access/groups/ops")).status).toBe(200);
    expect((await s.c.get("/access/users/alice@pve")).json.data.groups).toEqual(["devs"]);
    expect((await s.c.get("/access/users/bob@pve")).json.data.groups).toEqual([]);
    const acl = (await s.c.get("/access/acl")).json.data as Array<{ type: string; ugid: string }>;
    expect(acl.filter((e) => e.type === "group" && e.ugid === "ops")).toEqual([]);
    expect(acl.filter((e) => e.type === "group" && e.ugid === "devs")).toHaveLength(1);
    const gone = await s.c.put("/access/acl", { path: "/", roles: "Keep", groups: "ops", delete: 1 });
    expect(gone.json.message).toBe("ACL update failed: group 'ops' does not exist\n");
  });
});

describe("rule 6: GET /version and the version gates", () => {
  it("answers {version, release, repoid} to any authenticated caller, nobody else", async () => {
    const s = await start({ fixture: { users: [{ userid: "nobody@pve" }] } });
    const r = await s.c.get("/version");
    expect(r.status).toBe(200);
    expect(r.json.data).toEqual({ version: "9.2.1", release: "9.2", repoid: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const tok = s.sim.createToken("nobody@pve", "t1");
    expect((await s.c.withAuth({ token: tok }).get("/version")).json.data.version).toBe("9.2.1");
    expect((await s.c.withAuth("none").get("/version")).status).toBe(401);
    expect((await s.c.get("/api2/json/version")).status).toBe(200);
    await s.stop();
  });

  it("plays the configured release; refuses releases before 8.0", async () => {
    const s = await start({ version: "9.1.1" });
    expect((await s.c.get("/version")).json.data).toMatchObject({ version: "9.1.1", release: "9.1" });
    expect(s.sim.version).toBe("9.1.1");
    s.sim.setVersion("8.4");
    expect((await s.c.get("/version")).json.data).toMatchObject({ version: "8.4.0", release: "8.4" });
    expect(() => s.sim.setVersion("7.4.3")).toThrow(/not supported/);
    expect(() => s.sim.setVersion("nine")).toThrow(/invalid Proxmox VE version/);
    await s.stop();
    await expect(startProxmoxSim({ version: "7.4" })).rejects.toThrow(/not supported/);
  });

  it("below 9.2: audiences, regenerate and the prefix-list/route-map ACL paths are refused; 9.2 has them", async () => {
    const fixture: ProxmoxFixture = { users: [{ userid: "ci@pve" }], tokens: [{ userid: "ci@pve", tokenid: "deploy" }] };
    const old = await start({ version: "9.1.1", fixture });
    const aud = await old.c.post("/access/domains", { ...oidc("kc"), audiences: "pve-api" });
    expect(aud.status).toBe(400);
    expect(aud.json.errors).toEqual({ audiences: NOT_IN_SCHEMA });
    expect((await old.c.post("/access/domains", oidc("kc"))).status).toBe(200);
    expect((await old.c.put("/access/domains/kc", { audiences: "x" })).json.errors).toEqual({ audiences: NOT_IN_SCHEMA });
    const regen = await old.c.put("/access/users/ci@pve/token/deploy", { regenerate: 1 });
    expect(regen.status).toBe(400);
    expect(regen.json.errors).toEqual({ regenerate: NOT_IN_SCHEMA });
    for (const path of ["/sdn/prefix-lists", "/sdn/prefix-lists/pl1", "/sdn/route-maps/rm1"]) {
      const r = await old.c.put("/access/acl", { path, roles: "PVEAuditor", users: "ci@pve" });
      expect(r.status, path).toBe(400);
      expect(r.json.errors).toEqual({ path: `invalid ACL path '${path}'` });
    }
    // Only adding checks the path: removing stays possible.
    expect((await old.c.put("/access/acl", { path: "/sdn/route-maps/rm1", roles: "PVEAuditor", users: "ci@pve", delete: 1 })).status).toBe(200);
    // 9.1 has token `delete` and /sdn/fabrics
    expect((await old.c.put("/access/users/ci@pve/token/deploy", { delete: "comment" })).status).toBe(200);
    expect((await old.c.put("/access/acl", { path: "/sdn/fabrics/f1", roles: "PVEAuditor", users: "ci@pve" })).status).toBe(200);
    await old.stop();

    const cur = await start({ fixture });
    expect((await cur.c.post("/access/domains", { ...oidc("kc"), audiences: "pve-api" })).status).toBe(200);
    expect((await realm(cur.c, "kc")).audiences).toBe("pve-api");
    const r = await cur.c.put("/access/users/ci@pve/token/deploy", { regenerate: 1 });
    expect(r.status).toBe(200);
    expect(r.json.data.value).toMatch(/^[0-9a-f-]{36}$/);
    expect((await cur.c.put("/access/acl", { path: "/sdn/prefix-lists/pl1", roles: "PVEAuditor", users: "ci@pve" })).status).toBe(200);
    await cur.stop();
  });

  it("below 9.1 token PUT has no delete (not even the errata-8 Perl error); below 9.0 no /sdn/fabrics", async () => {
    const s = await start({ version: "9.0.6", fixture: { users: [{ userid: "ci@pve" }], tokens: [{ userid: "ci@pve", tokenid: "deploy", comment: "c" }] } });
    const del = await s.c.put("/access/users/ci@pve/token/deploy", { delete: "comment" });
    expect(del.status).toBe(400);
    expect(del.json.errors).toEqual({ delete: NOT_IN_SCHEMA });
    expect((await s.c.put("/access/users/ci@pve/token/deploy", { delete: "" })).status).toBe(400);
    expect((await s.c.put("/access/acl", { path: "/sdn/fabrics/f1", roles: "PVEAuditor", users: "ci@pve" })).status).toBe(200);
    s.sim.setVersion("8.4.1");
    const fab = await s.c.put("/access/acl", { path: "/sdn/fabrics", roles: "PVEAuditor", users: "ci@pve" });
    expect(fab.status).toBe(400);
    expect(fab.json.errors).toEqual({ path: "invalid ACL path '/sdn/fabrics'" });
    await s.stop();
  });

  it("below 8.4 the OpenID group options do not exist; 8.4 has them", async () => {
    const s = await start({ version: "8.3.5" });
    for (const [k, v] of [["groups-claim", "groups"], ["groups-autocreate", 1], ["groups-overwrite", 0], ["query-userinfo", 0]] as const) {
      const r = await s.c.post("/access/domains", { ...oidc("kc"), [k]: v });
      expect(r.status, k).toBe(400);
      expect(r.json.errors).toEqual({ [k]: NOT_IN_SCHEMA });
    }
    s.sim.setVersion("8.4");
    expect((await s.c.post("/access/domains", { ...oidc("kc"), "groups-claim": "groups", "query-userinfo": 0 })).status).toBe(200);
    await s.stop();
  });

  it("fixtures cannot hold options the release does not have", async () => {
    await expect(startProxmoxSim({ version: "9.1", fixture: { realms: [{ ...oidc("kc"), type: "openid", audiences: "x" } as never] } })).rejects.toThrow(
      /'audiences' does not exist in Proxmox VE 9\.1\.0/,
    );
  });
});

describe("rule 7: writes to one config file are serialised (cfs_lock_file)", () => {
  it("two concurrent realm PUTs carrying the same digest: exactly one success, one digest error", async () => {
    // The simulated pmxcfs write takes 150 ms, so both requests are inside their handler at once.
    const s = await start({ cfsWriteDelayMs: 150 });
    expect((await s.c.post("/access/domains", oidc("alpha"))).status).toBe(200);
    expect((await s.c.post("/access/domains", oidc("beta"))).status).toBe(200);
    const { digest } = await realm(s.c, "alpha");
    const [a, b] = await Promise.all([
      s.c.put("/access/domains/alpha", { comment: "from A", digest: digest as string }),
      s.c.put("/access/domains/beta", { comment: "from B", digest: digest as string }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 500]);
    expect([a, b].find((r) => r.status === 500)!.json.message).toBe(STALE);
    const comments = [(await realm(s.c, "alpha")).comment, (await realm(s.c, "beta")).comment].filter(Boolean);
    expect(comments).toHaveLength(1);

    // The same on one realm.
    const d2 = (await realm(s.c, "alpha")).digest as string;
    const both = await Promise.all([
      s.c.put("/access/domains/alpha", { comment: "one", digest: d2 }),
      s.c.put("/access/domains/alpha", { comment: "two", digest: d2 }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 500]);
    await s.stop();
  });

  it("the lock queues holders in order and a waiter gives up after its timeout", async () => {
    const lock = new FileLock("user.cfg");
    expect(lock.lockId).toBe("file-user_cfg");
    const order: string[] = [];
    const slow = lock.run(async () => {
      order.push("a:start");
      await new Promise((r) => setTimeout(r, 80));
      order.push("a:end");
    });
    const timedOut = lock.run(() => order.push("never"), 20);
    const next = lock.run(() => order.push("b"));
    await expect(timedOut).rejects.toBeInstanceOf(LockTimeout);
    await Promise.all([slow, next]);
    expect(order).toEqual(["a:start", "a:end", "b"]);
  });
});

describe("test knobs: failNext, reset, setVersion", () => {
  let s: Sim;
  beforeAll(async () => {
    s = await start({ fixture: { realms: [{ ...oidc("kc"), type: "openid", "username-claim": "email" }] } });
  });
  afterAll(() => s.stop());

  it("failNext: a realm replace whose create fails after the delete succeeded", async () => {
    s.sim.failNext({ method: "post", path: "/access/domains", message: "add auth server failed: boom" });
    expect((await s.c.delete("/access/domains/kc")).status).toBe(200);
    const before = s.sim.state();
    const create = await s.c.post("/access/domains", { ...oidc("kc"), "username-claim": "sub" });
    expect(create.status).toBe(500);
    expect(create.json).toEqual({ data: null, message: "add auth server failed: boom\n" });
    expect(s.sim.state()).toEqual(before);
    expect(s.sim.requestLog.at(-1)).toEqual({ method: "POST", path: "/api2/json/access/domains", status: 500 });
    // used up: the next one goes through
    expect((await s.c.post("/access/domains", { ...oidc("kc"), "username-claim": "sub" })).status).toBe(200);
  });

  it("failNext: times, status, and paths with /api2/json or percent-encoding", async () => {
    s.sim.failNext({ method: "GET", path: "/api2/json/access/users/root@pam", times: 2, status: 503, message: "busy" });
    const a = await s.c.get("/access/users/root%40pam");
    const b = await s.c.get("/access/users/root@pam");
    const c3 = await s.c.get("/access/users/root@pam");
    expect([a.status, b.status, c3.status]).toEqual([503, 503, 200]);
    expect(a.json.message).toBe("busy\n");
    // other methods and paths are not affected
    s.sim.failNext({ method: "PUT", path: "/access/groups/x" });
    expect((await s.c.get("/access/groups")).status).toBe(200);
    expect(() => s.sim.failNext({ method: "GET", path: "/x", times: 0 })).toThrow(/times/);
  });

  it("reset: fresh install plus fixture, same URL, certificate and admin token; rules and log cleared", async () => {
    const url = s.sim.url;
    s.sim.failNext({ method: "GET", path: "/access/domains" });
    s.sim.reset({ groups: [{ groupid: "fresh" }] }, { version: "9.1.1" });
    expect(s.sim.url).toBe(url);
    expect(s.sim.requestLog).toEqual([]);
    const st = s.sim.state();
    expect(st.realms.map((r) => r.realm)).toEqual(["pam", "pve"]);
    expect(st.groups).toEqual([{ groupid: "fresh" }]);
    expect(st.tokens).toEqual([{ userid: "root@pam", tokenid: "homelab", privsep: 0, secret: s.sim.adminToken.secret }]);
    // the old client (same certificate, same token) still works, the failNext rule is gone
    expect((await s.c.get("/access/domains")).status).toBe(200);
    expect((await s.c.get("/version")).json.data.version).toBe("9.1.1");
    // without a version the release stays; an invalid fixture leaves the state alone
    expect(() => s.sim.reset({ acl: [{ path: "/", type: "user", ugid: "ghost@pve", roleid: "Administrator" }] })).toThrow(/ghost@pve/);
    expect(s.sim.state().groups).toEqual([{ groupid: "fresh" }]);
    s.sim.reset();
    expect(s.sim.version).toBe("9.1.1");
    expect(s.sim.state().groups).toEqual([]);
    expect((await s.c.get("/access/users/root@pam")).status).toBe(200);
  });

  it("reset keeps the admin token even when the fixture names root@pam!homelab", async () => {
    s.sim.reset({ tokens: [{ userid: "root@pam", tokenid: "homelab", privsep: 1, secret: "11111111-1111-4111-8111-111111111111" }] });
    expect((await s.c.get("/access/acl")).status).toBe(200);
    expect(s.sim.state().tokens[0]).toMatchObject({ tokenid: "homelab", privsep: 0, secret: s.sim.adminToken.secret });
  });
});

describe("rule 9: `homelab sim --pve-version` (needs the built CLI, like test/integration/sim-command)", () => {
  /** GET a path of the served simulator, pinning its certificate by the printed fingerprint. */
  function getPinned(url: string, fingerprint: string, path: string, token: { id: string; secret: string }): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${url}/api2/json${path}`, { rejectUnauthorized: false, headers: { Authorization: `PVEAPIToken=${token.id}=${token.secret}` } }, (res) => {
        const pinned = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => (pinned === fingerprint ? resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) : reject(new Error(`certificate ${pinned} is not the printed one`))));
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("serves the chosen release and refuses one before 8.0 as an argument error", async () => {
    const child = spawn(process.execPath, [bin, "sim", "--pve-version", "9.1.1"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const info = await simInfo(child);
      expect(info.proxmox.version).toBe("9.1.1");
      const token = { id: info.proxmox.tokenId, secret: info.proxmox.tokenSecret };
      const v = await getPinned(info.proxmox.url, info.proxmox.fingerprint, "/version", token);
      expect(v.body.data).toMatchObject({ version: "9.1.1", release: "9.1" });
    } finally {
      await new Promise((resolve) => {
        child.on("close", resolve);
        child.kill("SIGTERM");
      });
    }
    const old = await homelab(["sim", "--pve-version", "7.4", "--once"]);
    expect(old.code).toBe(3);
    expect(old.stdout).toBe("");
    expect(old.stderr).toMatch(/--pve-version: Proxmox VE 7\.4 is not supported/);
  });
});
