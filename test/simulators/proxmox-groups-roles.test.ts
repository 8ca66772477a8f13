import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startProxmoxSim, PRIVILEGES, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { RawClient } from "../../src/sim/proxmox/raw-client.js";

let sim: ProxmoxSim;
let c: RawClient;
beforeAll(async () => {
  sim = await startProxmoxSim({ unauthorizedDelayMs: 0, fixture: { users: [{ userid: "m1@pve" }, { userid: "m2@pve" }] } });
  c = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
});
afterAll(async () => {
  c.close();
  await sim.close();
});

describe("groups (spec 3.4)", () => {
  it("create, list with sorted users string, read with members", async () => {
    expect((await c.post("/access/groups", { groupid: "admins", comment: "Admins" })).status).toBe(200);
    await c.post("/access/groups", { groupid: "empty" });
    await c.put("/access/users/m2@pve", { groups: "admins" });
    await c.put("/access/users/m1@pve", { groups: "admins" });
    const list = (await c.get("/access/groups")).json.data as Array<Record<string, unknown>>;
    expect(list.find((g) => g.groupid === "admins")).toEqual({ groupid: "admins", comment: "Admins", users: "m1@pve,m2@pve" });
    expect(list.find((g) => g.groupid === "empty")).toEqual({ groupid: "empty", users: "" });
    const g = (await c.get("/access/groups/admins")).json.data;
    expect(g.comment).toBe("Admins");
    expect([...g.members].sort()).toEqual(["m1@pve", "m2@pve"]);
  });

  it("errors: existing, missing on read/update/delete", async () => {
    const dup = await c.post("/access/groups", { groupid: "admins" });
    expect(dup.status).toBe(500);
    expect(dup.json.message).toBe("create group failed: group 'admins' already exists\n");
    expect((await c.get("/access/groups/nope")).json.message).toBe("group 'nope' does not exist\n");
    expect((await c.put("/access/groups/nope", { comment: "x" })).json.message).toBe("update group failed: group 'nope' does not exist\n");
    expect((await c.delete("/access/groups/nope")).json.message).toBe("delete group failed: group 'nope' does not exist\n");
  });

  it("update changes only the comment; '' clears it; members cannot be set here", async () => {
    await c.put("/access/groups/admins", { comment: "" });
    expect((await c.get("/access/groups/admins")).json.data.comment).toBeUndefined();
    const r = await c.put("/access/groups/admins", { members: "m1@pve" });
    expect(r.status).toBe(400);
  });

  it("a group named '0' is accepted and silently dropped (errata 11)", async () => {
    expect((await c.post("/access/groups", { groupid: "0" })).status).toBe(200);
    expect((await c.get("/access/groups/0")).status).toBe(500);
  });

  it("delete removes memberships and ACL entries (spec 5.3)", async () => {
    await c.put("/access/acl", { path: "/vms", roles: "PVEVMAdmin", groups: "admins" });
    expect((await c.delete("/access/groups/admins")).status).toBe(200);
    expect((await c.get("/access/users/m1@pve")).json.data.groups).toEqual([]);
    const acl = (await c.get("/access/acl")).json.data as Array<{ ugid: string }>;
    expect(acl.some((e) => e.ugid === "admins")).toBe(false);
    // a re-created group starts empty
    await c.post("/access/groups", { groupid: "admins" });
    expect((await c.get("/access/groups/admins")).json.data.members).toEqual([]);
  });
});

