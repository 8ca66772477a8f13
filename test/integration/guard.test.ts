import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Secret } from "../../src/core/secret.js";
import { createProxmoxClient, type ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { startProxmoxSim, type ProxmoxFixture, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { homelab } from "../helpers/cli.js";
import { writes } from "../helpers/pve.js";

/**
 * The guard (src/providers/proxmox/guard.ts) through the built CLI against the simulator: each refusal
 * exits 3, names its cause, and the simulator receives no write at all.
 */

const SSO_SECRET = "sso-Secret-Value-4711";
const sso = `realms:
  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
`;

interface Lab {
  sim: ProxmoxSim;
  /** root@pam!homelab: for setting the scene as a person in the web UI would. */
  admin: ProxmoxClient;
  /** Write homelab.yaml for a cluster reached with `token`, then run homelab with it. */
  run(token: { id: string; secret: string }, body: string, ...args: string[]): ReturnType<typeof homelab>;
  close(): Promise<void>;
}

const labs: Lab[] = [];
afterEach(async () => {
  for (const l of labs.splice(0)) await l.close();
});

async function lab(opts: { fixture?: ProxmoxFixture; version?: string } = {}): Promise<Lab> {
  const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, ...(opts.fixture ? { fixture: opts.fixture } : {}), ...(opts.version ? { version: opts.version } : {}) });
  const dir = mkdtempSync(join(tmpdir(), "hl-guard-"));
  const file = join(dir, "homelab.yaml");
  const admin = createProxmoxClient({ name: "admin", url: sim.url, token: { id: sim.adminToken.id, secret: Secret.fromValue(sim.adminToken.secret, "test") }, tls: { fingerprint: sim.fingerprint } });
  const l: Lab = {
    sim,
    admin,
    run: (token, body, ...args) => {
      writeFileSync(file, `version: 1\nclusters:\n  pve:\n    url: ${sim.url}\n    token: { id: "${token.id}", secret: "\${env:PVE_TOKEN}" }\n    tls: { fingerprint: "${sim.fingerprint}" }\n${body}`);
      sim.clearLog();
      return homelab(["-f", file, ...args], { env: { PVE_TOKEN: token.secret, SSO_SECRET } });
    },
    close: async () => {
      admin.close();
      await sim.close();
    },
  };
  labs.push(l);
  return l;
}

/** A pve-realm user with a privsep=0 token, holding `role` on `/` as a user entry. */
async function tokenUser(l: Lab, userid: string, role: string): Promise<{ id: string; secret: string }> {
  await l.admin.createUser({ userid });
  await l.admin.putAcl({ path: "/", roles: [role], users: [userid], propagate: true });
  return l.sim.createToken(userid, "converge", { privsep: 0 });
}

const janeAdmin = `  - { user: jane@sso, role: Administrator, path: / }\n`;

describe("lockout guard (issue 8 failure 10)", () => {
  it("refuses disabling the token's own user in the file", async () => {
    const l = await lab();
    const token = await tokenUser(l, "homelab@pve", "Administrator");
    const r = await l.run(token, `${sso}users:\n  homelab@pve: { enable: false }\naccess:\n${janeAdmin}`, "apply");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("this plan would take from homelab's own token homelab@pve!converge privileges it needs");
    expect(r.stderr).toMatch(/Responsible:\n {2}update proxmox\.user\/pve:homelab@pve\n/);
    expect(writes(l.sim)).toEqual([]);
    // The same file without that line converges: the refusal was about the token's user only.
    const ok = await l.run(token, `${sso}access:\n${janeAdmin}`, "apply");
    expect(ok.code).toBe(0);
  });

  it("refuses prune.roles deleting the custom role that gives the token its rights (with prune.acl removing its entry)", async () => {
    const l = await lab();
    await l.admin.createRole({ roleid: "Homelab", privs: ["Sys.Audit", "Sys.Modify", "Permissions.Modify", "User.Modify", "Realm.Allocate", "Realm.AllocateUser", "Group.Allocate"] });
    await l.admin.createGroup({ groupid: "automation" });
    await l.admin.createUser({ userid: "homelab@pve", groups: ["automation"] });
    await l.admin.putAcl({ path: "/", roles: ["Homelab"], groups: ["automation"], propagate: true });
    const token = l.sim.createToken("homelab@pve", "converge", { privsep: 0 });
    // The group is declared (so its entries are homelab's to prune), its entry and the role are not.
    const body = `${sso}groups:\n  automation: { members: [homelab@pve] }\naccess:\n${janeAdmin}prune: { acl: true, roles: true }\n`;
    const check = await l.run(token, body, "plan");
    expect(check.code).toBe(3); // a plan that locks homelab out is refused by `plan` too
    const r = await l.run(token, body, "apply");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("homelab's own token homelab@pve!converge");
    expect(r.stderr).toContain("\n  Sys.Audit on /access\n");
    expect(r.stderr.match(/^ {2}Permissions\.Modify on \/$/gm)).toHaveLength(1); // each lost privilege once
    expect(r.stderr).toContain("  delete proxmox.acl/pve:/:@automation:Homelab\n");
    expect(r.stderr).toContain("  delete proxmox.role/pve:Homelab\n");
    expect(writes(l.sim)).toEqual([]);
    expect(l.sim.state().roles).toEqual([{ roleid: "Homelab", privs: ["Group.Allocate", "Permissions.Modify", "Realm.Allocate", "Realm.AllocateUser", "Sys.Audit", "Sys.Modify", "User.Modify"] }]);
  });

  it("refuses pruning the ACL entry of the last person who administers the cluster", async () => {
    const l = await lab({ fixture: { realms: [{ realm: "sso", type: "openid", "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", "client-key": SSO_SECRET, "username-claim": "username" }], users: [{ userid: "jane@sso" }], acl: [{ path: "/", type: "user", ugid: "jane@sso", roleid: "Administrator" }] } });
    const r = await l.run(l.sim.adminToken, `${sso}access:\n  - { user: jane@sso, role: PVEAuditor, path: / }\nprune: { acl: true }\n`, "apply");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("no enabled user other than root@pam");
    expect(r.stderr).toContain("(today: jane@sso)");
    expect(r.stderr).toMatch(/Responsible:\n {2}delete proxmox\.acl\/pve:\/:jane@sso:Administrator\n/);
    expect(writes(l.sim)).toEqual([]);
  });
});

