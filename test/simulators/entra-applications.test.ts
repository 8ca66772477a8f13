import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

type Res = { status: number; headers: Headers; body: any };

async function token(sim: EntraSim, clientId = sim.automation.clientId, secret = sim.automation.clientSecret): Promise<string> {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: clientId, client_secret: secret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  return ((await r.json()) as { access_token: string }).access_token;
}

function client(sim: EntraSim, tok: string) {
  return async (method: string, pathOrUrl: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> => {
    const url = pathOrUrl.startsWith("http") ? pathOrUrl : `${sim.graphUrl}/v1.0${pathOrUrl}`;
    const r = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : undefined };
  };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("entra sim: /applications (3.1-3.7)", () => {
  let sim: EntraSim;
  let g: ReturnType<typeof client>;
  let bind: string[];
  const foreignId = "aaaaaaaa-0000-4000-8000-000000000001";

  beforeAll(async () => {
    sim = await startEntraSim({
      fixture: {
        applications: [
          { id: foreignId, displayName: "Someone else's app", tags: ["pve-oidc", "pve-oidc:other"] },
          ...Array.from({ length: 5 }, (_, i) => ({ displayName: `Bulk ${i}`, tags: ["bulk"] })),
        ],
      },
    });
    g = client(sim, await token(sim));
    bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
  });
  afterAll(() => sim.close());

  async function createApp(extra: Record<string, unknown> = {}) {
    const r = await g("POST", "/applications", { displayName: "Proxmox VE (pve1)", "owners@odata.bind": bind, ...extra });
    expect(r.status).toBe(201);
    return r.body;
  }

  it("create: 201 with the documented shape; id, appId distinct GUIDs; owners from owners@odata.bind", async () => {
    const app = await createApp({
      signInAudience: "AzureADMyOrg",
      tags: ["pve-oidc", "pve-oidc:pve1"],
      web: { redirectUris: ["https://pve1.lan:8006"], implicitGrantSettings: { enableIdTokenIssuance: false, enableAccessTokenIssuance: false } },
      groupMembershipClaims: "ApplicationGroup",
      optionalClaims: { idToken: [{ name: "upn", source: null, essential: false, additionalProperties: [] }], accessToken: [], saml2Token: [] },
    });
    expect(app.id).toMatch(GUID);
    expect(app.appId).toMatch(GUID);
    expect(app.appId).not.toBe(app.id);
    expect(app["@odata.context"]).toBe(`${sim.graphUrl}/v1.0/$metadata#applications/$entity`);
    expect(app.passwordCredentials).toEqual([]);
    expect(app.keyCredentials).toEqual([]);
    expect(app.identifierUris).toEqual([]);
    expect(app.publicClient).toEqual({ redirectUris: [] });
    expect(app.web.redirectUris).toEqual(["https://pve1.lan:8006"]);
    expect(app.groupMembershipClaims).toBe("ApplicationGroup");
    expect(app.deletedDateTime).toBeNull();
    expect(app).not.toHaveProperty("owners@odata.bind");
    expect(sim.state().owners[app.id]).toEqual([sim.automation.servicePrincipalId]);
  });

  it("signInAudience defaults to AzureADMyOrg (errata 9.9)", async () => {
    const app = await createApp();
    expect(app.signInAudience).toBe("AzureADMyOrg");
  });

  it("GET by object id and by alternate key appId; wrong id kind is 404", async () => {
    const app = await createApp();
    const byId = await g("GET", `/applications/${app.id}`);
    expect(byId.status).toBe(200);
    expect(byId.body.appId).toBe(app.appId);
    const byAppId = await g("GET", `/applications(appId='${app.appId}')`);
    expect(byAppId.status).toBe(200);
    expect(byAppId.body.id).toBe(app.id);
    // The appId is not an object id (glossary: mixing them up gives 404).
    const wrongKind = await g("GET", `/applications/${app.appId}`);
    expect(wrongKind.status).toBe(404);
    expect(wrongKind.body.error.code).toBe("Request_ResourceNotFound");
    expect(wrongKind.body.error.message).toBe(
      `Resource '${app.appId}' does not exist or one of its queried reference-property objects are not present.`,
    );
  });

  it("error envelope: code, message, innerError with date, request-id and echoed client-request-id (4.1)", async () => {
    const crid = "4f8a3b2c-1d0e-4f9a-8b7c-6d5e4f3a2b1c";
    const r = await g("GET", "/applications/5b31c38c-2584-42f0-aa47-657fb3a84230", undefined, { "client-request-id": crid });
    expect(r.status).toBe(404);
    expect(Object.keys(r.body.error)).toEqual(["code", "message", "innerError"]);
    expect(r.body.error.innerError.date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(r.body.error.innerError["request-id"]).toMatch(GUID);
    expect(r.body.error.innerError["client-request-id"]).toBe(crid);
    expect(r.headers.get("request-id")).toBe(r.body.error.innerError["request-id"]);
    expect(r.headers.get("client-request-id")).toBe(crid);
  });

  it("a malformed object id is 400 Invalid object identifier (errata 9.8)", async () => {
    const r = await g("GET", "/applications/not-a-guid");
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("Request_BadRequest");
    expect(r.body.error.message).toBe("Invalid object identifier 'not-a-guid'.");
  });

  it("list: $filter displayName eq (case-insensitive), tags/any, appId eq; empty value when nothing matches", async () => {
    const app = await createApp({ displayName: "Filter Me", tags: ["pve-oidc", "pve-oidc:filter"] });
    const byName = await g("GET", `/applications?$filter=${encodeURIComponent("displayName eq 'filter me'")}`);
    expect(byName.status).toBe(200);
    expect(byName.body.value.map((a: any) => a.id)).toEqual([app.id]);
    const byTag = await g("GET", `/applications?$filter=${encodeURIComponent("tags/any(t:t eq 'pve-oidc:filter')")}`);
    expect(byTag.body.value.map((a: any) => a.id)).toEqual([app.id]);
    const byAppId = await g("GET", `/applications?$filter=${encodeURIComponent(`appId eq '${app.appId}'`)}`);
    expect(byAppId.body.value.map((a: any) => a.id)).toEqual([app.id]);
    const none = await g("GET", `/applications?$filter=${encodeURIComponent("displayName eq 'nothing here'")}`);
    expect(none.body.value).toEqual([]);
    expect(none.body["@odata.context"]).toBe(`${sim.graphUrl}/v1.0/$metadata#applications`);
  });

  it("list: OwnedBy sees every application, including ones it does not own (1.2)", async () => {
    const r = await g("GET", `/applications?$filter=${encodeURIComponent("tags/any(t:t eq 'pve-oidc:other')")}&$select=id`);
    expect(r.body.value).toEqual([{ id: foreignId }]);
  });

  it("$select returns only the named properties and does not add id (errata 9.9)", async () => {
    const r = await g("GET", `/applications?$filter=${encodeURIComponent("displayName eq 'Bulk 1'")}&$select=appId,displayName`);
    expect(r.body.value).toHaveLength(1);
    expect(Object.keys(r.body.value[0])).toEqual(["appId", "displayName"]);
    expect(r.body["@odata.context"]).toBe(`${sim.graphUrl}/v1.0/$metadata#applications(appId,displayName)`);
    const one = await g("GET", `/applications/${foreignId}?$select=displayName`);
    expect(one.body).toEqual({ "@odata.context": `${sim.graphUrl}/v1.0/$metadata#applications(displayName)/$entity`, displayName: "Someone else's app" });
    const bad = await g("GET", "/applications?$select=nope");
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe("Could not find a property named 'nope' on type 'microsoft.graph.application'.");
  });

  it("$top pages with absolute @odata.nextLink until it is absent (3.1)", async () => {
    const filter = encodeURIComponent("tags/any(t:t eq 'bulk')");
    let url: string | undefined = `${sim.graphUrl}/v1.0/applications?$filter=${filter}&$select=displayName&$top=2`;
    const pages: string[][] = [];
    while (url) {
      const r = await g("GET", url);
      expect(r.status).toBe(200);
      pages.push(r.body.value.map((a: any) => a.displayName));
      url = r.body["@odata.nextLink"];
      if (url) expect(url.startsWith(`${sim.graphUrl}/v1.0/applications?`)).toBe(true);
    }
    expect(pages).toEqual([["Bulk 0", "Bulk 1"], ["Bulk 2", "Bulk 3"], ["Bulk 4"]]);
  });

  it("$top outside 1..999 and a forged $skiptoken are 400", async () => {
    expect((await g("GET", "/applications?$top=1000")).status).toBe(400);
    expect((await g("GET", "/applications?$top=0")).status).toBe(400);
    const r = await g("GET", "/applications?$skiptoken=abc");
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("Request_BadRequest");
  });

  it("PATCH: 204; nested objects merged, collections replaced whole (3.5, errata 9.9)", async () => {
    const app = await createApp({
      tags: ["a", "b", "c"],
      web: { redirectUris: ["https://one.lan:8006", "https://two.lan:8006"], implicitGrantSettings: { enableIdTokenIssuance: true, enableAccessTokenIssuance: false } },
    });
    const r = await g("PATCH", `/applications/${app.id}`, { tags: ["b"], web: { redirectUris: ["https://three.lan:8006"] }, notes: "managed" });
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    const after = (await g("GET", `/applications/${app.id}`)).body;
    expect(after.tags).toEqual(["b"]);
    expect(after.web.redirectUris).toEqual(["https://three.lan:8006"]);
    expect(after.web.implicitGrantSettings).toEqual({ enableIdTokenIssuance: true, enableAccessTokenIssuance: false });
    expect(after.notes).toBe("managed");
    expect(after.displayName).toBe("Proxmox VE (pve1)");
  });

  it("unknown properties are 400 naming the type, nested ones their own type; bad values name the property (errata 9.8)", async () => {
    const app = await createApp();
    const top = await g("PATCH", `/applications/${app.id}`, { colour: "blue" });
    expect(top.status).toBe(400);
    expect(top.body.error.code).toBe("Request_BadRequest");
    expect(top.body.error.message).toMatch(/^The property 'colour' does not exist on type 'microsoft\.graph\.application'\./);
    const nested = await g("PATCH", `/applications/${app.id}`, { web: { redirectUri: "https://x" } });
    expect(nested.body.error.message).toMatch(/^The property 'redirectUri' does not exist on type 'microsoft\.graph\.webApplication'\./);
    const onCreate = await g("POST", "/applications", { displayName: "x", colour: "blue" });
    expect(onCreate.status).toBe(400);
    const badUri = await g("PATCH", `/applications/${app.id}`, { web: { redirectUris: ["http://pve1.lan:8006"] } });
    expect(badUri.status).toBe(400);
    expect(badUri.body.error.message).toBe("Invalid value specified for property 'web' of resource 'Application'.");
    const badAudience = await g("PATCH", `/applications/${app.id}`, { signInAudience: "Everyone" });
    expect(badAudience.body.error.message).toBe("Invalid value specified for property 'signInAudience' of resource 'Application'.");
    const readOnly = await g("PATCH", `/applications/${app.id}`, { appId: "11111111-1111-4111-8111-111111111111" });
    expect(readOnly.status).toBe(400);
    const noName = await g("POST", "/applications", { signInAudience: "AzureADMyOrg" });
    expect(noName.status).toBe(400);
    const notJson = await g("POST", "/applications", "{not json");
    expect(notJson.status).toBe(400);
    // Nothing was changed by the refused requests.
    expect((await g("GET", `/applications/${app.id}`)).body.web.redirectUris).toEqual([]);
  });

  it("OwnedBy: reading a foreign app works, changing it is 403 Authorization_RequestDenied (1.2)", async () => {
    expect((await g("GET", `/applications/${foreignId}`)).status).toBe(200);
    for (const [method, path, body] of [
      ["PATCH", `/applications/${foreignId}`, { notes: "x" }],
      ["POST", `/applications/${foreignId}/addPassword`, { passwordCredential: {} }],
      ["POST", `/applications/${foreignId}/removePassword`, { keyId: "11111111-1111-4111-8111-111111111111" }],
      ["DELETE", `/applications/${foreignId}`, undefined],
    ] as const) {
      const r = await g(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error.code).toBe("Authorization_RequestDenied");
    }
    // An app created without binding the caller as owner is not writable either (8.1: the simulator adds no owner).
    const unowned = await g("POST", "/applications", { displayName: "unbound" });
    expect(unowned.status).toBe(201);
    expect((await g("PATCH", `/applications/${unowned.body.id}`, { notes: "x" })).status).toBe(403);
  });

  it("addPassword: 200, secretText once, hint = first 3 chars, default end = start + 2 years (3.7)", async () => {
    const app = await createApp();
    const r = await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "pve1:entra" } });
    expect(r.status).toBe(200);
    const pw = r.body;
    expect(pw.keyId).toMatch(GUID);
    expect(typeof pw.secretText).toBe("string");
    expect(pw.secretText.length).toBeGreaterThanOrEqual(16);
    expect(pw.hint).toBe(pw.secretText.slice(0, 3));
    expect(pw.displayName).toBe("pve1:entra");
    expect(pw.customKeyIdentifier).toBeNull();
    const start = new Date(pw.startDateTime);
    const end = new Date(pw.endDateTime);
    expect(end.getUTCFullYear() - start.getUTCFullYear()).toBe(2);
    expect(end.getUTCMonth()).toBe(start.getUTCMonth());
    expect(end.getUTCDate()).toBe(start.getUTCDate());

    const read = (await g("GET", `/applications/${app.id}`)).body;
    expect(read.passwordCredentials).toEqual([
      { customKeyIdentifier: null, displayName: "pve1:entra", endDateTime: pw.endDateTime, hint: pw.hint, keyId: pw.keyId, secretText: null, startDateTime: pw.startDateTime },
    ]);
    const state = sim.state();
    expect(JSON.stringify(state)).not.toContain(pw.secretText);
    expect(JSON.stringify(state)).not.toContain(sim.automation.clientSecret);
    const stored = (state.applications as any[]).find((a) => a.id === app.id);
    expect(stored.passwordCredentials[0]).not.toHaveProperty("secretText");
    expect(stored.passwordCredentials[0].keyId).toBe(pw.keyId);
  });

  it("addPassword honours endDateTime and rejects unknown parameters", async () => {
    const app = await createApp();
    const r = await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "x", endDateTime: "2099-05-29T00:00:00Z" } });
    expect(r.body.endDateTime).toBe("2099-05-29T00:00:00Z");
    const bad = await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: {}, lifetime: 3 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/'lifetime'/);
  });

  it("removePassword: 204 and gone; an unknown keyId is 204 as well (errata 9.3)", async () => {
    const app = await createApp();
    const a = (await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "a" } })).body;
    const b = (await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "b" } })).body;
    expect((await g("POST", `/applications/${app.id}/removePassword`, { keyId: a.keyId })).status).toBe(204);
    const creds = (await g("GET", `/applications/${app.id}`)).body.passwordCredentials;
    expect(creds.map((c: any) => c.keyId)).toEqual([b.keyId]);
    const unknown = await g("POST", `/applications/${app.id}/removePassword`, { keyId: "0f0f0f0f-0000-4000-8000-000000000000" });
    expect(unknown.status).toBe(204);
    expect((await g("POST", `/applications/${app.id}/removePassword`, { keyId: a.keyId })).status).toBe(204);
  });

  it("addPassword works through the appId alternate key too", async () => {
    const app = await createApp();
    const r = await g("POST", `/applications(appId='${app.appId}')/addPassword`, { passwordCredential: { displayName: "alt" } });
    expect(r.status).toBe(200);
  });

  it("DELETE: 204, then 404; the app's service principal goes with it (3.6)", async () => {
    const app = await createApp();
    const sp = await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind });
    expect(sp.status).toBe(201);
    expect((await g("DELETE", `/applications/${app.id}`)).status).toBe(204);
    expect((await g("GET", `/applications/${app.id}`)).status).toBe(404);
    expect((await g("GET", `/servicePrincipals/${sp.body.id}`)).status).toBe(404);
    expect((await g("DELETE", `/applications/${app.id}`)).status).toBe(404);
  });

  it("owners: list with @odata.type; $ref add needs Directory.Read.All with OwnedBy (errata 9.2)", async () => {
    const app = await createApp();
    const owners = await g("GET", `/applications/${app.id}/owners`);
    expect(owners.status).toBe(200);
    expect(owners.body.value.map((o: any) => [o["@odata.type"], o.id])).toEqual([["#microsoft.graph.servicePrincipal", sim.automation.servicePrincipalId]]);
    const add = await g("POST", `/applications/${app.id}/owners/$ref`, { "@odata.id": `https://graph.microsoft.com/v1.0/directoryObjects/${foreignId}` });
    expect(add.status).toBe(403);
  });

  it("upsert by uniqueName: 404 without Prefer, 201 with create-if-missing, then 204 (3.4)", async () => {
    const path = "/applications(uniqueName='pve-oidc-pve1')";
    expect((await g("PATCH", path, { displayName: "Upserted" })).status).toBe(404);
    const created = await g("PATCH", path, { displayName: "Upserted", "owners@odata.bind": bind }, { prefer: "create-if-missing" });
    expect(created.status).toBe(201);
    expect(created.body.uniqueName).toBe("pve-oidc-pve1");
    const again = await g("PATCH", path, { notes: "second" }, { prefer: "create-if-missing" });
    expect(again.status).toBe(204);
    const read = await g("GET", path);
    expect(read.body.id).toBe(created.body.id);
    expect(read.body.notes).toBe("second");
  });

  it("an unknown segment is 400 BadRequest", async () => {
    const r = await g("GET", "/widgets");
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("BadRequest");
    expect(r.body.error.message).toBe("Resource not found for the segment 'widgets'.");
  });
});

