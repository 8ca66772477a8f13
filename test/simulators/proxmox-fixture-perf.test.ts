import { describe, it, expect } from "vitest";
import { startProxmoxSim, type ProxmoxFixture } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

const fixture: ProxmoxFixture = {
  realms: [
    { realm: "entra", type: "openid", "issuer-url": "https://login.example/v2.0", "client-id": "cid", "client-key": "ck", "username-claim": "upn", autocreate: true, default: 1 },
    { realm: "pve", type: "pve", comment: "Local" },
  ],
  groups: [{ groupid: "admins-entra", comment: "Proxmox Admins" }, { groupid: "ops" }],
  users: [
    { userid: "alice@contoso.com@entra", email: "alice@contoso.com", groups: ["admins-entra"] },
    { userid: "bob@contoso.com@entra", enable: 0, expire: 4102444800, groups: ["ops", "auto"] },
  ],
  roles: [{ roleid: "VMOperator", privs: ["VM.PowerMgmt", "VM.Audit", "VM.Console"] }],
  tokens: [{ userid: "bob@contoso.com@entra", tokenid: "ci", privsep: 1, comment: "pipeline", secret: "cccccccc-cccc-4ccc-8ccc-cccccccccccc" }],
  acl: [
    { path: "/", type: "group", ugid: "admins-entra", roleid: "Administrator" },
    { path: "/vms/101/", type: "user", ugid: "bob@contoso.com@entra", roleid: "VMOperator", propagate: 0 },
    { path: "/vms", type: "token", ugid: "bob@contoso.com@entra!ci", roleid: "PVEVMUser" },
    { path: "/", type: "user", ugid: "root@pam", roleid: "Administrator" },
  ],
};

describe("fixtures and state()", () => {
  it("applies a fixture on top of a fresh install and snapshots it sorted", async () => {
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, fixture });
    const s = sim.state();
    expect(s.realms).toEqual([
      { realm: "entra", type: "openid", "issuer-url": "https://login.example/v2.0", "client-id": "cid", "client-key": "ck", "username-claim": "upn", autocreate: 1, default: 1 },
      { realm: "pam", type: "pam", comment: "Linux PAM standard authentication" },
      { realm: "pve", type: "pve", comment: "Local" },
    ]);
    expect(s.users).toEqual([
      { userid: "alice@contoso.com@entra", enable: 1, expire: 0, email: "alice@contoso.com", groups: ["admins-entra"] },
      { userid: "bob@contoso.com@entra", enable: 0, expire: 4102444800, groups: ["auto", "ops"] },
      { userid: "root@pam", enable: 1, groups: [] },
    ]);
    expect(s.groups).toEqual([{ groupid: "admins-entra", comment: "Proxmox Admins" }, { groupid: "auto" }, { groupid: "ops" }]);
    expect(s.roles).toEqual([{ roleid: "VMOperator", privs: ["VM.Audit", "VM.Console", "VM.PowerMgmt"] }]);
    expect(s.acl).toEqual([
      { path: "/", type: "group", ugid: "admins-entra", roleid: "Administrator", propagate: 1 },
      { path: "/vms", type: "token", ugid: "bob@contoso.com@entra!ci", roleid: "PVEVMUser", propagate: 1 },
      { path: "/vms/101", type: "user", ugid: "bob@contoso.com@entra", roleid: "VMOperator", propagate: 0 },
    ]);
    expect(s.tokens).toEqual([
      { userid: "bob@contoso.com@entra", tokenid: "ci", privsep: 1, comment: "pipeline", secret: "cccccccc-cccc-4ccc-8ccc-cccccccccccc" },
      { userid: "root@pam", tokenid: "homelab", privsep: 0, secret: sim.adminToken.secret },
    ]);
    // a deep copy: mutating it does not touch the simulator
    s.users[0]!.groups!.push("x");
    expect(sim.state().users[0]!.groups).toEqual(["admins-entra"]);
    expect(sim.adminToken.id).toBe("root@pam!homelab");
    await sim.close();
  });

  it("rejects fixtures that reference what does not exist", async () => {
    await expect(startProxmoxSim({ fixture: { acl: [{ path: "/", type: "user", ugid: "ghost@pve", roleid: "Administrator" }] } })).rejects.toThrow(/ACL user 'ghost@pve'/);
    await expect(startProxmoxSim({ fixture: { roles: [{ roleid: "R1", privs: ["VM.Monitor"] }] } })).rejects.toThrow(/invalid privilege 'VM.Monitor'/);
    await expect(startProxmoxSim({ fixture: { roles: [{ roleid: "PVEAdmin", privs: [] }] } })).rejects.toThrow(/built in/);
  });
});

