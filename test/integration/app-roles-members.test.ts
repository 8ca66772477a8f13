import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { homelab } from "../helpers/cli.js";
import { expectNoop, lab, rolesRealmConfig, type Lab } from "../helpers/lab.js";
import { privsOn, signedIn, signInThrough } from "../helpers/signin.js";

/**
 * Issue 13 parts 1 and 3 together, against both simulators with the built CLI: `members: sync` in a realm with
 * `groupsClaim: roles`. The synced Proxmox group is `<value>-<realm>`, the one the `roles` claim names at sign-in:
 * a member added in Entra gets a user in it at the next run, a member removed loses the membership; changing the
 * group's key moves the Entra members to the new group (the user planner does it, as members sync), carries the
 * ACL entries over and deletes the old group. Each second run is a no-op.
 */

const config = (key: string) => rolesRealmConfig(`  ${key}: { realm: azure, entraGroup: Proxmox Admins, members: sync }\n`, `  - { group: ${key}, role: PVEAuditor, path: / }\n`);

const CAROL = "carol@contoso.com";

describe("members: sync in an app roles realm", () => {
  let l: Lab;
  const run = (args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });
  const pve = () => l.pve.get("pve1")!;
  const user = (id: string) => pve().state().users!.find((u) => u.userid === id) as Record<string, any> | undefined;
  const groupIds = () => pve().state().groups!.map((g) => g.groupid).sort();

  beforeAll(async () => {
    l = await lab(["pve1"]);
  });
  afterAll(() => l?.close());

  it("validate accepts it, and the first run puts the Entra members in admins-azure before any sign-in", async () => {
    l.write(config("admins"));
    const v = await run(["validate"]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(groupIds()).toEqual(["admins-azure"]);
    expect(user("jane@contoso.com@azure")?.groups).toEqual(["admins-azure"]);
    expect(user("bob@contoso.com@azure")).toBeUndefined();
    await expectNoop(l);
    // verify compares the same group: the roles claim's, not the object id's.
    const checks = JSON.parse((await run(["verify", "--json"])).stdout).checks as { id: string; cluster?: string; ok: boolean; detail: string }[];
    expect(checks.find((c) => c.id === "members" && c.cluster === "pve1")).toMatchObject({ ok: true, detail: "1 synced group match Entra ID (1 member)" });
  }, 60_000);

  it("a member added in Entra gets a user in admins-azure at the next run", async () => {
    l.entra.directory.addUser({ displayName: "Carol Chen", userPrincipalName: CAROL, mail: CAROL, givenName: "Carol", surname: "Chen" });
    l.entra.directory.addMember("Proxmox Admins", CAROL);
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`+ proxmox.user/pve1:${CAROL}@azure`);
    expect(r.stdout).toContain('member of Entra group "Proxmox Admins" (members: sync)');
    expect(user(`${CAROL}@azure`)).toMatchObject({ groups: ["admins-azure"], email: CAROL, firstname: "Carol", lastname: "Chen" });
    await expectNoop(l);
  }, 60_000);

  it("the sign-in agrees: the roles claim names the same group", async () => {
    const carol = signedIn(await signInThrough(pve(), "azure", CAROL));
    expect(carol.userid).toBe(`${CAROL}@azure`);
    expect(carol.groups).toEqual(["admins-azure"]);
    expect(privsOn(carol, "/")).toContain("Sys.Audit");
    await expectNoop(l);
  }, 60_000);

  it("removed from the Entra group: the next run removes the membership", async () => {
    l.entra.directory.removeMember("Proxmox Admins", CAROL);
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('no longer a member of Entra group "Proxmox Admins" (members: sync)');
    expect(user(`${CAROL}@azure`)?.groups).toEqual([]);
    expect(user("jane@contoso.com@azure")?.groups).toEqual(["admins-azure"]);
    await expectNoop(l);
  }, 60_000);

  it("a changed key moves the Entra members to the new group with the rights, and the old group goes", async () => {
    l.write(config("sysadmins"));
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/-\/\+ proxmox\.group\/pve1:sysadmins\n\s+# .*the Entra members join it \(members: sync\)/);
    expect(groupIds()).toEqual(["sysadmins-azure"]);
    expect(user("jane@contoso.com@azure")?.groups).toEqual(["sysadmins-azure"]);
    expect(user(`${CAROL}@azure`)?.groups).toEqual([]);
    expect(pve().state().acl!.filter((x) => x.type === "group").map((x) => `${x.path} ${x.ugid} ${x.roleid}`)).toEqual(["/ sysadmins-azure PVEAuditor"]);
    const jane = signedIn(await signInThrough(pve(), "azure", "jane@contoso.com"));
    expect(jane.groups).toEqual(["sysadmins-azure"]);
    expect(privsOn(jane, "/")).toContain("Sys.Audit");
    await expectNoop(l);
  }, 60_000);
});
