#!/usr/bin/env node
// Benchmark: the demo scenario (playbooks/demo.yaml: an Entra tenant, a Proxmox cluster, a realm provisioned
// in the tenant, an Entra-mapped group) grown to 10, 100 and 1,000 users, against the in-process Entra ID
// and Proxmox VE simulators. `homelab apply` runs from empty, then again as a no-op (which must send no
// write to either API). Prints wall time, the ratio to `node -e 0` measured in the same run, and the
// requests split per API: Entra token endpoint, Graph reads/writes, Proxmox reads/writes.
// Both simulators run in this process, so the CLI is spawned asynchronously (spawnSync would block the
// event loop and the simulators could never answer).
// Usage: npm run build && node bench/demo.mjs [--sizes 10,100,1000] [--quick] [--runs N] [--base-runs N]
//        [--concurrency N]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apply as applyCli, baseline, benchOptions, median, root } from "./lib.mjs";
import { demoDirectory as directory, demoConfig as generate, demoHeader } from "./scenarios.mjs";

export { directory, generate };

const { sizes: SIZES, runs: RUNS, baseRuns: BASE_RUNS, concurrency, passthrough } = benchOptions([10, 100, 1000]);
const { startEntraSim } = await import(join(root, "dist/sim/entra/index.js"));
const { startProxmoxSim } = await import(join(root, "dist/sim/proxmox/index.js"));
const apply = (file, env) => applyCli(file, env, passthrough);

const isWrite = (r) => r.method !== "GET" && r.method !== "HEAD";
/** Request counts per API since the logs were last cleared. */
function counts(entra, pve) {
  const token = entra.requestLog.filter((r) => r.api === "token");
  const graph = entra.requestLog.filter((r) => r.api === "graph");
  return {
    token: token.length,
    graphReads: graph.filter((r) => !isWrite(r)).length,
    graphWrites: graph.filter(isWrite).length,
    pveReads: pve.requestLog.filter((r) => !isWrite(r)).length,
    pveWrites: pve.requestLog.filter(isWrite).length,
  };
}
const clear = (entra, pve) => {
  entra.clearLog();
  pve.clearLog();
};

const dir = mkdtempSync(join(tmpdir(), "hl-demo-"));
const base = await baseline(BASE_RUNS);
const results = [];
try {
  for (const n of SIZES) {
    // From empty: fresh simulators per run; small sizes are repeated for a median, the big one runs once.
    const emptyRuns = n <= 100 ? RUNS : 1;
    const empty = [];
    const noop = [];
    const fixture = directory(n);
    for (let rep = 0; rep < emptyRuns; rep++) {
      const entra = await startEntraSim({ fixture });
      const pve = await startProxmoxSim({ unauthorizedDelayMs: 0 });
      try {
        const header = demoHeader(entra, pve);
        const file = join(dir, `homelab-${n}.yaml`);
        writeFileSync(file, generate(n, header));
        const env = { ...process.env, CONTOSO_SECRET: entra.automation.clientSecret, PVE_TOKEN: pve.adminToken.secret, NO_COLOR: "1" };
        clear(entra, pve);
        const e = await apply(file, env);
        const m = /^Apply: (\d+) created, (\d+) updated, (\d+) replaced, (\d+) deleted\.$/m.exec(e.stdout);
        if (!m) throw new Error(`no Apply summary in the from-empty output for ${n} users:\n${e.stdout.slice(-2000)}\n${e.stderr.slice(-2000)}`);
        empty.push({ ms: e.ms, ...counts(entra, pve), created: Number(m[1]) });
        // The no-op: on the last pair of simulators only, repeated for a median (it is cheap).
        if (rep === emptyRuns - 1) {
          for (let k = 0; k < RUNS; k++) {
            clear(entra, pve);
            const r = await apply(file, env);
            const c = counts(entra, pve);
            if (c.graphWrites !== 0 || c.pveWrites !== 0) {
              const w = [
                ...entra.requestLog.filter((x) => x.api === "graph" && isWrite(x)).map((x) => `graph ${x.method} ${x.path} ${x.status}`),
                ...pve.requestLog.filter(isWrite).map((x) => `pve ${x.method} ${x.path} ${x.status}`),
              ].slice(0, 10);
              throw new Error(`the no-op apply for ${n} users sent ${c.graphWrites} Graph and ${c.pveWrites} Proxmox write requests (must be 0):\n  ${w.join("\n  ")}\n${r.stdout.slice(-1000)}`);
            }
            if (!/^No changes\./m.test(r.stdout)) throw new Error(`the no-op apply for ${n} users reported changes:\n${r.stdout.slice(-2000)}`);
            noop.push({ ms: r.ms, ...c });
          }
        }
      } finally {
        await Promise.all([entra.close(), pve.close()]);
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
const c = (v, w) => String(v).padStart(w);
console.log(`node -e 0: ${b.toFixed(0)} ms (median of ${base.length})${concurrency ? `; --concurrency ${concurrency}` : ""}`);
console.log("  users | run        |  wall s    ratio | token  graph GET  graph write | pve GET  pve write | created");
for (const { users, empty: e, noop: o } of results) {
  for (const [label, r] of [["from empty", e], ["no-op", o]]) {
    console.log(
      `${c(label === "from empty" ? users : "", 7)} | ${label.padEnd(10)} | ${s(r.ms)} ${x(r.ms)} | ${c(r.token, 5)} ${c(r.graphReads, 10)} ${c(r.graphWrites, 12)} | ${c(r.pveReads, 7)} ${c(r.pveWrites, 10)} | ${c(r.created ?? "-", 7)}`,
    );
  }
}
const round = (v) => Math.round(v);
const fig = (r) => ({
  ms: round(r.ms), runs: r.runs, ratio: Number((r.ms / b).toFixed(2)),
  entra: { token: r.token, graph_reads: r.graphReads, graph_writes: r.graphWrites },
  proxmox: { reads: r.pveReads, writes: r.pveWrites },
  ...(r.created === undefined ? {} : { created: r.created }),
});
console.log(JSON.stringify({
  bench: "demo", node: process.version, node_e_0_ms: round(b), base_runs: base.length, concurrency: concurrency === undefined ? 4 : Number(concurrency),
  sizes: results.map(({ users, empty: e, noop: o }) => ({ users, empty: fig(e), noop: fig(o) })),
}));
