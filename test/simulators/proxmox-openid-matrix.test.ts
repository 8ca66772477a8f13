/**
 * The OpenID login matrix (issue 11 test matrix, Proxmox side) against oidc-provider: user name
 * claims, autocreate, group mapping with autocreate and overwrite, disabled and expired users, and
 * the ID token and token endpoint faults, each with the reason the node logs (spec 4.6, 6; OpenId.pm).
 */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RawClient, startProxmoxSim, type ProxmoxFixture, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { startTestIdp, type Account, type TestIdp } from "./proxmox-openid-idp.js";

const ALICE: Account = {
  sub: "alice-sub",
  preferred_username: "alice",
  email: "alice@corp.example",
  given_name: "Alice",
  family_name: "Liddell",
  upn: "alice@corp.onmicrosoft.example",
  groups: ["admins", "ops", "bad group", "x:y"],
};
const CAROL: Account = { sub: "carol-sub", preferred_username: "carol smith", email: "carol@corp.example" };
/** no preferred_username at all */
const DAVE: Account = { sub: "dave-sub", email: "dave@corp.example" };

let idp: TestIdp;
/** an OP that keeps scope claims (email, profile) out of the ID token: only userinfo has them */
let conformIdp: TestIdp;
let sim: ProxmoxSim;
let client: RawClient;

function fixture(op: TestIdp, extra: Record<string, unknown> = {}, rest: Omit<ProxmoxFixture, "realms"> = {}): ProxmoxFixture {
  return {
    realms: [{ realm: "corp", type: "openid", "issuer-url": op.issuer, "client-id": op.clientId, "client-key": op.clientSecret, ...extra }],
    ...rest,
  };
}

async function signIn(account: string, op: TestIdp = idp): Promise<{ status: number; data: Record<string, unknown> | null; code: string; state: string }> {
  const a = await client.post("/access/openid/auth-url", { realm: "corp", "redirect-url": op.redirectUri });
  expect(a.status, JSON.stringify(a.json)).toBe(200);
  const { code, state } = await op.signIn(a.json.data as string, account);
  const res = await client.post("/access/openid/login", { state, code, "redirect-url": op.redirectUri });
  if (res.status !== 200) expect(res.json.message).toBe("authentication failure\n");
  return { status: res.status, data: res.json?.data ?? null, code, state };
}

function lastFailure(): string {
  const f = sim.syslog.filter((e) => e.message.startsWith("openid authentication failure"));
  return f.at(-1)?.message ?? "(no failure logged)";
}

const groupsOf = (userid: string): string[] =>
  (sim.state().users ?? []).find((u) => u.userid === userid)?.groups?.slice().sort() ?? [];

beforeAll(async () => {
  idp = await startTestIdp({ accounts: [ALICE, CAROL, DAVE] });
  conformIdp = await startTestIdp({ accounts: [ALICE], conformIdTokenClaims: true });
  sim = await startProxmoxSim({ unauthorizedDelayMs: 0, openidTrustedCAs: [idp.certPem, conformIdp.certPem] });
  client = new RawClient(sim.url, sim.certPem);
});

afterAll(async () => {
  client.close();
  await sim.close();
  await idp.close();
  await conformIdp.close();
});

beforeEach(() => {
  for (const op of [idp, conformIdp]) {
    op.tamperIdToken = undefined;
    op.forgeKey = undefined;
    op.requests.length = 0;
  }
});

