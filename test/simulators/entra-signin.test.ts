import { createPublicKey, verify as verifySig } from "node:crypto";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_AUTOMATION_PERMISSIONS,
  DEFAULT_USER_PASSWORD,
  DISABLED_UPN,
  GUEST_UPN,
  MANY_GROUPS_UPN,
  SIGN_IN_USERS,
  signIn,
  startEntraSim,
  type EntraSim,
} from "../../src/sim/entra/index.js";

/**
 * The Entra simulator's sign-in (issue 11 parts 1 and 5) driven by openid-client v6, a certified OpenID relying
 * party: discovery, the authorization-code flow with PKCE and nonce, ID-token validation (signature against
 * jwks_uri included: non-repudiation checks), userinfo, and the errors Entra shows before or during sign-in.
 */

const DAY = 86_400_000;
const SECRET = { pve: "pve~Q~secret-0123456789abcdefghijklmnopqrstu", other: "oth~Q~secret-0123456789abcdefghijklmnopqrstu", sec: "sec~Q~secret-0123456789abcdefghijklmnopqrstu" };
const EXPIRED = "exp~Q~secret-0123456789abcdefghijklmnopqrstu";
const PVE_REDIRECT = "https://pve.example.test:8006";
const OTHER_REDIRECT = "https://other.example.test/callback";
const APP = {
  pve: "0a000000-0000-4000-8000-00000000000a",
  other: "0b000000-0000-4000-8000-00000000000b",
  sec: "0c000000-0000-4000-8000-00000000000c",
  required: "0d000000-0000-4000-8000-00000000000d",
  expired: "0e000000-0000-4000-8000-00000000000e",
  all: "0f000000-0000-4000-8000-00000000000f",
  rotating: "10000000-0000-4000-8000-000000000010",
  guestUpn: "11000000-0000-4000-8000-000000000011",
  guestUpnNoHash: "12000000-0000-4000-8000-000000000012",
};
const ALICE = "alice@homelabsim.onmicrosoft.com";
const BOB = "bob@homelabsim.onmicrosoft.com";
const BOB_PASSWORD = "bob's own password";

const web = (uri: string) => ({ redirectUris: [uri], implicitGrantSettings: { enableIdTokenIssuance: false, enableAccessTokenIssuance: false } });
const claim = (name: string, ...additionalProperties: string[]) => ({ name, source: null, essential: false, additionalProperties });

let sim: EntraSim;
let issuer: URL;
const gid: Record<string, string> = {};

