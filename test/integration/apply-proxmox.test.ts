import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { homelab } from "../helpers/cli.js";
import { pveLab, writes, type PveLab } from "../helpers/pve.js";

const SSO_SECRET = "sso-Secret-Value-4711";

const external = `realms:
  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
    autocreate: true
roles:
  Ops: { privs: [VM.Audit, VM.Console] }
groups:
  ops: { comment: Operators, members: [bob@sso] }
users:
  bob@sso: { email: bob@example.org, firstname: Bob }
access:
  - { user: jane@sso, role: Administrator, path: / }
  - { group: ops, role: Ops, path: /vms }
  - { user: bob@sso, role: PVEAuditor, path: /storage/local, propagate: false }
prune: { acl: true, users: true }
`;

describe("external-issuer OpenID realm, end to end against the simulator", () => {
  let lab: PveLab;
  const run = (...args: string[]) => homelab(["-f", lab.file, ...args], { env: lab.env });

  beforeAll(async () => {
    lab = await pveLab(undefined, { SSO_SECRET });
    lab.write(external);
  });
  afterAll(() => lab.close());

  it("apply from empty creates exactly the declared objects", async () => {
    const r = await run("apply");
    expect(r.stderr).not.toMatch(/FAILED|error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Apply: 8 created, 0 updated, 0 replaced, 0 deleted\.$/m);
    const s = lab.sim.state();
    expect(s.realms!.find((x) => x.realm === "sso")).toMatchObject({ type: "openid", "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", "client-key": SSO_SECRET, "username-claim": "username", autocreate: 1 });
    expect(s.users!.map((u) => u.userid).sort()).toEqual(["bob@sso", "jane@sso", "root@pam"]);
    expect(s.users!.find((u) => u.userid === "bob@sso")).toMatchObject({ email: "bob@example.org", firstname: "Bob", groups: ["ops"] });
    expect(s.groups).toEqual([{ groupid: "ops", comment: "Operators" }]);
    expect(s.roles).toEqual([{ roleid: "Ops", privs: ["VM.Audit", "VM.Console"] }]);
    const acl = s.acl!.filter((a) => a.type !== "token").map((a) => `${a.path} ${a.type} ${a.ugid} ${a.roleid} ${a.propagate}`).sort();
    expect(acl).toEqual(["/ user jane@sso Administrator 1", "/storage/local user bob@sso PVEAuditor 0", "/vms group ops Ops 1"]);
  });

  it("a second apply reports no changes and sends no write request", async () => {
    lab.sim.clearLog();
    const r = await run("apply", "--detailed-exitcode");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("No changes. 8 objects in sync.\n");
    expect(writes(lab.sim)).toEqual([]);
  });

  it("detects manual changes with --check --detailed-exitcode (exit 2) and repairs them on the next apply", async () => {
    // What a person might click together in the web UI:
    await lab.admin.putAcl({ path: "/vms/100", roles: ["PVEVMAdmin"], users: ["jane@sso"], propagate: true });
    await lab.admin.updateRealm("sso", { autocreate: false });
    await lab.admin.deleteUser("bob@sso");

    lab.sim.clearLog();
    const check = await run("apply", "--check", "--detailed-exitcode", "--diff");
    expect(check.code).toBe(2);
    expect(writes(lab.sim)).toEqual([]);
    expect(check.stdout).toContain("~ proxmox.realm/pve:sso\n      autocreate: false → true");
    expect(check.stdout).toContain("+ proxmox.user/pve:bob@sso");
    expect(check.stdout).toContain("- proxmox.acl/pve:/vms/100:jane@sso:PVEVMAdmin\n      # not declared in access (prune.acl)");
    expect(check.stdout).toContain("+ proxmox.acl/pve:/storage/local:bob@sso:PVEAuditor");
    expect(check.stdout).toMatch(/^Plan: 2 to create, 1 to update, 0 to replace, 1 to delete; \d+ unchanged\.$/m);

    const fix = await run("apply", "--detailed-exitcode");
    expect(fix.code).toBe(2); // changes were made
    expect(fix.stdout).toMatch(/^Apply: 2 created, 1 updated, 0 replaced, 1 deleted\.$/m);

    const again = await run("apply", "--check", "--detailed-exitcode");
    expect(again.code).toBe(0);
    expect(again.stdout).toBe("No changes. 8 objects in sync.\n");
  });

  it("replaces the realm when its username claim changes, and says why", async () => {
    await lab.admin.deleteRealm("sso");
    await lab.admin.createRealm({ realm: "sso", type: "openid", "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", "client-key": SSO_SECRET, "username-claim": "email", autocreate: true });
    const check = await run("plan");
    expect(check.stdout).toContain("-/+ proxmox.realm/pve:sso\n      # `username-claim` cannot be changed on an existing realm");
    expect(check.stdout).toContain('username-claim: "email" → "username"');
    const fix = await run("apply");
    expect(fix.code).toBe(0);
    expect(lab.sim.state().realms!.find((x) => x.realm === "sso")!["username-claim"]).toBe("username");
    expect((await run("plan")).stdout).toBe("No changes. 8 objects in sync.\n");
  });

  it("--target limits the run to matching addresses and their dependencies", async () => {
    await lab.admin.deleteUser("jane@sso");
    await lab.admin.updateGroup("ops", { comment: "changed" });
    const r = await run("apply", "--target", "proxmox.acl/pve:/:jane");
    // The ACL entry needs its user first: both are in; the unrelated group change is not.
    expect(r.stdout).toContain("+ proxmox.user/pve:jane@sso");
    expect(r.stdout).toContain("+ proxmox.acl/pve:/:jane@sso:Administrator");
    expect(r.stdout).not.toContain("proxmox.group/pve:ops");
    expect(r.stdout).toMatch(/^Apply: 2 created, 0 updated, 0 replaced, 0 deleted\.$/m);
    expect((await run("plan")).stdout).toContain("~ proxmox.group/pve:ops");
    await run("apply");
  });
});

