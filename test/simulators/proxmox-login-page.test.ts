import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_ROLES } from "../../src/core/pve.js";
import { DEFAULT_USER_PASSWORD, signIn, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";
import { LOGIN_SCRIPT } from "../../src/sim/proxmox/login-page.js";
import { RawClient, startProxmoxSim, type ProxmoxSim } from "../../src/sim/proxmox/index.js";

/**
 * The simulator's stand-in for the GUI's OpenID login (GET /): its script runs here against a minimal document,
 * location and history, with fetch going to the Proxmox simulator, and a person signing in at the Entra simulator
 * in between, as in a browser.
 */
const APP = "6c1f0b1e-2d3c-4b5a-8e9f-0a1b2c3d4e5f";
const SECRET = "login-page-test-secret-2b9e";

let pve: ProxmoxSim;
let entra: EntraSim;
let raw: RawClient;

/** One load of the page at `href`: what it shows, where it sends the browser, and the cookie it sets. */
async function load(href: string, click = false): Promise<{ html: string; goTo?: string; cookie?: string; url: string }> {
  const url = new URL(href);
  const out = { innerHTML: "", buttons: [] as Array<{ dataset: { realm: string }; onclick?: () => Promise<void> }>, error: { textContent: "" } };
  const page: { goTo?: string; cookie?: string; url: string } = { url: url.toString() };
  const document = {
    getElementById: () => ({
      get innerHTML() {
        return out.innerHTML;
      },
      set innerHTML(v: string) {
        out.innerHTML = v;
        out.buttons = [...v.matchAll(/data-realm="([^"]*)"/g)].map((m) => ({ dataset: { realm: m[1]! } }));
      },
      querySelectorAll: () => out.buttons,
      querySelector: () => out.error,
    }),
    set cookie(v: string) {
      page.cookie = v;
    },
  };
  const location = {
    search: url.search,
    origin: url.origin,
    set href(v: string) {
      page.goTo = v;
    },
  };
  const history = { replaceState: (_s: unknown, _t: string, to: string) => (page.url = new URL(to, url).toString()) };
  // The browser's fetch: relative to the page, with the cookie the page set.
  const fetch = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const ticket = /^PVEAuthCookie=([^;]*)/.exec(page.cookie ?? "")?.[1];
    const [p, q] = path.split("?");
    const r = await raw.send({
      method: init.method ?? "GET",
      path: p!,
      ...(q ? { query: q } : {}),
      ...(init.body !== undefined ? { form: init.body } : {}),
      auth: ticket ? { ticket: decodeURIComponent(ticket) } : "none",
    });
    return { status: r.status, json: async () => JSON.parse(r.text) as unknown };
  };
  const run = new Function("document", "location", "history", "fetch", `return (async () => {${LOGIN_SCRIPT}})();`) as (...a: unknown[]) => Promise<void>;
  await run(document, location, history, fetch);
  if (click) await out.buttons[0]!.onclick!();
  return { html: out.innerHTML + out.error.textContent, ...page };
}

beforeAll(async () => {
  pve = await startProxmoxSim({ unauthorizedDelayMs: 0 });
  entra = await startEntraSim({
    fixture: {
      users: [{ displayName: "Jane Doe", userPrincipalName: "jane@contoso.com", mail: "jane@contoso.com" }],
      applications: [{ appId: APP, displayName: "Proxmox VE", web: { redirectUris: [pve.url] }, passwordCredentials: [{ secretText: SECRET }] }],
      servicePrincipals: [{ appId: APP }],
    },
  });
  raw = new RawClient(pve.url, pve.certPem);
});

afterAll(async () => {
  raw.close();
  await Promise.all([pve.close(), entra.close()]);
});

