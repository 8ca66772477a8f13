import { redact } from "../log/redact.js";
import { getOnce } from "./discovery.js";

/**
 * The node-side checks of `homelab verify` (issue 11 part 4): what a login through a realm meets before anyone
 * types a password.
 *
 * 1. `POST /access/openid/auth-url` on the cluster: the Proxmox node itself fetches the issuer's discovery document
 *    and keys (access API spec 4.6), so an issuer the node cannot reach, a certificate the node does not trust or an
 *    issuer URL the document does not name fails here with Proxmox's own message, even when homelab reaches the
 *    issuer from where it runs.
 * 2. A GET of the authorization URL the node answered, without signing in: the identity provider checks the client
 *    id and the redirect URI before it shows its sign-in page, and shows an error page instead when either is wrong
 *    (Entra ID: AADSTS700016, AADSTS50011), which the person signing in would see.
 *
 * Pure classification lives here (tested in test/unit/verify-node.test.ts); cluster-checks.ts and run.ts make the calls.
 */

/** What the identity provider answered to the authorization URL, read without signing in. */
export type AuthorizeOutcome =
  /** Its sign-in page (or a redirect to one that is not the relying party's redirect URI). */
  | { kind: "sign-in"; status: number }
  /** An error page shown to the person; `aadsts` is Entra ID's error number, when the page carries one. */
  | { kind: "page-error"; status: number; aadsts?: string; message: string }
  /** Sent back to the redirect URI with `error` (RFC 6749 4.1.2.1): the request was refused after the redirect URI was trusted. */
  | { kind: "redirect-error"; error: string; description: string }
  /** No answer: the provider could not be reached from here. */
  | { kind: "unreachable"; detail: string };

/** Longest message kept from a page (an error page's text can be long). */
const MAX_MESSAGE = 300;

/**
 * Reads an answer of an authorization endpoint. Entra ID renders its error pages with status 200 and carries the
 * error in `$Config` (`iErrorCode`, `strServiceExceptionMessage`) and in the page text (`AADSTS<n>: ...`); other
 * providers (Keycloak, Authentik, oidc-provider) answer 400 with an HTML page. A redirect carries `error` only when
 * it goes to the redirect URI.
 */
export function readAuthorizeAnswer(status: number, location: string | undefined, body: string, redirectUrl: string): AuthorizeOutcome {
  if (status >= 300 && status < 400 && location !== undefined) {
    let target: URL | undefined;
    try {
      target = new URL(location, redirectUrl);
    } catch {
      target = undefined;
    }
    if (target && sameEndpoint(target, redirectUrl)) {
      const params = target.searchParams.has("error") ? target.searchParams : new URLSearchParams(target.hash.slice(1));
      const error = params.get("error");
      if (error !== null) return { kind: "redirect-error", error, description: firstLine(params.get("error_description") ?? "") };
      // A code without anyone signing in: a session the provider kept; the sign-in would work.
      return { kind: "sign-in", status };
    }
    return { kind: "sign-in", status };
  }
  const entra = entraPageError(body);
  if (entra) return { kind: "page-error", status, ...entra };
  if (status >= 400) return { kind: "page-error", status, message: pageText(body) || `HTTP ${status}` };
  return { kind: "sign-in", status };
}

/** The redirect goes to the relying party's redirect URI (scheme, host, port and path; a bare origin with or without "/"). */
function sameEndpoint(target: URL, redirectUrl: string): boolean {
  let r: URL;
  try {
    r = new URL(redirectUrl);
  } catch {
    return false;
  }
  const path = (p: string) => (p === "" ? "/" : p);
  return target.origin === r.origin && path(target.pathname) === path(r.pathname);
}

/** Entra ID's error on a page: `$Config`'s `iErrorCode` and `strServiceExceptionMessage`, else the `AADSTS<n>: ...` text. */
export function entraPageError(html: string): { aadsts: string; message: string } | undefined {
  const code = /"iErrorCode"\s*:\s*(\d+)/.exec(html);
  if (code?.[1] && code[1] !== "0") {
    const msg = /"strServiceExceptionMessage"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(html);
    let message = `AADSTS${code[1]}`;
    if (msg?.[1]) {
      try {
        message = JSON.parse(msg[1]) as string;
      } catch {
        // keep the bare code
      }
    }
    return { aadsts: code[1], message: clip(firstLine(message)) };
  }
  const line = /AADSTS(\d+): ([^<\r\n]*)/.exec(html);
  if (line?.[1]) return { aadsts: line[1], message: clip(unescapeHtml(`AADSTS${line[1]}: ${line[2] ?? ""}`.trim())) };
  return undefined;
}

/** A page's visible text, briefly: the title and the first text after it, without markup. */
export function pageText(html: string): string {
  const text = unescapeHtml(
    html
      .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, " ")
      .replace(/<[^>]*>/g, " ")
      .replace(/\s+/g, " ")
      .trim(),
  );
  return clip(text);
}

function firstLine(s: string): string {
  return (s.split(/\r?\n/)[0] ?? "").trim();
}

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 3)}...` : s;
}

function unescapeHtml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/**
 * GET the authorization URL as a browser would before anyone signs in: one request, no redirect followed, TLS
 * verified against Node's CA store plus NODE_EXTRA_CA_CERTS. Never throws.
 */
export async function fetchAuthorize(url: string, redirectUrl: string, opts: { timeoutMs?: number } = {}): Promise<AuthorizeOutcome> {
  let res;
  try {
    res = await getOnce(url, "text/html", opts.timeoutMs);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { kind: "unreachable", detail: redact(`${e.code ?? "ERR_NETWORK"}${e.message ? ` (${e.message})` : ""}`) };
  }
  const location = typeof res.headers.location === "string" ? res.headers.location : undefined;
  return readAuthorizeAnswer(res.statusCode, location, res.body, redirectUrl);
}

/** The authorization endpoint of an authorization URL, without its query (state, nonce and challenge are per request). */
export function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

/** What kind of failure Proxmox's auth-url message describes (proxmox-openid's error chain, as perlmod prints it). */
export type NodeFailure =
  | { kind: "unreachable" }
  | { kind: "tls" }
  | { kind: "issuer"; named: string; expected: string }
  | { kind: "no-document"; status?: string }
  | { kind: "bad-document" }
  | { kind: "realm" }
  | { kind: "other" };

export function classifyNodeMessage(message: string): NodeFailure {
  const issuer = /unexpected issuer URI `([^`]*)` \(expected `([^`]*)`\)/.exec(message);
  if (issuer) return { kind: "issuer", named: issuer[1] ?? "", expected: issuer[2] ?? "" };
  if (/certificate|\btls\b|\bssl\b|handshake/i.test(message)) return { kind: "tls" };
  if (/timed out|Connection refused|No route to host|host not found|Network is unreachable|failed to lookup|Name or service not known|dns/i.test(message)) return { kind: "unreachable" };
  const status = /HTTP status code (\d{3})|http status: (\d{3})/i.exec(message);
  if (status) return { kind: "no-document", status: status[1] ?? status[2]! };
  if (/Failed to parse server response|missing field|Unexpected response Content-Type|invalid response/i.test(message)) return { kind: "bad-document" };
  if (/authentication domain '.*' does not exist|wrong realm type/.test(message)) return { kind: "realm" };
  return { kind: "other" };
}
