import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { homelab } from "../helpers/cli.js";
import { lab, realmOn, type Lab } from "../helpers/lab.js";
import { pveLab, writes, type PveLab } from "../helpers/pve.js";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";

/**
 * Issue 8: converging where Proxmox's own rules bite, end to end against the Proxmox simulator (which
 * enforces each rule). Every test here failed on the main before the issue.
 */
const KEY = "rules-Client-Key-4711";
const realm = (name: string, extra = "") => `  ${name}:
    issuerUrl: https://auth.lan/application/o/${name}/
    clientId: proxmox-${name}
    clientKey: \${env:RULES_KEY}
    usernameClaim: username
${extra}`;

function runner(l: PveLab) {
  return (...args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });
}

describe("two realms written in one run (failure 1: never a stale digest)", () => {
  let l: PveLab;
  let run: ReturnType<typeof runner>;
  beforeAll(async () => {
    l = await pveLab(undefined, { RULES_KEY: KEY });
    run = runner(l);
    l.write(`realms:\n  pve: { comment: "Local accounts (break-glass)" }\n${realm("authentik")}${realm("keycloak")}`);
  });
  afterAll(() => l.close());

  it("creates two realms and updates a third in one run, then converges", async () => {
    const r = await run("apply");
    expect(r.stderr).not.toMatch(/FAILED|modified configuration/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Apply: 2 created, 1 updated, 0 replaced, 0 deleted\.$/m);
    expect((await run("apply", "--check", "--detailed-exitcode")).code).toBe(0);
  });

  it("repairs drift on three realms in one run: each write carries the digest of the file as it is now", async () => {
    await l.admin.updateRealm("pve", { comment: "changed by hand" });
    await l.admin.updateRealm("authentik", { autocreate: true });
    await l.admin.updateRealm("keycloak", { comment: "hand-made" });
    l.sim.clearLog();
    const r = await run("apply");
    expect(r.stderr).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Apply: 0 created, 3 updated, 0 replaced, 0 deleted\.$/m);
    // One write per realm, never two at once, and no write refused.
    const realmWrites = l.sim.requestLog.filter((x) => x.method === "PUT" && x.path.startsWith("/api2/json/access/domains/"));
    expect(realmWrites.map((x) => x.status)).toEqual([200, 200, 200]);
    const s = l.sim.state().realms!;
    expect(s.find((x) => x.realm === "pve")!.comment).toBe("Local accounts (break-glass)");
    expect(s.find((x) => x.realm === "authentik")!.autocreate ?? 0).toBe(0);
    expect(s.find((x) => x.realm === "keycloak")!.comment).toBeUndefined();
    expect((await run("apply", "--check", "--detailed-exitcode")).code).toBe(0);
  });
});

describe("the built-in realms (failure 2: the default comment is the unset value)", () => {
  let l: PveLab;
  let run: ReturnType<typeof runner>;
  beforeAll(async () => {
    l = await pveLab();
    run = runner(l);
    l.write("realms:\n  pve: { default: true }\n  pam: {}\n");
  });
  afterAll(() => l.close());

  it("a built-in realm declared without a comment converges in one run and stays converged", async () => {
    const r = await run("apply", "--detailed-exitcode");
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^Apply: 0 created, 1 updated, 0 replaced, 0 deleted\.$/m);
    l.sim.clearLog();
    expect(await run("apply", "--check", "--detailed-exitcode")).toMatchObject({ code: 0 });
    expect(writes(l.sim)).toEqual([]);
  });

  it("a comment set by hand goes back to the default, which Proxmox shows again", async () => {
    await l.admin.updateRealm("pam", { comment: "hand-made" });
    const r = await run("apply");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('comment: "hand-made" → "Linux PAM standard authentication"');
    expect(l.sim.state().realms!.find((x) => x.realm === "pam")!.comment).toBe("Linux PAM standard authentication");
    expect((await run("apply", "--check", "--detailed-exitcode")).code).toBe(0);
  });
});

