import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

/**
 * The fault knob's `landed` share (issue 9 failure 1): a 5xx that hits after the request was carried out, as a
 * gateway timeout after the write would (spec 3.3 "a timeout may have created the object"). By default a fault
 * refuses the request before anything happens.
 */

async function token(sim: EntraSim): Promise<string> {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  return ((await r.json()) as { access_token: string }).access_token;
}

describe("entra sim: faults that land", () => {
  let sim: EntraSim;
  let g: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any; date: string | null }>;
  let bind: string[];
  const tagged = (tag: string) => (sim.state().applications as Array<{ tags?: string[] }>).filter((a) => a.tags?.includes(tag));

  beforeAll(async () => {
    sim = await startEntraSim({ seed: 7 });
    const tok = await token(sim);
    g = async (method, path, body) => {
      const r = await fetch(`${sim.graphUrl}/v1.0${path}`, {
        method,
        headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : undefined, date: r.headers.get("date") };
    };
    bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
  });
  afterAll(() => sim.close());

  it("by default a 503 is answered before the request is carried out", async () => {
    sim.setKnobs({ faults: { count: 1, methods: ["POST"] } });
    const r = await g("POST", "/applications", { displayName: "Refused", tags: ["refused"], "owners@odata.bind": bind });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("serviceNotAvailable");
    expect(tagged("refused")).toHaveLength(0);
  });

  it("landed: 1 carries the request out, then answers 503 (with the Date header) instead of its response", async () => {
    sim.setKnobs({ faults: { count: 1, methods: ["POST"], landed: 1 } });
    const r = await g("POST", "/applications", { displayName: "Landed", tags: ["landed"], "owners@odata.bind": bind });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("serviceNotAvailable");
    expect(r.body.id).toBeUndefined();
    expect(r.date).not.toBeNull();
    expect(tagged("landed")).toHaveLength(1);
    // The budget is used up: the next POST is answered normally.
    const next = await g("POST", "/applications", { displayName: "Next", tags: ["next"], "owners@odata.bind": bind });
    expect(next.status).toBe(201);
  });

  it("a landed addPassword leaves a credential whose value the caller never saw", async () => {
    sim.setKnobs({ faults: undefined });
    const app = (await g("POST", "/applications", { displayName: "Pw", "owners@odata.bind": bind })).body;
    sim.setKnobs({ faults: { count: 1, methods: ["POST"], landed: 1 } });
    const r = await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "lost" } });
    expect(r.status).toBe(503);
    expect(JSON.stringify(r.body)).not.toMatch(/secretText"\s*:\s*"/);
    const read = await g("GET", `/applications/${app.id}`);
    expect(read.body.passwordCredentials.map((c: { displayName: string }) => c.displayName)).toEqual(["lost"]);
  });

  it("a landed request that Graph refuses still only answers the 5xx", async () => {
    sim.setKnobs({ faults: { count: 1, methods: ["GET"], landed: 1, status: 500 } });
    const r = await g("GET", "/applications/00000000-0000-4000-8000-00000000dead");
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe("generalException");
  });

  it("a share of landed faults is drawn from the seeded PRNG", async () => {
    sim.setKnobs({ faults: { every: 1, methods: ["POST"], landed: 0.5 } });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await g("POST", "/applications", { displayName: `Share ${i}`, tags: ["share"], "owners@odata.bind": bind })).status);
    sim.setKnobs({ faults: undefined });
    expect(statuses.every((s) => s === 503)).toBe(true);
    const landed = tagged("share").length;
    expect(landed).toBeGreaterThan(2);
    expect(landed).toBeLessThan(18);
  });
});
