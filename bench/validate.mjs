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

const { values } = parseArgs({ options: { mappings: { type: "string", default: "5000" }, runs: { type: "string", default: "7" } } });
const N = Number(values.mappings);
const RUNS = Number(values.runs);
const root = new URL("..", import.meta.url).pathname;
const bin = join(root, "dist/cli/main.js");

/** A realistic big homelab: 3 clusters, an Entra realm and an external one, custom roles, groups, N mappings. */
export function generate(n) {
  const roles = ["Administrator", "PVEAuditor", "PVEVMUser", "PVEVMAdmin", "PVEDatastoreUser", "VMOperator", "Backup"];
  const paths = (i) => ["/", "/vms", `/vms/${100 + (i % 900)}`, `/pool/team${i % 40}`, `/storage/nas${i % 5}`, `/nodes/pve${i % 3}`][i % 6];
  const lines = [
    "# yaml-language-server: $schema=../schemas/homelab.schema.json",
    "version: 1",
    "tenants:",
    "  contoso:",
    "    tenantId: 8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
    "    credentials: { clientId: 2b0c6d1e-7f8a-4b9c-8d0e-1f2a3b4c5d6e, clientSecret: \"${env:CONTOSO_SECRET}\" }",
    "clusters:",
    ...[1, 2, 3].flatMap((c) => [`  pve${c}:`, `    url: https://pve${c}.lan:8006`, `    token: { id: homelab@pve!converge, secret: "\${env:PVE${c}_TOKEN}" }`]),
    "realms:",
    "  entra: { tenant: contoso, usernameClaim: upn, autocreate: true, default: true }",
    "  sso: { issuerUrl: https://auth.lan/application/o/proxmox/, clientId: proxmox, clientKey: \"${env:SSO_SECRET}\", usernameClaim: username }",
    "roles:",
    "  VMOperator: { privs: [VM.Audit, VM.Console, VM.PowerMgmt] }",
    "  Backup: { privs: [VM.Backup, Datastore.AllocateSpace, Datastore.Audit] }",
    "groups:",
    ...Array.from({ length: 20 }, (_, g) => `  team${g}: { comment: Team ${g} }`),
    "  admins: { realm: entra, entraGroup: Proxmox Admins }",
    "access:",
  ];
  const seen = new Set();
  for (let i = 0; lines.length < 1e9 && seen.size < n; i++) {
    const group = i % 10 === 0;
    const principal = group ? `group: team${i % 20}` : i % 3 === 0 ? `user: user${i}@auth.lan@sso` : `user: user${i}@contoso.com@entra`;
    const role = roles[i % roles.length];
    const path = paths(i);
    const key = `${principal}|${role}|${path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`  - { ${principal}, role: ${role}, path: ${path}${i % 7 === 0 ? ", propagate: false" : ""} }`);
  }
  return `${lines.join("\n")}\n`;
}

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
