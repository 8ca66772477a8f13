import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_AUTOMATION_PERMISSIONS, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

/**
 * Simulator contract: `$expand` where homelab uses it (Microsoft Graph docs, query-parameters "expand parameter"
 * and known issues "$expand on directory objects"): `appRoleAssignedTo` on a service principal list and
 * `appManagementPolicies` on an application list. An expanded relationship holds at most 20 items and has no next
 * link; a page of a list read with `$expand` holds at most 100 objects; the expanded relationship comes back whatever
 * `$select` names; a relationship the type does not have is 400; `$expand` elsewhere is refused.
 */

async function token(sim: EntraSim): Promise<string> {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  const body = (await r.json()) as { access_token: string };
  if (r.status !== 200) throw new Error(JSON.stringify(body));
  return body.access_token;
}

function client(sim: EntraSim, tok: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const r = await fetch(path.startsWith("http") ? path : `${sim.graphUrl}/v1.0${path}`, {
      method,
      headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
}

const APP = "aaaaaaaa-0000-4000-8000-000000000001";
const APP_ID = "aaaaaaaa-0000-4000-8000-0000000000a1";
const AUTOMATION = "bbbbbbbb-0000-4000-8000-0000000000a1";
const GROUPS = 25;
const groupId = (i: number) => `cccccccc-0000-4000-8000-${String(i).padStart(12, "0")}`;
const filter = (f: string) => encodeURIComponent(f);

describe("entra sim: $expand (appRoleAssignedTo, appManagementPolicies)", () => {
  let sim: EntraSim;
  let g: ReturnType<typeof client>;
  let spId: string;

  beforeAll(async () => {
    sim = await startEntraSim({
      automation: { clientId: AUTOMATION, permissions: [...DEFAULT_AUTOMATION_PERMISSIONS] },
      fixture: {
        groups: Array.from({ length: GROUPS }, (_, i) => ({ id: groupId(i), displayName: `Team ${i}`, members: [] })),
        applications: [{ id: APP, appId: APP_ID, displayName: "Proxmox VE", tags: ["homelab", "homelab:realm=azure"], owners: [AUTOMATION] }],
        servicePrincipals: [{ appId: APP_ID, owners: [AUTOMATION] }],
      },
    });
    g = client(sim, await token(sim));
    spId = (await g("GET", `/servicePrincipals(appId='${APP_ID}')?$select=id`)).body.id;
  });
  afterAll(() => sim.close());

  const assign = async (i: number) => {
    const r = await g("POST", `/servicePrincipals/${spId}/appRoleAssignedTo`, { principalId: groupId(i), resourceId: spId, appRoleId: "00000000-0000-0000-0000-000000000000" });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  };
  const expanded = (select = "id,appId") => g("GET", `/servicePrincipals?$filter=${filter(`appId eq '${APP_ID}'`)}&$select=${select}&$expand=appRoleAssignedTo`);

  it("appRoleAssignedTo on a service principal list: the same assignments as the relationship's own read, even with $select", async () => {
    expect((await expanded()).body.value).toEqual([{ id: spId, appId: APP_ID, appRoleAssignedTo: [] }]);
    for (let i = 0; i < 3; i++) await assign(i);
    const own = (await g("GET", `/servicePrincipals/${spId}/appRoleAssignedTo`)).body.value;
    const r = await expanded();
    expect(r.status).toBe(200);
    expect(own).toHaveLength(3);
    expect(r.body.value[0].appRoleAssignedTo).toEqual(own);
    expect(r.body.value[0].appRoleAssignedTo.map((a: any) => a.principalId).sort()).toEqual([0, 1, 2].map(groupId));
  });

  it("at most 20 expanded items and no next link for them; the relationship's own read pages through all", async () => {
    for (let i = 3; i < GROUPS; i++) await assign(i);
    const r = await expanded();
    const sp = r.body.value[0];
    expect(sp.appRoleAssignedTo).toHaveLength(20);
    expect(Object.keys(sp).filter((k) => k.includes("@odata"))).toEqual([]);
    expect(r.body["@odata.nextLink"]).toBeUndefined();
    const all = (await g("GET", `/servicePrincipals/${spId}/appRoleAssignedTo?$top=999`)).body.value;
    expect(all).toHaveLength(GROUPS);
  });

  it("a page of a list read with $expand holds at most 100 objects; its next link keeps $expand", async () => {
    for (let i = 0; i < 120; i++) {
      const app = (await g("POST", "/applications", { displayName: `Bulk ${i}`, "owners@odata.bind": [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`] })).body;
      expect((await g("POST", "/servicePrincipals", { appId: app.appId })).status).toBe(201);
    }
    const first = await g("GET", "/servicePrincipals?$select=id&$top=999&$expand=appRoleAssignedTo");
    expect(first.status).toBe(200);
    expect(first.body.value).toHaveLength(100);
    const next: string = first.body["@odata.nextLink"];
    expect(next).toContain("$expand=appRoleAssignedTo");
    const second = await g("GET", next);
    expect(second.body.value.length).toBeGreaterThan(0);
    expect(second.body.value.every((sp: any) => Array.isArray(sp.appRoleAssignedTo))).toBe(true);
    // Without $expand the same read is one page of 999.
    const plain = await g("GET", "/servicePrincipals?$select=id&$top=999");
    expect(plain.body.value.length).toBe(100 + second.body.value.length);
  });

  it("a relationship the type does not have is 400; $expand where the simulator does not model it is refused", async () => {
    const r = await g("GET", `/servicePrincipals?$expand=appRoleAssignedToo`);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/Could not find a property named 'appRoleAssignedToo' on type 'microsoft\.graph\.servicePrincipal'/);
    const groups = await g("GET", `/groups?$expand=members`);
    expect(groups.status).toBe(400);
    const nested = await g("GET", `/servicePrincipals?$expand=appRoleAssignedTo($select=id)`);
    expect(nested.status).toBe(400);
  });

  it("appManagementPolicies on an application list: the applied policy (0 or 1), with createdDateTime selectable", async () => {
    const tagged = `/applications?$filter=${filter("tags/any(t:t eq 'homelab:realm=azure')")}&$select=id,appId,createdDateTime&$expand=appManagementPolicies`;
    const none = await g("GET", tagged);
    expect(none.status).toBe(200);
    expect(none.body.value).toEqual([{ id: APP, appId: APP_ID, createdDateTime: expect.any(String), appManagementPolicies: [] }]);
    sim.setKnobs({ appManagementPolicies: { policies: [{ displayName: "Short secrets", passwordLifetime: "P30D", appliesTo: [APP_ID] }] } });
    try {
      const one = (await g("GET", tagged)).body.value[0].appManagementPolicies;
      const own = (await g("GET", `/applications/${APP}/appManagementPolicies`)).body.value;
      expect(one).toEqual(own);
      expect(one).toHaveLength(1);
      expect(one[0]).toMatchObject({ displayName: "Short secrets", restrictions: { passwordCredentials: [{ restrictionType: "passwordLifetime", maxLifetime: "P30D" }] } });
    } finally {
      sim.setKnobs({ appManagementPolicies: undefined });
    }
  });
});

describe("entra sim: $expand=appManagementPolicies needs a policy read permission", () => {
  let sim: EntraSim;
  afterAll(() => sim?.close());

  it("without Policy.Read.All: 403 Authorization_RequestDenied, as the relationship's own read; the list without $expand works", async () => {
    sim = await startEntraSim({ automation: { permissions: DEFAULT_AUTOMATION_PERMISSIONS.filter((p) => p !== "Policy.Read.All") } });
    const g = client(sim, await token(sim));
    const r = await g("GET", "/applications?$select=id&$expand=appManagementPolicies");
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("Authorization_RequestDenied");
    expect((await g("GET", "/applications?$select=id")).status).toBe(200);
  });
});
