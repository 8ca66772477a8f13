// Soak mode of the Proxmox property test (issue 8): tens of thousands of generated cases, in chunks of
// `vitest run test/property/proxmox.test.ts` with HOMELAB_PROPERTY_SEED/CASES/REPORT set, then one summary:
// cases run, converged, refused (exit 3, nothing written), failures with their seeds, known-open ones, time.
//
//   node bench/soak.mjs [--cases 20000] [--seed 100000] [--chunk 1000] [--jobs 1]
//
// Every failing seed reproduces alone with
//   HOMELAB_PROPERTY_SEED=<seed> HOMELAB_PROPERTY_CASES=1 npx vitest run test/property/proxmox.test.ts
// Exit 0 when no case failed (known-open ones excepted), 1 otherwise. Needs no build (vitest runs src).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { root, run, wholeNumber } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "20000" },
    seed: { type: "string", default: "100000" },
    chunk: { type: "string", default: "1000" },
    jobs: { type: "string", default: "1" },
  },
});
const int = (name, min) => wholeNumber(values, name, min);
const total = int("cases", 1);
const base = int("seed", 0);
const chunk = int("chunk", 1);
const jobs = int("jobs", 1);

const dir = mkdtempSync(join(tmpdir(), "hl-soak-"));
const vitest = join(root, "node_modules/vitest/vitest.mjs");
const chunks = [];
for (let start = 0; start < total; start += chunk) chunks.push({ seed: base + start, cases: Math.min(chunk, total - start) });

const sum = { cases: 0, converged: 0, refused: 0, failed: 0, known: 0 };
const failures = [];
const known = new Map();
const t0 = Date.now();

async function runChunk(c) {
  const report = join(dir, `chunk-${c.seed}.json`);
  const env = { ...process.env, HOMELAB_PROPERTY_SEED: String(c.seed), HOMELAB_PROPERTY_CASES: String(c.cases), HOMELAB_PROPERTY_REPORT: report };
  const r = await run(process.execPath, [vitest, "run", "test/property/proxmox.test.ts", "--reporter=dot"], env);
  let rep;
  try {
    rep = JSON.parse(readFileSync(report, "utf8"));
  } catch {
    throw new Error(`chunk at seed ${c.seed} wrote no report (vitest exit ${r.code})\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  }
  for (const k of Object.keys(sum)) sum[k] += rep[k] ?? 0;
  for (const f of rep.failures) {
    if (f.known) known.set(f.known, [...(known.get(f.known) ?? []), f.seed]);
    else failures.push(f);
  }
  const s = ((Date.now() - t0) / 1000).toFixed(0);
  process.stderr.write(`seeds ${c.seed}..${c.seed + c.cases - 1}: ${rep.cases} cases, ${rep.failed} failed, ${rep.known} known open (${s} s, ${sum.cases}/${total})\n`);
}

const queue = [...chunks];
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  while (queue.length) await runChunk(queue.shift());
}));
rmSync(dir, { recursive: true, force: true });

const secs = (Date.now() - t0) / 1000;
console.log(`soak: ${sum.cases} cases (seeds ${base}..${base + total - 1}) in ${secs.toFixed(0)} s (${((secs * 1000) / Math.max(sum.cases, 1)).toFixed(0)} ms per case)`);
console.log(`  ${sum.converged} converged, ${sum.refused} refused (exit 3, nothing written), ${sum.failed} failed, ${sum.known} known open`);
for (const [name, seeds] of known) console.log(`  known open: ${name}: ${seeds.length} (seeds ${seeds.slice(0, 10).join(" ")}${seeds.length > 10 ? " ..." : ""})`);
for (const f of failures) {
  console.log(`  FAILED seed ${f.seed} (${f.phase}): ${f.failures[0].split("\n")[0]}`);
  console.log(`    HOMELAB_PROPERTY_SEED=${f.seed} HOMELAB_PROPERTY_CASES=1 npx vitest run test/property/proxmox.test.ts`);
}
process.exitCode = failures.length > 0 ? 1 : 0;