/** The config of the pruning tests; `operators` gets `extra` options. */
const pruning = (extra: string) => `realms:
${realm("corp")}groups:
  operators: { comment: Operators, members: [bob@corp, amy@pve]${extra} }
  ops-corp: { members: [bob@corp] }
users:
  bob@corp: {}
access:
  - { user: bob@corp, role: PVEAuditor, path: / }
prune: { acl: true, roles: true, groups: true }
`;

describe("pruning roles, groups and hand-added members (failures 7, 8, 11)", () => {
  let l: PveLab;
  let run: ReturnType<typeof runner>;
  beforeAll(async () => {
    l = await pveLab(
      {
        roles: [{ roleid: "Legacy", privs: ["VM.Audit"] }, { roleid: "Shared", privs: ["Datastore.Audit"] }],
        groups: [{ groupid: "devs-corp" }, { groupid: "operators", comment: "Operators" }],
        users: [
          { userid: "bob@corp", groups: ["devs-corp"] },
          { userid: "zed@pve", groups: ["operators"] },
          { userid: "amy@pve", groups: ["operators"] },
        ],
        acl: [
          { path: "/vms", type: "user", ugid: "bob@corp", roleid: "Legacy" },
          { path: "/", type: "user", ugid: "bob@corp", roleid: "Legacy" },
          { path: "/storage", type: "user", ugid: "bob@corp", roleid: "Shared" },
          { path: "/storage", type: "user", ugid: "zed@pve", roleid: "Shared" },
        ],
      },
      { RULES_KEY: KEY },
    );
    run = runner(l);
    l.write(pruning(""));
  });
  afterAll(() => l.close());

  it("the plan shows the hand-added member, the role kept for an entry homelab does not manage, and the pruned group", async () => {
    const r = await run("plan");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("~ proxmox.user/pve:zed@pve");
    expect(r.stdout).toContain('groups: ["operators"] → []');
    expect(r.stdout).toContain("- proxmox.role/pve:Legacy");
    expect(r.stdout).not.toContain("proxmox.role/pve:Shared");
    expect(r.stderr).toMatch(/warning: cluster pve: role Shared is not declared but is not deleted.*\/storage user zed@pve/);
    expect(r.stdout).toContain("- proxmox.group/pve:devs-corp");
  });

  it("applies in one run: ACL deletes before the role delete, no membership in the deleted group, extra members removed", async () => {
    const r = await run("apply");
    expect(r.stderr).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
    const s = l.sim.state();
    expect(s.roles!.map((x) => x.roleid).sort()).toEqual(["Shared"]);
    expect(s.groups!.map((g) => g.groupid).sort()).toEqual(["operators", "ops-corp"]);
    const groupsOf = (u: string) => s.users!.find((x) => x.userid === u)!.groups ?? [];
    expect(groupsOf("bob@corp").sort()).toEqual(["operators", "ops-corp"]);
    expect(groupsOf("amy@pve")).toEqual(["operators"]);
    expect(groupsOf("zed@pve")).toEqual([]);
    // The entry of zed@pve (not managed) is untouched, and so is the role it uses.
    expect(s.acl!.filter((a) => a.ugid === "zed@pve")).toEqual([{ path: "/storage", type: "user", ugid: "zed@pve", roleid: "Shared", propagate: 1 }]);
    l.sim.clearLog();
    const again = await run("apply", "--detailed-exitcode");
    expect(again.code).toBe(0);
    expect(writes(l.sim)).toEqual([]);
  });

  it("membersExclusive: false leaves a hand-added member alone", async () => {
    await l.admin.updateUser("zed@pve", { groups: ["operators"] });
    l.write(pruning(", membersExclusive: false"));
    const r = await run("apply", "--detailed-exitcode");
    expect(r.code).toBe(0);
    expect(l.sim.state().users!.find((x) => x.userid === "zed@pve")!.groups).toEqual(["operators"]);
  });
});

