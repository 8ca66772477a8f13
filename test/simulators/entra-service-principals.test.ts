import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRAPH_APP_ID, GRAPH_APP_ROLES, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

type Res = { status: number; headers: Headers; body: any };

async function token(sim: EntraSim, clientId = sim.automation.clientId, secret = sim.automation.clientSecret): Promise<string> {
  const r = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: clientId, client_secret: secret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  const body = (await r.json()) as { access_token: string };
  if (r.status !== 200) throw new Error(JSON.stringify(body));
  return body.access_token;
}

function client(sim: EntraSim, tok: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> => {
    const r = await fetch(`${sim.graphUrl}/v1.0${path}`, {
      method,
      headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : undefined };
  };
}

const GROUP_ID = "cccccccc-0000-4000-8000-000000000001";
const USER_ID = "dddddddd-0000-4000-8000-000000000001";
const FOREIGN_APP = "eeeeeeee-0000-4000-8000-000000000001";
const FOREIGN_APP_ID = "eeeeeeee-0000-4000-8000-0000000000a1";

describe("entra sim: /servicePrincipals and app role assignments (3.8, 3.9)", () => {
  let sim: EntraSim;
  let g: ReturnType<typeof client>;
  let bind: string[];

  beforeAll(async () => {
    sim = await startEntraSim({
      fixture: {
        users: [{ id: USER_ID, displayName: "Ada", userPrincipalName: "ada@x.test" }],
        groups: [{ id: GROUP_ID, displayName: "Proxmox Admins", members: ["ada@x.test"] }],
        applications: [{ id: FOREIGN_APP, appId: FOREIGN_APP_ID, displayName: "Foreign" }],
      },
    });
    g = client(sim, await token(sim));
    bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
  });
  afterAll(() => sim.close());

  async function appWithSp(extraSp: Record<string, unknown> = {}) {
    const app = (await g("POST", "/applications", { displayName: "Proxmox VE (sp)", tags: ["pve-oidc", "pve-oidc:sp"], "owners@odata.bind": bind })).body;
    const sp = await g("POST", "/servicePrincipals", { appId: app.appId, appRoleAssignmentRequired: true, "owners@odata.bind": bind, ...extraSp });
    expect(sp.status).toBe(201);
    return { app, sp: sp.body };
  }

  it("create: 201 with the documented fields; SP id distinct from app id and appId; tags copied", async () => {
    const { app, sp } = await appWithSp();
    expect(sp.id).not.toBe(app.id);
    expect(sp.id).not.toBe(app.appId);
    expect(sp.appId).toBe(app.appId);
    expect(sp.appDisplayName).toBe("Proxmox VE (sp)");
    expect(sp.displayName).toBe("Proxmox VE (sp)");
    expect(sp.accountEnabled).toBe(true);
    expect(sp.appRoleAssignmentRequired).toBe(true);
    expect(sp.servicePrincipalNames).toEqual([app.appId]);
    expect(sp.tags).toEqual(["pve-oidc", "pve-oidc:sp"]);
    expect(sp.appOwnerOrganizationId).toBe(sim.tenantId);
    expect(sp.servicePrincipalType).toBe("Application");
    expect(sp["@odata.context"]).toBe(`${sim.graphUrl}/v1.0/$metadata#servicePrincipals/$entity`);
    expect(sim.state().owners[sp.id]).toEqual([sim.automation.servicePrincipalId]);
  });

  it("a second SP for the same app: 409 Request_MultipleObjectsWithSameKeyValue (errata 9.5)", async () => {
    const { app } = await appWithSp();
    const r = await g("POST", "/servicePrincipals", { appId: app.appId });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("Request_MultipleObjectsWithSameKeyValue");
  });

  it("OwnedBy: an SP for an app the caller does not own is 403 (errata 9.2); for an unknown app the transient 403 (3.8)", async () => {
    const foreign = await g("POST", "/servicePrincipals", { appId: FOREIGN_APP_ID });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe("Authorization_RequestDenied");
    const unknown = await g("POST", "/servicePrincipals", { appId: "12121212-0000-4000-8000-000000000000" });
    expect(unknown.status).toBe(403);
    expect(unknown.body.error.message).toMatch(/backing application of the service principal being created must in the local tenant/);
  });

  it("get by id and by appId alternate key, list by $filter appId (0 or 1 item)", async () => {
    const { app, sp } = await appWithSp();
    expect((await g("GET", `/servicePrincipals/${sp.id}`)).body.appId).toBe(app.appId);
    expect((await g("GET", `/servicePrincipals(appId='${app.appId}')`)).body.id).toBe(sp.id);
    const list = await g("GET", `/servicePrincipals?$filter=${encodeURIComponent(`appId eq '${app.appId}'`)}&$select=id,appId`);
    expect(list.body.value).toEqual([{ id: sp.id, appId: app.appId }]);
    const none = await g("GET", `/servicePrincipals(appId='${FOREIGN_APP_ID}')`);
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe("Request_ResourceNotFound");
    const graphSp = await g("GET", `/servicePrincipals(appId='${GRAPH_APP_ID}')?$select=id,appRoles`);
    expect(graphSp.status).toBe(200);
    expect(graphSp.body.appRoles.find((r: any) => r.value === "Application.ReadWrite.OwnedBy").id).toBe("18a4783c-866b-4cc7-a460-3d5e5662c884");
  });

  it("PATCH appRoleAssignmentRequired: 204; unknown property 400 naming microsoft.graph.servicePrincipal", async () => {
    const { sp } = await appWithSp({ appRoleAssignmentRequired: false });
    expect((await g("PATCH", `/servicePrincipals/${sp.id}`, { appRoleAssignmentRequired: true })).status).toBe(204);
    expect((await g("GET", `/servicePrincipals/${sp.id}`)).body.appRoleAssignmentRequired).toBe(true);
    const bad = await g("PATCH", `/servicePrincipals/${sp.id}`, { required: true });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^The property 'required' does not exist on type 'microsoft\.graph\.servicePrincipal'\./);
  });

  it("assign a group with the default-access role: 201 with the documented shape; list; duplicate 400; delete", async () => {
    const { sp } = await appWithSp();
    const body = { principalId: GROUP_ID, resourceId: sp.id, appRoleId: "00000000-0000-0000-0000-000000000000" };
    const r = await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, body);
    expect(r.status).toBe(201);
    const a = r.body;
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(a).toMatchObject({
      appRoleId: "00000000-0000-0000-0000-000000000000",
      principalDisplayName: "Proxmox Admins",
      principalId: GROUP_ID,
      principalType: "Group",
      resourceDisplayName: "Proxmox VE (sp)",
      resourceId: sp.id,
      deletedDateTime: null,
    });
    expect(a.createdDateTime).toMatch(/Z$/);

    const list = await g("GET", `/servicePrincipals/${sp.id}/appRoleAssignedTo`);
    expect(list.body.value.map((x: any) => x.id)).toEqual([a.id]);

    const dup = await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, body);
    expect(dup.status).toBe(400);
    expect(dup.body.error.message).toContain("Permission being assigned already exists on the object");

    const user = await g("POST", `/servicePrincipals(appId='${sp.appId}')/appRoleAssignedTo`, { ...body, principalId: USER_ID });
    expect(user.status).toBe(201);
    expect(user.body.principalType).toBe("User");

    expect((await g("DELETE", `/servicePrincipals/${sp.id}/appRoleAssignedTo/${a.id}`)).status).toBe(204);
    expect((await g("DELETE", `/servicePrincipals/${sp.id}/appRoleAssignedTo/${a.id}`)).status).toBe(404);
    expect((await g("GET", `/servicePrincipals/${sp.id}/appRoleAssignedTo`)).body.value.map((x: any) => x.principalId)).toEqual([USER_ID]);
    expect((sim.state().appRoleAssignments as any[]).some((x) => x.id === a.id)).toBe(false);
  });

  it("assignment to an unknown principal is 404; an app role the resource lacks is 400; unknown body property 400", async () => {
    const { sp } = await appWithSp();
    const missing = await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, {
      principalId: "abababab-0000-4000-8000-000000000000",
      resourceId: sp.id,
      appRoleId: "00000000-0000-0000-0000-000000000000",
    });
    expect(missing.status).toBe(404);
    const role = await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, {
      principalId: GROUP_ID,
      resourceId: sp.id,
      appRoleId: "abababab-0000-4000-8000-000000000000",
    });
    expect(role.status).toBe(400);
    const extra = await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, {
      principalId: GROUP_ID,
      resourceId: sp.id,
      appRoleId: "00000000-0000-0000-0000-000000000000",
      expires: "never",
    });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toMatch(/microsoft\.graph\.appRoleAssignment/);
  });

  it("the automation SP's appRoleAssignments are its Graph permissions (1.2)", async () => {
    const r = await g("GET", `/servicePrincipals/${sim.automation.servicePrincipalId}/appRoleAssignments`);
    expect(r.status).toBe(200);
    expect(r.body.value.map((a: any) => a.appRoleId).sort()).toEqual(
      ["Application.ReadWrite.OwnedBy", "AppRoleAssignment.ReadWrite.All", "Group.Read.All", "User.Read.All", "Policy.Read.All"].map((p) => GRAPH_APP_ROLES[p]).sort(),
    );
    expect(r.body.value.every((a: any) => a.resourceDisplayName === "Microsoft Graph" && a.principalType === "ServicePrincipal")).toBe(true);
  });
});

