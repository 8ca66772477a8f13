#!/usr/bin/env node
// Benchmark: homelab against the Ansible playbook a homelab owner would write (bench/ansible/site.yml) for the
// same N users and ACL entries (bench/ansible/scenario.mjs), on the same in-process Proxmox simulator, in the
// same run: from empty and as a no-op, at each size, each as a median wall time and its ratio to `node -e 0`
// (sampled between the rows), with the requests and writes each tool sent and its CPU time (homelab's read by
// bench/probe.mjs inside the CLI process; Ansible's, all its worker processes included, by bash's `times`).
// After each tool's from-empty run the simulator's users, ACL entries, groups and custom roles are compared:
// the benchmark stops with the difference unless both tools reached the same state. A no-op must write nothing
// (homelab says "No changes.", Ansible reports no changed item).
//
// Without `ansible-playbook` on PATH (or ANSIBLE_PLAYBOOK naming it) it prints one line saying so and exits 0.
// Usage: npm run build && node bench/ansible.mjs [--sizes 100,500] [--runs N] [--ansible-runs N] [--base-runs N]
//        [--acl-per-user N] [--bin dist/cli/main.js] [--json]
//   --runs          homelab's runs (from empty and no-op) and Ansible's no-op runs per size (default 3)
//   --ansible-runs  Ansible's from-empty runs per size (default 1: about 1 s per object)
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ansibleVars, comparable, difference, homelabConfig, model } from "./ansible/scenario.mjs";
import { baseline, median, root, run, runProbed, wholeNumber } from "./lib.mjs";

