import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startProxmoxSim, DEFAULT_ROOT_PASSWORD, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

let sim: ProxmoxSim;
let c: RawClient;
let anon: RawClient;
const now = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  sim = await startProxmoxSim({
    unauthorizedDelayMs: 0,
    fixture: {
      groups: [{ groupid: "g1" }, { groupid: "g2" }],
      users: [
        { userid: "alice@pve", groups: ["g1"], password: "alice-password" },
        { userid: "bob@pve", groups: ["g1"] },
        { userid: "carol@pve", groups: ["g2"] },
        { userid: "off@pve", enable: 0 },
        { userid: "old@pve", expire: now - 3600 },
        { userid: "audit@pve" },
        { userid: "gadmin@pve" },
      ],
      tokens: [
        { userid: "off@pve", tokenid: "t1", secret: "11111111-1111-4111-8111-111111111111" },
        { userid: "old@pve", tokenid: "t1", secret: "22222222-2222-4222-8222-222222222222" },
        { userid: "bob@pve", tokenid: "gone", expire: now - 10, secret: "33333333-3333-4333-8333-333333333333" },
        { userid: "audit@pve", tokenid: "sep", privsep: 1, secret: "44444444-4444-4444-8444-444444444444" },
        { userid: "audit@pve", tokenid: "full", privsep: 0, secret: "55555555-5555-4555-8555-555555555555" },
        { userid: "audit@pve", tokenid: "sepadm", privsep: 1, secret: "66666666-6666-4666-8666-666666666666" },
        { userid: "gadmin@pve", tokenid: "tk", privsep: 0, secret: "77777777-7777-4777-8777-777777777777" },
      ],
      acl: [
        { path: "/", type: "user", ugid: "audit@pve", roleid: "PVEAuditor" },
        { path: "/", type: "token", ugid: "audit@pve!sepadm", roleid: "Administrator" },
        { path: "/access/groups/g1", type: "user", ugid: "gadmin@pve", roleid: "PVEUserAdmin" },
      ],
    },
  });
  c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
  anon = c.withAuth("none");
});
afterAll(async () => {
  c.close();
  await sim.close();
});

const tok = (id: string, secret: string) => c.withAuth({ token: { id, secret } });

describe("401 shapes (spec 2.4, errata 14, 17)", () => {
  it("no credentials: 401 'No ticket' with an empty body", async () => {
    const r = await anon.get("/access/users");
    expect(r.status).toBe(401);
    expect(r.statusMessage).toBe("No ticket");
    expect(r.text).toBe("");
  });

  it("a wrong secret or unknown token: 401 'Authentication failed!' with an empty body", async () => {
    const r = await tok(sim.adminToken.id, "00000000-0000-4000-8000-000000000000").get("/access/users");
    expect(r.status).toBe(401);
    expect(r.statusMessage).toBe("Authentication failed!");
    expect(r.text).toBe("");
    expect((await tok("root@pam!nope", sim.adminToken.secret).get("/access/users")).status).toBe(401);
  });

  it("header variants: space instead of '=', URL-encoded value; ':' separator refused", async () => {
    const { id, secret } = sim.adminToken;
    const hdr = (v: string) => c.send({ method: "GET", path: "/access/users", auth: "none", headers: { Authorization: v } });
    expect((await hdr(`PVEAPIToken=${id}=${secret}`)).status).toBe(200);
    expect((await hdr(`PVEAPIToken ${id}=${secret}`)).status).toBe(200);
    expect((await hdr(`PVEAPIToken=${encodeURIComponent(`${id}=${secret}`)}`)).status).toBe(200);
    expect((await hdr(`PVEAPIToken=${id}:${secret}`)).status).toBe(401);
    expect((await hdr(`Bearer ${secret}`)).status).toBe(401);
  });

  it("disabled or expired owners and expired tokens are refused", async () => {
    expect((await tok("off@pve!t1", "11111111-1111-4111-8111-111111111111").get("/access/roles")).status).toBe(401);
    expect((await tok("old@pve!t1", "22222222-2222-4222-8222-222222222222").get("/access/roles")).status).toBe(401);
    expect((await tok("bob@pve!gone", "33333333-3333-4333-8333-333333333333").get("/access/roles")).status).toBe(401);
  });

  it("401s are delayed (default about 3 s; configurable)", async () => {
    const s = await startProxmoxSim({ unauthorizedDelayMs: 250 });
    const k = new RawClient(s.url, s.certPem);
    const t0 = Date.now();
    const r = await k.get("/access/users");
    expect(r.status).toBe(401);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
    const t1 = Date.now();
    expect((await k.get("/access/domains")).status).toBe(200);
    expect(Date.now() - t1).toBeLessThan(240);
    k.close();
    await s.close();
  });

  it("GET /access/domains needs no auth, and ignores bad credentials", async () => {
    expect((await anon.get("/access/domains")).status).toBe(200);
    expect((await tok("root@pam!nope", "x").get("/access/domains")).status).toBe(200);
  });
});

