import { createHash, randomBytes } from "node:crypto";
import { linkSync, openSync, closeSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, resolve } from "node:path";
import { HomelabError, UserError } from "../core/errors.js";

/**
 * One writer per cluster and per tenant (issue 10 item 4). A run that may write takes one lock file for every
 * cluster and tenant of its config before it reads anything (the plan is only valid while nobody else writes),
 * and keeps them until it exits. The lock is named after WHAT is written, not after the config file: the
 * normalised cluster origin (`https://pve.lan:8006`) or the Graph origin plus tenant id, hashed. Two runs through
 * a symlink, a copy or a directory of the same config therefore exclude each other. (A cluster reached under two
 * different host names, or by IP and by name, is not recognised as the same one.)
 *
 * The files live in $HOMELAB_LOCK_DIR, else the temp directory (os.tmpdir(): $TMPDIR or /tmp), as
 * `homelab-<16 hex>.lock`: nothing is written next to the config, which may be a read-only checkout.
 *
 * A lock file is one JSON line naming its holder: pid, the process's start time (Linux: /proc/<pid>/stat field
 * 22, in clock ticks since boot), the boot id, the host, when and for what it was taken, and a random nonce. It is
 * written in full to a temporary file and then hard-linked into place, so a lock file is never seen half written.
 * A waiting run takes a lock over when its holder is provably gone: the machine restarted (other boot id), the pid
 * no longer exists, or the pid now belongs to another process (other start time). Where no start time can be read
 * (not Linux), the holder touches its lock file every few seconds and a lock untouched for a minute is stale.
 * A file that names no holder (garbage: homelab never writes one) is taken over with a warning. What cannot be
 * decided from here (a holder on another host, an unreadable file) is waited for, and the error says which file
 * to remove by hand.
 */

/** What a run writes to: a cluster or a tenant. `key` is the normalised identity the lock is named from. */
export interface LockSubject {
  /** Shown in messages: `cluster 'pve' (https://pve.lan:8006)`. */
  label: string;
  key: string;
}

/** What a lock file says about its holder. */
export interface Holder {
  pid: number;
  /** Linux: /proc/<pid>/stat field 22 (start time in clock ticks since boot); absent elsewhere. */
  start?: string;
  /** Linux: /proc/sys/kernel/random/boot_id. */
  boot?: string;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
  /** The label of what the lock protects, and the config the holder runs. */
  what: string;
  file?: string;
  nonce: string;
}

/** How long a lock without a readable start time may go untouched before it is stale (the holder touches it every HEARTBEAT_MS). */
export const HEARTBEAT_MS = 5_000;
export const HEARTBEAT_STALE_MS = 60_000;

/** The identity of a Proxmox VE cluster: its API origin, lower-case, default port made explicit, no trailing dot. */
export function clusterSubject(name: string, url: string): LockSubject {
  return { label: `cluster '${name}' (${url})`, key: `proxmox ${origin(url)}` };
}

/** The identity of an Entra tenant: the Graph origin (a national cloud is another directory) and the tenant id. */
export function tenantSubject(name: string, tenantId: string, graphUrl: string): LockSubject {
  return { label: `tenant '${name}' (${tenantId})`, key: `entra ${origin(graphUrl)} ${tenantId.trim().toLowerCase()}` };
}

function origin(url: string): string {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === "https:" ? "443" : u.protocol === "http:" ? "80" : "");
    return `${u.protocol}//${u.hostname.replace(/\.$/, "").toLowerCase()}:${port}`;
  } catch {
    return url.trim().toLowerCase();
  }
}

/** The directory lock files live in: $HOMELAB_LOCK_DIR, else the temp directory. */
export function lockDir(): string {
  return process.env.HOMELAB_LOCK_DIR || tmpdir();
}

/** The lock file of a subject. */
export function lockPath(subject: LockSubject, dir = lockDir()): string {
  return resolve(dir, `homelab-${createHash("sha256").update(subject.key).digest("hex").slice(0, 16)}.lock`);
}

/** What the judge needs to know about this machine; a parameter so the non-Linux paths can be tested here. */
export interface Probe {
  host: string;
  boot: string | undefined;
  alive(pid: number): boolean;
  startOf(pid: number): string | undefined;
}

export const localProbe: Probe = {
  host: hostname(),
  boot: readOr("/proc/sys/kernel/random/boot_id", undefined)?.trim() || undefined,
  alive,
  startOf: processStart,
};