describe("a realm without a client key is drift (issue 14)", () => {
  let l: PveLab;
  let run: ReturnType<typeof runner>;
  beforeAll(async () => {
    l = await pveLab(undefined, { RULES_KEY: KEY });
    run = runner(l);
    l.write(`realms:\n${realm("sso")}`);
    await run("apply");
  });
  afterAll(() => l.close());

  it("an external realm whose key was deleted by hand gets it back, then is in sync", async () => {
    await l.admin.updateRealm("sso", {}, { delete: ["client-key"] });
    const check = await run("apply", "--check", "--detailed-exitcode", "--diff");
    expect(check.code).toBe(2);
    expect(check.stdout).toContain("~ proxmox.realm/pve:sso");
    expect(check.stdout).toMatch(/client-key: .*\(sensitive\)/);
    expect(check.stdout).not.toContain(KEY);
    const r = await run("apply");
    expect(r.code).toBe(0);
    expect(realmOnPve(l.sim, "sso")["client-key"]).toBe(KEY);
    expect(await run("apply", "--check", "--detailed-exitcode")).toMatchObject({ code: 0 });
  });
});

const realmOnPve = (sim: ProxmoxSim, name: string) => sim.state().realms!.find((r) => r.realm === name) as Record<string, unknown>;

describe("a tenant realm whose key was deleted on the Proxmox side (issue 14)", () => {
  let l: Lab;
  const run = (...args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });
  beforeAll(async () => {
    l = await lab(["pve1"]);
    l.write("realms:\n  azure:\n    tenant: contoso\n    usernameClaim: upn\naccess:\n  - { user: jane@contoso.com@azure, role: Administrator, path: / }\n");
    const first = await run("apply");
    expect(first.code).toBe(0);
  });
  afterAll(() => l.close());

  it("gets a new secret (Entra never returns the old value), the realm is switched to it, then in sync", async () => {
    const sim = l.pve.get("pve1")!;
    const admin = (await import("../../src/providers/proxmox/client.js")).createProxmoxClient({
      name: "admin", url: sim.url, token: { id: sim.adminToken.id, secret: (await import("../../src/core/secret.js")).Secret.fromValue(sim.adminToken.secret, "t") }, tls: { fingerprint: sim.fingerprint },
    });
    await admin.updateRealm("azure", {}, { delete: ["client-key"] });
    admin.close();
    const check = await run("apply", "--check", "--detailed-exitcode");
    expect(check.code).toBe(2);
    const r = await run("apply");
    expect(r.stderr).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
    const key = String(realmOn(sim, "azure")!["client-key"]);
    const appId = String(realmOn(sim, "azure")!["client-id"]);
    expect(l.entra.checkClientSecret(appId, key)).toBe(true);
    expect(await run("apply", "--check", "--detailed-exitcode")).toMatchObject({ code: 0 });
  });
});

