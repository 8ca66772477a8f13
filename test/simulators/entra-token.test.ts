import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

const GRAPH_DEFAULT = "https://graph.microsoft.com/.default";

async function post(sim: EntraSim, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const r = await fetch(`${sim.loginUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8", ...headers },
    body: new URLSearchParams(form),
  });
  return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> };
}

function tokenRequest(sim: EntraSim, form: Record<string, string>, headers?: Record<string, string>) {
  return post(sim, `/${sim.tenantId}/oauth2/v2.0/token`, form, headers);
}

function cc(sim: EntraSim, clientId: string, secret: string, extra: Record<string, string> = {}) {
  return tokenRequest(sim, { client_id: clientId, client_secret: secret, scope: GRAPH_DEFAULT, grant_type: "client_credentials", ...extra });
}

async function graph(sim: EntraSim, token: string, method: string, path: string, body?: unknown) {
  const r = await fetch(`${sim.graphUrl}/v1.0${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}

function expectTokenError(body: Record<string, unknown>, error: string, code: number) {
  expect(body.error).toBe(error);
  expect(body.error_codes).toEqual([code]);
  expect(String(body.error_description)).toMatch(new RegExp(`^AADSTS${code}: .*\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`, "s"));
  expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  expect(body.trace_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(body.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
}

describe("entra sim: token endpoint, client credentials (1.1, 2.8, 4.2)", () => {
  let sim: EntraSim;
  beforeAll(async () => {
    sim = await startEntraSim({ fixture: { applications: [{ displayName: "no-sp app", appId: "11111111-2222-4333-8444-555555555555", passwordCredentials: [{ secretText: "nosp-secret-value" }] }] } });
  });
  afterAll(() => sim.close());

  it("issues an opaque bearer token for the seeded automation app, ignoring unknown params", async () => {
    const r = await cc(sim, sim.automation.clientId, sim.automation.clientSecret, {
      "x-client-SKU": "msal.js.node",
      "x-ms-lib-capability": "retry-after, h429",
      "client-request-id": "0b5b1c8e-1111-4222-8333-444444444444",
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.body.token_type).toBe("Bearer");
    expect(r.body.expires_in).toBe(3599);
    expect(r.body.ext_expires_in).toBe(3599);
    expect(typeof r.body.access_token).toBe("string");
    expect(String(r.body.access_token).length).toBeGreaterThan(40);
    expect(r.body).not.toHaveProperty("refresh_token");
    expect(r.body).not.toHaveProperty("id_token");
  });

  it("accepts the secret through HTTP Basic auth (RFC 6749 2.3.1)", async () => {
    const basic = Buffer.from(`${encodeURIComponent(sim.automation.clientId)}:${encodeURIComponent(sim.automation.clientSecret)}`).toString("base64");
    const r = await tokenRequest(sim, { scope: GRAPH_DEFAULT, grant_type: "client_credentials" }, { authorization: `Basic ${basic}` });
    expect(r.status).toBe(200);
  });

  it("wrong secret: 401 invalid_client AADSTS7000215, correlation id echoed", async () => {
    const corr = "7d4c2f0e-aaaa-4bbb-8ccc-dddddddddddd";
    const r = await tokenRequest(
      sim,
      { client_id: sim.automation.clientId, client_secret: "nope", scope: GRAPH_DEFAULT, grant_type: "client_credentials" },
      { "client-request-id": corr },
    );
    expect(r.status).toBe(401);
    expectTokenError(r.body, "invalid_client", 7000215);
    expect(r.body.correlation_id).toBe(corr);
  });

  it("unknown client: 400 unauthorized_client AADSTS700016", async () => {
    const r = await cc(sim, "99999999-9999-4999-8999-999999999999", "x");
    expect(r.status).toBe(400);
    expectTokenError(r.body, "unauthorized_client", 700016);
  });

  it("no secret: 401 invalid_client AADSTS7000218", async () => {
    const r = await tokenRequest(sim, { client_id: sim.automation.clientId, scope: GRAPH_DEFAULT, grant_type: "client_credentials" });
    expect(r.status).toBe(401);
    expectTokenError(r.body, "invalid_client", 7000218);
  });

  it.each([
    ["a delegated scope", "https://graph.microsoft.com/User.Read"],
    ["another resource", "https://management.azure.com/.default"],
  ])("invalid scope (%s): 400 invalid_scope AADSTS70011", async (_name, scope) => {
    const r = await tokenRequest(sim, { client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope, grant_type: "client_credentials" });
    expect(r.status).toBe(400);
    expectTokenError(r.body, "invalid_scope", 70011);
  });

  it("missing grant_type: AADSTS900144; unsupported grant type: AADSTS70003", async () => {
    const a = await tokenRequest(sim, { client_id: sim.automation.clientId });
    expect(a.status).toBe(400);
    expectTokenError(a.body, "invalid_request", 900144);
    const b = await tokenRequest(sim, { client_id: sim.automation.clientId, grant_type: "password" });
    expect(b.status).toBe(400);
    expectTokenError(b.body, "unsupported_grant_type", 70003);
  });

  it("unknown tenant: 400 AADSTS90002", async () => {
    const r = await post(sim, `/00000000-1111-4222-8333-444444444444/oauth2/v2.0/token`, {
      client_id: sim.automation.clientId,
      client_secret: sim.automation.clientSecret,
      scope: GRAPH_DEFAULT,
      grant_type: "client_credentials",
    });
    expect(r.status).toBe(400);
    expectTokenError(r.body, "invalid_request", 90002);
  });

  it("GET on the token endpoint is refused (AADSTS900561)", async () => {
    const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error_codes: number[] }).error_codes).toEqual([900561]);
  });

  it("a valid secret of an app without service principal: 401 AADSTS7000229 (errata 9.1)", async () => {
    const r = await cc(sim, "11111111-2222-4333-8444-555555555555", "nosp-secret-value");
    expect(r.status).toBe(401);
    expectTokenError(r.body, "invalid_client", 7000229);
    expect(String(r.body.error_description)).toContain(sim.tenantId);
    expect(sim.checkClientSecret("11111111-2222-4333-8444-555555555555", "nosp-secret-value")).toBe(false);
  });

  it("logs token requests as api 'token' without the query", async () => {
    sim.clearLog();
    await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token?client-request-id=abc`, {
      method: "POST",
      body: new URLSearchParams({ client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: GRAPH_DEFAULT, grant_type: "client_credentials" }),
    });
    expect(sim.requestLog).toEqual([{ api: "token", method: "POST", path: `/${sim.tenantId}/oauth2/v2.0/token`, status: 200 }]);
  });
});

describe("entra sim: secrets created through Graph, expiry and permissions in tokens", () => {
  let sim: EntraSim;
  let now = new Date("2026-01-10T12:00:00Z");
  beforeAll(async () => {
    sim = await startEntraSim({ now: () => now, automation: { clientId: "2b0c1111-2222-4333-8444-555555555555", clientSecret: "auto-secret" } });
  });
  afterAll(() => sim.close());

  it("addPassword secrets work once the app has an SP, until endDateTime on the simulator clock", async () => {
    const tok = String((await cc(sim, sim.automation.clientId, "auto-secret")).body.access_token);
    const app = await graph(sim, tok, "POST", "/applications", {
      displayName: "Proxmox VE (pve1)",
      "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`],
    });
    expect(app.status).toBe(201);
    const appId = String(app.body?.appId);
    const pw = await graph(sim, tok, "POST", `/applications/${app.body?.id}/addPassword`, {
      passwordCredential: { displayName: "pve1", endDateTime: "2026-03-01T00:00:00Z" },
    });
    expect(pw.status).toBe(200);
    const secret = String(pw.body?.secretText);

    // Errata 9.1: no service principal yet.
    const before = await cc(sim, appId, secret);
    expect(before.status).toBe(401);
    expect(before.body.error_codes).toEqual([7000229]);

    const sp = await graph(sim, tok, "POST", "/servicePrincipals", {
      appId,
      "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`],
    });
    expect(sp.status).toBe(201);
    expect(sim.checkClientSecret(appId, secret)).toBe(true);
    const ok = await cc(sim, appId, secret);
    expect(ok.status).toBe(200);

    now = new Date("2026-03-01T00:00:01Z");
    expect(sim.checkClientSecret(appId, secret)).toBe(false);
    const expired = await cc(sim, appId, secret);
    expect(expired.status).toBe(401);
    expectTokenError(expired.body, "invalid_client", 7000222);
    now = new Date("2026-01-10T12:00:00Z");
  });

  it("startDateTime in the future: not yet usable", async () => {
    const tok = String((await cc(sim, sim.automation.clientId, "auto-secret")).body.access_token);
    const app = await graph(sim, tok, "POST", "/applications", {
      displayName: "future",
      "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`],
    });
    await graph(sim, tok, "POST", "/servicePrincipals", {
      appId: app.body?.appId,
      "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`],
    });
    const pw = await graph(sim, tok, "POST", `/applications/${app.body?.id}/addPassword`, {
      passwordCredential: { startDateTime: "2026-02-01T00:00:00Z", endDateTime: "2026-06-01T00:00:00Z" },
    });
    expect(sim.checkClientSecret(String(app.body?.appId), String(pw.body?.secretText))).toBe(false);
    now = new Date("2026-02-01T00:00:00Z");
    expect(sim.checkClientSecret(String(app.body?.appId), String(pw.body?.secretText))).toBe(true);
    now = new Date("2026-01-10T12:00:00Z");
  });

  it("a removed secret stops working", async () => {
    const tok = String((await cc(sim, sim.automation.clientId, "auto-secret")).body.access_token);
    const app = await graph(sim, tok, "POST", "/applications", {
      displayName: "removal",
      "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`],
    });
    await graph(sim, tok, "POST", "/servicePrincipals", {
      appId: app.body?.appId,
      "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`],
    });
    const pw = await graph(sim, tok, "POST", `/applications/${app.body?.id}/addPassword`, { passwordCredential: { displayName: "x" } });
    expect((await cc(sim, String(app.body?.appId), String(pw.body?.secretText))).status).toBe(200);
    const rm = await graph(sim, tok, "POST", `/applications/${app.body?.id}/removePassword`, { keyId: pw.body?.keyId });
    expect(rm.status).toBe(204);
    const r = await cc(sim, String(app.body?.appId), String(pw.body?.secretText));
    expect(r.status).toBe(401);
    expect(r.body.error_codes).toEqual([7000215]);
  });

  it("Graph rejects a missing, unknown or expired bearer token with 401 InvalidAuthenticationToken", async () => {
    const none = await fetch(`${sim.graphUrl}/v1.0/applications`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as any).error.code).toBe("InvalidAuthenticationToken");
    const bogus = await graph(sim, "not-a-token", "GET", "/applications");
    expect(bogus.status).toBe(401);
    expect(bogus.body?.error.code).toBe("InvalidAuthenticationToken");
    const tok = String((await cc(sim, sim.automation.clientId, "auto-secret")).body.access_token);
    expect((await graph(sim, tok, "GET", "/applications?$top=1")).status).toBe(200);
    now = new Date(now.getTime() + 3600_000);
    const expired = await graph(sim, tok, "GET", "/applications?$top=1");
    expect(expired.status).toBe(401);
    expect(expired.body?.error.message).toBe("Lifetime validation failed, the token is expired.");
    now = new Date("2026-01-10T12:00:00Z");
  });
});

describe("entra sim: permissions carried by tokens (1.2)", () => {
  it("a token without User.Read.All gets 403 Authorization_RequestDenied on /users", async () => {
    const sim = await startEntraSim({ automation: { permissions: ["Application.ReadWrite.OwnedBy"] } });
    try {
      const tok = String((await cc(sim, sim.automation.clientId, sim.automation.clientSecret)).body.access_token);
      const r = await graph(sim, tok, "GET", "/users");
      expect(r.status).toBe(403);
      expect(r.body?.error.code).toBe("Authorization_RequestDenied");
      expect(r.body?.error.message).toBe("Insufficient privileges to complete the operation.");
      expect((await graph(sim, tok, "GET", "/applications")).status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});
