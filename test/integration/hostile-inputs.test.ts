import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { bin } from "../helpers/cli.js";

/**
 * Hostile inputs against the built CLI, as real processes (issue 10 items 1, 3, 8): special files, endless
 * files, oversized secrets, secrets with inner newlines, a 40 KB secret on an error path, and errors that
 * escape every handler. Each run is killed after KILL_MS, so a hang fails the test instead of hanging CI,
 * and must end within BOUND_MS of a trivial run's time (node's own start-up, slow on a loaded machine).
 */

const KILL_MS = 15_000;
const BOUND_MS = 2_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(args: string[], opts: { cwd: string; env?: Record<string, string>; script?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", HOMELAB_DEBUG: undefined, ...opts.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const t0 = performance.now();
    const child = spawn(process.execPath, [opts.script ?? bin, ...args], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), KILL_MS);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

let baselineMs = 0;
const root = mkdtempSync(join(tmpdir(), "hl-hostile-"));
let n = 0;

/** A fresh case directory with homelab.yaml (`config`) and extra files. */
function caseDir(config: string, files: Record<string, string | Buffer> = {}): string {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  writeFileSync(join(d, "homelab.yaml"), config);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(d, name), content);
  return d;
}

/** The minimal config with the token secret and extra cluster settings as given. */
function config(opts: { secret?: string; url?: string; tls?: string } = {}): string {
  return `version: 1
clusters:
  pve:
    url: ${opts.url ?? "https://pve.lan:8006"}
    token: { id: homelab@pve!converge, secret: "${opts.secret ?? "${file:pve.token}"}" }${opts.tls ? `\n    tls: ${opts.tls}` : ""}
realms:
  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:HL_HOSTILE_SSO}
    usernameClaim: username
access:
  - { user: jane@sso, role: Administrator, path: / }
`;
}

/** Exit 3 within the bound, every `error` line located at `where`, no stack, no internal error, no secret. */
function expectRefused(r: Run, where: RegExp, message: RegExp, secrets: string[] = []): void {
  const out = `${r.stdout}\n${r.stderr}`;
  expect(r.signal, `killed after ${KILL_MS} ms (a hang): ${out.slice(0, 500)}`).toBeNull();
  expect(r.code, out.slice(0, 2000)).toBe(3);
  expect(r.ms, `took ${Math.round(r.ms)} ms, baseline ${Math.round(baselineMs)} ms`).toBeLessThan(baselineMs + BOUND_MS);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error "));
  expect(errors.length).toBeGreaterThan(0);
  for (const l of errors) expect(l.slice("error ".length)).toMatch(where);
  expect(out).toMatch(message);
  expect(out).not.toMatch(/internal error|\n\s+at /);
  expectNoSecret(out, secrets);
}

/** No secret, and no 16-character piece of one (a message that quotes a prefix leaks too). */
function expectNoSecret(out: string, secrets: string[]): void {
  for (const s of secrets) {
    expect(out.includes(s), "a secret was printed").toBe(false);
    for (let i = 0; i + 16 <= Math.min(s.length, 4096); i += 16) {
      if (out.includes(s.slice(i, i + 16))) throw new Error(`a 16-character piece of a secret (offset ${i}) was printed`);
    }
  }
}

beforeAll(async () => {
  // Node's start-up plus loading the CLI on this machine now: the bounds below are on top of it.
  const d = caseDir(config({ secret: "${env:HL_HOSTILE_UNSET}" }));
  const r = await run(["validate"], { cwd: d });
  expect(r.code, r.stderr).toBe(0);
  baselineMs = r.ms;
}, 30_000);

