import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient } from "../../src/sim/proxmox/index.js";
import { homelab } from "../helpers/cli.js";
import { expectNoop, graphWrites, homelabApps, lab, rolesRealmConfig, type Lab } from "../helpers/lab.js";
import { privsOn, signedIn, signInThrough } from "../helpers/signin.js";

/**
 * Issue 13 part 3, against both simulators with the built CLI: changing a mapped group's key in a realm with
 * `groupsClaim: roles` changes its app role's value in place (same id, same assignment), after the Proxmox group
 * `<old>-<realm>` has been replaced by `<new>-<realm>` with its members and every ACL entry (a hand-made one too,
 * `prune.acl` being off). A member's next sign-in lands in the new group with the rights; a run that fails midway
 * is finished by the next one; each second run is a no-op.
 */

const config = rolesRealmConfig;

describe("changing an app role's value replaces the Proxmox group, carrying its ACL entries and members over", () => {
  let l: Lab;
  const run = (args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });
  const pve = () => l.pve.get("pve1")!;
  const app = () => (l.entra.state() as any).applications.find((a: any) => a.id === homelabApps(l.entra)[0]!.id);
  const role = () => (app().appRoles as any[]).find((x) => x.displayName === "Proxmox Admins");
  const assignments = () => {
    const state = l.entra.state() as any;
    const sp = state.servicePrincipals.find((s: any) => s.appId === app().appId);
    return state.appRoleAssignments.filter((x: any) => x.resourceId === sp.id).map((x: any) => `${x.id} ${x.principalDisplayName} ${x.appRoleId}`);
  };
  const groupAcl = () => pve().state().acl!.filter((x) => x.type === "group").map((x) => `${x.path} ${x.ugid} ${x.roleid}`).sort();
  const groupIds = () => pve().state().groups!.map((g) => g.groupid).sort();
  const groupsOf = (userid: string) => (pve().state().users!.find((u) => u.userid === userid) as any)?.groups;
  const keyed = (key: string) => config(`  ${key}: { realm: azure, entraGroup: Proxmox Admins }\n`, `  - { group: ${key}, role: PVEAdmin, path: / }\n`);
  let roleId: string;
  let assigned: string[];

  beforeAll(async () => {
    l = await lab(["pve1"]);
    l.write(keyed("admins"));
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    roleId = role().id;
    assigned = assignments();
    // jane signs in once (she is in admins-azure from then on), and someone adds an entry by hand to the group.
    expect(signedIn(await signInThrough(pve(), "azure", "jane@contoso.com")).groups).toEqual(["admins-azure"]);
    const raw = new RawClient(pve().url, pve().certPem);
    try {
      const put = await raw.withAuth({ token: pve().adminToken }).put("/access/acl", { path: "/storage", groups: "admins-azure", roles: "PVEDatastoreUser" });
      expect(put.status).toBe(200);
    } finally {
      raw.close();
    }
    expect(groupAcl()).toEqual(["/ admins-azure PVEAdmin", "/storage admins-azure PVEDatastoreUser"]);
  }, 60_000);
  afterAll(() => l?.close());

  it("the plan shows the group replaced, the entries and the member carried over, the old group deleted and the value changed in place", async () => {
    l.write(keyed("sysadmins"));
    const r = await run(["plan"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/-\/\+ proxmox\.group\/pve1:sysadmins\n\s+# app role value admins → sysadmins in realm azure: Proxmox group admins-azure is replaced by sysadmins-azure/);
    expect(r.stdout).toMatch(/groupid: "admins-azure" → "sysadmins-azure"/);
    expect(r.stdout).toMatch(/members: .*jane@contoso\.com@azure/);
    expect(r.stdout).toMatch(/\+ proxmox\.acl\/pve1:\/:@sysadmins:PVEAdmin/);
    expect(r.stdout).toMatch(/\+ proxmox\.acl\/pve1:\/storage:@sysadmins-azure:PVEDatastoreUser\n\s+# carried over from admins-azure/);
    expect(r.stdout).toMatch(/- proxmox\.group\/pve1:admins-azure\n\s+# replaced by sysadmins-azure/);
    expect(r.stdout).toMatch(/~ entra\.application\/contoso:azure\/appRoles[\s\S]*appRoles\["Proxmox Admins"\]\.value: "admins" → "sysadmins"/);
    // Nothing else: the role is not removed and defined again, the assignment is not touched.
    expect(r.stdout).not.toMatch(/entra\.assignment/);
    expect(r.stdout).not.toMatch(/~ entra\.application\/contoso:azure\n/);
  });

  it("apply: the same role (same id, same assignment) has the new value; sysadmins-azure has jane and every entry; admins-azure is gone", async () => {
    l.entra.clearLog();
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(role()).toMatchObject({ id: roleId, value: "sysadmins", isEnabled: true });
    expect(assignments()).toEqual(assigned);
    // Entra refuses to change an enabled role: disabled, then changed (two PATCHes of the app).
    expect(graphWrites(l).filter((w) => w.method === "PATCH" && w.path.includes(app().id)).map((w) => w.status)).toEqual([204, 204]);
    expect(groupIds()).toEqual(["sysadmins-azure"]);
    expect(groupAcl()).toEqual(["/ sysadmins-azure PVEAdmin", "/storage sysadmins-azure PVEDatastoreUser"]);
    expect(groupsOf("jane@contoso.com@azure")).toEqual(["sysadmins-azure"]);
  }, 60_000);

  it("a member signs in and lands in sysadmins-azure with its privileges", async () => {
    const jane = signedIn(await signInThrough(pve(), "azure", "jane@contoso.com"));
    expect(jane.groups).toEqual(["sysadmins-azure"]);
    expect(privsOn(jane, "/")).toContain("Sys.Audit");
    expect(privsOn(jane, "/storage")).toContain("Datastore.AllocateSpace");
  });

  it("the second run changes nothing", () => expectNoop(l));

  it("a run that fails midway (the old group's delete) leaves the value in Entra: the new group already has the rights", async () => {
    l.write(keyed("ops"));
    pve().failNext({ method: "DELETE", path: "/access/groups/sysadmins-azure", message: "simulated refusal" });
    const failed = await run(["apply"]);
    expect(failed.code, failed.stdout + failed.stderr).not.toBe(0);
    // The value change waited for the delete: Graph still says sysadmins, the new group already has the rights.
    expect(role()).toMatchObject({ id: roleId, value: "sysadmins", isEnabled: true });
    expect(groupIds()).toEqual(["ops-azure", "sysadmins-azure"]);
    expect(groupAcl()).toEqual(["/ ops-azure PVEAdmin", "/ sysadmins-azure PVEAdmin", "/storage ops-azure PVEDatastoreUser", "/storage sysadmins-azure PVEDatastoreUser"]);
    expect(groupsOf("jane@contoso.com@azure")).toEqual(["ops-azure", "sysadmins-azure"]);
  }, 60_000);

  it("the next run finishes the replace from what Graph still says, and the one after changes nothing", async () => {
    const again = await run(["apply"]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/- proxmox\.group\/pve1:sysadmins-azure/);
    expect(role()).toMatchObject({ id: roleId, value: "ops", isEnabled: true });
    expect(assignments()).toEqual(assigned);
    expect(groupIds()).toEqual(["ops-azure"]);
    expect(groupAcl()).toEqual(["/ ops-azure PVEAdmin", "/storage ops-azure PVEDatastoreUser"]);
    expect(signedIn(await signInThrough(pve(), "azure", "jane@contoso.com")).groups).toEqual(["ops-azure"]);
    await expectNoop(l);
  }, 60_000);
});
