#!/usr/bin/env node
// Benchmark: what one Proxmox API request costs homelab's process, by layer (issue 12, HTTP lever). The
// simulator runs in a CHILD process, so this process's CPU time is the client's alone. Variants, on the
// same kind of keep-alive agent (the certificate-pinning https.Agent of src/providers/proxmox/tls.ts):
//   raw     node:https request, body collected as text, JSON.parse: the floor for this agent
//   got     a got instance made as client.ts makes it (got.extend once), one call per request
//   client  ProxmoxClient.request: got plus homelab's own work (request log, redaction, retry loop, wait watch)
// Each variant sends GET /version (small answer), GET /access/users?full=1 (large answer, --users N
// users in the simulator) and PUT /access/users/{id} (a form body), sequentially and with 8 in flight;
// rounds interleave the variants so that machine noise spreads over all. Reports CPU µs and wall µs per
// request (medians of the rounds).
// Usage: npx tsc ... --outDir .dist-NAME (or npm run build) && node bench/got-cost.mjs [--dist DIR] [--n 400] [--rounds 5] [--users 1000]
import { request } from "node:https";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { median, root, startProxmoxSimChild, wholeNumber } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    dist: { type: "string", default: join(root, "dist") },
    n: { type: "string", default: "400" },
    rounds: { type: "string", default: "5" },
    users: { type: "string", default: "1000" },
    json: { type: "boolean", default: false },
  },
});
const N = wholeNumber(values, "n", 1);
const ROUNDS = wholeNumber(values, "rounds", 1);
const USERS = wholeNumber(values, "users", 0);
const dist = resolve(values.dist);
const { default: got } = await import("got");
const { PinnedAgent } = await import(join(dist, "providers/proxmox/tls.js"));
const { createProxmoxClient, encodeForm } = await import(join(dist, "providers/proxmox/client.js"));
const { Secret } = await import(join(dist, "core/secret.js"));

const sim = await startProxmoxSimChild(
  dist,
  `{ unauthorizedDelayMs: 0, fixture: { users: [...Array.from({ length: ${USERS} }, (_, i) => ({ userid: "u" + i + "@pve", email: "u" + i + "@example.org", comment: "bench" })), { userid: "bench@pve" }] } }`,
);
const authorization = `PVEAPIToken=${sim.adminToken.id}=${sim.adminToken.secret}`;
const base = new URL(`${sim.url}/api2/json/`);
const agentOptions = { keepAlive: true, maxSockets: 8, timeout: 4000, fingerprint: sim.fingerprint, handshakeTimeoutMs: 10_000 };

/** The floor: node:https on the agent, text body, JSON.parse. */
function rawVariant() {
  const agent = new PinnedAgent(agentOptions);
  return (method, rel, params) => {
    const encoded = encodeForm(params);
    const hasBody = method === "PUT" || method === "POST";
    const headers = { "user-agent": "homelab", accept: "application/json", authorization };
    if (hasBody) Object.assign(headers, { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(encoded) });
    return new Promise((res, rej) => {
      const req = request({ host: base.hostname, port: base.port, path: `${base.pathname}${rel}${!hasBody && encoded ? `?${encoded}` : ""}`, method, agent, headers }, (r) => {
        let body = "";
        r.setEncoding("utf8");
        r.on("data", (d) => (body += d));
        r.on("end", () => (r.statusCode >= 200 && r.statusCode < 300 ? res(JSON.parse(body).data) : rej(new Error(`${r.statusCode}`))));
        r.on("error", rej);
      });
      req.on("error", rej);
      req.end(hasBody ? encoded : undefined);
    });
  };
}