describe("special and endless config files (issue 10 item 3)", () => {
  it("validate -f /dev/zero", async () => {
    const r = await run(["validate", "-f", "/dev/zero"], { cwd: root });
    expectRefused(r, /^\/dev\/zero: /, /is a character device, not a regular file/);
  });

  it("validate -f a FIFO with no writer", async () => {
    const d = caseDir(config());
    execFileSync("mkfifo", [join(d, "fifo.yaml")]);
    const r = await run(["validate", "-f", "fifo.yaml"], { cwd: d });
    expectRefused(r, /^fifo\.yaml: /, /is a FIFO \(named pipe\), not a regular file/);
  });

  it("a config directory with z.yaml -> /dev/zero", async () => {
    const d = caseDir(config());
    mkdirSync(join(d, "conf"));
    writeFileSync(join(d, "conf", "a.yaml"), config({ secret: "${env:HL_HOSTILE_UNSET}" }));
    symlinkSync("/dev/zero", join(d, "conf", "z.yaml"));
    const r = await run(["validate", "-f", "conf"], { cwd: d });
    expectRefused(r, /^conf\/z\.yaml: /, /is a character device, not a regular file/);
  });
});

describe("secret sources and CA files, at validate (issue 10 items 3 and 8)", () => {
  const AT_SECRET = /^homelab\.yaml:5:\d+: clusters\.pve\.token\.secret: /;

  it("${file:/dev/urandom}", async () => {
    const r = await run(["validate"], { cwd: caseDir(config({ secret: "${file:/dev/urandom}" })) });
    expectRefused(r, AT_SECRET, /secret file \/dev\/urandom is a character device, not a regular file/);
  });

  it("a FIFO as the secret file", async () => {
    const d = caseDir(config());
    execFileSync("mkfifo", [join(d, "pve.token")]);
    expectRefused(await run(["validate"], { cwd: d }), AT_SECRET, /pve\.token is a FIFO/);
  });

  it("a 200 MB secret file (sparse)", async () => {
    const d = caseDir(config(), { "pve.token": "" });
    truncateSync(join(d, "pve.token"), 200_000_000);
    expectRefused(await run(["validate"], { cwd: d }), AT_SECRET, /pve\.token is larger than 64 KiB, the limit for a secret/);
  });

  it("a secret file one byte over 64 KiB, its content never printed", async () => {
    const secret = randomBytes(50_000).toString("base64url").slice(0, 64 * 1024 + 1);
    expect(secret.length).toBe(64 * 1024 + 1);
    const r = await run(["validate"], { cwd: caseDir(config(), { "pve.token": secret }) });
    expectRefused(r, AT_SECRET, /is larger than 64 KiB/, [secret]);
  });

  it("a secret file with an inner newline is located and blames the file", async () => {
    const first = `tok-${randomBytes(12).toString("hex")}`;
    const second = `line2-${randomBytes(12).toString("hex")}`;
    const r = await run(["validate"], { cwd: caseDir(config(), { "pve.token": `${first}\n${second}\n` }) });
    expectRefused(r, AT_SECRET, /the secret in file \S*pve\.token has more than one line[^]*hint: the file must hold only the secret, on one line/, [first, second, `${first}\n${second}`]);
  });

  it("tls.ca: /dev/zero", async () => {
    const r = await run(["validate"], { cwd: caseDir(config({ tls: "{ ca: /dev/zero }" }), { "pve.token": "tok-1234567890" }) });
    expectRefused(r, /^homelab\.yaml:6:\d+: clusters\.pve\.tls\.ca: /, /CA file \/dev\/zero is a character device, not a regular file/);
  });

  it("a secret file that is absent is left to plan and apply (validate works without secrets)", async () => {
    const r = await run(["validate"], { cwd: caseDir(config()) });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe("large secrets on error paths (issue 10 item 1)", () => {
  it.each([
    ["40 KB", 40_000, []],
    ["64 KiB", 64 * 1024, ["--debug"]],
  ])("plan with a %s token secret (far over what an API token secret can be) and an unreachable cluster: refused when read, exit 3, no secret (%s)", async (_label, size, extra) => {
    const token = randomBytes(size).toString("base64url").slice(0, size);
    const sso = `sso-${randomBytes(16).toString("hex")}`;
    const d = caseDir(config({ url: "https://127.0.0.1:9" }), { "pve.token": `${token}\n` });
    {
      const r = await run(["plan", ...extra], { cwd: d, env: { HL_HOSTILE_SSO: sso } });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.signal).toBeNull();
      // A token secret is a 36-character UUID: one this long is refused when read, before any request is made.
      expect(r.code, out.slice(0, 2000)).toBe(3);
      expect(out).toMatch(/clusters\.pve\.token\.secret: the secret in file \S*pve\.token is longer than 256 characters/);
      expect(out).not.toMatch(/internal error|Regular expression too large|SyntaxError/);
      expectNoSecret(out, [token, sso]);
    }
  });
});

describe("the last resort: errors no handler caught (issue 10 item 1)", () => {
  // A tiny program that registers secrets and then fails outside every handler the CLI has, using the
  // built modules the CLI uses (src/log/fatal.ts, src/log/redact.ts).
  const script = (how: "throw" | "reject" | "string"): string => {
    const log = join(dirname(dirname(bin)), "log");
    const file = join(root, `last-resort-${how}.mjs`);
    writeFileSync(
      file,
      `import { installLastResort } from ${JSON.stringify(join(log, "fatal.js"))};
import { registerSecret } from ${JSON.stringify(join(log, "redact.js"))};
installLastResort();
import { readFileSync } from "node:fs";
const secrets = JSON.parse(readFileSync(process.env.HL_SECRETS_FILE, "utf8"));
for (const s of secrets) registerSecret(s);
const text = "Invalid regular expression: /" + secrets.join("|") + "/g: Regular expression too large";
setTimeout(() => {
  ${how === "throw" ? "throw new SyntaxError(text);" : how === "reject" ? "Promise.reject(new Error(text));" : "throw text;"}
}, 1);
`,
    );
    return file;
  };

  it.each([
    ["throw", false],
    ["reject", true],
    ["string", true],
  ] as const)("an uncaught %s (debug: %s) with 1 B to 1 MiB secrets in it: one redacted line, exit 70", async (how, debug) => {
    const secrets = [100, 40_000, 64 * 1024, 1024 * 1024].map((size) => randomBytes(size).toString("base64url").slice(0, size));
    const secretsFile = join(root, `secrets-${how}.json`);
    writeFileSync(secretsFile, JSON.stringify(["x", ...secrets]));
    const env = { HL_SECRETS_FILE: secretsFile };
    {
      const r = await run(debug ? ["--debug"] : [], { cwd: root, env, script: script(how) });
      expect(r.signal).toBeNull();
      expect(r.code, r.stderr.slice(0, 2000)).toBe(70);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^internal error (SyntaxError|Error): Invalid regular expression: \/x\|\(sensitive\)\|\(sensitive\)\|\(sensitive\)\|\(sensitive\)\/g/);
      expect(lines.at(-1)).toMatch(/^This is a bug in homelab/);
      // The stack only with --debug (a thrown string has none).
      expect(lines.some((l) => /^\s+at /.test(l))).toBe(debug && how !== "string");
      expectNoSecret(r.stderr, secrets);
      expect(r.stderr.length).toBeLessThan(50_000);
    }
  });
  it("its line comes after the output still held back by batching (src/cli/output.ts), not before", async () => {
    const cli = dirname(bin);
    const file = join(root, "last-resort-batched.mjs");
    writeFileSync(
      file,
      `import { installLastResort } from ${JSON.stringify(join(dirname(cli), "log", "fatal.js"))};
import { bufferOutput, consoleIo } from ${JSON.stringify(join(cli, "output.js"))};
installLastResort();
const io = consoleIo({ noColor: true });
await bufferOutput(async () => {
  io.out("planned line 1");
  io.err("created line 1");
  io.err("created line 2");
  setTimeout(() => { throw new TypeError("boom"); }, 1);
  await new Promise((r) => setTimeout(r, 5_000));
});
`,
    );
    const r = await run([], { cwd: root, env: {}, script: file });
    expect(r.code, r.stderr).toBe(70);
    expect(r.stdout).toBe("planned line 1\n");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines.slice(0, 3)).toEqual(["created line 1", "created line 2", "internal error TypeError: boom"]);
  });
});
