import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

let sim: ProxmoxSim;
let c: RawClient;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeAll(async () => {
  sim = await startProxmoxSim({
    unauthorizedDelayMs: 0,
    fixture: { groups: [{ groupid: "ops" }, { groupid: "dev" }, { groupid: "qa" }] },
  });
  c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
});
afterAll(async () => {
  c.close();
  await sim.close();
});

describe("users (spec 3.2)", () => {
  it("create, read and list with full=1", async () => {
    const r = await c.post("/access/users", {
      userid: "alice@pve", firstname: "Alice", lastname: "A", email: "alice@example.com", comment: "hi", groups: "ops,dev", expire: 4102444800, password: "alice-secret",
    });
    expect(r.status).toBe(200);
    const g = await c.get("/access/users/alice@pve");
    expect(g.json.data).toEqual({
      enable: 1, expire: 4102444800, firstname: "Alice", lastname: "A", email: "alice@example.com", comment: "hi",
      groups: ["dev", "ops"], tokens: null,
    });
    const list = (await c.get("/access/users", { full: 1 })).json.data as Array<Record<string, unknown>>;
    expect(list.find((u) => u.userid === "alice@pve")).toEqual({
      userid: "alice@pve", enable: 1, expire: 4102444800, firstname: "Alice", lastname: "A", email: "alice@example.com", comment: "hi",
      "realm-type": "pve", groups: "dev,ops", tokens: null,
    });
    const short = (await c.get("/access/users")).json.data as Array<Record<string, unknown>>;
    expect(short.find((u) => u.userid === "alice@pve")!.groups).toBeUndefined();
    expect(short.find((u) => u.userid === "root@pam")).toEqual({ userid: "root@pam", enable: 1, "realm-type": "pam" });
  });

  it("defaults: enable 1, expire 0; empty strings are not stored on create", async () => {
    await c.post("/access/users", { userid: "bare@pve", comment: "", firstname: "" });
    expect((await c.get("/access/users/bare@pve")).json.data).toEqual({ enable: 1, expire: 0, groups: [], tokens: null });
  });

  it("a user may be created in a realm that does not exist (without password)", async () => {
    expect((await c.post("/access/users", { userid: "x@norealm" })).status).toBe(200);
    const pw = await c.post("/access/users", { userid: "y@norealm", password: "password1" });
    expect(pw.status).toBe(500);
    expect(pw.json.message).toBe("create user failed: auth domain 'norealm' does not exist\n");
  });

  it("create errors: existing user, unknown group, password on openid", async () => {
    const dup = await c.post("/access/users", { userid: "alice@pve" });
    expect(dup.status).toBe(500);
    expect(dup.json.message).toBe("create user failed: user 'alice@pve' already exists\n");
    const grp = await c.post("/access/users", { userid: "nog@pve", groups: "ops,nosuch" });
    expect(grp.json.message).toBe("create user failed: no such group 'nosuch'\n");
    expect((await c.get("/access/users/nog@pve")).status).toBe(500);
    await c.post("/access/domains", { realm: "oidc", type: "openid", "issuer-url": "https://i", "client-id": "c" });
    const pw = await c.post("/access/users", { userid: "o@oidc", password: "password1" });
    expect(pw.json.message).toBe("create user failed: can't set password on auth type 'openid'\n");
  });

  it("update: only sent fields change, empty string clears, groups replace vs append", async () => {
    await c.put("/access/users/alice@pve", { firstname: "Alicia", comment: "" });
    let g = (await c.get("/access/users/alice@pve")).json.data;
    expect(g.firstname).toBe("Alicia");
    expect(g.lastname).toBe("A");
    expect(g.comment).toBeUndefined();

    await c.put("/access/users/alice@pve", { groups: "qa" });
    expect((await c.get("/access/users/alice@pve")).json.data.groups).toEqual(["qa"]);
    await c.put("/access/users/alice@pve", { groups: "ops", append: 1 });
    expect((await c.get("/access/users/alice@pve")).json.data.groups).toEqual(["ops", "qa"]);
    await c.put("/access/users/alice@pve", { groups: "" });
    expect((await c.get("/access/users/alice@pve")).json.data.groups).toEqual([]);
    // membership is visible from the group side too
    await c.put("/access/users/alice@pve", { groups: "dev" });
    expect((await c.get("/access/groups/dev")).json.data.members).toEqual(["alice@pve"]);

    const bad = await c.put("/access/users/alice@pve", { groups: "dev,nosuch" });
    expect(bad.status).toBe(500);
    expect(bad.json.message).toBe("update user failed: no such group 'nosuch'\n");
    expect((await c.get("/access/users/alice@pve")).json.data.groups).toEqual(["dev"]);
  });

  it("email '' shows up when comment or keys are set (errata 10)", async () => {
    await c.put("/access/users/alice@pve", { email: "", comment: "c" });
    expect((await c.get("/access/users/alice@pve")).json.data.email).toBe("");
    await c.put("/access/users/alice@pve", { comment: "" });
    expect((await c.get("/access/users/alice@pve")).json.data.email).toBeUndefined();
  });

  it("enabled filter", async () => {
    await c.post("/access/users", { userid: "disabled@pve", enable: 0 });
    const on = (await c.get("/access/users", { enabled: 1 })).json.data.map((u: { userid: string }) => u.userid);
    const off = (await c.get("/access/users", { enabled: 0 })).json.data.map((u: { userid: string }) => u.userid);
    expect(on).not.toContain("disabled@pve");
    expect(off).toEqual(["disabled@pve"]);
  });

  it("missing user: read and update are 500 'no such user'", async () => {
    const r = await c.get("/access/users/ghost@pve");
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("no such user ('ghost@pve')\n");
    const u = await c.put("/access/users/ghost@pve", { comment: "x" });
    expect(u.status).toBe(500);
    expect(u.json.message).toBe("no such user ('ghost@pve')\n");
  });

  it("the user list is sorted, never shuffled (errata 16)", async () => {
    const ids = (await c.get("/access/users")).json.data.map((u: { userid: string }) => u.userid);
    expect(ids).toEqual([...ids].sort());
    expect(ids.length).toBeGreaterThan(4);
  });

  it("deleting root@pam re-creates it as {enable: 1} without expire (errata 13)", async () => {
    const s = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    const k = new RawClient(s.url, s.certPem, { token: s.adminToken });
    await k.put("/access/users/root@pam", { email: "root@example.com" });
    expect((await k.delete("/access/users/root@pam")).status).toBe(200);
    // the admin token went with it
    expect((await k.get("/access/users/root@pam")).status).toBe(401);
    expect(s.state().users).toEqual([{ userid: "root@pam", enable: 1, groups: [] }]);
    k.close();
    await s.close();
  });
});

