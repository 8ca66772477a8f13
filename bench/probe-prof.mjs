#!/usr/bin/env node
// Where a converge run spends its CPU and memory: runs `homelab apply` from empty and then as a no-op against
// in-process simulators (N users per cluster, C clusters), with V8's CPU profiler (--cpu-prof) or heap
// profiler (--heap-prof) in the CLI process, and prints the top functions by self time (or allocation) and
// by package, and by owner (the innermost homelab file or package on each sample's stack: what homelab's own code costs against got's and the event loop's). The profiles stay in --out for a closer look (Chrome DevTools opens them).
// Usage: node bench/probe-prof.mjs [--bin .dist-NAME/cli/main.js] [--users 1000] [--clusters 1]
//        [--concurrency N] [--heap] [--top 30] [--out bench/out/prof] [--only empty|noop]
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { root, run, wholeNumber } from "./lib.mjs";
import { convergeConfig } from "./scenarios.mjs";

const { values } = parseArgs({
  options: {
    bin: { type: "string" },
    users: { type: "string", default: "1000" },
    clusters: { type: "string", default: "1" },
    concurrency: { type: "string" },
    heap: { type: "boolean", default: false },
    top: { type: "string", default: "30" },
    out: { type: "string", default: join(root, "bench/out/prof") },
    only: { type: "string" },
  },
});
const USERS = wholeNumber(values, "users", 1);
const CLUSTERS = wholeNumber(values, "clusters", 1);
const TOP = wholeNumber(values, "top", 1);
const bin = resolve(values.bin ?? process.env.HOMELAB_BIN ?? join(root, "dist/cli/main.js"));
const { startProxmoxSim } = await import(join(resolve(bin, "../.."), "sim/proxmox/index.js"));
const out = resolve(values.out);
mkdirSync(out, { recursive: true });

/** Self time (or self allocation) by function and by package of one .cpuprofile / .heapprofile. */
function summary(file) {
  const p = JSON.parse(readFileSync(file, "utf8"));
  const self = new Map();
  const add = (frame, v) => {
    const where = frame.url.replace(/^file:\/\//, "").replace(/.*node_modules\//, "nm:").replace(`${root}`, "");
    const k = `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`;
    self.set(k, (self.get(k) ?? 0) + v);
  };
  if (p.samples && p.timeDeltas) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    p.samples.forEach((id, i) => add(byId.get(id).callFrame, (p.timeDeltas[i] ?? 0) / 1000));
  } else {
    const walk = (n) => {
      add(n.callFrame, n.selfSize / 1048576);
      for (const c of n.children) walk(c);
    };
    walk(p.head);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byPackage = new Map();
  for (const [k, v] of self) {
    const where = k.slice(k.indexOf(" ") + 1);
    const pkg = where.startsWith("nm:") ? where.slice(3).split("/").slice(0, where.startsWith("nm:@") ? 2 : 1).join("/") : where.split("/").slice(0, 4).join("/").replace(/:\d+$/, "") || k;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + v);
  }
  const unit = p.samples ? "ms" : "MB";
  const owners = ownerTotals(p);
  const fmt = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([k, v]) => `${v.toFixed(unit === "ms" ? 0 : 1).padStart(8)} ${unit} ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`).join("\n");
  return `total ${total.toFixed(0)} ${unit}\n-- by function\n${fmt(self)}\n-- by package or directory\n${fmt(byPackage)}\n-- by owner (Node's own frames counted to the nearest homelab file or package that called them; "(event loop)": none did)\n${fmt(owners)}`;
}

/**
 * Time (or allocation) by owner: each sample goes to the innermost frame on its stack that is homelab's (a file of the
 * build) or a package's, so Node internals a function called (a timer, a stream write, a Map) count to it. Samples
 * with neither on the stack (socket reads and writes from the event loop, the GC, idle) are "(event loop)". The
 * question this answers: how much does homelab's own code cost, against got's and the event loop's (issue 12).
 */
function ownerTotals(p) {
  const ownerOf = (frame) => {
    const u = frame.url;
    if (u.includes("node_modules/")) {
      const parts = u.replace(/.*node_modules\//, "").split("/");
      return `nm:${parts.slice(0, parts[0].startsWith("@") ? 2 : 1).join("/")}`;
    }
    const own = u.replace(/^file:\/\//, "").replace(`${root}`, "");
    return own !== u && !own.startsWith("bench/") && own.endsWith(".js") ? own.split("/").slice(0, 4).join("/") : undefined;
  };
  const totals = new Map();
  const add = (k, v) => totals.set(k, (totals.get(k) ?? 0) + v);
  if (p.samples && p.timeDeltas) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const memo = new Map();
    const ownerOfNode = (id) => {
      if (memo.has(id)) return memo.get(id);
      const n = byId.get(id);
      const o = ownerOf(n.callFrame) ?? (parent.has(id) ? ownerOfNode(parent.get(id)) : "(event loop)");
      memo.set(id, o);
      return o;
    };
    p.samples.forEach((id, i) => add(ownerOfNode(id), (p.timeDeltas[i] ?? 0) / 1000));
  } else {
    const walk = (n, o) => {
      const own = ownerOf(n.callFrame) ?? o;
      add(own, n.selfSize / 1048576);
      for (const c of n.children) walk(c, own);
    };
    walk(p.head, "(event loop)");
  }
  return totals;
}

const dir = mkdtempSync(join(tmpdir(), "hl-prof-"));
const sims = [];
try {
  for (let k = 0; k < CLUSTERS; k++) sims.push(await startProxmoxSim({ unauthorizedDelayMs: 0 }));
  const header = `clusters:\n${sims.map((s, k) => `  pve${k}:\n    url: ${s.url}\n    token: { id: "${s.adminToken.id}", secret: "\${env:PVE_TOKEN_${k}}" }\n    tls: { fingerprint: "${s.fingerprint}" }\n`).join("")}`;
  const file = join(dir, "homelab.yaml");
  writeFileSync(file, convergeConfig(USERS, header));
  const env = { ...process.env, SSO_SECRET: "bench-sso-Secret-4711", NO_COLOR: "1" };
  sims.forEach((s, k) => (env[`PVE_TOKEN_${k}`] = s.adminToken.secret));
  const kinds = values.only ? [values.only] : ["empty", "noop"];
  for (const kind of ["empty", "noop"]) {
    const profDir = join(out, kind);
    rmSync(profDir, { recursive: true, force: true });
    const flags = values.heap ? ["--heap-prof", "--heap-prof-dir", profDir] : ["--cpu-prof", "--cpu-prof-dir", profDir];
    const args = [...(kinds.includes(kind) ? flags : []), bin, "apply", "-f", file, "--no-color", ...(values.concurrency ? ["--concurrency", values.concurrency] : [])];
    for (const s of sims) s.clearLog();
    const r = await run(process.execPath, args, env);
    if (r.code !== 0) throw new Error(`apply (${kind}) exited ${r.code}\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-1500)}`);
    const requests = sims.reduce((n, s) => n + s.requestLog.length, 0);
    if (!kinds.includes(kind)) continue;
    const prof = readdirSync(profDir).filter((f) => f.endsWith(values.heap ? ".heapprofile" : ".cpuprofile"));
    console.log(`=== ${kind}: ${USERS} users x ${CLUSTERS} clusters, ${(r.ms / 1000).toFixed(2)} s wall, ${requests} requests; ${join(profDir, prof[0] ?? "?")}`);
    for (const f of prof) console.log(summary(join(profDir, f)));
  }
} finally {
  await Promise.all(sims.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
}