describe("roles (spec 3.5, 4.3, 4.4)", () => {
  it("17 built-in roles with special 1 and the exact privilege lists", async () => {
    const roles = (await c.get("/access/roles")).json.data as Array<{ roleid: string; privs: string; special: number }>;
    const special = roles.filter((r) => r.special === 1);
    expect(special.map((r) => r.roleid).sort()).toEqual([
      "Administrator", "NoAccess", "PVEAdmin", "PVEAuditor", "PVEDatastoreAdmin", "PVEDatastoreUser", "PVEMappingAdmin",
      "PVEMappingUser", "PVEPoolAdmin", "PVEPoolUser", "PVESDNAdmin", "PVESDNUser", "PVESysAdmin", "PVETemplateUser",
      "PVEUserAdmin", "PVEVMAdmin", "PVEVMUser",
    ]);
    const by = Object.fromEntries(roles.map((r) => [r.roleid, r.privs]));
    expect(by.Administrator!.split(",")).toHaveLength(47);
    expect(by.Administrator).toBe([...PRIVILEGES].sort().join(","));
    expect(by.NoAccess).toBe("");
    expect(by.PVEAuditor).toBe("Datastore.Audit,Mapping.Audit,Pool.Audit,SDN.Audit,Sys.Audit,VM.Audit,VM.GuestAgent.Audit");
    expect(by.PVEUserAdmin).toBe("Group.Allocate,Realm.AllocateUser,User.Modify");
    expect(by.PVEVMUser).toBe(
      "VM.Audit,VM.Backup,VM.Config.CDROM,VM.Config.Cloudinit,VM.Console,VM.GuestAgent.Audit,VM.GuestAgent.FileRead,VM.GuestAgent.FileSystemMgmt,VM.GuestAgent.FileWrite,VM.PowerMgmt",
    );
    expect(by.PVEVMAdmin!.split(",")).toHaveLength(23);
    const admin = by.PVEAdmin!.split(",");
    expect(admin).toHaveLength(40);
    for (const p of ["Permissions.Modify", "Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork", "Realm.Allocate", "Mapping.Modify"]) {
      expect(admin).not.toContain(p);
    }
    expect(by.PVESysAdmin).toBe("Sys.Audit,Sys.Console,Sys.Syslog");
    expect(PRIVILEGES).toHaveLength(47);
  });

  it("GET one role: privileges as keys with value 1; {} for NoAccess", async () => {
    expect((await c.get("/access/roles/PVEPoolAdmin")).json.data).toEqual({ "Pool.Allocate": 1, "Pool.Audit": 1 });
    expect((await c.get("/access/roles/NoAccess")).json.data).toEqual({});
    expect((await c.get("/access/roles/nope")).json.message).toBe("role 'nope' does not exist\n");
  });

  it("create; PVE prefix is a 400; existing (incl. built-in) is a 500", async () => {
    expect((await c.post("/access/roles", { roleid: "VMOperator", privs: "VM.Audit,VM.Console,VM.PowerMgmt" })).status).toBe(200);
    const list = (await c.get("/access/roles")).json.data as Array<Record<string, unknown>>;
    expect(list.find((r) => r.roleid === "VMOperator")).toEqual({ roleid: "VMOperator", privs: "VM.Audit,VM.Console,VM.PowerMgmt", special: 0 });
    for (const id of ["PVEFoo", "pveBar", "PvEAdmin"]) {
      const r = await c.post("/access/roles", { roleid: id });
      expect(r.status).toBe(400);
      expect(r.json.errors).toEqual({ roleid: "cannot use role ID starting with the (case-insensitive) 'PVE' namespace" });
    }
    const dup = await c.post("/access/roles", { roleid: "Administrator" });
    expect(dup.status).toBe(500);
    expect(dup.json.message).toBe("create role failed: role 'Administrator' already exists\n");
    const dup2 = await c.post("/access/roles", { roleid: "VMOperator" });
    expect(dup2.json.message).toBe("create role failed: role 'VMOperator' already exists\n");
  });

  it("update replaces without append, adds with append, empties without privs", async () => {
    await c.put("/access/roles/VMOperator", { privs: "VM.Audit" });
    expect((await c.get("/access/roles/VMOperator")).json.data).toEqual({ "VM.Audit": 1 });
    await c.put("/access/roles/VMOperator", { privs: "VM.Console", append: 1 });
    expect((await c.get("/access/roles/VMOperator")).json.data).toEqual({ "VM.Audit": 1, "VM.Console": 1 });
    await c.put("/access/roles/VMOperator", {});
    expect((await c.get("/access/roles/VMOperator")).json.data).toEqual({});
    const missing = await c.put("/access/roles/Nope", { privs: "VM.Audit" });
    expect(missing.json.message).toBe("update role failed: role 'Nope' does not exist\n");
  });

  it("built-in roles are immutable", async () => {
    const u = await c.put("/access/roles/PVEAuditor", { privs: "VM.Audit" });
    expect(u.status).toBe(500);
    expect(u.json.message).toBe("auto-generated role 'PVEAuditor' cannot be modified\n");
    const d = await c.delete("/access/roles/Administrator");
    expect(d.status).toBe(500);
    expect(d.json.message).toBe("auto-generated role 'Administrator' cannot be deleted\n");
  });

  it("delete removes the role's ACL entries (spec 3.5, 5.3)", async () => {
    await c.put("/access/roles/VMOperator", { privs: "VM.Audit" });
    await c.put("/access/acl", { path: "/vms/100", roles: "VMOperator,PVEVMUser", users: "m1@pve" });
    expect((await c.delete("/access/roles/VMOperator")).status).toBe(200);
    const acl = (await c.get("/access/acl")).json.data as Array<{ roleid: string; path: string }>;
    expect(acl.filter((e) => e.path === "/vms/100").map((e) => e.roleid)).toEqual(["PVEVMUser"]);
    expect((await c.delete("/access/roles/VMOperator")).json.message).toBe("delete role failed: role 'VMOperator' does not exist\n");
  });
});
