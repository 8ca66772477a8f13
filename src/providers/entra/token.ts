import { createHash } from "node:crypto";
import { AuthError as MsalAuthError, ConfidentialClientApplication, LogLevel, ServerError, type Configuration } from "@azure/msal-node";
import type { Secret } from "../../core/secret.js";
import { AuthError, HomelabError, RemoteError } from "../../core/errors.js";
import { redact, registerSecret } from "../../log/redact.js";
import { timeoutHint } from "../timeouts.js";
import { backoff, GotNetworkModule, sleep } from "./network.js";
import type { RetryEvent } from "./types.js";

/**
 * Access tokens for Microsoft Graph, client-credentials flow (spec 1.1), through @azure/msal-node 7.
 *
 * - One ConfidentialClientApplication per (authority, token endpoint, client id, credential), kept for the
 *   process, so its in-memory token cache serves every later `getToken` (spec 2.6: renewed 5 min before expiry).
 * - msal's transport is got (network.ts): the global `fetch` is never called.
 * - The three Microsoft login hosts use msal's built-in metadata and never `authorityMetadata`. Any other
 *   `loginUrl` (the simulator, a Graph-compatible lab server) uses spec 2.5 Recipe A: the authority stays
 *   `https://login.microsoftonline.com/{tenant}` and `authorityMetadata` points the endpoints at `loginUrl`.
 * - Failures become AuthError (credentials refused, exit 4) or RemoteError (unreachable, 5xx), with a hint
 *   naming the secret's reference (`${env:NAME}`), never its value. Tokens and secrets are registered with the
 *   redactor as soon as they are seen.
 */

export const PUBLIC_LOGIN_URL = "https://login.microsoftonline.com";
export const PUBLIC_GRAPH_URL = "https://graph.microsoft.com";

/** Login host → its cloud's Graph resource (the `.default` scope's resource). */
const MICROSOFT_CLOUDS: Record<string, string> = {
  "https://login.microsoftonline.com": "https://graph.microsoft.com",
  "https://login.microsoftonline.us": "https://graph.microsoft.us",
  "https://login.chinacloudapi.cn": "https://microsoftgraph.chinacloudapi.cn",
  "https://login.partner.microsoftonline.cn": "https://microsoftgraph.chinacloudapi.cn",
};

const GRAPH_RESOURCES = new Set(Object.values(MICROSOFT_CLOUDS));

export interface TokenCredentials {
  clientId: string;
  clientSecret?: Secret;
  certificate?: { privateKey: Secret; thumbprint: string };
}

export interface TokenSourceOptions {
  /** Tenant GUID (or verified domain). */
  tenantId: string;
  /** Login origin, default https://login.microsoftonline.com. */
  loginUrl?: string;
  /** Graph origin, default https://graph.microsoft.com; the scope is `${graphUrl}/.default` for Microsoft clouds. */
  graphUrl?: string;
  credentials: TokenCredentials;
  /** Override the scope (default derived from graphUrl, see `graphScope`). */
  scope?: string;
  /**
   * Transport failures (no HTTP response) are retried this many times (default 5, like 5xx and 429: a token
   * request is safe to repeat, and a run makes several, one per new secret it proves; the chain soak saw three
   * resets in a row at 25 % faults), timeouts excepted: the connect and response timeouts
   * (HOMELAB_CONNECT_TIMEOUT_S / HOMELAB_REQUEST_TIMEOUT_S) bound each request.
   */
  retries?: number;
  /**
   * Answers 5xx and 429 are retried this many times (default 5), after Retry-After (capped by
   * `maxRetryAfterMs`, default 30 000) or the backoff below. Done in the got transport, below msal (network.ts).
   */
  statusRetries?: number;
  maxRetryAfterMs?: number;
  /** Base of the exponential backoff between those retries, ms (default 500). */
  retryDelayMs?: number;
  /** Response timeout per token request, ms (default HOMELAB_REQUEST_TIMEOUT_S, else 30 s). */
  timeoutMs?: number;
  onRetry?: (e: RetryEvent) => void;
}

export interface TokenSource {
  readonly clientId: string;
  readonly tenantId: string;
  readonly scope: string;
  /** A Graph access token: from msal's cache when still valid, else one token request. Registered for redaction. */
  getToken(): Promise<string>;
}

/**
 * The `.default` scope for a Graph origin. A Microsoft cloud's Graph host is its own resource. A custom
 * (Graph-compatible) origin such as the simulator stands in for public Graph, exactly as Recipe A keeps the
 * public authority: its tokens are requested for `https://graph.microsoft.com/.default`.
 */
export function graphScope(graphUrl: string = PUBLIC_GRAPH_URL): string {
  const g = trimSlash(graphUrl);
  return `${GRAPH_RESOURCES.has(g.toLowerCase()) ? g : PUBLIC_GRAPH_URL}/.default`;
}

