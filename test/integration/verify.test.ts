import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../src/config/secret.js";
import { createGraphClient } from "../../src/providers/entra/graph.js";
import { createTokenSource } from "../../src/providers/entra/token.js";
import { createProxmoxClient, type ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { homelab } from "../helpers/cli.js";
import { homelabApps, lab, realmOn, type Lab } from "../helpers/lab.js";

interface Row {
  id: string;
  realm: string;
  cluster?: string;
  ok: boolean;
  warning?: boolean;
  detail: string;
  hint?: string;
}

const LAB_KEY = "lab-client-key-4f1e9a";

/**
 * A stand-in external issuer (Authentik, Keycloak, ...): serves a discovery document whose `issuer` and
 * client authentication methods a test can change, its (empty) key set, an authorization endpoint that shows a
 * sign-in page for client `proxmox` with a registered redirect URI and a 400 error page otherwise (as Keycloak
 * does), and a token endpoint that grants client credentials to client `proxmox` with LAB_KEY (HTTP Basic,
 * RFC 6749 2.3.1), or answers `unauthorized_client` when told to.
 */
async function startIssuer(): Promise<{ server: Server; base: string; redirects: Set<string>; setIssuer(i: string | undefined): void; setMethods(m: string[] | undefined): void; setGrant(ok: boolean): void }> {
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

/**
 * A Graph-compatible stand-in for the tenant's login URL: forwards every request to the Entra simulator, but its
 * discovery document keeps Microsoft's issuer (`https://login.microsoftonline.com/{tid}/v2.0`) whatever URL serves
 * it, as the simulator itself did before. Proxmox refuses every login through a realm whose issuer-url is this URL.
 */
async function startMicrosoftIssuerProxy(target: string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
      void fetch(`${target}${req.url}`, { method: req.method!, headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) }).then(async (r) => {
        let body = await r.text();
        const m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(req.url ?? "");
        if (m && r.status === 200) body = JSON.stringify({ ...(JSON.parse(body) as object), issuer: `https://login.microsoftonline.com/${JSON.parse(body).issuer.split("/").at(-2)}/v2.0` });
        res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" });
        res.end(body);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("homelab verify against both simulators", () => {
  let l: Lab;
  let issuer: Awaited<ReturnType<typeof startIssuer>>;
  const admins = new Map<string, ProxmoxClient>();
  const run = (args: string[], env: Record<string, string> = {}) => homelab(["-f", l.file, ...args], { env: { LAB_KEY, ...l.env, ...env } });
  const verify = async (env: Record<string, string> = {}) => {
    const r = await run(["verify", "--json"], env);
    expect(r.stderr).not.toMatch(/internal error/);
    const parsed = JSON.parse(r.stdout) as { checks: Row[]; ok: boolean };
    return { ...r, ...parsed };
  };
  const find = (checks: Row[], id: string, realm: string, cluster?: string) => checks.find((c) => c.id === id && c.realm === realm && c.cluster === cluster);
  const failing = (checks: Row[]) => checks.filter((c) => !c.ok).map((c) => `${c.id} ${c.realm}${c.cluster ? `@${c.cluster}` : ""}`).sort();
  const repair = async () => {
    const r = await run(["apply"]);
    expect(r.code, r.stderr).toBe(0);
    const again = await verify();
    expect(failing(again.checks)).toEqual([]);
  };

  beforeAll(async () => {
    l = await lab(["pve1", "pve2"]);
    issuer = await startIssuer();
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
      admins.set(name, createProxmoxClient({ name, url: sim.url, token: { id: sim.adminToken.id, secret: Secret.fromValue(sim.adminToken.secret, "test") }, tls: { fingerprint: sim.fingerprint } }));
    const r = await run(["apply"]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });
  afterAll(async () => {
    for (const a of admins.values()) a.close();
    await new Promise((r) => issuer.server.close(r));
    await l.close();
  });

  it("after apply every check passes (exit 0), in a table with a summary, and no secret is printed", async () => {
    const r = await run(["verify"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^CHECK\s+REALM@CLUSTER\s+RESULT\s+DETAIL$/m);
    expect(r.stdout).not.toMatch(/\bFAIL\b/);
    expect(r.stdout).toMatch(/^secret\s+azure@pve1\s+pass\s+accepted by Entra ID; homelab:azure:pve1 expires on \d{4}-\d\d-\d\d \(in 17\d days\)$/m);
    expect(r.stdout).toMatch(/^redirect-uri\s+azure@pve2\s+pass\s+the app accepts https:\/\/127\.0\.0\.1:\d+$/m);
    // The http discovery documents (simulator, local issuer) pass with a warning and a hint.
    expect(r.stdout).toMatch(/^discovery\s+lab@pve1\s+WARN\s+reachable over plain http/m);
    expect(r.stdout).toMatch(/^\s+hint: use https/m);
    expect(r.stdout).toMatch(/^Verify: \d+ checks, \d+ passed \(\d+ with a warning\), 0 failed\.$/m);
    for (const sim of l.pve.values()) {
      const key = String(realmOn(sim, "azure")!["client-key"]);
      expect(r.stdout + r.stderr).not.toContain(key);
    }
    expect(r.stdout + r.stderr).not.toContain(LAB_KEY);
    expect(r.stdout + r.stderr).not.toContain(l.env.CONTOSO_SECRET!);
  });

  it("--json: one object with every check of both realms, ok: true", async () => {
    const r = await verify();
    expect(r.code).toBe(0);
    expect(r.ok).toBe(true);
    const ids = (realm: string, cluster?: string) => r.checks.filter((c) => c.realm === realm && c.cluster === cluster).map((c) => c.id);
    expect(ids("azure")).toEqual(["app", "directory", "group-claims", "group-assignment"]);
    expect(find(r.checks, "group-assignment", "azure")!.detail).toBe("the mapped group is assigned to the app: Proxmox Admins");
    expect(find(r.checks, "group-claims", "azure")!.detail).toBe("ID tokens carry the groups assigned to the app (groupMembershipClaims ApplicationGroup, groups optional claim)");
    expect(ids("azure", "pve1")).toEqual(["realm", "issuer", "discovery", "node-discovery", "client-id", "client-key", "redirect-uri", "authorize", "secret", "username-claim", "users", "leavers"]);
    expect(ids("azure", "pve2")).toEqual(["realm", "issuer", "discovery", "node-discovery", "client-id", "client-key", "redirect-uri", "authorize", "secret", "username-claim", "users", "leavers"]);
    expect(ids("lab", "pve1")).toEqual(["realm", "issuer", "discovery", "node-discovery", "client-id", "client-key", "authorize", "secret", "username-claim", "users"]);
    // From the node: Proxmox fetched the discovery document itself; the provider shows its sign-in page for the URL it built.
    expect(find(r.checks, "node-discovery", "azure", "pve1")!.detail).toBe(`the node fetched the issuer's discovery document; sign-in starts at ${l.entra.loginUrl}/${l.entra.tenantId}/oauth2/v2.0/authorize`);
    const appId = homelabApps(l.entra)[0]!.appId;
    expect(find(r.checks, "authorize", "azure", "pve2")!.detail).toBe(`the identity provider shows its sign-in page for client ${appId} and redirect URI ${l.pve.get("pve2")!.url}`);
    expect(find(r.checks, "node-discovery", "lab", "pve1")!.detail).toBe(`the node fetched the issuer's discovery document; sign-in starts at ${issuer.base}/realms/lab/auth`);
    expect(find(r.checks, "authorize", "lab", "pve1")!.detail).toBe(`the identity provider shows its sign-in page for client proxmox and redirect URI ${l.pve.get("pve1")!.url}`);
    expect(find(r.checks, "secret", "lab", "pve1")!.detail).toBe("the realm's client key is ${env:LAB_KEY}; the issuer's token endpoint accepts it");
    expect(ids("lab", "pve2")).toEqual([]);
    expect(find(r.checks, "directory", "azure")!.detail).toBe("2 named users exist in tenant contoso");
    expect(find(r.checks, "username-claim", "azure", "pve2")!.detail).toBe("upn; 2 named users have the form <email address>@azure");
    expect(find(r.checks, "users", "azure", "pve1")!.detail).toBe("1 user named in access exists");
    // The simulator's document names the issuer at its own login URL, as Entra ID's does: the realm's issuer-url.
    expect(find(r.checks, "discovery", "azure", "pve1")!).toMatchObject({ ok: true, detail: `reachable over plain http; it names the issuer ${l.entra.loginUrl}/${l.entra.tenantId}/v2.0` });
    expect(find(r.checks, "secret", "lab", "pve1")!).toMatchObject({ ok: true, detail: "the realm's client key is ${env:LAB_KEY}; the issuer's token endpoint accepts it" });
    for (const c of r.checks) expect(Object.keys(c).every((k) => ["id", "realm", "cluster", "ok", "warning", "detail", "hint"].includes(k))).toBe(true);
  });

  it("a redirect URI removed from the app fails redirect-uri on that cluster only", async () => {
    const app = homelabApps(l.entra)[0]!;
    const tokens = createTokenSource({ tenantId: l.entra.tenantId, loginUrl: l.entra.loginUrl, graphUrl: l.entra.graphUrl, credentials: { clientId: l.entra.automation.clientId, clientSecret: Secret.fromValue(l.entra.automation.clientSecret, "test") } });
    const graph = createGraphClient({ graphUrl: l.entra.graphUrl, tokens, tenant: "contoso" });
    await graph.updateApplication(app.id, { web: { redirectUris: [l.pve.get("pve1")!.url, "https://pve2.wrong:8006"] } });

    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.ok).toBe(false);
    // Seen twice: in the app's registration, and as the error page Entra ID shows at the node's authorization URL.
    expect(failing(r.checks)).toEqual(["authorize azure@pve2", "redirect-uri azure@pve2"]);
    expect(find(r.checks, "authorize", "azure", "pve2")).toMatchObject({
      detail: expect.stringMatching(new RegExp(`^the identity provider shows an error before sign-in: AADSTS50011: The redirect URI '${l.pve.get("pve2")!.url.replace(/\./g, "\\.")}' specified in the request does not match`)),
      hint: `the app's redirect URIs do not contain ${l.pve.get("pve2")!.url} (Entra ID compares them exactly): run homelab apply to restore them`,
    });
    const c = find(r.checks, "redirect-uri", "azure", "pve2")!;
    expect(c.detail).toContain(`do not contain ${l.pve.get("pve2")!.url}`);
    expect(c.hint).toMatch(/run homelab apply to restore them; Entra ID compares redirect URIs exactly/);

    // The table shows the failure with its hint on the next line.
    const table = await run(["verify"]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^redirect-uri\s+azure@pve2\s+FAIL\s+the app's redirect URIs .*\n\s+hint: run homelab apply to restore them/m);
    expect(table.stdout).toMatch(/^Verify: \d+ checks, \d+ passed.*, 2 failed\. A login through a failing realm will not work until it is fixed\.$/m);
    await repair();
  });

  it("an expired client secret fails the secret check of every cluster (Entra refuses the realm's credentials)", async () => {
    l.entra.setClock(() => new Date(Date.now() + 200 * 86_400_000));
    try {
      const r = await verify();
      expect(r.code).toBe(1);
      expect(failing(r.checks)).toEqual(["secret azure@pve1", "secret azure@pve2"]);
      const c = find(r.checks, "secret", "azure", "pve1")!;
      expect(c.detail).toMatch(/Entra ID refused the credentials of app .*expired/);
      expect(c.detail).toMatch(/homelab:azure:pve1 expires on/);
      expect(c.hint).toMatch(/^the realm's client secret has expired, so every login fails: run homelab apply/);

      // With this machine's clock moved as well, the detail says it expired, and when.
      const both = await verify({ HOMELAB_NOW: new Date(Date.now() + 200 * 86_400_000).toISOString() });
      expect(find(both.checks, "secret", "azure", "pve2")!.detail).toMatch(/homelab:azure:pve2 expired on \d{4}-\d\d-\d\d$/);
    } finally {
      l.entra.setClock(() => new Date());
    }
    const again = await verify();
    expect(failing(again.checks)).toEqual([]);
  });

  it("a secret within renewBeforeDays passes with a warning", async () => {
    const r = await verify({ HOMELAB_NOW: new Date(Date.now() + 160 * 86_400_000).toISOString() });
    expect(r.code).toBe(0);
    const c = find(r.checks, "secret", "azure", "pve1")!;
    expect(c).toMatchObject({ ok: true, warning: true });
    expect(c.detail).toMatch(/\(in (19|20) days\)$/);
    expect(c.hint).toMatch(/within renewBeforeDays \(30\): the next homelab apply renews it/);
  });

  it("a wrong client key in one realm fails its secret check, proven by a token request, and the key is never printed", async () => {
    const wrong = "not-the-secret-7d2c11";
    await admins.get("pve1")!.updateRealm("azure", { "client-key": wrong });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["secret azure@pve1"]);
    const c = find(r.checks, "secret", "azure", "pve1")!;
    expect(c.detail).toMatch(/Entra ID refused the credentials of app/);
    expect(c.hint).toMatch(/the realm's client key is not a valid secret of app .*: run homelab apply/);
    expect(r.stdout + r.stderr).not.toContain(wrong);
    await repair();
  });

  it("an issuer-url in domain form fails issuer, and discovery explains that Entra names the tenant GUID; the node refuses it with Proxmox's message", async () => {
    const domainForm = `${l.entra.loginUrl}/homelabsim.onmicrosoft.com/v2.0`;
    await admins.get("pve2")!.updateRealm("azure", { "issuer-url": domainForm });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["discovery azure@pve2", "issuer azure@pve2", "node-discovery azure@pve2"]);
    expect(find(r.checks, "node-discovery", "azure", "pve2")).toMatchObject({
      detail: `the node answered 500: Validation error: unexpected issuer URI \`${l.entra.loginUrl}/${l.entra.tenantId}/v2.0\` (expected \`${domainForm}\`)`,
      hint: expect.stringMatching(/always names the tenant GUID, so Proxmox refuses an issuer in domain form/),
    });
    // No authorization URL, so nothing to ask the provider.
    expect(find(r.checks, "authorize", "azure", "pve2")).toBeUndefined();
    expect(find(r.checks, "issuer", "azure", "pve2")!).toMatchObject({ detail: expect.stringContaining("homelabsim.onmicrosoft.com"), hint: "run homelab apply to set it" });
    const d = find(r.checks, "discovery", "azure", "pve2")!;
    expect(d.detail).toContain(`names the issuer ${l.entra.loginUrl}/${l.entra.tenantId}/v2.0`);
    expect(d.hint).toMatch(/always names the tenant GUID, so Proxmox refuses an issuer in domain form: run homelab apply/);
    await repair();
  });

  it("a node that cannot reach the issuer fails node-discovery there, although homelab reaches it (the Proxmox simulator's blocked hosts)", async () => {
    const entraHost = new URL(l.entra.loginUrl).host;
    l.pve.get("pve1")!.setOpenIdBlockedHosts([entraHost]);
    try {
      const r = await verify();
      expect(r.code).toBe(1);
      expect(failing(r.checks)).toEqual(["node-discovery azure@pve1"]);
      expect(find(r.checks, "discovery", "azure", "pve1")!.ok).toBe(true);
      expect(find(r.checks, "node-discovery", "azure", "pve1")).toMatchObject({
        detail: "the node answered 500: Request failed: ureq request failed - io: Connection timed out (os error 110)",
        hint: `homelab reaches the issuer from here, but the Proxmox node does not: check the node's DNS, routes, firewall and proxy settings for ${l.entra.loginUrl}/${l.entra.tenantId}/v2.0/.well-known/openid-configuration (Proxmox fetches it at every login)`,
      });
      expect(find(r.checks, "authorize", "azure", "pve1")).toBeUndefined();
      const table = await run(["verify"]);
      expect(table.stdout).toMatch(/^node-discovery\s+azure@pve1\s+FAIL\s+the node answered 500: Request failed: ureq request failed - io: Connection timed out \(os error 110\)\n\s+hint: homelab reaches the issuer from here, but the Proxmox node does not/m);
    } finally {
      l.pve.get("pve1")!.setOpenIdBlockedHosts([]);
    }
    expect(failing((await verify()).checks)).toEqual([]);
  });

  it("an external issuer's error page before sign-in (redirect URI not registered, unknown client) fails authorize", async () => {
    issuer.redirects.clear();
    try {
      const r = await verify();
      expect(failing(r.checks)).toEqual(["authorize lab@pve1"]);
      expect(find(r.checks, "authorize", "lab", "pve1")).toMatchObject({
        detail: "the identity provider shows an error before sign-in (HTTP 400): Sign in to lab We are sorry... Invalid parameter: redirect_uri",
        hint: `check that client proxmox exists at the identity provider and has ${l.pve.get("pve1")!.url} as a redirect URI`,
      });
    } finally {
      issuer.redirects.add(l.pve.get("pve1")!.url);
    }
    await admins.get("pve1")!.updateRealm("lab", { "client-id": "proxmox-typo" });
    const u = await verify();
    expect(failing(u.checks)).toEqual(["authorize lab@pve1", "client-id lab@pve1", "secret lab@pve1"]);
    expect(find(u.checks, "authorize", "lab", "pve1")!.detail).toBe("the identity provider shows an error before sign-in (HTTP 400): Sign in to lab We are sorry... Client not found.");
    await repair();
  });

  it("a user named in access deleted on one cluster fails users there", async () => {
    await admins.get("pve1")!.deleteUser("jane@contoso.com@azure");
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["users azure@pve1"]);
    expect(find(r.checks, "users", "azure", "pve1")!).toMatchObject({ detail: "missing on pve1: jane@contoso.com@azure", hint: expect.stringMatching(/^run homelab apply to create or enable them/) });
    await repair();
  });

  it("a client-id that is not the app's fails client-id (and the token request with it)", async () => {
    const other = "11111111-2222-4333-8444-555555555555";
    await admins.get("pve1")!.updateRealm("azure", { "client-id": other });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["authorize azure@pve1", "client-id azure@pve1", "secret azure@pve1"]);
    expect(find(r.checks, "authorize", "azure", "pve1")).toMatchObject({
      detail: expect.stringMatching(new RegExp(`^the identity provider shows an error before sign-in: AADSTS700016: Application with identifier '${other}' was not found in the directory`)),
      hint: `no app with client id ${other} in the tenant: the realm's client-id is wrong or the app was deleted; run homelab apply`,
    });
    const c = find(r.checks, "client-id", "azure", "pve1")!;
    expect(c.detail).toBe(`the realm's client-id is ${other}, the app's is ${homelabApps(l.entra)[0]!.appId}`);
    expect(c.hint).toMatch(/^run homelab apply to set it: it must be the client id of the app tagged homelab:realm=azure$/);
    expect(find(r.checks, "secret", "azure", "pve1")!.hint).toMatch(/no app with client id 1111/);
    await repair();
  });

  it("an external issuer whose discovery document names another issuer fails discovery, with the exact value to set", async () => {
    issuer.setIssuer("https://auth.example.net/application/o/proxmox/");
    try {
      const r = await verify();
      expect(r.code).toBe(1);
      expect(failing(r.checks)).toEqual(["discovery lab@pve1", "node-discovery lab@pve1"]);
      const hint = "set realms.lab.issuerUrl to exactly https://auth.example.net/application/o/proxmox/: OpenID Connect requires the configured issuer to equal the document's, or Proxmox refuses every login";
      expect(find(r.checks, "discovery", "lab", "pve1")!.hint).toBe(hint);
      expect(find(r.checks, "node-discovery", "lab", "pve1")).toMatchObject({ detail: `the node answered 500: Validation error: unexpected issuer URI \`https://auth.example.net/application/o/proxmox/\` (expected \`${issuer.base}/realms/lab\`)`, hint });
    } finally {
      issuer.setIssuer(undefined);
    }
    // A trailing slash alone is a difference too: Proxmox compares the issuer as written, and so does verify.
    issuer.setIssuer(`${issuer.base}/realms/lab/`);
    try {
      const t = await verify();
      expect(t.code).toBe(1);
      expect(failing(t.checks)).toEqual(["discovery lab@pve1", "node-discovery lab@pve1"]);
      expect(find(t.checks, "node-discovery", "lab", "pve1")!.hint).toBe(`set realms.lab.issuerUrl to exactly ${issuer.base}/realms/lab/: OpenID Connect requires the configured issuer to equal the document's, or Proxmox refuses every login`);
    } finally {
      issuer.setIssuer(undefined);
    }
  });

  it("an external realm whose stored key differs from clientKey fails secret; an unreachable issuer fails discovery", async () => {
    const r = await verify({ LAB_KEY: "a-newer-key-from-the-issuer" });
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["secret lab@pve1"]);
    expect(find(r.checks, "secret", "lab", "pve1")!).toMatchObject({ detail: "the realm's client key differs from ${env:LAB_KEY}" });
    expect(r.stdout).not.toContain("a-newer-key-from-the-issuer");

    await admins.get("pve1")!.updateRealm("lab", { "issuer-url": "http://127.0.0.1:9/realms/lab" });
    const u = await verify();
    expect(u.code).toBe(1);
    expect(failing(u.checks)).toEqual(["discovery lab@pve1", "issuer lab@pve1", "node-discovery lab@pve1"]);
    expect(find(u.checks, "discovery", "lab", "pve1")!.detail).toMatch(/^cannot fetch http:\/\/127\.0\.0\.1:9\/realms\/lab\/\.well-known\/openid-configuration: ECONNREFUSED/);
    expect(find(u.checks, "node-discovery", "lab", "pve1")).toMatchObject({
      detail: "the node answered 500: Request failed: ureq request failed - io: Connection refused (os error 111)",
      hint: "neither homelab nor the node reaches http://127.0.0.1:9/realms/lab/.well-known/openid-configuration: check the issuer URL and the network path to the issuer",
    });

    // An https issuer whose certificate the node does not trust (here: another simulated node's self-signed one).
    await admins.get("pve1")!.updateRealm("lab", { "issuer-url": `${l.pve.get("pve2")!.url}/realms/lab` });
    const t = await verify();
    expect(failing(t.checks)).toEqual(["discovery lab@pve1", "issuer lab@pve1", "node-discovery lab@pve1"]);
    expect(find(t.checks, "node-discovery", "lab", "pve1")).toMatchObject({
      detail: expect.stringMatching(/^the node answered 500: Request failed: ureq request failed - tls: certificate verify failed/),
      hint: expect.stringMatching(/^the node does not trust the issuer's TLS certificate: Proxmox uses the node's system trust store/),
    });
    await repair();
  });

  it("a realm without a client key fails (issue 14): the tenant realm and the external one, until apply sets them", async () => {
    await admins.get("pve1")!.updateRealm("lab", {}, { delete: ["client-key"] });
    await admins.get("pve2")!.updateRealm("azure", {}, { delete: ["client-key"] });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["client-key azure@pve2", "client-key lab@pve1", "secret azure@pve2", "secret lab@pve1"]);
    expect(find(r.checks, "client-key", "azure", "pve2")).toMatchObject({ detail: "the realm has no client key, so Entra ID refuses every sign-in through it", hint: expect.stringMatching(/run homelab apply/) });
    expect(find(r.checks, "client-key", "lab", "pve1")).toMatchObject({ detail: "the realm has no client key; the config gives ${env:LAB_KEY}" });
    await repair();
  });

  it("an external realm the config gives no key: fails when the issuer takes only client secrets, passes when it accepts public clients", async () => {
    l.write(readFileSync(l.file, "utf8").replace(/^version: 1\n[\s\S]*?realms:\n/, "realms:\n").replace('    clientKey: "${env:LAB_KEY}"\n', ""));
    await admins.get("pve1")!.updateRealm("lab", {}, { delete: ["client-key"] });
    try {
      const r = await verify();
      expect(failing(r.checks)).toEqual(["client-key lab@pve1"]);
      expect(find(r.checks, "client-key", "lab", "pve1")!.detail).toBe("the realm has no client key, but the issuer's token endpoint accepts only client_secret_basic, client_secret_post: every sign-in fails");
      issuer.setMethods(undefined); // OpenID Connect Discovery: absent means client_secret_basic
      expect(failing((await verify()).checks)).toEqual(["client-key lab@pve1"]);
      issuer.setMethods(["none"]);
      const ok = await verify();
      expect(failing(ok.checks)).toEqual([]);
      expect(find(ok.checks, "client-key", "lab", "pve1")!.detail).toBe("no client key; the issuer accepts clients without one");
    } finally {
      issuer.setMethods(["client_secret_basic", "client_secret_post"]);
      l.write(readFileSync(l.file, "utf8").replace(/^version: 1\n[\s\S]*?realms:\n/, "realms:\n").replace("    clientId: proxmox\n", '    clientId: proxmox\n    clientKey: "${env:LAB_KEY}"\n'));
      await repair();
    }
  });

  it("the external issuer's token endpoint: a key it refuses fails; a client not allowed the grant is a warning", async () => {
    await admins.get("pve1")!.updateRealm("lab", { "client-key": "not-the-issuers-key" });
    const wrong = await verify({ LAB_KEY: "not-the-issuers-key" });
    expect(failing(wrong.checks)).toEqual(["secret lab@pve1"]);
    expect(find(wrong.checks, "secret", "lab", "pve1")!.detail).toBe("the issuer refused the realm's client id and key (invalid_client)");
    expect(wrong.stdout).not.toContain("not-the-issuers-key");
    await repair();
    issuer.setGrant(false);
    try {
      const w = await verify();
      expect(w.code).toBe(0);
      expect(find(w.checks, "secret", "lab", "pve1")).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/not proven: the issuer answered unauthorized_client/) });
    } finally {
      issuer.setGrant(true);
    }
  });

  const automationGraph = () => {
    const tokens = createTokenSource({ tenantId: l.entra.tenantId, loginUrl: l.entra.loginUrl, graphUrl: l.entra.graphUrl, credentials: { clientId: l.entra.automation.clientId, clientSecret: Secret.fromValue(l.entra.automation.clientSecret, "test") } });
    return createGraphClient({ graphUrl: l.entra.graphUrl, tokens, tenant: "contoso" });
  };

  it("a mapped group whose assignment to the app was deleted by hand fails group-assignment (issue 9 failure 6)", async () => {
    const graph = automationGraph();
    const app = homelabApps(l.entra)[0]!;
    const sp = (await graph.findServicePrincipal(app.appId))!;
    const groupId = String((l.entra.state().groups as { id: string; displayName: string }[]).find((g) => g.displayName === "Proxmox Admins")!.id);
    const assignment = (await graph.listAppRoleAssignedTo(sp.id)).find((a) => a.principalId === groupId)!;
    expect(assignment).toBeDefined();
    await graph.removeAssignment(sp.id, assignment.id);

    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["group-assignment azure"]);
    const c = find(r.checks, "group-assignment", "azure")!;
    expect(c.detail).toBe("not assigned to the app: Proxmox Admins, so Entra ID leaves it out of the groups claim and its members get no rights through it");
    expect(c.hint).toMatch(/^run homelab apply to assign them/);
    const table = await run(["verify"]);
    expect(table.stdout).toMatch(/^group-assignment\s+azure\s+FAIL\s+not assigned to the app: Proxmox Admins/m);
    await repair();
  });

  it("the groups optional claim removed, then groupMembershipClaims None: group-claims fails; SecurityGroup is a warning (issue 9 failure 6)", async () => {
    const graph = automationGraph();
    const app = homelabApps(l.entra)[0]!;
    const full = (l.entra.state().applications as { id: string; optionalClaims: { idToken: { name: string }[] } }[]).find((a) => a.id === app.id)!;
    const idToken = full.optionalClaims.idToken.filter((x) => x.name !== "groups");
    expect(idToken.map((x) => x.name)).toEqual(["upn"]);
    await graph.updateApplication(app.id, { optionalClaims: { ...full.optionalClaims, idToken } as never });

    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["group-claims azure"]);
    expect(find(r.checks, "group-claims", "azure")!).toMatchObject({ detail: "the app's ID token has no groups optional claim", hint: expect.stringMatching(/^run homelab apply to restore them/) });

    await graph.updateApplication(app.id, { groupMembershipClaims: "None" });
    const none = await verify();
    expect(failing(none.checks)).toEqual(["group-claims azure"]);
    expect(find(none.checks, "group-claims", "azure")!.detail).toBe("the app's groupMembershipClaims is None, so ID tokens carry no groups; the app's ID token has no groups optional claim");
    await repair();

    await graph.updateApplication(app.id, { groupMembershipClaims: "SecurityGroup" });
    const all = await verify();
    expect(all.code).toBe(0);
    expect(find(all.checks, "group-claims", "azure")!).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/every group of the user, and none at all for a user in more than 200 groups/) });
    await repair();
  });

  it("a login URL whose discovery document names another issuer fails discovery with a hint, not a warning (issue 9 failure 7)", async () => {
    const proxy = await startMicrosoftIssuerProxy(l.entra.loginUrl);
    const original = readFileSync(l.file, "utf8");
    try {
      writeFileSync(l.file, original.replace(`loginUrl: "${l.entra.loginUrl}"`, `loginUrl: "${proxy.base}"`));
      const a = await run(["apply"]);
      expect(a.code, a.stderr).toBe(0);
      expect(realmOn(l.pve.get("pve1")!, "azure")!["issuer-url"]).toBe(`${proxy.base}/${l.entra.tenantId}/v2.0`);

      const r = await verify();
      expect(r.code).toBe(1);
      expect(failing(r.checks)).toEqual(["discovery azure@pve1", "discovery azure@pve2", "node-discovery azure@pve1", "node-discovery azure@pve2"]);
      const d = find(r.checks, "discovery", "azure", "pve1")!;
      expect(d.detail).toBe(`${proxy.base}/${l.entra.tenantId}/v2.0/.well-known/openid-configuration names the issuer https://login.microsoftonline.com/${l.entra.tenantId}/v2.0, the realm has ${proxy.base}/${l.entra.tenantId}/v2.0`);
      expect(d.hint).toMatch(/Proxmox refuses every login whose issuer differs from the realm's: set tenants\.contoso\.cloud\.loginUrl to https:\/\/login\.microsoftonline\.com /);
      const table = await run(["verify"]);
      expect(table.stdout).toMatch(/^discovery\s+azure@pve1\s+FAIL\s/m);
    } finally {
      writeFileSync(l.file, original);
      await new Promise((r) => proxy.server.close(r));
    }
    await repair();
  });

  it("homelab's own credentials refused: exit 4, no table", async () => {
    const r = await run(["verify"], { CONTOSO_SECRET: "wrong-automation-secret" });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/Entra ID refused the credentials/);
    const p = await run(["verify"], { PVE_TOKEN_PVE1: "00000000-0000-4000-8000-000000000000" });
    expect(p.code).toBe(4);
  });

  it("a missing secret variable is exit 3", async () => {
    const r = await homelab(["-f", l.file, "verify"], { env: { ...l.env, LAB_KEY: undefined } });
    expect(r.code).toBe(3);
  });
});
