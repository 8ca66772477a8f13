import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxmoxFixture } from "../../src/sim/proxmox/index.js";
import { homelab } from "../helpers/cli.js";
import { pveLab, writes, type PveLab } from "../helpers/pve.js";

/** A homelab of `n` pve users, each with one ACL entry, already converged in the simulator's fixture. */
function seeded(n: number): { fixture: ProxmoxFixture; body: string } {
  const users = Array.from({ length: n }, (_, i) => `u${i}@pve`);
  return {
    fixture: { users: users.map((userid) => ({ userid })), acl: users.map((ugid, i) => ({ path: `/vms/${100 + (i % 500)}`, type: "user" as const, ugid, roleid: "PVEVMUser", propagate: 1 as const })) },
    body: `access:\n${users.map((u, i) => `  - { user: ${u}, role: PVEVMUser, path: /vms/${100 + (i % 500)} }`).join("\n")}\n`,
  };
}

describe("a no-op run reads with a constant number of requests per cluster", () => {
  const counts: Record<number, { total: number; writes: number; stdout: string }> = {};
  it.each([10, 2000])("%d users", async (n) => {
    const { fixture, body } = seeded(n);
    const lab = await pveLab(fixture);
    try {
      lab.write(body);
      const r = await homelab(["-f", lab.file, "apply", "--detailed-exitcode"], { env: lab.env });
      counts[n] = { total: lab.sim.requestLog.length, writes: writes(lab.sim).length, stdout: r.stdout };
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`No changes. ${2 * n} objects in sync.\n`);
    } finally {
      await lab.close();
    }
  });
  it("is the same count for 10 and 2,000 users, and no writes", () => {
    expect(counts[10]!.writes).toBe(0);
    expect(counts[2000]!.writes).toBe(0);
    // GET /access/permissions (the token sees everything?), /access/domains, /access/users?full=1,
    // /access/groups, /access/roles, /access/acl.
    expect(counts[10]!.total).toBe(6);
    expect(counts[2000]!.total).toBe(counts[10]!.total);
  });
});

