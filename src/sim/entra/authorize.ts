import { aadTimestamp, newGuid, newOpaque } from "./ids.js";
import { userAssigned } from "./id-token.js";
import type { Json } from "./shapes.js";
import { eqi, type Directory, type Entity } from "./state.js";
import { tenantMatches } from "./token-endpoint.js";

/**
 * `GET|POST /{tenant}/oauth2/v2.0/authorize`: the authorization-code flow (Microsoft identity platform
 * "OAuth 2.0 authorization code flow"; spec 5.4) for the directory's users.
 *
 * - GET shows a minimal sign-in page (fields `login` and `passwd`, as Entra's own form names them) that posts back
 *   to the same URL; POST with `login`/`passwd` (or `username`/`password`) plus the original query signs in
 *   non-interactively: tests and `demo` use that (signin-client.ts).
 * - Errors found before the redirect URI is trusted (unknown tenant or client, missing or unregistered redirect
 *   URI) are shown on an error page and never sent to the redirect URI. Errors about the request once the redirect
 *   URI is trusted go back to it as `error`/`error_description`/`state`. Errors of the person signing in (unknown
 *   account, wrong password, disabled account, not assigned to the app) are shown on the sign-in page, where a
 *   person stays: the app never hears about them. [U] Entra renders its error pages with status 200; so does the
 *   simulator, with the AADSTS line in the page text and in `$Config` (`iErrorCode`, `strServiceExceptionMessage`)
 *   like Entra's pages.
 * - PKCE: optional for a confidential (web) client, as for Entra; when `code_challenge` is sent,
 *   `code_challenge_method` is `S256` or `plain` (the default when absent, as Entra documents), and the token
 *   request must bring the matching `code_verifier`.
 */

export interface AuthorizeReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface AuthorizeConfig {
  codeSeconds: number;
}

class PageError extends Error {
  constructor(
    readonly aadsts: number,
    readonly description: string,
  ) {
    super(`AADSTS${aadsts}: ${description}`);
  }
}

class RedirectError extends Error {
  constructor(
    readonly error: string,
    readonly aadsts: number,
    readonly description: string,
  ) {
    super(`AADSTS${aadsts}: ${description}`);
  }
}

const CREDENTIAL_FIELDS = ["login", "passwd", "username", "password"];

