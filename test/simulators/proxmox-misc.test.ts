import { describe, it, expect } from "vitest";
import {
  fixtureFromConfigFiles,
  runProxmoxSimStandalone,
  startProxmoxSim,
} from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

const USER_CFG = `user:root@pam:1:0:::root@example.com:::
user:alice@pve:1:0:Alice:Smith%3A%20Jr:alice@example.com:Team%20lead::
user:bob@oidc:0:4102444800::::::
token:alice@pve!ci:0:1:CI%20token:
group:ops:alice@pve,bob@oidc:Operators:
role:VMOperator:VM.Audit,VM.Console:
pool:p1:Pool::
acl:1:/:@ops:PVEAuditor:
acl:0:/vms/100:alice@pve,alice@pve!ci:VMOperator,PVEVMUser:
acl:1:/:root@pam:Administrator:
`;
const DOMAINS_CFG = `pam: pam
	comment Linux PAM standard authentication

pve: pve
	comment Proxmox VE authentication server
	default 1

openid: oidc
	issuer-url https://idp.example/realms/x
	client-id pve
	client-key s3cret
	autocreate 1
	username-claim email
`;
const TOKEN_CFG = "alice@pve!ci 0b1c2d3e-1111-4222-8333-444455556666\n";

describe("seeding from user.cfg / domains.cfg / token.cfg (spec 7)", () => {
  it("parses the files into a fixture the simulator serves", async () => {
    const fx = fixtureFromConfigFiles({ userCfg: USER_CFG, domainsCfg: DOMAINS_CFG, tokenCfg: TOKEN_CFG });
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, fixture: fx });
    const c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
    expect((await c.get("/access/users/alice@pve")).json.data).toEqual({
      enable: 1, expire: 0, firstname: "Alice", lastname: "Smith: Jr", email: "alice@example.com", comment: "Team lead",
      groups: ["ops"], tokens: { ci: { privsep: 1, expire: 0, comment: "CI token" } },
    });
    expect((await c.get("/access/users/bob@oidc")).json.data).toMatchObject({ enable: 0, expire: 4102444800, groups: ["ops"] });
    expect((await c.get("/access/domains/oidc")).json.data).toMatchObject({ autocreate: 1, "client-key": "s3cret", "username-claim": "email" });
    expect((await c.get("/access/domains/pve")).json.data.default).toBe(1);
    const acl = (await c.get("/access/acl")).json.data as Array<{ path: string; ugid: string }>;
    expect(acl).toHaveLength(5);
    expect(acl.some((e) => e.ugid === "root@pam")).toBe(false);
    expect(acl).toContainEqual({ path: "/vms/100", type: "token", ugid: "alice@pve!ci", roleid: "PVEVMUser", propagate: 0 });
    expect(acl).toContainEqual({ path: "/", type: "group", ugid: "ops", roleid: "PVEAuditor", propagate: 1 });
    // the token secret from token.cfg works
    const t = c.withAuth({ token: { id: "alice@pve!ci", secret: "0b1c2d3e-1111-4222-8333-444455556666" } });
    expect((await t.get("/access/roles")).status).toBe(200);
    c.close();
    await sim.close();
  });
});

describe("stand-alone runner", () => {
  it("returns JSON-able connection info that works", async () => {
    const { info, sim, close } = await runProxmoxSimStandalone({ unauthorizedDelayMs: 0, seed: 3 });
    expect(Object.keys(info).sort()).toEqual(["fingerprint", "tokenId", "tokenSecret", "url"]);
    expect(JSON.parse(JSON.stringify(info))).toEqual(info);
    expect(info.tokenId).toBe("root@pam!homelab");
    expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(info.url).toBe(sim.url);
    const c = new RawClient(info.url, sim.certPem, { token: { id: info.tokenId, secret: info.tokenSecret } });
    expect((await c.get("/access/users")).status).toBe(200);
    c.close();
    await close();
  });
});

