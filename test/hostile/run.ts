import { spawn, spawnSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { bin } from "../helpers/cli.js";

/**
 * The hostile-input corpus's runner and judge (issue 10, "Done when"): a case is a set of files, an
 * environment and a command; it runs the built CLI as a real process, kills it after a bound (a hang fails
 * instead of hanging CI), and `judge` lists what broke the contract:
 *   - exit 0 or 3 (or what the case allows), within the time limit;
 *   - exit 3 with at least one located message (`file:line:col: `, a file, or a config field such as
 *     `clusters.pve.token.secret: `), and the case's own message when it names one;
 *   - no stack trace, no "internal error";
 *   - no secret value the case seeded (environment variables, secret files, inline values), not even a
 *     piece of one (a crash once printed a regular expression built from the escaped secrets);
 *   - no raw control character (ESC, NUL, CR, C1, bidirectional overrides): output escapes them.
 */

/** One entry of a case's directory. */
export type Entry =
  | string
  | Uint8Array
  | { symlink: string }
  | { fifo: true }
  | { dir: true }
  /** A sparse file of this many bytes (zeros): big without costing disk or time to create. */
  | { sparse: number };

export interface HostileCase {
  /** Unique, short: it names the test and the KNOWN_FAILING entry. */
  name: string;
  /** Relative path → content. `${URL}`, `${FP}`, `${TOKEN_ID}`, `${TOKEN_SECRET}` in text expand to the Proxmox simulator's (plan cases). */
  files: Record<string, Entry>;
  /** `validate` (default) or `plan` (against the Proxmox simulator). */
  command?: "validate" | "plan";
  /** Extra arguments after the command (e.g. `--json`, `--debug`). */
  args?: string[];
  /** The `-f` argument, relative to the case directory or absolute (default homelab.yaml). */
  target?: string;
  /** Environment variables; every value of 8 characters or more also counts as a secret to look for. */
  env?: Record<string, string>;
  /** Further secret values to look for (secret files' contents, inline secrets). */
  secrets?: string[];
  /** Allowed exit codes (default [0, 3]). */
  codes?: number[];
  /** What the output must say (stderr and stdout together). */
  message?: RegExp;
  /** What the output must not say (e.g. a misleading message: "alias bomb" for an undefined alias). */
  notMessage?: RegExp;
  /**
   * With exit 3: every `error` line is located at this place (a prefix such as `b.yaml:2:`); with a list,
   * at one of these places, and every place has an error (exactly the expected problems, none elsewhere).
   */
  at?: string | string[];
  /** The largest output (stdout + stderr, bytes) that is reasonable: a message must not echo a huge value. */
  maxOutput?: number;
  /** `--debug` prints stack traces by design (README: "stack traces and request logs, secrets stay redacted"). */
  allowStack?: boolean;
  /** Why this case exists (issue item), for the failure message. */
  why: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time. */
  ms: number;
  /** CPU time (user + system) last seen, when the platform shows it (Linux /proc). */
  cpuMs?: number;
  /** The most resident memory seen, bytes (Linux /proc). */
  rss?: number;
  /** Why the runner killed the process, if it did (a limit of `Limits`). */
  killed?: string;
  /** Kept for the judge: the limits the run had. */
  timedOut: boolean;
}

/**
 * When a case counts as hanging. The issue asks for an exit within 2 s; on a loaded machine (two cores shared
 * by many processes) wall-clock time says little, so the work is measured as CPU time: 2 s of it is the bound
 * a spinning or endlessly reading process hits (and resident memory, which such a process grows). A process
 * blocked without using CPU (a FIFO nobody writes) is caught by the wall-clock bound, which allows for load.
 */
export interface Limits {
  /** CPU time (user + system). */
  cpuMs: number;
  /** Time asleep without using any CPU (blocked on a FIFO, a lock, a silent peer); under load a process is runnable, not asleep. */
  idleMs: number;
  /** Wall-clock time, the last resort (and the only bound where /proc is missing). */
  wallMs: number;
  rssBytes: number;
}

/** Output kept per stream; beyond it the process is still drained, and the rest counted. */
const KEEP = 4 * 1024 * 1024;
/** Linux's clock ticks per second and page size, for /proc/<pid>/stat (USER_HZ is 100 on every Linux port). */
const TICK_MS = 10;
const PAGE = 4096;

/** CPU time (ms), resident memory (bytes) and state (R running, S sleeping, ...) of a live process, from /proc; undefined elsewhere or once it is gone. */
export function usage(pid: number): { cpuMs: number; rss: number; state: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after "(comm)": state is field 3; utime 14, stime 15, rss 24 (proc(5)).
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS, rss: Number(f[21]) * PAGE, state: f[0]! };
}