describe("tickets and CSRF (spec 2.2)", () => {
  it("root@pam logs in with the default password and skips permission checks", async () => {
    const r = await anon.post("/access/ticket", { username: "root@pam", password: DEFAULT_ROOT_PASSWORD });
    expect(r.status).toBe(200);
    const d = r.json.data;
    expect(d.username).toBe("root@pam");
    expect(d.ticket).toMatch(/^PVE:root@pam:[0-9A-F]{8}::.+$/);
    expect(d.CSRFPreventionToken).toMatch(/^[0-9A-F]{8}:.+$/);
    expect(d.cap.access["Permissions.Modify"]).toBe(1);

    const t = anon.withAuth({ ticket: d.ticket });
    expect((await t.get("/access/users")).status).toBe(200);
    // non-GET without CSRF token: 401 with empty body
    const noCsrf = await t.post("/access/groups", { groupid: "tk1" });
    expect(noCsrf.status).toBe(401);
    expect(noCsrf.statusMessage).toBe("Permission denied - invalid csrf token");
    expect(noCsrf.text).toBe("");
    const badCsrf = await anon.withAuth({ ticket: d.ticket, csrf: "00000000:abc" }).post("/access/groups", { groupid: "tk1" });
    expect(badCsrf.status).toBe(401);
    const tc = anon.withAuth({ ticket: d.ticket, csrf: d.CSRFPreventionToken });
    expect((await tc.post("/access/groups", { groupid: "tk1" })).status).toBe(200);

    // A root@pam ticket never checks existence on user delete: 200/null (spec 5.2) ...
    const del = await tc.delete("/access/users/ghost@pve");
    expect(del.status).toBe(200);
    expect(del.json).toEqual({ data: null });
    // ... while a root@pam token fails in the permission check.
    const del2 = await c.delete("/access/users/ghost@pve");
    expect(del2.status).toBe(500);
    expect(del2.json.message).toBe("no such user ('ghost@pve')\n");
    // token calls on a missing user: 403 for tokens, 500 for a root ticket (spec 3.3)
    const tk = await c.get("/access/users/ghost@pve/token");
    expect(tk.status).toBe(403);
    expect(tk.json.message).toBe("Permission check failed\n");
    const tk2 = await tc.get("/access/users/ghost@pve/token");
    expect(tk2.status).toBe(500);
    expect(tk2.json.message).toBe("no such user ('ghost@pve')\n");
    // Authorization: PVEAuthCookie=<ticket> also works
    const viaHeader = await anon.send({ method: "GET", path: "/access/roles", headers: { Authorization: `PVEAuthCookie=${d.ticket}` } });
    expect(viaHeader.status).toBe(200);
    // renew: a valid ticket as password
    const renew = await anon.post("/access/ticket", { username: "root@pam", password: d.ticket });
    expect(renew.status).toBe(200);
  });

  it("realm parameter is appended; pve users log in with their password", async () => {
    const r = await anon.post("/access/ticket", { username: "alice", realm: "pve", password: "alice-password" });
    expect(r.status).toBe(200);
    expect(r.json.data.username).toBe("alice@pve");
    const t = anon.withAuth({ ticket: r.json.data.ticket, csrf: r.json.data.CSRFPreventionToken });
    // alice has no rights: permission checks apply to her ticket
    const g = await t.post("/access/groups", { groupid: "alice-g" });
    expect(g.status).toBe(403);
    expect(g.json.message).toBe("Permission check failed (/access/groups, Group.Allocate)\n");
  });

  it("a failed login is a 401 with the JSON envelope", async () => {
    const r = await anon.post("/access/ticket", { username: "root@pam", password: "wrong" });
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ data: null, message: "authentication failure\n" });
    expect((await anon.post("/access/ticket", { username: "bob@pve", password: "whatever" })).status).toBe(401);
  });

  it("tokens cannot log in or change passwords (allowtoken 0): 403", async () => {
    const r = await c.post("/access/ticket", { username: "root@pam", password: DEFAULT_ROOT_PASSWORD });
    expect(r.status).toBe(403);
    expect(r.json.message).toBe(
      "Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.)\n",
    );
    const p = await c.put("/access/password", { userid: "alice@pve", password: "new-password" });
    expect(p.status).toBe(403);
    expect(p.json.message).toContain("not available with API token");
  });
});