describe("output", () => {
  let lab: PveLab;
  const SSO_SECRET = "Kx9-sso-client-SECRET-value";
  const run = (args: string[], env: Record<string, string | undefined> = {}) => homelab(["-f", lab.file, ...args], { env: { ...lab.env, ...env } });

  beforeAll(async () => {
    lab = await pveLab(undefined, { SSO_SECRET });
    lab.write(`realms:
  sso:
    issuerUrl: https://auth.lan/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
roles:
  Ops: { privs: [VM.Console, VM.Audit] }
access:
  - { user: jane@sso, role: Administrator, path: / }
  - { user: jane@sso, role: Ops, path: /vms/100, propagate: false }
`);
  });
  afterAll(() => lab.close());

  it("plan prints a readable diff (non-TTY, no colours) and changes nothing", async () => {
    const r = await run(["plan"]);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/127\.0\.0\.1:\d+/, "127.0.0.1:PORT")).toBe(`pve (https://127.0.0.1:PORT)
  + proxmox.realm/pve:sso
      type:           "openid"
      client-id:      "proxmox"
      issuer-url:     "https://auth.lan/"
      username-claim: "username"
      client-key:     (sensitive)
  + proxmox.role/pve:Ops
      privs: ["VM.Audit", "VM.Console"]
  + proxmox.user/pve:jane@sso
  + proxmox.acl/pve:/:jane@sso:Administrator
      user:      "jane@sso"
      propagate: true
  + proxmox.acl/pve:/vms/100:jane@sso:Ops
      user:      "jane@sso"
      propagate: false

Plan: 5 to create, 0 to update, 0 to replace, 0 to delete; 0 unchanged.
`);
    expect(r.stdout).not.toMatch(/\u001b\[/);
    expect(writes(lab.sim)).toEqual([]);
    expect(r.stderr).toMatch(/read pve: 6 requests/);
  });

  it("--check without --diff prints only the summary; --detailed-exitcode turns pending changes into exit 2", async () => {
    const r = await run(["apply", "--check", "--detailed-exitcode"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("Plan: 5 to create, 0 to update, 0 to replace, 0 to delete; 0 unchanged.\n");
  });

  it("--json prints one JSON event per line: plan, every change, summary", async () => {
    const r = await run(["apply", "--json"]);
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    expect(events[0]!.event).toBe("plan");
    expect(events[0]!.summary).toEqual({ create: 5, update: 0, replace: 0, delete: 0 });
    expect(events[0]!.changes.map((c: any) => c.address)).toEqual(["proxmox.realm/pve:sso", "proxmox.role/pve:Ops", "proxmox.user/pve:jane@sso", "proxmox.acl/pve:/:jane@sso:Administrator", "proxmox.acl/pve:/vms/100:jane@sso:Ops"]);
    const changes = events.filter((e) => e.event === "change");
    expect(changes.map((e) => `${e.status} ${e.action} ${e.address}`).sort()).toEqual([
      "ok create proxmox.acl/pve:/:jane@sso:Administrator", "ok create proxmox.acl/pve:/vms/100:jane@sso:Ops",
      "ok create proxmox.realm/pve:sso", "ok create proxmox.role/pve:Ops", "ok create proxmox.user/pve:jane@sso",
    ]);
    expect(events.at(-1)).toEqual({ event: "summary", created: 5, adopted: 0, updated: 0, replaced: 0, deleted: 0, failed: 0, skipped: 0, expiringSecrets: [], exitCode: 0 });
    expect(r.stderr).toBe(""); // no progress noise with --json
    const noop = await run(["apply", "--json", "--detailed-exitcode"]);
    expect(noop.stdout.trim().split("\n").map((l) => JSON.parse(l).event)).toEqual(["plan", "summary"]);
    expect(noop.code).toBe(0);
  });

  it("a failure skips only what depends on it; exit 1 with the API's message", async () => {
    lab.write(`access:
  - { user: ann@pve, role: Administrator, path: / }
  - { user: kim@pve, role: PVEAuditor, path: / }
  - { user: lee@pve, role: PVEAuditor, path: /nodes }
users:
  kim@pve: { comment: fails }
`);
    // Every user create fails (500), ACL writes still work.
    lab.sim.setFaults({ rate: 1, kinds: ["500"], methods: ["POST"] });
    try {
      const r = await run(["apply"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^FAILED create proxmox\.user\/pve:kim@pve: /m);
      expect(r.stderr).toMatch(/^skipped proxmox\.acl\/pve:\/:kim@pve:PVEAuditor \(depends on failed proxmox\.user\/pve:kim@pve\)$/m);
      expect(r.stdout).toMatch(/^Apply: 0 created, 0 updated, 0 replaced, 0 deleted, 3 failed, 3 skipped\.$/m);
    } finally {
      lab.sim.setFaults(undefined);
    }
    const r2 = await run(["apply"]);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toMatch(/^Apply: 6 created/m);
  });
  // The lock (per cluster and tenant, holder identity, waiting, stale takeover): test/integration/lock-holder.test.ts.
});

describe("a token that sees only part of the cluster", () => {
  it("is refused before planning (Proxmox would answer with partial lists), exit 4 with a hint", async () => {
    const lab = await pveLab({ users: [{ userid: "homelab@pve" }, { userid: "ann@pve" }] });
    try {
      const token = lab.sim.createToken("homelab@pve", "converge", { privsep: 1 });
      lab.write("access:\n  - { user: ann@pve, role: PVEAuditor, path: / }\n");
      const text = (await import("node:fs")).readFileSync(lab.file, "utf8");
      (await import("node:fs")).writeFileSync(lab.file, text.replace(`id: "${lab.sim.adminToken.id}"`, `id: "${token.id}"`));
      const r = await homelab(["-f", lab.file, "plan"], { env: { ...lab.env, PVE_TOKEN: token.secret } });
      expect(r.code).toBe(4);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^error proxmox cluster 'pve': token homelab@pve!converge lacks Sys\.Audit on \/access, so Proxmox shows it only part of the users and ACL entries/m);
      expect(r.stderr).toMatch(/hint: give the token Administrator on \//);
      expect(writes(lab.sim)).toEqual([]);
    } finally {
      await lab.close();
    }
  });
});

describe("TLS settings", () => {
  it("insecure: true works and warns on every run; a wrong pin is an authentication failure before any request", async () => {
    const lab = await pveLab();
    try {
      lab.write("access:\n  - { user: ann@pve, role: PVEAuditor, path: / }\n");
      const text = (await import("node:fs")).readFileSync(lab.file, "utf8");
      (await import("node:fs")).writeFileSync(lab.file, text.replace(/tls: \{ fingerprint: "[^"]+" \}/, "tls: { insecure: true }"));
      for (let i = 0; i < 2; i++) {
        const r = await homelab(["-f", lab.file, "apply"], { env: lab.env });
        expect(r.code).toBe(0);
        expect(r.stderr).toMatch(/^warning: cluster 'pve': TLS certificate verification is disabled/m);
      }
      (await import("node:fs")).writeFileSync(lab.file, text.replace(/fingerprint: "[^"]+"/, `fingerprint: "${"AB:".repeat(31)}AB"`));
      lab.sim.clearLog();
      const bad = await homelab(["-f", lab.file, "plan"], { env: lab.env });
      expect(bad.code).toBe(4);
      expect(bad.stderr).toMatch(/fingerprint/i);
      expect(lab.sim.requestLog).toEqual([]);
    } finally {
      await lab.close();
    }
  });
});

describe("redaction: no secret in any output of any run", () => {
  let lab: PveLab;
  const SSO_SECRET = "Zq7-REDACT-me-client-key";
  const WRONG_TOKEN = "00000000-dead-beef-0000-1234567890ab";
  beforeAll(async () => {
    lab = await pveLab(undefined, { SSO_SECRET });
    lab.write(`realms:
  sso: { issuerUrl: https://auth.lan/, clientId: proxmox, clientKey: "\${env:SSO_SECRET}", usernameClaim: username }
access:
  - { user: jane@sso, role: Administrator, path: / }
`);
  });
  afterAll(() => lab.close());

  it("plan, apply, --json, --debug, failed writes, a rejected token", async () => {
    const secrets = [SSO_SECRET, lab.sim.adminToken.secret, WRONG_TOKEN];
    const runs = [
      await homelab(["-f", lab.file, "plan", "--debug"], { env: lab.env }),
      await homelab(["-f", lab.file, "apply", "--json", "--debug"], { env: lab.env }),
      await homelab(["-f", lab.file, "apply", "--debug"], { env: lab.env }),
    ];
    // A changed client key (update of a sensitive field) and a failing write, with --debug.
    await lab.admin.updateRealm("sso", { "client-key": "other-key-1" });
    lab.sim.setFaults({ rate: 1, kinds: ["500"], methods: ["PUT"] });
    runs.push(await homelab(["-f", lab.file, "apply", "--debug"], { env: lab.env }));
    lab.sim.setFaults(undefined);
    runs.push(await homelab(["-f", lab.file, "apply", "--json", "--debug"], { env: { ...lab.env, PVE_TOKEN: WRONG_TOKEN } }));
    expect(runs[3]!.code).toBe(1);
    expect(runs[4]!.code).toBe(4); // authentication failure
    expect(runs[4]!.stdout + runs[4]!.stderr).toMatch(/401|authentication|permission/i);
    for (const r of runs) {
      for (const s of secrets) {
        expect(r.stdout).not.toContain(s);
        expect(r.stderr).not.toContain(s);
      }
    }
    expect(runs[0]!.stdout).toContain("client-key:     (sensitive)");
  });
});
