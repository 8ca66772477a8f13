import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bin } from "../helpers/cli.js";
import { minimal, root } from "../helpers/config.js";

/** Run the built binary as a user would: no TTY, colours off by the absence of a TTY. */
function homelab(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, encoding: "utf8", env: { ...process.env, ...opts.env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "hl-cli-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const NO_STACK = /\n\s+at .+:\d+:\d+/;

describe("homelab validate", () => {
  it.each(["playbooks/homelab.yaml", "playbooks/larger.yaml"])("accepts %s (exit 0) without reading any secret", (file) => {
    // No secret variable is set: validate must not need them.
    const r = homelab(["validate", "-f", file], { env: { CONTOSO_AUTOMATION_SECRET: "", PVE_TOKEN_SECRET: "" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${file}: valid \\(`));
  });

  it("prints validate's warnings (located, with the hint) and still exits 0; --json lists them", () => {
    const text = `${minimal.replace("    usernameClaim: username\n", "    usernameClaim: username\n    groupsClaim: groups\n    groupsOverwrite: true\n")}groups:\n  ops: { members: [jane@sso] }\n`;
    const dir = tmp({ "homelab.yaml": text });
    const r = homelab(["validate"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning homelab\.yaml:\d+:\d+: realms\.sso\.groupsOverwrite: realm `sso` has `groupsOverwrite: true`, so each login removes `jane@sso` from `ops`/m);
    expect(r.stderr).toMatch(/^ {2}hint: .*groupsOverwrite/m);
    const j = homelab(["validate", "--json"], { cwd: dir });
    expect(j.code).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out.valid).toBe(true);
    expect(out.warnings).toEqual([expect.objectContaining({ file: "homelab.yaml", path: "realms.sso.groupsOverwrite", message: expect.stringContaining("removes `jane@sso` from `ops`") })]);
    // plan prints it too (before it fails here for want of the token variable).
    const p = homelab(["plan"], { cwd: dir });
    expect(p.stderr).toMatch(/^warning homelab\.yaml:\d+:\d+: realms\.sso\.groupsOverwrite:/m);
  });

  it("defaults to ./homelab.yaml", () => {
    const dir = tmp({ "homelab.yaml": minimal });
    const r = homelab(["validate"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("homelab.yaml: valid (0 tenants, 1 cluster, 1 realm, 0 custom roles, 0 groups, 1 user, 1 access mapping)\n");
  });

  it("prints a JSON summary with --json", () => {
    const r = homelab(["validate", "--json", "-f", "playbooks/larger.yaml"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, files: ["playbooks/larger.yaml"], tenants: 1, clusters: 2, realms: 3, roles: 1, groups: 2, users: 3, access: 6, warnings: [] });
  });

  const invalid: [string, Record<string, string>, string, RegExp][] = [
    ["YAML syntax error", { "h.yaml": "version: 1\nclusters:\n  pve: {url: x\n" }, "h.yaml", /^error h\.yaml:4:1: YAML (syntax )?error: /m],
    ["duplicate key", { "h.yaml": "version: 1\nversion: 1\n" }, "h.yaml", /^error h\.yaml:2:1: duplicate key `version` \(first defined at line 1, column 1\)$/m],
    ["alias bomb", { "h.yaml": `version: 1\na: &a [x,x,x,x,x,x,x,x,x]\n${"bcdefghijk".split("").map((c, i) => `${c}: &${c} [${Array(9).fill(`*${"abcdefghijk"[i]}`).join(",")}]`).join("\n")}\n` }, "h.yaml", /^error h\.yaml:3:\d+: aliases expand to too much data/m],
    ["unknown key", { "h.yaml": minimal.replace("  pve:\n", "  pve:\n    urls: x\n") }, "h.yaml", /^error h\.yaml:4:5: clusters\.pve\.urls: unknown key `urls`; did you mean `url`\?$/m],
    ["wrong type", { "h.yaml": minimal.replace("version: 1", "version: \"1\"") }, "h.yaml", /^error h\.yaml:1:10: version: must be 1, not `1`$/m],
    ["dangling reference", { "h.yaml": minimal.replace("role: Administrator", "role: Operator") }, "h.yaml", /^error h\.yaml:13:29: access\[0\]\.role: unknown role `Operator`/m],
    ["inline secret", { "h.yaml": minimal.replace("${env:SSO_SECRET}", "correct-horse-battery") }, "h.yaml", /^error h\.yaml:10:16: realms\.sso\.clientKey: an inline secret is not allowed/m],
    ["bad ACL path", { "h.yaml": minimal.replace("path: / }", "path: /vms/1 }") }, "h.yaml", /^error h\.yaml:13:50: access\[0\]\.path: `\/vms\/1` is not a valid ACL path$/m],
    ["bad privilege", { "h.yaml": `${minimal}roles:\n  Ops: { privs: [VM.Start] }\n` }, "h.yaml", /^error h\.yaml:15:18: roles\.Ops\.privs\[0\]: `VM\.Start` is not a valid privilege/m],
    ["empty file", { "h.yaml": "" }, "h.yaml", /^error h\.yaml:1:1: the file is empty$/m],
    ["not a mapping", { "h.yaml": "[1, 2]\n" }, "h.yaml", /^error h\.yaml:1:1: the top level is a list, not a mapping$/m],
    ["a directory with a clash", { "conf/a.yaml": minimal, "conf/b.yaml": "realms:\n  sso:\n    issuerUrl: https://x.lan/\n    clientId: y\n" }, "conf", /^error conf\/b\.yaml:2:3: realms\.sso: defined twice \(also at conf\/a\.yaml:7:3\)$/m],
  ];
  it.each(invalid)("%s: exit 3, located message, no stack trace", (_name, files, target, message) => {
    const dir = tmp(files);
    const r = homelab(["validate", "-f", target], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/problems? found; nothing was changed\.\n$/);
    expect(r.stderr).not.toMatch(NO_STACK);
    expect(r.stderr).not.toContain("correct-horse-battery");
  });

  it("merges a directory of files and locates problems in the right file", () => {
    const dir = tmp({
      "conf/10-clusters.yaml": minimal.split("realms:")[0]!,
      "conf/20-realms.yaml": `version: 1\nrealms:${minimal.split("realms:")[1]!}`,
      "conf/30-access.yaml": "access:\n  - { user: bob@sso, role: PVEAuditor, path: / }\n  - { user: eve@sso, role: PVEAuditr, path: / }\n",
      "conf/notes.txt": "ignored",
    });
    const r = homelab(["validate", "-f", "conf"], { cwd: dir });
    expect(r.stderr).toMatch(/^error conf\/30-access\.yaml:3:28: access\[2\]\.role: unknown role `PVEAuditr`; did you mean `PVEAuditor`\?$/m);
    expect(r.code).toBe(3);
    writeFileSync(join(dir, "conf/30-access.yaml"), "access:\n  - { user: bob@sso, role: PVEAuditor, path: / }\n");
    const ok = homelab(["validate", "-f", "conf"], { cwd: dir });
    expect(ok.stdout).toMatch(/^conf\/10-clusters\.yaml, conf\/20-realms\.yaml, conf\/30-access\.yaml: valid \(.*2 users, 2 access mappings\)/);
    expect(ok.code).toBe(0);
  });

  it("refuses a version that differs between files of a directory", () => {
    const dir = tmp({ "c/a.yaml": minimal, "c/b.yaml": "version: 2\n" });
    const r = homelab(["validate", "-f", "c"], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error c\/b\.yaml:1:1: version: `version` is defined twice with different values \(also at c\/a\.yaml:1:1\)$/m);
  });

  it("explains a missing file and an empty directory", () => {
    const dir = tmp({ "empty/README.md": "x" });
    const missing = homelab(["validate"], { cwd: dir });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^error homelab\.yaml: no such file or directory\n  hint: pass the config with -f PATH/);
    const empty = homelab(["validate", "-f", "empty"], { cwd: dir });
    expect(empty.code).toBe(3);
    expect(empty.stderr).toMatch(/directory contains no \*\.yaml files/);
  });
});

describe("homelab CLI basics", () => {
  it("--version prints the package version", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-v", "version"]) {
      const r = homelab([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
    }
  });

  it("--help lists the commands and exit codes", () => {
    const r = homelab(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: homelab <command>/m);
    expect(r.stdout).toMatch(/validate/);
    expect(r.stdout).toMatch(/3 invalid config or arguments/);
  });

  it.each([
    [["frobnicate"], /^error unknown command `frobnicate`/],
    [["validate", "--frob"], /^error Unknown option '--frob'/],
    [["validate", "extra"], /^error unexpected argument `extra`/],
    [["apply", "--concurrency", "many"], /^error --concurrency must be a whole number from 1 to 64, not `many`/],
    [["bootstrap", "--tenant", "t", "--lifetime-days", "1y"], /^error --lifetime-days must be a whole number from 1 to 730, not `1y`/],
  ])("bad arguments %j exit 3 with a hint", (args, message) => {
    const r = homelab(args);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/hint: /);
    expect(r.stderr).not.toMatch(NO_STACK);
  });

  it("no command prints help to stdout and exits 3", () => {
    const r = homelab([]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^homelab: declarative identity/);
  });
});
