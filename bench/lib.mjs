// Shared by the benchmarks: run a command asynchronously (the simulators live in the bench process, so
// spawnSync would block them), time `node -e 0`, take medians, run the built CLI.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";

export const root = new URL("..", import.meta.url).pathname;
export const bin = join(root, "dist/cli/main.js");

/** Runs a command asynchronously; resolves with the wall time in ms, the exit code and the output. */
export function run(cmd, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ ms: Number(process.hrtime.bigint() - t) / 1e6, code, stdout, stderr }));
  });
}

/** `homelab apply -f FILE` with extra arguments; throws with the tail of the output if it does not exit 0. */
export async function apply(file, env, extra = []) {
  const r = await run(process.execPath, [bin, "apply", "-f", file, "--no-color", ...extra], env);
  if (r.code !== 0) throw new Error(`homelab apply -f ${file} exited ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `k` timings of `node -e 0`, the floor every ratio is measured against. */
export async function baseline(k) {
  const out = [];
  for (let i = 0; i < k; i++) {
    const r = await run(process.execPath, ["-e", "0"]);
    if (r.code !== 0) throw new Error(`node -e 0 exited ${r.code}`);
    out.push(r.ms);
  }
  return out;
}

/**
 * The options every converge-style benchmark takes: `--sizes 10,100`, `--quick` (the first two default
 * sizes), `--runs N` (repeats of each measured run), `--base-runs N` (of `node -e 0`), `--concurrency N`
 * (passed to the CLI). Bad values stop the benchmark with a message.
 */
export function benchOptions(defaultSizes) {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string" },
      quick: { type: "boolean", default: false },
      runs: { type: "string", default: "3" },
      "base-runs": { type: "string", default: "7" },
      concurrency: { type: "string" },
    },
  });
  const sizes = (values.sizes ?? (values.quick ? defaultSizes.slice(0, 2).join(",") : defaultSizes.join(","))).split(",").map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--sizes must be a comma-separated list of positive integers, not ${values.sizes}`);
  const runs = Number(values.runs);
  const baseRuns = Number(values["base-runs"]);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(baseRuns) || baseRuns < 1) throw new Error("--runs and --base-runs must be positive integers");
  return { sizes, runs, baseRuns, concurrency: values.concurrency, passthrough: values.concurrency === undefined ? [] : ["--concurrency", values.concurrency] };
}

/** A whole-number option of parseArgs `values`, at least `min`; throws a clear message otherwise. */
export function wholeNumber(values, name, min) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}, not ${values[name]}`);
  return n;
}
