#!/usr/bin/env node
// Benchmark: `homelab apply` against the in-process Proxmox simulator, from empty and as a no-op, for
// 10, 100, 1,000 and 5,000 users with ACLs. Prints wall time, requests and writes (non-GET) for each, and
// the ratio to `node -e 0` measured in the same run (timing is noisy on shared machines; compare ratios).
// The simulator runs in this process, so the CLI is spawned asynchronously (spawnSync would block the
// event loop and the simulator could never answer).
// Usage: npm run build && node bench/converge.mjs [--sizes 10,100,1000,5000] [--quick] [--runs N]
//        [--concurrency N] [--base-runs N]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apply as applyCli, baseline, benchOptions, median, root } from "./lib.mjs";
import { convergeConfig as generate } from "./scenarios.mjs";

export { generate };

const { sizes: SIZES, runs: RUNS, baseRuns: BASE_RUNS, concurrency, passthrough } = benchOptions([10, 100, 1000, 5000]);
const { startProxmoxSim } = await import(join(root, "dist/sim/proxmox/index.js"));
const apply = (file, env) => applyCli(file, env, passthrough);
const SSO_SECRET = "bench-sso-Secret-4711";

const counts = (sim) => ({ requests: sim.requestLog.length, writes: sim.requestLog.filter((r) => r.method !== "GET").length });

const dir = mkdtempSync(join(tmpdir(), "hl-converge-"));
const base = await baseline(BASE_RUNS);
const results = [];
try {
  for (const n of SIZES) {
    // From empty: a fresh simulator per run; small sizes are repeated for a median, the big ones run once.
    const emptyRuns = n <= 100 ? RUNS : 1;
    const empty = [];
    const noop = [];
    for (let rep = 0; rep < emptyRuns; rep++) {
      const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
      try {
        const cluster = `clusters:\n  pve:\n    url: ${sim.url}\n    token: { id: "${sim.adminToken.id}", secret: "\${env:PVE_TOKEN}" }\n    tls: { fingerprint: "${sim.fingerprint}" }\n`;
        const file = join(dir, `homelab-${n}.yaml`);
        writeFileSync(file, generate(n, cluster));
        const env = { ...process.env, PVE_TOKEN: sim.adminToken.secret, SSO_SECRET, NO_COLOR: "1" };
        sim.clearLog();
        const e = await apply(file, env);
        const m = /^Apply: (\d+) created, (\d+) updated, (\d+) replaced, (\d+) deleted\.$/m.exec(e.stdout);
        if (!m) throw new Error(`no Apply summary in the from-empty output for ${n} users:\n${e.stdout.slice(-2000)}`);
        empty.push({ ms: e.ms, ...counts(sim), created: Number(m[1]) });
        // The no-op: on the last simulator only, repeated for a median (it is cheap).
        if (rep === emptyRuns - 1) {
          for (let k = 0; k < RUNS; k++) {
            sim.clearLog();
            const r = await apply(file, env);
            const c = counts(sim);
            if (c.writes !== 0) {
              const w = sim.requestLog.filter((x) => x.method !== "GET").slice(0, 10).map((x) => `${x.method} ${x.path} ${x.status}`);
              throw new Error(`the no-op apply for ${n} users sent ${c.writes} write requests (must be 0):\n  ${w.join("\n  ")}\n${r.stdout.slice(-1000)}`);
            }
            if (!/^No changes\./m.test(r.stdout)) throw new Error(`the no-op apply for ${n} users reported changes:\n${r.stdout.slice(-2000)}`);
            noop.push({ ms: r.ms, ...c });
          }
        }
      } finally {
        await sim.close();
      }
    }
    // One more baseline sample between sizes, so that machine noise later in the run is represented too.
    base.push(...(await baseline(1)));
    const pick = (xs) => ({ ...xs.find((x) => x.ms === median(xs.map((y) => y.ms))), ms: median(xs.map((y) => y.ms)), runs: xs.length });
    const row = { users: n, empty: pick(empty), noop: pick(noop) };
    results.push(row);
    console.error(`… ${n} users: from empty ${(row.empty.ms / 1000).toFixed(2)} s, no-op ${(row.noop.ms / 1000).toFixed(2)} s`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const b = median(base);
const s = (ms) => (ms / 1000).toFixed(2).padStart(7);
const x = (ms) => `${(ms / b).toFixed(1).padStart(6)} x`;
console.log(`node -e 0: ${b.toFixed(0)} ms (median of ${base.length})${concurrency ? `; --concurrency ${concurrency}` : ""}`);
console.log("  users | from empty:  wall s  requests  writes  created  req/obj   ratio | no-op:  wall s  requests  writes   ratio");
for (const { users, empty: e, noop: o } of results) {
  console.log(
    `${String(users).padStart(7)} |            ${s(e.ms)} ${String(e.requests).padStart(9)} ${String(e.writes).padStart(7)} ${String(e.created).padStart(8)} ${(e.requests / e.created).toFixed(2).padStart(8)} ${x(e.ms)} |        ${s(o.ms)} ${String(o.requests).padStart(9)} ${String(o.writes).padStart(7)} ${x(o.ms)}`,
  );
}
const round = (v) => Math.round(v);
console.log(JSON.stringify({
  bench: "converge", node: process.version, node_e_0_ms: round(b), base_runs: base.length, concurrency: concurrency === undefined ? 4 : Number(concurrency),
  sizes: results.map(({ users, empty: e, noop: o }) => ({
    users,
    empty: { ms: round(e.ms), runs: e.runs, requests: e.requests, writes: e.writes, created: e.created, requests_per_object: Number((e.requests / e.created).toFixed(3)), ratio: Number((e.ms / b).toFixed(2)) },
    noop: { ms: round(o.ms), runs: o.runs, requests: o.requests, writes: o.writes, ratio: Number((o.ms / b).toFixed(2)) },
  })),
}));
