import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { validateText } from "../../src/config/resolve.js";
import { root } from "../helpers/config.js";

/**
 * The unattended-run examples of docs/cron-and-ci.md (docs/examples/) and the Dockerfile: structure,
 * consistency with each other and with the CLI, and, where it can run here, behaviour.
 */

const examples = `${root}docs/examples/`;
const read = (path: string) => readFileSync(path, "utf8");
const made: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), "hl-examples-"));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

// ---------------------------------------------------------------------------------------------------
// systemd

type Unit = Map<string, [string, string][]>;

/** systemd's unit file syntax: [Section] headers, Key=Value lines, # and ; comments, \ continuations. */
function parseUnit(text: string): Unit {
  const sections: Unit = new Map();
  let current: [string, string][] | undefined;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([A-Za-z][A-Za-z0-9-]*)\]$/.exec(line);
    if (header) {
      if (sections.has(header[1]!)) throw new Error(`line ${i + 1}: section [${header[1]}] twice`);
      current = [];
      sections.set(header[1]!, current);
      return;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new Error(`line ${i + 1}: not a Key=Value line: ${line}`);
    if (!current) throw new Error(`line ${i + 1}: ${kv[1]} outside of a section`);
    current.push([kv[1]!, kv[2]!]);
  });
  return sections;
}

/** The last value of a key (systemd: a later assignment overrides), or undefined. */
const get = (unit: Unit, section: string, key: string) => unit.get(section)?.filter(([k]) => k === key).at(-1)?.[1];
const yes = (v: string | undefined) => v !== undefined && /^(yes|true|on|1)$/i.test(v);

describe("parseUnit (the structural check's parser)", () => {
  it("reads sections and keys, and rejects what is not a unit file", () => {
    const u = parseUnit("# c\n[Unit]\nDescription=a b\n; c\n[Service]\nExecStart=/bin/x \\\n  --y\n");
    expect([...u.keys()]).toEqual(["Unit", "Service"]);
    expect(get(u, "Service", "ExecStart")).toBe("/bin/x    --y");
    expect(() => parseUnit("ExecStart=/bin/x\n")).toThrow(/outside of a section/);
    expect(() => parseUnit("[Service]\njust words\n")).toThrow(/not a Key=Value/);
    expect(() => parseUnit("[Unit]\n[Unit]\n")).toThrow(/twice/);
  });
});