/** The executable `name` on PATH, or undefined. */
function onPath(name, path = process.env.PATH ?? "") {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const playbookBin = process.env.ANSIBLE_PLAYBOOK || onPath("ansible-playbook");
if (!playbookBin) {
  console.log("bench/ansible.mjs: skipped, ansible-playbook is not on PATH (install Ansible, e.g. `apt-get install ansible-core`, to compare homelab with bench/ansible/site.yml)");
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100,500" },
    runs: { type: "string", default: "3" },
    "ansible-runs": { type: "string", default: "1" },
    "base-runs": { type: "string", default: "7" },
    "acl-per-user": { type: "string", default: "1" },
    bin: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const SIZES = values.sizes.split(",").map((s) => Number(s.trim()));
if (SIZES.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--sizes must be a comma-separated list of positive integers, not ${values.sizes}`);
const RUNS = wholeNumber(values, "runs", 1);
const ANSIBLE_RUNS = wholeNumber(values, "ansible-runs", 1);
const BASE_RUNS = wholeNumber(values, "base-runs", 1);
const ACL_PER_USER = wholeNumber(values, "acl-per-user", 1);
const bin = resolve(values.bin ?? process.env.HOMELAB_BIN ?? join(root, "dist/cli/main.js"));
if (!existsSync(bin)) throw new Error(`${bin} does not exist: npm run build first, or name a build with --bin`);
// The simulator comes from the same build as the CLI (dist/ or .dist-NAME/), as in bench/floor.mjs.
const { startProxmoxSim } = await import(join(resolve(bin, "../.."), "sim/proxmox/index.js"));

const playbookDir = join(root, "bench/ansible");
const say = (line) => process.stderr.write(`${line}\n`);
const isWrite = (r) => r.method !== "GET" && r.method !== "HEAD";
const counts = (sim) => ({ requests: sim.requestLog.length, writes: sim.requestLog.filter(isWrite).length });

/** `homelab apply -f FILE` with the probe; throws with the tail of the output unless it exits 0. */
async function homelab(file, env) {
  const r = await runProbed([bin, "apply", "-f", file, "--no-color"], env);
  if (r.code !== 0) throw new Error(`homelab apply -f ${file} exited ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

/** The number of objects a homelab apply created, from its summary line. */
function homelabCreated(stdout) {
  const m = /^Apply: (\d+) created, (\d+) updated, (\d+) replaced, (\d+) deleted\.$/m.exec(stdout);
  if (m) return Number(m[1]) + Number(m[2]) + Number(m[3]) + Number(m[4]);
  if (/^No changes\./m.test(stdout)) return 0;
  throw new Error(`no Apply summary in:\n${stdout.slice(-2000)}`);
}

/**
 * `ansible-playbook site.yml` with the variables file; resolves like `run` plus `cpuMs` (user + system CPU of
 * ansible-playbook and every process it started, from bash's `times`) and `changed` (the items it reported
 * changed). Throws with the tail of the output unless it exits 0.
 */
async function ansible(varsFile, secret) {
  const env = { ...process.env, ANSIBLE_CONFIG: join(playbookDir, "ansible.cfg"), PVE_TOKEN_SECRET: secret, ANSIBLE_NOCOLOR: "1" };
  const args = ["-i", join(playbookDir, "inventory.ini"), join(playbookDir, "site.yml"), "-e", `@${varsFile}`];
  const r = await run("bash", ["-c", '"$@"; rc=$?; times >&2; exit $rc', "bash", playbookBin, ...args], env);
  if (r.code !== 0) throw new Error(`ansible-playbook exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  // `times`: the shell's own user/system time, then its children's ("0m12.345s 0m1.234s").
  const last = r.stderr.trim().split("\n").at(-1) ?? "";
  const t = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(last.trim());
  const cpuMs = t ? (Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4])) * 1000 : undefined;
  const changed = r.stdout.split("\n").filter((l) => /^changed: \[[^\]]+\] => \(item=/.test(l)).length;
  return { ...r, cpuMs, changed };
}

/** The median sample by wall time, with the median CPU of all. */
function summarise(samples) {
  const ms = median(samples.map((s) => s.ms));
  const cpus = samples.map((s) => s.cpu).filter((c) => c !== undefined);
  return { ...samples.find((s) => s.ms === ms), ms, cpu: cpus.length ? median(cpus) : undefined, runs: samples.length };
}

/** A simulator and what runs against it: the homelab config, the Ansible variables, the environment. */
async function cluster(dir, tool, m) {
  const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
  const header = `clusters:\n  pve:\n    url: ${sim.url}\n    token: { id: "${sim.adminToken.id}", secret: "\${env:PVE_TOKEN}" }\n    tls: { fingerprint: "${sim.fingerprint}" }\n`;
  const file = join(dir, `${tool}-homelab.yaml`);
  writeFileSync(file, homelabConfig(m, header));
  const varsFile = join(dir, `${tool}-vars.json`);
  writeFileSync(varsFile, JSON.stringify(ansibleVars(m, { url: sim.url, tokenId: sim.adminToken.id })));
  const env = { ...process.env, PVE_TOKEN: sim.adminToken.secret, NO_COLOR: "1" };
  return { sim, file, varsFile, env, secret: sim.adminToken.secret };
}

/**
 * `k` runs of one tool against `c`: from empty (the simulator reset to a fresh install first) or no-op (on the
 * state the tool left). A no-op must write nothing and report nothing changed.
 */
async function measure(c, tool, kind, k, label) {
  const samples = [];
  for (let i = 0; i < k; i++) {
    if (kind === "empty") c.sim.reset();
    c.sim.clearLog();
    const r = tool === "homelab" ? await homelab(c.file, c.env) : await ansible(c.varsFile, c.secret);
    const changed = tool === "homelab" ? homelabCreated(r.stdout) : r.changed;
    const n = counts(c.sim);
    if (kind === "noop" && (n.writes !== 0 || changed !== 0)) throw new Error(`${label}: the no-op ${tool} run wrote ${n.writes} requests and reported ${changed} changes (must be 0)\n${r.stdout.slice(-2000)}`);
    samples.push({ ms: r.ms, cpu: r.cpuMs, changed, ...n });
  }
  return summarise(samples);
}

const dir = mkdtempSync(join(tmpdir(), "hl-ansible-"));
const base = await baseline(BASE_RUNS);
const rows = [];
try {
  for (const n of SIZES) {
    const m = model(n, { aclPerUser: ACL_PER_USER });
    const label = `${n} users`;
    const h = await cluster(dir, "homelab", m);
    const a = await cluster(dir, "ansible", m);
    try {
      say(`… ${label}: homelab from empty`);
      const hEmpty = await measure(h, "homelab", "empty", RUNS, label);
      const hState = comparable(h.sim.state());
      say(`… ${label}: ansible from empty (about 1 s per object)`);
      const aEmpty = await measure(a, "ansible", "empty", ANSIBLE_RUNS, label);
      const diff = difference(hState, comparable(a.sim.state()));
      if (diff) throw new Error(`${label}: homelab and the playbook reached different states:\n${diff}`);
      if (hState.users.length !== m.users.length || hState.acl.length !== m.acl.length) throw new Error(`${label}: expected ${m.users.length} users and ${m.acl.length} ACL entries, found ${hState.users.length} and ${hState.acl.length}`);
      base.push(...(await baseline(1)));
      say(`… ${label}: no-ops`);
      const hNoop = await measure(h, "homelab", "noop", RUNS, label);
      const aNoop = await measure(a, "ansible", "noop", RUNS, label);
      base.push(...(await baseline(1)));
      rows.push({ users: n, acl: m.acl.length, run: "empty", homelab: hEmpty, ansible: aEmpty }, { users: n, acl: m.acl.length, run: "noop", homelab: hNoop, ansible: aNoop });
    } finally {
      await Promise.all([h.sim.close(), a.sim.close()]);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const b = median(base);
const round = (v, d = 0) => (v === undefined ? undefined : Number(v.toFixed(d)));
const side = (s) => ({ ms: round(s.ms), ratio: round(s.ms / b, 2), cpu_ms: round(s.cpu), runs: s.runs, requests: s.requests, writes: s.writes, changed: s.changed });
const out = rows.map((r) => ({ users: r.users, acl: r.acl, run: r.run, homelab: side(r.homelab), ansible: side(r.ansible), ansible_over_homelab: round(r.ansible.ms / r.homelab.ms, 1) }));
if (!values.json) {
  console.log(`node -e 0: ${b.toFixed(0)} ms (median of ${base.length}); ${process.version}; ${bin}; ${playbookBin}`);
  console.log("users   acl  run     tool      wall ms     ratio    CPU ms  requests  writes  changed   ansible/homelab");
  const c = (v, w) => String(v ?? "-").padStart(w);
  for (const r of out) {
    for (const tool of ["homelab", "ansible"]) {
      const s = r[tool];
      console.log(`${c(r.users, 5)} ${c(r.acl, 5)}  ${r.run.padEnd(6)}  ${tool.padEnd(8)} ${c(s.ms, 8)} ${c(`${s.ratio.toFixed(2)}x`, 9)} ${c(s.cpu_ms, 9)} ${c(s.requests, 9)} ${c(s.writes, 7)} ${c(s.changed, 8)} ${tool === "ansible" ? c(`${r.ansible_over_homelab}x`, 17) : ""}`);
    }
  }
}
console.log(JSON.stringify({ bench: "ansible", node: process.version, node_e_0_ms: round(b), base_runs: base.length, bin, ansible_playbook: playbookBin, acl_per_user: ACL_PER_USER, rows: out }));
