#!/usr/bin/env node
// Benchmark: `homelab validate` on generated files of 5,000 access mappings and of 85,000 (a valid file of
// about 6 MB, issue 12's "5 MB" row), and on the tutorial, against `node -e 0` measured in the same run.
// Each is run cold (--no-cache: read, parse, schema and reference checks) and warm (the config cache filled
// by the run before: src/config/cache.ts), with the CLI's peak RSS and CPU time read inside the child by
// bench/probe.mjs (as bench/floor.mjs does). Prints medians and ratios (timing is noisy on shared machines;
// compare ratios, not seconds).
// Usage: npm run build && node bench/validate.mjs [--mappings 5000,85000] [--runs N] [--bin dist/cli/main.js] [--json]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { baseline, median, root, runProbed, wholeNumber } from "./lib.mjs";
import { validateConfig as generate } from "./scenarios.mjs";

export { generate };

const { values } = parseArgs({
  options: { mappings: { type: "string", default: "5000,85000" }, runs: { type: "string", default: "5" }, bin: { type: "string" }, json: { type: "boolean", default: false } },
});
const sizes = values.mappings.split(",").map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--mappings must be a comma-separated list of positive integers, not ${values.mappings}`);
const RUNS = wholeNumber(values, "runs", 1);
const bin = resolve(values.bin ?? process.env.HOMELAB_BIN ?? join(root, "dist/cli/main.js"));
const say = (line) => process.stderr.write(`${line}\n`);

const dir = mkdtempSync(join(tmpdir(), "hl-bench-"));
// A cache of its own, so that runs do not depend on (or fill) the user's.
const env = { ...process.env, HOMELAB_CACHE_DIR: join(dir, "cache"), HOMELAB_NO_CACHE: "" };

async function validate(file, cold) {
  const r = await runProbed([bin, "validate", "-f", file, ...(cold ? ["--no-cache"] : [])], env);
  if (r.code !== 0) throw new Error(`homelab validate -f ${file} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r;
}

const targets = [
  ...sizes.map((n) => {
    const file = join(dir, `homelab-${n}.yaml`);
    const text = generate(n);
    writeFileSync(file, text);
    return { name: `${n} mappings`, file, bytes: Buffer.byteLength(text) };
  }),
  { name: "tutorial", file: join(root, "playbooks/homelab.yaml") },
];

try {
  const base = [];
  const rows = [];
  base.push(...(await baseline(3)));
  for (const t of targets) {
    await validate(t.file, false); // fills the cache (and the page cache)
    const samples = { cold: [], warm: [] };
    for (let i = 0; i < RUNS; i++) {
      // Interleaved with `node -e 0`, so that machine noise hits both alike.
      base.push(...(await baseline(1)));
      samples.cold.push(await validate(t.file, true));
      samples.warm.push(await validate(t.file, false));
    }
    for (const kind of ["cold", "warm"]) {
      const s = samples[kind];
      rows.push({
        target: t.name, ...(t.bytes ? { mb: Number((t.bytes / 1e6).toFixed(2)) } : {}), kind,
        ms: median(s.map((r) => r.ms)), cpuMs: median(s.map((r) => r.cpuMs)), maxRssMb: Math.max(...s.map((r) => r.maxRssMb)),
      });
    }
  }
  const b = median(base);
  for (const r of rows) r.ratio = Number((r.ms / b).toFixed(2));
  const result = { node_e_0_ms: Math.round(b), runs: RUNS, node: process.version, rows: rows.map((r) => ({ ...r, ms: Math.round(r.ms), cpuMs: Math.round(r.cpuMs), maxRssMb: Math.round(r.maxRssMb) })) };
  if (!values.json) {
    say(`node -e 0 ${b.toFixed(0)} ms (median of ${base.length}); homelab validate, median of ${RUNS}; cold = --no-cache, warm = from the config cache`);
    for (const r of result.rows) {
      say(`  ${`${r.target}${r.mb ? ` (${r.mb} MB)` : ""}`.padEnd(28)} ${r.kind.padEnd(5)} ${String(r.ms).padStart(6)} ms  ${r.ratio.toFixed(2).padStart(6)} x   cpu ${String(r.cpuMs).padStart(6)} ms   peak RSS ${String(r.maxRssMb).padStart(4)} MB`);
    }
  }
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
