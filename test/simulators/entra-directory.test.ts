import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

async function token(sim: EntraSim): Promise<string> {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({
      client_id: sim.automation.clientId,
      client_secret: sim.automation.clientSecret,
      scope: "https://graph.microsoft.com/.default",
      grant_type: "client_credentials",
    }),
  });
  return ((await r.json()) as { access_token: string }).access_token;
}

const ALICE = "a11ce000-0000-4000-8000-000000000001";
const ADMINS = "ad000000-0000-4000-8000-000000000001";

describe("entra sim: /users and /groups (3.11) and query rules (3, errata 9.4, 9.9)", () => {
  let sim: EntraSim;
  let get: (path: string, headers?: Record<string, string>) => Promise<{ status: number; body: any; text: string; type: string | null }>;

  beforeAll(async () => {
    sim = await startEntraSim({
      fixture: {
        users: [
          { id: ALICE, displayName: "Alice", userPrincipalName: "alice@contoso.test", mail: "alice@contoso.test" },
          { displayName: "Bob O'Brien", userPrincipalName: "bob@contoso.test" },
          { displayName: "Guest", userPrincipalName: "guest_x.test#EXT#@contoso.test" },
        ],
        groups: [
          { id: ADMINS, displayName: "Proxmox Admins", members: ["alice@contoso.test", "bob@contoso.test"] },
          { displayName: "Proxmox Operators" },
          { displayName: "Twin" },
          { displayName: "twin" },
        ],
      },
    });
    const tok = await token(sim);
    get = async (path, headers = {}) => {
      const r = await fetch(`${sim.graphUrl}/v1.0${path}`, { headers: { authorization: `Bearer ${tok}`, ...headers } });
      const text = await r.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: r.status, body, text, type: r.headers.get("content-type") };
    };
  });
  afterAll(() => sim.close());

  const q = (s: string) => encodeURIComponent(s);

  it("GET /users/{id} and /users/{upn}: default properties; 404 when absent", async () => {
    const byId = await get(`/users/${ALICE}`);
    expect(byId.status).toBe(200);
    const { "@odata.context": ctx, ...user } = byId.body;
    expect(ctx).toBe(`${sim.graphUrl}/v1.0/$metadata#users/$entity`);
    expect(user).toEqual({
      businessPhones: [],
      displayName: "Alice",
      givenName: null,
      jobTitle: null,
      mail: "alice@contoso.test",
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: null,
      surname: null,
      userPrincipalName: "alice@contoso.test",
      id: ALICE,
    });
    expect((await get("/users/ALICE@contoso.test")).body.id).toBe(ALICE);
    expect((await get(`/users('alice@contoso.test')`)).body.id).toBe(ALICE);
    const guest = await get(`/users/${encodeURIComponent("guest_x.test#EXT#@contoso.test")}`);
    expect(guest.body.displayName).toBe("Guest");
    const missing = await get("/users/nobody@contoso.test");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("Request_ResourceNotFound");
  });

  it("GET /groups?$filter=displayName eq: case-insensitive, so display names are not unique", async () => {
    const r = await get(`/groups?$filter=${q("displayName eq 'proxmox admins'")}&$select=id,displayName,securityEnabled,mailEnabled,groupTypes`);
    expect(r.status).toBe(200);
    expect(r.body.value).toEqual([{ id: ADMINS, displayName: "Proxmox Admins", securityEnabled: true, mailEnabled: false, groupTypes: [] }]);
    const twins = await get(`/groups?$filter=${q("displayName eq 'TWIN'")}&$select=displayName`);
    expect(twins.body.value.map((x: any) => x.displayName)).toEqual(["Twin", "twin"]);
  });

  it("quotes in string literals are doubled ('O''Brien')", async () => {
    const r = await get(`/users?$filter=${q("displayName eq 'Bob O''Brien'")}&$select=userPrincipalName`);
    expect(r.body.value).toEqual([{ userPrincipalName: "bob@contoso.test" }]);
  });

  it("startsWith and or/in work without ConsistencyLevel", async () => {
    const sw = await get(`/groups?$filter=${q("startsWith(displayName,'proxmox')")}&$select=displayName`);
    expect(sw.body.value.map((x: any) => x.displayName)).toEqual(["Proxmox Admins", "Proxmox Operators"]);
    const inList = await get(`/users?$filter=${q("userPrincipalName in ('alice@contoso.test','bob@contoso.test')")}&$select=id`);
    expect(inList.body.value).toHaveLength(2);
  });

  it("group members are directoryObjects with @odata.type", async () => {
    const r = await get(`/groups/${ADMINS}/members?$select=id,userPrincipalName`);
    expect(r.status).toBe(200);
    expect(r.body.value).toEqual([
      { "@odata.type": "#microsoft.graph.user", id: ALICE, userPrincipalName: "alice@contoso.test" },
      expect.objectContaining({ "@odata.type": "#microsoft.graph.user", userPrincipalName: "bob@contoso.test" }),
    ]);
    expect((await get("/groups/not-a-guid")).body.error.message).toBe("Invalid object identifier 'not-a-guid'.");
  });

  it("ne, not and endsWith without ConsistencyLevel: 400 Request_UnsupportedQuery; with it and $count=true: allowed (errata 9.4)", async () => {
    for (const f of ["displayName ne 'Twin'", "not(displayName eq 'Twin')", "endsWith(displayName,'Admins')"]) {
      const r = await get(`/groups?$filter=${q(f)}`);
      expect(r.status, f).toBe(400);
      expect(r.body.error.code).toBe("Request_UnsupportedQuery");
    }
    const ok = await get(`/groups?$filter=${q("endsWith(displayName,'admins')")}&$count=true&$select=displayName`, { ConsistencyLevel: "eventual" });
    expect(ok.status).toBe(200);
    expect(ok.body["@odata.count"]).toBe(1);
    expect(ok.body.value).toEqual([{ displayName: "Proxmox Admins" }]);
    const ne = await get(`/groups?$filter=${q("displayName ne 'twin'")}&$count=true&$select=displayName`, { ConsistencyLevel: "eventual" });
    expect(ne.body.value.map((x: any) => x.displayName)).toEqual(["Proxmox Admins", "Proxmox Operators"]);
  });

  it("$count=true without ConsistencyLevel is ignored; /$count without it is 400, with it a number (errata 9.4)", async () => {
    const ignored = await get(`/groups?$count=true`);
    expect(ignored.status).toBe(200);
    expect(ignored.body).not.toHaveProperty("@odata.count");
    const bad = await get(`/groups/$count`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("Request_BadRequest");
    const count = await get(`/groups/$count`, { ConsistencyLevel: "eventual" });
    expect(count.status).toBe(200);
    expect(count.type).toMatch(/^text\/plain/);
    expect(count.text).toBe("4");
  });

  it("$search needs ConsistencyLevel (errata 9.4)", async () => {
    const bad = await get(`/groups?$search=${q('"displayName:operat"')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("Request_UnsupportedQuery");
    const ok = await get(`/groups?$search=${q('"displayName:operat"')}&$select=displayName`, { ConsistencyLevel: "eventual" });
    expect(ok.body.value).toEqual([{ displayName: "Proxmox Operators" }]);
  });

  it("an unquoted GUID against a string property is a type error (errata 9.9)", async () => {
    const r = await get(`/users?$filter=${q(`id eq ${ALICE}`)}`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("Request_BadRequest");
    expect(r.body.error.message).toMatch(/incompatible types.*'Edm\.String' and 'Edm\.Guid'/);
    const quoted = await get(`/users?$filter=${q(`id eq '${ALICE}'`)}&$select=displayName`);
    expect(quoted.body.value).toEqual([{ displayName: "Alice" }]);
  });

  it("unfilterable properties, syntax errors and $orderby with $filter are refused", async () => {
    const prop = await get(`/groups?$filter=${q("description eq 'x'")}`);
    expect(prop.status).toBe(400);
    expect(prop.body.error.code).toBe("Request_UnsupportedQuery");
    expect(prop.body.error.message).toBe("Unsupported or invalid query filter clause specified for property 'description' of resource 'Group'.");
    const syntax = await get(`/groups?$filter=${q("displayName eq")}`);
    expect(syntax.status).toBe(400);
    expect(syntax.body.error.code).toBe("Request_BadRequest");
    const order = await get(`/groups?$filter=${q("startsWith(displayName,'p')")}&$orderby=displayName`);
    expect(order.status).toBe(400);
    const orderOnly = await get(`/groups?$orderby=displayName desc&$select=displayName`);
    expect(orderOnly.body.value.map((x: any) => x.displayName)).toEqual(["twin", "Twin", "Proxmox Operators", "Proxmox Admins"].sort((a, b) => b.localeCompare(a)));
  });

  it("/me needs a delegated token", async () => {
    const r = await get("/me");
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe("/me request is only valid with delegated authentication flow.");
  });

  it("users and groups are read-only here", async () => {
    const tok = await token(sim);
    const r = await fetch(`${sim.graphUrl}/v1.0/groups`, { method: "POST", headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" }, body: "{}" });
    expect(r.status).toBe(405);
  });
});