async function graph(path: string, init: RequestInit = {}): Promise<Response> {
  const t = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
  });
  const { access_token } = (await t.json()) as { access_token: string };
  return fetch(`${sim.graphUrl}/v1.0${path}`, { ...init, headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json", ...(init.headers ?? {}) } });
}

async function assign(appId: string, groupId: string): Promise<void> {
  const sp = (await (await graph(`/servicePrincipals(appId='${appId}')`)).json()) as { id: string };
  const r = await graph(`/servicePrincipals/${sp.id}/appRoleAssignedTo`, {
    method: "POST",
    body: JSON.stringify({ principalId: groupId, resourceId: sp.id, appRoleId: "00000000-0000-0000-0000-000000000000" }),
  });
  expect(r.status).toBe(201);
}

beforeAll(async () => {
  sim = await startEntraSim({
    automation: { permissions: [...DEFAULT_AUTOMATION_PERMISSIONS, "Application.ReadWrite.All"] },
    fixture: {
      users: [
        { displayName: "Alice Admin", userPrincipalName: ALICE, mail: "alice@contoso.example", givenName: "Alice", surname: "Admin" },
        { displayName: "Bob Builder", userPrincipalName: BOB, mail: "bob@contoso.example", password: BOB_PASSWORD },
        ...SIGN_IN_USERS,
      ],
      groups: [
        { displayName: "Proxmox Admins", members: [ALICE] },
        { displayName: "Unassigned", members: [ALICE] },
        { displayName: "Nested Child", members: [ALICE] },
        { displayName: "Parent", memberGroups: ["Nested Child"] },
        { displayName: "Team Site", members: [ALICE], securityEnabled: false },
      ],
      applications: [
        {
          appId: APP.pve,
          displayName: "Proxmox VE",
          web: web(PVE_REDIRECT),
          passwordCredentials: [{ secretText: SECRET.pve }],
          groupMembershipClaims: "ApplicationGroup",
          optionalClaims: { idToken: [claim("upn"), claim("email"), claim("groups")], accessToken: [], saml2Token: [] },
        },
        { appId: APP.other, displayName: "Other app", web: web(OTHER_REDIRECT), passwordCredentials: [{ secretText: SECRET.other }] },
        { appId: APP.sec, displayName: "Security groups app", web: web(OTHER_REDIRECT), passwordCredentials: [{ secretText: SECRET.sec }], groupMembershipClaims: "SecurityGroup" },
        { appId: APP.all, displayName: "All groups app", web: web(OTHER_REDIRECT), passwordCredentials: [{ secretText: SECRET.sec }], groupMembershipClaims: "All" },
        { appId: APP.required, displayName: "Assignment required", web: web(OTHER_REDIRECT), passwordCredentials: [{ secretText: SECRET.other }] },
        { appId: APP.rotating, displayName: "Rotating", web: web(OTHER_REDIRECT), passwordCredentials: [{ secretText: SECRET.other }] },
        {
          appId: APP.guestUpn, displayName: "Guest upn", web: web(OTHER_REDIRECT), passwordCredentials: [{ secretText: SECRET.other }],
          optionalClaims: { idToken: [claim("upn", "include_externally_authenticated_upn")], accessToken: [], saml2Token: [] },
        },
        {
          appId: APP.guestUpnNoHash, displayName: "Guest upn without hash", web: web(OTHER_REDIRECT), passwordCredentials: [{ secretText: SECRET.other }],
          optionalClaims: { idToken: [claim("upn", "include_externally_authenticated_upn_without_hash")], accessToken: [], saml2Token: [] },
        },
        {
          appId: APP.expired,
          displayName: "Expired secret",
          web: web(OTHER_REDIRECT),
          passwordCredentials: [{ secretText: EXPIRED, startDateTime: new Date(Date.now() - 400 * DAY).toISOString(), endDateTime: new Date(Date.now() - DAY).toISOString() }],
        },
      ],
      servicePrincipals: [{ appId: APP.rotating }, { appId: APP.pve }, { appId: APP.other }, { appId: APP.sec }, { appId: APP.all }, { appId: APP.required, appRoleAssignmentRequired: true }, { appId: APP.expired }, { appId: APP.guestUpn }, { appId: APP.guestUpnNoHash }],
    },
  });
  issuer = new URL(`${sim.loginUrl}/${sim.tenantId}/v2.0`);
  for (const g of sim.state().groups as Array<{ id: string; displayName: string }>) gid[g.displayName] = g.id;
  await assign(APP.pve, gid["Proxmox Admins"]!);
  await assign(APP.pve, gid["Parent"]!);
  await assign(APP.required, gid["Proxmox Admins"]!);
});
afterAll(() => sim.close());

/** A relying party for one app: discovery at the realm's issuer URL, ID-token signatures checked against jwks_uri. */
async function client(clientId: string, secret: string, auth: "basic" | "post" = "basic"): Promise<oidc.Configuration> {
  return oidc.discovery(issuer, clientId, { client_secret: secret }, auth === "basic" ? oidc.ClientSecretBasic(secret) : oidc.ClientSecretPost(secret), {
    // The simulator serves plain HTTP on 127.0.0.1.
    execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
  });
}

interface Flow {
  url: URL;
  verifier: string;
  nonce: string;
  state: string;
}

async function start(config: oidc.Configuration, redirectUri: string, scope = "openid profile email", extra: Record<string, string> = {}): Promise<Flow> {
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    nonce,
    state,
    ...extra,
  });
  return { url, verifier, nonce, state };
}

/** The whole sign-in: authorize (form post as the person), then the code exchange by openid-client. */
async function login(config: oidc.Configuration, redirectUri: string, username: string, password = DEFAULT_USER_PASSWORD, scope?: string) {
  const f = await start(config, redirectUri, scope);
  const r = await signIn({ authorizeUrl: f.url.href, username, password });
  if (!r.ok) throw new Error(`sign-in failed: ${r.message}`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(r.location), { pkceCodeVerifier: f.verifier, expectedNonce: f.nonce, expectedState: f.state, idTokenExpected: true });
  return { tokens, claims: tokens.claims()!, flow: f };
}

