// Shared by the benchmarks: run a command asynchronously (the simulators live in the bench process, so
// spawnSync would block them), time `node -e 0`, take medians, run the built CLI.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

/**
 * The Proxmox simulator of the build in `dist`, in a child process of its own (so the CPU measured in this process is
 * the client's alone). `options` is the JavaScript expression of startProxmoxSim's options, evaluated in the child.
 * Resolves with its URL, certificate fingerprint and admin token, and `stop()`, which ends the child.
 */
export function startProxmoxSimChild(dist, options = "{ unauthorizedDelayMs: 0 }") {
  const script = `
    const { startProxmoxSim } = await import(${JSON.stringify(join(dist, "sim/proxmox/index.js"))});
    const sim = await startProxmoxSim(${options});
    process.stdout.write(JSON.stringify({ url: sim.url, fingerprint: sim.fingerprint, adminToken: sim.adminToken }) + "\\n");
    process.stdin.resume(); process.stdin.on("end", () => process.exit(0));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((res, rej) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      out += d;
      if (out.includes("\n")) res({ ...JSON.parse(out), stop: () => child.stdin.end() });
    });
    child.on("exit", (code) => rej(new Error(`simulator exited ${code}`)));
  });
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

const probeModule = join(root, "bench/probe.mjs");
let probeCount = 0;

/**
 * Runs `node ARGS` with bench/probe.mjs preloaded; resolves like `run` plus `maxRssMb` (the child's peak
 * resident set), `cpuMs` (its user + system CPU time) and, with `{ modules: true }`, `modules` (how many distinct files it loaded: ES modules
 * and CommonJS ones, its own and node_modules') and `moduleFiles`. Counting modules starts a loader-hook
 * thread, which costs time: do not time those runs.
 */
export async function runProbed(args, env = process.env, { modules = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "hl-probe-"));
  const out = join(dir, `probe-${probeCount++}.json`);
  try {
    const r = await run(process.execPath, ["--import", probeModule, ...args], { ...env, HL_PROBE_OUT: out, HL_PROBE_MODULES: modules ? "1" : "0" });
    const probe = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : undefined;
    const result = { ...r, maxRssMb: probe ? probe.maxRssKb / 1024 : undefined, cpuMs: probe ? probe.cpuUs / 1000 : undefined };
    if (modules && probe) {
      const esm = existsSync(`${out}.modules`) ? readFileSync(`${out}.modules`, "utf8").split("\n").filter((u) => u.startsWith("file:")).map((u) => fileURLToPath(u)) : [];
      const files = [...new Set([...esm, ...probe.cjs])].filter((f) => f !== probeModule && !f.endsWith("bench/probe-hooks.mjs"));
      result.moduleFiles = files;
      result.modules = files.length;
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
