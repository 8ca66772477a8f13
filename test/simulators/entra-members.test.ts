import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_USER_PASSWORD, signIn, startEntraSim, type EntraFixture, type EntraSim } from "../../src/sim/entra/index.js";

/**
 * Group members in the Entra simulator (issue 13 part 1): direct and transitive members, nested groups, the
 * `microsoft.graph.user` cast, paging, `$select` of the properties homelab maps (accountEnabled included), the
 * permissions that read them, and directory changes at run time (`sim.directory`).
 */

type Reply = { status: number; body: any; text: string };

async function tokenFor(sim: EntraSim): Promise<string> {
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

function getter(sim: EntraSim, token: string) {
  return async (path: string, headers: Record<string, string> = {}): Promise<Reply> => {
    const url = path.startsWith("http") ? path : `${sim.graphUrl}/v1.0${path}`;
    const r = await fetch(url, { headers: { authorization: `Bearer ${token}`, ...headers } });
    const text = await r.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: r.status, body, text };
  };
}

const D = "homelabsim.onmicrosoft.com";
const ID = {
  alice: "a11ce000-0000-4000-8000-000000000001",
  bob: "b0b00000-0000-4000-8000-000000000002",
  carol: "ca401000-0000-4000-8000-000000000003",
  dave: "da7e0000-0000-4000-8000-000000000004",
  admins: "ad000000-0000-4000-8000-000000000001",
  ops: "0b500000-0000-4000-8000-000000000002",
  deep: "dee90000-0000-4000-8000-000000000003",
  big: "b1900000-0000-4000-8000-000000000004",
};
const upn = (n: string) => `${n}@${D}`;

const FIXTURE: EntraFixture = {
  users: [
    { id: ID.alice, displayName: "Alice Admin", userPrincipalName: upn("alice"), mail: "alice@contoso.example", givenName: "Alice", surname: "Admin" },
    { id: ID.bob, displayName: "Bob Ops", userPrincipalName: upn("bob"), mail: "bob@contoso.example" },
    { id: ID.carol, displayName: "Carol Gone", userPrincipalName: upn("carol"), accountEnabled: false },
    { id: ID.dave, displayName: "Dave Deep", userPrincipalName: upn("dave"), givenName: "Dave" },
  ],
  groups: [
    // Admins ⊃ Ops ⊃ Deep; alice is in Admins and in Deep (she must come once).
    { id: ID.admins, displayName: "Proxmox Admins", members: [upn("alice")], memberGroups: ["Ops"] },
    { id: ID.ops, displayName: "Ops", members: [upn("bob"), upn("carol")], memberGroups: ["Deep"] },
    { id: ID.deep, displayName: "Deep", members: [upn("alice"), upn("dave")] },
    { id: ID.big, displayName: "Big" },
  ],
};

const SELECT = "id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled";