describe("API tokens (spec 3.3, errata 4, 8)", () => {
  it("create returns the secret once; info echoes strings, a defaulted privsep is the number 1", async () => {
    const r = await c.post("/access/users/alice@pve/token/deploy", { privsep: 1, comment: "ci" });
    expect(r.status).toBe(200);
    expect(r.json.data).toEqual({ "full-tokenid": "alice@pve!deploy", info: { privsep: "1", comment: "ci" }, value: expect.stringMatching(UUID) });
    const d = await c.send({ method: "POST", path: "/access/users/alice@pve/token/def", json: {} });
    expect(d.json.data.info).toEqual({ privsep: 1 });
    const e = await c.send({ method: "POST", path: "/access/users/alice@pve/token/exp", json: { expire: 4102444800, privsep: false } });
    expect(e.json.data.info).toEqual({ privsep: "0", expire: "4102444800" });
    // the secret works
    const t = c.withAuth({ token: { id: "alice@pve!deploy", secret: r.json.data.value } });
    expect((await t.get("/access/roles")).status).toBe(200);
  });

  it("existing token: 400 errors.tokenid", async () => {
    const r = await c.post("/access/users/alice@pve/token/deploy");
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ data: null, message: "Parameter verification failed.\n", errors: { tokenid: "Token already exists." } });
  });

  it("list, read, and the user reads show token metadata only", async () => {
    const list = (await c.get("/access/users/alice@pve/token")).json.data as Array<{ tokenid: string }>;
    expect(list.map((t) => t.tokenid).sort()).toEqual(["def", "deploy", "exp"]);
    expect(list.find((t) => t.tokenid === "deploy")).toEqual({ tokenid: "deploy", privsep: 1, expire: 0, comment: "ci" });
    expect((await c.get("/access/users/alice@pve/token/exp")).json.data).toEqual({ privsep: 0, expire: 4102444800 });
    const user = (await c.get("/access/users/alice@pve")).json.data;
    expect(user.tokens).toEqual({
      deploy: { privsep: 1, expire: 0, comment: "ci" },
      def: { privsep: 1, expire: 0 },
      exp: { privsep: 0, expire: 4102444800 },
    });
    const full = (await c.get("/access/users", { full: 1 })).json.data.find((u: { userid: string }) => u.userid === "alice@pve");
    expect(full.tokens).toHaveLength(3);
    expect(JSON.stringify(full)).not.toMatch(UUID);
    const missing = await c.get("/access/users/alice@pve/token/nope");
    expect(missing.status).toBe(500);
    expect(missing.json.message).toBe("no such token 'nope' for user 'alice@pve'\n");
  });

  it("update: strings echoed, comment cleared by '' or delete=comment, unknown delete names refused", async () => {
    const r = await c.put("/access/users/alice@pve/token/deploy", { privsep: 0, expire: 4102444800 });
    expect(r.json.data).toEqual({ privsep: "0", expire: "4102444800", comment: "ci" });
    const cl = await c.put("/access/users/alice@pve/token/deploy", { comment: "" });
    expect(cl.json.data).toEqual({ privsep: 0, expire: 4102444800 });
    await c.put("/access/users/alice@pve/token/deploy", { comment: "again" });
    const dl = await c.put("/access/users/alice@pve/token/deploy", { delete: "comment" });
    expect(dl.json.data.comment).toBeUndefined();
    const bad = await c.put("/access/users/alice@pve/token/deploy", { delete: "privsep" });
    expect(bad.status).toBe(500);
    expect(bad.json.message).toBe("delete: unknown option 'privsep'\n");
    for (const v of ["", "0"]) {
      const e = await c.put("/access/users/alice@pve/token/deploy", { delete: v });
      expect(e.status).toBe(500);
    }
    const missing = await c.put("/access/users/alice@pve/token/nope", { comment: "x" });
    expect(missing.json.message).toBe("no such token 'nope' for user 'alice@pve'\n");
  });

  it("regenerate returns a new secret; the old one stops working; ACL entries stay", async () => {
    const created = await c.post("/access/users/alice@pve/token/rot", { privsep: 0 });
    const old = created.json.data.value as string;
    await c.put("/access/acl", { path: "/vms", roles: "PVEVMUser", tokens: "alice@pve!rot" });
    const r = await c.put("/access/users/alice@pve/token/rot", { regenerate: 1 });
    expect(r.status).toBe(200);
    expect(r.json.data).toEqual({ privsep: 0, expire: 0, "full-tokenid": "alice@pve!rot", value: expect.stringMatching(UUID) });
    expect(r.json.data.value).not.toBe(old);
    expect((await c.withAuth({ token: { id: "alice@pve!rot", secret: old } }).get("/access/roles")).status).toBe(401);
    expect((await c.withAuth({ token: { id: "alice@pve!rot", secret: r.json.data.value } }).get("/access/roles")).status).toBe(200);
    const acl = (await c.get("/access/acl")).json.data;
    expect(acl).toContainEqual({ path: "/vms", type: "token", ugid: "alice@pve!rot", roleid: "PVEVMUser", propagate: 1 });
  });

  it("delete removes the token and its ACL entries (spec 5.3)", async () => {
    const r = await c.delete("/access/users/alice@pve/token/rot");
    expect(r.status).toBe(200);
    expect((await c.get("/access/users/alice@pve/token/rot")).status).toBe(500);
    const acl = (await c.get("/access/acl")).json.data as Array<{ ugid: string }>;
    expect(acl.some((e) => e.ugid === "alice@pve!rot")).toBe(false);
    const again = await c.delete("/access/users/alice@pve/token/rot");
    expect(again.json.message).toBe("no such token 'rot' for user 'alice@pve'\n");
  });

  it("a token can manage its own user's tokens only with User.Modify (never 'self')", async () => {
    const own = await c.post("/access/users/bare@pve/token/selfish", { privsep: 0 });
    const t = c.withAuth({ token: { id: "bare@pve!selfish", secret: own.json.data.value } });
    const r = await t.get("/access/users/bare@pve/token");
    expect(r.status).toBe(403);
  });

  it("createToken helper", async () => {
    const tk = sim.createToken("bare@pve", "helper", { privsep: 0 });
    expect(tk.id).toBe("bare@pve!helper");
    expect(tk.secret).toMatch(UUID);
    expect(() => sim.createToken("bare@pve", "helper")).toThrow(/already exists/);
    expect(() => sim.createToken("ghost@pve", "x1")).toThrow(/no such user/);
  });
});

describe("user delete cascades (spec 3.2, 5.3)", () => {
  it("removes memberships, ACL entries, tokens and their ACL entries", async () => {
    await c.post("/access/users", { userid: "gone@pve", groups: "ops" });
    await c.post("/access/users/gone@pve/token/t1");
    await c.put("/access/acl", { path: "/", roles: "PVEAuditor", users: "gone@pve" });
    await c.put("/access/acl", { path: "/storage", roles: "PVEAuditor", tokens: "gone@pve!t1" });
    expect((await c.delete("/access/users/gone@pve")).status).toBe(200);
    const acl = (await c.get("/access/acl")).json.data as Array<{ ugid: string }>;
    expect(acl.filter((e) => e.ugid.startsWith("gone@pve"))).toEqual([]);
    expect((await c.get("/access/groups/ops")).json.data.members).not.toContain("gone@pve");
    const again = await c.delete("/access/users/gone@pve");
    expect(again.status).toBe(500);
    expect(again.json.message).toBe("no such user ('gone@pve')\n");
    // re-created user does not inherit anything
    await c.post("/access/users", { userid: "gone@pve" });
    expect((await c.get("/access/users/gone@pve")).json.data).toEqual({ enable: 1, expire: 0, groups: [], tokens: null });
  });
});
