import type { DesiredCluster, DesiredTenant } from "../core/desired.js";
import type { GraphClient, GraphClientOptions } from "./entra/graph.js";
import type { TokenSource } from "./entra/token.js";
import type { ProxmoxClient } from "./proxmox/client.js";

/**
 * The one place that turns a desired cluster or tenant into API clients, for every command that talks
 * to them (apply, verify, import). The client modules (got, msal) are imported here lazily, so commands
 * that do not talk to an API never pay for loading them (DESIGN.md performance budget).
 */
export interface ConnectHooks {
  onWarning?(message: string): void;
  /** One line per retried request, e.g. `pve1 GET /access/users attempt 1 (503 Service Unavailable), waiting 250 ms`. */
  onRetry?(line: string): void;
}

export async function connectCluster(c: DesiredCluster, hooks: ConnectHooks = {}): Promise<ProxmoxClient> {
  const { createProxmoxClient } = await import("./proxmox/client.js");
  return createProxmoxClient({
    name: c.name,
    url: c.url,
    token: c.token,
    tls: c.tls,
    ...(hooks.onWarning ? { onWarning: hooks.onWarning } : {}),
    onRetry: (e) => hooks.onRetry?.(`${c.name} ${e.method} ${e.path} attempt ${e.attempt} (${e.reason}), waiting ${e.delayMs} ms`),
  });
}

export async function connectTenant(
  t: DesiredTenant,
  hooks: ConnectHooks = {},
  graphOptions: Partial<Pick<GraphClientOptions, "retries" | "visibility" | "consistency">> = {},
): Promise<{ tokens: TokenSource; graph: GraphClient }> {
  const { createTokenSource } = await import("./entra/token.js");
  const { createGraphClient } = await import("./entra/graph.js");
  const onRetry = (e: { method: string; path: string; attempt: number; status?: number; waitMs: number; reason: string }) =>
    hooks.onRetry?.(`${t.name} ${e.method} ${e.path} attempt ${e.attempt} (${e.reason}${e.status ? ` ${e.status}` : ""}), waiting ${e.waitMs} ms`);
  const tokens = createTokenSource({ tenantId: t.tenantId, loginUrl: t.loginUrl, graphUrl: t.graphUrl, credentials: t.credentials, onRetry });
  const graph = createGraphClient({ graphUrl: t.graphUrl, tokens, tenant: t.name, onRetry, ...graphOptions });
  return { tokens, graph };
}
