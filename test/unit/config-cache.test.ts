import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configureConfigCache } from "../../src/config/cache.js";
import { fastParse } from "../../src/config/fast-yaml.js";
import { loadValidConfig, type ValidConfig } from "../../src/config/resolve.js";
import { Secret } from "../../src/core/secret.js";
import { ConfigError, type ConfigProblem } from "../../src/core/errors.js";
import { homelab } from "../helpers/cli.js";
import { problemsOf } from "../helpers/config.js";

/**
 * The config cache (src/config/cache.ts) and the fast reader's located errors (issue 12, "Parsing"): a hit
 * gives what a fresh load gives; any change to a config file misses; secret sources are checked on every
 * run; a bad entry is ignored; no secret value is ever written; --no-cache and HOMELAB_NO_CACHE=1 turn it off.
 */

const PVE_SECRET = "distinctive-pve-Value-55012-b3c1";
const SSO_SECRET = "distinctive-sso-Value-81724-9aa0";

/** A config with a file secret, an env secret and a warning (groupsOverwrite over members homelab manages). */
const CONFIG = `version: 1
clusters:
  pve:
    url: https://pve.lan:8006
    token: { id: homelab@pve!converge, secret: "\${file:./pve.secret}" }
realms:
  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
    groupsClaim: groups
    groupsOverwrite: true
groups:
  ops: { comment: Operators, members: [jane@sso] }
access:
  - { user: jane@sso, role: Administrator, path: / }
  - { group: ops, role: PVEAuditor, path: /vms }
`;

let dir: string;
let cacheDir: string;
let file: string;
const savedEnv = process.env.SSO_SECRET;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hl-cache-test-"));
  cacheDir = join(dir, "cache");
  file = join(dir, "cfg", "homelab.yaml");
  mkdirSync(join(dir, "cfg"));
  writeFileSync(file, CONFIG);
  writeFileSync(join(dir, "cfg", "pve.secret"), `${PVE_SECRET}\n`);
  process.env.SSO_SECRET = SSO_SECRET;
  configureConfigCache({ enabled: true, env: { HOMELAB_CACHE_DIR: cacheDir } });
});

afterEach(() => {
  configureConfigCache({ enabled: false });
  if (savedEnv === undefined) delete process.env.SSO_SECRET;
  else process.env.SSO_SECRET = savedEnv;
  rmSync(dir, { recursive: true, force: true });
});

const entries = () => readdirSync(cacheDir).filter((n) => n.startsWith("config-"));
const entryFile = () => {
  const e = entries();
  expect(e).toHaveLength(1);
  return join(cacheDir, e[0]!);
};

/** Edit the cached values behind homelab's back: a load that shows the edit read the cache. */
function tamper(comment: string): void {
  const f = entryFile();
  const e = JSON.parse(readFileSync(f, "utf8"));
  e.perFile[e.perFile.length - 1].groups.ops.comment = comment;
  writeFileSync(f, JSON.stringify(e));
}
const comment = (v: ValidConfig) => v.config.groups.ops?.comment;

/** Everything a load gives that later steps use, in comparable form (secrets as reference, base and place). */
function view(v: ValidConfig) {
  const secrets = (s: Secret | undefined) => s && { ref: s.ref, field: s.field, baseDir: s.baseDir, path: s.path, limits: s.limits, at: s.at && { file: s.at.file, line: s.at.line, col: s.at.col } };
  return {
    data: JSON.parse(JSON.stringify(v.loaded.data)),
    files: v.loaded.sources.map((s) => [s.display, s.abs]),
    warnings: v.warnings,
    token: secrets(v.config.clusters.pve!.token.secret),
    clientKey: secrets(v.config.realms.sso!.clientKey),
    access: v.config.access,
    prune: v.config.prune,
    locate: [v.loaded.locate(["access", 1, "role"]), v.loaded.locate(["realms", "sso", "groupsOverwrite"], true), v.loaded.baseDir(["clusters", "pve"])],
  };
}