describe("user name from username-claim", () => {
  const cases: Array<[string | undefined, string, string]> = [
    [undefined, "alice-sub", "alice-sub@corp"],
    ["subject", "alice-sub", "alice-sub@corp"], // no `subject` claim: falls back to sub
    ["username", "alice-sub", "alice@corp"], // no `username` claim: falls back to preferred_username
    ["email", "alice-sub", "alice@corp.example@corp"],
    ["upn", "alice-sub", "alice@corp.onmicrosoft.example@corp"],
    ["preferred_username", "alice-sub", "alice@corp"],
  ];
  for (const [claim, account, userid] of cases) {
    it(`username-claim ${claim ?? "unset"} gives ${userid}`, async () => {
      sim.reset(fixture(idp, { autocreate: 1, ...(claim ? { "username-claim": claim } : {}) }));
      const r = await signIn(account);
      expect(r.status, lastFailure()).toBe(200);
      expect(r.data!.username).toBe(userid);
    });
  }

  it("a missing claim fails (no fallback for other claims; username without preferred_username fails too)", async () => {
    sim.reset(fixture(idp, { autocreate: 1, "username-claim": "employee_id" }));
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toMatch(/msg=missing configured claim 'employee_id' in returned info object\n$/);
    sim.reset(fixture(idp, { autocreate: 1, "username-claim": "username" }));
    expect((await signIn("dave-sub")).status).toBe(401);
    expect(lastFailure()).toMatch(/msg=missing claim 'preferred_username'\n$/);
    expect(sim.state().users!.map((u) => u.userid)).toEqual(["root@pam"]);
  });

  it("an invalid user id is refused, even with autocreate", async () => {
    sim.reset(fixture(idp, { autocreate: 1, "username-claim": "preferred_username" }));
    expect((await signIn("carol-sub")).status).toBe(401);
    expect(lastFailure()).toMatch(/msg=value 'carol smith@corp' does not look like a valid user name\n$/);
    expect(sim.state().users!.map((u) => u.userid)).toEqual(["root@pam"]);
  });
});

describe("autocreate", () => {
  it("on: creates the user with email and names, enabled, no groups", async () => {
    sim.reset(fixture(idp, { autocreate: 1, "username-claim": "email" }));
    expect((await signIn("alice-sub")).status).toBe(200);
    const u = sim.state().users!.find((x) => x.userid === "alice@corp.example@corp")!;
    expect(u).toMatchObject({ enable: 1, email: "alice@corp.example", firstname: "Alice", lastname: "Liddell" });
    expect(u.groups ?? []).toEqual([]);
    // The second sign-in finds the user (no second create).
    expect((await signIn("alice-sub")).status).toBe(200);
  });

  it("off: a user that does not exist cannot sign in", async () => {
    sim.reset(fixture(idp, { "username-claim": "email" }));
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toMatch(/msg=no such user \('alice@corp\.example@corp'\)\n$/);
    expect(sim.state().users!.map((u) => u.userid)).toEqual(["root@pam"]);
  });

  it("a disabled or expired Proxmox user is refused, with or without autocreate", async () => {
    for (const autocreate of [0, 1]) {
      sim.reset(fixture(idp, { autocreate, "username-claim": "username" }, { users: [{ userid: "alice@corp", enable: 0 }] }));
      expect((await signIn("alice-sub")).status).toBe(401);
      expect(lastFailure()).toMatch(/msg=user 'alice@corp' is disabled\n$/);
      sim.reset(fixture(idp, { autocreate, "username-claim": "username" }, { users: [{ userid: "alice@corp", expire: 1_000_000 }] }));
      expect((await signIn("alice-sub")).status).toBe(401);
      expect(lastFailure()).toMatch(/msg=user 'alice@corp' access expired\n$/);
    }
  });
});

