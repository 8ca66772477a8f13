// The long fault soak of issue 9: hundreds or thousands of cases of test/property/chain.test.ts (the Entra +
// Proxmox chain under faults, replication lag, kills and renewals), in chunks of `vitest run` with
// HOMELAB_CHAIN_SEED/CASES/REPORT set, then the three numbers the closing note needs:
//
//   chain soak: <n> cases ...            the soak's case count (and how they ended)
//   worst number of runs to converge: <k> ...
//   slowest run under lag 8: <s> s ...
//
//   node bench/chain-soak.mjs [--cases 500] [--seed 200000] [--chunk 50] [--concurrency 5] [--bin PATH]
//
// The CLI runs as a child process: without --bin (or HOMELAB_BIN) the soak builds its own copy first
// (`npx tsc -p tsconfig.json --outDir .dist-chain`). Every failing seed reproduces alone with
//   HOMELAB_BIN=$PWD/.dist-chain/cli/main.js HOMELAB_CHAIN_SEED=<seed> HOMELAB_CHAIN_CASES=1 npx vitest run test/property/chain.test.ts
// Exit 0 when no case failed (known-open ones excepted), 1 otherwise.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { root, run, wholeNumber } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "500" },
    seed: { type: "string", default: "200000" },
    chunk: { type: "string", default: "50" },
    concurrency: { type: "string", default: "5" },
    bin: { type: "string" },
  },
});
const int = (name, min) => wholeNumber(values, name, min);
const total = int("cases", 1);
const base = int("seed", 0);
const chunk = int("chunk", 1);
const concurrency = int("concurrency", 1);

let bin = values.bin ?? process.env.HOMELAB_BIN;
if (!bin) {
  const b = await run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.json"), "--outDir", join(root, ".dist-chain")]);
  if (b.code !== 0) throw new Error(`building .dist-chain failed:\n${b.stdout}\n${b.stderr}`);
  bin = join(root, ".dist-chain/cli/main.js");
}

const dir = mkdtempSync(join(tmpdir(), "hl-chain-soak-"));
const vitest = join(root, "node_modules/vitest/vitest.mjs");
const cases = [];
const t0 = Date.now();

for (let start = 0; start < total; start += chunk) {
  const seed = base + start;
  const n = Math.min(chunk, total - start);
  const report = join(dir, `chunk-${seed}.json`);
  const env = { ...process.env, HOMELAB_BIN: bin, HOMELAB_CHAIN_SEED: String(seed), HOMELAB_CHAIN_CASES: String(n), HOMELAB_CHAIN_REPORT: report };
  const r = await run(process.execPath, [vitest, "run", "test/property/chain.test.ts", "--reporter=dot", `--maxConcurrency=${concurrency}`], env);
  let rep;
  try {
    rep = JSON.parse(readFileSync(report, "utf8"));
  } catch {
    throw new Error(`chunk at seed ${seed} wrote no report (vitest exit ${r.code})\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  }
  cases.push(...rep.cases);
  const failed = rep.cases.filter((c) => c.outcome === "failed" && !c.known).length;
  const known = rep.cases.filter((c) => c.known).length;
  process.stderr.write(`seeds ${seed}..${seed + n - 1}: ${rep.cases.length} cases, ${failed} failed, ${known} known open (${((Date.now() - t0) / 1000).toFixed(0)} s, ${cases.length}/${total})\n`);
}
// The chunk reports (with every failing case's full report) stay when something failed, for triage.
const anyFailed = cases.some((c) => c.outcome === "failed");
if (!anyFailed) rmSync(dir, { recursive: true, force: true });

const secs = (Date.now() - t0) / 1000;
const failed = cases.filter((c) => c.outcome === "failed" && !c.known);
const known = cases.filter((c) => c.known);
const converged = cases.filter((c) => c.outcome === "converged");
console.log(`chain soak: ${cases.length} cases (seeds ${base}..${base + total - 1}) in ${secs.toFixed(0)} s: ${converged.length} converged, ${failed.length} failed, ${known.length} known open`);

// Worst number of runs to converge, over every phase that converged; phases that never did are counted apart.
let worst;
let never = 0;
for (const c of cases)
  for (const [phase, n] of Object.entries(c.converge)) {
    if (n === null || n === undefined) never++;
    else if (!worst || n > worst.n) worst = { n, seed: c.seed, phase, killed: c.runs.some((r) => r.phase === phase && r.killed) };
  }
console.log(`worst number of runs to converge: ${worst ? `${worst.n} (seed ${worst.seed}, ${worst.phase} phase${worst.killed ? ", first run killed" : ""})` : "none converged"}${never ? `; ${never} phase(s) did not converge within 3 runs` : ""}`);

// Slowest run under lag 8 (killed runs stopped early and are left out; a run stopped at the time limit counts).
let slow;
for (const c of cases.filter((x) => x.lag === 8))
  for (const r of c.runs) if (!r.killed && (!slow || r.ms > slow.ms)) slow = { ...r, seed: c.seed };
console.log(`slowest run under lag 8: ${slow ? `${(slow.ms / 1000).toFixed(1)} s${slow.timedOut ? " (stopped at the time limit)" : ""} (seed ${slow.seed}, ${slow.phase} run ${slow.n}; ${cases.filter((x) => x.lag === 8).length} cases had lag 8)` : "no case had lag 8"}`);

const byName = new Map();
for (const c of known) for (const k of c.known.split("; ")) byName.set(k, [...(byName.get(k) ?? []), c.seed]);
for (const [name, seeds] of byName) console.log(`  known open: ${name}: ${seeds.length} (seeds ${seeds.slice(0, 10).join(" ")}${seeds.length > 10 ? " ..." : ""})`);
for (const c of failed) {
  const cause = (c.unknown ?? c.causes ?? [])[0]?.split("\n")[0] ?? "(no cause recorded)";
  console.log(`  FAILED seed ${c.seed}: ${cause}`);
  console.log(`    HOMELAB_BIN=${bin} HOMELAB_CHAIN_SEED=${c.seed} HOMELAB_CHAIN_CASES=1 npx vitest run test/property/chain.test.ts`);
}
if (anyFailed) console.log(`  full reports of the failing cases: ${dir}/chunk-*.json (field "report")`);
process.exitCode = failed.length > 0 ? 1 : 0;