/** Run the built CLI in `cwd`; SIGKILLed past a limit (a hang fails quickly instead of hanging CI). */
export function runCli(args: string[], opts: { cwd: string; env: Record<string, string>; limits: Limits; script?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    // A minimal environment: nothing of the test process's secrets or settings leaks into the case.
    for (const k of ["PATH", "HOME", "TMPDIR", "LANG", "SYSTEMROOT"]) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    Object.assign(env, { NO_COLOR: "1", HOMELAB_LOCK_WAIT_MS: "0" }, opts.env);
    const started = performance.now();
    const child = spawn(process.execPath, [opts.script ?? bin, ...args], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on("data", (d: Buffer) => {
      if (outBytes < KEEP) out.push(d);
      outBytes += d.length;
    });
    child.stderr.on("data", (d: Buffer) => {
      if (errBytes < KEEP) err.push(d);
      errBytes += d.length;
    });
    let killed: string | undefined;
    let seen: { cpuMs: number; rss: number } | undefined;
    let idleSince = performance.now();
    const kill = (why: string) => {
      if (killed) return;
      killed = why;
      child.kill("SIGKILL");
    };
    const wall = setTimeout(() => kill(`no exit within ${opts.limits.wallMs} ms (wall clock)`), opts.limits.wallMs);
    const poll = setInterval(() => {
      const u = child.pid !== undefined ? usage(child.pid) : undefined;
      if (!u) return;
      if (u.state === "R" || u.cpuMs !== seen?.cpuMs) idleSince = performance.now();
      // A process that has exited but is not yet reaped shows no memory: keep the largest seen.
      seen = { cpuMs: Math.max(u.cpuMs, seen?.cpuMs ?? 0), rss: Math.max(u.rss, seen?.rss ?? 0) };
      if (performance.now() - idleSince > opts.limits.idleMs) kill(`asleep for ${opts.limits.idleMs} ms without using CPU (blocked)`);
      else if (u.cpuMs > opts.limits.cpuMs) kill(`more than ${opts.limits.cpuMs} ms of CPU time without exiting`);
      else if (u.rss > opts.limits.rssBytes) kill(`more than ${opts.limits.rssBytes / 1024 / 1024} MiB of memory (${Math.round(u.rss / 1024 / 1024)} MiB)`);
    }, 50);
    const done = () => {
      clearTimeout(wall);
      clearInterval(poll);
    };
    child.on("error", (e) => {
      done();
      reject(e);
    });
    child.on("close", (code, signal) => {
      done();
      const tail = (n: number) => (n > KEEP ? `\n[... ${n - KEEP} more bytes]` : "");
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8") + tail(outBytes),
        stderr: Buffer.concat(err).toString("utf8") + tail(errBytes),
        ms: Math.round(performance.now() - started),
        ...(seen ? { cpuMs: seen.cpuMs, rss: seen.rss } : {}),
        ...(killed ? { killed } : {}),
        timedOut: killed !== undefined,
      });
    });
  });
}

/** The values `${URL}`, `${FP}`, `${TOKEN_ID}` and `${TOKEN_SECRET}` expand to in plan cases. */
export interface SimInfo {
  url: string;
  fingerprint: string;
  tokenId: string;
  tokenSecret: string;
}

