#!/usr/bin/env node
// Benchmark: the rows of issue 12's target table that run on one machine, each as a median wall time and its
// ratio to `node -e 0` measured in the same run (samples of it are taken between the rows, so that the
// machine's load later in the run is represented too), with request counts, peak RSS and CPU time of the
// CLI process (read by bench/probe.mjs inside the child: process.resourceUsage(), no `/usr/bin/time -v`),
// and the number of modules it loads (one more run per row, untimed: counting needs a loader-hook thread).
//
// Rows (--only takes their names, comma-separated):
//   noop-1k     no-op apply, 1,000 users / about 2,100 ACL entries, one cluster
//   demo-1k     no-op apply, the demo scenario (tenant realm + mapped group), 1,000 users
//   noop-10k    no-op apply, 10,000 users (and the from-empty apply that sets it up, run once: its wall time and RSS)
//   empty-1k    apply from empty, 1,000 users (a fresh simulator per run): CPU ms per object created
//   multi-10x1k 10 clusters x 1,000 users, --concurrency 16: from empty (fresh simulators each run, row
//               multi-empty-10x1k) and the no-op after it (multi-noop-10x1k); `sim_cpu_ms` is the CPU the ten
//               simulators took in this process meanwhile (they share its one thread)
//   validate-5k `homelab validate`, 5,000 mappings
//   version     `homelab --version`
//   help        `homelab --help`
// The simulators run in this process, so the CLI is spawned asynchronously (lib.mjs `run`).
// Usage: npm run build && node bench/floor.mjs [--runs N] [--base-runs N] [--only noop-1k,version] [--bin dist/cli/main.js]
//        (--bin, or HOMELAB_BIN, runs another build of the CLI; --json prints only the JSON line)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { baseline, median, root, runProbed, wholeNumber } from "./lib.mjs";
import { convergeConfig, demoConfig, demoDirectory, demoHeader, validateConfig } from "./scenarios.mjs";

const ROWS = ["noop-1k", "demo-1k", "noop-10k", "empty-1k", "multi-10x1k", "validate-5k", "version", "help"];
/** The multi-cluster row: this many clusters of MULTI_USERS users each, applied with --concurrency MULTI_CONCURRENCY. */
const MULTI_CLUSTERS = 10;
const MULTI_USERS = 1000;
const MULTI_CONCURRENCY = 16;
const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    "base-runs": { type: "string", default: "7" },
    only: { type: "string" },
    bin: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const RUNS = wholeNumber(values, "runs", 1);
const BASE_RUNS = wholeNumber(values, "base-runs", 1);
const only = values.only === undefined ? ROWS : values.only.split(",").map((s) => s.trim());
for (const r of only) if (!ROWS.includes(r)) throw new Error(`--only: unknown row ${r}; rows: ${ROWS.join(", ")}`);
const bin = resolve(values.bin ?? process.env.HOMELAB_BIN ?? join(root, "dist/cli/main.js"));
// The simulators come from the same build as the CLI when it is a build of this tree (dist/ or .dist-NAME/).
const distDir = resolve(bin, "../..");
const { startProxmoxSim } = await import(join(distDir, "sim/proxmox/index.js"));
const { startEntraSim } = only.includes("demo-1k") ? await import(join(distDir, "sim/entra/index.js")) : {};

const SSO_SECRET = "bench-sso-Secret-4711";
const say = (line) => process.stderr.write(`${line}\n`);