describe("write-privilege pre-flight (issue 8 failure 13)", () => {
  it("an auditor-only token: apply refuses listing what is missing where; --check warns; a no-op still works", async () => {
    const l = await lab();
    const token = await tokenUser(l, "audit@pve", "PVEAuditor");
    const body = `${sso}access:\n${janeAdmin}`;
    const r = await l.run(token, body, "apply");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("token audit@pve!converge lacks privileges this plan needs");
    expect(r.stderr).toContain("\n  Realm.Allocate on /access/realm (for proxmox.realm/pve:sso)\n");
    expect(r.stderr).toContain("Realm.AllocateUser on /access/realm/sso (for proxmox.user/pve:jane@sso)");
    expect(r.stderr).toContain("User.Modify on /access/groups (for proxmox.user/pve:jane@sso)");
    expect(r.stderr).toContain("Permissions.Modify on / (for proxmox.acl/pve:/:jane@sso:Administrator)");
    expect(writes(l.sim)).toEqual([]);

    const check = await l.run(token, body, "apply", "--check", "--detailed-exitcode");
    expect(check.code).toBe(2);
    expect(check.stderr).toMatch(/^warning: cluster pve: token audit@pve!converge lacks privileges this plan needs \(`apply` will refuse this plan;.*\):\n(  .*\n)*  Permissions\.Modify on \/ /m);

    // Converged by an administrator, the same file is a no-op the auditor token can check and apply.
    expect((await l.run(l.sim.adminToken, body, "apply")).code).toBe(0);
    const noop = await l.run(token, body, "apply", "--detailed-exitcode");
    expect(noop.code).toBe(0);
    expect(noop.stderr).not.toContain("lacks privileges");
    expect(writes(l.sim)).toEqual([]);
    // Seven requests: no GET /version for a file that uses no version-gated feature.
    expect(l.sim.requestLog.map((e) => `${e.method} ${e.path}`)).not.toContain("GET /api2/json/version");
    expect(l.sim.requestLog).toHaveLength(7);
  });

  it("a PVEAdmin token lacks Permissions.Modify and Realm.Allocate", async () => {
    const l = await lab();
    const token = await tokenUser(l, "padmin@pve", "PVEAdmin");
    const r = await l.run(token, `${sso}access:\n${janeAdmin}`, "apply");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("Realm.Allocate on /access/realm");
    expect(r.stderr).toContain("Permissions.Modify on /");
    expect(r.stderr).not.toContain("User.Modify on /access/groups");
    expect(writes(l.sim)).toEqual([]);
  });
});

describe("version check (issue 8 failure 6)", () => {
  it("refuses audiences on a 9.1 cluster, naming the field, the release it needs and the release found", async () => {
    const l = await lab({ version: "9.1.2" });
    const r = await l.run(l.sim.adminToken, `${sso.replace("usernameClaim: username", "usernameClaim: username\n    audiences: [proxmox, api]")}access:\n${janeAdmin}`, "apply");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("cluster pve runs Proxmox VE 9.1.2");
    expect(r.stderr).toContain("realms.sso.audiences: realm option audiences needs Proxmox VE 9.2 or later");
    expect(writes(l.sim)).toEqual([]);
    expect(l.sim.requestLog.filter((e) => e.path === "/api2/json/version")).toHaveLength(1);
  });

  it("refuses an ACL path newer than the cluster (route maps on 9.1), naming the access entry", async () => {
    const l = await lab({ version: "9.1.2" });
    const r = await l.run(l.sim.adminToken, `${sso}access:\n${janeAdmin}  - { user: jane@sso, role: PVEAuditor, path: /sdn/route-maps/rm1 }\n`, "plan");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("proxmox.acl/pve:/sdn/route-maps/rm1:jane@sso:PVEAuditor: ACL path /sdn/route-maps/rm1 needs Proxmox VE 9.2 or later");
    expect(writes(l.sim)).toEqual([]);
  });

  it("accepts the same file on 9.2", async () => {
    const l = await lab({ version: "9.2.1" });
    const r = await l.run(l.sim.adminToken, `${sso.replace("usernameClaim: username", "usernameClaim: username\n    audiences: [proxmox, api]")}access:\n${janeAdmin}`, "apply");
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(l.sim.state().realms!.find((x) => x.realm === "sso")).toMatchObject({ audiences: "proxmox,api" });
  });
});
