import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLocks, clusterSubject, HEARTBEAT_STALE_MS, judge, lockPath, parseHolder, processStart, tenantSubject, type Holder, type Probe } from "../../src/engine/lock.js";
import { homelab } from "../helpers/cli.js";
import { pveLab, writes, type PveLab } from "../helpers/pve.js";

/**
 * Issue 10 item 4: one writer per cluster and tenant. The lock is named after what is written (the cluster's
 * origin, the tenant), so a symlink, a copy or a directory of the same config share it; its holder is identified
 * by pid and process start time, so a lock naming a dead process, or a live process that is not its holder (pid
 * reused), is taken over; a file with garbage is taken over with a warning.
 */

const holder = (over: Partial<Holder> = {}): Holder => ({ pid: 4242, start: "1000", boot: "b1", host: "h1", since: "2026-01-01T00:00:00Z", what: "cluster 'pve'", nonce: "n", ...over });
const probe = (over: Partial<Probe> = {}): Probe => ({ host: "h1", boot: "b1", alive: () => true, startOf: () => "1000", ...over });

describe("lock naming", () => {
  it("names a cluster by its origin: case, a trailing dot, the default port and a path do not matter; the port and host do", () => {
    const key = (url: string) => clusterSubject("pve", url).key;
    expect(key("https://PVE.lan:8006/")).toBe(key("https://pve.lan.:8006/api2/json"));
    expect(key("https://pve.lan/")).toBe(key("https://pve.lan:443"));
    expect(key("https://pve.lan:8006")).not.toBe(key("https://pve.lan:8007"));
    expect(key("https://pve.lan:8006")).not.toBe(key("https://pve2.lan:8006"));
    expect(lockPath(clusterSubject("a", "https://PVE.lan:8006"), "/x")).toBe(lockPath(clusterSubject("b", "https://pve.lan:8006/"), "/x"));
    expect(lockPath(clusterSubject("a", "https://pve.lan:8006"), "/x")).toMatch(/^\/x\/homelab-[0-9a-f]{16}\.lock$/);
  });

  it("names a tenant by its id (any case) and its Graph origin (a national cloud is another directory)", () => {
    const id = "5E1F0C3A-7D2B-4C8E-9A6F-0B1D2C3E4F50";
    expect(tenantSubject("x", id, "https://graph.microsoft.com").key).toBe(tenantSubject("y", id.toLowerCase(), "https://graph.microsoft.com/").key);
    expect(tenantSubject("x", id, "https://graph.microsoft.com").key).not.toBe(tenantSubject("x", id, "https://microsoftgraph.chinacloudapi.cn").key);
    expect(tenantSubject("x", id, "https://graph.microsoft.com").key).not.toBe(clusterSubject("x", "https://graph.microsoft.com").key);
  });
});

describe("judging a lock's holder", () => {
  it("held while the same process (pid and start time) runs", () => {
    expect(judge(holder(), probe(), Date.now()).state).toBe("held");
  });
  it("stale when the pid is gone, the pid is another process now, or the machine restarted", () => {
    expect(judge(holder(), probe({ alive: () => false }), Date.now())).toEqual({ state: "stale", why: "its holder, pid 4242, no longer runs" });
    expect(judge(holder(), probe({ startOf: () => "2000" }), Date.now()).why).toMatch(/pid 4242 is now another process/);
    expect(judge(holder(), probe({ boot: "b2" }), Date.now()).why).toMatch(/before this machine restarted/);
  });
  it("garbage is stale (homelab never writes it); another host's lock cannot be judged from here", () => {
    for (const text of ["", "garbage\n", "4242\n", "{}", '{"pid":-1,"host":"h1","nonce":"n"}', "null", "[1]"]) expect(judge(parseHolder(text), probe(), Date.now()).state).toBe("stale");
    expect(judge(holder({ host: "h2" }), probe({ alive: () => false }), Date.now())).toMatchObject({ state: "unknown", why: expect.stringMatching(/on host h2/) });
  });
  it("without a start time (not Linux) the holder's heartbeat decides: a lock untouched for a minute is stale", () => {
    const { start: _, ...noStart } = holder();
    const p = probe({ startOf: () => undefined });
    const now = Date.now();
    expect(judge(noStart as Holder, p, now - 10_000, now).state).toBe("held");
    expect(judge(noStart as Holder, p, now - HEARTBEAT_STALE_MS - 1000, now).state).toBe("stale");
  });
  it("reads field 22 of /proc/<pid>/stat even when the command name holds spaces and parentheses", () => {
    if (!existsSync("/proc/self/stat")) return; // Linux only
    const mine = processStart(process.pid);
    expect(mine).toMatch(/^\d+$/);
    expect(processStart(process.pid)).toBe(mine);
    const fields = readFileSync(`/proc/${process.pid}/stat`, "utf8").split(" ");
    // This process's name has no spaces: the plain split agrees.
    expect(fields[21]).toBe(mine);
  });
});