/** got as client.ts makes its instance (options merged once by got.extend), called per request as client.ts calls it. */
function gotVariant() {
  const agent = new PinnedAgent(agentOptions);
  const http = got.extend({
    prefixUrl: base.href,
    agent: { https: agent },
    https: { rejectUnauthorized: true },
    timeout: { lookup: 10_000, connect: 10_000, secureConnect: 10_000, response: 30_000 },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    responseType: "text",
    headers: { "user-agent": "homelab", accept: "application/json" },
  });
  return async (method, rel, params) => {
    const encoded = encodeForm(params);
    const hasBody = method === "PUT" || method === "POST";
    const r = await http(rel, {
      method,
      headers: { authorization, ...(hasBody ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
      ...(hasBody ? { body: encoded } : encoded !== "" ? { searchParams: encoded } : {}),
    });
    if (r.statusCode < 200 || r.statusCode >= 300) throw new Error(`${r.statusCode}`);
    return JSON.parse(r.body).data;
  };
}

/** The whole client. Its request log is emptied between rounds (it keeps one entry per request). */
function clientVariant() {
  const client = createProxmoxClient({ name: "bench", url: sim.url, token: { id: sim.adminToken.id, secret: Secret.fromValue(sim.adminToken.secret, "bench token") }, tls: { fingerprint: sim.fingerprint } });
  const call = (method, rel, params) => client.request(method, rel, params);
  call.reset = () => client.requestLog.splice(0);
  return call;
}

const variants = { raw: rawVariant(), got: gotVariant(), client: clientVariant() };
const CALLS = {
  "GET /version": ["GET", "version", {}],
  "GET /access/users?full=1": ["GET", "access/users", { full: true }],
  "PUT /access/users/{id}": ["PUT", "access/users/bench%40pve", { comment: "bench; a=b & c" }],
};
const PARALLEL = [1, 8];

/** n calls of one request with `parallel` in flight; CPU and wall µs per request. */
async function measure(fn, call, n, parallel) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next++ < n) await fn(...call);
  }));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / n, wallUs: (wall * 1000) / n };
}

const samples = {};
try {
  // Warm-up: connections open, code compiled.
  for (const fn of Object.values(variants)) for (const call of Object.values(CALLS)) await measure(fn, call, Math.min(N, 50), 8);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [callName, call] of Object.entries(CALLS)) {
      const n = callName.includes("users?full") ? Math.max(10, Math.round(N / 10)) : N;
      for (const parallel of PARALLEL) {
        for (const [name, fn] of Object.entries(variants)) {
          fn.reset?.();
          const m = await measure(fn, call, n, parallel);
          ((samples[`${callName}|${parallel}`] ??= {})[name] ??= []).push(m);
        }
      }
    }
    process.stderr.write(`… round ${round + 1}/${ROUNDS}\n`);
  }
} finally {
  sim.stop();
}

const rows = Object.entries(samples).map(([key, byVariant]) => {
  const [call, parallel] = key.split("|");
  const m = Object.fromEntries(Object.entries(byVariant).map(([v, xs]) => [v, { cpu_us: Math.round(median(xs.map((x) => x.cpuUs))), wall_us: Math.round(median(xs.map((x) => x.wallUs))) }]));
  return { call, parallel: Number(parallel), ...m };
});
if (!values.json) {
  console.log(`CPU µs / wall µs per request in this process (the simulator runs in a child); medians of ${ROUNDS} rounds; ${USERS} users; ${process.version}; ${dist}`);
  console.log("call                          in flight |   raw cpu  wall |   got cpu  wall |  client cpu  wall | got-raw cpu  client-got cpu");
  for (const r of rows) {
    const c = (v, w) => String(v).padStart(w);
    console.log(`${r.call.padEnd(30)} ${c(r.parallel, 8)} | ${c(r.raw.cpu_us, 9)} ${c(r.raw.wall_us, 5)} | ${c(r.got.cpu_us, 9)} ${c(r.got.wall_us, 5)} | ${c(r.client.cpu_us, 11)} ${c(r.client.wall_us, 5)} | ${c(r.got.cpu_us - r.raw.cpu_us, 11)} ${c(r.client.cpu_us - r.got.cpu_us, 15)}`);
  }
}
console.log(JSON.stringify({ bench: "got-cost", node: process.version, rounds: ROUNDS, n: N, users: USERS, dist, rows }));