describe("groups-claim", () => {
  const base = { autocreate: 1, "username-claim": "username", "groups-claim": "groups" };

  it("without groups-autocreate joins only existing <entry>-<realm> groups; invalid names are skipped with a warning", async () => {
    sim.reset(fixture(idp, base, { groups: [{ groupid: "ops-corp" }, { groupid: "admins" }] }));
    expect((await signIn("alice-sub")).status).toBe(200);
    expect(groupsOf("alice@corp")).toEqual(["ops-corp"]);
    expect(sim.state().groups!.map((g) => g.groupid).sort()).toEqual(["admins", "ops-corp"]);
    const msgs = sim.syslog.map((e) => `${e.level} ${e.message}`);
    expect(msgs).toContain("warn openid group 'bad group' contains invalid characters");
    expect(msgs).toContain("warn openid group 'x:y' contains invalid characters");
    expect(msgs).toContain("info openid user 'alice@corp' added to groups: ops-corp");
  });

  it("with groups-autocreate creates the missing groups and joins them all", async () => {
    sim.reset(fixture(idp, { ...base, "groups-autocreate": 1 }, { groups: [{ groupid: "ops-corp", comment: "kept" }] }));
    expect((await signIn("alice-sub")).status).toBe(200);
    expect(groupsOf("alice@corp")).toEqual(["admins-corp", "ops-corp"]);
    const groups = sim.state().groups!;
    expect(groups.find((g) => g.groupid === "admins-corp")).toEqual({ groupid: "admins-corp" });
    expect(groups.find((g) => g.groupid === "ops-corp")?.comment).toBe("kept");
    expect(sim.syslog.map((e) => e.message)).toContain("groups created automatically from openid claim: admins-corp");
  });

  it("groups-overwrite removes every other membership, including groups homelab manages; without it they stay", async () => {
    // alice@corp is declared in homelab.yaml as a member of the plain group vm-admins.
    const rest = { users: [{ userid: "alice@corp", groups: ["vm-admins"] }], groups: [{ groupid: "vm-admins" }, { groupid: "ops-corp" }] };
    sim.reset(fixture(idp, base, rest));
    expect((await signIn("alice-sub")).status).toBe(200);
    expect(groupsOf("alice@corp")).toEqual(["ops-corp", "vm-admins"]);

    sim.reset(fixture(idp, { ...base, "groups-overwrite": 1 }, rest));
    expect((await signIn("alice-sub")).status).toBe(200);
    expect(groupsOf("alice@corp")).toEqual(["ops-corp"]);
    expect(sim.syslog.map((e) => e.message)).toContain("openid overwrite groups enabled; user 'alice@corp' removed from all groups");
  });

  it("a claim that is missing or not a list is logged and changes nothing; the login still succeeds", async () => {
    sim.reset(fixture(idp, { ...base, "groups-claim": "roles", "groups-overwrite": 1 }, { users: [{ userid: "alice@corp", groups: ["keep"] }], groups: [{ groupid: "keep" }] }));
    expect((await signIn("alice-sub")).status).toBe(200);
    expect(groupsOf("alice@corp")).toEqual(["keep"]);
    expect(sim.syslog.map((e) => e.message)).toContain("openid groups claim 'roles' is not found in claims");
    sim.reset(fixture(idp, { ...base, "groups-claim": "email", "groups-overwrite": 1 }, { users: [{ userid: "alice@corp", groups: ["keep"] }], groups: [{ groupid: "keep" }] }));
    expect((await signIn("alice-sub")).status).toBe(200);
    expect(groupsOf("alice@corp")).toEqual(["keep"]);
    expect(sim.syslog.map((e) => e.message)).toContain("openid groups list is not an array; groups will not be updated");
  });

  it("a release before 8.4 ignores the group options it does not have (realm kept across setVersion)", async () => {
    sim.reset(fixture(idp, { ...base, "groups-autocreate": 1 }));
    sim.setVersion("8.3");
    try {
      expect((await signIn("alice-sub")).status).toBe(200);
      expect(groupsOf("alice@corp")).toEqual([]);
    } finally {
      sim.setVersion("9.2.1");
    }
  });
});