/** True for the login hosts msal knows built in; only these are "production" (no authorityMetadata ever). */
export function isMicrosoftLoginUrl(loginUrl: string): boolean {
  return trimSlash(loginUrl).toLowerCase() in MICROSOFT_CLOUDS;
}

/** The msal `auth` options for a tenant: authority, and authorityMetadata only for a non-Microsoft login URL. */
export function msalAuthority(tenantId: string, loginUrl: string = PUBLIC_LOGIN_URL): { authority: string; authorityMetadata?: string } {
  const login = trimSlash(loginUrl);
  if (isMicrosoftLoginUrl(login)) return { authority: `${login.toLowerCase()}/${tenantId}` };
  // Spec 2.5 Recipe A: msal requires an https authority (2.2) and knows login.microsoftonline.com's cloud
  // metadata built in (2.3), so nothing is fetched; the endpoints themselves may be plain http.
  return {
    authority: `${PUBLIC_LOGIN_URL}/${tenantId}`,
    authorityMetadata: JSON.stringify({
      token_endpoint: `${login}/${tenantId}/oauth2/v2.0/token`,
      authorization_endpoint: `${login}/${tenantId}/oauth2/v2.0/authorize`,
      end_session_endpoint: `${login}/${tenantId}/oauth2/v2.0/logout`,
      jwks_uri: `${login}/${tenantId}/discovery/v2.0/keys`,
      issuer: `${PUBLIC_LOGIN_URL}/${tenantId}/v2.0`,
    }),
  };
}

interface Entry {
  app: ConfidentialClientApplication;
  network: GotNetworkModule;
  /** One token request at a time per app: concurrent callers share it instead of each missing the cache. */
  inflight?: Promise<string>;
}

/** Process-wide: the "run" is the process. Keys hold a hash of the credential, never the credential. */
const apps = new Map<string, Entry>();

/** For tests: drop every msal instance (and so its token cache). */
export function resetTokenSources(): void {
  apps.clear();
}

export function createTokenSource(opts: TokenSourceOptions): TokenSource {
  const loginUrl = trimSlash(opts.loginUrl ?? PUBLIC_LOGIN_URL);
  const scope = opts.scope ?? graphScope(opts.graphUrl);
  const { clientId, clientSecret, certificate } = opts.credentials;
  const tenantId = opts.tenantId;
  const retries = opts.retries ?? 5;
  const retryDelayMs = opts.retryDelayMs ?? 500;
  const endpoint = `${loginUrl}/${tenantId}/oauth2/v2.0/token`;
  if (!clientSecret && !certificate)
    throw new TypeError("createTokenSource: credentials need clientSecret or certificate (the schema requires one)");

  let mine: Entry | undefined;
  const entry = (): Entry => {
    if (mine && [...apps.values()].includes(mine)) return mine;
    mine = lookup();
    return mine;
  };
  const lookup = (): Entry => {
    // Revealing happens here, at first use, so a run that needs no token never reads the secret.
    const auth: NonNullable<Configuration["auth"]> = { clientId, ...msalAuthority(tenantId, loginUrl) };
    let fingerprint: string;
    if (clientSecret) {
      const value = clientSecret.reveal();
      auth.clientSecret = value;
      fingerprint = `secret:${sha256(value)}`;
    } else {
      const cert = certificate!;
      const key = cert.privateKey.reveal();
      const thumb = cert.thumbprint.replace(/:/g, "").toLowerCase();
      auth.clientCertificate = thumb.length === 64 ? { thumbprintSha256: thumb, privateKey: key } : { thumbprint: thumb, privateKey: key };
      fingerprint = `cert:${thumb}:${sha256(key)}`;
    }
    const k = [auth.authority, loginUrl, clientId.toLowerCase(), fingerprint].join("|");
    let e = apps.get(k);
    if (!e) {
      const network = new GotNetworkModule(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
      const app = new ConfidentialClientApplication({
        auth,
        system: { networkClient: network, loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} } },
      });
      e = { app, network };
      apps.set(k, e);
    }
    return e;
  };

  const acquire = async (e: Entry): Promise<string> => {
    // The entry (and its transport) may be shared by token sources of the same credential: this one's options
    // apply while its request runs (one request at a time per entry, see `inflight`).
    e.network.statusRetry = {
      retries: opts.statusRetries ?? 5,
      delayMs: retryDelayMs,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 30_000,
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
    };
    for (let attempt = 1; ; attempt++) {
      e.network.lastTransportError = undefined;
      try {
        const result = await e.app.acquireTokenByClientCredential({ scopes: [scope] });
        if (!result?.accessToken)
          throw new RemoteError({ service: "entra", method: "POST", url: endpoint, message: `Entra ID returned no access token for client ${clientId}` });
        registerSecret(result.accessToken);
        return result.accessToken;
      } catch (err) {
        if (err instanceof HomelabError) throw err;
        // (Set by the request msal just made: typed through the field, since TypeScript saw it cleared above.)
        const transport = e.network.lastTransportError as GotNetworkModule["lastTransportError"];
        const isNetwork = err instanceof MsalAuthError && err.errorCode === "network_error" && transport !== undefined;
        // A timeout is not repeated: it already took the whole timeout (issue 10 item 10).
        // A refused connection or an unknown host is seldom transient: at most 2 retries, so a wrong loginUrl fails fast.
        const limit = isNetwork && ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"].includes(transport.code) ? Math.min(2, retries) : retries;
        if (isNetwork && transport.code !== "ETIMEDOUT" && attempt <= limit) {
          const waitMs = backoff(retryDelayMs, attempt);
          opts.onRetry?.({ method: "POST", path: `/${tenantId}/oauth2/v2.0/token`, attempt, waitMs, reason: "network" });
          await sleep(waitMs);
          continue;
        }
        throw mapMsalError(err, { tenantId, clientId, endpoint, transport, credentials: opts.credentials });
      }
    }
  };

  return {
    clientId,
    tenantId,
    scope,
    async getToken(): Promise<string> {
      const e = entry();
      if (e.inflight) return e.inflight;
      const p = acquire(e).finally(() => {
        if (e.inflight === p) e.inflight = undefined;
      });
      e.inflight = p;
      return p;
    },
  };
}

