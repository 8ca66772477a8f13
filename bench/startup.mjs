#!/usr/bin/env node
// Benchmark: start-up of the CLI under a given Node, with and without V8's compile cache (Node >= 22.1; turned on
// here with Node's own NODE_COMPILE_CACHE=DIR, which caches every module the process loads: homelab itself does
// not turn it on, see src/cli/main.ts). Each row is run in rounds; every round runs each mode once and `node -e 0`
// of the same Node once, so the machine's load is spread evenly over the modes; the figures are medians, wall
// times as ratios to that `node -e 0`, CPU time read in the child by bench/probe.mjs (the baseline is probed
// too), and the number of files the row loads (one more untimed run, without the cache).
//
// Modes (--modes, comma-separated; default warm,off):
//   warm  the cache in a fresh directory, filled by one untimed run first: every later run
//   off   no cache (NODE_DISABLE_COMPILE_CACHE=1)
//   cold  an empty cache directory for every run: a first run, which also writes the cache
// Rows (--only): version, help, validate (the tutorial), noop (a no-op apply of a 10-user cluster against the
//   in-process Proxmox simulator), sim (`homelab sim --once`: both simulators start, print their JSON, stop).
// --bin runs another build (an unbundled one, tsc's output without scripts/bundle.mjs, to see what bundling gives).
// Usage: node bench/startup.mjs [--node PATH] [--bin dist/cli/main.js] [--runs N] [--modes warm,off,cold]
//        [--only version,help] [--json]
//   e.g. Node 24: node bench/startup.mjs --node "$(npx -y -p node@24 node -p process.execPath)"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { median, root, run, wholeNumber } from "./lib.mjs";
import { convergeConfig } from "./scenarios.mjs";

