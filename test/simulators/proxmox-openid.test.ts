/**
 * The Proxmox simulator's OpenID login (issue 11 part 2) against an independent OpenID Provider,
 * oidc-provider (test/simulators/proxmox-openid-idp.ts), as an external issuer realm over HTTPS:
 * discovery, state, PKCE, code exchange, ID token checks, userinfo, user and group mapping, ticket.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RawClient, startProxmoxSim, type FixtureRealm, type ProxmoxFixture, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { startTestIdp, type Account, type TestIdp } from "./proxmox-openid-idp.js";

const ALICE: Account = {
  sub: "alice-sub",
  preferred_username: "alice",
  email: "alice@corp.example",
  email_verified: true,
  given_name: "Alice",
  family_name: "Liddell",
  upn: "alice@corp.onmicrosoft.example",
  groups: ["admins", "ops", "bad group", "x:y"],
};
const BOB: Account = { sub: "bob-sub", preferred_username: "bob", email: "bob@corp.example", groups: ["ops"] };
/** preferred_username with a space: not a valid Proxmox user name */
const CAROL: Account = { sub: "carol-sub", preferred_username: "carol smith", email: "carol@corp.example" };

let idp: TestIdp;
let sim: ProxmoxSim;
let client: RawClient;

function realm(extra: Record<string, unknown> = {}): FixtureRealm {
  return { realm: "corp", type: "openid", "issuer-url": idp.issuer, "client-id": idp.clientId, "client-key": idp.clientSecret, ...extra };
}

function fixture(extra: Record<string, unknown> = {}, rest: Omit<ProxmoxFixture, "realms"> = {}): ProxmoxFixture {
  return { realms: [realm(extra)], ...rest };
}

async function authUrl(r = "corp"): Promise<string> {
  const res = await client.post("/access/openid/auth-url", { realm: r, "redirect-url": idp.redirectUri });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json.data as string;
}

/** The whole sign-in: auth-url on the node, the browser at the OP, login on the node. */
async function signIn(account: string): Promise<{ status: number; data: Record<string, unknown> | null; code: string; state: string }> {
  const { code, state } = await idp.signIn(await authUrl(), account);
  const res = await client.post("/access/openid/login", { state, code, "redirect-url": idp.redirectUri });
  return { status: res.status, data: res.json?.data ?? null, code, state };
}

/** The reason the node logged for the last failed login. */
function lastFailure(): string {
  const f = sim.syslog.filter((e) => e.message.startsWith("openid authentication failure"));
  return f.at(-1)?.message ?? "(no failure logged)";
}

beforeAll(async () => {
  idp = await startTestIdp({ accounts: [ALICE, BOB, CAROL] });
  sim = await startProxmoxSim({ unauthorizedDelayMs: 0, openidTrustedCAs: [idp.certPem] });
  client = new RawClient(sim.url, sim.certPem);
});

afterAll(async () => {
  client.close();
  await sim.close();
  await idp.close();
});

beforeEach(() => {
  idp.tamperIdToken = undefined;
  idp.forgeKey = undefined;
  idp.requests.length = 0;
});