describe("shuffling (errata 16)", () => {
  const bigFixture: ProxmoxFixture = {
    groups: Array.from({ length: 30 }, (_, i) => ({ groupid: `g${String(i).padStart(2, "0")}` })),
    roles: Array.from({ length: 10 }, (_, i) => ({ roleid: `R${i}`, privs: ["VM.Audit"] })),
  };
  bigFixture.users = Array.from({ length: 20 }, (_, i) => ({ userid: `u${String(i).padStart(2, "0")}@pve`, groups: ["g00"] }));
  bigFixture.acl = bigFixture.users.map((u) => ({ path: "/", type: "user" as const, ugid: u.userid, roleid: "PVEAuditor" }));

  const read = async (shuffle: boolean, seed: number) => {
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, fixture: bigFixture, shuffle, seed });
    const c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
    const groups = (await c.get("/access/groups")).json.data.map((g: { groupid: string }) => g.groupid);
    const roles = (await c.get("/access/roles")).json.data.map((r: { roleid: string }) => r.roleid);
    const acl = (await c.get("/access/acl")).json.data.map((e: { ugid: string }) => e.ugid);
    const members = (await c.get("/access/groups/g00")).json.data.members;
    const users = (await c.get("/access/users")).json.data.map((u: { userid: string }) => u.userid);
    c.close();
    await sim.close();
    return { groups, roles, acl, members, users };
  };

  it("shuffles unordered lists deterministically by seed, never the user list", async () => {
    const a = await read(true, 1);
    const b = await read(true, 1);
    const d = await read(true, 2);
    const plain = await read(false, 1);
    expect(a).toEqual(b);
    expect(a.groups).not.toEqual(plain.groups);
    expect(a.groups).not.toEqual(d.groups);
    expect([...a.groups].sort()).toEqual([...plain.groups].sort());
    expect(a.acl).not.toEqual(plain.acl);
    expect(a.members).not.toEqual(plain.members);
    expect(a.roles).not.toEqual(plain.roles);
    expect(a.users).toEqual(plain.users);
    expect(a.users).toEqual([...a.users].sort());
    expect(plain.groups).toEqual([...plain.groups].sort());
  });
});

describe("scale", () => {
  it("serves 5,000 users with full=1 and thousands of ACL entries quickly", async () => {
    const n = 5000;
    const fx: ProxmoxFixture = {
      realms: [{ realm: "entra", type: "openid", "issuer-url": "https://i", "client-id": "c" }],
      groups: Array.from({ length: 50 }, (_, i) => ({ groupid: `grp${i}` })),
      users: Array.from({ length: n }, (_, i) => ({ userid: `user${i}@example.com@entra`, email: `user${i}@example.com`, firstname: "F", groups: [`grp${i % 50}`] })),
    };
    fx.acl = [
      ...fx.users!.slice(0, 3000).map((u, i) => ({ path: `/vms/${100 + (i % 500)}`, type: "user" as const, ugid: u.userid, roleid: "PVEVMUser" })),
      ...fx.groups!.map((g) => ({ path: "/", type: "group" as const, ugid: g.groupid, roleid: "PVEAuditor" })),
    ];
    const t0 = Date.now();
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, fixture: fx });
    const startMs = Date.now() - t0;
    const c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
    const t1 = Date.now();
    const r = await c.get("/access/users", { full: 1 });
    const usersMs = Date.now() - t1;
    expect(r.status).toBe(200);
    expect(r.json.data).toHaveLength(n + 1);
    expect(r.json.data[1].groups).toMatch(/^grp\d+$/);
    const t2 = Date.now();
    const acl = await c.get("/access/acl");
    const aclMs = Date.now() - t2;
    expect(acl.json.data).toHaveLength(3050);
    // a restricted caller forces per-path permission checks
    const t3 = Date.now();
    for (let i = 0; i < 50; i++) {
      await c.put("/access/acl", { path: `/vms/${1000 + i}`, roles: "PVEVMAdmin", users: `user${i}@example.com@entra` });
    }
    const writesMs = Date.now() - t3;
    c.close();
    await sim.close();
    expect(startMs).toBeLessThan(3000);
    expect(usersMs).toBeLessThan(1500);
    expect(aclMs).toBeLessThan(1500);
    expect(writesMs).toBeLessThan(3000);
  });
});