/** `homelab ARGS` with the probe; throws with the tail of the output unless it exits `expect` (default 0). */
async function cli(args, env, opts = {}) {
  const r = await runProbed([bin, ...args], env, opts);
  if (r.code !== (opts.expect ?? 0)) throw new Error(`homelab ${args.join(" ")} exited ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
}
const created = (stdout) => {
  const m = /^Apply: (\d+) created, (\d+) updated, (\d+) replaced, (\d+) deleted\.$/m.exec(stdout);
  if (!m) throw new Error(`no Apply summary in:\n${stdout.slice(-2000)}`);
  return Number(m[1]);
};
const isWrite = (r) => r.method !== "GET" && r.method !== "HEAD";
const aclEntries = (text) => text.split("\n").filter((l) => l.startsWith("  - {")).length;

/** A cluster simulator, the config for it, the environment to run with. */
async function cluster(dir, n, opts) {
  const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
  const header = `clusters:\n  pve:\n    url: ${sim.url}\n    token: { id: "${sim.adminToken.id}", secret: "\${env:PVE_TOKEN}" }\n    tls: { fingerprint: "${sim.fingerprint}" }\n`;
  const text = convergeConfig(n, header, opts);
  const file = join(dir, `homelab-${n}.yaml`);
  writeFileSync(file, text);
  const env = { ...process.env, PVE_TOKEN: sim.adminToken.secret, SSO_SECRET, NO_COLOR: "1" };
  return { sim, file, env, acl: aclEntries(text), requests: () => ({ requests: sim.requestLog.length, writes: sim.requestLog.filter(isWrite).length }), clear: () => sim.clearLog(), close: () => sim.close() };
}

/** `clusters` simulators and one config naming them all, each with N users (the same generated file per cluster). */
async function clusters(dir, count, n) {
  const sims = [];
  for (let k = 0; k < count; k++) sims.push(await startProxmoxSim({ unauthorizedDelayMs: 0 }));
  const header = `clusters:\n${sims.map((s, k) => `  pve${k}:\n    url: ${s.url}\n    token: { id: "${s.adminToken.id}", secret: "\${env:PVE_TOKEN_${k}}" }\n    tls: { fingerprint: "${s.fingerprint}" }\n`).join("")}`;
  const text = convergeConfig(n, header);
  const file = join(dir, `homelab-${count}x${n}.yaml`);
  writeFileSync(file, text);
  const env = { ...process.env, SSO_SECRET, NO_COLOR: "1" };
  sims.forEach((s, k) => (env[`PVE_TOKEN_${k}`] = s.adminToken.secret));
  const log = () => sims.flatMap((s) => s.requestLog);
  const cpu0 = { at: process.cpuUsage() };
  return {
    file, env, acl: aclEntries(text) * count,
    requests: () => ({ requests: log().length, writes: log().filter(isWrite).length, ...perCluster(sims) }),
    clear: () => {
      for (const s of sims) s.clearLog();
      cpu0.at = process.cpuUsage();
    },
    /** CPU of this process (the simulators, mostly) since the last clear(). */
    simCpu: () => {
      const c = process.cpuUsage(cpu0.at);
      return (c.user + c.system) / 1000;
    },
    close: () => Promise.all(sims.map((s) => s.close())),
  };
}

/** The most requests (and writes) any one cluster got: a no-op must stay within 7 (+1 /version) per cluster. */
function perCluster(sims) {
  return { max_per_cluster: Math.max(...sims.map((s) => s.requestLog.length)), max_writes_per_cluster: Math.max(...sims.map((s) => s.requestLog.filter(isWrite).length)) };
}

/** The demo's two simulators, its config with N users, the environment. */
async function demo(dir, n) {
  const entra = await startEntraSim({ fixture: demoDirectory(n) });
  const pve = await startProxmoxSim({ unauthorizedDelayMs: 0 });
  const header = demoHeader(entra, pve);
  const file = join(dir, `demo-${n}.yaml`);
  writeFileSync(file, demoConfig(n, header));
  const env = { ...process.env, CONTOSO_SECRET: entra.automation.clientSecret, PVE_TOKEN: pve.adminToken.secret, NO_COLOR: "1" };
  const graph = () => entra.requestLog.filter((r) => r.api === "graph");
  return {
    file,
    env,
    requests: () => ({
      requests: entra.requestLog.length + pve.requestLog.length,
      writes: graph().filter(isWrite).length + pve.requestLog.filter(isWrite).length,
      token: entra.requestLog.filter((r) => r.api === "token").length,
      graph: graph().length,
      pve: pve.requestLog.length,
    }),
    clear: () => {
      entra.clearLog();
      pve.clearLog();
    },
    close: () => Promise.all([entra.close(), pve.close()]),
  };
}

/** RUNS timed no-op applies (each must write nothing and say "No changes."), then one untimed run counting modules. */
async function noops(t, label) {
  const samples = [];
  for (let k = 0; k < RUNS; k++) {
    t.clear();
    const r = await cli(["apply", "-f", t.file, "--no-color"], t.env);
    const c = t.requests();
    if (c.writes !== 0) throw new Error(`${label}: the no-op apply sent ${c.writes} write requests (must be 0)\n${r.stdout.slice(-1000)}`);
    if (!/^No changes\./m.test(r.stdout)) throw new Error(`${label}: the no-op apply reported changes:\n${r.stdout.slice(-2000)}`);
    samples.push({ ms: r.ms, rss: r.maxRssMb, cpu: r.cpuMs, ...c });
  }
  const m = await cli(["apply", "-f", t.file, "--no-color"], t.env, { modules: true });
  return summarise(samples, m.modules);
}

/** The median sample by wall time, with the median RSS and CPU of all. */
function summarise(samples, modules) {
  const ms = median(samples.map((s) => s.ms));
  const simCpu = samples[0]?.simCpu === undefined ? {} : { simCpu: median(samples.map((s) => s.simCpu)) };
  return { ...samples.find((s) => s.ms === ms), ms, rss: median(samples.map((s) => s.rss)), cpu: median(samples.map((s) => s.cpu)), ...simCpu, runs: samples.length, modules };
}

/** RUNS timed runs of `homelab ARGS`, then one untimed run counting modules. */
async function plain(args, env = process.env) {
  const samples = [];
  for (let k = 0; k < RUNS; k++) {
    const r = await cli(args, env);
    samples.push({ ms: r.ms, rss: r.maxRssMb, cpu: r.cpuMs });
  }
  return summarise(samples, (await cli(args, env, { modules: true })).modules);
}

const dir = mkdtempSync(join(tmpdir(), "hl-floor-"));
const base = await baseline(BASE_RUNS);
// `node -e 0` with the probe: its CPU time is subtracted from the CLI's for "CPU ms per object".
const probedBase = [];
const sampleBase = async () => {
  base.push(...(await baseline(1)));
  probedBase.push(await runProbed(["-e", "0"]));
};
await sampleBase();
const rows = {};
try {
  for (const name of only) {
    say(`… ${name}`);
    if (name === "noop-1k") {
      const t = await cluster(dir, 1000, { aclPerUser: 2 });
      try {
        await cli(["apply", "-f", t.file, "--no-color"], t.env);
        rows[name] = { users: 1000, acl: t.acl, ...(await noops(t, name)) };
      } finally {
        await t.close();
      }
    } else if (name === "demo-1k") {
      const t = await demo(dir, 1000);
      try {
        await cli(["apply", "-f", t.file, "--no-color"], t.env);
        rows[name] = { users: 1000, ...(await noops(t, name)) };
      } finally {
        await t.close();
      }
    } else if (name === "noop-10k") {
      const t = await cluster(dir, 10000);
      try {
        const e = await cli(["apply", "-f", t.file, "--no-color"], t.env);
        rows["empty-10k"] = { users: 10000, acl: t.acl, ms: e.ms, rss: e.maxRssMb, cpu: e.cpuMs, runs: 1, created: created(e.stdout), ...t.requests() };
        rows[name] = { users: 10000, acl: t.acl, ...(await noops(t, name)) };
      } finally {
        await t.close();
      }
    } else if (name === "empty-1k") {
      const samples = [];
      let acl = 0;
      for (let k = 0; k < RUNS; k++) {
        const t = await cluster(dir, 1000);
        try {
          acl = t.acl;
          const r = await cli(["apply", "-f", t.file, "--no-color"], t.env);
          samples.push({ ms: r.ms, rss: r.maxRssMb, cpu: r.cpuMs, created: created(r.stdout), ...t.requests() });
        } finally {
          await t.close();
        }
      }
      rows[name] = { users: 1000, acl, ...summarise(samples) };
    } else if (name === "multi-10x1k") {
      const args = ["apply", "-f", undefined, "--no-color", "--concurrency", String(MULTI_CONCURRENCY)];
      const empty = [];
      const noop = [];
      let acl = 0;
      for (let k = 0; k < RUNS; k++) {
        const t = await clusters(dir, MULTI_CLUSTERS, MULTI_USERS);
        try {
          acl = t.acl;
          args[2] = t.file;
          t.clear();
          const e = await cli(args, t.env);
          empty.push({ ms: e.ms, rss: e.maxRssMb, cpu: e.cpuMs, simCpu: t.simCpu(), created: created(e.stdout), ...t.requests() });
          t.clear();
          const r = await cli(args, t.env);
          const c = t.requests();
          if (c.max_per_cluster > 8) throw new Error(`${name}: a cluster's no-op read took ${c.max_per_cluster} requests (at most 7, +1 GET /version)`);
          if (c.writes !== 0 || !/^No changes\./m.test(r.stdout)) throw new Error(`${name}: the no-op apply wrote ${c.writes} times or reported changes:\n${r.stdout.slice(-1500)}`);
          noop.push({ ms: r.ms, rss: r.maxRssMb, cpu: r.cpuMs, simCpu: t.simCpu(), ...c });
        } finally {
          await t.close();
        }
      }
      const shape = { clusters: MULTI_CLUSTERS, users: MULTI_USERS * MULTI_CLUSTERS, acl, concurrency: MULTI_CONCURRENCY };
      rows[`multi-empty-${MULTI_CLUSTERS}x1k`] = { ...shape, ...summarise(empty) };
      rows[`multi-noop-${MULTI_CLUSTERS}x1k`] = { ...shape, ...summarise(noop) };
    } else if (name === "validate-5k") {
      const file = join(dir, "validate-5000.yaml");
      writeFileSync(file, validateConfig(5000));
      rows[name] = { mappings: 5000, ...(await plain(["validate", "-f", file])) };
    } else if (name === "version") rows[name] = await plain(["--version"]);
    else if (name === "help") rows[name] = await plain(["--help"]);
    await sampleBase();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const b = median(base);