describe("auth-url", () => {
  it("uses the discovered authorization endpoint with state, nonce and PKCE S256 kept on the node", async () => {
    sim.reset(fixture({ scopes: "email profile", prompt: "login", "acr-values": "a1,a2" }));
    const u = new URL(await authUrl());
    expect(`${u.origin}${u.pathname}`).toBe(`${idp.issuer}/auth`); // oidc-provider's endpoint, not <issuer>/authorize
    expect(idp.requests.map((r) => r.path)).toEqual(["/.well-known/openid-configuration", "/jwks"]);
    const q = u.searchParams;
    expect(q.get("response_type")).toBe("code");
    expect(q.get("client_id")).toBe(idp.clientId);
    expect(q.get("redirect_uri")).toBe(idp.redirectUri);
    expect(q.get("scope")).toBe("openid email profile");
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("nonce")).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(q.get("prompt")).toBe("login");
    expect(q.get("acr_values")).toBe("a1 a2");
    const state = JSON.parse(q.get("state")!) as { csrf_token: string; realm: string };
    expect(state.realm).toBe("corp");
    expect(state.csrf_token).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(sim.openIdPending("corp")).toBe(1);
    // Nothing secret in the URL.
    expect(u.toString()).not.toContain(idp.clientSecret);
  });

  it("refuses an issuer whose discovery document names another issuer (exact match), and an unknown or non-openid realm", async () => {
    sim.reset(fixture({ "issuer-url": `${idp.issuer}/` }));
    const r = await client.post("/access/openid/auth-url", { realm: "corp", "redirect-url": idp.redirectUri });
    expect(r.status).toBe(500);
    expect(r.json.message).toBe(`Validation error: unexpected issuer URI \`${idp.issuer}\` (expected \`${idp.issuer}/\`)\n`);
    const p = await client.post("/access/openid/auth-url", { realm: "pve", "redirect-url": idp.redirectUri });
    expect(p.json.message).toBe("wrong realm type (pve != openid)\n");
    const n = await client.post("/access/openid/auth-url", { realm: "nope", "redirect-url": idp.redirectUri });
    expect(n.json.message).toBe("authentication domain 'nope' does not exist\n");
  });

  it("fails when the node cannot reach the issuer (blocked host) or does not trust its certificate", async () => {
    sim.reset(fixture());
    const host = new URL(idp.issuer).host;
    sim.setOpenIdBlockedHosts([host]);
    try {
      const r = await client.post("/access/openid/auth-url", { realm: "corp", "redirect-url": idp.redirectUri });
      expect(r.status).toBe(500);
      expect(r.json.message).toBe("Request failed: ureq request failed - io: Connection timed out (os error 110)\n");
      expect(idp.requests).toEqual([]);
    } finally {
      sim.setOpenIdBlockedHosts([]);
    }
    const untrusting = await startProxmoxSim({ unauthorizedDelayMs: 0, fixture: fixture() });
    const c = new RawClient(untrusting.url, untrusting.certPem);
    try {
      const r = await c.post("/access/openid/auth-url", { realm: "corp", "redirect-url": idp.redirectUri });
      expect(r.status).toBe(500);
      expect(r.json.message).toMatch(/^Request failed: ureq request failed - tls: certificate verify failed/);
    } finally {
      c.close();
      await untrusting.close();
    }
  });
});

describe("login", () => {
  it("signs in an existing user: ticket and CSRF token work for the API as that user, with the user's privileges", async () => {
    sim.reset(
      fixture(
        {},
        {
          users: [{ userid: "alice-sub@corp" }],
          acl: [{ path: "/vms", type: "user", ugid: "alice-sub@corp", roleid: "PVEVMUser" }],
        },
      ),
    );
    const r = await signIn("alice-sub");
    expect(r.status).toBe(200);
    const d = r.data!;
    expect(d.username).toBe("alice-sub@corp");
    expect(d.ticket).toMatch(/^PVE:alice-sub@corp:[0-9A-F]{8}::/);
    expect(typeof d.CSRFPreventionToken).toBe("string");
    expect((d.cap as Record<string, Record<string, number>>).vms).toHaveProperty("VM.Console", 1);
    // The code went to the discovered token endpoint with HTTP Basic (client id and key), and PKCE.
    const tok = idp.requests.find((x) => x.path === "/token")!;
    expect(tok.authorization).toBe(`Basic ${Buffer.from(`${idp.clientId}:${idp.clientSecret}`).toString("base64")}`);
    expect(tok.body).toMatch(/code_verifier=[A-Za-z0-9_-]{43}/);
    expect(tok.body).not.toContain("client_secret");
    // query-userinfo defaults to 1.
    expect(idp.requests.some((x) => x.path === "/me")).toBe(true);
    const ticket = { ticket: d.ticket as string, csrf: d.CSRFPreventionToken as string };
    const perms = await client.send({ method: "GET", path: "/access/permissions", auth: ticket });
    expect(perms.status).toBe(200);
    expect(Object.keys(perms.json.data as object)).toEqual(["/vms"]);
    expect((perms.json.data as Record<string, Record<string, number>>)["/vms"]).toHaveProperty("VM.Console");
    // A write with the ticket needs the CSRF token, and is checked against alice's privileges.
    const w = await client.send({ method: "POST", path: "/access/groups", form: { groupid: "g1" }, auth: ticket });
    expect(w.status).toBe(403);
    const noCsrf = await client.send({ method: "POST", path: "/access/groups", form: { groupid: "g1" }, auth: { ticket: ticket.ticket } });
    expect(noCsrf.status).toBe(401);
    expect(sim.syslog.at(-1)?.message).toBe("successful openid auth for user 'alice-sub@corp'");
  });
});
