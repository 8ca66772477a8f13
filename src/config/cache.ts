import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join, resolve as resolvePath } from "node:path";
import type { ConfigProblem } from "../core/errors.js";

/**
 * The config cache (issue 12, "Parsing"): what validating a config found (each file's parsed value and the
 * warnings), so that a run on unchanged files reads no YAML and runs no schema or reference check.
 *
 * - Keyed by a SHA-256 of every config file's path and bytes, homelab's version and build, and Node's major
 *   version: a change to any byte of any config file (or a file added to or removed from a config
 *   directory) misses. Secret files, `${env:...}` variables and CA files are not part of the key: they are
 *   checked on every run, cached or not (src/config/sources.ts), so a change there is always seen and the
 *   cache holds nothing derived from a secret, not even a digest.
 * - What it holds is the validated file content: secrets only as the references the schema allows in a
 *   secret field (`${env:NAME}`, `${file:PATH}`), never a value.
 * - An entry that cannot be read, is not JSON, has another format or key, is ignored (a `--debug` line);
 *   writing is atomic (a temporary file renamed over the entry), mode 0600, in a directory of mode 0700.
 * - Where: $HOMELAB_CACHE_DIR, else $XDG_CACHE_HOME/homelab, else ~/.cache/homelab (%LOCALAPPDATA%\homelab
 *   on Windows); when that cannot be created or written, <tmpdir>/homelab-cache-<uid>; when neither works,
 *   no cache. Never next to the config.
 * - At most 200 entries (one per config path): past that, the least recently written half goes.
 * - Off with `--no-cache` or HOMELAB_NO_CACHE=1. Off unless the CLI turns it on (configureConfigCache), so
 *   library callers and tests from src never write one.
 */

/** Changes when the entry layout changes, so an older homelab's entries are ignored. */
const FORMAT = "homelab-config-cache/1";

export interface CacheSettings {
  enabled: boolean;
  /** Where `--debug` lines go (a cache entry ignored or not written). */
  debug?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

let settings: CacheSettings = { enabled: false };

/** Set by the CLI (src/cli/run.ts) for the process: on unless `--no-cache` or HOMELAB_NO_CACHE=1. */
export function configureConfigCache(s: CacheSettings): void {
  settings = s;
}

export function configCacheSettings(): CacheSettings {
  return settings;
}

/** Whether HOMELAB_NO_CACHE turns the cache off (any value but empty, `0` or `false`). */
export function cacheDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.HOMELAB_NO_CACHE;
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

/** What an entry holds. */
export interface CachedConfig {
  /** Each file's parsed value, in the files' order. */
  perFile: Record<string, unknown>[];
  /** The warnings validation gave (located, sorted). */
  warnings: ConfigProblem[];
  /** What the caller computed from the valid config (resolve.ts LoadOptions.extra). */
  extra?: Record<string, unknown>;
}

interface Entry extends CachedConfig {
  format: string;
  key: string;
}

/** The files of one config as read: shown path and bytes. */
export interface KeyFile {
  display: string;
  bytes: Buffer;
}

/** The directory the cache lives in, created (mode 0700) if needed, or undefined when none can be used. */
export function cacheDir(env: NodeJS.ProcessEnv = settings.env ?? process.env): string | undefined {
  for (const dir of candidateDirs(env)) {
    if (usable(dir)) return dir;
  }
  return undefined;
}

function candidateDirs(env: NodeJS.ProcessEnv): string[] {
  const abs = (p: string | undefined) => (p !== undefined && p !== "" && isAbsolute(p) ? p : undefined);
  const explicit = abs(env.HOMELAB_CACHE_DIR);
  if (explicit) return [explicit];
  const out: string[] = [];
  const xdg = abs(env.XDG_CACHE_HOME);
  const local = process.platform === "win32" ? abs(env.LOCALAPPDATA) : undefined;
  let home: string | undefined;
  try {
    home = abs(homedir());
  } catch {
    home = undefined;
  }
  if (xdg) out.push(join(xdg, "homelab"));
  else if (local) out.push(join(local, "homelab"));
  else if (home) out.push(join(home, ".cache", "homelab"));
  const uid = typeof process.getuid === "function" ? process.getuid() : "user";
  out.push(join(tmpdir(), `homelab-cache-${uid}`));
  return out;
}

/**
 * Creates `dir` (0700) if missing; usable when it is a directory (not a symlink) owned by this user that
 * others cannot write to (a shared /tmp: another user could have made it first), and writable.
 */
function usable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory()) return false;
    if (typeof process.getuid === "function" && (st.uid !== process.getuid() || (st.mode & 0o022) !== 0)) return false;
    return true;
  } catch {
    return false;
  }
}

let buildIdMemo: string | undefined;

/**
 * What identifies this build of homelab: its version, and for a bundled build the bundle's manifest (the
 * chunks' names carry content hashes, so any change of code changes it); otherwise the size and mtime of
 * the modules in src/config and src/core (or their build output), so that a rebuilt checkout never reads
 * what an older build of the same version cached.
 */