describe("docs/examples/homelab.service and homelab.timer", () => {
  const service = parseUnit(read(`${examples}homelab.service`));
  const timer = parseUnit(read(`${examples}homelab.timer`));

  it("the service is a oneshot [Unit] + [Service] that runs `homelab apply -f /etc/homelab/homelab.yaml` after the network is up", () => {
    expect([...service.keys()]).toEqual(["Unit", "Service"]);
    expect(get(service, "Unit", "Description")).toBeTruthy();
    expect(get(service, "Unit", "After")).toMatch(/network-online\.target/);
    expect(get(service, "Unit", "Wants")).toMatch(/network-online\.target/);
    expect(get(service, "Service", "Type")).toBe("oneshot");
    const exec = service.get("Service")!.filter(([k]) => k === "ExecStart");
    expect(exec).toHaveLength(1);
    const argv = exec[0]![1].split(/\s+/);
    expect(argv[0]).toMatch(/^\/\S*\/homelab$/); // an absolute path, as systemd wants
    expect(argv.slice(1, 4)).toEqual(["apply", "-f", "/etc/homelab/homelab.yaml"]);
    // Not --check: this service converges. Not --json: the journal is read by people.
    expect(argv).not.toContain("--check");
    expect(argv).not.toContain("--json");
  });

  it("the service is hardened and gets its secrets from a root-only file or credentials", () => {
    const s = (k: string) => get(service, "Service", k);
    expect(yes(s("DynamicUser")) || (s("User") !== undefined && s("User") !== "root")).toBe(true);
    expect(yes(s("NoNewPrivileges"))).toBe(true);
    expect(s("ProtectSystem")).toBe("strict");
    expect(yes(s("PrivateTmp"))).toBe(true);
    expect(s("ProtectHome")).toMatch(/^(yes|read-only|tmpfs)$/);
    expect(s("CapabilityBoundingSet")).toBe("");
    expect(s("RestrictAddressFamilies")).toMatch(/AF_INET\b/);
    expect(s("EnvironmentFile") ?? s("LoadCredential")).toBeTruthy();
    expect(s("EnvironmentFile")).toBe("/etc/homelab/env");
    // Node.js's JIT needs writable+executable memory: this setting would kill every run.
    expect(yes(s("MemoryDenyWriteExecute"))).toBe(false);
    // No secret inline.
    expect(s("Environment") ?? "").not.toMatch(/SECRET|TOKEN|KEY/i);
  });

  it("the timer runs homelab.service nightly with a random delay, catching up after downtime", () => {
    expect([...timer.keys()]).toEqual(["Unit", "Timer", "Install"]);
    expect(get(timer, "Timer", "OnCalendar")).toMatch(/^(daily|\*-\*-\* \d\d:\d\d(:\d\d)?)$/);
    expect(get(timer, "Timer", "RandomizedDelaySec")).toMatch(/^\d+\s*(s|min|m|h)?$/);
    expect(get(timer, "Timer", "Persistent")).toBe("true");
    expect(get(timer, "Timer", "Unit") ?? "homelab.service").toBe("homelab.service");
    expect(get(timer, "Install", "WantedBy")).toBe("timers.target");
  });

  it.skipIf(!has("systemd-analyze"))("systemd-analyze verify accepts both units and parses the calendar", () => {
    const dir = tmp();
    // verify checks that ExecStart's binary exists: point it at one that does.
    writeFileSync(join(dir, "homelab.service"), read(`${examples}homelab.service`).replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
    copyFileSync(`${examples}homelab.timer`, join(dir, "homelab.timer"));
    const r = spawnSync("systemd-analyze", ["verify", join(dir, "homelab.timer"), join(dir, "homelab.service")], { encoding: "utf8", cwd: dir });
    const complaints = `${r.stdout}${r.stderr}`.split("\n").filter((l) => /homelab\.(service|timer)|unknown|ignoring|failed|refusing|bad/i.test(l));
    expect(complaints).toEqual([]);
    expect(r.status).toBe(0);
    const cal = spawnSync("systemd-analyze", ["calendar", get(timer, "Timer", "OnCalendar")!], { encoding: "utf8" });
    expect(cal.status).toBe(0);
    expect(cal.stdout).toMatch(/Next elapse:/);
  });
});

// ---------------------------------------------------------------------------------------------------
// cron

describe("docs/examples/crontab", () => {
  const text = read(`${examples}crontab`);
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
  const envLines = lines.filter((l) => /^[A-Z_]+=/.test(l));
  const jobs = lines.filter((l) => !/^[A-Z_]+=/.test(l));
  const env = Object.fromEntries(envLines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));

  it("is one job line with 5 time fields running `homelab apply --detailed-exitcode`, mailing MAILTO", () => {
    expect(jobs).toHaveLength(1);
    const fields = jobs[0]!.split(/\s+/);
    const ranges: [number, number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
    fields.slice(0, 5).forEach((f, i) => {
      expect(f, `time field ${i + 1}`).toMatch(/^(\*|\d+)([-,/]\d+)*$/);
      for (const n of f.match(/\d+/g) ?? []) {
        if (f.includes("/") && f.endsWith(n)) continue; // a step
        expect(Number(n)).toBeGreaterThanOrEqual(ranges[i]![0]);
        expect(Number(n)).toBeLessThanOrEqual(ranges[i]![1]);
      }
    });
    expect(fields[5]).not.toMatch(/^(\*|\d+)/); // a sixth time field would be a /etc/cron.d user field or a typo
    const command = fields.slice(5).join(" ");
    expect(command).toMatch(/\bhomelab apply -f \/etc\/homelab\/homelab\.yaml --detailed-exitcode\b/);
    expect(env.MAILTO).toMatch(/@/);
    expect(env.SHELL).toBe("/bin/sh");
    expect(env.PATH).toContain("/usr/local/bin");
    // cron turns an unescaped % into a newline (and the rest into stdin).
    expect(command.replace(/\\%/g, "")).not.toContain("%");
  });

  /** Run the job as cron would (sh -c, cron's \% unescaped), with a stub `homelab` that exits with `rc`. */
  function runJob(rc: number): { output: string; status: number | null; args: string } {
    const dir = tmp();
    mkdirSync(join(dir, "bin"));
    const stub = join(dir, "bin", "homelab");
    writeFileSync(stub, `#!/bin/sh
echo "$*" > "${dir}/args"
echo "Plan: 1 to create (stdout)"
echo "created proxmox.user/pve:ann@pve (stderr)" >&2
[ -n "$PVE_TOKEN_SECRET" ] && echo "secret from the env file is set"
exit ${rc}
`);
    chmodSync(stub, 0o755);
    writeFileSync(join(dir, "env"), "PVE_TOKEN_SECRET=s3cret\n", { mode: 0o600 });
    const command = jobs[0]!.split(/\s+/).slice(5).join(" ").replace(/\\%/g, "%").replaceAll("/etc/homelab/", `${dir}/`);
    const r = spawnSync(env.SHELL!, ["-c", command], { encoding: "utf8", env: { PATH: `${dir}/bin:${env.PATH}`, HOME: dir } });
    return { output: r.stdout + r.stderr, status: r.status, args: read(join(dir, "args")).trim() };
  }

  it("prints nothing (no mail) when homelab exits 0", () => {
    const r = runJob(0);
    expect(r.args).toBe(`apply -f ${r.args.split(" ")[2]} --detailed-exitcode`);
    expect(r.output).toBe("");
  });

  it.each([2, 1, 3, 4, 70])("prints homelab's stdout, stderr and the exit code (a mail) when homelab exits %d", (rc) => {
    const r = runJob(rc);
    expect(r.output).toContain("Plan: 1 to create (stdout)");
    expect(r.output).toContain("created proxmox.user/pve:ann@pve (stderr)");
    expect(r.output).toContain("secret from the env file is set");
    expect(r.output).toContain(`homelab exited with status ${rc}`);
  });
});

// ---------------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments dropped, \ continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    const start = i + 1;
    if (line === "" || line.startsWith("#")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      line = `${line.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`;
    }
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile:${start}: not an instruction: ${line}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: start });
  }
  return out;
}