describe("a cluster that dies during an apply (failure 12)", () => {
  let sim: ProxmoxSim;
  let dir: string;
  afterAll(() => sim.close());

  it("stops starting changes on it, reports the cause once with the count not attempted, exit 1; a rerun converges", async () => {
    sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    dir = mkdtempSync(join(tmpdir(), "hl-dead-"));
    const file = join(dir, "homelab.yaml");
    const users = Array.from({ length: 300 }, (_, i) => `  - { user: u${String(i).padStart(3, "0")}@pve, role: PVEVMUser, path: /vms/${100 + i} }`).join("\n");
    const write = (s: ProxmoxSim) => writeFileSync(file, `version: 1
clusters:
  pve:
    url: ${s.url}
    token: { id: "${s.adminToken.id}", secret: "\${env:PVE_TOKEN}" }
    tls: { fingerprint: "${s.fingerprint}" }
access:
${users}
`);
    write(sim);
    const env = { PVE_TOKEN: sim.adminToken.secret };
    const running = homelab(["-f", file, "apply"], { env });
    // Kill the server once the run is well under way.
    while (sim.requestLog.filter((x) => x.method !== "GET").length < 40) await new Promise((r) => setTimeout(r, 5));
    const port = Number(new URL(sim.url).port);
    await sim.close();
    const r = await running;
    expect(r.code).toBe(1);
    const all = `${r.stdout}${r.stderr}`;
    const failedLines = all.split("\n").filter((x) => x.startsWith("FAILED"));
    // The changes in flight (at most --concurrency, default 4) fail, each listed at most twice (progress + summary).
    expect(failedLines.length).toBeLessThanOrEqual(2);
    expect(all.split("\n").filter((x) => x.startsWith("skipped"))).toEqual([]);
    const stop = /pve: stopped after this failure: (\d+) changes not attempted/.exec(r.stdout);
    expect(stop).not.toBeNull();
    expect(Number(stop![1])).toBeGreaterThan(100);
    expect(r.stdout).toMatch(/connection (refused|reset)/);

    // The cluster comes back (same state, same port, new certificate): a rerun converges.
    sim = await startProxmoxSim({ unauthorizedDelayMs: 0, port, fixture: sim.state() });
    write(sim);
    const again = await homelab(["-f", file, "apply"], { env: { PVE_TOKEN: sim.adminToken.secret } });
    expect(again.stderr).not.toMatch(/FAILED/);
    expect(again.code).toBe(0);
    const check = await homelab(["-f", file, "apply", "--check", "--detailed-exitcode"], { env: { PVE_TOKEN: sim.adminToken.secret } });
    expect(check.code).toBe(0);
    expect(sim.state().users!.length).toBe(301);
  });
});

describe("a realm replace whose create fails (failure 9)", () => {
  let l: PveLab;
  let run: ReturnType<typeof runner>;
  beforeAll(async () => {
    l = await pveLab(undefined, { RULES_KEY: KEY });
    run = runner(l);
    l.write(`realms:\n${realm("sso", "    autocreate: true\n    comment: Single sign-on\n")}users:\n  bob@sso: {}\n`);
    expect((await run("apply")).code).toBe(0);
  });
  afterAll(() => l.close());

  it("recreates the old realm exactly as it was (client key included), says so, exits 1; a later run replaces it", async () => {
    const before = realmOnPve(l.sim, "sso");
    l.write(`realms:\n${realm("sso", "    autocreate: true\n    comment: Single sign-on\n").replace("usernameClaim: username", "usernameClaim: email")}users:\n  bob@sso: {}\n`);
    // The delete goes through; the create of the new realm is refused once.
    l.sim.failNext({ method: "POST", path: "/access/domains", times: 1, message: "add auth server failed: simulated refusal" });
    const r = await run("apply");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED proxmox\.realm\/pve:sso: proxmox\.realm\/pve:sso: the new realm could not be created \(.*simulated refusal.*\); the old realm was recreated exactly as it was/);
    expect(`${r.stdout}${r.stderr}`).not.toContain(KEY);
    const after = realmOnPve(l.sim, "sso");
    expect(after).toEqual(before);
    expect(after["client-key"]).toBe(KEY);
    // The users of the realm were never touched.
    expect(l.sim.state().users!.some((u) => u.userid === "bob@sso")).toBe(true);

    const again = await run("apply");
    expect(again.code).toBe(0);
    expect(realmOnPve(l.sim, "sso")["username-claim"]).toBe("email");
    expect((await run("apply", "--check", "--detailed-exitcode")).code).toBe(0);
  });

  it("checks what it can before deleting: an unresolvable key stops the replace with the realm still in place", async () => {
    l.write(`realms:\n${realm("sso", "    autocreate: true\n    comment: Single sign-on\n").replace("usernameClaim: username", "usernameClaim: preferred_username").replace("RULES_KEY", "RULES_KEY_MISSING")}users:\n  bob@sso: {}\n`);
    l.sim.clearLog();
    const r = await run("apply");
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/RULES_KEY_MISSING/);
    expect(writes(l.sim)).toEqual([]);
    expect(realmOnPve(l.sim, "sso")["username-claim"]).toBe("email");
  });
});