describe("the built-in pve realm, end to end", () => {
  let lab: PveLab;
  const run = (...args: string[]) => homelab(["-f", lab.file, ...args], { env: lab.env });
  beforeAll(async () => {
    lab = await pveLab();
    lab.write(`realms:
  pve: { comment: Local accounts, default: true }
users:
  carol@pve: { email: carol@example.org, comment: Break-glass, expire: 2030-01-01 }
access:
  - { user: carol@pve, role: Administrator, path: / }
  - { user: dave@pve, role: PVEVMUser, path: /vms/101, propagate: false }
`);
  });
  afterAll(() => lab.close());

  it("creates users and ACL entries in pve, sets the realm's comment, then converges", async () => {
    const first = await run("apply", "--detailed-exitcode");
    expect(first.code).toBe(2);
    expect(first.stdout).toMatch(/^Apply: 4 created, 1 updated, 0 replaced, 0 deleted\.$/m);
    const s = lab.sim.state();
    expect(s.realms!.find((x) => x.realm === "pve")).toMatchObject({ comment: "Local accounts", default: 1 });
    expect(s.users!.find((u) => u.userid === "carol@pve")).toMatchObject({ email: "carol@example.org", expire: 1893456000, enable: 1 });
    lab.sim.clearLog();
    const second = await run("apply", "--detailed-exitcode");
    expect(second.code).toBe(0);
    expect(second.stdout).toBe("No changes. 5 objects in sync.\n");
    expect(writes(lab.sim)).toEqual([]);
  });

  it("--quiet prints nothing when nothing changed, and only the changes when something did (cron mails)", async () => {
    const quiet = await run("apply", "--quiet");
    expect(quiet).toEqual({ code: 0, stdout: "", stderr: "" });
    await lab.admin.deleteUser("dave@pve");
    const changed = await run("apply", "-q");
    expect(changed.code).toBe(0);
    expect(changed.stderr).toBe("created proxmox.user/pve:dave@pve\ncreated proxmox.acl/pve:/vms/101:dave@pve:PVEVMUser\n");
    expect(changed.stdout).toMatch(/^Apply: 2 created, 0 updated, 0 replaced, 0 deleted\.$/m);
  });
});