interface Stage {
  from: string;
  name?: string;
  steps: Instruction[];
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: FROM ${ins.args}`);
      stages.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), steps: [] });
    } else {
      if (stages.length === 0 && ins.op !== "ARG") throw new Error(`Dockerfile:${ins.line}: ${ins.op} before FROM`);
      stages.at(-1)?.steps.push(ins);
    }
  }
  return stages;
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
  line: number;
}

function copiesOf(stage: Stage): Copy[] {
  return stage.steps
    .filter((s) => s.op === "COPY" || s.op === "ADD")
    .map((s) => {
      const words = s.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith("--"));
      const paths = words.filter((w) => !w.startsWith("--"));
      const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
      return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)!, line: s.line };
    });
}

/** The WORKDIR in effect at each instruction of a stage (absolute; relative WORKDIRs join). */
function workdirAt(stage: Stage, ins: { line: number }): string {
  let wd = "/";
  for (const s of stage.steps) {
    if (s.line >= ins.line) break;
    if (s.op === "WORKDIR") wd = posix.resolve(wd, s.args.trim());
  }
  return wd;
}

/** .dockerignore: does a context path match a pattern (a name, a directory, or *.ext)? */
function ignored(path: string, patterns: string[]): boolean {
  const clean = path.replace(/^\.\//, "").replace(/\/$/, "");
  return patterns.some((p) => {
    const pat = p.replace(/^\//, "").replace(/\/$/, "");
    if (pat.startsWith("*.")) return clean.split("/").some((part) => part.endsWith(pat.slice(1)));
    return clean === pat || clean.startsWith(`${pat}/`);
  });
}

describe("Dockerfile", () => {
  const instructions = parseDockerfile(read(`${root}Dockerfile`));
  const stages = stagesOf(instructions);
  const build = stages[0]!;
  const runtime = stages.at(-1)!;
  const dockerignore = read(`${root}.dockerignore`).split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));

  it("has a named build stage and a runtime stage on Node.js 24 (the current LTS; 20 reached end of life in April 2026)", () => {
    expect(stages).toHaveLength(2);
    expect(build.name).toBe("build");
    for (const s of stages) expect(s.from).toMatch(/^node:24(-[a-z]+)*$/);
    expect(runtime.name).toBeUndefined();
  });

  it("the build stage installs with npm ci (scripts/ first: `prepare` runs scripts/link-bin.mjs), builds, then drops dev dependencies", () => {
    const runs = build.steps.filter((s) => s.op === "RUN").map((s) => s.args);
    const lineOf = (re: RegExp) => build.steps.find((s) => re.test(s.args))?.line ?? Infinity;
    const copied = (src: string) => copiesOf(build).find((c) => !c.from && c.sources.some((s) => s.replace(/\/$/, "") === src))?.line ?? Infinity;
    expect(runs.join("\n")).toMatch(/\bnpm ci\b/);
    expect(runs.join("\n")).toMatch(/\bnpm run build\b/);
    expect(runs.join("\n")).toMatch(/\bnpm prune --omit=dev\b/);
    const npmCi = lineOf(/\bnpm ci\b/);
    const npmBuild = lineOf(/\bnpm run build\b/);
    expect(copied("package.json")).toBeLessThan(npmCi);
    expect(copied("package-lock.json")).toBeLessThan(npmCi);
    expect(copied("scripts")).toBeLessThan(npmCi);
    expect(JSON.parse(read(`${root}package.json`)).scripts.prepare).toMatch(/scripts\//);
    for (const needed of ["tsconfig.json", "src", "schemas"]) expect(copied(needed), needed).toBeLessThan(npmBuild);
    expect(lineOf(/\bnpm prune --omit=dev\b/)).toBeGreaterThanOrEqual(npmBuild);
  });

  it("every path copied from the build context exists in the repository and is not in .dockerignore", () => {
    const fromContext = stages.flatMap((s) => copiesOf(s).filter((c) => !c.from));
    expect(fromContext.length).toBeGreaterThan(0);
    for (const c of fromContext) {
      for (const src of c.sources) {
        expect(existsSync(join(root, src)), `${src} (Dockerfile:${c.line})`).toBe(true);
        expect(ignored(src, dockerignore), `${src} is excluded by .dockerignore`).toBe(false);
      }
    }
    // The host's build output and dependencies stay out of the context.
    for (const p of ["node_modules", "dist", ".git"]) expect(ignored(p, dockerignore), p).toBe(true);
  });

  it("the runtime stage holds only dist/, schemas/, playbooks/, package.json and production node_modules, taken from what the build stage made", () => {
    const copies = copiesOf(runtime);
    const buildWd = workdirAt(build, { line: Infinity });
    const made = new Set(["dist", "node_modules"]); // npm ci and npm run build create these
    // Docker: a directory's contents go to the destination; a file goes into it when it ends with "/".
    for (const c of copiesOf(build)) {
      for (const s of c.sources) {
        const isDir = statSync(join(root, s)).isDirectory();
        const target = posix.resolve(workdirAt(build, c), !isDir && c.dest.endsWith("/") ? posix.join(c.dest, posix.basename(s)) : c.dest);
        made.add(posix.relative(buildWd, target));
      }
    }
    const contents: string[] = [];
    for (const c of copies) {
      for (const s of c.sources) {
        if (c.from) {
          expect(c.from).toBe("build");
          const rel = posix.relative(buildWd, posix.resolve(buildWd, s)).replace(/\/$/, "");
          expect(rel.startsWith(".."), `${s} is outside the build stage's WORKDIR`).toBe(false);
          expect(made.has(rel), `${s} was not made or copied in the build stage`).toBe(true);
          contents.push(rel);
        } else contents.push(s.replace(/\/$/, ""));
      }
    }
    expect(contents.sort()).toEqual(["dist", "node_modules", "package.json", "playbooks", "schemas"]);
    // What the published package ships (package.json "files") is all in the image.
    for (const f of JSON.parse(read(`${root}package.json`)).files as string[]) expect(contents).toContain(f);
    // Everything lands under /app, where the entrypoint looks: /app/dist, /app/node_modules, ...
    for (const c of copies) {
      for (const s of c.sources) {
        const name = posix.basename(s.replace(/\/$/, ""));
        const isFile = name === "package.json";
        const landed = posix.resolve(workdirAt(runtime, c), isFile && c.dest.endsWith("/") ? posix.join(c.dest, name) : c.dest);
        expect(landed, `Dockerfile:${c.line}`).toBe(`/app/${name}`);
      }
    }
  });

  it("runs as a numeric non-root user, with homelab as the entrypoint and --help as the default", () => {
    const users = runtime.steps.filter((s) => s.op === "USER");
    expect(users).toHaveLength(1);
    const user = users[0]!.args.trim();
    expect(user).toMatch(/^\d+(:\d+)?$/); // numeric, so Kubernetes' runAsNonRoot can verify it
    expect(Number(user.split(":")[0])).not.toBe(0);
    const entrypoint = runtime.steps.filter((s) => s.op === "ENTRYPOINT");
    expect(entrypoint).toHaveLength(1);
    expect(users[0]!.line).toBeLessThan(entrypoint[0]!.line);
    expect(JSON.parse(entrypoint[0]!.args)).toEqual(["node", "/app/dist/cli/main.js"]);
    expect(JSON.parse(runtime.steps.find((s) => s.op === "CMD")!.args)).toEqual(["--help"]);
    // The entrypoint is the built bin of package.json.
    expect(`/app/${JSON.parse(read(`${root}package.json`)).bin.homelab}`).toBe("/app/dist/cli/main.js");
  });

  it("parseDockerfile and the context check can fail", () => {
    expect(() => parseDockerfile("FROM node:20\n???\n")).toThrow(/not an instruction/);
    expect(() => stagesOf(parseDockerfile("RUN true\n"))).toThrow(/before FROM/);
    expect(ignored("src", dockerignore)).toBe(false);
    expect(ignored("dist/cli/main.js", dockerignore)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Kubernetes

describe("docs/examples/k8s-cronjob.yaml", () => {
  const docs = parseAllDocuments(read(`${examples}k8s-cronjob.yaml`));
  const objects = docs.map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Record<string, any>;
  }).filter((o) => o);
  const cronJob = objects.find((o) => o.kind === "CronJob")!;
  const pod = cronJob?.spec?.jobTemplate?.spec?.template?.spec;
  const container = pod?.containers?.[0];
  const dockerfile = stagesOf(parseDockerfile(read(`${root}Dockerfile`))).at(-1)!;

  it("is a batch/v1 CronJob that never overlaps runs", () => {
    expect(cronJob).toBeDefined();
    expect(cronJob.apiVersion).toBe("batch/v1");
    expect(cronJob.spec.schedule.split(/\s+/)).toHaveLength(5);
    expect(cronJob.spec.concurrencyPolicy).toBe("Forbid");
    expect(["Never", "OnFailure"]).toContain(pod.restartPolicy);
    expect(pod.containers).toHaveLength(1);
  });

  it("runs the homelab image with `apply -f <the ConfigMap's homelab.yaml>`", () => {
    expect(container.image).toMatch(/^([a-z0-9.-]+(:\d+)?\/)?([a-z0-9._-]+\/)*homelab:[\w.-]+$/);
    // No command override: the image's ENTRYPOINT (node /app/dist/cli/main.js) receives the args.
    expect(container.command).toBeUndefined();
    expect(JSON.parse(dockerfile.steps.find((s) => s.op === "ENTRYPOINT")!.args)).toEqual(["node", "/app/dist/cli/main.js"]);
    expect(container.args[0]).toBe("apply");
    expect(container.args).not.toContain("--check");
    const file = container.args[container.args.indexOf("-f") + 1] as string;
    expect(container.args.indexOf("-f")).toBeGreaterThan(0);
    const mount = container.volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`));
    expect(mount, `no volume mounted at ${file}`).toBeDefined();
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    const configMap = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === volume.configMap.name);
    expect(configMap, `ConfigMap ${volume.configMap.name}`).toBeDefined();
    expect(configMap!.metadata.namespace).toBe(cronJob.metadata.namespace);
    const key = file.slice(mount.mountPath.length + 1);
    expect(Object.keys(configMap!.data)).toContain(key);
  });

  it("the ConfigMap's homelab.yaml validates, and every ${env:NAME} it uses comes from a Secret", () => {
    const mount = container.volumeMounts.find((m: any) => m.mountPath === "/config");
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    const text = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === volume.configMap.name)!.data["homelab.yaml"] as string;
    expect(() => validateText(text, "k8s-cronjob.yaml:homelab.yaml")).not.toThrow();
    const names = [...text.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const e = (container.env ?? []).find((x: any) => x.name === name);
      expect(e, `env ${name}`).toBeDefined();
      expect(e.value, `${name} must not be inline`).toBeUndefined();
      expect(e.valueFrom.secretKeyRef.name).toBeTruthy();
      expect(e.valueFrom.secretKeyRef.key).toBe(name);
    }
    // The Secret itself is not in the file (it would end up in git).
    expect(objects.some((o) => o.kind === "Secret")).toBe(false);
  });

  it("runs as non-root with a read-only root filesystem, and a writable /tmp for the lock", () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const uid = dockerfile.steps.find((s) => s.op === "USER")!.args.split(":")[0];
    expect(String(pod.securityContext.runAsUser ?? uid)).toBe(uid);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext.capabilities.drop).toEqual(["ALL"]);
    const tmpMount = container.volumeMounts.find((m: any) => m.mountPath === "/tmp");
    expect(tmpMount, "the lock is written to os.tmpdir()").toBeDefined();
    expect(pod.volumes.find((v: any) => v.name === tmpMount.name).emptyDir).toBeDefined();
    expect(pod.automountServiceAccountToken).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------
// GitHub Actions

/** A run step as GitHub Actions runs it on Linux: `bash --noprofile --norc -eo pipefail {0}`. */
function runStep(script: string, opts: { cwd?: string; env: Record<string, string | undefined> }) {
  const file = join(tmp(), "step.sh");
  writeFileSync(file, script);
  return spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", file], { encoding: "utf8", cwd: opts.cwd ?? root, env: opts.env });
}


describe("docs/examples/github-actions-plan.yml", () => {
  const workflow = parse(read(`${examples}github-actions-plan.yml`)) as Record<string, any>;
  const jobs = Object.values(workflow.jobs) as any[];
  const steps = jobs[0].steps as any[];
  const stepIndex = (pred: (s: any) => boolean) => steps.findIndex(pred);
  const planStep = steps.find((s) => /\bhomelab plan\b/.test(s.run ?? ""));
  const scriptStep = steps.find((s) => String(s.uses ?? "").startsWith("actions/github-script@"));
  const gateStep = steps.at(-1);

  it("runs on pull requests only (not pull_request_target) and may comment", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.permissions["pull-requests"]).toBe("write");
    expect(workflow.permissions.contents).toBe("read");
    expect(jobs).toHaveLength(1);
  });

  it("checks out, sets up Node.js 20, npm ci, npm run build, then runs `homelab plan --detailed-exitcode` with secrets as env", () => {
    const checkout = stepIndex((s) => String(s.uses ?? "").startsWith("actions/checkout@"));
    const node = stepIndex((s) => String(s.uses ?? "").startsWith("actions/setup-node@"));
    const ci = stepIndex((s) => s.run === "npm ci");
    const build = stepIndex((s) => s.run === "npm run build");
    const plan = steps.indexOf(planStep);
    expect([checkout, node, ci, build, plan].every((i) => i >= 0)).toBe(true);
    expect(checkout).toBeLessThan(node);
    expect(node).toBeLessThan(ci);
    expect(ci).toBeLessThan(build);
    expect(build).toBeLessThan(plan);
    expect(String(steps[node].with["node-version"])).toBe("20");
    expect(planStep.run).toMatch(/homelab plan -f "\$HOMELAB_CONFIG" --detailed-exitcode/);
    expect(workflow.env.HOMELAB_CONFIG).toBe("homelab.yaml");
    // The names homelab.yaml refers to, each from a repository secret.
    const tutorial = read(`${root}playbooks/homelab.yaml`);
    for (const [, name] of tutorial.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      expect(planStep.env[name!], name).toMatch(/^\$\{\{ secrets\.[A-Z0-9_]+ \}\}$/);
    }
    // A failing plan must not stop the job before the comment is posted.
    expect(planStep.run).toMatch(/set \+e/);
    expect(planStep.id).toBe("plan");
  });

  it("the gate step passes exit 0 and 2, and fails on 1, 3, 4 and 70", () => {
    expect(gateStep.if).toMatch(/always\(\)/);
    const gate = (code: string) => runStep(gateStep.run, { env: { PATH: process.env.PATH, EXIT_CODE: code } }).status;
    expect(gate("0")).toBe(0);
    expect(gate("2")).toBe(0);
    for (const code of ["1", "3", "4", "70", ""]) expect(gate(code), `exit ${code}`).not.toBe(0);
  });

  /** Run the github-script step as actions/github-script does: an async function of require, github, context. */
  async function comment(code: number, existing: { id: number; body: string }[]) {
    const calls: { method: string; args: any }[] = [];
    const files: Record<string, string> = { "plan.txt": "pve (https://pve.lan:8006)\n  + proxmox.user/pve:ann@pve\n\nPlan: 1 to create\n", "plan.err": "error boom\n" };
    const fakeRequire = (m: string) => {
      if (m === "node:fs" || m === "fs") return { readFileSync: (p: string) => files[p] ?? (() => { throw new Error(`no ${p}`); })() };
      throw new Error(`unexpected require(${m})`);
    };
    const rest = {
      issues: {
        listComments: "listComments",
        createComment: async (args: any) => calls.push({ method: "create", args }),
        updateComment: async (args: any) => calls.push({ method: "update", args }),
      },
    };
    const github = { rest, paginate: async () => existing.map((c) => ({ ...c, user: { type: "Bot" } })) };
    const context = { sha: "0123456789abcdef", runId: 42, repo: { owner: "o", repo: "r" }, issue: { number: 7 } };
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
    const saved = process.env.EXIT_CODE;
    process.env.EXIT_CODE = String(code);
    try {
      await new AsyncFunction("require", "github", "context", scriptStep.with.script)(fakeRequire, github, context);
    } finally {
      if (saved === undefined) delete process.env.EXIT_CODE;
      else process.env.EXIT_CODE = saved;
    }
    return calls;
  }

  it("the comment script posts the diff once and then updates its own comment", async () => {
    expect(scriptStep.env.EXIT_CODE).toBe("${{ steps.plan.outputs.exitcode }}");
    const first = await comment(2, [{ id: 1, body: "someone else's comment" }]);
    expect(first).toHaveLength(1);
    expect(first[0]!.method).toBe("create");
    expect(first[0]!.args.issue_number).toBe(7);
    expect(first[0]!.args.body).toContain("changes pending");
    expect(first[0]!.args.body).toContain("+ proxmox.user/pve:ann@pve");
    expect(first[0]!.args.body).not.toContain("error boom");
    const again = await comment(0, [{ id: 1, body: "someone else's comment" }, { id: 9, body: first[0]!.args.body }]);
    expect(again).toEqual([{ method: "update", args: expect.objectContaining({ comment_id: 9 }) }]);
    expect(again[0]!.args.body).toContain("no changes");
    const failed = await comment(4, []);
    expect(failed[0]!.args.body).toContain("failed with exit 4");
    expect(failed[0]!.args.body).toContain("error boom");
  });

  it("the read-only identities step rewrites the token id and client id into a copy that still validates", () => {
    const step = steps.find((s) => s.name === "Use the read-only identities");
    expect(steps.indexOf(step)).toBeLessThan(steps.indexOf(planStep));
    const dir = tmp();
    copyFileSync(`${root}playbooks/homelab.yaml`, join(dir, "homelab.yaml"));
    const ghEnv = join(dir, "github-env");
    writeFileSync(ghEnv, "");
    const r = runStep(step.run, {
      cwd: root, // where `yaml` is installed, as after npm ci
      env: { PATH: process.env.PATH, HOMELAB_CONFIG: join(dir, "homelab.yaml"), GITHUB_ENV: ghEnv, PVE_TOKEN_ID: "ci@pve!plan", CLIENT_ID: "11111111-2222-4333-8444-555555555555" },
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const copy = join(dir, ".homelab-plan.yaml");
    expect(read(ghEnv)).toBe(`HOMELAB_CONFIG=${copy}\n`);
    const { config } = validateText(read(copy), copy);
    expect(config.clusters.pve!.token.id).toBe("ci@pve!plan");
    expect(config.tenants.contoso!.credentials.clientId).toBe("11111111-2222-4333-8444-555555555555");
    expect(statSync(copy).isFile()).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------
// The page that explains them

describe("docs/cron-and-ci.md", () => {
  const page = read(`${root}docs/cron-and-ci.md`);

  it("links every example, and every link resolves", () => {
    for (const f of ["homelab.service", "homelab.timer", "crontab", "k8s-cronjob.yaml", "github-actions-plan.yml"]) expect(page).toContain(`(examples/${f})`);
    for (const [, target] of page.matchAll(/\]\(((?:\.\.\/|examples\/)[^)#]+)\)/g)) expect(existsSync(join(root, "docs", target!)), target).toBe(true);
  });

  it("documents the same exit codes as the README and --help", () => {
    const codes = (text: string) => [...text.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(codes(page)).toEqual([0, 1, 2, 3, 4, 70]);
    expect(codes(read(`${root}README.md`))).toEqual(expect.arrayContaining([0, 1, 2, 3, 4, 70]));
  });

  it("its --json examples are JSON events, one per line", () => {
    const blocks = [...page.matchAll(/```jsonl\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const line of blocks.join("").trim().split("\n")) {
      const event = JSON.parse(line) as { event: string };
      expect(["plan", "change", "summary", "warning"]).toContain(event.event);
    }
  });

  it("quotes the crontab's job line exactly", () => {
    const job = read(`${examples}crontab`).split("\n").find((l) => /^[\d*]/.test(l))!;
    expect(page).toContain(job);
  });
});
