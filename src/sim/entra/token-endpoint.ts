import type { IncomingHttpHeaders } from "node:http";
import { JWT_BEARER, verifyClientAssertion } from "./client-assertion.js";
import { TokenError } from "./errors.js";
import { createHash } from "node:crypto";
import { idTokenClaims } from "./id-token.js";
import { GRAPH_APP_ID, GRAPH_CLI_APP_ID, aadTimestamp, base64url, newGuid, newOpaque } from "./ids.js";
import { ACCESS_TOKEN_SECONDS, eqi, type Directory } from "./state.js";
import type { Json } from "./shapes.js";

/**
 * The identity endpoints of 1.1, 1.3 and 2.8: `POST /{tenant}/oauth2/v2.0/token` (client credentials, device code
 * in both grant_type spellings, refresh token) and `POST /{tenant}/oauth2/v2.0/devicecode`. Errors use the flat
 * envelope of 4.2. Unknown form parameters (msal's telemetry) and the `client-request-id` query are ignored.
 */

export interface DeviceUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
}

export interface TokenEndpointConfig {
  devicePendingPolls: number;
  devicePollInterval: number;
  deviceUser: DeviceUser;
  /** False: the device-code request of a public client is refused with AADSTS7000218 (see EntraSimOptions). */
  publicClientFlows: boolean;
  /** The simulator's own URLs (the ID token's `iss`, the overage pointer); filled in once the server listens. */
  urls?: { loginUrl: string; graphUrl: string };
}

export interface TokenReply {
  status: number;
  body: Json;
}

const GRAPH_RESOURCES = ["https://graph.microsoft.com", GRAPH_APP_ID];
const OIDC_SCOPES = ["openid", "profile", "offline_access", "email"];
/** What a delegated `.default` request is granted: an admin's bootstrap set (1.3). */
const DEFAULT_DELEGATED = ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "Directory.Read.All"];
const DEVICE_CODE_SECONDS = 900;

export function tenantMatches(dir: Directory, tenant: string): boolean {
  return eqi(tenant, dir.tenantId) || eqi(tenant, dir.domain);
}

const MULTI_TENANT = ["common", "organizations"];

export function handleIdentityPost(
  dir: Directory,
  cfg: TokenEndpointConfig,
  tenant: string,
  action: "token" | "devicecode",
  form: URLSearchParams,
  headers: IncomingHttpHeaders,
): TokenReply {
  const grant = form.get("grant_type");
  const multiOk = action === "devicecode" || (grant !== "client_credentials" && grant !== null);
  if (!tenantMatches(dir, tenant) && !(multiOk && MULTI_TENANT.includes(tenant.toLowerCase())))
    throw new TokenError(
      400,
      "invalid_request",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    );
  if (action === "devicecode") return deviceAuthorization(dir, cfg, form);
  if (grant === null) throw missing("grant_type");
  switch (grant) {
    case "client_credentials":
      return clientCredentials(dir, form, headers);
    // 1.3 / 2.8: msal-node sends `device_code`; the documented value is the URN. Accept both.
    case "device_code":
    case "urn:ietf:params:oauth:grant-type:device_code":
      return deviceCodeToken(dir, cfg, form);
    case "refresh_token":
      return refreshToken(dir, cfg, form);
    case "authorization_code":
      return authorizationCode(dir, cfg, form, headers);
    default:
      throw new TokenError(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grant}'.`);
  }
}

function missing(param: string): TokenError {
  return new TokenError(400, "invalid_request", 900144, `The request body must contain the following parameter: '${param}'.`);
}