/** Create the case's entries under `dir` (which exists). */
export function materialize(files: Record<string, Entry>, dir: string, sim?: SimInfo): void {
  for (const [rel, entry] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof entry === "string") writeFileSync(path, sim ? expandSim(entry, sim) : entry);
    else if (entry instanceof Uint8Array) writeFileSync(path, entry);
    else if ("symlink" in entry) symlinkSync(entry.symlink, path);
    else if ("dir" in entry) mkdirSync(path, { recursive: true });
    else if ("fifo" in entry) {
      const r = spawnSync("mkfifo", [path]);
      if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`);
    } else {
      const fd = openSync(path, "w");
      ftruncateSync(fd, entry.sparse);
      closeSync(fd);
    }
  }
}

export function expandSim(text: string, sim: SimInfo): string {
  return text.replaceAll("${URL}", sim.url).replaceAll("${FP}", sim.fingerprint).replaceAll("${TOKEN_ID}", sim.tokenId).replaceAll("${TOKEN_SECRET}", sim.tokenSecret);
}

const STACK = /^\s+at (?:.+ \()?(?:file:|node:|\/|<anonymous>|native).*$/m;
const LOCATED = /^error (?:\S+:\d+:\d+: |[^\s:]*[./[][^\s:]*: |(?:tenant|cluster|realm|role|group|user) \S+: )/m;
/**
 * Characters that must not reach a terminal raw: C0 controls but tab and newline (CR included: it
 * overwrites a line), DEL, C1 controls, and the bidirectional overrides and isolates ("Trojan Source").
 */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/** Pieces of a secret to look for: the whole value, and windows of 24 characters across it (at most 64). */
export function secretPieces(secret: string): string[] {
  if (secret.length < 8) return []; // too short to tell from ordinary text (the redactor ignores < 4 too)
  if (secret.length <= 24) return [secret];
  const windows = Math.min(64, Math.floor(secret.length / 24));
  const step = Math.floor((secret.length - 24) / Math.max(1, windows - 1));
  const pieces = [secret.slice(0, 24)];
  for (let i = 1; i < windows; i++) pieces.push(secret.slice(i * step, i * step + 24));
  return [...new Set(pieces)];
}

/** Everything wrong with a run of `c`, or [] when it kept the contract. */
export function judge(c: HostileCase, r: RunResult): string[] {
  const problems: string[] = [];
  const both = `${r.stdout}\n${r.stderr}`;
  const codes = c.codes ?? [0, 3];
  if (r.timedOut) problems.push(`killed: ${r.killed ?? "limit"}`);
  else if (r.code === null) problems.push(`killed by ${r.signal}`);
  else if (!codes.includes(r.code)) problems.push(`exit ${r.code} (allowed: ${codes.join(", ")})`);
  if (!r.timedOut && r.code === 3) {
    if (!LOCATED.test(r.stderr)) problems.push("exit 3 without a located message (file:line:col, a file, or a config field)");
    if (c.at !== undefined) {
      const places = typeof c.at === "string" ? [c.at] : c.at;
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("error "));
      const stray = errors.filter((l) => !places.some((p) => l.startsWith(`error ${p}`)));
      if (stray.length > 0) problems.push(`error lines not at ${places.join(" or ")}: ${stray.slice(0, 3).join(" | ")}`);
      if (typeof c.at !== "string") {
        const missed = places.filter((p) => !errors.some((l) => l.startsWith(`error ${p}`)));
        if (missed.length > 0) problems.push(`no error at ${missed.join(", ")}`);
      }
    }
  }
  if (c.message && !r.timedOut && !c.message.test(both)) problems.push(`output does not match ${c.message}`);
  if (c.notMessage?.test(both)) problems.push(`output matches ${c.notMessage}, which it must not`);
  if (!c.allowStack && STACK.test(both)) problems.push("a stack trace");
  if (/internal error|This is a bug in homelab/.test(both)) problems.push("an internal error");
  const raw = RAW_CONTROL.exec(both);
  if (raw) problems.push(`a raw control character U+${raw[0].codePointAt(0)!.toString(16).padStart(4, "0")} in the output`);
  if (c.maxOutput !== undefined && both.length > c.maxOutput) problems.push(`${both.length} characters of output (at most ${c.maxOutput})`);
  const secrets = [...(c.secrets ?? []), ...Object.values(c.env ?? {})];
  for (const s of secrets) {
    const leaked = secretPieces(s).find((p) => both.includes(p));
    if (leaked !== undefined) {
      problems.push(`a secret (${s.length} characters) leaked: ${leaked.slice(0, 6)}...`);
      break;
    }
  }
  return problems;
}

/** The command line of a case, relative to its directory. */
export function argsOf(c: HostileCase): string[] {
  return [c.command ?? "validate", "-f", c.target ?? "homelab.yaml", ...(c.args ?? [])];
}

/** A fixed-size pool: at most `n` of the returned function's tasks run at once. */
export function pool(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
