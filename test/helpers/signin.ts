/**
 * The OpenID sign-in as the Proxmox GUI performs it, for tests that drive both simulators (issue 11): the steps of
 * src/cli/commands/demo-signin.ts (whose `signInOnce` is private), split so a test can act between them (rotate the
 * secret between auth-url and login) and so each failure says at which step it stopped.
 *
 * 1. `POST /access/openid/auth-url` on the node (no credentials; the node fetches the issuer's discovery document);
 * 2. the sign-in at the returned authorization URL (the Entra simulator's form post, `signIn`);
 * 3. `POST /access/openid/login` with the code and state the browser brings back;
 * 4. `GET /access/permissions` with the ticket Proxmox answered, and the user's record (groups, email, names).
 */
import { expect } from "vitest";
import { DEFAULT_USER_PASSWORD, signIn } from "../../src/sim/entra/index.js";
import { RawClient, type ProxmoxSim } from "../../src/sim/proxmox/index.js";

/** A sign-in that the Entra simulator sent back to the redirect URI with a code. */
export interface Authorized {
  code: string;
  state: string;
}

/** Where a sign-in ended. `ok`: Proxmox answered a ticket that works for the API. */
export type SignInResult =
  | { ok: true; userid: string; groups: string[]; perms: Record<string, Record<string, number>>; user: Record<string, unknown> }
  | { ok: false; step: "auth-url"; status: number; message: string }
  | { ok: false; step: "entra"; aadsts?: number; message: string }
  | { ok: false; step: "login"; status: number; message: string };

function messageOf(json: unknown, text: string): string {
  const m = (json as { message?: unknown } | undefined)?.message;
  return (typeof m === "string" ? m : text).trim();
}

/** Steps 1 and 2: the authorization code for `username`, or where it stopped. */
export async function authorize(
  sim: ProxmoxSim,
  realm: string,
  username: string,
  opts: { redirectUrl?: string; password?: string } = {},
): Promise<{ ok: true; auth: Authorized } | Extract<SignInResult, { step: "auth-url" | "entra" }>> {
  const anon = new RawClient(sim.url, sim.certPem);
  try {
    const start = await anon.post("/access/openid/auth-url", { realm, "redirect-url": opts.redirectUrl ?? sim.url });
    if (start.status !== 200 || typeof start.json?.data !== "string") return { ok: false, step: "auth-url", status: start.status, message: messageOf(start.json, start.text) };
    const signed = await signIn({ authorizeUrl: start.json.data as string, username, password: opts.password ?? DEFAULT_USER_PASSWORD });
    if (!signed.ok) return { ok: false, step: "entra", ...(signed.aadsts !== undefined ? { aadsts: signed.aadsts } : {}), message: signed.message };
    return { ok: true, auth: { code: signed.code, state: signed.state ?? "" } };
  } finally {
    anon.close();
  }
}

/** Steps 3 and 4: the login with a code, then what the ticket is worth. */
export async function login(sim: ProxmoxSim, auth: Authorized, redirectUrl: string = sim.url): Promise<SignInResult> {
  const anon = new RawClient(sim.url, sim.certPem);
  const admin = anon.withAuth({ token: sim.adminToken });
  try {
    const r = await anon.post("/access/openid/login", { code: auth.code, state: auth.state, "redirect-url": redirectUrl });
    if (r.status !== 200) return { ok: false, step: "login", status: r.status, message: messageOf(r.json, r.text) };
    const data = r.json.data as { username: string; ticket: string; CSRFPreventionToken: string };
    const perms = await anon.withAuth({ ticket: data.ticket, csrf: data.CSRFPreventionToken }).get("/access/permissions");
    expect(perms.status, `GET /access/permissions with ${data.username}'s ticket: ${perms.text}`).toBe(200);
    const user = await admin.get(`/access/users/${encodeURIComponent(data.username)}`);
    expect(user.status, `GET /access/users/${data.username}: ${user.text}`).toBe(200);
    const record = (user.json.data ?? {}) as Record<string, unknown>;
    return { ok: true, userid: data.username, groups: [...((record.groups ?? []) as string[])].sort(), perms: (perms.json.data ?? {}) as Record<string, Record<string, number>>, user: record };
  } finally {
    anon.close();
  }
}

/** The whole sign-in of `username` through `realm` on the simulated node. */
export async function signInThrough(sim: ProxmoxSim, realm: string, username: string, opts: { redirectUrl?: string; password?: string } = {}): Promise<SignInResult> {
  const a = await authorize(sim, realm, username, opts);
  if (!a.ok) return a;
  return login(sim, a.auth, opts.redirectUrl);
}

/** The sign-in succeeded: narrows the result, failing the test with where it stopped. */
export function signedIn(r: SignInResult): Extract<SignInResult, { ok: true }> {
  if (!r.ok) expect.fail(`sign-in stopped at ${r.step}: ${"status" in r ? `${r.status} ` : ""}${"aadsts" in r && r.aadsts !== undefined ? `AADSTS${r.aadsts} ` : ""}${r.message}`);
  return r as Extract<SignInResult, { ok: true }>;
}

/** The privileges a sign-in holds on `path`, sorted. */
export const privsOn = (r: Extract<SignInResult, { ok: true }>, path: string): string[] => Object.keys(r.perms[path] ?? {}).sort();

/** The reasons the node logged for refused OpenID logins (Proxmox's syslog line, `msg=` part). */
export const loginFailures = (sim: ProxmoxSim): string[] =>
  sim.syslog.filter((e) => e.message.startsWith("openid authentication failure")).map((e) => e.message.replace(/^.*? msg=/, "").trim());