describe("ID token and token endpoint faults", () => {
  const base = { autocreate: 1, "username-claim": "username" };

  it("a replayed state (and code) is refused: the state is used up by the first login", async () => {
    sim.reset(fixture(idp, base));
    const first = await signIn("alice-sub");
    expect(first.status).toBe(200);
    const again = await client.post("/access/openid/login", { state: first.state, code: first.code, "redirect-url": idp.redirectUri });
    expect(again.status).toBe(401);
    expect(lastFailure()).toMatch(/msg=no openid auth state found \(possible timeout\)\n$/);
    // A state for a realm that never asked for one.
    const other = await client.post("/access/openid/login", { state: JSON.stringify({ csrf_token: "x", realm: "other" }), code: "c", "redirect-url": idp.redirectUri });
    expect(other.status).toBe(401);
    expect(lastFailure()).toContain("proxmox-openid-auth-state-other' - No such file or directory");
  });

  it("an ID token from another issuer is refused (iss must equal issuer-url exactly)", async () => {
    sim.reset(fixture(idp, base));
    idp.tamperIdToken = (c) => ({ ...c, iss: `${idp.issuer}/` });
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain(`msg=Failed to verify ID token: Invalid issuer: expected \`${idp.issuer}\` (found \`${idp.issuer}/\`)`);
  });

  it("audience: must contain the client id; other audiences only when listed in `audiences`", async () => {
    sim.reset(fixture(idp, base));
    idp.tamperIdToken = (c) => ({ ...c, aud: "someone-else" });
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain("Invalid audiences: must contain `pve` (found audiences: `someone-else`)");
    idp.tamperIdToken = (c) => ({ ...c, aud: [idp.clientId, "api://extra"] });
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain("Invalid audiences: `api://extra` is not a trusted audience");
    sim.reset(fixture(idp, { ...base, audiences: "api://extra" }));
    expect((await signIn("alice-sub")).status).toBe(200);
    // `audiences` does not replace the client id.
    idp.tamperIdToken = (c) => ({ ...c, aud: ["api://extra"] });
    expect((await signIn("alice-sub")).status).toBe(401);
  });

  it("a nonce that does not match the one sent is refused, and so is a missing one", async () => {
    sim.reset(fixture(idp, base));
    idp.tamperIdToken = (c) => ({ ...c, nonce: "not-the-nonce" });
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain("Failed to verify ID token: Invalid nonce: nonce mismatch");
    idp.tamperIdToken = ({ nonce: _n, ...c }) => c;
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain("Invalid nonce: missing nonce claim");
  });

  it("an expired ID token is refused (no leeway)", async () => {
    sim.reset(fixture(idp, base));
    const now = Math.floor(Date.now() / 1000);
    idp.tamperIdToken = (c) => ({ ...c, iat: now - 120, exp: now - 1 });
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain("Failed to verify ID token: Expired: ID token expired at");
  });

  it("an ID token signed with a key not in jwks_uri is refused", async () => {
    sim.reset(fixture(idp, base));
    idp.forgeKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain("Failed to verify ID token: Signature verification failed: Crypto error: bad signature");
  });

  it("a wrong client key fails at the token endpoint (the key never appears in the log)", async () => {
    sim.reset(fixture(idp, { ...base, "client-key": "wrong-secret" }));
    expect((await signIn("alice-sub")).status).toBe(401);
    expect(lastFailure()).toContain("msg=Failed to contact token endpoint: Request failed: ureq request failed - http status: 401");
    expect(JSON.stringify(sim.syslog)).not.toContain("wrong-secret");
    expect(JSON.stringify(sim.syslog)).not.toContain(idp.clientSecret);
  });

  it("a realm deleted between auth-url and login fails the login", async () => {
    sim.reset(fixture(idp, base));
    const a = await client.post("/access/openid/auth-url", { realm: "corp", "redirect-url": idp.redirectUri });
    const { code, state } = await idp.signIn(a.json.data as string, "alice-sub");
    const del = await client.send({ method: "DELETE", path: "/access/domains/corp", auth: { token: sim.adminToken } });
    expect(del.status).toBe(200);
    const r = await client.post("/access/openid/login", { state, code, "redirect-url": idp.redirectUri });
    expect(r.status).toBe(401);
    expect(lastFailure()).toMatch(/msg=authentication domain 'corp' does not exist\n$/);
  });
});

describe("query-userinfo", () => {
  it("on (the default): claims only userinfo has (an OP conforming ID token claims) name the user", async () => {
    sim.reset(fixture(conformIdp, { autocreate: 1, "username-claim": "email" }));
    const r = await signIn("alice-sub", conformIdp);
    expect(r.status, lastFailure()).toBe(200);
    expect(r.data!.username).toBe("alice@corp.example@corp");
    expect(conformIdp.requests.filter((x) => x.path === "/me")).toHaveLength(1);
    expect(conformIdp.requests.find((x) => x.path === "/me")!.authorization).toMatch(/^Bearer /);
  });

  it("off: userinfo is not queried, so a claim only userinfo has is missing", async () => {
    sim.reset(fixture(conformIdp, { autocreate: 1, "username-claim": "email", "query-userinfo": 0 }));
    expect((await signIn("alice-sub", conformIdp)).status).toBe(401);
    expect(lastFailure()).toMatch(/msg=missing configured claim 'email' in returned info object\n$/);
    expect(conformIdp.requests.some((x) => x.path === "/me")).toBe(false);
    // The ID token alone still carries sub.
    sim.reset(fixture(conformIdp, { autocreate: 1, "query-userinfo": 0 }));
    expect((await signIn("alice-sub", conformIdp)).data?.username).toBe("alice-sub@corp");
  });

  it("the ID token's value wins over userinfo's", async () => {
    sim.reset(fixture(idp, { autocreate: 1, "username-claim": "email" }));
    idp.tamperIdToken = (c) => ({ ...c, email: "from-id-token@corp.example" });
    const r = await signIn("alice-sub");
    expect(r.data?.username).toBe("from-id-token@corp.example@corp");
  });
});