const ROWS = ["version", "help", "validate", "noop", "sim"];
const MODES = ["warm", "off", "cold"];
const { values } = parseArgs({
  options: {
    node: { type: "string" },
    bin: { type: "string" },
    runs: { type: "string", default: "7" },
    modes: { type: "string", default: "warm,off" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const RUNS = wholeNumber(values, "runs", 1);
const node = resolve(values.node ?? process.execPath);
const bin = resolve(values.bin ?? process.env.HOMELAB_BIN ?? join(root, "dist/cli/main.js"));
const only = values.only === undefined ? ROWS : values.only.split(",").map((s) => s.trim());
for (const r of only) if (!ROWS.includes(r)) throw new Error(`--only: unknown row ${r}; rows: ${ROWS.join(", ")}`);
const modes = values.modes.split(",").map((s) => s.trim());
for (const m of modes) if (!MODES.includes(m)) throw new Error(`--modes: unknown mode ${m}; modes: ${MODES.join(", ")}`);

const probeModule = join(root, "bench/probe.mjs");
const say = (line) => process.stderr.write(`${line}\n`);
const dir = mkdtempSync(join(tmpdir(), "hl-startup-"));
let seq = 0;

/** `node ARGS` under the chosen Node with the probe: wall ms, CPU ms, exit code, output, and optionally the files it loaded. */
async function probed(args, env, { modules = false } = {}) {
  const out = join(dir, `probe-${seq++}.json`);
  const r = await run(node, ["--import", probeModule, ...args], { ...env, HL_PROBE_OUT: out, HL_PROBE_MODULES: modules ? "1" : "0" });
  const probe = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : undefined;
  let files;
  if (modules && probe) {
    const esm = existsSync(`${out}.modules`) ? readFileSync(`${out}.modules`, "utf8").split("\n").filter((u) => u.startsWith("file:")) : [];
    files = new Set([...esm.map((u) => new URL(u).pathname), ...probe.cjs].filter((f) => !f.startsWith(join(root, "bench/"))));
  }
  return { ...r, cpuMs: probe ? probe.cpuUs / 1000 : undefined, modules: files?.size };
}

/** The environment of one mode; `cold` gets a new empty cache directory each time. */
function modeEnv(mode, base) {
  const env = { ...base };
  delete env.NODE_COMPILE_CACHE;
  delete env.NODE_DISABLE_COMPILE_CACHE;
  if (mode === "off") env.NODE_DISABLE_COMPILE_CACHE = "1";
  else env.NODE_COMPILE_CACHE = mode === "warm" ? join(dir, "cache-warm") : mkdtempSync(join(dir, "cache-cold-"));
  return env;
}

/** Bytes under a directory (the compile cache's size). */
function sizeOf(d) {
  if (!existsSync(d)) return 0;
  let n = 0;
  for (const e of readdirSync(d, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath ?? e.path, e.name)).size;
  return n;
}

/** What a row runs: its arguments and environment, and how to tear it down. */
async function rowSetup(name) {
  const env = { ...process.env, NO_COLOR: "1" };
  if (name === "version") return { args: ["--version"], env };
  if (name === "help") return { args: ["--help"], env };
  if (name === "validate") return { args: ["validate", "-f", join(root, "playbooks/homelab.yaml")], env };
  if (name === "sim") return { args: ["sim", "--once"], env };
  // noop: the simulator from the same build as the CLI, in this process (so the CLI is spawned asynchronously).
  const { startProxmoxSim } = await import(join(resolve(bin, "../.."), "sim/proxmox/index.js"));
  const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
  const header = `clusters:\n  pve:\n    url: ${sim.url}\n    token: { id: "${sim.adminToken.id}", secret: "\${env:PVE_TOKEN}" }\n    tls: { fingerprint: "${sim.fingerprint}" }\n`;
  const file = join(dir, "noop.yaml");
  writeFileSync(file, convergeConfig(10, header));
  const noopEnv = { ...env, PVE_TOKEN: sim.adminToken.secret, SSO_SECRET: "bench-sso-Secret-4711" };
  const first = await run(node, [bin, "apply", "-f", file, "--no-color"], noopEnv);
  if (first.code !== 0) throw new Error(`setting up the no-op: homelab apply exited ${first.code}\n${first.stdout.slice(-1500)}\n${first.stderr.slice(-1500)}`);
  return { args: ["apply", "-f", file, "--no-color"], env: noopEnv, check: (r) => /^No changes\./m.test(r.stdout), close: () => sim.close() };
}

const nodeVersion = (await run(node, ["-p", "process.version + ' ' + typeof require('node:module').enableCompileCache"])).stdout.trim();
const hasCache = nodeVersion.endsWith("function");
const base = [];
const rows = [];
try {
  for (const name of only) {
    say(`… ${name}`);
    const row = await rowSetup(name);
    try {
      // The warm cache is filled by one untimed run; its size is reported.
      rmSync(join(dir, "cache-warm"), { recursive: true, force: true });
      if (modes.includes("warm")) await probed([bin, ...row.args], modeEnv("warm", row.env));
      const samples = Object.fromEntries(modes.map((m) => [m, []]));
      for (let k = 0; k < RUNS; k++) {
        base.push(await probed(["-e", "0"], process.env));
        for (const m of k % 2 === 0 ? modes : [...modes].reverse()) {
          const r = await probed([bin, ...row.args], modeEnv(m, row.env));
          if (r.code !== 0 || (row.check && !row.check(r))) throw new Error(`homelab ${row.args.join(" ")} (${m}) exited ${r.code}\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-1500)}`);
          samples[m].push(r);
        }
      }
      const modules = (await probed([bin, ...row.args], modeEnv("off", row.env), { modules: true })).modules;
      for (const m of modes) rows.push({ row: name, mode: m, ms: median(samples[m].map((s) => s.ms)), cpu: median(samples[m].map((s) => s.cpuMs)), runs: RUNS, modules, ...(m === "warm" ? { cache_kb: Math.round(sizeOf(join(dir, "cache-warm")) / 1024) } : {}) });
    } finally {
      await row.close?.();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const b = median(base.map((s) => s.ms));
const bCpu = median(base.map((s) => s.cpuMs));
const out = rows.map((r) => ({ ...r, ms: Math.round(r.ms), ratio: Number((r.ms / b).toFixed(2)), cpu: Math.round(r.cpu) }));
if (!values.json) {
  console.log(`${node}: ${nodeVersion.split(" ")[0]} (compile cache ${hasCache ? "available" : "absent: every mode runs without it"}); node -e 0 with the probe: ${b.toFixed(0)} ms wall, ${bCpu.toFixed(0)} ms CPU (median of ${base.length}); ${bin}`);
  console.log("row        mode   wall ms   ratio   CPU ms  modules  cache KB");
  const c = (v, w) => String(v ?? "-").padStart(w);
  for (const r of out) console.log(`${r.row.padEnd(10)} ${r.mode.padEnd(5)} ${c(r.ms, 8)} ${c(`${r.ratio.toFixed(2)}x`, 7)} ${c(r.cpu, 8)} ${c(r.modules, 8)} ${c(r.cache_kb, 9)}`);
}
console.log(JSON.stringify({ bench: "startup", node: nodeVersion.split(" ")[0], compile_cache: hasCache, node_e_0_ms: Math.round(b), node_e_0_cpu_ms: Math.round(bCpu), base_runs: base.length, bin, rows: out }));
