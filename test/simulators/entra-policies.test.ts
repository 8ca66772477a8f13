import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_AUTOMATION_PERMISSIONS, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

/**
 * Simulator contract: app management policies (spec 6, errata 9.6; Graph docs tenantAppManagementPolicy,
 * appManagementPolicy, passwordCredentialConfiguration). Reads need Policy.Read.All; addPassword is refused with
 * Graph's codes, naming the policy that governs the app.
 */

async function token(sim: EntraSim, clientId = sim.automation.clientId, secret = sim.automation.clientSecret) {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: clientId, client_secret: secret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  return (await r.json()) as { access_token: string };
}

function client(sim: EntraSim, tok: string) {
  return async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${sim.graphUrl}/v1.0${path}`, {
      method,
      headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as any) : undefined };
  };
}

const DAY = 86_400_000;
const ZERO = "00000000-0000-0000-0000-000000000000";

describe("entra sim: app management policies", () => {
  let sim: EntraSim;
  let g: ReturnType<typeof client>;
  let bind: string[];
  const now = new Date("2026-06-01T00:00:00Z");
  const until = (days: number) => new Date(now.getTime() + days * DAY).toISOString();
  const newApp = async (displayName: string) => (await g("POST", "/applications", { displayName, "owners@odata.bind": bind })).body as { id: string; appId: string };
  const addPassword = (id: string, days?: number) => g("POST", `/applications/${id}/addPassword`, { passwordCredential: days === undefined ? {} : { endDateTime: until(days) } });

  beforeAll(async () => {
    // The automation app as `homelab bootstrap` makes it: with Policy.Read.All.
    sim = await startEntraSim({ now: () => now, automation: { permissions: [...DEFAULT_AUTOMATION_PERMISSIONS, "Policy.Read.All"] } });
    g = client(sim, (await token(sim)).access_token);
    bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
  });
  afterAll(() => sim.close());

  it("the tenant default always exists: disabled, no restrictions, the zero GUID (Graph's documented example)", async () => {
    const r = await g("GET", "/policies/defaultAppManagementPolicy");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: ZERO,
      displayName: "Default app management tenant policy",
      isEnabled: false,
      applicationRestrictions: { passwordCredentials: [], keyCredentials: [] },
    });
    expect(r.body["@odata.context"]).toMatch(/\$metadata#policies\/defaultAppManagementPolicy\/\$entity$/);
    const app = await newApp("No policy");
    expect((await g("GET", `/applications/${app.id}/appManagementPolicies`)).body.value).toEqual([]);
    // Without a policy, a two-year default secret is fine.
    expect((await addPassword(app.id)).status).toBe(200);
  });

  it("a 90-day tenant default: shown as Graph shapes it, and addPassword beyond it is 400 naming the policy, not the limit", async () => {
    sim.setKnobs({ appManagementPolicies: { tenantDefault: { passwordLifetime: "P90D" } } });
    try {
      const r = await g("GET", "/policies/defaultAppManagementPolicy");
      expect(r.body.isEnabled).toBe(true);
      expect(r.body.applicationRestrictions.passwordCredentials).toEqual([
        { restrictionType: "passwordLifetime", maxLifetime: "P90D", restrictForAppsCreatedAfterDateTime: null, state: "enabled" },
      ]);
      const app = await newApp("Capped");
      const tooLong = await addPassword(app.id, 91);
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.error.code).toBe("CredentialInvalidLifetimeAsPerAppPolicy");
      expect(tooLong.body.error.message).toBe(`Credential lifetime exceeds the max value allowed as per assigned policy '${ZERO}'.`);
      expect(tooLong.body.error.innerError["request-id"]).toBeTruthy();
      expect((await addPassword(app.id)).status).toBe(400); // the two-year default as well
      expect((await addPassword(app.id, 90)).status).toBe(200); // exactly the limit
      expect((await g("GET", `/applications/${app.id}`)).body.passwordCredentials).toHaveLength(1);
    } finally {
      sim.setKnobs({ appManagementPolicies: undefined });
    }
  });

  it("passwordAddition blocked: 400 CredentialTypeNotAllowedAsPerAppPolicy whatever the lifetime", async () => {
    sim.setKnobs({ appManagementPolicies: { tenantDefault: { passwordAddition: true } } });
    try {
      const app = await newApp("Blocked");
      const r = await addPassword(app.id, 1);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("CredentialTypeNotAllowedAsPerAppPolicy");
      expect(r.body.error.message).toContain(`'${ZERO}'`);
      expect((await g("GET", `/applications/${app.id}`)).body.passwordCredentials).toEqual([]);
    } finally {
      sim.setKnobs({ appManagementPolicies: undefined });
    }
  });

  it("restrictForAppsCreatedAfterDateTime: only apps created on or after it are restricted", async () => {
    const old = await newApp("Created before");
    sim.setKnobs({ appManagementPolicies: { tenantDefault: { passwordLifetime: "P30D", restrictForAppsCreatedAfterDateTime: new Date(now.getTime() + 1000).toISOString() } } });
    try {
      expect((await addPassword(old.id, 365)).status).toBe(200);
      // The same policy with a date in the past covers the same app.
      sim.setKnobs({ appManagementPolicies: { tenantDefault: { passwordLifetime: "P30D", restrictForAppsCreatedAfterDateTime: "2020-01-01T00:00:00Z" } } });
      expect((await addPassword(old.id, 365)).status).toBe(400);
      const shown = (await g("GET", "/policies/defaultAppManagementPolicy")).body.applicationRestrictions.passwordCredentials[0];
      expect(shown.restrictForAppsCreatedAfterDateTime).toBe("2020-01-01T00:00:00Z");
    } finally {
      sim.setKnobs({ appManagementPolicies: undefined });
    }
  });

  it("an app-specific policy: listed, applied to its app only, and it wins over the tenant default per restriction", async () => {
    const strict = await newApp("Strict app");
    const exempt = await newApp("Exempt app");
    const other = await newApp("Other app");
    sim.setKnobs({
      appManagementPolicies: {
        tenantDefault: { passwordLifetime: "P180D" },
        policies: [
          { displayName: "Thirty days", passwordLifetime: "P30D", appliesTo: [strict.appId] },
          // Defines only passwordAddition (disabled): the lifetime still falls back to the tenant default.
          { displayName: "Secrets allowed", passwordAddition: false, appliesTo: ["Exempt app"] },
        ],
      },
    });
    try {
      const list = await g("GET", "/policies/appManagementPolicies");
      expect(list.status).toBe(200);
      expect(list.body.value.map((p: any) => p.displayName)).toEqual(["Thirty days", "Secrets allowed"]);
      const applied = await g("GET", `/applications/${strict.id}/appManagementPolicies`);
      expect(applied.body.value).toHaveLength(1);
      expect(applied.body.value[0]).toMatchObject({ displayName: "Thirty days", isEnabled: true, restrictions: { passwordCredentials: [{ restrictionType: "passwordLifetime", maxLifetime: "P30D", state: "enabled" }] } });
      const id = applied.body.value[0].id as string;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect((await g("GET", `/policies/appManagementPolicies/${id}`)).body.displayName).toBe("Thirty days");
      expect((await g("GET", `/applications/${other.id}/appManagementPolicies`)).body.value).toEqual([]);

      const refused = await addPassword(strict.id, 60);
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toContain(`'${id}'`); // the app's own policy, not the default
      expect((await addPassword(strict.id, 30)).status).toBe(200);
      expect((await addPassword(other.id, 60)).status).toBe(200); // the 180-day default
      const fallback = await addPassword(exempt.id, 200);
      expect(fallback.status).toBe(400);
      expect(fallback.body.error.message).toContain(`'${ZERO}'`);
    } finally {
      sim.setKnobs({ appManagementPolicies: undefined });
    }
  });

  it("an app policy disabling passwordAddition exempts its app from a tenant-wide block; a disabled policy is ignored", async () => {
    const exempt = await newApp("Allowed");
    const ignored = await newApp("Ignored policy");
    sim.setKnobs({
      appManagementPolicies: {
        tenantDefault: { passwordAddition: true },
        policies: [
          { displayName: "Allow secrets", passwordAddition: false, appliesTo: [exempt.id] },
          { displayName: "Switched off", isEnabled: false, passwordAddition: false, appliesTo: [ignored.id] },
        ],
      },
    });
    try {
      expect((await addPassword(exempt.id, 30)).status).toBe(200);
      expect((await addPassword(ignored.id, 30)).body.error.code).toBe("CredentialTypeNotAllowedAsPerAppPolicy");
    } finally {
      sim.setKnobs({ appManagementPolicies: undefined });
    }
  });

  it("the older secretPolicy knob is the tenant default's passwordLifetime", async () => {
    sim.setKnobs({ secretPolicy: { maxLifetimeDays: 45 } });
    try {
      const r = await g("GET", "/policies/defaultAppManagementPolicy");
      expect(r.body.isEnabled).toBe(true);
      expect(r.body.applicationRestrictions.passwordCredentials[0]).toMatchObject({ restrictionType: "passwordLifetime", maxLifetime: "P45D" });
      const app = await newApp("Legacy");
      expect((await addPassword(app.id, 46)).body.error.code).toBe("CredentialInvalidLifetimeAsPerAppPolicy");
    } finally {
      sim.setKnobs({ secretPolicy: undefined });
    }
  });

  it("reading policies needs Policy.Read.All (403 Authorization_RequestDenied without it); enforcement does not", async () => {
    const bare = await startEntraSim({
      now: () => now,
      automation: { permissions: ["Application.ReadWrite.OwnedBy", "Application.Read.All"] },
      appManagementPolicies: { tenantDefault: { passwordLifetime: "P90D" } },
    });
    try {
      const b = client(bare, (await token(bare)).access_token);
      const def = await b("GET", "/policies/defaultAppManagementPolicy");
      expect(def.status).toBe(403);
      expect(def.body.error.code).toBe("Authorization_RequestDenied");
      expect((await b("GET", "/policies/appManagementPolicies")).status).toBe(403);
      const app = (await b("POST", "/applications", { displayName: "Bare", "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${bare.automation.servicePrincipalId}`] })).body;
      expect((await b("GET", `/applications/${app.id}/appManagementPolicies`)).status).toBe(403);
      const refused = await b("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { endDateTime: until(180) } });
      expect(refused.body.error.code).toBe("CredentialInvalidLifetimeAsPerAppPolicy");
    } finally {
      await bare.close();
    }
  });

  it("policies are read-only here; other /policies segments are unknown", async () => {
    expect((await g("PATCH", "/policies/defaultAppManagementPolicy", { isEnabled: true })).status).toBe(405);
    expect((await g("GET", "/policies/nosuch")).status).toBe(400);
  });
});