export function handleAuthorize(
  dir: Directory,
  cfg: AuthorizeConfig,
  tenant: string,
  method: string,
  actionUrl: string,
  query: URLSearchParams,
  form: URLSearchParams,
): AuthorizeReply {
  // The request's parameters: the query, and for a POST the non-credential form fields too (Entra accepts both).
  const params = new URLSearchParams(query);
  if (method === "POST") for (const [k, v] of form) if (!CREDENTIAL_FIELDS.includes(k) && !params.has(k)) params.set(k, v);
  const correlation = newGuid();
  let redirectUri: string | undefined;
  let app: Entity | undefined;
  try {
    if (!tenantMatches(dir, tenant))
      throw new PageError(
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      );
    const clientId = params.get("client_id");
    if (!clientId) throw new PageError(900144, "The request body must contain the following parameter: 'client_id'.");
    app = dir.rawAppByAppId(clientId);
    if (!app)
      throw new PageError(
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${dir.domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    const requested = params.get("redirect_uri");
    if (!requested) throw new PageError(900971, "No reply address provided.");
    // 5.4: exact, case-sensitive match against the app's registered redirect URIs.
    if (!registeredRedirectUris(app.data).includes(requested))
      throw new PageError(
        50011,
        `The redirect URI '${requested}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.`,
      );
    redirectUri = requested;
    const request = checkRequest(params);
    if (params.get("prompt") === "none")
      // No sessions in the simulator: a silent request always needs the person.
      throw new RedirectError("login_required", 50058, "A silent sign-in request was sent but no user is signed in.");
    const login = form.get("login") ?? form.get("username");
    const passwd = form.get("passwd") ?? form.get("password");
    if (method !== "POST" || login === null || passwd === null)
      return page(200, signInPage(app.data, actionUrl, params.get("login_hint") ?? login ?? "", undefined));
    const outcome = authenticate(dir, app, login, passwd);
    if ("aadsts" in outcome) return page(200, signInPage(app.data, actionUrl, login, outcome));
    const code = newOpaque(96);
    const now = dir.now().getTime();
    dir.authCodes.set(code, {
      clientId: String(app.data.appId),
      redirectUri,
      userId: String(outcome.data.id),
      scopes: request.scopes,
      ...(params.get("nonce") !== null ? { nonce: params.get("nonce") ?? "" } : {}),
      ...(request.challenge ? { codeChallenge: request.challenge, codeChallengeMethod: request.method } : {}),
      authTime: Math.floor(now / 1000),
      expiresAt: now + cfg.codeSeconds * 1000,
      redeemed: false,
    });
    const out: Array<[string, string]> = [["code", code]];
    if (params.get("state") !== null) out.push(["state", params.get("state") ?? ""]);
    out.push(["session_state", newGuid()]);
    return respond(redirectUri, request.mode, out);
  } catch (err) {
    if (err instanceof PageError) return page(200, errorPage(err, correlation, dir.now(), app?.data));
    if (err instanceof RedirectError && redirectUri !== undefined) {
      const ts = aadTimestamp(dir.now());
      const out: Array<[string, string]> = [
        ["error", err.error],
        ["error_description", `AADSTS${err.aadsts}: ${err.description}\r\nTrace ID: ${newGuid()}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${ts}`],
        ["error_uri", `https://login.microsoftonline.com/error?code=${err.aadsts}`],
      ];
      if (params.get("state") !== null) out.push(["state", params.get("state") ?? ""]);
      return respond(redirectUri, responseMode(params), out);
    }
    throw err;
  }
}

/** Web, public-client (mobile and desktop) and SPA redirect URIs of the application. */
export function registeredRedirectUris(app: Json): string[] {
  const list = (o: unknown): string[] => {
    const uris = (o as { redirectUris?: unknown } | null)?.redirectUris;
    return Array.isArray(uris) ? uris.map(String) : [];
  };
  return [...list(app.web), ...list(app.publicClient), ...list(app.spa)];
}

function responseMode(params: URLSearchParams): "query" | "fragment" | "form_post" {
  const m = params.get("response_mode");
  return m === "fragment" || m === "form_post" ? m : "query";
}

/** Checks of the request that are answered at the (trusted) redirect URI. */
function checkRequest(params: URLSearchParams): {
  scopes: string[];
  mode: "query" | "fragment" | "form_post";
  challenge?: string;
  method?: "plain" | "S256";
} {
  const rt = params.get("response_type");
  if (!rt) throw new RedirectError("invalid_request", 900144, "The request body must contain the following parameter: 'response_type'.");
  if (rt !== "code")
    throw new RedirectError("unsupported_response_type", 70005, `The application requested an unsupported response type '${rt}'. The simulator implements the authorization code flow (response_type=code).`);
  const mode = params.get("response_mode");
  if (mode !== null && !["query", "fragment", "form_post"].includes(mode))
    throw new RedirectError("invalid_request", 70007, `The application returned an unsupported value of 'response_mode': '${mode}'.`);
  const scope = params.get("scope");
  if (!scope) throw new RedirectError("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
  const challenge = params.get("code_challenge") ?? undefined;
  const rawMethod = params.get("code_challenge_method");
  if (challenge === undefined) return { scopes: scope.split(/\s+/).filter(Boolean), mode: responseMode(params) };
  if (rawMethod !== null && rawMethod !== "S256" && rawMethod !== "plain")
    throw new RedirectError("invalid_request", 90100, `The parameter 'code_challenge_method' is empty or not valid: '${rawMethod}'. Supported values are 'S256' and 'plain'.`);
  const method = rawMethod === "S256" ? "S256" : "plain";
  // RFC 7636 4.2: an S256 challenge is 43 base64url characters; a plain one is a verifier (43..128).
  const ok = method === "S256" ? /^[A-Za-z0-9_-]{43}$/.test(challenge) : /^[A-Za-z0-9._~-]{43,128}$/.test(challenge);
  if (!ok) throw new RedirectError("invalid_request", 501491, "Invalid size of Code_Challenge parameter.");
  return { scopes: scope.split(/\s+/).filter(Boolean), mode: responseMode(params), challenge, method };
}

type SignInFailure = { aadsts: number; description: string };

/** The person's credentials and standing: account, password, enabled, assigned to the app. */
function authenticate(dir: Directory, app: Entity, login: string, passwd: string): Entity | SignInFailure {
  const user = findUser(dir, login);
  if (!user)
    return {
      aadsts: 50034,
      description: `The user account ${login} does not exist in the '${dir.domain}' directory. To sign into this application, the account must be added to the directory.`,
    };
  const auth = dir.userSignIn.get(String(user.data.id));
  if (!auth || auth.password !== passwd)
    return { aadsts: 50126, description: "Error validating credentials due to invalid username or password." };
  if (!auth.accountEnabled) return { aadsts: 50057, description: "The user account is disabled." };
  const sp = dir.rawSpByAppId(String(app.data.appId));
  if (!userAssigned(dir, sp, String(user.data.id))) {
    const name = String(app.data.displayName ?? "");
    return {
      aadsts: 50105,
      description: `Your administrator has configured the application ${name} ('${String(app.data.appId)}') to block users unless they are specifically granted ('assigned') access to the application. The signed in user '${String(user.data.userPrincipalName)}' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator. Please contact your administrator to assign access to this application.`,
    };
  }
  return user;
}

/** By UPN; a guest also by the address they sign in with (their `mail`). */
export function findUser(dir: Directory, login: string): Entity | undefined {
  return (
    dir.findRaw("users", (d) => eqi(d.userPrincipalName, login)) ??
    dir.findRaw("users", (d) => eqi(d.mail, login) && dir.userSignIn.get(String(d.id))?.userType === "Guest")
  );
}

function respond(redirectUri: string, mode: "query" | "fragment" | "form_post", out: Array<[string, string]>): AuthorizeReply {
  if (mode === "form_post") {
    const inputs = out.map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}"/>`).join("");
    const body = `<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" action="${esc(redirectUri)}">${inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit"/></noscript></form><script language="javascript">document.forms[0].submit();</script></body></html>`;
    return page(200, body);
  }
  // 5.4: a redirect URI without a path comes back with "/" appended (URL serialisation does exactly that).
  const target = new URL(redirectUri);
  const encoded = new URLSearchParams(out).toString();
  if (mode === "fragment") target.hash = encoded;
  else for (const [k, v] of out) target.searchParams.append(k, v);
  return { status: 302, headers: { location: target.toString(), "cache-control": "no-store, no-cache" }, body: "" };
}

function page(status: number, body: string): AuthorizeReply {
  return { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store, no-cache" }, body };
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** `$Config` as Entra's pages carry it (error code and message), safe inside a script element. */
function configScript(c: Json): string {
  return `<script>//<![CDATA[\n$Config=${JSON.stringify(c).replace(/</g, "\\u003c")};\n//]]></script>`;
}

const STYLE =
  "body{font-family:'Segoe UI',sans-serif;background:#f2f2f2;margin:0}main{background:#fff;max-width:440px;margin:10vh auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}input{display:block;width:100%;margin:8px 0 16px;padding:6px;box-sizing:border-box}button{background:#0067b8;color:#fff;border:0;padding:8px 24px}.err{color:#e81123}.small{color:#666;font-size:12px}";

function signInPage(app: Json, actionUrl: string, login: string, failure: SignInFailure | undefined): string {
  const name = String(app.displayName ?? app.appId);
  const err = failure ? `<p class="err" id="error">AADSTS${failure.aadsts}: ${esc(failure.description)}</p>` : "";
  const cfg = failure ? configScript({ iErrorCode: failure.aadsts, strServiceExceptionMessage: `AADSTS${failure.aadsts}: ${failure.description}` }) : "";
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>Sign in to your account</title><style>${STYLE}</style>${cfg}</head><body><main><h1>Sign in</h1><p>to continue to <b>${esc(name)}</b> (Entra ID simulator)</p>${err}<form method="POST" action="${esc(actionUrl)}"><label>Email, phone, or Skype<input type="email" name="login" value="${esc(login)}" autofocus required/></label><label>Password<input type="password" name="passwd" required/></label><button type="submit">Sign in</button></form><p class="small">homelab simulator: every seeded user's password is shown in the README.</p></main></body></html>`;
}

function errorPage(err: PageError, correlation: string, now: Date, app: Json | undefined): string {
  const msg = `AADSTS${err.aadsts}: ${err.description}`;
  const cfg = configScript({ iErrorCode: err.aadsts, strServiceExceptionMessage: msg, correlationId: correlation });
  const appLine = app ? `<p class="small">App name: ${esc(String(app.displayName ?? ""))}<br/>App id: ${esc(String(app.appId))}</p>` : "";
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>Sign in to your account</title><style>${STYLE}</style>${cfg}</head><body><main><h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p><p class="err" id="error">${esc(msg)}</p>${appLine}<p class="small">Correlation ID: ${correlation}<br/>Timestamp: ${aadTimestamp(now)}</p></main></body></html>`;
}
