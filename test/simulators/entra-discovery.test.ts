import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

describe("entra sim: discovery endpoints (2.3, 2.8, 5.1)", () => {
  let sim: EntraSim;
  beforeAll(async () => {
    sim = await startEntraSim({ tenantId: "8F1C2D3E-0000-4000-8000-000000000abc" });
  });
  afterAll(() => sim.close());

  it("tenant id is normalised to lower case", () => {
    expect(sim.tenantId).toBe("8f1c2d3e-0000-4000-8000-000000000abc");
  });

  it("openid-configuration has the 5.1 shape with the GUID issuer at the simulator's login URL and simulator endpoints", async () => {
    const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("max-age=86400, private");
    const doc = (await r.json()) as Record<string, unknown>;
    const t = sim.tenantId;
    // Like Entra's own (login URL + tenant GUID + /v2.0): equal to the realm issuer-url homelab derives, as Proxmox requires.
    expect(doc.issuer).toBe(`${sim.loginUrl}/${t}/v2.0`);
    expect(doc.token_endpoint).toBe(`${sim.loginUrl}/${t}/oauth2/v2.0/token`);
    expect(doc.authorization_endpoint).toBe(`${sim.loginUrl}/${t}/oauth2/v2.0/authorize`);
    expect(doc.device_authorization_endpoint).toBe(`${sim.loginUrl}/${t}/oauth2/v2.0/devicecode`);
    expect(doc.end_session_endpoint).toBe(`${sim.loginUrl}/${t}/oauth2/v2.0/logout`);
    expect(doc.jwks_uri).toBe(`${sim.loginUrl}/${t}/discovery/v2.0/keys`);
    expect(doc.token_endpoint_auth_methods_supported).toEqual(["client_secret_post", "private_key_jwt", "client_secret_basic"]);
    expect(doc.response_types_supported).toEqual(["code", "id_token", "code id_token", "id_token token"]);
    expect(doc.response_modes_supported).toEqual(["query", "fragment", "form_post"]);
    expect(doc.scopes_supported).toEqual(["openid", "profile", "email", "offline_access"]);
    expect(doc.subject_types_supported).toEqual(["pairwise"]);
    expect(doc.id_token_signing_alg_values_supported).toEqual(["RS256"]);
    expect(doc.cloud_instance_name).toBe("microsoftonline.com");
    expect(doc.msgraph_host).toBe("graph.microsoft.com");
    expect(doc.request_uri_parameter_supported).toBe(false);
    expect(doc.claims_supported).toContain("preferred_username");
  });

  it("the domain alias serves the same document with the GUID issuer (5.1)", async () => {
    const r = await fetch(`${sim.loginUrl}/homelabsim.onmicrosoft.com/v2.0/.well-known/openid-configuration`);
    expect(((await r.json()) as { issuer: string }).issuer).toBe(`${sim.loginUrl}/${sim.tenantId}/v2.0`);
  });

  it("an unknown tenant is 400 AADSTS90002", async () => {
    const r = await fetch(`${sim.loginUrl}/00000000-1111-4222-8333-444444444444/v2.0/.well-known/openid-configuration`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error_codes: number[] }).error_codes).toEqual([90002]);
  });

  it("instance discovery and keys", async () => {
    const auth = encodeURIComponent(`https://login.microsoftonline.com/${sim.tenantId}/oauth2/v2.0/authorize`);
    const r = await fetch(`${sim.loginUrl}/common/discovery/instance?api-version=1.1&authorization_endpoint=${auth}`);
    const doc = (await r.json()) as any;
    expect(doc.tenant_discovery_endpoint).toBe(`${sim.loginUrl}/${sim.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(doc["api-version"]).toBe("1.1");
    expect(doc.metadata[0].aliases).toContain("login.microsoftonline.com");
  });

  it("jwks_uri publishes one RSA signing key with kid = x5t, its certificate, and the tenant's issuer", async () => {
    const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/discovery/v2.0/keys`);
    expect(r.status).toBe(200);
    const { keys } = (await r.json()) as { keys: Array<Record<string, unknown>> };
    expect(keys).toHaveLength(1);
    const k = keys[0]!;
    expect(k).toMatchObject({ kty: "RSA", use: "sig", e: "AQAB", issuer: `${sim.loginUrl}/${sim.tenantId}/v2.0` });
    expect(k.kid).toBe(k.x5t);
    const der = Buffer.from(String((k.x5c as string[])[0]), "base64");
    expect(createHash("sha1").update(der).digest("base64url")).toBe(k.kid);
    expect(Buffer.from(String(k.n), "base64url").length).toBe(256);
    // The same key on every read, and from the domain alias.
    const again = (await (await fetch(`${sim.loginUrl}/homelabsim.onmicrosoft.com/discovery/v2.0/keys`)).json()) as { keys: unknown[] };
    expect(again.keys).toEqual(keys);
    const unknown = await fetch(`${sim.loginUrl}/00000000-1111-4222-8333-444444444444/discovery/v2.0/keys`);
    expect(unknown.status).toBe(400);
  });

  it("userinfo_endpoint is the simulator's Graph /oidc/userinfo, which refuses a request without a user token", async () => {
    const doc = (await (await fetch(`${sim.loginUrl}/${sim.tenantId}/v2.0/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string };
    expect(doc.userinfo_endpoint).toBe(`${sim.graphUrl}/oidc/userinfo`);
    expect((await fetch(doc.userinfo_endpoint)).status).toBe(401);
    const t = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
      method: "POST",
      body: new URLSearchParams({ client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
    });
    const { access_token } = (await t.json()) as { access_token: string };
    // An app-only token has no user: Graph refuses it.
    expect((await fetch(doc.userinfo_endpoint, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(403);
  });
});
