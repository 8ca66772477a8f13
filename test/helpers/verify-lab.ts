import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect } from "vitest";
import { Secret } from "../../src/core/secret.js";
import { createGraphClient } from "../../src/providers/entra/graph.js";
import { createTokenSource } from "../../src/providers/entra/token.js";
import { createProxmoxClient, type ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { homelab } from "./cli.js";
import { lab, type Lab } from "./lab.js";
import type { Check } from "../../src/verify/checks.js";

/**
 * The lab the `homelab verify` integration tests share (test/integration/verify.test.ts and verify-issuer.test.ts,
 * split by subject so that vitest runs them side by side): two clusters, the Entra simulator, a tenant realm `azure`
 * with a mapped group and an external issuer's realm `lab` on pve1, applied once per file. Each test breaks one thing
 * and repairs it.
 */

/** One row of `homelab verify --json`: the check as verify made it. */
export type Row = Check;

export const LAB_KEY = "lab-client-key-4f1e9a";

export type Issuer = Awaited<ReturnType<typeof startIssuer>>;

/**
 * A stand-in external issuer (Authentik, Keycloak, ...): serves a discovery document whose `issuer` and
 * client authentication methods a test can change, its (empty) key set, an authorization endpoint that shows a
 * sign-in page for client `proxmox` with a registered redirect URI and a 400 error page otherwise (as Keycloak
 * does), and a token endpoint that grants client credentials to client `proxmox` with LAB_KEY (HTTP Basic,
 * RFC 6749 2.3.1), or answers `unauthorized_client` when told to.
 */
export async function startIssuer(): Promise<{ server: Server; base: string; redirects: Set<string>; setIssuer(i: string | undefined): void; setMethods(m: string[] | undefined): void; setGrant(ok: boolean): void }> {
  let issuer: string | undefined;
  let methods: string[] | undefined = ["client_secret_basic", "client_secret_post"];
  let grant = true;
  const redirects = new Set<string>();
  const server = createServer((req, res) => {
    if (req.url === "/realms/lab/.well-known/openid-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          issuer: issuer ?? `${base}/realms/lab`, authorization_endpoint: `${base}/realms/lab/auth`, token_endpoint: `${base}/realms/lab/token`, jwks_uri: `${base}/realms/lab/certs`,
          response_types_supported: ["code"], subject_types_supported: ["public"], id_token_signing_alg_values_supported: ["RS256"],
          ...(methods ? { token_endpoint_auth_methods_supported: methods } : {}),
        }),
      );
      return;
    }
    if (req.url === "/realms/lab/certs") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [] }));
      return;
    }
    if (req.url?.startsWith("/realms/lab/auth?")) {
      const q = new URL(req.url, base).searchParams;
      const problem = q.get("client_id") !== "proxmox" ? "Client not found." : !redirects.has(q.get("redirect_uri") ?? "") ? "Invalid parameter: redirect_uri" : undefined;
      res.writeHead(problem ? 400 : 200, { "content-type": "text/html" });
      res.end(`<html><head><title>Sign in to lab</title></head><body>${problem ? `<p id="error">We are sorry...</p><p>${problem}</p>` : '<form method="post"><input name="username"/></form>'}</body></html>`);
      return;
    }
    if (req.url === "/realms/lab/token" && req.method === "POST") {
      const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
      const [id, key] = auth ? Buffer.from(auth[1]!, "base64").toString().split(":").map(decodeURIComponent) : [];
      res.writeHead(id === "proxmox" && key === LAB_KEY ? (grant ? 200 : 400) : 401, { "content-type": "application/json" });
      res.end(JSON.stringify(id === "proxmox" && key === LAB_KEY ? (grant ? { access_token: "t", token_type: "Bearer" } : { error: "unauthorized_client" }) : { error: "invalid_client" }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, redirects, setIssuer: (i) => (issuer = i), setMethods: (m) => (methods = m), setGrant: (ok) => (grant = ok) };
}

export const find = (checks: Row[], id: string, realm: string, cluster?: string) => checks.find((c) => c.id === id && c.realm === realm && c.cluster === cluster);
export const failing = (checks: Row[]) => checks.filter((c) => !c.ok).map((c) => `${c.id} ${c.realm}${c.cluster ? `@${c.cluster}` : ""}`).sort();

/** What a verify test file works with; `l` and `issuer` are set once the file's beforeAll has run. */
export interface VerifyLab {
  l: Lab;
  issuer: Issuer;
  /** An admin client per cluster, to break things behind homelab's back. */
  admins: Map<string, ProxmoxClient>;
  run(args: string[], env?: Record<string, string>): ReturnType<typeof homelab>;
  /** `homelab verify --json`, parsed. */
  verify(env?: Record<string, string>): Promise<Awaited<ReturnType<typeof homelab>> & { checks: Row[]; ok: boolean }>;
  /** `homelab apply`, then verify passes again. */
  repair(): Promise<void>;
  /** A Graph client as the automation app, to change the tenant behind homelab's back. */
  automationGraph(): ReturnType<typeof createGraphClient>;
}

/** Registers the file's beforeAll (start the lab, write the config, apply) and afterAll; call it inside describe. */
export function useVerifyLab(): VerifyLab {
  const v = { admins: new Map<string, ProxmoxClient>() } as VerifyLab;
  v.run = (args, env = {}) => homelab(["-f", v.l.file, ...args], { env: { LAB_KEY, ...v.l.env, ...env } });
  v.verify = async (env = {}) => {
    const r = await v.run(["verify", "--json"], env);
    expect(r.stderr).not.toMatch(/internal error/);
    const parsed = JSON.parse(r.stdout) as { checks: Row[]; ok: boolean };
    return { ...r, ...parsed };
  };
  v.repair = async () => {
    const r = await v.run(["apply"]);
    expect(r.code, r.stderr).toBe(0);
    const again = await v.verify();
    expect(failing(again.checks)).toEqual([]);
  };
  v.automationGraph = () => {
    const { entra } = v.l;
    const tokens = createTokenSource({ tenantId: entra.tenantId, loginUrl: entra.loginUrl, graphUrl: entra.graphUrl, credentials: { clientId: entra.automation.clientId, clientSecret: Secret.fromValue(entra.automation.clientSecret, "test") } });
    return createGraphClient({ graphUrl: entra.graphUrl, tokens, tenant: "contoso" });
  };

  beforeAll(async () => {
    // The simulators and the issuer start side by side.
    [v.l, v.issuer] = await Promise.all([lab(["pve1", "pve2"]), startIssuer()]);
    const { l, issuer } = v;
    issuer.redirects.add(l.pve.get("pve1")!.url);
    l.write(`realms:
  azure:
    tenant: contoso
    app: { displayName: Proxmox VE, secret: { lifetimeDays: 180, renewBeforeDays: 30 } }
    usernameClaim: upn
    autocreate: true
  lab:
    issuerUrl: ${issuer.base}/realms/lab
    clientId: proxmox
    clientKey: "\${env:LAB_KEY}"
    usernameClaim: username
    clusters: [pve1]
groups:
  admins: { realm: azure, entraGroup: Proxmox Admins }
access:
  - { group: admins, role: PVEAuditor, path: /vms }
  - { user: jane@contoso.com@azure, role: Administrator, path: / }
  - { user: bob@contoso.com@azure, role: PVEAuditor, path: /, clusters: [pve2] }
  - { user: alice@lab, role: PVEAuditor, path: / }
`);
    for (const [name, sim] of l.pve)
      v.admins.set(name, createProxmoxClient({ name, url: sim.url, token: { id: sim.adminToken.id, secret: Secret.fromValue(sim.adminToken.secret, "test") }, tls: { fingerprint: sim.fingerprint } }));
    const r = await v.run(["apply"]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });
  afterAll(async () => {
    for (const a of v.admins.values()) a.close();
    if (v.issuer) await new Promise((r) => v.issuer.server.close(r));
    await v.l?.close();
  });
  return v;
}
