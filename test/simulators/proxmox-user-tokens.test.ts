import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_USER_PASSWORD, signIn, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";
import { RawClient, startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";

/**
 * API tokens a user makes for themself (issue 13 part 2, the leavers story): any user may manage their own tokens
 * with their ticket (spec 3.0 "self"); a token authenticates until it is deleted, its user is deleted, disabled or
 * expired, or its own expiry passes (spec 2.1), then 401 "Authentication failed!" with an empty body (2.4).
 * Disabling alone does not delete tokens: re-enabling the user revives them, which is why homelab's
 * `leavers: disable` also deletes the leaver's tokens.
 */

const APP = "6c1f0b1e-2d3c-4b5a-8e9f-0a1b2c3d4e5f";
const SECRET = "user-tokens-test-secret-7f1c";
const JANE = "jane@homelabsim.onmicrosoft.com";

let pve: ProxmoxSim;
let entra: EntraSim;
let raw: RawClient;
let admin: RawClient;

beforeAll(async () => {
  pve = await startProxmoxSim({
    unauthorizedDelayMs: 0,
    fixture: {
      groups: [{ groupid: "staff" }],
      users: [
        { userid: "bob@pve", password: "bob-password-1", groups: ["staff"] },
        { userid: "alice@pve", password: "alice-password-1" },
      ],
    },
  });
  entra = await startEntraSim({
    fixture: {
      users: [{ displayName: "Jane Member", userPrincipalName: JANE, mail: JANE }],
      groups: [{ displayName: "Proxmox Admins", members: [JANE] }],
      applications: [{ appId: APP, displayName: "Proxmox VE", web: { redirectUris: [pve.url] }, passwordCredentials: [{ secretText: SECRET }] }],
      servicePrincipals: [{ appId: APP }],
    },
  });
  raw = new RawClient(pve.url, pve.certPem);
  admin = raw.withAuth({ token: pve.adminToken });
});

afterAll(async () => {
  raw.close();
  await Promise.all([pve.close(), entra.close()]);
});

/** A password login (spec 2.2): the ticket and CSRF token, as a client. */
async function login(username: string, password: string): Promise<RawClient> {
  const r = await raw.post("/access/ticket", { username, password });
  expect(r.status, r.text).toBe(200);
  return raw.withAuth({ ticket: r.json.data.ticket, csrf: r.json.data.CSRFPreventionToken });
}

const asToken = (id: string, secret: string) => raw.withAuth({ token: { id, secret } });

/** Whether the token authenticates: 200 on a call every authenticated caller may make, or 401 with no body. */
async function works(id: string, secret: string): Promise<boolean> {
  const r = await asToken(id, secret).get("/access/permissions");
  if (r.status === 401) {
    expect(r.statusMessage).toBe("Authentication failed!");
    expect(r.text).toBe("");
    return false;
  }
  expect(r.status, r.text).toBe(200);
  return true;
}

async function makeToken(c: RawClient, userid: string, tokenid: string, extra: Record<string, string | number> = {}): Promise<string> {
  const r = await c.post(`/access/users/${userid}/token/${tokenid}`, { privsep: 0, ...extra });
  expect(r.status, r.text).toBe(200);
  expect(r.json.data["full-tokenid"]).toBe(`${userid}!${tokenid}`);
  return r.json.data.value as string;
}

describe("a user's own tokens (spec 3.0 'self', 2.1)", () => {
  it("a user without any ACL creates a token for themself with their ticket; it authenticates as them", async () => {
    const bob = await login("bob@pve", "bob-password-1");
    const secret = await makeToken(bob, "bob@pve", "laptop");
    expect(await works("bob@pve!laptop", secret)).toBe(true);
    const perms = await asToken("bob@pve!laptop", secret).get("/access/permissions");
    expect(perms.json.data).toEqual({}); // bob has no privileges, so neither has his token
    // His ticket lists and reads his tokens (self).
    expect((await bob.get("/access/users/bob@pve/token")).json.data).toEqual([{ tokenid: "laptop", privsep: 0, expire: 0 }]);
  });

  it("not for someone else (403), not without the CSRF token (401), and a token is never 'self' (2.3)", async () => {
    const bob = await login("bob@pve", "bob-password-1");
    const other = await bob.post("/access/users/alice@pve/token/sneaky", {});
    expect(other.status).toBe(403);
    expect(other.json.message).toMatch(/^Permission check failed/);
    const t = await raw.post("/access/ticket", { username: "bob@pve", password: "bob-password-1" });
    const noCsrf = await raw.withAuth({ ticket: t.json.data.ticket }).post("/access/users/bob@pve/token/nocsrf", {});
    expect(noCsrf.status).toBe(401);
    expect(noCsrf.statusMessage).toBe("Permission denied - invalid csrf token");
    const secret = await makeToken(bob, "bob@pve", "selfish");
    expect((await asToken("bob@pve!selfish", secret).post("/access/users/bob@pve/token/child", {})).status).toBe(403);
    expect((await admin.get("/access/users/alice@pve/token")).json.data).toEqual([]);
  });

  it("deleted by its user, or by an admin: refused at once (401), and gone from the user's reads", async () => {
    const bob = await login("bob@pve", "bob-password-1");
    const a = await makeToken(bob, "bob@pve", "short");
    const b = await makeToken(bob, "bob@pve", "admin-kills");
    expect((await bob.delete("/access/users/bob@pve/token/short")).status).toBe(200);
    expect(await works("bob@pve!short", a)).toBe(false);
    expect(await works("bob@pve!admin-kills", b)).toBe(true);
    expect((await admin.delete("/access/users/bob@pve/token/admin-kills")).status).toBe(200);
    expect(await works("bob@pve!admin-kills", b)).toBe(false);
    const ids = ((await admin.get("/access/users/bob@pve")).json.data.tokens ?? {}) as Record<string, unknown>;
    expect(Object.keys(ids)).not.toContain("short");
    expect(Object.keys(ids)).not.toContain("admin-kills");
  });

  it("a disabled user's tokens (and tickets) are refused; re-enabling revives the tokens, since disabling deletes none", async () => {
    const bob = await login("bob@pve", "bob-password-1");
    const secret = await makeToken(bob, "bob@pve", "survivor");
    expect((await admin.put("/access/users/bob@pve", { enable: 0 })).status).toBe(200);
    expect(await works("bob@pve!survivor", secret)).toBe(false);
    expect((await bob.get("/access/users/bob@pve/token")).status).toBe(401);
    expect(Object.keys((await admin.get("/access/users/bob@pve")).json.data.tokens)).toContain("survivor");
    expect((await admin.put("/access/users/bob@pve", { enable: 1 })).status).toBe(200);
    expect(await works("bob@pve!survivor", secret)).toBe(true);
  });

  it("an expired user, or a token past its own expiry, is refused", async () => {
    const bob = await login("bob@pve", "bob-password-1");
    const now = Math.floor(Date.now() / 1000);
    const own = await makeToken(bob, "bob@pve", "dated", { expire: now - 5 });
    expect(await works("bob@pve!dated", own)).toBe(false);
    const secret = await makeToken(bob, "bob@pve", "userexp");
    expect((await admin.put("/access/users/bob@pve", { expire: now - 60 })).status).toBe(200);
    expect(await works("bob@pve!userexp", secret)).toBe(false);
    expect((await admin.put("/access/users/bob@pve", { expire: 0 })).status).toBe(200);
    expect(await works("bob@pve!userexp", secret)).toBe(true);
  });

  it("a deleted user's tokens go with them: a user re-created under the same id does not bring them back", async () => {
    const bob = await login("bob@pve", "bob-password-1");
    const secret = await makeToken(bob, "bob@pve", "orphan");
    expect((await admin.delete("/access/users/bob@pve")).status).toBe(200);
    expect(await works("bob@pve!orphan", secret)).toBe(false);
    expect((await admin.post("/access/users", { userid: "bob@pve" })).status).toBe(200);
    expect(await works("bob@pve!orphan", secret)).toBe(false);
    expect((await admin.get("/access/users/bob@pve")).json.data.tokens).toBeNull();
  });
});

describe("the leavers story with both simulators: an Entra member's Proxmox token outlives the IdP", () => {
  it("a member signs in through Entra, makes a token; disabling them in Entra leaves the token working until Proxmox disables the user and deletes it", async () => {
    const created = await admin.post("/access/domains", {
      realm: "azure",
      type: "openid",
      "issuer-url": `${entra.loginUrl}/${entra.tenantId}/v2.0`,
      "client-id": APP,
      "client-key": SECRET,
      "username-claim": "email",
      autocreate: 1,
    });
    expect(created.status, created.text).toBe(200);

    const openidLogin = async (): Promise<RawClient | { refused: number | undefined }> => {
      const url = await raw.post("/access/openid/auth-url", { realm: "azure", "redirect-url": pve.url });
      expect(url.status, url.text).toBe(200);
      const signed = await signIn({ authorizeUrl: url.json.data, username: JANE, password: DEFAULT_USER_PASSWORD });
      if (!signed.ok) return { refused: signed.aadsts };
      const back = await raw.post("/access/openid/login", { state: signed.state!, code: signed.code, "redirect-url": pve.url });
      expect(back.status, back.text).toBe(200);
      return raw.withAuth({ ticket: back.json.data.ticket, csrf: back.json.data.CSRFPreventionToken });
    };
    const jane = await openidLogin();
    if (!(jane instanceof RawClient)) throw new Error("sign-in refused");
    const userid = `${JANE}@azure`;
    const secret = await makeToken(jane, userid, "automation");
    expect(await works(`${userid}!automation`, secret)).toBe(true);

    // Disabled in Entra: no more sign-ins, but Proxmox never hears of it.
    entra.directory.setAccountEnabled(JANE, false);
    expect(await openidLogin()).toEqual({ refused: 50057 });
    expect(await works(`${userid}!automation`, secret)).toBe(true);

    // What `leavers: disable` does: enable 0, then delete the tokens (spec 3.2, 3.3).
    expect((await admin.put(`/access/users/${userid}`, { enable: 0 })).status).toBe(200);
    expect((await admin.delete(`/access/users/${userid}/token/automation`)).status).toBe(200);
    expect(await works(`${userid}!automation`, secret)).toBe(false);
    // Even if someone re-enables the account by hand, the token stays dead.
    expect((await admin.put(`/access/users/${userid}`, { enable: 1 })).status).toBe(200);
    expect(await works(`${userid}!automation`, secret)).toBe(false);
  });
});