describe("entra sim: owners/$ref with Application.ReadWrite.OwnedBy + Directory.Read.All (errata 9.2)", () => {
  it("adds, refuses a duplicate, removes", async () => {
    const sim = await startEntraSim({
      fixture: { users: [{ id: "bbbbbbbb-0000-4000-8000-000000000001", displayName: "Ada", userPrincipalName: "ada@x.test" }] },
      automation: { permissions: ["Application.ReadWrite.OwnedBy", "Directory.Read.All"] },
    });
    try {
      const g = client(sim, await token(sim));
      const app = (await g("POST", "/applications", {
        displayName: "x",
        "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`],
      })).body;
      const ref = { "@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/bbbbbbbb-0000-4000-8000-000000000001" };
      expect((await g("POST", `/applications/${app.id}/owners/$ref`, ref)).status).toBe(204);
      const dup = await g("POST", `/applications/${app.id}/owners/$ref`, ref);
      expect(dup.status).toBe(400);
      expect(dup.body.error.code).toBe("Request_BadRequest");
      const list = await g("GET", `/applications/${app.id}/owners?$select=id`);
      expect(list.body.value.map((o: any) => o["@odata.type"])).toEqual(["#microsoft.graph.servicePrincipal", "#microsoft.graph.user"]);
      expect((await g("DELETE", `/applications/${app.id}/owners/bbbbbbbb-0000-4000-8000-000000000001/$ref`)).status).toBe(204);
      expect(sim.state().owners[app.id]).toEqual([sim.automation.servicePrincipalId]);
    } finally {
      await sim.close();
    }
  });
});
