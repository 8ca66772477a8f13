import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

let sim: ProxmoxSim;
let c: RawClient;
beforeAll(async () => {
  sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
  c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
});
afterAll(async () => {
  c.close();
  await sim.close();
});

const oidc = {
  realm: "oidc",
  type: "openid",
  "issuer-url": "https://idp.example/realms/x",
  "client-id": "pve",
  "client-key": "s3cret",
  "username-claim": "preferred_username",
  autocreate: 1,
  "groups-claim": "groups",
  "groups-autocreate": 1,
};

describe("fresh install (spec 7, 3.1.1)", () => {
  it("lists pam and pve with their default comments and no default flag", async () => {
    const r = await c.withAuth("none").get("/access/domains");
    const byRealm = Object.fromEntries(r.json.data.map((d: { realm: string }) => [d.realm, d]));
    expect(byRealm).toEqual({
      pam: { realm: "pam", type: "pam", comment: "Linux PAM standard authentication" },
      pve: { realm: "pve", type: "pve", comment: "Proxmox VE authentication server" },
    });
  });

  it("the pam realm read carries plugin and digest", async () => {
    const r = await c.get("/access/domains/pam");
    expect(r.json.data).toEqual({
      type: "pam",
      comment: "Linux PAM standard authentication",
      plugin: "PVE::Auth::PAM",
      digest: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
  });
});

describe("create and read an OpenID realm (spec 3.1.2, 3.1.3, 11)", () => {
  it("creates, then GET returns every option incl. client-key, no realm key, and a digest", async () => {
    const r = await c.send({ method: "POST", path: "/access/domains", json: oidc });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ data: null });
    const g = await c.get("/access/domains/oidc");
    const { realm: _realm, ...opts } = oidc;
    expect(g.json.data).toEqual({ ...opts, digest: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(g.json.data.realm).toBeUndefined();
  });

  it("client-key is in the read exactly when the realm has one (issue 14; spec 3.1.3)", async () => {
    const { "client-key": _key, ...keyless } = { ...oidc, realm: "nokey" };
    expect((await c.send({ method: "POST", path: "/access/domains", json: keyless })).status).toBe(200);
    expect("client-key" in (await c.get("/access/domains/nokey")).json.data).toBe(false);
    expect((await c.put("/access/domains/nokey", { "client-key": "k2" })).status).toBe(200);
    expect((await c.get("/access/domains/nokey")).json.data["client-key"]).toBe("k2");
    expect((await c.put("/access/domains/nokey", { delete: "client-key" })).status).toBe(200);
    expect("client-key" in (await c.get("/access/domains/nokey")).json.data).toBe(false);
    expect((await c.send({ method: "DELETE", path: "/access/domains/nokey" })).status).toBe(200);
  });

  it("existing realm, pam/pve names and builtin types are refused", async () => {
    const dup = await c.send({ method: "POST", path: "/access/domains", json: oidc });
    expect(dup.status).toBe(500);
    expect(dup.json.message).toBe("add auth server failed: domain 'oidc' already exists\n");
    const pam = await c.post("/access/domains", { realm: "pam", type: "openid", "issuer-url": "x", "client-id": "y" });
    expect(pam.json.message).toBe("add auth server failed: domain 'pam' already exists\n");
    const t = await c.post("/access/domains", { realm: "mypve", type: "pve" });
    expect(t.status).toBe(500);
    expect(t.json.message).toBe("add auth server failed: unable to create builtin type 'pve'\n");
  });

  it("per-type required and unexpected options (3.1.2); tfa is refused for openid", async () => {
    const miss = await c.post("/access/domains", { realm: "o2", type: "openid", "client-id": "x" });
    expect(miss.status).toBe(500);
    expect(miss.json.message).toBe("add auth server failed: missing value for required option 'issuer-url'\n");
    const tfa = await c.post("/access/domains", { realm: "o2", type: "openid", "issuer-url": "https://i", "client-id": "x", tfa: "type=oath" });
    expect(tfa.status).toBe(500);
    expect(tfa.json.message).toBe("add auth server failed: unexpected property 'tfa'\n");
    const ldapOpt = await c.post("/access/domains", { realm: "o2", type: "openid", "issuer-url": "https://i", "client-id": "x", base_dn: "dc=x" });
    expect(ldapOpt.json.message).toBe("add auth server failed: unexpected property 'base_dn'\n");
    const ldapMiss = await c.post("/access/domains", { realm: "l1", type: "ldap", server1: "ldap.example", base_dn: "dc=x" });
    expect(ldapMiss.json.message).toBe("add auth server failed: missing value for required option 'user_attr'\n");
    const cc = await c.post("/access/domains", { realm: "o2", type: "openid", "issuer-url": "https://i", "client-id": "x", "check-connection": 0 });
    expect(cc.json.message).toBe("add auth server failed: 'check-connection' parameter can only be set for realms of type 'ldap' or 'ad'\n");
    expect(sim.state().realms.map((r) => r.realm)).toEqual(["oidc", "pam", "pve"]);
  });

  it("JSON null for an option is a 500 (errata 6)", async () => {
    const r = await c.send({ method: "POST", path: "/access/domains", json: { realm: "o3", type: "openid", "issuer-url": "https://i", "client-id": "x", comment: null } });
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("add auth server failed: got undefined value for option 'comment'\n");
  });

  it("ldap and ad realms: the bind password is never returned", async () => {
    const l = await c.post("/access/domains", { realm: "corp", type: "ldap", server1: "10.0.0.5", base_dn: "dc=corp", user_attr: "uid", password: "bindpw", port: 636, mode: "ldaps" });
    expect(l.status).toBe(200);
    const g = await c.get("/access/domains/corp");
    expect(g.json.data).toEqual({
      type: "ldap", server1: "10.0.0.5", base_dn: "dc=corp", user_attr: "uid", port: 636, mode: "ldaps",
      digest: expect.any(String),
    });
    const ad = await c.post("/access/domains", { realm: "win", type: "ad", server1: "dc1.corp.example", domain: "corp.example" });
    expect(ad.status).toBe(200);
  });

  it("default=1 clears default on every other realm; list shows default and tfa type", async () => {
    await c.put("/access/domains/pve", { default: 1, tfa: "type=oath,digits=8" });
    await c.put("/access/domains/oidc", { default: 1 });
    const list = (await c.get("/access/domains")).json.data as Array<Record<string, unknown>>;
    const by = Object.fromEntries(list.map((d) => [d.realm, d]));
    expect(by.oidc!.default).toBe(1);
    expect(by.pve!.default).toBeUndefined();
    expect(by.pve!.tfa).toBe("oath");
    expect((await c.get("/access/domains/pve")).json.data.default).toBeUndefined();
  });

  it("missing realm read is a 500", async () => {
    const r = await c.get("/access/domains/nope");
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("domain 'nope' does not exist\n");
  });

  it("fixtures are validated like the API", async () => {
    await expect(startProxmoxSim({ fixture: { realms: [{ realm: "o", type: "openid" }] } })).rejects.toThrow("invalid realm id 'o'");
    await expect(startProxmoxSim({ fixture: { realms: [{ realm: "oo", type: "openid", "client-id": "c" }] } })).rejects.toThrow(
      "missing value for required option 'issuer-url'",
    );
    await expect(startProxmoxSim({ fixture: { realms: [{ realm: "oo", type: "openid", "client-id": "c", "issuer-url": "i", tfa: "type=oath" }] } })).rejects.toThrow(
      "unexpected property 'tfa'",
    );
  });

  it("omitClientKey hides client-key from the read (spec 3.1.3 switch)", async () => {
    const s = await startProxmoxSim({ unauthorizedDelayMs: 0, omitClientKey: true, fixture: { realms: [{ realm: "oo", type: "openid", "issuer-url": "https://i", "client-id": "c", "client-key": "k" }] } });
    const k = new RawClient(s.url, s.certPem, { token: s.adminToken });
    const g = await k.get("/access/domains/oo");
    expect(g.json.data["client-key"]).toBeUndefined();
    expect(g.json.data["client-id"]).toBe("c");
    k.close();
    await s.close();
  });
});

describe("update (spec 3.1.4, 1.6, errata 1, 2, 5)", () => {
  it("changes only the sent options; delete removes keys first", async () => {
    const before = (await c.get("/access/domains/oidc")).json.data;
    const r = await c.put("/access/domains/oidc", { comment: "Corporate SSO", delete: "groups-autocreate", digest: before.digest });
    expect(r.status).toBe(200);
    const after = (await c.get("/access/domains/oidc")).json.data;
    expect(after.comment).toBe("Corporate SSO");
    expect(after["groups-autocreate"]).toBeUndefined();
    expect(after["client-key"]).toBe("s3cret");
    expect(after.digest).not.toBe(before.digest);
  });

  it("the digest changes whenever any realm changes; a stale digest is a 500", async () => {
    const d1 = (await c.get("/access/domains/oidc")).json.data.digest;
    expect((await c.get("/access/domains/pam")).json.data.digest).toBe(d1); // one file, one digest
    await c.put("/access/domains/pam", { comment: "PAM" });
    const d2 = (await c.get("/access/domains/oidc")).json.data.digest;
    expect(d2).not.toBe(d1);
    const stale = await c.put("/access/domains/oidc", { comment: "x", digest: d1 });
    expect(stale.status).toBe(500);
    expect(stale.json.message).toBe(
      "update auth server failed: detected modified configuration - file changed by other user? Try again.\n",
    );
    expect((await c.get("/access/domains/oidc")).json.data.comment).toBe("Corporate SSO");
  });

  it("username-claim cannot be sent on update, even unchanged: 400 (errata 2)", async () => {
    const r = await c.put("/access/domains/oidc", { "username-claim": "preferred_username" });
    expect(r.status).toBe(400);
    expect(r.json.errors).toEqual({
      "username-claim": "property is not defined in schema and the schema does not allow additional properties",
    });
  });

  it("type cannot be sent; no options is a 500; unexpected options are a 500", async () => {
    expect((await c.put("/access/domains/oidc", { type: "openid" })).status).toBe(400);
    const none = await c.put("/access/domains/oidc", {});
    expect(none.status).toBe(500);
    expect(none.json.message).toBe("update auth server failed: no options specified\n");
    const tfa = await c.put("/access/domains/oidc", { tfa: "type=oath" });
    expect(tfa.status).toBe(500);
    expect(tfa.json.message).toBe("update auth server failed: unexpected property 'tfa'\n");
    const bad = await c.put("/access/domains/pve", { "issuer-url": "https://x" });
    expect(bad.json.message).toBe("update auth server failed: unexpected property 'issuer-url'\n");
  });

  it("deleting a required option fails and changes nothing (errata 5)", async () => {
    const r = await c.put("/access/domains/oidc", { delete: "issuer-url", comment: "changed" });
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("update auth server failed: missing value for required option 'issuer-url'\n");
    const g = (await c.get("/access/domains/oidc")).json.data;
    expect(g["issuer-url"]).toBe("https://idp.example/realms/x");
    expect(g.comment).toBe("Corporate SSO");
  });

  it("PUT on a missing realm: 'cannot lookup undefined type' (errata 1), unless an earlier check fails", async () => {
    const r = await c.put("/access/domains/ghost", { comment: "x" });
    expect(r.status).toBe(500);
    expect(r.json.message).toMatch(/^update auth server failed: cannot lookup undefined type!/);
    const none = await c.put("/access/domains/ghost", {});
    expect(none.json.message).toBe("update auth server failed: no options specified\n");
    const dig = await c.put("/access/domains/ghost", { comment: "x", digest: "0".repeat(40) });
    expect(dig.json.message).toMatch(/detected modified configuration/);
    expect(sim.state().realms.some((x) => x.realm === "ghost")).toBe(false);
  });

  it("audiences (9.1.1) is accepted and stored", async () => {
    expect((await c.put("/access/domains/oidc", { audiences: "api://a,api://b" })).status).toBe(200);
    expect((await c.get("/access/domains/oidc")).json.data.audiences).toBe("api://a,api://b");
  });
});

describe("delete (spec 3.1.6)", () => {
  it("keeps the realm's users; missing realm is a 500", async () => {
    await c.post("/access/users", { userid: "jane@oidc" });
    const r = await c.delete("/access/domains/oidc");
    expect(r.status).toBe(200);
    expect((await c.get("/access/users/jane@oidc")).status).toBe(200);
    const users = (await c.get("/access/users")).json.data as Array<Record<string, unknown>>;
    const jane = users.find((u) => u.userid === "jane@oidc")!;
    expect(jane["realm-type"]).toBeUndefined();
    const again = await c.delete("/access/domains/oidc");
    expect(again.status).toBe(500);
    expect(again.json.message).toBe("delete auth server failed: authentication domain 'oidc' does not exist\n");
  });

  it("deleting pam or pve resets them", async () => {
    await c.put("/access/domains/pve", { comment: "custom", default: 1 });
    expect((await c.delete("/access/domains/pve")).status).toBe(200);
    const g = (await c.get("/access/domains/pve")).json.data;
    expect(g.comment).toBe("Proxmox VE authentication server");
    expect(g.default).toBeUndefined();
    expect(g.tfa).toBeUndefined();
  });
});

describe("sync (spec 3.1.7)", () => {
  it("refuses non-LDAP realms and unknown realms; returns a UPID for ldap", async () => {
    const p = await c.post("/access/domains/pve/sync", { scope: "users" });
    expect(p.status).toBe(500);
    expect(p.json.message).toBe("Cannot sync realm type 'pve'! Only LDAP/AD realms can be synced.\n");
    const u = await c.post("/access/domains/nope/sync", { scope: "users" });
    expect(u.status).toBe(400);
    expect(u.json.errors).toEqual({ realm: "Realm does not exist." });
    const s = await c.post("/access/domains/corp/sync", { scope: "both", "dry-run": 1 });
    expect(s.status).toBe(200);
    expect(s.json.data).toMatch(/^UPID:/);
    const noScope = await c.post("/access/domains/corp/sync", {});
    expect(noScope.status).toBe(400);
    expect(Object.keys(noScope.json.errors)).toEqual(["scope"]);
  });
});
