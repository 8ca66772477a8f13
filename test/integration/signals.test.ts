import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { clusterSubject, lockPath } from "../../src/engine/lock.js";
import { bin, homelab } from "../helpers/cli.js";
import { root } from "../helpers/config.js";
import { pveLab, writes, type PveLab } from "../helpers/pve.js";
import { startEntraSim } from "../../src/sim/entra/index.js";

/**
 * Issue 10 item 5, with real processes: the built CLI applies against the Proxmox simulator, whose writes are
 * slowed down; the test sends SIGINT or SIGTERM at a moment it sees in the output, then checks the exit code, the
 * message, that the lock file is gone, and that a rerun converges.
 */

const USERS = 30;
const body = `users:\n${Array.from({ length: USERS }, (_, i) => `  u${String(i).padStart(2, "0")}@pve: {}`).join("\n")}\n`;

interface Running {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr matches `re` (rejects after 30 s). */
  waitFor(re: RegExp, count?: number): Promise<void>;
  kill(sig: NodeJS.Signals): void;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  return {
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    waitFor: async (re, count = 1) => {
      const deadline = Date.now() + 30_000;
      const g = new RegExp(re.source, `${re.flags.replace("g", "")}g`);
      while ((err.match(g) ?? []).length < count) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`stderr never matched ${re} ${count} times:\n${err}\nstdout:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    kill: (sig) => child.kill(sig),
    done,
  };
}

describe("signals during apply and plan", () => {
  let lab: PveLab;
  let lockDir: string;
  const env = () => ({ ...lab.env, HOMELAB_LOCK_DIR: lockDir });
  const lockFile = () => lockPath(clusterSubject("pve", lab.sim.url), lockDir);
  const ours = () => (lab.sim.state().users ?? []).map((u) => u.userid).filter((u) => /^u\d+@pve$/.test(u));

  beforeAll(async () => {
    lab = await pveLab();
    lockDir = mkdtempSync(join(tmpdir(), "hl-lockdir-"));
    lab.write(body);
  });
  afterAll(async () => {
    await lab.close();
    rmSync(lockDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    lab.sim.setFaults(undefined);
    for (const u of ours()) await lab.admin.deleteUser(u);
    lab.sim.clearLog();
  });

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("%s while changes are applied: the ones in flight finish, no new one starts, the summary says what was not attempted; exit %d", async (sig, exitCode) => {
    lab.sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 150, methods: ["POST"] });
    const run = start(["-f", lab.file, "apply", "--concurrency", "2"], env());
    await run.waitFor(/^created proxmox\.user\/pve:/m, 3);
    run.kill(sig);
    const { code, signal } = await run.done;
    expect(signal).toBeNull();
    expect(code).toBe(exitCode);
    expect(run.stderr()).toMatch(new RegExp(`^interrupted by ${sig}: starting no new changes; waiting up to 10 s for the [0-2] in flight \\(press Ctrl-C again to stop at once\\)$`, "m"));
    expect(run.stderr()).not.toMatch(/internal error|at .*\.js:\d+/);
    const made = ours();
    const notAttempted = USERS - made.length;
    expect(made.length).toBeGreaterThanOrEqual(3);
    expect(notAttempted).toBeGreaterThan(0);
    const out = run.stdout();
    expect(out).toMatch(new RegExp(`^Apply: ${made.length} created, 0 updated, 0 replaced, 0 deleted, ${notAttempted} not attempted\\.$`, "m"));
    expect(out).toMatch(new RegExp(`^Interrupted by ${sig}: ${made.length} changes made, ${notAttempted} not attempted:$`, "m"));
    // Exactly the users that are not there are listed as not attempted.
    const listed = [...out.matchAll(/^ {2}proxmox\.user\/pve:(\S+)$/gm)].map((m) => m[1]!).sort();
    const all = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(2, "0")}@pve`);
    expect(listed).toEqual(all.filter((u) => !made.includes(u)));
    expect(out).toMatch(/^Run homelab apply again to converge the rest\.$/m);
    expect(existsSync(lockFile())).toBe(false);

    // The rerun converges.
    lab.sim.setFaults(undefined);
    const again = await homelab(["-f", lab.file, "apply"], { env: env() });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^Apply: ${notAttempted} created, 0 updated`, "m"));
    expect(ours()).toHaveLength(USERS);
  });

  it("a second SIGINT exits at once (130), without waiting for the changes in flight, and still removes the lock", async () => {
    lab.sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 1500, methods: ["POST"] });
    const run = start(["-f", lab.file, "apply", "--concurrency", "2"], env());
    await run.waitFor(/^created proxmox\.user\/pve:/m, 1);
    run.kill("SIGINT");
    await run.waitFor(/^interrupted by SIGINT: starting no new changes/m);
    run.kill("SIGINT");
    const { code, signal } = await run.done;
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(run.stderr()).toMatch(/^interrupted again \(SIGINT\): exiting now; a change that was in flight may or may not have been made \(run homelab again to converge\)$/m);
    // It did not wait to print a summary.
    expect(run.stdout()).not.toMatch(/^Apply:/m);
    expect(existsSync(lockFile())).toBe(false);

    // The requests that were in flight are still being answered by the simulator (1.5 s each): let them land
    // before the rerun and before the next test clears the log, or they would show up there as its writes.
    await new Promise((r) => setTimeout(r, 2000));
    lab.sim.setFaults(undefined);
    const again = await homelab(["-f", lab.file, "apply"], { env: env() });
    expect(again.code).toBe(0);
    expect(ours()).toHaveLength(USERS);
  });

  it("SIGTERM while reading: exit 143 with one line, nothing written, the lock removed", async () => {
    lab.sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 4000, methods: ["GET"] });
    const run = start(["-f", lab.file, "apply"], env());
    await run.waitFor(/read pve/m);
    expect(existsSync(lockFile())).toBe(true);
    run.kill("SIGTERM");
    const { code, signal } = await run.done;
    expect(signal).toBeNull();
    expect(code).toBe(143);
    expect(run.stderr().trimEnd().split("\n").at(-1)).toBe("interrupted by SIGTERM; nothing was changed");
    expect(run.stdout()).toBe("");
    expect(existsSync(lockFile())).toBe(false);
    expect(writes(lab.sim)).toEqual([]);
  });

  it("SIGINT during plan: exit 130 with one line and no stack trace", async () => {
    lab.sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 4000, methods: ["GET"] });
    const run = start(["-f", lab.file, "plan"], env());
    await run.waitFor(/read pve/m);
    run.kill("SIGINT");
    const { code, signal } = await run.done;
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(run.stderr().trimEnd().split("\n").at(-1)).toBe("interrupted by SIGINT; nothing was changed");
    expect(run.stderr()).not.toMatch(/Interrupted\.|internal error|at .*\.js:\d+/);
  });
});

describe("a signal during bootstrap's sign-in", () => {
  it("exits 130 with one line, and removes the --secret-out file it had created", async () => {
    const admin = { displayName: "Ada Admin", userPrincipalName: "ada@homelabsim.onmicrosoft.com" };
    // Nobody approves the sign-in: it stays pending.
    const sim = await startEntraSim({ fixture: { users: [admin] }, deviceUser: admin.userPrincipalName, devicePendingPolls: 1000, devicePollInterval: 1 });
    const dir = mkdtempSync(join(tmpdir(), "hl-sig-bootstrap-"));
    try {
      const file = join(dir, "homelab.yaml");
      writeFileSync(file, `version: 1
tenants:
  lab:
    tenantId: ${sim.tenantId}
    cloud: { loginUrl: ${sim.loginUrl}, graphUrl: ${sim.graphUrl} }
    credentials:
      clientId: 00000000-0000-0000-0000-000000000000
      clientSecret: \${env:LAB_AUTOMATION_SECRET}
`);
      const out = join(dir, "automation.secret");
      const run = start(["-f", file, "bootstrap", "--tenant", "lab", "--secret-out", out], {});
      await run.waitFor(/enter the code/);
      expect(existsSync(out)).toBe(true); // created (empty, 0600) before the sign-in
      run.kill("SIGINT");
      const { code, signal } = await run.done;
      expect(signal).toBeNull();
      expect(code).toBe(130);
      expect(run.stderr().trimEnd().split("\n").at(-1)).toBe("interrupted by SIGINT; run bootstrap again to finish (it finds the app it created and adds a new secret)");
      expect(existsSync(out)).toBe(false);
      expect(sim.state().applications).toHaveLength(1); // only the simulator's own automation app
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
