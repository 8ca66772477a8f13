import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret } from "../../src/core/secret.js";
import { createProxmoxClient, type ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { startProxmoxSim, type ProxmoxFixture, type ProxmoxSim } from "../../src/sim/proxmox/index.js";

export interface PveLab {
  sim: ProxmoxSim;
  dir: string;
  file: string;
  env: Record<string, string>;
  /** An admin client for making "manual" changes, as a person in the web UI would. */
  admin: ProxmoxClient;
  /** Write homelab.yaml: `${CLUSTER}` expands to the cluster block of this simulator. */
  write(body: string): void;
  close(): Promise<void>;
}

export async function pveLab(fixture?: ProxmoxFixture, extraEnv: Record<string, string> = {}): Promise<PveLab> {
  const sim = await startProxmoxSim({ unauthorizedDelayMs: 0, ...(fixture ? { fixture } : {}) });
  const dir = mkdtempSync(join(tmpdir(), "hl-lab-"));
  const file = join(dir, "homelab.yaml");
  const env = { PVE_TOKEN: sim.adminToken.secret, ...extraEnv };
  const cluster = `clusters:
  pve:
    url: ${sim.url}
    token: { id: "${sim.adminToken.id}", secret: "\${env:PVE_TOKEN}" }
    tls: { fingerprint: "${sim.fingerprint}" }
`;
  const admin = createProxmoxClient({ name: "admin", url: sim.url, token: { id: sim.adminToken.id, secret: Secret.fromValue(sim.adminToken.secret, "test") }, tls: { fingerprint: sim.fingerprint } });
  return {
    sim, dir, file, env, admin,
    write: (body) => writeFileSync(file, `version: 1\n${cluster}${body}`),
    close: async () => {
      admin.close();
      await sim.close();
    },
  };
}

/** Requests in the simulator's log that change something. */
export const writes = (sim: ProxmoxSim) => sim.requestLog.filter((r) => r.method !== "GET");
