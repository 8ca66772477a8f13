import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appRoleId } from "../../src/config/desired.js";
import { homelab } from "../helpers/cli.js";
import { expectNoop, graphWrites, homelabApps, lab, realmOn, rolesRealmConfig, type Lab } from "../helpers/lab.js";
import { privsOn, signedIn, signInThrough } from "../helpers/signin.js";

/**
 * Issue 13 part 3, against both simulators with the built CLI: `groupsClaim: roles` on a tenant realm defines one
 * app role per mapped group (value = the group's key), assigns each Entra group to its role, sets the realm's
 * groups-claim to `roles`, and names the Proxmox group `<key>-<realm>`. A member signs in and lands in it with its
 * rights; the second run is a no-op; removing a mapped group removes its role in two PATCHes (disable, then remove:
 * the simulator refuses removing an enabled role, so a single PATCH would fail the run).
 */

const config = rolesRealmConfig;

const BOTH = config(
  "  admins: { realm: azure, entraGroup: Proxmox Admins }\n  operators: { realm: azure, entraGroup: VM Operators }\n",
  "  - { group: admins, role: PVEAdmin, path: / }\n  - { group: operators, role: PVEVMUser, path: /vms }\n",
);
const ADMINS_ONLY = config("  admins: { realm: azure, entraGroup: Proxmox Admins }\n", "  - { group: admins, role: PVEAdmin, path: / }\n");

describe("groupsClaim: roles (app roles instead of group ids)", () => {
  let l: Lab;
  const run = (args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });
  const pve = () => l.pve.get("pve1")!;
  const app = () => (l.entra.state() as any).applications.find((a: any) => a.id === homelabApps(l.entra)[0]!.id);
  /** A no-op run: exit 0, "No changes", not one write on either side. */
  const noop = () => expectNoop(l);

  beforeAll(async () => {
    l = await lab(["pve1"]);
  });
  afterAll(() => l?.close());

  it("apply defines one role per mapped group, assigns each group to its role and sets the realm's groups-claim to roles", async () => {
    l.write(BOTH);
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const state = l.entra.state() as any;
    const a = app();
    const roles = (a.appRoles as any[]).map((x) => ({ id: x.id, value: x.value, displayName: x.displayName, allowedMemberTypes: x.allowedMemberTypes, isEnabled: x.isEnabled }));
    expect(roles.sort((x, y) => x.value.localeCompare(y.value))).toEqual([
      { id: appRoleId(l.entra.tenantId, "azure", "Proxmox Admins"), value: "admins", displayName: "Proxmox Admins", allowedMemberTypes: ["User"], isEnabled: true },
      { id: appRoleId(l.entra.tenantId, "azure", "VM Operators"), value: "operators", displayName: "VM Operators", allowedMemberTypes: ["User"], isEnabled: true },
    ]);
    // No groups claim is asked for: the roles claim replaces it.
    expect(a.groupMembershipClaims ?? "None").toBe("None");
    const sp = state.servicePrincipals.find((s: any) => s.appId === a.appId);
    const gid = (name: string) => state.groups.find((g: any) => g.displayName === name).id;
    const assigned = state.appRoleAssignments.filter((x: any) => x.resourceId === sp.id).map((x: any) => `${x.principalId} ${x.appRoleId}`).sort();
    expect(assigned).toEqual(
      [`${gid("Proxmox Admins")} ${appRoleId(l.entra.tenantId, "azure", "Proxmox Admins")}`, `${gid("VM Operators")} ${appRoleId(l.entra.tenantId, "azure", "VM Operators")}`].sort(),
    );
    expect(realmOn(pve(), "azure")).toMatchObject({ "groups-claim": "roles" });
    const s = pve().state();
    expect(s.groups!.map((g) => g.groupid).sort()).toEqual(["admins-azure", "operators-azure"]);
    expect(s.acl!.filter((x) => x.type === "group").map((x) => `${x.path} ${x.ugid} ${x.roleid}`).sort()).toEqual(["/ admins-azure PVEAdmin", "/vms operators-azure PVEVMUser"]);
  });

  it("a member of the Entra group signs in and gets <value>-<realm> with its rights", async () => {
    const jane = signedIn(await signInThrough(pve(), "azure", "jane@contoso.com"));
    expect(jane.userid).toBe("jane@contoso.com@azure");
    expect(jane.groups).toEqual(["admins-azure"]);
    expect(privsOn(jane, "/")).toContain("Sys.Audit");
    const bob = signedIn(await signInThrough(pve(), "azure", "bob@contoso.com"));
    expect(bob.groups).toEqual(["operators-azure"]);
    expect(privsOn(bob, "/")).toEqual([]);
    expect(privsOn(bob, "/vms")).toContain("VM.PowerMgmt");
  });

  it("the second run changes nothing", noop);

  it("removing a mapped group removes its role in two PATCHes (disable, then remove) and keeps the other", async () => {
    l.write(ADMINS_ONLY);
    l.entra.clearLog();
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const a = app();
    const patches = graphWrites(l).filter((w) => w.method === "PATCH" && w.path.includes(a.id));
    expect(patches.map((p) => p.status)).toEqual([204, 204]);
    expect((a.appRoles as any[]).map((x) => `${x.value} ${x.isEnabled}`)).toEqual(["admins true"]);
    // The group's assignment to the removed role goes in the same run: only admins' assignment stays.
    expect(r.stdout).toMatch(/- entra\.assignment\/contoso:azure:VM Operators\/operators/);
    expect(graphWrites(l).filter((w) => w.method === "DELETE" && w.path.includes("/appRoleAssignedTo/")).map((w) => w.status)).toEqual([204]);
    const state = l.entra.state() as any;
    const sp = state.servicePrincipals.find((x: any) => x.appId === a.appId);
    expect(state.appRoleAssignments.filter((x: any) => x.resourceId === sp.id).map((x: any) => x.principalDisplayName)).toEqual(["Proxmox Admins"]);
    // The remaining role still reaches Proxmox.
    const jane = signedIn(await signInThrough(pve(), "azure", "jane@contoso.com"));
    expect(jane.groups).toEqual(["admins-azure"]);
    await noop();
  });
});

describe("validate: groupsClaim: roles", () => {
  it("on an external realm it stays a plain claim name, passed to Proxmox as groups-claim (existing configs keep working)", async () => {
    const l = await lab(["pve1"]);
    try {
      l.write(`realms:
  keycloak:
    issuerUrl: https://id.example.com/realms/lab
    clientId: proxmox
    groupsClaim: roles
`);
      const r = await homelab(["-f", l.file, "validate"], { env: l.env });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const plan = await homelab(["-f", l.file, "plan"], { env: l.env });
      expect(plan.stdout).toMatch(/\+ proxmox\.realm\/pve1:keycloak[\s\S]*groups-claim: "roles"/);
    } finally {
      await l.close();
    }
  });
});
