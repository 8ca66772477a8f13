/**
 * The fault soak of issue 9: the FULL chain (Entra simulator behind a fault proxy + Proxmox simulators, the
 * built CLI as a child process) over seeded random configs and faults, alone and combined: 5xx, 429 with
 * Retry-After, connection resets, slow and lost answers on Graph and token requests (up to 25 %), replication
 * lag of 0 to 10 reads for every new object, a kill at a random point followed by a rerun, and a renewal
 * (HOMELAB_NOW inside the window, or --rotate-secrets). Per case: converged within 2 runs (1 without a kill);
 * then a run with no write on either side; one app and one service principal per realm; every homelab
 * secret is one a realm uses (secrets added by hand untouched); at every moment a realm that had a working
 * key still has one. See chain-run.ts.
 *
 *   HOMELAB_CHAIN_CASES     generated cases (default 16)
 *   HOMELAB_CHAIN_SEED      seed of the first case (default 9000); case i uses seed + i; set: that range only
 *   HOMELAB_CHAIN_SEEDS     a comma-separated list of seeds: those only
 *   HOMELAB_CHAIN_REPORT    write a JSON summary (per case: runs, wall times, lag, failures) to this file
 *   HOMELAB_CHAIN_RUN_TIMEOUT_MS   a run taking longer is stopped and counted as not converged (default 90000)
 *   HOMELAB_BIN             the built CLI (default dist/cli/main.js): `npx tsc -p tsconfig.json --outDir .dist-chain`
 *
 * Cases run concurrently (vitest's maxConcurrency, default 5): they mostly wait on Retry-After and backoff.
 * Under concurrency the order of requests, and so which one a fault hits, is not fully fixed by the seed:
 * a seed replays the same config, faults, lag and kill point, not the same interleaving.
 */
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { chainReport, runChainCase, selfCheck, type ChainResult } from "./chain-run.js";

/**
 * Seeds that failed once (see /work/notes/chain-findings.md): they always run.
 * 9016 a second app after a lost answer to POST /applications under lag 1; 9011 a second app in the rerun
 * after a kill under lag 8; 9013 a token request answered 503 fails a secret's proof; 9010 the service
 * principal made under lag 9 is planned again by the next run; 9063 a homelab secret left after a lost answer
 * to addPassword under credential lag; 9015 the same after a kill between addPassword and the realm switch.
 */
export const REGRESSION_SEEDS: number[] = [9016, 9011, 9013, 9010, 9063, 9015];

/**
 * Failures whose fix has not landed yet, by a signature of one cause (empty: every cause found so far is fixed).
 * A case all of whose causes match is reported as skipped with the entries' names, not hidden; a case with any
 * other cause fails. Add an entry only with its regression seeds, and remove it when its fix lands.
 */
const KNOWN_OPEN: Array<{ name: string; signature: RegExp }> = [];

const CASES = Number(process.env.HOMELAB_CHAIN_CASES ?? 16);
const BASE = Number(process.env.HOMELAB_CHAIN_SEED ?? 9000);
const explicit = process.env.HOMELAB_CHAIN_SEED !== undefined;
const listed = process.env.HOMELAB_CHAIN_SEEDS?.split(",").map(Number);
const seeds = listed ?? [...new Set([...(explicit ? [] : REGRESSION_SEEDS), ...Array.from({ length: CASES }, (_, i) => BASE + i)])];

const results: ChainResult[] = [];

describe("the fault soak: Entra + Proxmox chain under faults, lag and kills (issue 9)", () => {
  afterAll(() => {
    const failed = results.filter((r) => r.outcome === "failed" && !r.known).map((r) => r.seed);
    const known = results.filter((r) => r.known);
    console.log(`chain soak: ${results.length} cases, ${results.filter((r) => r.outcome === "converged").length} converged, ${failed.length} failed${failed.length ? `: seeds ${failed.join(" ")}` : ""}, ${known.length} known open`);
    if (process.env.HOMELAB_CHAIN_REPORT) {
      writeFileSync(process.env.HOMELAB_CHAIN_REPORT, JSON.stringify({
        cases: results.map((r) => ({
          seed: r.seed, outcome: r.outcome, known: r.known, causes: r.causes, unknown: r.unknown, lag: r.lag, converge: r.converge, describe: r.describe, ms: r.ms,
          runs: r.runs.map((x) => ({ phase: x.phase, n: x.n, code: x.code, ms: x.ms, killed: x.killed, timedOut: x.timedOut })),
          ...(r.outcome === "failed" ? { report: chainReport(r) } : {}),
        })),
      }));
    }
  });

  it.concurrent("the soak's detectors fail when they should: a removed key, a stray homelab secret, a second app", { timeout: 120_000 }, async () => {
    const r = await selfCheck();
    expect(r.converged).toBe(true);
    expect(r.lostKey).toEqual([expect.stringMatching(/^realm azure on pve1 had a working key and lost it \(its key is refused by Entra\), right after Entra POST \/v1\.0\/applications\/.*\/removePassword/)]);
    expect(r.stray).toEqual([expect.stringMatching(/^realm azure: homelab secret homelab:azure:pve9 .* is not the one a realm uses$/)]);
    expect(r.duplicate).toEqual([expect.stringMatching(/^realm azure: 2 apps tagged homelab:realm=azure/)]);
  });

  it.concurrent.for(seeds)("seed %i", { timeout: 900_000 }, async (seed, ctx) => {
    const r = await runChainCase(seed);
    results.push(r);
    if (r.outcome !== "failed") return;
    const text = chainReport(r);
    // Known only when EVERY cause is a known-open item: a new failure is never hidden behind a known one.
    const names = r.causes.map((c) => KNOWN_OPEN.find((k) => k.signature.test(c))?.name);
    if (r.causes.length > 0 && names.every((n) => n !== undefined)) {
      r.known = [...new Set(names)].join("; ");
      ctx.skip(`known open: ${r.known}`);
    }
    const unknown = r.causes.filter((_, i) => names[i] === undefined);
    r.unknown = unknown;
    expect.fail(`${text}\n\ncauses not in KNOWN_OPEN:\n  ${unknown.map((c) => c.split("\n")[0]).join("\n  ")}`);
  });
});
