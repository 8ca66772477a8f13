import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

let sim: ProxmoxSim;
let c: RawClient;
beforeAll(async () => {
  sim = await startProxmoxSim({
    unauthorizedDelayMs: 0,
    fixture: {
      users: [{ userid: "alice@pve" }, { userid: "bob@pve" }, { userid: "vmadm@pve" }],
      groups: [{ groupid: "ops" }],
      tokens: [{ userid: "alice@pve", tokenid: "ci", secret: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa" }, { userid: "vmadm@pve", tokenid: "tk", privsep: 0, secret: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb" }],
      acl: [{ path: "/vms", type: "user", ugid: "vmadm@pve", roleid: "PVEVMAdmin" }],
    },
  });
  c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
});
afterAll(async () => {
  c.close();
  await sim.close();
});

type Entry = { path: string; type: string; ugid: string; roleid: string; propagate: number };
const aclAt = async (path: string): Promise<Entry[]> =>
  ((await c.get("/access/acl")).json.data as Entry[])
    .filter((e) => e.path === path)
    .sort((a, b) => `${a.type}${a.ugid}${a.roleid}`.localeCompare(`${b.type}${b.ugid}${b.roleid}`));

describe("PUT /access/acl add (spec 3.6, 5.4)", () => {
  it("adds every role × principal combination, propagate defaults to 1", async () => {
    const r = await c.put("/access/acl", { path: "/storage/local", roles: "PVEDatastoreUser,PVEAuditor", users: "alice@pve,bob@pve", groups: "ops", tokens: "alice@pve!ci" });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ data: null });
    const e = await aclAt("/storage/local");
    expect(e).toHaveLength(8);
    expect(e).toContainEqual({ path: "/storage/local", type: "group", ugid: "ops", roleid: "PVEAuditor", propagate: 1 });
    expect(e).toContainEqual({ path: "/storage/local", type: "token", ugid: "alice@pve!ci", roleid: "PVEDatastoreUser", propagate: 1 });
    expect(e).toContainEqual({ path: "/storage/local", type: "user", ugid: "bob@pve", roleid: "PVEAuditor", propagate: 1 });
  });

  it("is an upsert: re-sending is idempotent, changing propagate flips the flag in place", async () => {
    await c.put("/access/acl", { path: "/storage/local", roles: "PVEAuditor", users: "alice@pve" });
    expect(await aclAt("/storage/local")).toHaveLength(8);
    await c.put("/access/acl", { path: "/storage/local", roles: "PVEAuditor", users: "alice@pve", propagate: 0 });
    const e = await aclAt("/storage/local");
    expect(e).toHaveLength(8);
    expect(e.find((x) => x.ugid === "alice@pve" && x.roleid === "PVEAuditor")!.propagate).toBe(0);
  });

  it("paths are normalized", async () => {
    await c.put("/access/acl", { path: "vms//100/", roles: "PVEVMUser", users: "bob@pve" });
    expect(await aclAt("/vms/100")).toEqual([{ path: "/vms/100", type: "user", ugid: "bob@pve", roleid: "PVEVMUser", propagate: 1 }]);
  });

  it("the allowed-path list applies on add only (spec 4.2)", async () => {
    const ok = ["/", "/access", "/access/groups/ops", "/access/realm/oidc", "/nodes/pve1", "/pool/a/b/c", "/storage/x", "/vms/100", "/sdn/zones/z/v/4094",
      "/sdn/controllers/c_1", "/sdn/fabrics/f1", "/sdn/prefix-lists/p1", "/sdn/route-maps/r1", "/mapping/pci/gpu0", "/mapping/dir/x"];
    for (const path of ok) {
      const r = await c.put("/access/acl", { path, roles: "NoAccess", users: "bob@pve" });
      expect([path, r.status]).toEqual([path, 200]);
    }
    const bad = ["/vms/99", "/vms/abc", "/access/realms/oidc", "/pool/a/b/c/d", "/sdn/zones/z/v/0", "/foo", "/sdn/zones/z/v/12345", "/mapping/a/b/c"];
    for (const path of bad) {
      const r = await c.put("/access/acl", { path, roles: "NoAccess", users: "bob@pve" });
      expect(r.status).toBe(400);
      expect(r.json.errors).toEqual({ path: `invalid ACL path '${path}'` });
    }
    const chars = await c.put("/access/acl", { path: "/vms/1 00", roles: "NoAccess", users: "bob@pve", delete: 1 });
    expect(chars.status).toBe(400);
    expect(chars.json.errors).toEqual({ path: "invalid ACL path '/vms/1 00'" });
    // delete on an odd (but normalizable) path is fine
    expect((await c.put("/access/acl", { path: "/foo/bar", roles: "NoAccess", users: "bob@pve", delete: 1 })).status).toBe(200);
  });

  it("needs users, groups or tokens", async () => {
    const r = await c.put("/access/acl", { path: "/", roles: "NoAccess" });
    expect(r.status).toBe(400);
    const msg = "either 'users', 'groups' or 'tokens' is required.";
    expect(r.json.errors).toEqual({ users: msg, groups: msg, tokens: msg });
  });

  it("missing role, user, group or token is a 500 and nothing is written", async () => {
    const before = sim.state().acl.length;
    const cases: Array<[Record<string, string>, string]> = [
      [{ roles: "Nope", users: "bob@pve" }, "ACL update failed: role 'Nope' does not exist\n"],
      [{ roles: "PVEAuditor", users: "bob@pve,ghost@pve" }, "ACL update failed: user 'ghost@pve' does not exist\n"],
      [{ roles: "PVEAuditor", groups: "ghosts" }, "ACL update failed: group 'ghosts' does not exist\n"],
      [{ roles: "PVEAuditor", tokens: "ghost@pve!x1" }, "ACL update failed: no such user ('ghost@pve')\n"],
      [{ roles: "PVEAuditor", tokens: "alice@pve!nope" }, "ACL update failed: no such token 'nope' for user 'alice@pve'\n"],
    ];
    for (const [p, msg] of cases) {
      const r = await c.put("/access/acl", { path: "/nodes", ...p });
      expect(r.status).toBe(500);
      expect(r.json.message).toBe(msg);
      const d = await c.put("/access/acl", { path: "/nodes", ...p, delete: 1 });
      expect(d.status).toBe(500);
    }
    expect(sim.state().acl.length).toBe(before);
  });

  it("root@pam entries are accepted but never stored", async () => {
    const r = await c.put("/access/acl", { path: "/", roles: "Administrator", users: "root@pam" });
    expect(r.status).toBe(200);
    expect((await aclAt("/")).some((e) => e.ugid === "root@pam")).toBe(false);
  });
});