function buildId(): string {
  if (buildIdMemo !== undefined) return buildIdMemo;
  const h = createHash("sha256");
  try {
    h.update(readFileSync(new URL("../../package.json", import.meta.url)));
    h.update(readFileSync(new URL("../../schemas/homelab.schema.json", import.meta.url)));
  } catch {
    h.update("no package.json");
  }
  const manifest = new URL("../cli/bundle.json", import.meta.url);
  if (existsSync(manifest)) {
    h.update(readFileSync(manifest));
  } else {
    for (const sub of ["../config/", "../core/"]) {
      const dir = new URL(sub, import.meta.url);
      try {
        for (const name of readdirSync(dir).sort()) {
          const st = statSync(new URL(name, dir));
          h.update(`${name}\0${st.size}\0${st.mtimeMs}\0`);
        }
      } catch {
        h.update(`no ${sub}`);
      }
    }
  }
  buildIdMemo = h.digest("hex");
  return buildIdMemo;
}

/** The key: this build, Node's major version, and every file's path (as shown and absolute) and bytes. */
export function cacheKey(files: readonly KeyFile[]): string {
  const h = createHash("sha256");
  h.update(`${FORMAT}\0${buildId()}\0node ${process.versions.node.split(".")[0]}\0${files.length}\0`);
  for (const f of files) {
    h.update(`${f.display}\0${resolvePath(f.display)}\0${f.bytes.length}\0`);
    h.update(f.bytes);
  }
  return h.digest("hex");
}

/** The entry's file for a config `target` (one entry per config, replaced when the config changes). */
function entryPath(dir: string, target: string): string {
  const name = createHash("sha256").update(resolvePath(target)).digest("hex").slice(0, 32);
  return join(dir, `config-${name}.json`);
}

/** The cached result for `target` whose files hash to `key`, or undefined (none, another key, unreadable). */
export function readCachedConfig(target: string, key: string): CachedConfig | undefined {
  const dir = cacheDir();
  if (!dir) return undefined;
  const file = entryPath(dir, target);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const e = JSON.parse(text) as Partial<Entry>;
    if (e.format !== FORMAT) return ignore(`${file}: another format`);
    if (e.key !== key) return undefined; // the config changed: the entry is replaced after validation
    if (!Array.isArray(e.perFile) || !e.perFile.every(isRecord) || !Array.isArray(e.warnings)) return ignore(`${file}: not a cache entry`);
    if (e.extra !== undefined && !isRecord(e.extra)) return ignore(`${file}: not a cache entry`);
    return { perFile: e.perFile, warnings: e.warnings, ...(e.extra ? { extra: e.extra } : {}) };
  } catch {
    return ignore(`${file}: not JSON`);
  }
}

function ignore(why: string): undefined {
  settings.debug?.(`config cache: ignoring ${why}`);
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Thrown by the JSON replacer: a value JSON cannot carry (NaN, Infinity, -0) is not cached. */
const NOT_JSON = Symbol("not JSON");

/** Write the entry for `target` atomically (mode 0600). Failing to write is not an error: the next run validates again. */
export function writeCachedConfig(target: string, key: string, value: CachedConfig): void {
  const dir = cacheDir();
  if (!dir) return;
  const file = entryPath(dir, target);
  let body: string;
  try {
    body = JSON.stringify({ format: FORMAT, key, ...value } satisfies Entry, (_k, v: unknown) => {
      if (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))) throw NOT_JSON;
      return v;
    });
  } catch (err) {
    if (err === NOT_JSON) return void settings.debug?.("config cache: not written (a number JSON cannot hold)");
    throw err;
  }
  const tmp = join(dir, `.config-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fd = openSync(tmp, "wx", 0o600);
    try {
      const buf = Buffer.from(body, "utf8");
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
      // A file created with 0600 under a umask stays 0600 or less; fstat confirms before it is published.
      if ((fstatSync(fd).mode & 0o077) !== 0) throw new Error("mode");
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    prune(dir);
  } catch (err) {
    rmSync(tmp, { force: true });
    settings.debug?.(`config cache: not written (${(err as Error).message.split("\n")[0]})`);
  }
}

/** The most entries kept: one per config path; configs in temporary directories (tests, CI) would pile up. */
const MAX_ENTRIES = 200;

/** Past MAX_ENTRIES, the least recently written entries go (down to half). */
function prune(dir: string): void {
  const names = readdirSync(dir).filter((n) => n.startsWith("config-") && n.endsWith(".json"));
  if (names.length <= MAX_ENTRIES) return;
  const aged = names.map((n) => {
    try {
      return { n, t: statSync(join(dir, n)).mtimeMs };
    } catch {
      return { n, t: 0 };
    }
  });
  aged.sort((a, b) => a.t - b.t);
  for (const { n } of aged.slice(0, names.length - MAX_ENTRIES / 2)) rmSync(join(dir, n), { force: true });
}
