#!/usr/bin/env node
// Benchmark (issue 13): `members: sync` against both in-process simulators, for an Entra group of 10, 100, 999 and
// 5,000 members (tenant of the same size). For the run from empty (every member's Proxmox user created) and the
// no-op run after it, prints the Graph requests (all GETs on a no-op), the pages of the members read
// (`/groups/{id}/transitiveMembers/microsoft.graph.user`, 999 per page) and of the directory read (`/users`, for
// leavers), the Proxmox writes, the wall time and its ratio to `node -e 0` measured in the same run. What it
// shows: Graph reads do not grow with the member count up to 999 (one page each), and at 5,000 they are 5 pages
// more each (6 + 6), never one request per user.
// Usage: npm run build && node bench/members.mjs [--sizes 10,100,999,5000] [--quick] [--runs N] [--base-runs N]
//        HOMELAB_BENCH_DIST=.dist-x node bench/members.mjs   (a build elsewhere: its cli/main.js and sim/)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { baseline, benchOptions, median, root, run } from "./lib.mjs";

const { sizes: SIZES, runs: RUNS, baseRuns: BASE_RUNS, passthrough } = benchOptions([10, 100, 999, 5000]);
const dist = resolve(root, process.env.HOMELAB_BENCH_DIST ?? "dist");
const bin = join(dist, "cli/main.js");
const { startEntraSim } = await import(join(dist, "sim/entra/index.js"));
const { startProxmoxSim } = await import(join(dist, "sim/proxmox/index.js"));

async function apply(file, env) {
  const r = await run(process.execPath, [bin, "apply", "-f", file, "--no-color", ...passthrough], env);
  if (r.code !== 0) throw new Error(`homelab apply exited ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

function config(entra, pve) {
  return `version: 1
tenants:
  contoso:
    tenantId: ${entra.tenantId}
    cloud: { loginUrl: "${entra.loginUrl}", graphUrl: "${entra.graphUrl}" }
    credentials: { clientId: ${entra.automation.clientId}, clientSecret: "\${env:CONTOSO_SECRET}" }
clusters:
  pve:
    url: ${pve.url}
    token: { id: "${pve.adminToken.id}", secret: "\${env:PVE_TOKEN}" }
    tls: { fingerprint: "${pve.fingerprint}" }
realms:
  azure: { tenant: contoso, usernameClaim: upn, leavers: disable }
groups:
  admins: { realm: azure, entraGroup: Proxmox Admins, members: sync }
access:
  - { group: admins, role: PVEAuditor, path: / }
`;
}

/** What one run asked of each side. */
function counts(entra, pve) {
  const graph = entra.requestLog.filter((r) => r.api === "graph");
  const path = (r) => r.path.replace(/\?.*/, "");
  return {
    graph: graph.length,
    graphGets: graph.filter((r) => r.method === "GET").length,
    memberPages: graph.filter((r) => r.method === "GET" && path(r).endsWith("/transitiveMembers/microsoft.graph.user")).length,
    userPages: graph.filter((r) => r.method === "GET" && path(r) === "/v1.0/users").length,
    perUser: graph.filter((r) => /^\/v1\.0\/users\/./.test(path(r))).length,
    pveWrites: pve.requestLog.filter((r) => r.method !== "GET").length,
  };
}

const dir = mkdtempSync(join(tmpdir(), "hl-members-"));
const base = await baseline(BASE_RUNS);
const floor = median(base);
const rows = [];
try {
  for (const n of SIZES) {
    const upns = Array.from({ length: n }, (_, i) => `user${String(i).padStart(5, "0")}@contoso.com`);
    const entra = await startEntraSim({
      fixture: { users: upns.map((u, i) => ({ displayName: `User ${i}`, userPrincipalName: u, mail: u, givenName: "User", surname: String(i) })), groups: [{ displayName: "Proxmox Admins", members: upns }] },
    });
    const pve = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    try {
      const file = join(dir, `homelab-${n}.yaml`);
      writeFileSync(file, config(entra, pve));
      const env = { ...process.env, CONTOSO_SECRET: entra.automation.clientSecret, PVE_TOKEN: pve.adminToken.secret, NO_COLOR: "1" };
      entra.clearLog();
      pve.clearLog();
      const first = await apply(file, env);
      const created = counts(entra, pve);
      const users = pve.state().users.filter((u) => u.userid.endsWith("@azure")).length;
      if (users !== n) throw new Error(`${n} members: ${users} Proxmox users after the first run`);
      const noop = [];
      let again;
      for (let k = 0; k < RUNS; k++) {
        entra.clearLog();
        pve.clearLog();
        const r = await apply(file, env);
        if (!/No changes\./.test(r.stdout)) throw new Error(`${n} members: the second run is not a no-op\n${r.stdout.slice(0, 2000)}`);
        noop.push(r.ms);
        again = counts(entra, pve);
      }
      rows.push({ n, first: { ms: first.ms, ...created }, noop: { ms: median(noop), ...again } });
    } finally {
      await Promise.all([entra.close(), pve.close()]);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const fmt = (ms) => `${Math.round(ms)} ms (${(ms / floor).toFixed(1)}x)`;
console.log(`node -e 0: ${Math.round(floor)} ms (median of ${base.length})`);
console.log("members | run   | Graph requests (GET) | member pages | /users pages | per-user reads | Proxmox writes | time (x node -e 0)");
for (const r of rows) {
  for (const [label, x] of [["empty", r.first], ["no-op", r.noop]]) {
    console.log(`${String(r.n).padStart(7)} | ${label} | ${String(x.graph).padStart(8)} (${x.graphGets}) | ${String(x.memberPages).padStart(12)} | ${String(x.userPages).padStart(12)} | ${String(x.perUser).padStart(14)} | ${String(x.pveWrites).padStart(14)} | ${fmt(x.ms)}`);
  }
}
