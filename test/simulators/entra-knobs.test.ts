import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

async function token(sim: EntraSim, clientId = sim.automation.clientId, secret = sim.automation.clientSecret) {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: clientId, client_secret: secret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  return { status: r.status, body: (await r.json()) as any };
}

function client(sim: EntraSim, tok: string) {
  return async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${sim.graphUrl}/v1.0${path}`, {
      method,
      headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? (JSON.parse(text) as any) : undefined };
  };
}

describe("entra sim knobs", () => {
  let sim: EntraSim;
  let g: ReturnType<typeof client>;
  let bind: string[];
  let now = new Date("2026-06-01T00:00:00Z");

  beforeAll(async () => {
    sim = await startEntraSim({ now: () => now, seed: 42 });
    g = client(sim, (await token(sim)).body.access_token);
    bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
  });
  afterAll(() => sim.close());

  it("consistencyDelay: a new app is 404 by id and absent from lists for its next N reads (4.4)", async () => {
    sim.setKnobs({ consistencyDelay: 2 });
    const created = await g("POST", "/applications", { displayName: "Lagging", tags: ["lag"], "owners@odata.bind": bind });
    expect(created.status).toBe(201);
    expect(created.body.id).toBeTruthy();
    const id = created.body.id;
    const first = await g("GET", `/applications/${id}`);
    expect(first.status).toBe(404);
    expect(first.body.error.code).toBe("Request_ResourceNotFound");
    const list = await g("GET", `/applications?$filter=${encodeURIComponent("tags/any(t:t eq 'lag')")}`);
    expect(list.body.value).toEqual([]);
    const third = await g("GET", `/applications/${id}`);
    expect(third.status).toBe(200);
    expect(third.body.displayName).toBe("Lagging");
    sim.setKnobs({ consistencyDelay: 0 });
  });

  it("consistencyDelay: PATCH and child POSTs on a replicating object are 404; SP creation sees the lag (3.8)", async () => {
    sim.setKnobs({ consistencyDelay: 1 });
    const app = (await g("POST", "/applications", { displayName: "Lag 2", "owners@odata.bind": bind })).body;
    const sp1 = await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind });
    expect(sp1.status).toBe(403);
    expect(sp1.body.error.message).toMatch(/backing application/);
    const sp2 = await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind });
    expect(sp2.status).toBe(201);
    const app2 = (await g("POST", "/applications", { displayName: "Lag 3", "owners@odata.bind": bind })).body;
    expect((await g("PATCH", `/applications/${app2.id}`, { notes: "x" })).status).toBe(404);
    expect((await g("PATCH", `/applications/${app2.id}`, { notes: "x" })).status).toBe(204);
    sim.setKnobs({ consistencyDelay: 0 });
  });

  it("credentialDelay: a new secret is missing from passwordCredentials for N reads (3.7)", async () => {
    const app = (await g("POST", "/applications", { displayName: "Creds", "owners@odata.bind": bind })).body;
    sim.setKnobs({ credentialDelay: 1 });
    const pw = (await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "x" } })).body;
    expect((await g("GET", `/applications/${app.id}`)).body.passwordCredentials).toEqual([]);
    expect((await g("GET", `/applications/${app.id}`)).body.passwordCredentials.map((c: any) => c.keyId)).toEqual([pw.keyId]);
    sim.setKnobs({ credentialDelay: 0 });
  });

  it("secretActivationDelay: a brand-new secret is refused by its first N token requests (1.1)", async () => {
    const app = (await g("POST", "/applications", { displayName: "Activation", "owners@odata.bind": bind })).body;
    await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind });
    sim.setKnobs({ secretActivationDelay: 1 });
    const pw = (await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: {} })).body;
    sim.setKnobs({ secretActivationDelay: 0 });
    const first = await token(sim, app.appId, pw.secretText);
    expect(first.status).toBe(401);
    expect(first.body.error_codes).toEqual([7000215]);
    expect((await token(sim, app.appId, pw.secretText)).status).toBe(200);
  });

  it("throttle every 2nd request: 429 TooManyRequests with Retry-After (4.3, errata 9.7)", async () => {
    sim.setKnobs({ throttle: { every: 2, retryAfterSeconds: 7 } });
    const statuses: number[] = [];
    let throttled: Awaited<ReturnType<typeof g>> | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await g("GET", "/applications?$top=1");
      statuses.push(r.status);
      if (r.status === 429) throttled = r;
    }
    sim.setKnobs({ throttle: undefined });
    expect(statuses).toEqual([200, 429, 200, 429]);
    expect(throttled?.headers.get("retry-after")).toBe("7");
    expect(throttled?.body.error.code).toBe("TooManyRequests");
    expect(throttled?.body.error.innerError["request-id"]).toBeTruthy();
    expect((await g("GET", "/applications?$top=1")).status).toBe(200);
  });

  it("throttle the next N writes only, reads pass (4.3)", async () => {
    sim.setKnobs({ throttle: { count: 1, methods: ["POST", "PATCH", "DELETE"] } });
    expect((await g("GET", "/applications?$top=1")).status).toBe(200);
    const w1 = await g("POST", "/applications", { displayName: "t1", "owners@odata.bind": bind });
    expect(w1.status).toBe(429);
    expect(w1.headers.get("retry-after")).toBe("1");
    expect((await g("POST", "/applications", { displayName: "t2", "owners@odata.bind": bind })).status).toBe(201);
    // The throttled create left nothing behind.
    expect((await g("GET", `/applications?$filter=${encodeURIComponent("displayName eq 't1'")}`)).body.value).toEqual([]);
    sim.setKnobs({ throttle: undefined });
  });

  it("throttle by rate is deterministic for a seed", async () => {
    const run = async () => {
      const s = await startEntraSim({ seed: 7, throttle: { rate: 0.5 } });
      try {
        const tok = (await token(s)).body.access_token;
        const out: number[] = [];
        for (let i = 0; i < 12; i++)
          out.push((await fetch(`${s.graphUrl}/v1.0/applications?$top=1`, { headers: { authorization: `Bearer ${tok}` } })).status);
        return out;
      } finally {
        await s.close();
      }
    };
    const a = await run();
    expect(a).toEqual(await run());
    expect(a).toContain(429);
    expect(a).toContain(200);
  });

  it("faults: 503 serviceNotAvailable without Retry-After (errata 9.7), or 500", async () => {
    sim.setKnobs({ faults: { rate: 1, count: 1 } });
    const r = await g("GET", "/applications?$top=1");
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("serviceNotAvailable");
    expect(r.headers.get("retry-after")).toBeNull();
    expect((await g("GET", "/applications?$top=1")).status).toBe(200);
    sim.setKnobs({ faults: { rate: 1, status: 500, count: 1 } });
    const r500 = await g("GET", "/applications?$top=1");
    expect(r500.status).toBe(500);
    expect(r500.body.error.code).toBe("generalException");
    sim.setKnobs({ faults: undefined });
    expect(sim.requestLog.filter((l) => l.status >= 500).map((l) => [l.api, l.method, l.path, l.status])).toEqual([
      ["graph", "GET", "/v1.0/applications", 503],
      ["graph", "GET", "/v1.0/applications", 500],
    ]);
  });

  it("secretPolicy: a lifetime beyond the cap is 400 CredentialInvalidLifetimeAsPerAppPolicy (errata 9.6)", async () => {
    const app = (await g("POST", "/applications", { displayName: "Policy", "owners@odata.bind": bind })).body;
    sim.setKnobs({ secretPolicy: { maxLifetimeDays: 180 } });
    const tooLong = await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { endDateTime: "2026-12-01T00:00:00Z" } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.code).toBe("CredentialInvalidLifetimeAsPerAppPolicy");
    // The default (two years) is beyond the cap as well.
    expect((await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: {} })).status).toBe(400);
    const ok = await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { endDateTime: "2026-11-28T00:00:00Z" } });
    expect(ok.status).toBe(200);
    sim.setKnobs({ secretPolicy: undefined });
    expect((await g("GET", `/applications/${app.id}`)).body.passwordCredentials).toHaveLength(1);
  });

  it("clock: createdDateTime and default secret dates follow the simulator clock; setClock expires secrets", async () => {
    const app = (await g("POST", "/applications", { displayName: "Clock", "owners@odata.bind": bind })).body;
    expect(app.createdDateTime).toBe("2026-06-01T00:00:00Z");
    await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind });
    const pw = (await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { endDateTime: "2026-07-01T00:00:00Z" } })).body;
    expect(pw.startDateTime).toBe("2026-06-01T00:00:00Z");
    expect(sim.checkClientSecret(app.appId, pw.secretText)).toBe(true);
    sim.setClock(() => new Date("2026-07-01T00:00:00Z"));
    try {
      expect(sim.checkClientSecret(app.appId, pw.secretText)).toBe(false);
      const r = await token(sim, app.appId, pw.secretText);
      expect(r.body.error_codes).toEqual([7000222]);
    } finally {
      sim.setClock(() => now);
    }
  });
});

describe("entra sim: conflicts knob (checklist 7, 3.5)", () => {
  it("the next PATCH answers 409; the retry succeeds; reads are unaffected", async () => {
    const sim = await startEntraSim({ conflicts: { count: 1 } });
    try {
      const g = client(sim, (await token(sim)).body.access_token);
      const bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
      const app = (await g("POST", "/applications", { displayName: "c", "owners@odata.bind": bind })).body;
      expect((await g("GET", `/applications/${app.id}`)).status).toBe(200);
      const first = await g("PATCH", `/applications/${app.id}`, { notes: "x" });
      expect(first.status).toBe(409);
      expect(first.body.error.innerError["request-id"]).toBeTruthy();
      expect((await g("PATCH", `/applications/${app.id}`, { notes: "x" })).status).toBe(204);
    } finally {
      await sim.close();
    }
  });
});