/** The token endpoint refused the credentials; `aadsts` is the AADSTS number (e.g. "7000215") when known. */
export class TokenAuthError extends AuthError {
  readonly aadsts?: string;
  constructor(opts: ConstructorParameters<typeof AuthError>[0] & { aadsts?: string }) {
    super(opts);
    if (opts.aadsts !== undefined) this.aadsts = opts.aadsts;
  }
}

/**
 * Spec 6 rotation step 2 (and 1.1): a brand-new client secret may be refused with AADSTS7000215 for a short
 * while after addPassword. Requests a token until one is issued, retrying only that refusal, at most
 * `attempts` times `delayMs` apart; each wait is reported through onRetry (reason "not-visible").
 */
export async function waitUntilUsable(
  source: TokenSource,
  o: { attempts: number; delayMs: number; onRetry?: (e: RetryEvent) => void },
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await source.getToken();
      return;
    } catch (err) {
      if (!(err instanceof TokenAuthError && err.aadsts === "7000215") || attempt >= o.attempts) throw err;
      o.onRetry?.({ method: "POST", path: `/${source.tenantId}/oauth2/v2.0/token`, attempt, status: err.status, waitMs: o.delayMs, reason: "not-visible" });
      await sleep(o.delayMs);
    }
  }
}

interface MapContext {
  tenantId: string;
  clientId: string;
  endpoint: string;
  transport: { code: string; message: string; url: string } | undefined;
  credentials: TokenCredentials;
}

/** AADSTS number → what it means for the automation app, and what to do (spec 1.1, 2.7, errata 9.1). */
function hintFor(aadsts: string | undefined, errorCode: string, ctx: MapContext): string {
  const cred = ctx.credentials.clientSecret
    ? `the client secret that ${ctx.credentials.clientSecret.ref} holds`
    : `the certificate (thumbprint ${ctx.credentials.certificate?.thumbprint ?? "?"}, key ${ctx.credentials.certificate?.privateKey.ref ?? "?"})`;
  const update = ctx.credentials.clientSecret
    ? `update ${refName(ctx.credentials.clientSecret)}`
    : `update ${refName(ctx.credentials.certificate!.privateKey)} and the thumbprint`;
  switch (aadsts) {
    case "7000215":
      return `the automation app's client secret is wrong or expired: run homelab bootstrap or ${update} (${cred} is not a valid secret of app ${ctx.clientId})`;
    case "7000222":
      return `the automation app's client secret has expired: run homelab bootstrap or ${update} with a new secret of app ${ctx.clientId}`;
    case "7000229":
      return `app ${ctx.clientId} has no service principal in tenant ${ctx.tenantId}: create it (homelab bootstrap does) before using its credentials`;
    case "700016":
      return `no application with client id ${ctx.clientId} in tenant ${ctx.tenantId}: check tenants.*.credentials.clientId and tenantId, or run homelab bootstrap`;
    case "90002":
      return `tenant ${ctx.tenantId} does not exist in this cloud: check tenants.*.tenantId and cloud`;
    case "7000112":
      return `app ${ctx.clientId} is disabled in tenant ${ctx.tenantId}: enable its enterprise application`;
    case "700027":
    case "700024":
    case "700021":
      return `the certificate assertion was refused: check that ${cred} belongs to a certificate registered on app ${ctx.clientId}, and the machine clock`;
    case "7000218":
      return `no credential was sent for app ${ctx.clientId}: set credentials.clientSecret or credentials.certificate`;
    case "70011":
      return `the Graph scope was refused: check the tenant's cloud setting`;
    default:
      return errorCode === "unauthorized_client"
        ? `app ${ctx.clientId} may not use the client-credentials flow in tenant ${ctx.tenantId}: check its registration`
        : `check tenants.*.credentials (${cred}) or run homelab bootstrap`;
  }
}