describe("acquireLocks in process", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "hl-lockdir-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const subject = clusterSubject("pve", "https://pve.example:8006");

  it("a second taker waits, then fails naming the holder; release removes the file; the next takes it", async () => {
    const release = await acquireLocks([subject], { waitMs: 0, file: "a.yaml", dir });
    const file = lockPath(subject, dir);
    expect(parseHolder(readFileSync(file, "utf8"))).toMatchObject({ pid: process.pid, host: hostname(), what: subject.label });
    const t0 = Date.now();
    const err = await acquireLocks([subject], { waitMs: 300, file: "b.yaml", dir }).catch((e: unknown) => e as Error);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect((err as { code?: string }).code).toBe("E_LOCKED");
    expect((err as Error).message).toMatch(new RegExp(`^another homelab run \\(pid ${process.pid}, since \\S+, with \\S+a\\.yaml\\) is writing to cluster 'pve' \\(https://pve\\.example:8006\\); gave up after 0 s$`));
    expect((err as { hint?: string }).hint).toContain(`rm '${file}'`);
    release();
    expect(existsSync(file)).toBe(false);
    (await acquireLocks([subject], { waitMs: 0, file: "b.yaml", dir }))();
  });

  it("release leaves alone a lock that is no longer its own (taken over meanwhile)", async () => {
    const release = await acquireLocks([subject], { waitMs: 0, file: "a.yaml", dir });
    const file = lockPath(subject, dir);
    writeFileSync(file, JSON.stringify(holder({ host: hostname(), nonce: "someone-else" })));
    release();
    expect(existsSync(file)).toBe(true);
    rmSync(file);
  });

  it("a lock naming a dead process, or holding garbage, is taken over with a warning saying why", async () => {
    const file = lockPath(subject, dir);
    const warnings: string[] = [];
    const onWarning = (m: string) => void warnings.push(m);
    writeFileSync(file, JSON.stringify(holder({ pid: 999_999_9, boot: bootId(), host: hostname() })));
    (await acquireLocks([subject], { waitMs: 0, file: "a.yaml", dir, onWarning }))();
    writeFileSync(file, "\u0000garbage 12\n");
    (await acquireLocks([subject], { waitMs: 0, file: "a.yaml", dir, onWarning }))();
    expect(warnings).toEqual([
      `took over the lock of cluster 'pve' (https://pve.example:8006): its holder, pid 9999999, no longer runs (${file})`,
      `took over the lock of cluster 'pve' (https://pve.example:8006): it names no holder (not written by homelab) (${file})`,
    ]);
    expect(existsSync(file)).toBe(false);
  });

  it("a lock directory that cannot be written to is a clear error naming it and HOMELAB_LOCK_DIR", async () => {
    const missing = join(dir, "no", "such", "dir");
    const err = (await acquireLocks([subject], { waitMs: 0, file: "a.yaml", dir: missing }).catch((e: unknown) => e)) as { code: string; message: string; hint: string };
    expect(err.code).toBe("E_LOCK_DIR");
    expect(err.message).toBe(`cannot create the lock file ${lockPath(subject, missing)} (ENOENT)`);
    expect(err.hint).toBe(`homelab keeps its locks in ${missing}: make it a writable directory, or set HOMELAB_LOCK_DIR to one`);
  });

  it("taking several locks of which one is held gives back the ones already taken", async () => {
    const other = tenantSubject("t", "5e1f0c3a-7d2b-4c8e-9a6f-0b1d2c3e4f50", "https://graph.microsoft.com");
    const held = await acquireLocks([other], { waitMs: 0, file: "a.yaml", dir });
    await expect(acquireLocks([subject, other], { waitMs: 0, file: "b.yaml", dir })).rejects.toMatchObject({ code: "E_LOCKED" });
    expect(existsSync(lockPath(subject, dir))).toBe(false);
    held();
  });
});