describe("PUT /access/acl delete", () => {
  it("removes exactly (path, principal, role) whatever propagate; absent entries are fine", async () => {
    await c.put("/access/acl", { path: "/storage/local", roles: "PVEAuditor", users: "alice@pve", delete: 1, propagate: 1 });
    const e = await aclAt("/storage/local");
    expect(e).toHaveLength(7);
    expect(e.some((x) => x.ugid === "alice@pve" && x.roleid === "PVEAuditor")).toBe(false);
    const again = await c.put("/access/acl", { path: "/storage/local", roles: "PVEAuditor", users: "alice@pve", delete: 1 });
    expect(again.status).toBe(200);
    expect(await aclAt("/storage/local")).toHaveLength(7);
  });
});

describe("GET /access/acl order and visibility", () => {
  it("paths in tree order: root first, children sorted", async () => {
    const paths = ((await c.get("/access/acl")).json.data as Entry[]).map((e) => e.path);
    const unique = paths.filter((p, i) => paths.indexOf(p) === i);
    // each path's entries are contiguous
    expect(unique.length).toBe(new Set(paths).size);
    for (let i = 1; i < paths.length; i++) if (paths[i] !== paths[i - 1]) expect(paths.indexOf(paths[i]!)).toBe(i);
    expect(unique[0]).toBe("/");
    expect(unique.indexOf("/vms")).toBeLessThan(unique.indexOf("/vms/100"));
    expect(unique.indexOf("/storage/local")).toBeLessThan(unique.indexOf("/storage/x"));
    expect(unique.indexOf("/storage/local")).toBeGreaterThan(-1);
    expect(unique.indexOf("/pool/a/b/c")).toBeLessThan(unique.indexOf("/sdn/controllers/c_1"));
    expect(unique.indexOf("/sdn/controllers/c_1")).toBeLessThan(unique.indexOf("/sdn/fabrics/f1"));
    expect(unique.indexOf("/sdn/fabrics/f1")).toBeGreaterThan(-1);
  });

  it("callers without Sys.Audit on /access only see paths they may modify", async () => {
    const t = c.withAuth({ token: { id: "vmadm@pve!tk", secret: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb" } });
    const seen = new Set(((await t.get("/access/acl")).json.data as Entry[]).map((e) => e.path));
    // perm-modify on /vms itself needs Permissions.Modify (VM.Allocate only counts below /vms/)
    expect([...seen].sort()).toEqual(["/vms/100"]);
  });
});

describe("permission to modify ACLs (spec 3.6)", () => {
  const vmadm = () => c.withAuth({ token: { id: "vmadm@pve!tk", secret: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb" } });

  it("without Permissions.Modify or the path's Allocate privilege: 403", async () => {
    const r = await vmadm().put("/access/acl", { path: "/storage/local", roles: "PVEAuditor", users: "bob@pve" });
    expect(r.status).toBe(403);
    expect(r.json.message).toBe("Permission check failed (/storage/local, Permissions.Modify|Datastore.Allocate)\n");
  });

  it("VM.Allocate on /vms/... allows granting subsets of one's own privileges", async () => {
    const ok = await vmadm().put("/access/acl", { path: "/vms/200", roles: "PVEVMUser", users: "bob@pve" });
    expect(ok.status).toBe(200);
    const sup = await vmadm().put("/access/acl", { path: "/vms/200", roles: "PVEAuditor", users: "bob@pve" });
    expect(sup.status).toBe(500);
    expect(sup.json.message).toBe(
      "ACL update failed: 400 Parameter verification failed.\nrole: Cannot add role 'PVEAuditor' - requires 'Permissions.Modify' or superset of privileges.\n",
    );
    const na = await vmadm().put("/access/acl", { path: "/vms/200", roles: "NoAccess", users: "bob@pve" });
    expect(na.status).toBe(500);
  });
});

describe("effective permissions follow the ACL (spec 2.5)", () => {
  it("propagation, user over group, NoAccess", async () => {
    await c.post("/access/users", { userid: "perm@pve", groups: "ops" });
    await c.put("/access/acl", { path: "/", roles: "PVEAuditor", groups: "ops" });
    await c.put("/access/acl", { path: "/nodes", roles: "PVESysAdmin", users: "perm@pve", propagate: 0 });
    await c.put("/access/acl", { path: "/storage", roles: "NoAccess", users: "perm@pve" });
    const p = async (path: string) => (await c.get("/access/permissions", { userid: "perm@pve", path })).json.data[path] ?? {};
    expect(Object.keys(await p("/vms/100"))).toContain("VM.Audit"); // inherited from the group on /
    expect(await p("/nodes")).toEqual({ "Sys.Audit": 0, "Sys.Console": 0, "Sys.Syslog": 0 }); // user entry replaces group's, no propagation
    expect(Object.keys(await p("/nodes/pve1"))).toContain("VM.Audit"); // non-propagating entry does not reach children
    expect(await p("/storage/other")).toEqual({}); // NoAccess propagates from /storage
    // ... until a deeper level has entries for one of the user's groups: those replace it
    expect(Object.keys(await p("/storage/local"))).toContain("Datastore.AllocateSpace");
  });
});