export type Verdict = { state: "held"; why: string } | { state: "stale"; why: string } | { state: "unknown"; why: string };

/**
 * Whether the holder named in a lock file is still running (pure but for `probe`). `mtimeMs` is the lock file's
 * last touch, used only when no start time is known on either side.
 */
export function judge(holder: Holder | undefined, probe: Probe, mtimeMs: number, now = Date.now()): Verdict {
  if (!holder) return { state: "stale", why: "it names no holder (not written by homelab)" };
  if (holder.host !== probe.host) return { state: "unknown", why: `it is held by pid ${holder.pid} on host ${holder.host}, which cannot be checked from ${probe.host}` };
  if (holder.boot && probe.boot && holder.boot !== probe.boot) return { state: "stale", why: `its holder, pid ${holder.pid}, ran before this machine restarted` };
  if (!probe.alive(holder.pid)) return { state: "stale", why: `its holder, pid ${holder.pid}, no longer runs` };
  const start = probe.startOf(holder.pid);
  if (holder.start !== undefined && start !== undefined) {
    if (holder.start === start) return { state: "held", why: "" };
    return { state: "stale", why: `pid ${holder.pid} is now another process (started at another time than the holder)` };
  }
  if (now - mtimeMs > HEARTBEAT_STALE_MS) return { state: "stale", why: `its holder, pid ${holder.pid}, has not touched it for ${Math.round((now - mtimeMs) / 1000)} s` };
  return { state: "held", why: "" };
}

/** Parse a lock file's text; undefined for anything homelab did not write. */
export function parseHolder(text: string): Holder | undefined {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h !== "object" || h === null) return undefined;
    if (!Number.isSafeInteger(h.pid) || (h.pid as number) <= 0 || typeof h.host !== "string" || typeof h.nonce !== "string") return undefined;
    if (h.start !== undefined && typeof h.start !== "string") return undefined;
    return {
      pid: h.pid as number,
      host: h.host,
      nonce: h.nonce,
      since: typeof h.since === "string" ? h.since : "?",
      what: typeof h.what === "string" ? h.what : "?",
      ...(h.start !== undefined ? { start: h.start } : {}),
      ...(typeof h.boot === "string" ? { boot: h.boot } : {}),
      ...(typeof h.file === "string" ? { file: h.file } : {}),
    };
  } catch {
    return undefined;
  }
}

export interface LockOptions {
  /** How long to wait for a held lock before giving up (HOMELAB_LOCK_WAIT_MS). */
  waitMs: number;
  /** The config the run uses (shown to a waiting run). */
  file: string;
  /** Told when a stale lock is taken over. */
  onWarning?: (message: string) => void;
  dir?: string;
  probe?: Probe;
}

/**
 * Take the lock of every subject (in a fixed order, so two runs on overlapping sets cannot deadlock), waiting up to
 * `waitMs` for each. Resolves to a synchronous release, also run on process exit (a signal's process.exit included).
 * Throws E_LOCKED (exit 1) naming the holder when a lock stays held.
 */
export async function acquireLocks(subjects: readonly LockSubject[], opts: LockOptions): Promise<() => void> {
  const probe = opts.probe ?? localProbe;
  const byFile = new Map<string, LockSubject>();
  for (const s of subjects) byFile.set(lockPath(s, opts.dir ?? lockDir()), s);
  const held: Held[] = [];
  const release = () => {
    process.removeListener("exit", release);
    for (const h of held.splice(0)) h.release();
  };
  process.on("exit", release);
  try {
    const deadline = Date.now() + opts.waitMs;
    for (const [file, subject] of [...byFile].sort(([a], [b]) => (a < b ? -1 : 1))) held.push(await acquireOne(file, subject, opts, probe, deadline));
  } catch (err) {
    release();
    throw err;
  }
  return release;
}

interface Held {
  release(): void;
}

