import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRAPH_CLI_APP_ID, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

async function post(sim: EntraSim, action: "token" | "devicecode", form: Record<string, string>) {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/${action}`, { method: "POST", body: new URLSearchParams(form) });
  return { status: r.status, body: (await r.json()) as any };
}

const SCOPES = "https://graph.microsoft.com/Application.ReadWrite.All openid profile offline_access";
const PUBLIC_APP_ID = "0bb00000-0000-4000-8000-0000000000a1";
const CONFIDENTIAL_APP_ID = "0cc00000-0000-4000-8000-0000000000a1";

function decodeJwtPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("entra sim: device-code flow over raw HTTP (1.3, 2.8)", () => {
  let sim: EntraSim;
  let now = new Date("2026-02-01T00:00:00Z");
  beforeAll(async () => {
    sim = await startEntraSim({
      now: () => now,
      devicePendingPolls: 2,
      deviceUser: "root@contoso.test",
      fixture: {
        users: [
          { displayName: "Someone", userPrincipalName: "someone@contoso.test" },
          { id: "0aa00000-0000-4000-8000-000000000001", displayName: "Root Admin", userPrincipalName: "root@contoso.test" },
        ],
        applications: [
          { appId: PUBLIC_APP_ID, displayName: "homelab bootstrap", isFallbackPublicClient: true },
          { appId: CONFIDENTIAL_APP_ID, displayName: "confidential" },
        ],
      },
    });
  });
  afterAll(() => sim.close());

  it("devicecode response fields; no verification_uri_complete", async () => {
    const r = await post(sim, "devicecode", { client_id: GRAPH_CLI_APP_ID, scope: SCOPES });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(["device_code", "expires_in", "interval", "message", "user_code", "verification_uri"]);
    expect(r.body.verification_uri).toBe("https://microsoft.com/devicelogin");
    expect(r.body.interval).toBe(1);
    expect(r.body.expires_in).toBe(900);
    expect(r.body.message).toContain(r.body.user_code);
  });

  it.each(["device_code", "urn:ietf:params:oauth:grant-type:device_code"])(
    "grant_type=%s: authorization_pending for N polls, then tokens, id_token and client_info",
    async (grantType) => {
      const dc = (await post(sim, "devicecode", { client_id: PUBLIC_APP_ID, scope: SCOPES })).body;
      const poll = () => post(sim, "token", { client_id: PUBLIC_APP_ID, device_code: dc.device_code, grant_type: grantType, client_info: "1" });
      for (let i = 0; i < 2; i++) {
        const p = await poll();
        expect(p.status).toBe(400);
        expect(p.body.error).toBe("authorization_pending");
        expect(p.body.error_codes).toEqual([70016]);
      }
      const ok = await poll();
      expect(ok.status).toBe(200);
      expect(ok.body.token_type).toBe("Bearer");
      expect(ok.body.expires_in).toBe(3599);
      expect(ok.body.refresh_token).toBeTruthy();
      expect(ok.body.scope).toBe("https://graph.microsoft.com/Application.ReadWrite.All openid profile");
      const claims = decodeJwtPayload(ok.body.id_token);
      expect(claims).toMatchObject({
        aud: PUBLIC_APP_ID,
        iss: `https://login.microsoftonline.com/${sim.tenantId}/v2.0`,
        oid: "0aa00000-0000-4000-8000-000000000001",
        tid: sim.tenantId,
        preferred_username: "root@contoso.test",
        iat: Math.floor(now.getTime() / 1000),
      });
      expect(JSON.parse(Buffer.from(ok.body.client_info, "base64url").toString())).toEqual({
        uid: "0aa00000-0000-4000-8000-000000000001",
        utid: sim.tenantId,
      });
      // The delegated token reads /me as the signed-in user.
      const me = await fetch(`${sim.graphUrl}/v1.0/me?$select=id,userPrincipalName`, { headers: { authorization: `Bearer ${ok.body.access_token}` } });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ id: "0aa00000-0000-4000-8000-000000000001", userPrincipalName: "root@contoso.test" });
      // The device code is single-use.
      const again = await poll();
      expect(again.status).toBe(400);
      expect(again.body.error).toBe("bad_verification_code");
    },
  );

  it("an expired device code: expired_token (on the simulator clock)", async () => {
    const dc = (await post(sim, "devicecode", { client_id: PUBLIC_APP_ID, scope: SCOPES })).body;
    now = new Date(now.getTime() + 901_000);
    const r = await post(sim, "token", { client_id: PUBLIC_APP_ID, device_code: dc.device_code, grant_type: "device_code" });
    now = new Date("2026-02-01T00:00:00Z");
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("expired_token");
  });

  it("a confidential app cannot use the device flow without a secret (7000218); unknown clients are 700016", async () => {
    const dc = (await post(sim, "devicecode", { client_id: CONFIDENTIAL_APP_ID, scope: SCOPES })).body;
    const r = await post(sim, "token", { client_id: CONFIDENTIAL_APP_ID, device_code: dc.device_code, grant_type: "device_code" });
    expect(r.status).toBe(401);
    expect(r.body.error_codes).toEqual([7000218]);
    const unknown = await post(sim, "devicecode", { client_id: "12345678-0000-4000-8000-000000000000", scope: SCOPES });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe("unauthorized_client");
    expect(unknown.body.error_codes).toEqual([700016]);
  });

  it("refresh_token grant rotates the refresh token; a used one is invalid_grant", async () => {
    const sim2 = await startEntraSim({ devicePendingPolls: 0 });
    try {
      const dc = (await post(sim2, "devicecode", { client_id: GRAPH_CLI_APP_ID, scope: SCOPES })).body;
      const first = (await post(sim2, "token", { client_id: GRAPH_CLI_APP_ID, device_code: dc.device_code, grant_type: "device_code" })).body;
      const refreshed = await post(sim2, "token", { client_id: GRAPH_CLI_APP_ID, refresh_token: first.refresh_token, grant_type: "refresh_token" });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.refresh_token).not.toBe(first.refresh_token);
      expect(refreshed.body.access_token).not.toBe(first.access_token);
      const reused = await post(sim2, "token", { client_id: GRAPH_CLI_APP_ID, refresh_token: first.refresh_token, grant_type: "refresh_token" });
      expect(reused.status).toBe(400);
      expect(reused.body.error).toBe("invalid_grant");
    } finally {
      await sim2.close();
    }
  });
});

describe("entra sim: state inspector", () => {
  it("returns deep copies: mutating them changes nothing", async () => {
    const sim = await startEntraSim({ fixture: { groups: [{ displayName: "G" }] } });
    try {
      const s = sim.state();
      (s.groups[0] as { displayName: string }).displayName = "changed";
      s.applications.length = 0;
      expect((sim.state().groups[0] as { displayName: string }).displayName).toBe("G");
      expect(sim.state().applications.length).toBe(1);
      expect((sim.state().servicePrincipals as Array<{ appId: string }>).map((x) => x.appId).sort()).toEqual(
        ["00000003-0000-0000-c000-000000000000", sim.automation.clientId].sort(),
      );
    } finally {
      await sim.close();
    }
  });
});