describe("Proxmox simulator: the login page at /", () => {
  it("is served as HTML at / only (other paths outside /api2/json stay 501)", async () => {
    const get = (path: string) =>
      new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
        request(`${pve.url}${path}`, { ca: pve.certPem }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), text }));
        })
          .on("error", reject)
          .end();
      });
    const r = await get("/");
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/html/);
    expect(r.text).toContain(LOGIN_SCRIPT);
    expect((await get("/?code=x")).status).toBe(200);
    expect((await get("/other")).status).toBe(501);
  });

  it("without an OpenID realm it says what to do", async () => {
    expect((await load(`${pve.url}/`)).html).toMatch(/^<p>No OpenID realm yet/);
  });

  it("lists the OpenID realms, starts the sign-in at the node's authorization URL, and finishes it when the browser comes back", async () => {
    const admin = raw.withAuth({ token: pve.adminToken });
    const created = await admin.post("/access/domains", {
      realm: "azure", type: "openid", "issuer-url": `${entra.loginUrl}/${entra.tenantId}/v2.0`, "client-id": APP, "client-key": SECRET, "username-claim": "email", autocreate: 1, comment: "Entra ID",
    });
    expect(created.status, created.text).toBe(200);
    expect((await admin.put("/access/acl", { path: "/", users: "jane@contoso.com@azure", roles: "PVEAuditor" })).status).toBe(500); // no such user yet

    const first = await load(`${pve.url}/`, true);
    expect(first.html).toContain('<button data-realm="azure">Sign in with realm azure (Entra ID)</button>');
    expect(first.goTo).toMatch(new RegExp(`^${entra.loginUrl}/${entra.tenantId}/oauth2/v2\\.0/authorize\\?`));
    expect(new URL(first.goTo!).searchParams.get("redirect_uri")).toBe(pve.url);

    const signed = await signIn({ authorizeUrl: first.goTo!, username: "jane@contoso.com", password: DEFAULT_USER_PASSWORD });
    expect(signed.ok).toBe(true);
    const back = await load(signed.ok ? signed.location : "");
    expect(back.url).toBe(`${pve.url}/`); // the code is taken out of the address bar
    expect(back.html).toMatch(/^<p id="user">Signed in as <b>jane@contoso\.com@azure<\/b>\.<\/p><p id="privs">Privileges on \/: none<\/p>/);
    expect(back.cookie).toMatch(/^PVEAuthCookie=PVE%3Ajane%40contoso\.com%40azure%3A/);

    // With rights, the page shows them (the ticket works for the API as jane).
    expect((await admin.put("/access/acl", { path: "/", users: "jane@contoso.com@azure", roles: "PVEAuditor" })).status).toBe(200);
    const again = await signIn({ authorizeUrl: (await load(`${pve.url}/`, true)).goTo!, username: "jane@contoso.com", password: DEFAULT_USER_PASSWORD });
    const withRights = await load(again.ok ? again.location : "");
    expect(withRights.html).toContain(`<p id="privs">Privileges on /: ${[...BUILTIN_ROLES.PVEAuditor!].sort().join(", ")}</p>`);

    // A code used twice: Proxmox's 401, and the page says so.
    const replay = await load(again.ok ? again.location : "");
    expect(replay.html).toMatch(/^<p class="err">Login failed: authentication failure/);
  });

  it("an error the provider sends back is shown; a failing auth-url is shown under the buttons", async () => {
    expect((await load(`${pve.url}/?error=access_denied&error_description=AADSTS50105%3A+not+assigned%0D%0ATrace`)).html).toMatch(/^<p class="err">The identity provider answered access_denied: AADSTS50105: not assigned<\/p>/);
    pve.setOpenIdBlockedHosts([new URL(entra.loginUrl).host]);
    try {
      const r = await load(`${pve.url}/`, true);
      expect(r.goTo).toBeUndefined();
      expect(r.html).toContain("POST /access/openid/auth-url: Request failed: ureq request failed - io: Connection timed out (os error 110)");
    } finally {
      pve.setOpenIdBlockedHosts([]);
    }
  });
});