function decode(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split(".");
  return { header: JSON.parse(Buffer.from(h!, "base64url").toString()), payload: JSON.parse(Buffer.from(p!, "base64url").toString()) };
}

describe("entra sim sign-in: discovery and the code flow, checked by openid-client", () => {
  it("discovery at <loginUrl>/{tid}/v2.0 names that issuer and the sign-in endpoints", async () => {
    const config = await client(APP.pve, SECRET.pve);
    const md = config.serverMetadata();
    expect(md.issuer).toBe(`${sim.loginUrl}/${sim.tenantId}/v2.0`);
    expect(md.authorization_endpoint).toBe(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/authorize`);
    expect(md.token_endpoint).toBe(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`);
    expect(md.jwks_uri).toBe(`${sim.loginUrl}/${sim.tenantId}/discovery/v2.0/keys`);
    expect(md.userinfo_endpoint).toBe(`${sim.graphUrl}/oidc/userinfo`);
  });

  it("code flow with PKCE S256 and nonce: openid-client validates the RS256 ID token (signature, iss, aud, nonce, exp)", async () => {
    const config = await client(APP.pve, SECRET.pve);
    const { tokens, claims, flow } = await login(config, PVE_REDIRECT, ALICE);
    expect(claims.iss).toBe(issuer.href);
    expect(claims.aud).toBe(APP.pve);
    expect(claims.nonce).toBe(flow.nonce);
    expect(claims.tid).toBe(sim.tenantId);
    expect(claims.ver).toBe("2.0");
    expect(claims.preferred_username).toBe(ALICE);
    expect(claims.name).toBe("Alice Admin");
    const alice = (sim.state().users as Array<{ id: string; userPrincipalName: string }>).find((u) => u.userPrincipalName === ALICE)!;
    expect(claims.oid).toBe(alice.id);
    expect(claims.sub).not.toBe(alice.id);
    expect(claims.sub).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(claims.exp - claims.iat).toBe(3600);
    expect(claims.nbf).toBe(claims.iat);
    const { header } = decode(tokens.id_token!);
    expect(header.alg).toBe("RS256");
    expect(typeof header.kid).toBe("string");
    expect(tokens.token_type.toLowerCase()).toBe("bearer");
    expect(tokens.access_token).toBeTruthy();
  });

  it("the ID token verifies against the jwks_uri key named by kid; a tampered token is refused by openid-client", async () => {
    const config = await client(APP.pve, SECRET.pve);
    const { tokens } = await login(config, PVE_REDIRECT, ALICE);
    const jwks = (await (await fetch(config.serverMetadata().jwks_uri!)).json()) as { keys: Array<Record<string, string>> };
    const [h, p, s] = tokens.id_token!.split(".");
    const key = jwks.keys.find((k) => k.kid === decode(tokens.id_token!).header.kid)!;
    expect(key.issuer).toBe(issuer.href);
    const pub = createPublicKey({ key: { kty: key.kty, n: key.n, e: key.e } as never, format: "jwk" });
    expect(verifySig("sha256", Buffer.from(`${h}.${p}`), pub, Buffer.from(s!, "base64url"))).toBe(true);

    // Same flow, but the token response's ID token gets another sub under the original signature.
    const tampered = await client(APP.pve, SECRET.pve);
    tampered[oidc.customFetch] = async (url, init) => {
      const res = await fetch(url, init as RequestInit);
      if (!String(url).endsWith("/token")) return res;
      const body = (await res.json()) as { id_token: string };
      const [th, tp, ts] = body.id_token.split(".");
      const payload = JSON.parse(Buffer.from(tp!, "base64url").toString()) as Record<string, unknown>;
      payload.sub = "someone-else";
      body.id_token = `${th}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${ts}`;
      return new Response(JSON.stringify(body), { status: res.status, headers: { "content-type": "application/json; charset=utf-8" } });
    };
    const err = await login(tampered, PVE_REDIRECT, ALICE).then(
      () => undefined,
      (e: Error & { cause?: Error }) => e,
    );
    expect(err?.cause?.message).toBe("JWT signature verification failed");
  });

  it("client_secret_post works as well as client_secret_basic", async () => {
    const { claims } = await login(await client(APP.pve, SECRET.pve, "post"), PVE_REDIRECT, ALICE);
    expect(claims.aud).toBe(APP.pve);
  });

  it("userinfo (Graph OIDC) answers the same pairwise sub, name and email", async () => {
    const config = await client(APP.pve, SECRET.pve);
    const { tokens, claims } = await login(config, PVE_REDIRECT, ALICE);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info.sub).toBe(claims.sub);
    expect(info.name).toBe("Alice Admin");
    expect(info.given_name).toBe("Alice");
    expect(info.family_name).toBe("Admin");
    expect(info.email).toBe("alice@contoso.example");
    // A wrong expected subject is caught by openid-client: the sub really is the one of this app.
    await expect(oidc.fetchUserInfo(config, tokens.access_token, "not-the-sub")).rejects.toThrow();
    const r = await fetch(config.serverMetadata().userinfo_endpoint!, { headers: { authorization: "Bearer nope" } });
    expect(r.status).toBe(401);
  });

  it("sub is pairwise: different per application, stable per application", async () => {
    const a1 = (await login(await client(APP.pve, SECRET.pve), PVE_REDIRECT, ALICE)).claims;
    const a2 = (await login(await client(APP.pve, SECRET.pve), PVE_REDIRECT, ALICE)).claims;
    const b = (await login(await client(APP.other, SECRET.other), OTHER_REDIRECT, ALICE)).claims;
    const bob = (await login(await client(APP.pve, SECRET.pve), PVE_REDIRECT, BOB, BOB_PASSWORD)).claims;
    expect(a1.sub).toBe(a2.sub);
    expect(b.sub).not.toBe(a1.sub);
    expect(b.oid).toBe(a1.oid);
    expect(bob.sub).not.toBe(a1.sub);
  });
});

