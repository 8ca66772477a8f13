/**
 * Stand-alone runner for `homelab sim` / `homelab demo`: start the simulator and hand back what a
 * client needs to reach it, as JSON-able data. The caller owns the process and stops it with close().
 */
import { startProxmoxSim } from "./start.js";
import type { ProxmoxSim, ProxmoxSimOptions } from "./types.js";

export interface StandaloneInfo {
  url: string;
  fingerprint: string;
  tokenId: string;
  tokenSecret: string;
}

export async function runProxmoxSimStandalone(
  opts: ProxmoxSimOptions = {},
): Promise<{ info: StandaloneInfo; sim: ProxmoxSim; close: () => Promise<void> }> {
  const sim = await startProxmoxSim(opts);
  const info: StandaloneInfo = {
    url: sim.url,
    fingerprint: sim.fingerprint,
    tokenId: sim.adminToken.id,
    tokenSecret: sim.adminToken.secret,
  };
  return { info, sim, close: () => sim.close() };
}