describe("index pages and odds and ends", () => {
  it("GET /access, /access/openid, /access/ticket", async () => {
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    const c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
    const idx = (await c.get("/access")).json.data.map((d: { subdir: string }) => d.subdir);
    expect(idx).toEqual(expect.arrayContaining(["users", "groups", "roles", "acl", "domains", "ticket", "permissions"]));
    expect((await c.get("/access/openid")).json.data).toEqual([{ subdir: "auth-url" }, { subdir: "login" }]);
    expect((await c.withAuth("none").get("/access/ticket")).json).toEqual({ data: null });
    expect((await c.withAuth("none").get("/access")).status).toBe(401);
    c.close();
    await sim.close();
  });

  it("OpenID auth-url for an openid realm (the node fetches discovery: an unreachable issuer is a 500); errors for others; login fails with 401", async () => {
    // idp.example is blocked, so no DNS lookup leaves the machine; proxmox-openid*.test.ts cover a reachable issuer.
    const sim = await startProxmoxSim({
      unauthorizedDelayMs: 0,
      openidBlockedHosts: ["idp.example"],
      fixture: { realms: [{ realm: "oidc", type: "openid", "issuer-url": "https://idp.example/x", "client-id": "pve" }] },
    });
    const a = new RawClient(sim.url, sim.certPem);
    const r = await a.post("/access/openid/auth-url", { realm: "oidc", "redirect-url": "https://pve:8006" });
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("Request failed: ureq request failed - io: Connection timed out (os error 110)\n");
    const w = await a.post("/access/openid/auth-url", { realm: "pve", "redirect-url": "https://pve:8006" });
    expect(w.json.message).toBe("wrong realm type (pve != openid)\n");
    const m = await a.post("/access/openid/auth-url", { realm: "nope", "redirect-url": "https://pve:8006" });
    expect(m.json.message).toBe("authentication domain 'nope' does not exist\n");
    const l = await a.post("/access/openid/login", { state: "s", code: "c", "redirect-url": "https://pve:8006" });
    expect(l.status).toBe(401);
    expect(l.json.message).toBe("authentication failure\n");
    a.close();
    await sim.close();
  });

  it("path parameters are raw bytes, never UTF-8 decoded (errata 12)", async () => {
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    const c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
    expect((await c.send({ method: "POST", path: "/access/users", json: { userid: "jörg@pve" } })).status).toBe(200);
    const r = await c.get(`/access/users/${encodeURIComponent("jörg@pve")}`);
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("no such user ('jÃ¶rg@pve')\n");
    c.close();
    await sim.close();
  });

  it("password change by root ticket, then login with it", async () => {
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, rootPassword: "custom-root-pw", fixture: { users: [{ userid: "dave@pve" }] } });
    const a = new RawClient(sim.url, sim.certPem);
    expect((await a.post("/access/ticket", { username: "root@pam", password: "homelab-sim" })).status).toBe(401);
    const root = (await a.post("/access/ticket", { username: "root@pam", password: "custom-root-pw" })).json.data;
    const rt = a.withAuth({ ticket: root.ticket, csrf: root.CSRFPreventionToken });
    expect((await rt.put("/access/password", { userid: "dave@pve", password: "dave-password" })).status).toBe(200);
    expect((await a.post("/access/ticket", { username: "dave@pve", password: "dave-password" })).status).toBe(200);
    a.close();
    await sim.close();
  });
});

describe("visibility and case rules", () => {
  it("a plain user sees only themself in the user list and no groups; ldap case-sensitive=0 compares names case-insensitively", async () => {
    const sim = await startProxmoxSim({
      unauthorizedDelayMs: 0,
      fixture: {
        realms: [{ realm: "corp", type: "ldap", server1: "ldap.corp", base_dn: "dc=corp", user_attr: "uid", "case-sensitive": 0 }],
        users: [{ userid: "eve@pve", password: "eve-password", groups: ["g1"] }, { userid: "Frank@corp" }],
        roles: [],
      },
    });
    const a = new RawClient(sim.url, sim.certPem);
    const login = (await a.post("/access/ticket", { username: "eve@pve", password: "eve-password" })).json.data;
    const eve = a.withAuth({ ticket: login.ticket, csrf: login.CSRFPreventionToken });
    expect((await eve.get("/access/users")).json.data.map((u: { userid: string }) => u.userid)).toEqual(["eve@pve"]);
    expect((await eve.get("/access/groups")).json.data).toEqual([]);
    expect((await eve.get("/access/acl")).json.data).toEqual([]);
    expect((await eve.get("/access/roles")).status).toBe(200);

    const c = a.withAuth({ token: sim.adminToken });
    const dup = await c.post("/access/users", { userid: "frank@corp" });
    expect(dup.status).toBe(500);
    expect(dup.json.message).toBe("create user failed: user 'Frank@corp' already exists\n");
    // a role named "0" is accepted and silently dropped (errata 11)
    expect((await c.post("/access/roles", { roleid: "0" })).status).toBe(200);
    expect((await c.get("/access/roles/0")).status).toBe(500);
    a.close();
    await sim.close();
  });
});