describe("entra sim sign-in: claims the app asks for", () => {
  it("optional claims on: upn and email; off: neither without the email scope, email alone with it", async () => {
    const on = (await login(await client(APP.pve, SECRET.pve), PVE_REDIRECT, ALICE, undefined, "openid profile")).claims;
    expect(on.upn).toBe(ALICE);
    expect(on.email).toBe("alice@contoso.example");
    const off = (await login(await client(APP.other, SECRET.other), OTHER_REDIRECT, ALICE, undefined, "openid profile")).claims;
    expect(off.upn).toBeUndefined();
    expect(off.email).toBeUndefined();
    expect(off.groups).toBeUndefined(); // groupMembershipClaims unset
    const scoped = (await login(await client(APP.other, SECRET.other), OTHER_REDIRECT, ALICE, undefined, "openid profile email")).claims;
    expect(scoped.email).toBe("alice@contoso.example");
    expect(scoped.upn).toBeUndefined();
  });

  it("ApplicationGroup: only groups assigned to the app, of which the user is a direct member", async () => {
    const { claims } = await login(await client(APP.pve, SECRET.pve), PVE_REDIRECT, ALICE);
    // Assigned: Proxmox Admins (direct member) and Parent (member only through Nested Child: not emitted).
    expect(claims.groups).toEqual([gid["Proxmox Admins"]]);
  });

  it("SecurityGroup: every security group, nested ones included; All adds the others", async () => {
    const sec = (await login(await client(APP.sec, SECRET.sec), OTHER_REDIRECT, ALICE)).claims;
    const expected = ["Proxmox Admins", "Unassigned", "Nested Child", "Parent"].map((n) => gid[n]).sort();
    expect(sec.groups).toEqual(expected);
    const all = (await login(await client(APP.all, SECRET.sec), OTHER_REDIRECT, ALICE)).claims;
    expect(all.groups).toEqual([...expected, gid["Team Site"]].sort());
  });

  it("more than 200 groups: the overage pointer instead of groups", async () => {
    const { claims } = await login(await client(APP.sec, SECRET.sec), OTHER_REDIRECT, MANY_GROUPS_UPN);
    expect(claims.groups).toBeUndefined();
    expect(claims._claim_names).toEqual({ groups: "src1" });
    expect((claims._claim_sources as { src1: { endpoint: string } }).src1.endpoint).toBe(`${sim.graphUrl}/v1.0/users/${String(claims.oid)}/getMemberObjects`);
    // The pointer works with the user's own access token (the one userinfo takes).
    const config = await client(APP.sec, SECRET.sec);
    const { tokens } = await login(config, OTHER_REDIRECT, MANY_GROUPS_UPN);
    const r = await fetch((claims._claim_sources as { src1: { endpoint: string } }).src1.endpoint, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ securityEnabledOnly: true }),
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { value: string[] }).value).toHaveLength(205);
    // ...and only for themself.
    const other = await fetch(`${sim.graphUrl}/v1.0/users/${ALICE}/getMemberObjects`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ securityEnabledOnly: true }),
    });
    expect(other.status).toBe(403);
    // With ApplicationGroup none of the 205 is assigned: no groups, no overage.
    const app = (await login(await client(APP.pve, SECRET.pve), PVE_REDIRECT, MANY_GROUPS_UPN)).claims;
    expect(app.groups).toBeUndefined();
    expect(app._claim_names).toBeUndefined();
  });

  it("a guest (#EXT# upn) signs in with their own address: preferred_username and email are it; upn only with include_externally_authenticated_upn", async () => {
    const viaMail = (await login(await client(APP.pve, SECRET.pve), PVE_REDIRECT, "jane@example.com")).claims;
    expect(viaMail.preferred_username).toBe("jane@example.com");
    // The upn optional claim without the guest property: no upn for a guest (a member gets it: see above).
    expect(viaMail.upn).toBeUndefined();
    const withUpn = (await login(await client(APP.guestUpn, SECRET.other), OTHER_REDIRECT, "jane@example.com")).claims;
    expect(withUpn.upn).toBe(GUEST_UPN);
    const noHash = (await login(await client(APP.guestUpnNoHash, SECRET.other), OTHER_REDIRECT, "jane@example.com")).claims;
    expect(noHash.upn).toBe(GUEST_UPN.replace(/#/g, "_"));
    const viaUpn = (await login(await client(APP.other, SECRET.other), OTHER_REDIRECT, GUEST_UPN, undefined, "openid profile")).claims;
    // Guests get email by default (5.2), even without the scope or the optional claim.
    expect(viaUpn.email).toBe("jane@example.com");
    expect(viaUpn.oid).toBe(viaMail.oid);
  });
});

