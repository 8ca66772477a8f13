/**
 * `homelab verify`: reads the facts once (facts.ts), then runs every realm's checks (tenant-checks.ts, cluster-checks.ts)
 * over them, sharing one discovery fetch per issuer.
 */
import type { DesiredState } from "../core/desired.js";
import { sortChecks, type Check } from "./checks.js";
import { clusterChecks } from "./cluster-checks.js";
import { fetchDiscovery, probeTokenEndpoint, type DiscoveryResult } from "./discovery.js";
import { readClusters, readTenants, realmPlans, type VerifyOptions } from "./facts.js";
import { fetchAuthorize } from "./node.js";
import { peopleChecks, realmWideChecks } from "./tenant-checks.js";

export type { VerifyOptions } from "./facts.js";

/**
 * Every check of every OpenID realm (see CHECK_IDS), read-only: one bulk read per cluster (realms, users),
 * one app lookup per tenant realm (and for a realm with mapped groups its service principal, who is assigned to
 * it and the groups by name), one discovery fetch per distinct issuer URL and one token request per
 * (tenant realm, cluster). Failures of homelab's OWN credentials (a cluster token or the automation app
 * refused: AuthError) are thrown, so the CLI exits 4; anything else the realm depends on becomes a failed check.
 */
export async function verifyAll(desired: DesiredState, opts: VerifyOptions): Promise<Check[]> {
  const realms = realmPlans(desired);
  if (realms.length === 0) return [];
  const clusterNames = new Set(realms.flatMap((r) => [...r.byCluster.keys()]));
  const clusters = desired.clusters.filter((c) => clusterNames.has(c.name));
  const tenants = desired.tenants.filter((t) => realms.some((r) => r.tenant?.name === t.name));

  const closers: Array<() => void> = [];
  try {
    const [clusterFacts, tenantSide] = await Promise.all([readClusters(clusters, opts, closers), readTenants(tenants, realms, opts)]);
    const discovery = new Map<string, Promise<DiscoveryResult>>();
    const discover = (url: string) => {
      const key = url.replace(/\/+$/, "");
      let p = discovery.get(key);
      if (!p) discovery.set(key, (p = fetchDiscovery(key, { ...(opts.discoveryTimeoutMs !== undefined ? { timeoutMs: opts.discoveryTimeoutMs } : {}) })));
      return p;
    };
    const checks: Check[] = [];
    await Promise.all(
      realms.map(async (r) => {
        const facts = r.tenant ? tenantSide.facts.get(r.tenant.name) : undefined;
        checks.push(...realmWideChecks(r, facts));
        await Promise.all(
          [...r.byCluster.entries()].map(async ([cluster, want]) => {
            const cf = clusterFacts.get(cluster)!;
            checks.push(...peopleChecks(r, desired.clusters.find((c) => c.name === cluster)!, clusterFacts.get(cluster)!, facts));
            checks.push(...(await clusterChecks(r, want, desired.clusters.find((c) => c.name === cluster)!, cf, facts, { discover, prove: tenantSide.prove, probe: (e, m, id, k) => probeTokenEndpoint(e, m, id, k, { ...(opts.tokenTimeoutMs !== undefined ? { timeoutMs: opts.tokenTimeoutMs } : {}) }), authorize: (u, redirect) => fetchAuthorize(u, redirect, { ...(opts.authorizeTimeoutMs !== undefined ? { timeoutMs: opts.authorizeTimeoutMs } : {}) }), now: opts.now() })));
          }),
        );
      }),
    );
    return sortChecks(checks);
  } finally {
    for (const close of closers) close();
  }
}
