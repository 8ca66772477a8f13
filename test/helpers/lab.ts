import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEntraSim, type EntraSim, type EntraSimOptions } from "../../src/sim/entra/index.js";
import { startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { expect } from "vitest";
import { homelab, type RunResult } from "./cli.js";

export const DIRECTORY = {
  users: [
    { displayName: "Jane Doe", userPrincipalName: "jane@contoso.com" },
    { displayName: "Bob Builder", userPrincipalName: "bob@contoso.com" },
  ],
  groups: [{ displayName: "Proxmox Admins", members: ["jane@contoso.com"] }, { displayName: "VM Operators", members: ["bob@contoso.com"] }],
};

/** The `tenants:` section for an Entra simulator: tenant `contoso`, its secret read from ${env:CONTOSO_SECRET}. */
export function tenantYaml(entra: EntraSim): string {
  return `tenants:
  contoso:
    tenantId: ${entra.tenantId}
    cloud: { loginUrl: "${entra.loginUrl}", graphUrl: "${entra.graphUrl}" }
    credentials: { clientId: ${entra.automation.clientId}, clientSecret: "\${env:CONTOSO_SECRET}" }
`;
}

/** Both simulators: one Entra tenant and `clusters` Proxmox clusters, with a config written against them. */
export interface Lab {
  entra: EntraSim;
  pve: Map<string, ProxmoxSim>;
  dir: string;
  file: string;
  env: Record<string, string>;
  write(body: string): void;
  close(): Promise<void>;
}

export async function lab(clusters: string[] = ["pve1"], entraOpts: EntraSimOptions = {}): Promise<Lab> {
  const entra = await startEntraSim({ fixture: DIRECTORY, ...entraOpts });
  const pve = new Map<string, ProxmoxSim>();
  for (const c of clusters) pve.set(c, await startProxmoxSim({ unauthorizedDelayMs: 0 }));
  const dir = mkdtempSync(join(tmpdir(), "hl-lab-"));
  const file = join(dir, "homelab.yaml");
  const env: Record<string, string> = { CONTOSO_SECRET: entra.automation.clientSecret };
  let header = `version: 1\n${tenantYaml(entra)}clusters:\n`;
  for (const [name, sim] of pve) {
    const v = `PVE_TOKEN_${name.toUpperCase()}`;
    env[v] = sim.adminToken.secret;
    header += `  ${name}:\n    url: ${sim.url}\n    token: { id: "${sim.adminToken.id}", secret: "\${env:${v}}" }\n    tls: { fingerprint: "${sim.fingerprint}" }\n`;
  }
  return {
    entra, pve, dir, file, env,
    write: (body) => writeFileSync(file, header + body),
    close: async () => {
      await Promise.all([entra.close(), ...[...pve.values()].map((s) => s.close())]);
    },
  };
}

/** The realm a cluster holds, as stored (client-key included). */
export const realmOn = (sim: ProxmoxSim, realm: string) => sim.state().realms!.find((r) => r.realm === realm) as Record<string, unknown> | undefined;

/** homelab's app registrations in the tenant, with their password credentials (never the secret text). */
export const homelabApps = (entra: EntraSim) =>
  (entra.state().applications as { appId: string; id: string; tags?: string[]; passwordCredentials?: { keyId: string; displayName: string; hint: string; endDateTime: string }[] }[]).filter((a) => a.tags?.includes("homelab"));

/** The demo-like tenant realm: one app, a mapped Entra group, users before their first login. */
export const TENANT_REALM_CONFIG = `realms:
  azure:
    tenant: contoso
    app: { displayName: Proxmox VE, secret: { lifetimeDays: 180, renewBeforeDays: 30 } }
    usernameClaim: upn
    autocreate: true
    default: true
groups:
  admins: { realm: azure, entraGroup: Proxmox Admins }
access:
  - { user: jane@contoso.com@azure, role: Administrator, path: / }
  - { group: admins, role: PVEAdmin, path: / }
`;

/** Requests that change something, on Graph and on every cluster of a lab. */
/** A tenant realm with app roles (`groupsClaim: roles`), autocreate, and the given `groups` and `access` YAML lines. */
export const rolesRealmConfig = (groups: string, access: string) => `realms:
  azure:
    tenant: contoso
    app: { displayName: Proxmox VE }
    usernameClaim: upn
    autocreate: true
    groupsClaim: roles
groups:
${groups}access:
${access}`;

export const graphWrites = (l: Lab) => l.entra.requestLog.filter((r) => r.api === "graph" && r.method !== "GET");
export const pveWrites = (l: Lab) => [...l.pve.values()].flatMap((s) => s.requestLog.filter((r) => r.method !== "GET"));

/** A run that must change nothing: `apply --detailed-exitcode` exits 0, says "No changes", and writes to neither side. */
export async function expectNoop(l: Lab): Promise<RunResult> {
  l.entra.clearLog();
  for (const sim of l.pve.values()) sim.clearLog();
  const r = await homelab(["-f", l.file, "apply", "--detailed-exitcode"], { env: l.env });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^No changes\./);
  expect(graphWrites(l)).toEqual([]);
  expect(pveWrites(l)).toEqual([]);
  return r;
}
