#!/usr/bin/env node
// Benchmark: `homelab validate` on a generated file of 5,000 access mappings, against `node -e 0`
// measured in the same run. Prints medians and the ratio (timing is noisy on shared machines; compare
// ratios, not seconds). Usage: npm run build && node bench/validate.mjs [--mappings N] [--runs N]
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./lib.mjs";
import { validateConfig as generate } from "./scenarios.mjs";

export { generate };

const { values } = parseArgs({ options: { mappings: { type: "string", default: "5000" }, runs: { type: "string", default: "7" } } });
const N = Number(values.mappings);
const RUNS = Number(values.runs);
const root = new URL("..", import.meta.url).pathname;
const bin = join(root, "dist/cli/main.js");

function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}


const dir = mkdtempSync(join(tmpdir(), "hl-bench-"));
const file = join(dir, "homelab.yaml");
writeFileSync(file, generate(N));

// Interleave the two commands so that machine noise hits both alike.
time(process.execPath, [bin, "validate", "-f", file]); // warm the file cache
const tutorial = join(root, "playbooks/homelab.yaml");
const base = [];
const validate = [];
const small = [];
for (let i = 0; i < RUNS; i++) {
  base.push(time(process.execPath, ["-e", "0"]));
  validate.push(time(process.execPath, [bin, "validate", "-f", file]));
  small.push(time(process.execPath, [bin, "validate", "-f", tutorial]));
}
const b = median(base);
const v = median(validate);
const s = median(small);
const result = {
  mappings: N, runs: RUNS, node_e_0_ms: Math.round(b), validate_ms: Math.round(v), ratio: Number((v / b).toFixed(2)),
  tutorial_ms: Math.round(s), tutorial_ratio: Number((s / b).toFixed(2)), node: process.version,
};
console.log(`node -e 0                       ${b.toFixed(0).padStart(6)} ms (median of ${RUNS})`);
console.log(`homelab validate, ${String(N).padStart(5)} mappings ${v.toFixed(0).padStart(6)} ms  ratio ${(v / b).toFixed(2)} x`);
console.log(`homelab validate, tutorial      ${s.toFixed(0).padStart(6)} ms  ratio ${(s / b).toFixed(2)} x`);
console.log(JSON.stringify(result));