describe("entra sim: assignments need AppRoleAssignment.ReadWrite.All (errata 9.2)", () => {
  it("OwnedBy alone: 403 on appRoleAssignedTo POST, even for an owned SP", async () => {
    const sim = await startEntraSim({
      fixture: { groups: [{ id: GROUP_ID, displayName: "G" }] },
      automation: { permissions: ["Application.ReadWrite.OwnedBy"] },
    });
    try {
      const g = client(sim, await token(sim));
      const bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
      const app = (await g("POST", "/applications", { displayName: "x", "owners@odata.bind": bind })).body;
      const sp = (await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind })).body;
      const r = await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, { principalId: GROUP_ID, resourceId: sp.id, appRoleId: "00000000-0000-0000-0000-000000000000" });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("Authorization_RequestDenied");
    } finally {
      await sim.close();
    }
  });
});

describe("entra sim: bootstrap grants permissions by appRoleAssignments (1.2, 1.3)", () => {
  it("an app granted Application.ReadWrite.All through Graph gets it in its next token", async () => {
    const sim = await startEntraSim({ automation: { permissions: ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"] } });
    try {
      const g = client(sim, await token(sim));
      const app = (await g("POST", "/applications", { displayName: "second automation" })).body;
      const sp = (await g("POST", "/servicePrincipals", { appId: app.appId })).body;
      const secret = (await g("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "boot" } })).body.secretText;
      const graphSp = (await g("GET", `/servicePrincipals(appId='${GRAPH_APP_ID}')?$select=id`)).body.id;

      const before = client(sim, await token(sim, app.appId, secret));
      expect((await before("GET", "/applications")).status).toBe(403);

      const grant = await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignments`, {
        principalId: sp.id,
        resourceId: graphSp,
        appRoleId: GRAPH_APP_ROLES["Application.Read.All"],
      });
      expect(grant.status).toBe(201);
      // Tokens carry the roles held when issued: the old token still fails, a new one works.
      expect((await before("GET", "/applications")).status).toBe(403);
      const after = client(sim, await token(sim, app.appId, secret));
      expect((await after("GET", "/applications")).status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});

describe("entra sim: service principal edge cases", () => {
  it("ReadWrite.All: unknown appId is 400 'does not reference a valid application object' (3.8)", async () => {
    const sim = await startEntraSim({ automation: { permissions: ["Application.ReadWrite.All"] } });
    try {
      const g = client(sim, await token(sim));
      const r = await g("POST", "/servicePrincipals", { appId: "12121212-0000-4000-8000-000000000000" });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("Request_BadRequest");
      expect(r.body.error.message).toBe(
        "The appId '12121212-0000-4000-8000-000000000000' of the service principal does not reference a valid application object.",
      );
    } finally {
      await sim.close();
    }
  });

  it("OwnedBy: a foreign SP is readable but not writable; an owned SP can be deleted, taking its assignments", async () => {
    const sim = await startEntraSim({
      fixture: {
        groups: [{ id: GROUP_ID, displayName: "G" }],
        applications: [{ id: FOREIGN_APP, appId: FOREIGN_APP_ID, displayName: "Foreign" }],
        servicePrincipals: [{ appId: FOREIGN_APP_ID }],
      },
    });
    try {
      const g = client(sim, await token(sim));
      const foreign = await g("GET", `/servicePrincipals(appId='${FOREIGN_APP_ID}')`);
      expect(foreign.status).toBe(200);
      expect(foreign.body.displayName).toBe("Foreign");
      expect((await g("PATCH", `/servicePrincipals/${foreign.body.id}`, { notes: "x" })).status).toBe(403);
      expect((await g("DELETE", `/servicePrincipals/${foreign.body.id}`)).status).toBe(403);

      const bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
      const app = (await g("POST", "/applications", { displayName: "mine", "owners@odata.bind": bind })).body;
      const sp = (await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind })).body;
      const owners = await g("GET", `/servicePrincipals/${sp.id}/owners`);
      expect(owners.body.value.map((o: any) => o.id)).toEqual([sim.automation.servicePrincipalId]);
      const permissions = sim.state().appRoleAssignments.length; // the automation app's Graph permissions
      await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, { principalId: GROUP_ID, resourceId: sp.id, appRoleId: "00000000-0000-0000-0000-000000000000" });
      expect(sim.state().appRoleAssignments.length).toBe(permissions + 1);
      expect((await g("DELETE", `/servicePrincipals/${sp.id}`)).status).toBe(204);
      expect(sim.state().appRoleAssignments.length).toBe(permissions);
      expect((await g("GET", `/servicePrincipals/${sp.id}`)).status).toBe(404);
      // The application stays.
      expect((await g("GET", `/applications/${app.id}`)).status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it("appRoleAssignedTo pages with $top and an absolute nextLink", async () => {
    const groups = Array.from({ length: 3 }, (_, i) => ({ id: `cccccccc-0000-4000-8000-00000000001${i}`, displayName: `G${i}` }));
    const sim = await startEntraSim({ fixture: { groups } });
    try {
      const g = client(sim, await token(sim));
      const bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
      const app = (await g("POST", "/applications", { displayName: "paged", "owners@odata.bind": bind })).body;
      const sp = (await g("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": bind })).body;
      for (const grp of groups)
        expect((await g("POST", `/servicePrincipals/${sp.id}/appRoleAssignedTo`, { principalId: grp.id, resourceId: sp.id, appRoleId: "00000000-0000-0000-0000-000000000000" })).status).toBe(201);
      const p1 = await g("GET", `/servicePrincipals/${sp.id}/appRoleAssignedTo?$top=2`);
      expect(p1.body.value).toHaveLength(2);
      const next: string = p1.body["@odata.nextLink"];
      expect(next).toMatch(new RegExp(`^${sim.graphUrl}/v1\\.0/servicePrincipals/${sp.id}/appRoleAssignedTo\\?\\$top=2&\\$skiptoken=`));
      const p2 = await g("GET", next.slice(`${sim.graphUrl}/v1.0`.length));
      expect(p2.body.value.map((a: any) => a.principalDisplayName)).toEqual(["G2"]);
      expect(p2.body).not.toHaveProperty("@odata.nextLink");
    } finally {
      await sim.close();
    }
  });
});