/** A pve lab whose apply is slow enough to overlap with another run: each write takes `slowMs`. */
describe("two runs through different files of one cluster (real processes)", () => {
  let lab: PveLab;
  let lockDir: string;
  const env = () => ({ ...lab.env, HOMELAB_LOCK_DIR: lockDir });
  const lockFile = () => lockPath(clusterSubject("pve", lab.sim.url), lockDir);
  const body = `users:\n${Array.from({ length: 6 }, (_, i) => `  u${i}@pve: {}`).join("\n")}\n`;

  beforeAll(async () => {
    lab = await pveLab();
    lockDir = mkdtempSync(join(tmpdir(), "hl-lockdir-"));
    lab.write(body);
    symlinkSync(lab.file, join(lab.dir, "link.yaml"));
    writeFileSync(join(lab.dir, "copy.yaml"), readFileSync(lab.file));
    mkdirSync(join(lab.dir, "conf"));
    writeFileSync(join(lab.dir, "conf", "all.yaml"), readFileSync(lab.file));
  });
  afterAll(async () => {
    await lab.close();
    rmSync(lockDir, { recursive: true, force: true });
  });

  it("runs through a symlink, a copy or a directory of the config are refused, or wait, while one applies; then find nothing to do", async () => {
    // Each write takes 300 ms; once the first run holds the lock and writes, it is paused (SIGSTOP) so that it
    // holds the lock for as long as the other runs need to start, whatever the machine's load.
    lab.sim.setFaults({ rate: 1, kinds: ["slow"], slowMs: 300, methods: ["POST", "PUT", "DELETE"] });
    let pid = 0;
    try {
      const first = homelab(["-f", lab.file, "apply", "--concurrency", "1"], { env: env() });
      await until(() => existsSync(lockFile()) && writes(lab.sim).length > 0);
      pid = parseHolder(readFileSync(lockFile(), "utf8"))!.pid;
      process.kill(pid, "SIGSTOP");
      const [link, copy, directory] = ["link.yaml", "copy.yaml", "conf"].map((f) => join(lab.dir, f));
      // Held: refused at once with a message naming the holder...
      const refused = await Promise.all([link!, directory!].map((f) => homelab(["-f", f, "apply"], { env: { ...env(), HOMELAB_LOCK_WAIT_MS: "0" } })));
      for (const r of refused) {
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^error another homelab run \\(pid ${pid}, since [^,]+, with ${lab.file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\) is writing to cluster 'pve' \\(https://127\\.0\\.0\\.1:\\d+\\); gave up after 0 s$`, "m"));
        expect(r.stderr).toContain(`rm '${lockFile()}'`);
      }
      // ...or waited for: it starts now and takes the lock once the first run is done.
      const waiting = Promise.all([copy!].map((f) => homelab(["-f", f, "apply"], { env: { ...env(), HOMELAB_LOCK_WAIT_MS: "60000" } })));
      await new Promise((r) => setTimeout(r, 500));
      process.kill(pid, "SIGCONT");
      const waited = await waiting;
      const r1 = await first;
      expect(r1.code).toBe(0);
      expect(r1.stdout).toMatch(/^Apply: 6 created/m);
      // The waiting runs planned from what the first one wrote: nothing left, no "already exists".
      for (const r of waited) {
        expect(r.stderr).not.toMatch(/already exists|FAILED/);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^No changes\./m);
      }
      expect(writes(lab.sim)).toHaveLength(6);
      expect(writes(lab.sim).filter((w) => w.status !== 200)).toEqual([]);
      expect(existsSync(lockFile())).toBe(false);
    } finally {
      if (pid) resume(pid);
      lab.sim.setFaults(undefined);
    }
  }, 60_000);

  it("plan takes no lock: it runs while an apply holds one", async () => {
    writeFileSync(lockFile(), JSON.stringify(holder({ pid: process.pid, start: processStart(process.pid) ?? "x", boot: bootId(), host: hostname() })));
    try {
      const r = await homelab(["-f", join(lab.dir, "link.yaml"), "plan"], { env: { ...env(), HOMELAB_LOCK_WAIT_MS: "0" } });
      expect(r.code).toBe(0);
    } finally {
      rmSync(lockFile(), { force: true });
    }
  });

  it("a lock naming a live process that is not its holder (pid reused) is taken over, with a warning", async () => {
    const sleeper = spawnSleeper();
    try {
      const start = processStart(sleeper.pid!);
      writeFileSync(lockFile(), JSON.stringify(holder({ pid: sleeper.pid!, start: start === undefined ? "1" : String(Number(start) + 1), boot: bootId(), host: hostname() })));
      const r = await homelab(["-f", lab.file, "apply"], { env: { ...env(), HOMELAB_LOCK_WAIT_MS: "5000" } });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^warning: took over the lock of cluster 'pve' \\(https://127\\.0\\.0\\.1:\\d+\\): pid ${sleeper.pid} is now another process`, "m"));
      expect(existsSync(lockFile())).toBe(false);
    } finally {
      sleeper.kill();
    }
  });

  it("a lock held on another host is waited for, then refused with the command that clears it", async () => {
    writeFileSync(lockFile(), JSON.stringify(holder({ host: "elsewhere.example" })));
    try {
      const r = await homelab(["-f", lab.file, "apply"], { env: { ...env(), HOMELAB_LOCK_WAIT_MS: "200" } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error another homelab run \(pid 4242 on elsewhere\.example, .*\) is writing to cluster 'pve' .*; it is held by pid 4242 on host elsewhere\.example, which cannot be checked from /m);
      expect(r.stderr).toContain(`hint: wait for it to finish (HOMELAB_LOCK_WAIT_MS sets how long to wait); if no homelab run is going on, remove the lock: rm '${lockFile()}'`);
      expect(readFileSync(lockFile(), "utf8")).toContain("elsewhere.example");
    } finally {
      rmSync(lockFile(), { force: true });
    }
  });
});

function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

/** SIGCONT to a process that may have ended. */
function resume(pid: number): void {
  try {
    process.kill(pid, "SIGCONT");
  } catch {
    // ended
  }
}

function spawnSleeper(): ChildProcess {
  return spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
}

async function until(ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
