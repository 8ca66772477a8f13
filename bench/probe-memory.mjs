#!/usr/bin/env node
// Where the memory of a converge run goes: the steps of `homelab apply` (load + validate, build the desired
// state, connect, read, plan, render, apply) run one by one in this process against an in-process simulator
// with N users (the simulator runs in a child process, so this heap is homelab's alone), with process.memoryUsage() after each step: the heap still used after a full GC (what the step
// keeps), the heap used before that GC (what it allocated and left for the collector) and the RSS.
// Needs a tsc build (the modules, not the CLI bundle): npx tsc -p tsconfig.json --outDir .dist-NAME &&
// node scripts/after-build.mjs --out .dist-NAME.
// Usage: node --expose-gc bench/probe-memory.mjs [--dist .dist-NAME] [--users 10000] [--empty] [--no-cache]
//   --empty: the simulator starts empty (the plan creates everything, and is applied); default: a no-op
//   (the simulator is filled first by a from-empty apply through the same modules, not measured).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { root, startProxmoxSimChild, wholeNumber } from "./lib.mjs";
import { convergeConfig } from "./scenarios.mjs";

if (typeof globalThis.gc !== "function") throw new Error("run with node --expose-gc");
const { values } = parseArgs({
  options: {
    dist: { type: "string", default: join(root, "dist") },
    users: { type: "string", default: "10000" },
    empty: { type: "boolean", default: false },
    "no-cache": { type: "boolean", default: false },
    concurrency: { type: "string", default: "4" },
  },
});
const USERS = wholeNumber(values, "users", 1);
const dist = resolve(values.dist);
const load = (p) => import(join(dist, p));
const { loadValidConfig } = await load("config/resolve.js");
const { buildDesired } = await load("config/desired.js");
const { createResolver } = await load("engine/resolver.js");
const { readAll, planAll, applyPlan } = await load("engine/run.js");
const { connectCluster } = await load("providers/connect.js");
const { clusterProviders } = await load("providers/index.js");
const { emptyObserved } = await load("providers/proxmox/observed.js");
const { renderPlan } = await load("cli/render/diff.js");

const MB = (b) => (b / 1048576).toFixed(1).padStart(7);
const rows = [];
let lastKept = 0;
/** After a step: memory before and after a full GC. */
function mark(step) {
  const before = process.memoryUsage();
  globalThis.gc();
  const after = process.memoryUsage();
  rows.push({ step, heapBeforeGc: before.heapUsed, kept: after.heapUsed, delta: after.heapUsed - lastKept, external: after.external + after.arrayBuffers, rss: before.rss });
  lastKept = after.heapUsed;
}

const sim = await startProxmoxSimChild(dist);
const dir = mkdtempSync(join(tmpdir(), "hl-mem-"));
const file = join(dir, "homelab.yaml");
const header = `clusters:\n  pve:\n    url: ${sim.url}\n    token: { id: "${sim.adminToken.id}", secret: "\${env:PVE_TOKEN}" }\n    tls: { fingerprint: "${sim.fingerprint}" }\n`;
writeFileSync(file, convergeConfig(USERS, header));
process.env.PVE_TOKEN = sim.adminToken.secret;
process.env.SSO_SECRET = "bench-sso-Secret-4711";

/** The run of `homelab apply` as src/cli/commands/apply.ts makes it, step by step. */
async function converge(measure) {
  const m = measure ? mark : () => {};
  m("start (modules loaded, simulator up)");
  const { config, loaded } = loadValidConfig(file, values["no-cache"] ? { cache: false } : {});
  m("load + validate the config");
  const desired = buildDesired(config, loaded.baseDir([]));
  m("build the desired state");
  const resolver = createResolver();
  const targets = [];
  for (const c of desired.clusters) {
    const api = await connectCluster(c);
    targets.push({ name: c.name, target: { desired: c, api, resolver, runAs: { tokenId: c.token.id, userid: c.token.id.split("!")[0] }, applying: true }, providers: clusterProviders, empty: emptyObserved });
  }
  const observed = await readAll(targets);
  m("read (observed state)");
  const plan = planAll(targets, observed);
  m(`plan (${plan.changes.length} changes)`);
  const lines = renderPlan(plan, { color: false }, desired.clusters);
  m(`render (${lines.length} lines)`);
  const outcomes = plan.changes.length ? await applyPlan(targets, plan, { concurrency: Number(values.concurrency) }) : [];
  m(`apply (${outcomes.filter((o) => o.status === "ok").length} ok)`);
  const requests = targets.reduce((n, t) => n + t.target.api.requestLog.length, 0);
  for (const t of targets) t.target.api.close();
  return { config, loaded, desired, observed, plan, lines, outcomes, requests };
}

try {
  if (!values.empty) await converge(false);
  globalThis.gc();
  lastKept = process.memoryUsage().heapUsed;
  const kept = await converge(true);
  console.log(`${values.empty ? "from empty" : "no-op"}, ${USERS} users, ${kept.requests} requests; ${process.version}; ${dist}`);
  console.log("step                                          heap kept  +kept  heap before GC   external      RSS   (MB)");
  for (const r of rows) console.log(`${r.step.padEnd(44)} ${MB(r.kept)} ${MB(r.delta)} ${MB(r.heapBeforeGc)}        ${MB(r.external)} ${MB(r.rss)}`);
  console.log(`peak RSS ${MB(process.resourceUsage().maxRSS * 1024)} MB`);
} finally {
  sim.stop();
  rmSync(dir, { recursive: true, force: true });
}