describe("entra sim sign-in: errors Entra shows", () => {
  async function expectPage(url: string, username: string, password: string, aadsts: number) {
    const r = await signIn({ authorizeUrl: url, username, password });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.shown).toBe("page");
    expect(r.aadsts).toBe(aadsts);
    expect(r.message).toMatch(new RegExp(`^AADSTS${aadsts}: `));
    expect(r.location).toBeUndefined();
    return r;
  }

  it("redirect URI not registered: AADSTS50011 on an error page, nothing sent to that URI", async () => {
    const f = await start(await client(APP.pve, SECRET.pve), "https://evil.example.test/cb");
    const r = await expectPage(f.url.href, ALICE, DEFAULT_USER_PASSWORD, 50011);
    expect(r?.message).toContain("'https://evil.example.test/cb'");
    // Also on the GET a browser (or verify) makes before anyone signs in.
    const g = await fetch(f.url, { redirect: "manual" });
    expect(g.status).toBe(200);
    expect(g.headers.get("location")).toBeNull();
    expect(await g.text()).toContain("AADSTS50011");
    // A trailing slash is another URI (exact match).
    await expectPage((await start(await client(APP.other, SECRET.other), `${OTHER_REDIRECT}/`)).url.href, ALICE, DEFAULT_USER_PASSWORD, 50011);
  });

  it("unknown client: AADSTS700016 on an error page", async () => {
    const f = await start(await client("99999999-0000-4000-8000-000000000999", "x"), PVE_REDIRECT);
    await expectPage(f.url.href, ALICE, DEFAULT_USER_PASSWORD, 700016);
  });

  it("GET without credentials shows the sign-in form; wrong password and unknown user stay on it", async () => {
    const f = await start(await client(APP.pve, SECRET.pve), PVE_REDIRECT);
    const g = await fetch(f.url, { redirect: "manual" });
    expect(g.status).toBe(200);
    const html = await g.text();
    expect(html).toContain('name="passwd"');
    expect(html).toContain("Proxmox VE");
    // What a browser does with the page: post login and passwd to the form's action.
    const action = /<form method="POST" action="([^"]*)"/.exec(html)?.[1]?.replace(/&amp;/g, "&");
    expect(action).toBeDefined();
    const posted = await fetch(new URL(action!, f.url), {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ login: ALICE, passwd: DEFAULT_USER_PASSWORD }),
    });
    expect(posted.status).toBe(302);
    const back = new URL(posted.headers.get("location")!);
    expect(back.searchParams.get("state")).toBe(f.state);
    expect(back.searchParams.get("code")).toBeTruthy();
    await expectPage(f.url.href, ALICE, "wrong", 50126);
    await expectPage(f.url.href, "nobody@homelabsim.onmicrosoft.com", DEFAULT_USER_PASSWORD, 50034);
  });

  it("disabled account: AADSTS50057", async () => {
    const f = await start(await client(APP.pve, SECRET.pve), PVE_REDIRECT);
    await expectPage(f.url.href, DISABLED_UPN, DEFAULT_USER_PASSWORD, 50057);
  });

  it("appRoleAssignmentRequired: an unassigned user gets AADSTS50105, a member of an assigned group signs in", async () => {
    const config = await client(APP.required, SECRET.other);
    const f = await start(config, OTHER_REDIRECT);
    await expectPage(f.url.href, BOB, BOB_PASSWORD, 50105);
    const { claims } = await login(config, OTHER_REDIRECT, ALICE);
    expect(claims.aud).toBe(APP.required);
  });

  it("bad client secret at the token endpoint: AADSTS7000215 invalid_client; the code survives for the right secret", async () => {
    const good = await client(APP.pve, SECRET.pve);
    const bad = await client(APP.pve, "not-the-secret");
    const f = await start(good, PVE_REDIRECT);
    const r = await signIn({ authorizeUrl: f.url.href, username: ALICE, password: DEFAULT_USER_PASSWORD });
    if (!r.ok) throw new Error(r.message);
    const checks = { pkceCodeVerifier: f.verifier, expectedNonce: f.nonce, expectedState: f.state };
    const err = await oidc.authorizationCodeGrant(bad, new URL(r.location), checks).then(
      () => undefined,
      (e: unknown) => e as oidc.ResponseBodyError,
    );
    expect(err?.error).toBe("invalid_client");
    expect(err?.error_description).toMatch(/^AADSTS7000215: /);
    const tokens = await oidc.authorizationCodeGrant(good, new URL(r.location), checks);
    expect(tokens.claims()?.aud).toBe(APP.pve);
  });

  it("a secret rotated in the middle of a sign-in: the code fails with the removed secret, and works with the new one", async () => {
    const app = (await (await graph(`/applications(appId='${APP.rotating}')`)).json()) as { id: string; passwordCredentials: Array<{ keyId: string }> };
    const oldKey = app.passwordCredentials[0]!.keyId;
    const config = await client(APP.rotating, SECRET.other);
    const f = await start(config, OTHER_REDIRECT);
    const r = await signIn({ authorizeUrl: f.url.href, username: ALICE, password: DEFAULT_USER_PASSWORD });
    if (!r.ok) throw new Error(r.message);
    const added = (await (await graph(`/applications/${app.id}/addPassword`, { method: "POST", body: JSON.stringify({ passwordCredential: { displayName: "rotated" } }) })).json()) as { secretText: string };
    expect((await graph(`/applications/${app.id}/removePassword`, { method: "POST", body: JSON.stringify({ keyId: oldKey }) })).status).toBe(204);
    const checks = { pkceCodeVerifier: f.verifier, expectedNonce: f.nonce, expectedState: f.state };
    await expect(oidc.authorizationCodeGrant(config, new URL(r.location), checks)).rejects.toMatchObject({
      error: "invalid_client",
      error_description: expect.stringMatching(/^AADSTS7000215: /),
    });
    const tokens = await oidc.authorizationCodeGrant(await client(APP.rotating, added.secretText), new URL(r.location), checks);
    expect(tokens.claims()?.aud).toBe(APP.rotating);
  });

  it("expired client secret: AADSTS7000222", async () => {
    const config = await client(APP.expired, EXPIRED);
    const f = await start(config, OTHER_REDIRECT);
    const r = await signIn({ authorizeUrl: f.url.href, username: ALICE, password: DEFAULT_USER_PASSWORD });
    if (!r.ok) throw new Error(r.message);
    await expect(oidc.authorizationCodeGrant(config, new URL(r.location), { pkceCodeVerifier: f.verifier, expectedNonce: f.nonce, expectedState: f.state })).rejects.toMatchObject({
      error: "invalid_client",
      error_description: expect.stringMatching(/^AADSTS7000222: /),
    });
  });

  it("codes: single use (AADSTS54005), bound to the verifier (AADSTS501481) and the redirect URI (AADSTS500112), short-lived (AADSTS70008)", async () => {
    const config = await client(APP.other, SECRET.other);
    const token = async (body: Record<string, string>) => {
      const r = await fetch(config.serverMetadata().token_endpoint!, {
        method: "POST",
        headers: { authorization: `Basic ${Buffer.from(`${APP.other}:${SECRET.other}`).toString("base64")}` },
        body: new URLSearchParams({ grant_type: "authorization_code", redirect_uri: OTHER_REDIRECT, ...body }),
      });
      return { status: r.status, body: (await r.json()) as { error?: string; error_codes?: number[]; id_token?: string } };
    };
    const code = async () => {
      const f = await start(config, OTHER_REDIRECT);
      const r = await signIn({ authorizeUrl: f.url.href, username: ALICE, password: DEFAULT_USER_PASSWORD });
      if (!r.ok) throw new Error(r.message);
      return { code: r.code, verifier: f.verifier };
    };
    const c1 = await code();
    expect((await token({ code: c1.code, code_verifier: "x".repeat(43) })).body.error_codes).toEqual([501481]);
    expect((await token({ code: c1.code })).body.error_codes).toEqual([501481]);
    expect((await token({ code: c1.code, code_verifier: c1.verifier, redirect_uri: "https://other.example.test/elsewhere" })).body.error_codes).toEqual([500112]);
    const ok = await token({ code: c1.code, code_verifier: c1.verifier });
    expect(ok.status).toBe(200);
    expect(ok.body.id_token).toBeTruthy();
    const again = await token({ code: c1.code, code_verifier: c1.verifier });
    expect(again.body).toMatchObject({ error: "invalid_grant", error_codes: [54005] });

    const c2 = await code();
    sim.setClock(() => new Date(Date.now() + 11 * 60_000));
    try {
      expect((await token({ code: c2.code, code_verifier: c2.verifier })).body).toMatchObject({ error: "invalid_grant", error_codes: [70008] });
    } finally {
      sim.setClock(() => new Date());
    }
  });

  it("errors after the redirect URI is trusted go back to it with error, error_description and state", async () => {
    const config = await client(APP.pve, SECRET.pve);
    const silent = await start(config, PVE_REDIRECT, "openid profile", { prompt: "none" });
    const r = await fetch(silent.url, { redirect: "manual" });
    expect(r.status).toBe(302);
    const loc = new URL(r.headers.get("location")!);
    expect(loc.origin + loc.pathname).toBe(`${PVE_REDIRECT}/`);
    expect(loc.searchParams.get("error")).toBe("login_required");
    expect(loc.searchParams.get("error_description")).toMatch(/^AADSTS50058: /);
    expect(loc.searchParams.get("state")).toBe(silent.state);

    const badPkce = await start(config, PVE_REDIRECT, "openid", { code_challenge: "too-short", code_challenge_method: "S256" });
    const s = await signIn({ authorizeUrl: badPkce.url.href, username: ALICE, password: DEFAULT_USER_PASSWORD });
    expect(s).toMatchObject({ ok: false, shown: "redirect", error: "invalid_request", aadsts: 501491 });
  });

  it("response_mode=form_post answers a self-posting form to the redirect URI", async () => {
    const config = await client(APP.pve, SECRET.pve);
    const f = await start(config, PVE_REDIRECT, "openid profile", { response_mode: "form_post" });
    const r = await signIn({ authorizeUrl: f.url.href, username: ALICE, password: DEFAULT_USER_PASSWORD });
    expect(r).toMatchObject({ ok: true, location: PVE_REDIRECT, state: f.state });
  });
});
