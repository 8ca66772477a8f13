/**
 * Seeded, model-based property test of homelab's Proxmox side (issue 8, "A generated-config test"):
 * random valid configs × random pre-existing clusters × random drift, against the built-in simulator.
 * For each case: apply exits 0 in one run; the next run plans nothing and writes nothing; the cluster
 * equals the model inside what homelab manages and is untouched outside it; the token still works; a
 * refused plan (exit 3) wrote nothing. After drift, the same again.
 *
 *   HOMELAB_PROPERTY_CASES   number of generated cases (default 200)
 *   HOMELAB_PROPERTY_SEED    seed of the first case (default 8008); case i uses seed + i
 *   HOMELAB_PROPERTY_REPORT  write a JSON summary (cases, outcomes, failing seeds) to this file (bench/soak.mjs)
 *
 * A failure prints its seed and the one command that reproduces it.
 */
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { report, runCase, type CaseResult } from "./run.js";

/**
 * Seeds that failed once (see /work/notes/prop-findings.md): they always run.
 * 8143 validate refused `expire: never`; 8186, 8191 a membership in a pruned group kept in a user update;
 * 8020, 8396 a realm's `default` cleared by homelab's own write to another realm, then refused as drift;
 * 100595 a realm comment "0" passes validate, Proxmox drops it, every run plans it again.
 */
export const REGRESSION_SEEDS: number[] = [8143, 8186, 8191, 8020, 8396, 100595, 1012142];

/**
 * TEMPORARY: failures of rules still being fixed (issue 8), by a signature of their error text. A case whose
 * failure matches one is reported as skipped with the entry's name, not hidden: remove each entry when its
 * fix lands (the regression seeds above then pass).
 */
const KNOWN_OPEN: Array<{ name: string; signature: RegExp }> = [
];

const CASES = Number(process.env.HOMELAB_PROPERTY_CASES ?? 200);
const BASE = Number(process.env.HOMELAB_PROPERTY_SEED ?? 8008);
const explicit = process.env.HOMELAB_PROPERTY_SEED !== undefined;
const seeds = [...new Set([...(explicit ? [] : REGRESSION_SEEDS), ...Array.from({ length: CASES }, (_, i) => BASE + i)])];

const results: CaseResult[] = [];

describe("homelab converges generated configs on generated clusters (Proxmox simulator)", () => {
  afterAll(() => {
    const tally = { converged: 0, refused: 0, failed: 0 };
    for (const r of results) tally[r.outcome]++;
    const failed = results.filter((r) => r.outcome === "failed" && !r.known).map((r) => r.seed);
    const known = results.filter((r) => r.known).length;
    console.log(`property: ${results.length} cases, ${tally.converged} converged, ${tally.refused} refused (exit 3, nothing written), ${tally.failed - known} failed${failed.length ? `: seeds ${failed.join(" ")}` : ""}, ${known} known open (KNOWN_OPEN)`);
    if (process.env.HOMELAB_PROPERTY_REPORT) {
      writeFileSync(process.env.HOMELAB_PROPERTY_REPORT, JSON.stringify({ cases: results.length, ...tally, failed: tally.failed - known, known, failures: results.filter((r) => r.outcome === "failed").map((r) => ({ seed: r.seed, phase: r.phase, known: r.known, failures: r.failures, configChars: r.config.length })), refusals: results.filter((r) => r.outcome === "refused").map((r) => ({ seed: r.seed, refusal: r.refusal })) }));
    }
  });

  it.for(seeds)("seed %i", async (seed, ctx) => {
    const r = await runCase(seed);
    results.push(r);
    if (r.outcome !== "failed") return;
    const text = report(r);
    const known = KNOWN_OPEN.find((k) => k.signature.test(text));
    if (known) {
      r.known = known.name;
      ctx.skip(`known open: ${known.name}`);
    }
    expect.fail(report(r));
  });
});
