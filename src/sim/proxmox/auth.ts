/**
 * Authentication (spec 2.1, 2.2, 2.4, errata 14): API-token headers, ticket cookies and CSRF tokens.
 * Tickets are HMAC-signed with a per-simulator secret; they are not compatible with real PVE tickets.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { ApiError } from "./errors.js";
import { decodeUtf8Component, parseTokenId } from "./params.js";
import type { Caller } from "./permissions.js";
import type { SimState, UserRec } from "./state.js";

const TICKET_LIFETIME_S = 2 * 3600;
const CLOCK_SKEW_S = 300;

export class TicketSigner {
  constructor(private readonly secret: Buffer) {}

  private mac(data: string): string {
    return createHmac("sha256", this.secret).update(data).digest("base64").replace(/=+$/, "");
  }

  /** "PVE:<userid>:<8-hex-time>::<signature>" (spec 2.2). */
  ticket(userid: string, now = Date.now()): string {
    const data = `PVE:${userid}:${Math.floor(now / 1000).toString(16).toUpperCase().padStart(8, "0")}`;
    return `${data}::${this.mac(data)}`;
  }

  /** The userid of a valid, unexpired ticket, else undefined. */
  verifyTicket(ticket: string, now = Date.now()): string | undefined {
    const m = /^(PVE:(.+):([0-9A-F]{8}))::(.+)$/.exec(ticket);
    if (!m) return undefined;
    if (!safeEqual(this.mac(m[1]!), m[4]!)) return undefined;
    const age = Math.floor(now / 1000) - parseInt(m[3]!, 16);
    if (age < -CLOCK_SKEW_S || age > TICKET_LIFETIME_S) return undefined;
    return m[2]!;
  }

  /** "<8-hex-time>:<hmac>" bound to the userid. */
  csrf(userid: string, now = Date.now()): string {
    const ts = Math.floor(now / 1000).toString(16).toUpperCase().padStart(8, "0");
    return `${ts}:${this.mac(`${ts}:${userid}`)}`;
  }

  verifyCsrf(token: string | undefined, userid: string, now = Date.now()): boolean {
    if (!token) return false;
    const m = /^([0-9A-F]{8}):(.+)$/.exec(token);
    if (!m) return false;
    if (!safeEqual(this.mac(`${m[1]}:${userid}`), m[2]!)) return false;
    const age = Math.floor(now / 1000) - parseInt(m[1]!, 16);
    return age >= -CLOCK_SKEW_S && age <= TICKET_LIFETIME_S;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function userUsable(user: UserRec | undefined, nowS: number): user is UserRec {
  if (!user || !user.enable) return false;
  return !(user.expire && user.expire > 0 && user.expire < nowS);
}

/** 401 with an empty body, as pveproxy answers before any handler runs (spec 2.4). */
export function unauthorized(reason: string): ApiError {
  return new ApiError(401, reason, undefined, false, true);
}

export interface Credentials {
  ticket?: string;
  token?: string;
}

/** Pull a ticket (cookie or Authorization: PVEAuthCookie=) and an API-token header out of a request. */
export function extractCredentials(headers: Record<string, string | string[] | undefined>): Credentials {
  const out: Credentials = {};
  const cookie = headers.cookie;
  const cookieStr = Array.isArray(cookie) ? cookie.join("; ") : cookie;
  if (cookieStr) {
    for (const part of cookieStr.split(/;\s*/)) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === "PVEAuthCookie") out.ticket = decodeUtf8Component(part.slice(eq + 1));
    }
  }
  const auth = headers.authorization;
  const authStr = Array.isArray(auth) ? auth[0] : auth;
  if (authStr) {
    const cm = /^PVEAuthCookie=(.+)$/.exec(authStr);
    if (cm) out.ticket ??= decodeUtf8Component(cm[1]!);
    // errata 14: "PVEAPIToken=ID=SECRET" or "PVEAPIToken ID=SECRET", URL-decoded.
    const tm = /^PVEAPIToken[= ](.+)$/s.exec(authStr);
    if (tm) out.token = decodeUtf8Component(tm[1]!);
  }
  return out;
}

/**
 * Authenticate a request that needs auth. The ticket wins over a token (spec 2.1). Throws a 401
 * with an empty body on failure.
 */
export function authenticate(
  state: SimState,
  signer: TicketSigner,
  creds: Credentials,
  method: string,
  csrfHeader: string | undefined,
): Caller {
  const nowS = Math.floor(Date.now() / 1000);
  if (creds.ticket !== undefined) {
    const userid = signer.verifyTicket(creds.ticket);
    if (!userid || !userUsable(state.users.get(userid), nowS)) throw unauthorized("Authentication failed!");
    if (method !== "GET" && !signer.verifyCsrf(csrfHeader, userid)) {
      throw unauthorized("Permission denied - invalid csrf token");
    }
    return { kind: "ticket", authid: userid, userid };
  }
  if (creds.token !== undefined) {
    const caller = verifyApiToken(state, creds.token, nowS);
    if (!caller) throw unauthorized("Authentication failed!");
    return caller;
  }
  throw unauthorized("No ticket");
}

/** "<userid>!<tokenid>=<secret>", split at the last "=" (spec 2.1). */
export function verifyApiToken(state: SimState, value: string, nowS: number): Caller | undefined {
  const eq = value.lastIndexOf("=");
  if (eq <= 0) return undefined;
  const full = value.slice(0, eq);
  const secret = value.slice(eq + 1);
  const id = parseTokenId(full);
  if (!id) return undefined;
  const user = state.users.get(id.userid);
  if (!userUsable(user, nowS)) return undefined;
  const token = user.tokens.get(id.tokenid);
  if (!token || !safeEqual(token.secret, secret)) return undefined;
  if (token.expire && token.expire > 0 && token.expire < nowS) return undefined;
  return { kind: "token", authid: full, userid: id.userid };
}