const baseCpu = median(probedBase.map((r) => r.cpuMs));
const baseRss = median(probedBase.map((r) => r.maxRssMb));
const round = (v, d = 0) => (v === undefined ? undefined : Number(v.toFixed(d)));
const out = Object.entries(rows).map(([row, r]) => ({
  row,
  ...(r.clusters !== undefined ? { clusters: r.clusters, concurrency: r.concurrency } : {}),
  ...(r.users !== undefined ? { users: r.users } : {}),
  ...(r.acl !== undefined ? { acl: r.acl } : {}),
  ...(r.mappings !== undefined ? { mappings: r.mappings } : {}),
  ms: round(r.ms),
  ratio: round(r.ms / b, 2),
  runs: r.runs,
  rss_mb: round(r.rss),
  cpu_ms: round(r.cpu),
  ...(r.requests !== undefined ? { requests: r.requests, writes: r.writes } : {}),
  ...(r.max_per_cluster !== undefined ? { max_per_cluster: r.max_per_cluster, max_writes_per_cluster: r.max_writes_per_cluster } : {}),
  ...(r.simCpu !== undefined ? { sim_cpu_ms: round(r.simCpu) } : {}),
  ...(r.token !== undefined ? { token: r.token, graph: r.graph, pve: r.pve } : {}),
  ...(r.created !== undefined ? { created: r.created, cpu_ms_per_object: round((r.cpu - baseCpu) / r.created, 3) } : {}),
  ...(r.modules !== undefined ? { modules: r.modules } : {}),
}));
if (!values.json) {
  console.log(`node -e 0: ${b.toFixed(0)} ms (median of ${base.length}); with the probe: CPU ${baseCpu.toFixed(0)} ms, peak RSS ${baseRss.toFixed(0)} MB; ${process.version}; ${bin}`);
  console.log("row                wall ms   ratio   RSS MB   CPU ms  requests  writes  modules  CPU ms/object  sim CPU ms");
  for (const r of out) {
    const c = (v, w) => String(v ?? "-").padStart(w);
    console.log(`${r.row.padEnd(17)} ${c(r.ms, 8)} ${c(`${r.ratio.toFixed(2)}x`, 7)} ${c(r.rss_mb, 8)} ${c(r.cpu_ms, 8)} ${c(r.requests, 9)} ${c(r.writes, 7)} ${c(r.modules, 8)} ${c(r.cpu_ms_per_object, 14)} ${c(r.sim_cpu_ms, 11)}`);
  }
}
console.log(JSON.stringify({ bench: "floor", node: process.version, node_e_0_ms: round(b), base_runs: base.length, probe_node_e_0: { cpu_ms: round(baseCpu), rss_mb: round(baseRss) }, bin, rows: out }));