describe("entra sim: members and transitiveMembers (issue 13)", () => {
  let sim: EntraSim;
  let get: (path: string, headers?: Record<string, string>) => Promise<Reply>;

  beforeAll(async () => {
    sim = await startEntraSim({ fixture: FIXTURE });
    get = getter(sim, await tokenFor(sim));
  });
  afterAll(() => sim.close());

  it("members: the direct members only, users and groups, each tagged with @odata.type; users show their default properties", async () => {
    const r = await get(`/groups/${ID.admins}/members`);
    expect(r.status).toBe(200);
    expect(r.body["@odata.context"]).toBe(`${sim.graphUrl}/v1.0/$metadata#directoryObjects`);
    expect(r.body.value.map((m: any) => [m["@odata.type"], m.id])).toEqual([
      ["#microsoft.graph.user", ID.alice],
      ["#microsoft.graph.group", ID.ops],
    ]);
    const alice = r.body.value[0];
    expect(alice.userPrincipalName).toBe(upn("alice"));
    // accountEnabled is "returned only on $select".
    expect(alice).not.toHaveProperty("accountEnabled");
  });

  it("transitiveMembers: everything reachable through nested groups, each member once", async () => {
    const r = await get(`/groups/${ID.admins}/transitiveMembers?$select=id`);
    expect(r.status).toBe(200);
    const ids = r.body.value.map((m: any) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([ID.alice, ID.ops, ID.bob, ID.carol, ID.deep, ID.dave].sort());
    expect(r.body.value.find((m: any) => m.id === ID.deep)["@odata.type"]).toBe("#microsoft.graph.group");
  });

  it("transitiveMembers/microsoft.graph.user: users only, with exactly the selected properties, accountEnabled included", async () => {
    const r = await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user?$select=${SELECT}`);
    expect(r.status).toBe(200);
    expect(r.body["@odata.context"]).toBe(`${sim.graphUrl}/v1.0/$metadata#users(${SELECT})`);
    const byId = new Map<string, any>(r.body.value.map((u: any) => [u.id, u]));
    expect([...byId.keys()].sort()).toEqual([ID.alice, ID.bob, ID.carol, ID.dave].sort());
    expect(byId.get(ID.alice)).toEqual({
      id: ID.alice,
      userPrincipalName: upn("alice"),
      mail: "alice@contoso.example",
      displayName: "Alice Admin",
      givenName: "Alice",
      surname: "Admin",
      accountEnabled: true,
    });
    expect(byId.get(ID.carol).accountEnabled).toBe(false);
    expect(byId.get(ID.dave)).toMatchObject({ mail: null, surname: null, givenName: "Dave", accountEnabled: true });
    // The direct-members cast too.
    const direct = await get(`/groups/${ID.ops}/members/microsoft.graph.user?$select=id`);
    expect(direct.body.value.map((u: any) => u.id).sort()).toEqual([ID.bob, ID.carol].sort());
    const groupsOnly = await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.group?$select=id,displayName`);
    expect(groupsOnly.body.value).toEqual([
      { id: ID.ops, displayName: "Ops" },
      { id: ID.deep, displayName: "Deep" },
    ]);
  });

  it("unknown casts, segments and properties are 400; $filter on members needs an advanced query; $count needs ConsistencyLevel", async () => {
    const cast = await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.person`);
    expect(cast.status).toBe(400);
    expect(cast.body.error.message).toBe("Resource not found for the segment 'microsoft.graph.person'.");
    expect((await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user/extra`)).status).toBe(400);
    const prop = await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user?$select=id,nickname`);
    expect(prop.status).toBe(400);
    expect(prop.body.error.message).toBe("Could not find a property named 'nickname' on type 'microsoft.graph.user'.");
    const filter = await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user?$filter=${encodeURIComponent("accountEnabled eq false")}&$select=id`);
    expect(filter.status).toBe(400);
    expect(filter.body.error.code).toBe("Request_UnsupportedQuery");
    const advanced = await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user?$filter=${encodeURIComponent("accountEnabled eq false")}&$count=true&$select=id`, {
      ConsistencyLevel: "eventual",
    });
    expect(advanced.body.value).toEqual([{ id: ID.carol }]);
    expect(advanced.body["@odata.count"]).toBe(1);
    expect((await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user/$count`)).status).toBe(400);
    const count = await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user/$count`, { ConsistencyLevel: "eventual" });
    expect(count.text).toBe("4");
    const missing = await get(`/groups/${ID.alice}/members`);
    expect(missing.status).toBe(404);
  });

  it("paging: $top up to 999, absolute @odata.nextLink followed verbatim, every member exactly once", async () => {
    const made: string[] = [];
    for (let i = 0; i < 1050; i++) {
      const id = sim.directory.addUser({ displayName: `Member ${i}`, userPrincipalName: upn(`m${i}`) });
      sim.directory.addMember("Big", id);
      made.push(id);
    }
    expect((await get(`/groups/${ID.big}/transitiveMembers/microsoft.graph.user?$top=1000`)).status).toBe(400);
    const first = await get(`/groups/${ID.big}/transitiveMembers/microsoft.graph.user?$top=999&$select=id,accountEnabled`);
    expect(first.body.value).toHaveLength(999);
    const next = first.body["@odata.nextLink"] as string;
    expect(next.startsWith(`${sim.graphUrl}/v1.0/groups/${ID.big}/transitiveMembers/microsoft.graph.user?`)).toBe(true);
    const second = await get(next);
    expect(second.status).toBe(200);
    expect(second.body.value).toHaveLength(51);
    expect(second.body["@odata.nextLink"]).toBeUndefined();
    // The link keeps the query: the second page is still projected.
    expect(Object.keys(second.body.value[0]).sort()).toEqual(["accountEnabled", "id"]);
    const seen = [...first.body.value, ...second.body.value].map((u: any) => u.id);
    expect(new Set(seen).size).toBe(1050);
    expect([...seen].sort()).toEqual([...made].sort());
    // Default page size 100.
    const dflt = await get(`/groups/${ID.big}/members?$select=id`);
    expect(dflt.body.value).toHaveLength(100);
    expect(dflt.body["@odata.nextLink"]).toContain("$skiptoken=");
  });

  it("/users?$filter=id in (...): up to 15 expressions without advanced query, 16 is 400 Request_UnsupportedQuery", async () => {
    const ids = [ID.alice, ID.bob, ID.carol, ID.dave, ...Array.from({ length: 11 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`)];
    const list = (xs: string[]) => encodeURIComponent(`id in (${xs.map((x) => `'${x}'`).join(",")})`);
    const ok = await get(`/users?$filter=${list(ids)}&$select=id,accountEnabled`);
    expect(ok.status).toBe(200);
    expect(ok.body.value.map((u: any) => [u.id, u.accountEnabled]).sort()).toEqual(
      [
        [ID.alice, true],
        [ID.bob, true],
        [ID.carol, false],
        [ID.dave, true],
      ].sort(),
    );
    const tooMany = await get(`/users?$filter=${list([...ids, "00000000-0000-4000-8000-999999999999"])}&$select=id`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({ code: "Request_UnsupportedQuery", message: expect.stringContaining("Max allowed: 15") });
    const advanced = await get(`/users?$filter=${list([...ids, "00000000-0000-4000-8000-999999999999"])}&$count=true&$select=id`, { ConsistencyLevel: "eventual" });
    expect(advanced.status).toBe(200);
    const one = await get(`/users/${ID.carol}?$select=id,accountEnabled,mail`);
    expect(one.body).toMatchObject({ id: ID.carol, accountEnabled: false, mail: null });
    expect(Object.keys(one.body).filter((k) => !k.startsWith("@"))).toEqual(["id", "accountEnabled", "mail"]);
  });

  it("run time: join, leave, disable and delete show in the next read; a deleted user is 404 and no longer signs in", async () => {
    const erin = sim.directory.addUser({ displayName: "Erin New", userPrincipalName: upn("erin"), mail: "erin@contoso.example" });
    sim.directory.addMember("Deep", upn("erin"));
    const members = async () => (await get(`/groups/${ID.admins}/transitiveMembers/microsoft.graph.user?$select=id,accountEnabled`)).body.value as any[];
    expect((await members()).find((u) => u.id === erin)).toEqual({ id: erin, accountEnabled: true });
    expect(sim.directory.transitiveMembers("Proxmox Admins")).toContain(erin);

    sim.directory.setAccountEnabled(upn("erin"), false);
    expect((await members()).find((u) => u.id === erin)).toEqual({ id: erin, accountEnabled: false });
    sim.directory.setAccountEnabled(erin, true);

    sim.directory.removeMember("Deep", erin);
    expect((await members()).some((u) => u.id === erin)).toBe(false);
    expect(() => sim.directory.removeMember("Deep", erin)).toThrow(/not a direct member/);

    sim.directory.addMember("Proxmox Admins", erin);
    sim.directory.updateUser(erin, { mail: null, surname: "Renamed" });
    const u = await get(`/users/${erin}?$select=mail,surname`);
    expect(u.body).toMatchObject({ mail: null, surname: "Renamed" });

    sim.directory.deleteUser(upn("erin"));
    expect((await get(`/users/${erin}`)).status).toBe(404);
    expect((await get(`/users/${upn("erin")}`)).status).toBe(404);
    expect((await members()).some((u) => u.id === erin)).toBe(false);
    expect(sim.directory.members("Proxmox Admins")).not.toContain(erin);
    const gone = await get(`/users?$filter=${encodeURIComponent(`id in ('${erin}','${ID.alice}')`)}&$select=id`);
    expect(gone.body.value).toEqual([{ id: ID.alice }]);
    // Sign-in: AADSTS50034 (no such account).
    const app = await createSignInApp(sim);
    const r = await signIn({ parts: { loginUrl: sim.loginUrl, tenant: sim.tenantId, clientId: app, redirectUri: "https://pve.example.test:8006" }, username: upn("erin"), password: DEFAULT_USER_PASSWORD });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.aadsts).toBe(50034);
  });

  it("cycles are refused (Entra has none): at run time and in a fixture", async () => {
    expect(() => sim.directory.addMember("Deep", "Proxmox Admins")).toThrow(/cycle/);
    expect(() => sim.directory.addMember("Ops", "Ops")).toThrow(/cycle/);
    expect(() => sim.directory.addMember("Ops", "Deep")).toThrow(/already/);
    expect(sim.directory.members("Deep")).not.toContain(ID.admins);
    await expect(
      startEntraSim({ fixture: { groups: [{ displayName: "A", memberGroups: ["B"] }, { displayName: "B", memberGroups: ["A"] }] } }),
    ).rejects.toThrow(/cycle/);
  });
});

/** An app with a web redirect URI and a service principal, for sign-in checks (via the simulator's Graph). */
async function createSignInApp(sim: EntraSim): Promise<string> {
  const token = await tokenFor(sim);
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${sim.graphUrl}/v1.0${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    return (await r.json()) as any;
  };
  const owners = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
  const app = await post("/applications", { displayName: "Sign-in check", web: { redirectUris: ["https://pve.example.test:8006"] }, "owners@odata.bind": owners });
  await post("/servicePrincipals", { appId: app.appId, "owners@odata.bind": owners });
  return String(app.appId);
}

describe("entra sim: who may read members and accountEnabled (Graph permissions reference)", () => {
  const sims: EntraSim[] = [];
  afterAll(async () => {
    await Promise.all(sims.map((s) => s.close()));
  });

  async function as(permissions: string[]) {
    const sim = await startEntraSim({ fixture: FIXTURE, automation: { permissions } });
    sims.push(sim);
    return getter(sim, await tokenFor(sim));
  }
  const path = `/groups/${ID.ops}/transitiveMembers/microsoft.graph.user?$select=${SELECT}`;

  it("without GroupMember.Read.All, Group.Read.All or Directory.Read.All: 403 Authorization_RequestDenied", async () => {
    const get = await as(["User.Read.All"]);
    const r = await get(path);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("Authorization_RequestDenied");
    expect((await get(`/groups/${ID.ops}/members`)).status).toBe(403);
  });

  it("GroupMember.Read.All alone: members are listed with their id only (limited information), accountEnabled null", async () => {
    const get = await as(["GroupMember.Read.All"]);
    const r = await get(path);
    expect(r.status).toBe(200);
    const bob = r.body.value.find((u: any) => u.id === ID.bob);
    expect(bob).toEqual({ id: ID.bob, userPrincipalName: null, mail: null, displayName: null, givenName: null, surname: null, accountEnabled: null });
    expect((await get(`/users/${ID.bob}`)).status).toBe(403);
  });

  it("with User.ReadBasic.All: the basic profile, but accountEnabled stays null (needs User.Read.All)", async () => {
    const get = await as(["GroupMember.Read.All", "User.ReadBasic.All"]);
    const bob = (await get(path)).body.value.find((u: any) => u.id === ID.bob);
    expect(bob).toEqual({ id: ID.bob, userPrincipalName: upn("bob"), mail: "bob@contoso.example", displayName: "Bob Ops", givenName: null, surname: null, accountEnabled: null });
    const carol = await get(`/users/${ID.carol}?$select=id,accountEnabled`);
    expect(carol.body).toMatchObject({ id: ID.carol, accountEnabled: null });
    // A filter on a property the caller cannot read matches nothing.
    const f = await get(`/users?$filter=${encodeURIComponent("accountEnabled eq false")}&$select=id`);
    expect(f.body.value).toEqual([]);
  });

  for (const perms of [["GroupMember.Read.All", "User.Read.All"], ["Directory.Read.All"]]) {
    it(`with ${perms.join(" + ")}: accountEnabled is a boolean`, async () => {
      const get = await as(perms);
      const users = (await get(path)).body.value as any[];
      expect(users.map((u) => [u.id, u.accountEnabled]).sort()).toEqual(
        [
          [ID.bob, true],
          [ID.carol, false],
          [ID.alice, true],
          [ID.dave, true],
        ].sort(),
      );
    });
  }
});