export function appNotFound(dir: Directory, clientId: string): TokenError {
  return new TokenError(
    400,
    "unauthorized_client",
    700016,
    `Application with identifier '${clientId}' was not found in the directory '${dir.domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  );
}

/** client_secret from the body, or HTTP Basic (RFC 6749 2.3.1; 1.1). */
function presentedSecret(form: URLSearchParams, headers: IncomingHttpHeaders): { clientId?: string; secret?: string } {
  const auth = headers.authorization;
  if (typeof auth === "string" && /^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), "base64").toString("utf8");
    const i = decoded.indexOf(":");
    if (i > 0) return { clientId: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
  }
  return { clientId: form.get("client_id") ?? undefined, secret: form.get("client_secret") ?? undefined };
}

function clientCredentials(dir: Directory, form: URLSearchParams, headers: IncomingHttpHeaders): TokenReply {
  const cred = presentedSecret(form, headers);
  const clientId = cred.clientId;
  if (!clientId) throw missing("client_id");
  const scope = form.get("scope");
  if (scope === null) throw missing("scope");
  // 1.1: exactly `{resource}/.default`, and the simulator only knows Microsoft Graph.
  const scopes = scope.split(/\s+/).filter(Boolean);
  const resource = scopes.length === 1 && scopes[0]?.endsWith("/.default") ? scopes[0].slice(0, -"/.default".length) : undefined;
  if (!resource || !GRAPH_RESOURCES.some((r) => eqi(r, resource.replace(/\/+$/, ""))))
    throw new TokenError(400, "invalid_scope", 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`);
  const app = dir.rawAppByAppId(clientId);
  if (!app) throw appNotFound(dir, clientId);
  const assertion = form.get("client_assertion");
  if (assertion !== null && cred.secret === undefined) {
    if (form.get("client_assertion_type") !== JWT_BEARER)
      throw new TokenError(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion_type'.");
    verifyClientAssertion(app, clientId, assertion, dir.now());
    // Errata 9.1 applies to any credential: no service principal, no token.
    if (!dir.rawSpByAppId(clientId)) throw missingSp(dir, clientId);
  } else {
    checkSecret(dir, app.data.displayName, clientId, cred.secret);
  }
  const sp = dir.rawSpByAppId(clientId);
  const spId = String(sp?.data.id);
  // 1.2: the app's Graph permissions are its app-role assignments on Graph's service principal, read at issue time.
  const access_token = dir.issueAccessToken({ kind: "app", appId: app.data.appId as string, principalId: spId, permissions: dir.grantedGraphRoles(spId) });
  return { status: 200, body: { token_type: "Bearer", expires_in: ACCESS_TOKEN_SECONDS, ext_expires_in: ACCESS_TOKEN_SECONDS, access_token } };
}

function missingSp(dir: Directory, clientId: string): TokenError {
  // Errata 9.1.
  return new TokenError(
    401,
    "invalid_client",
    7000229,
    `The client application ${clientId} is missing service principal in the tenant ${dir.tenantId}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119`,
  );
}

function checkSecret(dir: Directory, displayName: unknown, clientId: string, secret: string | undefined): void {
  if (secret === undefined)
    throw new TokenError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  switch (dir.checkSecret(clientId, secret, true)) {
    case "ok":
      return;
    case "expired":
      throw new TokenError(
        401,
        "invalid_client",
        7000222,
        `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    case "no-sp":
      throw missingSp(dir, clientId);
    case "disabled":
      throw new TokenError(400, "unauthorized_client", 7000112, `Application '${clientId}'(${String(displayName)}) is disabled.`);
    default:
      throw new TokenError(
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
  }
}

/**
 * `grant_type=authorization_code` (v2-oauth2-auth-code-flow "Redeem a code for an access token"): the client
 * authenticates with its secret (client_secret_basic or client_secret_post, checked as for client credentials:
 * AADSTS7000215 wrong, AADSTS7000222 expired) or a certificate assertion; the code is single use (AADSTS54005),
 * expires (AADSTS70008), belongs to the client, and is redeemed with the redirect URI it was issued for
 * (AADSTS500112) and, when the authorization request carried a PKCE challenge, the matching verifier
 * (AADSTS501481). Answers `id_token` (when `openid` was requested) and an access token for Graph (userinfo).
 * No refresh token: Proxmox never asks for `offline_access`.
 */
function authorizationCode(dir: Directory, cfg: TokenEndpointConfig, form: URLSearchParams, headers: IncomingHttpHeaders): TokenReply {
  const cred = presentedSecret(form, headers);
  const clientId = cred.clientId ?? form.get("client_id") ?? undefined;
  if (!clientId) throw missing("client_id");
  const app = dir.rawAppByAppId(clientId);
  if (!app) throw appNotFound(dir, clientId);
  const code = form.get("code");
  if (!code) throw missing("code");
  const redirectUri = form.get("redirect_uri");
  if (!redirectUri) throw missing("redirect_uri");
  const assertion = form.get("client_assertion");
  if (assertion !== null && cred.secret === undefined) {
    if (form.get("client_assertion_type") !== JWT_BEARER) throw missing("client_assertion_type");
    verifyClientAssertion(app, clientId, assertion, dir.now());
    if (!dir.rawSpByAppId(clientId)) throw missingSp(dir, clientId);
  } else if (cred.secret !== undefined || app.data.isFallbackPublicClient !== true) {
    checkSecret(dir, app.data.displayName, clientId, cred.secret);
  }
  const grant = dir.authCodes.get(code);
  if (!grant) throw new TokenError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.");
  if (!eqi(grant.clientId, clientId))
    throw new TokenError(400, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid. The code was issued to a different client.");
  if (grant.redeemed)
    throw new TokenError(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
  if (dir.now().getTime() >= grant.expiresAt) {
    dir.authCodes.delete(code);
    throw new TokenError(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
  }
  if (!sameRedirect(grant.redirectUri, redirectUri))
    throw new TokenError(400, "invalid_client", 500112, `The reply address '${redirectUri}' does not match the reply address '${grant.redirectUri}' provided when requesting Authorization code.`);
  if (grant.codeChallenge !== undefined) {
    const verifier = form.get("code_verifier");
    const expected = grant.codeChallengeMethod === "S256" && verifier !== null ? base64url(createHash("sha256").update(verifier).digest()) : verifier;
    if (verifier === null || expected !== grant.codeChallenge)
      throw new TokenError(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
  }
  grant.redeemed = true;
  const user = dir.collections.users.get(grant.userId);
  if (!user) throw new TokenError(400, "invalid_grant", 50034, "The user account does not exist in the directory.");
  // Disabled between sign-in and code redemption: refused like a sign-in (AADSTS50057) [U: Entra's exact answer].
  if (!dir.accountEnabled(grant.userId)) throw new TokenError(400, "invalid_grant", 50057, "The user account is disabled.");
  const oidcScopes = grant.scopes.filter((s) => OIDC_SCOPES.includes(s.toLowerCase()) && s.toLowerCase() !== "offline_access");
  const permissions = [...delegatedPermissions(grant.scopes).filter((p) => p !== "User.Read"), "User.Read"].sort();
  const access_token = dir.issueAccessToken({ kind: "user", appId: clientId, principalId: grant.userId, permissions: [...permissions, ...oidcScopes.map((s) => s.toLowerCase())] });
  const scope = [...oidcScopes.map((s) => s.toLowerCase()), ...permissions.map((p) => `https://graph.microsoft.com/${p}`)].join(" ");
  const body: Json = { token_type: "Bearer", scope, expires_in: ACCESS_TOKEN_SECONDS, ext_expires_in: ACCESS_TOKEN_SECONDS, access_token };
  if (grant.scopes.some((s) => s.toLowerCase() === "openid")) {
    const urls = cfg.urls ?? { loginUrl: "https://login.microsoftonline.com", graphUrl: "https://graph.microsoft.com" };
    const guest = dir.userSignIn.get(grant.userId)?.userType === "Guest";
    const claims = idTokenClaims(dir, urls, app.data, dir.rawSpByAppId(clientId), { user, guest }, grant);
    body.id_token = dir.signing.signJwt(claims);
  }
  return { status: 200, body };
}

/**
 * The redirect URI of the token request against the authorization request's, exactly, except that a URI without a
 * path equals itself with "/" (Entra appends that slash when redirecting, 5.4, so a client may send either) [U].
 */
function sameRedirect(issued: string, presented: string): boolean {
  if (issued === presented) return true;
  const bare = (u: string): string => (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+\/$/i.test(u) ? u.slice(0, -1) : u);
  return bare(issued) === bare(presented);
}

function publicClientKnown(dir: Directory, clientId: string): "public" | "confidential" | undefined {
  if (eqi(clientId, GRAPH_CLI_APP_ID)) return "public";
  const app = dir.rawAppByAppId(clientId);
  if (!app) return undefined;
  return app.data.isFallbackPublicClient === true ? "public" : "confidential";
}

function deviceAuthorization(dir: Directory, cfg: TokenEndpointConfig, form: URLSearchParams): TokenReply {
  const clientId = form.get("client_id");
  if (!clientId) throw missing("client_id");
  const scope = form.get("scope");
  if (scope === null) throw missing("scope");
  const kind = publicClientKnown(dir, clientId);
  if (!kind) throw appNotFound(dir, clientId);
  // A public client in a tenant that refuses public client flows is treated as confidential, without a credential.
  if (kind === "public" && !cfg.publicClientFlows)
    throw new TokenError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  const device_code = newOpaque(48);
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  let user_code = "";
  for (const b of newOpaque(9)) user_code += alphabet[b.charCodeAt(0) % alphabet.length];
  user_code = user_code.slice(0, 9);
  dir.deviceCodes.set(device_code, {
    clientId,
    scopes: scope.split(/\s+/).filter(Boolean),
    pendingPolls: cfg.devicePendingPolls,
    expiresAt: dir.now().getTime() + DEVICE_CODE_SECONDS * 1000,
    userId: cfg.deviceUser.id,
  });
  const verification_uri = "https://microsoft.com/devicelogin";
  // 1.3: no verification_uri_complete.
  return {
    status: 200,
    body: {
      user_code,
      device_code,
      verification_uri,
      expires_in: DEVICE_CODE_SECONDS,
      interval: cfg.devicePollInterval,
      message: `To sign in, use a web browser to open the page ${verification_uri} and enter the code ${user_code} to authenticate.`,
    },
  };
}

function deviceCodeToken(dir: Directory, cfg: TokenEndpointConfig, form: URLSearchParams): TokenReply {
  const clientId = form.get("client_id");
  if (!clientId) throw missing("client_id");
  const code = form.get("device_code");
  if (!code) throw missing("device_code");
  const kind = publicClientKnown(dir, clientId);
  if (!kind) throw appNotFound(dir, clientId);
  const grant = dir.deviceCodes.get(code);
  // [U] 1.3 names the error; the AADSTS number is not documented there.
  if (!grant || grant.clientId !== clientId)
    throw new TokenError(400, "bad_verification_code", 70000, "The provided value for the input parameter 'device_code' is not valid.");
  if (dir.now().getTime() >= grant.expiresAt) {
    dir.deviceCodes.delete(code);
    throw new TokenError(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.");
  }
  // A confidential app without "allow public client flows" must authenticate: the device flow needs a public client.
  if (kind === "confidential" && !form.get("client_secret"))
    throw new TokenError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  if (grant.pendingPolls > 0) {
    grant.pendingPolls--;
    throw new TokenError(400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.");
  }
  dir.deviceCodes.delete(code);
  return userTokens(dir, cfg, clientId, grant.scopes);
}

function refreshToken(dir: Directory, cfg: TokenEndpointConfig, form: URLSearchParams): TokenReply {
  const clientId = form.get("client_id");
  if (!clientId) throw missing("client_id");
  const rt = form.get("refresh_token");
  if (!rt) throw missing("refresh_token");
  const grant = dir.refreshTokens.get(rt);
  if (!grant || grant.clientId !== clientId)
    throw new TokenError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.");
  dir.refreshTokens.delete(rt);
  // A refresh token stops working once the account is disabled (AADSTS50057, as at sign-in).
  if (!dir.accountEnabled(grant.userId)) throw new TokenError(400, "invalid_grant", 50057, "The user account is disabled.");
  const scope = form.get("scope");
  return userTokens(dir, cfg, clientId, scope ? scope.split(/\s+/).filter(Boolean) : grant.scopes);
}

/** Delegated scopes by name: `https://graph.microsoft.com/Application.ReadWrite.All` → `Application.ReadWrite.All`. */
function delegatedPermissions(scopes: string[]): string[] {
  const out = new Set<string>();
  for (const s of scopes) {
    if (OIDC_SCOPES.includes(s.toLowerCase())) continue;
    const name = s.replace(/^https:\/\/graph\.microsoft\.com\//i, "").replace(new RegExp(`^${GRAPH_APP_ID}/`, "i"), "");
    if (name === ".default") DEFAULT_DELEGATED.forEach((p) => out.add(p));
    else out.add(name);
  }
  return [...out].sort();
}

/** 1.3 step 5: access, refresh and id token plus client_info, so msal can build an account. */
function userTokens(dir: Directory, cfg: TokenEndpointConfig, clientId: string, scopes: string[]): TokenReply {
  const user = cfg.deviceUser;
  const access_token = dir.issueAccessToken({ kind: "user", appId: clientId, principalId: user.id, permissions: delegatedPermissions(scopes) });
  const refresh_token = newOpaque(64);
  dir.refreshTokens.set(refresh_token, { clientId, scopes, userId: user.id });
  const now = Math.floor(dir.now().getTime() / 1000);
  const claims = {
    aud: clientId,
    iss: `https://login.microsoftonline.com/${dir.tenantId}/v2.0`,
    iat: now,
    nbf: now,
    exp: now + ACCESS_TOKEN_SECONDS,
    name: user.displayName,
    oid: user.id,
    preferred_username: user.userPrincipalName,
    sub: base64url(`${user.id}:${clientId}`).slice(0, 43),
    tid: dir.tenantId,
    ver: "2.0",
  };
  // 1.3: msal-node does not verify the id_token signature; an unsigned ("alg": "none") token suffices.
  const id_token = `${base64url(JSON.stringify({ typ: "JWT", alg: "none" }))}.${base64url(JSON.stringify(claims))}.`;
  return {
    status: 200,
    body: {
      token_type: "Bearer",
      scope: scopes.filter((s) => s.toLowerCase() !== "offline_access").join(" "),
      expires_in: ACCESS_TOKEN_SECONDS,
      ext_expires_in: ACCESS_TOKEN_SECONDS,
      access_token,
      refresh_token,
      id_token,
      client_info: base64url(JSON.stringify({ uid: user.id, utid: dir.tenantId })),
    },
  };
}

/** The flat token-endpoint error body (1.1, 4.2). */
export function tokenErrorBody(e: TokenError, now: Date, correlationId: string | undefined): Json {
  const ts = aadTimestamp(now);
  const trace = newGuid();
  const corr = correlationId ?? newGuid();
  return {
    error: e.error,
    error_description: `AADSTS${e.aadsts}: ${e.description}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${corr}\r\nTimestamp: ${ts}`,
    error_codes: [e.aadsts],
    timestamp: ts,
    trace_id: trace,
    correlation_id: corr,
    error_uri: `https://login.microsoftonline.com/error?code=${e.aadsts}`,
  };
}
