import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { realmOn, type Lab } from "../helpers/lab.js";
import { failing, find, useVerifyLab, type Issuer } from "../helpers/verify-lab.js";

/**
 * `homelab verify` (2 of 2; see verify.test.ts): issuers, discovery and the node's view, and the external issuer's
 * realm. The realm's issuer-url against the discovery document (from here and from the Proxmox node), a node that
 * cannot reach the issuer or does not trust it, the identity provider's error page before sign-in, a login URL that
 * names another issuer, realms without a client key (issue 14), and the external issuer's token endpoint.
 */

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

describe("homelab verify against both simulators: issuers, discovery, the node and the external realm", () => {
  const v = useVerifyLab();
  const { admins, run, verify, repair } = v;
  let l: Lab;
  let issuer: Issuer;
  beforeAll(() => {
    ({ l, issuer } = v);
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
});