describe("permissions and privilege separation (spec 2.3, 2.5, 5.5)", () => {
  const sep = () => tok("audit@pve!sep", "44444444-4444-4444-8444-444444444444");
  const full = () => tok("audit@pve!full", "55555555-5555-4555-8555-555555555555");
  const sepadm = () => tok("audit@pve!sepadm", "66666666-6666-4666-8666-666666666666");

  it("a privsep token without ACL entries has no rights at all", async () => {
    const r = await sep().get("/access/groups/g1");
    expect(r.status).toBe(403);
    expect(r.json.message).toBe("Permission check failed (/access/groups, Sys.Audit|Group.Allocate)\n");
    const d = await sep().get("/access/domains/pve");
    expect(d.status).toBe(403);
    expect(d.json.message).toBe("Permission check failed (/access/realm, Realm.Allocate|Sys.Audit)\n");
  });

  it("a privsep=0 token has exactly its user's rights", async () => {
    expect((await full().get("/access/groups/g1")).status).toBe(200);
    const w = await full().post("/access/groups", { groupid: "nope" });
    expect(w.status).toBe(403);
    expect(w.json.message).toBe("Permission check failed (/access/groups, Group.Allocate)\n");
  });

  it("a privsep token gets the intersection of its ACL and its user's privileges", async () => {
    // token has Administrator on /, user only PVEAuditor: reads pass, writes do not
    expect((await sepadm().get("/access/groups/g1")).status).toBe(200);
    const w = await sepadm().post("/access/roles", { roleid: "Nope" });
    expect(w.status).toBe(403);
    expect(w.json.message).toBe("Permission check failed (/access, Sys.Modify)\n");
    const perms = await c.get("/access/permissions", { userid: "audit@pve!sepadm", path: "/" });
    expect(Object.keys(perms.json.data["/"]).sort()).toEqual(
      ["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit", "VM.GuestAgent.Audit"],
    );
  });

  it("permission checks run before validation: a malformed userid is a raw 500 for tokens (errata 3)", async () => {
    const r = await sep().post("/access/users", { userid: "ab" });
    expect(r.status).toBe(500);
    expect(r.json.message).toBe("user name 'ab' is too short\n");
    const root = await anon.post("/access/ticket", { username: "root@pam", password: DEFAULT_ROOT_PASSWORD });
    const t = anon.withAuth({ ticket: root.json.data.ticket, csrf: root.json.data.CSRFPreventionToken });
    const v = await t.post("/access/users", { userid: "ab" });
    expect(v.status).toBe(400);
    expect(v.json.errors).toEqual({ userid: "invalid format - user name 'ab' is too short\n" });
  });

  it("userid-group: User.Modify on one group lets a caller manage that group's users only", async () => {
    const g = tok("gadmin@pve!tk", "77777777-7777-4777-8777-777777777777");
    expect((await g.get("/access/users/bob@pve")).status).toBe(200);
    const other = await g.get("/access/users/carol@pve");
    expect(other.status).toBe(403);
    // partial list: g1 members plus nobody else (a token is never "self")
    const list = await g.get("/access/users");
    expect(list.json.data.map((u: { userid: string }) => u.userid)).toEqual(["alice@pve", "bob@pve"]);
    // creating a user in g2 is refused with the group path
    const cr = await g.post("/access/users", { userid: "new@pve", groups: "g2" });
    expect(cr.status).toBe(403);
    expect(cr.json.message).toBe("Permission check failed (/access/realm/pve, Realm.AllocateUser)\n");
  });

  it("GET /access/permissions reports effective privileges", async () => {
    const r = await c.get("/access/permissions", { userid: "gadmin@pve", path: "/access/groups/g1" });
    expect(r.json.data).toEqual({
      "/access/groups/g1": { "Group.Allocate": 1, "Realm.AllocateUser": 1, "User.Modify": 1 },
    });
    const none = await c.get("/access/permissions", { userid: "carol@pve" });
    expect(none.json.data).toEqual({});
    const rootp = await c.get("/access/permissions", { path: "/vms" });
    expect(Object.keys(rootp.json.data["/vms"]).length).toBe(47);
  });
});
