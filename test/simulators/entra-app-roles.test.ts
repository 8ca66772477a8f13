import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_USER_PASSWORD, signIn, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

/**
 * App roles in the Entra simulator (issue 13 part 3): roles on the application, disabled before they change or go
 * (CannotDeleteOrUpdateEnabledEntitlement), assignments with `appRoleAssignedTo` validated against the app's roles,
 * and the ID token's `roles` claim from direct and group assignments.
 */

const D = "homelabsim.onmicrosoft.com";
const upn = (n: string) => `${n}@${D}`;
const REDIRECT = "https://pve.example.test:8006";
const DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000";
const ROLE = {
  admins: "7a000000-0000-4000-8000-000000000001",
  ops: "7a000000-0000-4000-8000-000000000002",
  apps: "7a000000-0000-4000-8000-000000000003",
};
const role = (id: string, value: string, extra: Record<string, unknown> = {}) => ({
  id,
  value,
  displayName: value,
  description: `${value} of Proxmox`,
  allowedMemberTypes: ["User"],
  isEnabled: true,
  ...extra,
});

let sim: EntraSim;
let token: string;
let app: { id: string; appId: string };
let spId: string;
let secret: string;
const gid: Record<string, string> = {};
const uid: Record<string, string> = {};

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${sim.graphUrl}/v1.0${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

const patchRoles = (roles: unknown[]) => call("PATCH", `/applications/${app.id}`, { appRoles: roles });
const assign = (principalId: string, appRoleId: string) =>
  call("POST", `/servicePrincipals/${spId}/appRoleAssignedTo`, { principalId, resourceId: spId, appRoleId });

/** Signs `user` in to the app (authorization code flow) and returns the ID token's claims. */
async function idClaims(user: string): Promise<Record<string, unknown>> {
  const r = await signIn({
    parts: { loginUrl: sim.loginUrl, tenant: sim.tenantId, clientId: app.appId, redirectUri: REDIRECT },
    username: user,
    password: DEFAULT_USER_PASSWORD,
  });
  if (!r.ok) throw new Error(`sign-in failed: ${r.message}`);
  const t = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: app.appId, client_secret: secret, code: r.code, redirect_uri: REDIRECT, scope: "openid profile email" }),
  });
  const body = (await t.json()) as { id_token?: string; error_description?: string };
  if (!body.id_token) throw new Error(`token request failed: ${body.error_description}`);
  return JSON.parse(Buffer.from(body.id_token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

beforeAll(async () => {
  sim = await startEntraSim({
    fixture: {
      users: [
        { displayName: "Alice", userPrincipalName: upn("alice") },
        { displayName: "Bob", userPrincipalName: upn("bob") },
        { displayName: "Dave", userPrincipalName: upn("dave") },
        { displayName: "Nobody", userPrincipalName: upn("nobody") },
      ],
      groups: [
        { displayName: "Proxmox Admins", members: [upn("alice")], memberGroups: ["Nested"] },
        { displayName: "Nested", members: [upn("dave")] },
      ],
    },
  });
  for (const g of sim.state().groups as Array<{ id: string; displayName: string }>) gid[g.displayName] = g.id;
  for (const u of sim.state().users as Array<{ id: string; userPrincipalName: string }>) uid[u.userPrincipalName.split("@")[0]!] = u.id;
  const t = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  token = ((await t.json()) as { access_token: string }).access_token;
  const owners = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
  const created = await call("POST", "/applications", { displayName: "Proxmox VE", web: { redirectUris: [REDIRECT] }, "owners@odata.bind": owners });
  expect(created.status).toBe(201);
  app = { id: created.body.id, appId: created.body.appId };
  const sp = await call("POST", "/servicePrincipals", { appId: app.appId, "owners@odata.bind": owners });
  spId = sp.body.id;
  secret = (await call("POST", `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: "test" } })).body.secretText;
});
afterAll(() => sim.close());

describe("entra sim: app roles on the application", () => {
  it("a PATCH defines roles; the application and its service principal show them, defaults filled in", async () => {
    const r = await patchRoles([role(ROLE.admins, "admins"), { id: ROLE.apps, value: "automation", allowedMemberTypes: ["Application"] }]);
    expect(r.status).toBe(204);
    const a = await call("GET", `/applications/${app.id}?$select=appRoles`);
    expect(a.body.appRoles).toEqual([
      { ...role(ROLE.admins, "admins"), origin: "Application" },
      { id: ROLE.apps, value: "automation", allowedMemberTypes: ["Application"], isEnabled: true, origin: "Application", displayName: null, description: null },
    ]);
    const sp = await call("GET", `/servicePrincipals/${spId}?$select=appRoles`);
    expect(sp.body.appRoles).toEqual(a.body.appRoles);
  });

  it("invalid roles are 400 and change nothing: no member type, an unknown one, a value with a space or a leading dot, duplicate ids or values", async () => {
    const before = (await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles;
    const bad: unknown[][] = [
      [role(ROLE.ops, "ops", { allowedMemberTypes: [] })],
      [role(ROLE.ops, "ops", { allowedMemberTypes: ["Group"] })],
      [role(ROLE.ops, "two words")],
      [role(ROLE.ops, ".hidden")],
      [role(ROLE.ops, "ops"), role(ROLE.ops, "ops2")],
      [role(ROLE.ops, "ops"), role("7a000000-0000-4000-8000-0000000000ff", "OPS")],
      [role("not-a-guid", "ops")],
    ];
    for (const roles of bad) {
      const r = await patchRoles([...before, ...roles]);
      expect(r.status, JSON.stringify(roles)).toBe(400);
      expect(r.body.error.code).toBe("Request_BadRequest");
    }
    expect((await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles).toEqual(before);
  });

  it("an enabled role can be neither removed nor changed: 400 CannotDeleteOrUpdateEnabledEntitlement", async () => {
    const current = (await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles as any[];
    const removed = await patchRoles(current.filter((r) => r.id !== ROLE.apps));
    expect(removed.status).toBe(400);
    expect(removed.body.error).toMatchObject({
      code: "CannotDeleteOrUpdateEnabledEntitlement",
      message: "Permission (scope or role) cannot be deleted or updated unless disabled first.",
    });
    const renamed = await patchRoles(current.map((r) => (r.id === ROLE.apps ? { ...r, value: "robots" } : r)));
    expect(renamed.body.error.code).toBe("CannotDeleteOrUpdateEnabledEntitlement");
    // Disabling and renaming in one go is a change of an enabled role too.
    const both = await patchRoles(current.map((r) => (r.id === ROLE.apps ? { ...r, value: "robots", isEnabled: false } : r)));
    expect(both.body.error.code).toBe("CannotDeleteOrUpdateEnabledEntitlement");
    // Adding a role alongside the unchanged ones is fine.
    expect((await patchRoles([...current, role(ROLE.ops, "ops")])).status).toBe(204);
  });

  it("disable first, then remove: two PATCHes; the service principal follows", async () => {
    const current = (await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles as any[];
    expect((await patchRoles(current.map((r) => (r.id === ROLE.apps ? { ...r, isEnabled: false } : r)))).status).toBe(204);
    const disabled = (await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles as any[];
    expect(disabled.find((r) => r.id === ROLE.apps).isEnabled).toBe(false);
    // A disabled role may change, and may go.
    expect((await patchRoles(disabled.map((r) => (r.id === ROLE.apps ? { ...r, value: "robots" } : r)))).status).toBe(204);
    expect((await patchRoles(disabled.filter((r) => r.id !== ROLE.apps))).status).toBe(204);
    const sp = await call("GET", `/servicePrincipals/${spId}?$select=appRoles`);
    expect(sp.body.appRoles.map((r: any) => r.value)).toEqual(["admins", "ops"]);
  });
});

describe("entra sim: appRoleAssignedTo against the app's roles, and the roles claim", () => {
  it("assigning a group or a user to an enabled role allowing users: 201; to no such role, or a role for applications only: 400", async () => {
    const g = await assign(gid["Proxmox Admins"]!, ROLE.admins);
    expect(g.status).toBe(201);
    expect(g.body).toMatchObject({ appRoleId: ROLE.admins, principalId: gid["Proxmox Admins"], principalType: "Group", resourceId: spId });
    expect((await assign(uid.bob!, ROLE.ops)).status).toBe(201);
    expect((await assign(uid.bob!, ROLE.ops)).status).toBe(400); // duplicate (3.9)
    const unknown = await assign(uid.alice!, "7a000000-0000-4000-8000-0000000000ee");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain("was not found on application");
    // Default access still works on an app with roles.
    expect((await assign(uid.nobody!, DEFAULT_ACCESS)).status).toBe(201);
    // A role for applications only: add one, try to give it to a user.
    const current = (await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles as any[];
    await patchRoles([...current, { id: ROLE.apps, value: "automation", allowedMemberTypes: ["Application"] }]);
    expect((await assign(uid.alice!, ROLE.apps)).status).toBe(400);
  });

  it("roles claim: the values of the user's assignments, direct or through a group they are a direct member of", async () => {
    expect((await idClaims(upn("alice"))).roles).toEqual(["admins"]);
    expect((await idClaims(upn("bob"))).roles).toEqual(["ops"]);
    // Dave is only in a group nested in the assigned one: group assignment does not cascade (3.9).
    expect(await idClaims(upn("dave"))).not.toHaveProperty("roles");
    // Default access is no role.
    expect(await idClaims(upn("nobody"))).not.toHaveProperty("roles");
    sim.directory.addMember("Proxmox Admins", upn("bob"));
    expect((await idClaims(upn("bob"))).roles).toEqual(["admins", "ops"]);
    sim.directory.removeMember("Proxmox Admins", upn("bob"));
    expect((await idClaims(upn("bob"))).roles).toEqual(["ops"]);
  });

  it("a disabled role is no longer assignable but stays in tokens while assigned; once removed it is gone from tokens", async () => {
    const current = (await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles as any[];
    expect((await patchRoles(current.map((r) => (r.id === ROLE.admins ? { ...r, isEnabled: false } : r)))).status).toBe(204);
    expect((await assign(uid.dave!, ROLE.admins)).status).toBe(400);
    expect((await idClaims(upn("alice"))).roles).toEqual(["admins"]);
    const disabled = (await call("GET", `/applications/${app.id}?$select=appRoles`)).body.appRoles as any[];
    expect((await patchRoles(disabled.filter((r) => r.id !== ROLE.admins))).status).toBe(204);
    expect(await idClaims(upn("alice"))).not.toHaveProperty("roles");
  });

  it("a deleted user's assignments go with them; a disabled user cannot sign in (AADSTS50057)", async () => {
    const before = (await call("GET", `/servicePrincipals/${spId}/appRoleAssignedTo`)).body.value as any[];
    expect(before.some((a) => a.principalId === uid.bob)).toBe(true);
    sim.directory.setAccountEnabled(upn("bob"), false);
    await expect(idClaims(upn("bob"))).rejects.toThrow(/AADSTS50057/);
    sim.directory.deleteUser(upn("bob"));
    const after = (await call("GET", `/servicePrincipals/${spId}/appRoleAssignedTo`)).body.value as any[];
    expect(after.some((a) => a.principalId === uid.bob)).toBe(false);
    expect(after.length).toBe(before.length - 1);
  });
});