function mapMsalError(err: unknown, ctx: MapContext): RemoteError {
  const base = { service: "entra", method: "POST", url: ctx.endpoint };
  if (err instanceof ServerError) {
    const code = err.errorCode;
    // errorMessage: "Error(s): 7000215 - Timestamp: … - Description: AADSTS7000215: Invalid client secret … - Correlation ID: … - Trace ID: …"
    const aadsts = /AADSTS(\d+)/.exec(err.errorMessage)?.[1] ?? /Error\(s\):\s*(\d+)/.exec(err.errorMessage)?.[1] ?? err.errorNo;
    const described = /Description:\s*(.*?)(?:\s+-\s+(?:Correlation ID|Trace ID)|\r?\n|Trace ID:|$)/s.exec(err.errorMessage)?.[1]?.trim();
    const detail = redact(described || `${code}${aadsts ? ` (AADSTS${aadsts})` : ""}`);
    const status = err.status;
    const opts = {
      ...base,
      ...(status !== undefined ? { status } : {}),
      ...(err.correlationId ? { requestId: err.correlationId } : {}),
      cause: sanitized(err),
    };
    const authCodes = ["invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope", "invalid_request"];
    if (authCodes.includes(code) || status === 400 || status === 401 || status === 403)
      return new TokenAuthError({
        ...opts,
        ...(aadsts ? { aadsts } : {}),
        message: `Entra ID refused the credentials of app ${ctx.clientId} in tenant ${ctx.tenantId}: ${detail}`,
        hint: hintFor(aadsts, code, ctx),
      });
    return new RemoteError({
      ...opts,
      message: `Entra ID token endpoint failed${status ? ` (HTTP ${status})` : ""}: ${detail}`,
      hint: "the identity service may be unavailable; try again later (msal waits out a Retry-After before asking again)",
    });
  }
  if (err instanceof MsalAuthError) {
    if (err.errorCode === "network_error" || ctx.transport) {
      const t = ctx.transport;
      return new RemoteError({
        ...base,
        url: t?.url ?? ctx.endpoint,
        message: `cannot reach the Entra ID token endpoint ${t?.url ?? ctx.endpoint}: ${redact(t ? `${t.code} ${t.message}` : err.errorCode)}`,
        hint: t?.code === "ETIMEDOUT" ? `${timeoutHint(new URL(t.url).origin)}; check the tenant's cloud/loginUrl setting` : "check the network, a proxy, or the tenant's cloud/loginUrl setting",
        cause: sanitized(err),
      });
    }
    // ClientConfigurationError and ClientAuthError: a misconfiguration (missing_tenant_id_error,
    // invalid_authority_metadata, authority_uri_insecure, invalid certificate key, ...).
    return new AuthError({
      ...base,
      message: `msal could not request a token for app ${ctx.clientId} in tenant ${ctx.tenantId}: ${redact(`${err.errorCode}: ${err.errorMessage}`)}`,
      hint: err.errorCode === "missing_tenant_id_error" ? "tenantId must be the tenant GUID or a verified domain, not common/organizations" : "check tenants.* (tenantId, cloud, credentials)",
      cause: sanitized(err),
    });
  }
  return new RemoteError({ ...base, message: `token request failed: ${redact(err instanceof Error ? err.message : String(err))}`, cause: sanitized(err) });
}

/** A cause safe to print with `--debug`: name, code and redacted message only (no request options, no body). */
function sanitized(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const out = new Error(redact(e.message));
  out.name = e.name;
  out.stack = redact(e.stack ?? "");
  const code = (e as { errorCode?: unknown; code?: unknown }).errorCode ?? (e as { code?: unknown }).code;
  if (typeof code === "string") Object.assign(out, { code });
  return out;
}

/** `${env:NAME}` → `NAME`, `${file:PATH}` → `the file PATH`: what a person updates. */
function refName(s: Secret): string {
  return s.kind === "env" ? s.name : `the file ${s.name}`;
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("base64url");
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, "");
}