function problems(f: () => unknown): ConfigProblem[] {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("config cache", () => {
  it("a hit gives the same config, places and warnings as a fresh load, from the cache", () => {
    const fresh = loadValidConfig(file, { cache: false });
    expect(fresh.warnings.length).toBe(1);
    expect(() => readdirSync(cacheDir)).toThrow(); // cache: false wrote nothing
    const first = loadValidConfig(file);
    expect(entries()).toHaveLength(1);
    const hit = loadValidConfig(file);
    expect(view(hit)).toEqual(view(fresh));
    expect(view(first)).toEqual(view(fresh));
    // It was read from the entry: an edit there shows.
    tamper("from the cache");
    expect(comment(loadValidConfig(file))).toBe("from the cache");
    expect(comment(loadValidConfig(file, { cache: false }))).toBe("Operators");
  });

  it("the entry is mode 0600 in a directory of mode 0700", () => {
    loadValidConfig(file);
    expect(statSync(entryFile()).mode & 0o777).toBe(0o600);
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    // No temporary file left behind.
    expect(readdirSync(cacheDir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("any byte change in the config misses, and the entry is replaced", () => {
    loadValidConfig(file);
    tamper("stale");
    writeFileSync(file, CONFIG.replace("version: 1\n", "version: 1 \n")); // one space: same meaning, other bytes
    expect(comment(loadValidConfig(file))).toBe("Operators");
    expect(entries()).toHaveLength(1);
    // A real change: the new value, not the cached one.
    tamper("stale");
    writeFileSync(file, CONFIG.replace("comment: Operators", "comment: Night shift"));
    expect(comment(loadValidConfig(file))).toBe("Night shift");
  });

  it("a directory config misses when one of its files changes, or a file is added", () => {
    const d = join(dir, "cfg");
    rmSync(file);
    const [head, rest] = [CONFIG.slice(0, CONFIG.indexOf("groups:")), CONFIG.slice(CONFIG.indexOf("groups:"))];
    writeFileSync(join(d, "a.yaml"), head);
    writeFileSync(join(d, "b.yaml"), rest);
    const fresh = loadValidConfig(d, { cache: false });
    loadValidConfig(d);
    expect(view(loadValidConfig(d))).toEqual(view(fresh));
    tamper("stale");
    writeFileSync(join(d, "b.yaml"), `${rest}# edited\n`);
    expect(comment(loadValidConfig(d))).toBe("Operators");
    tamper("stale");
    writeFileSync(join(d, "c.yaml"), "users:\n  bob@sso: { comment: Bob }\n");
    const v = loadValidConfig(d);
    expect(comment(v)).toBe("Operators");
    expect(Object.keys(v.config.users)).toEqual(["bob@sso"]);
  });

  it("secret sources are checked on every run: a secret file or variable gone bad fails a cached load, located as without the cache", () => {
    loadValidConfig(file);
    loadValidConfig(file); // a hit
    writeFileSync(join(dir, "cfg", "pve.secret"), `${PVE_SECRET}\nsecond line\n`);
    const cached = problems(() => loadValidConfig(file));
    const uncached = problems(() => loadValidConfig(file, { cache: false }));
    expect(cached).toEqual(uncached);
    expect(cached).toHaveLength(1);
    expect(cached[0]).toMatchObject({ file, line: 5, col: 48, path: "clusters.pve.token.secret" });
    expect(cached[0]!.message).toMatch(/more than one line/);

    writeFileSync(join(dir, "cfg", "pve.secret"), `${PVE_SECRET}\n`);
    process.env.SSO_SECRET = "two\nlines";
    const env = problems(() => loadValidConfig(file));
    expect(env).toEqual(problems(() => loadValidConfig(file, { cache: false })));
    expect(env[0]).toMatchObject({ file, line: 10, col: 16, path: "realms.sso.clientKey" });
  });

  it("a corrupt or foreign entry is ignored, and replaced by a good one", () => {
    const fresh = view(loadValidConfig(file, { cache: false }));
    loadValidConfig(file);
    for (const bad of ["{not json", "", JSON.stringify({ format: "someone-else/1", key: "x" }), "[]", JSON.stringify({ format: "homelab-config-cache/1", key: "0".repeat(64), perFile: 3 })]) {
      writeFileSync(entryFile(), bad);
      expect(view(loadValidConfig(file))).toEqual(fresh);
      expect(JSON.parse(readFileSync(entryFile(), "utf8")).format).toBe("homelab-config-cache/1");
    }
    // The right key but a broken shape: ignored too.
    const e = JSON.parse(readFileSync(entryFile(), "utf8"));
    writeFileSync(entryFile(), JSON.stringify({ ...e, perFile: [1] }));
    expect(view(loadValidConfig(file))).toEqual(fresh);
  });

  it("an unusable cache directory means no cache, not an error", () => {
    writeFileSync(cacheDir, "a file where the directory should be");
    configureConfigCache({ enabled: true, env: { HOMELAB_CACHE_DIR: cacheDir } });
    expect(view(loadValidConfig(file))).toEqual(view(loadValidConfig(file, { cache: false })));
    rmSync(cacheDir);
    mkdirSync(cacheDir, { mode: 0o777 });
    chmodSync(cacheDir, 0o777); // writable by others: not trusted
    loadValidConfig(file);
    expect(entries()).toEqual([]);
  });

  it("never holds a secret value (file, variable, or one read while checking)", () => {
    loadValidConfig(file);
    loadValidConfig(file);
    const all = readdirSync(cacheDir).map((n) => readFileSync(join(cacheDir, n), "utf8")).join("\n");
    expect(all.length).toBeGreaterThan(100);
    for (const s of [PVE_SECRET, SSO_SECRET]) {
      for (const piece of [s, s.slice(0, 16), s.slice(-16), Buffer.from(s).toString("base64").slice(0, 16), Buffer.from(s).toString("hex").slice(0, 16)]) expect(all).not.toContain(piece);
    }
    // The references are there.
    expect(all).toContain("${file:./pve.secret}");
    expect(all).toContain("${env:SSO_SECRET}");
  });
});

describe("errors on the fast path", () => {
  // Invalid configs the fast reader takes: their problems must be located exactly as when the yaml library
  // parses them with positions. `version: &v 1` (an anchor) sends the same content down the library's path.
  const cases = [
    CONFIG.replace("role: PVEAuditor", "role: PVEAuditr"),
    CONFIG.replace("usernameClaim: username", "usernameClaim: username\n    colour: blue"),
    CONFIG.replace("  - { user: jane@sso, role: Administrator, path: / }", "  - { user: jane@sso, role: Administrator, path: / }\n  - { user: jane@sso, role: Administrator, path: / }"),
    CONFIG.replace("url: https://pve.lan:8006", "url: ftp://pve.lan"),
    CONFIG.replace("members: [jane@sso]", "members: [jane@nowhere]"),
    CONFIG.replace('secret: "${file:./pve.secret}"', "secret: inline-secret-value"),
    CONFIG.replace("groups:\n  ops", "groups:\n  o ps"),
  ];
  it.each(cases.map((c, i) => [i, c] as const))("case %i: same problems, same places", (_i, text) => {
    expect(fastParse(text)).toBeDefined();
    const slowText = text.replace("version: 1", "version: &v 1");
    expect(fastParse(slowText)).toBeUndefined();
    const fast = problemsOf(text);
    expect(fast.length).toBeGreaterThan(0);
    expect(fast.every((p) => p.line !== undefined && p.col !== undefined)).toBe(true);
    expect(fast).toEqual(problemsOf(slowText));
  });
});

describe("the CLI", () => {
  const run = (args: string[], env: Record<string, string | undefined> = {}) =>
    homelab(["validate", "-f", file, ...args], { env: { HOMELAB_CACHE_DIR: cacheDir, SSO_SECRET, HOMELAB_NO_CACHE: undefined, ...env } });

  it("caches by default and prints the same warnings and summary on a cached run", async () => {
    const first = await run([]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/groupsOverwrite/);
    expect(first.stdout).toMatch(/valid \(.*1 user, 2 access mappings\)/);
    expect(entries()).toHaveLength(1);
    const second = await run([]);
    expect(second).toEqual(first);
    const json = await run(["--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: true, users: 1, warnings: [{ path: "realms.sso.groupsOverwrite", line: 13, column: 5 }] });
  });

  it("--no-cache and HOMELAB_NO_CACHE=1 neither read nor write it", async () => {
    expect((await run(["--no-cache"])).code).toBe(0);
    expect((await run([], { HOMELAB_NO_CACHE: "1" })).code).toBe(0);
    expect(() => readdirSync(cacheDir)).toThrow();
    await run([]);
    // An edited count in the entry shows only where the entry is read.
    const e = JSON.parse(readFileSync(entryFile(), "utf8"));
    writeFileSync(entryFile(), JSON.stringify({ ...e, extra: { users: 999 } }));
    expect((await run([])).stdout).toMatch(/999 users/);
    expect((await run(["--no-cache"])).stdout).toMatch(/, 1 user,/);
    expect((await run([], { HOMELAB_NO_CACHE: "1" })).stdout).toMatch(/, 1 user,/);
    expect(JSON.parse(readFileSync(entryFile(), "utf8")).extra.users).toBe(999); // not written either
    // A broken entry: ignored, with a --debug line saying so.
    writeFileSync(entryFile(), "{broken");
    const d = await run(["--debug"]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/, 1 user,/);
    expect(d.stderr).toMatch(/config cache: ignoring .*not JSON/);
  });

  it("--no-cache is refused where no config is loaded", async () => {
    const r = await homelab(["sim", "--no-cache", "--once"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/--no-cache does not apply to `sim`/);
  });
});
