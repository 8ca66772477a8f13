import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS, OPTIONS } from "../../src/cli/options.js";
import { bin } from "../helpers/cli.js";
import { minimal, root } from "../helpers/config.js";

/** Options, help and --json of each command (issue 10, "Should fix"). */

function homelab(args: string[], opts: { cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NO_STACK = /\n\s+at .+:\d+:\d+/;
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

/** The `--name` flags a help text lists in its "Options:" section (the command's own, not the common ones). */
function ownOptions(help: string): string[] {
  const section = help.split("\nOptions:\n")[1]?.split("\n\n")[0] ?? "";
  return [...section.matchAll(/^ {2}(?:-\w, )?\s*--([\w-]+)/gm)].map((m) => m[1]!);
}

describe("each command has its own help", () => {
  const global = homelab(["--help"]).stdout;

  it.each(Object.keys(COMMANDS))("homelab %s --help: its usage and exactly its options, exit 0", (command) => {
    const r = homelab([command, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toBe(global);
    expect(r.stdout).toMatch(new RegExp(`^Usage: homelab ${command}\\b`));
    const want = COMMANDS[command]!.options.map((o) => (Array.isArray(o) ? o[0] : o));
    expect(ownOptions(r.stdout)).toEqual(want);
    expect(r.stdout).toContain("--debug");
    // `homelab help <command>` says the same.
    expect(homelab(["help", command]).stdout).toBe(r.stdout);
  });

  it("sim lists --port and --once (missing from the old global help) and --pve-version", () => {
    const r = homelab(["sim", "--help"]);
    expect(ownOptions(r.stdout)).toEqual(["port", "once", "pve-version"]);
    expect(r.stdout).toMatch(/^ {6}--port N {10}\S/m);
  });

  it("homelab version --help prints help, not the version; version and --version print it", () => {
    const help = homelab(["version", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: homelab version\n/);
    expect(help.stdout).not.toContain(version);
    for (const args of [["version"], ["--version"], ["-v"], ["apply", "--version"]]) expect(homelab(args).stdout).toBe(`${version}\n`);
  });

  it("the commands that talk to an API document the timeout variables; validate does not", () => {
    for (const c of ["plan", "apply", "verify", "import", "bootstrap"]) expect(homelab([c, "--help"]).stdout).toContain("HOMELAB_REQUEST_TIMEOUT_S");
    expect(homelab(["validate", "--help"]).stdout).not.toContain("HOMELAB_REQUEST_TIMEOUT_S");
    expect(homelab(["--help"]).stdout).toMatch(/HOMELAB_CONNECT_TIMEOUT_S .*default 10\)/);
  });

  it("every option belongs to at least one command's help", () => {
    const listed = new Set(Object.keys(COMMANDS).flatMap((c) => [...ownOptions(homelab([c, "--help"]).stdout)]));
    for (const o of ["no-color", "debug", "help", "version"]) listed.add(o);
    expect([...listed].sort()).toEqual(Object.keys(OPTIONS).sort());
  });
});

describe("options that do not apply are refused (exit 3), naming the option and the command", () => {
  it.each([
    [["import", "--json"], "--json", "import", /import writes YAML/],
    [["validate", "--concurrency", "2"], "--concurrency", "validate", undefined],
    [["validate", "-o", "x.yaml"], "-o", "validate", undefined],
    [["plan", "--concurrency", "2"], "--concurrency", "plan", undefined],
    [["verify", "--target", "proxmox.acl"], "--target", "verify", undefined],
    [["sim", "-f", "x.yaml", "--once"], "-f", "sim", undefined],
    [["sim", "--json", "--once"], "--json", "sim", undefined],
    [["demo", "--rotate-secrets"], "--rotate-secrets", "demo", undefined],
    [["bootstrap", "--tenant", "t", "--cluster", "pve"], "--cluster", "bootstrap", undefined],
    [["version", "--json"], "--json", "version", undefined],
    [["apply", "--port", "1"], "--port", "apply", undefined],
  ] as const)("%j", (args, option, command, extra) => {
    const r = homelab([...args], { cwd: mkdtempSync(join(tmpdir(), "hl-opt-")) });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(new RegExp(`^error ${option} does not apply to \`${command}\``));
    if (extra) expect(r.stderr).toMatch(extra);
    expect(r.stderr).toContain(`run \`homelab ${command} --help\``);
    expect(r.stderr).not.toMatch(NO_STACK);
  });

  it("names every foreign option at once", () => {
    const r = homelab(["validate", "--once", "--force", "--adopt"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error --once does not apply to `validate` \(nor --force, --adopt\)$/m);
  });

  it("plan accepts --check and --diff (implied) and its own options up to the config", () => {
    const dir = mkdtempSync(join(tmpdir(), "hl-opt-"));
    const r = homelab(["plan", "--check", "--diff", "--json", "-q", "--target", "x", "--detailed-exitcode", "--rotate-secrets"], { cwd: dir });
    // No homelab.yaml there: it got as far as reading the config.
    expect(r.stderr).toMatch(/^error homelab\.yaml: no such file or directory/);
  });

  it.each(["toString", "constructor", "__proto__"])("`homelab %s` is an unknown command, exit 3 (not a crash)", (name) => {
    for (const args of [[name], ["help", name], [name, "--help"]]) {
      const r = homelab(args);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`^error unknown command \`${name}\``));
    }
    expect(homelab(["validate", `--${name}`]).stderr).toMatch(/^error Unknown option/);
  });

  it("an unknown option names the command's help", () => {
    const r = homelab(["apply", "--frob"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error Unknown option '--frob'/);
    expect(r.stderr).toContain("run `homelab apply --help`");
  });
});

describe("--json output", () => {
  it("validate --json on an invalid file prints the problems as JSON on stdout (file, line, column, path, message, hint), exit 3", () => {
    const dir = mkdtempSync(join(tmpdir(), "hl-json-"));
    writeFileSync(join(dir, "homelab.yaml"), minimal.replace("role: Administrator", "role: Operator").replace("  pve:\n", "  pve:\n    urls: x\n"));
    const r = homelab(["validate", "--json"], { cwd: dir });
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as { valid: boolean; problems: Array<Record<string, unknown>> };
    expect(out.valid).toBe(false);
    expect(out.problems).toEqual([
      { file: "homelab.yaml", line: 4, column: 5, path: "clusters.pve.urls", message: "unknown key `urls`; did you mean `url`?", ...(out.problems[0]!.hint !== undefined ? { hint: expect.any(String) } : {}) },
      { file: "homelab.yaml", line: 14, column: 29, path: "access[0].role", message: expect.stringMatching(/^unknown role `Operator`/), hint: expect.any(String) },
    ]);
    // stderr keeps the usual located lines.
    expect(r.stderr).toMatch(/^error homelab\.yaml:4:5: clusters\.pve\.urls: unknown key `urls`/m);
  });

  it("validate --json without a file: one problem with message and hint", () => {
    const r = homelab(["validate", "--json", "-f", "nope.yaml"], { cwd: mkdtempSync(join(tmpdir(), "hl-json-")) });
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({ valid: false, problems: [{ message: "nope.yaml: no such file or directory", hint: expect.stringContaining("-f PATH") }] });
  });

  it("validate --json on a valid file: the summary, as before", () => {
    const r = homelab(["validate", "--json", "-f", "playbooks/larger.yaml"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: true, files: ["playbooks/larger.yaml"] });
  });
});