async function acquireOne(file: string, subject: LockSubject, opts: LockOptions, probe: Probe, deadline: number): Promise<Held> {
  const start = probe.startOf(process.pid);
  const holder: Holder = {
    pid: process.pid,
    ...(start !== undefined ? { start } : {}),
    ...(probe.boot !== undefined ? { boot: probe.boot } : {}),
    host: probe.host,
    since: new Date().toISOString(),
    what: subject.label,
    file: resolve(opts.file),
    nonce: randomBytes(8).toString("hex"),
  };
  const text = `${JSON.stringify(holder)}\n`;
  for (;;) {
    let created: boolean;
    try {
      created = create(file, text);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new UserError(`cannot create the lock file ${file} (${code})`, {
        code: "E_LOCK_DIR",
        hint: `homelab keeps its locks in ${dirname(file)}: make it a writable directory, or set HOMELAB_LOCK_DIR to one`,
      });
    }
    if (created) return hold(file, holder.nonce, start === undefined);
    let raw: string;
    let mtimeMs: number;
    try {
      raw = readFileSync(file, "utf8");
      mtimeMs = statSync(file).mtimeMs;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue; // released meanwhile
      // Another user's lock, say: not ours to judge.
      if (Date.now() >= deadline) throw locked(`another homelab run may be writing to ${subject.label}: its lock file cannot be read (${code ?? String(err)})`, file, opts.waitMs);
      await sleep(100);
      continue;
    }
    const seen = parseHolder(raw);
    const verdict = judge(seen, probe, mtimeMs);
    if (verdict.state === "stale") {
      if (takeOver(file, raw)) {
        opts.onWarning?.(`took over the lock of ${subject.label}: ${verdict.why} (${file})`);
        continue;
      }
      // Another waiter moved it first (the next round sees its lock), or it may not be moved (another user's file
      // in a sticky directory): wait as for a held lock.
    }
    if (Date.now() >= deadline) {
      const who = seen ? `another homelab run (pid ${seen.pid}${seen.host !== probe.host ? ` on ${seen.host}` : ""}, since ${seen.since}${seen.file ? `, with ${seen.file}` : ""})` : "another homelab run";
      if (verdict.state === "stale") throw locked(`the lock of ${subject.label} is stale (${verdict.why}) but cannot be removed from here`, file, opts.waitMs);
      throw locked(`${who} is writing to ${subject.label}${verdict.state === "unknown" ? `; ${verdict.why}` : ""}`, file, opts.waitMs);
    }
    await sleep(100);
  }
}

function locked(what: string, file: string, waitMs: number): HomelabError {
  return new HomelabError("E_LOCKED", `${what}; gave up after ${Math.round(waitMs / 1000)} s`, {
    hint: `wait for it to finish (HOMELAB_LOCK_WAIT_MS sets how long to wait); if no homelab run is going on, remove the lock: rm '${file}'`,
  });
}

/** Create the lock file with its full content at once (link of a finished temp file), or false if it exists. */
function create(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644, flag: "wx" });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw err;
    // A file system without hard links: exclusive create, then write (a reader may see it empty for a moment).
    return createExclusive(file, text);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // gone already
    }
  }
}

function createExclusive(file: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Remove a stale lock, but only the one judged: it is first renamed aside (atomic), and if what was moved is not the
 * text that was judged (another waiter replaced it meanwhile), it is put back.
 */
function takeOver(file: string, judged: string): boolean {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    renameSync(file, aside);
  } catch {
    return false; // someone else moved it first
  }
  const moved = readOr(aside, "");
  if (moved !== judged) {
    try {
      linkSync(aside, file);
    } catch {
      // a third run created one meanwhile: it holds the lock now
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // nothing to do
  }
  return moved === judged;
}

/** Keep a taken lock: release removes the file if it is still ours; without a start time, touch it now and then. */
function hold(file: string, nonce: string, heartbeat: boolean): Held {
  const timer = heartbeat
    ? setInterval(() => {
        try {
          const now = new Date();
          utimesSync(file, now, now);
        } catch {
          // removed by hand: nothing to keep alive
        }
      }, HEARTBEAT_MS).unref()
    : undefined;
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      if (timer) clearInterval(timer);
      if (parseHolder(readOr(file, ""))?.nonce !== nonce) return; // taken over (or removed) meanwhile: not ours to remove
      try {
        unlinkSync(file);
      } catch {
        // already gone
      }
    },
  };
}

/** Linux: field 22 of /proc/<pid>/stat, the process's start time in clock ticks after boot. The command name (field 2) may hold spaces and parentheses: fields are counted after its last `)`. */
export function processStart(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`, undefined);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const v = fields[22 - 3];
  return v !== undefined && /^\d+$/.test(v) ? v : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readOr<T>(file: string, fallback: T): string | T {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
