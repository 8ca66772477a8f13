/**
 * The tenant admin's device-code sign-in for `homelab bootstrap` (spec 1.3): msal-node's PublicClientApplication
 * over got, and the errors of a refused sign-in read from the identity endpoint's own answers (msal drops the AADSTS
 * code), each with a hint. bootstrap.ts does the rest.
 */
import { AuthError as MsalAuthError, LogLevel, PublicClientApplication, ServerError, type AccountInfo, type NetworkRequestOptions, type NetworkResponse } from "@azure/msal-node";
import { AuthError, HomelabError, RemoteError } from "../../core/errors.js";
import { redact, registerSecret } from "../../log/redact.js";
import { GotNetworkModule } from "../../providers/entra/network.js";
import { graphScope, msalAuthority } from "../../providers/entra/token.js";
import type { Io } from "../output.js";

/**
 * The public client the device-code sign-in runs as: the first-party "Microsoft Graph Command Line Tools" app
 * (what `Connect-MgGraph` uses; spec 1.3). Device code needs a public client, and this one exists in every tenant,
 * so there is no chicken-and-egg app to register first. (The Azure CLI's 04b07795-8ddb-461a-bbee-02f9e1bf7b46
 * would also work against real Entra; the simulator knows only this one.) A tenant can block it with Conditional
 * Access: the error hint says so.
 */
export const BOOTSTRAP_PUBLIC_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/** Delegated scopes of the admin's token (spec 1.3): create apps and service principals, grant app roles. */
const DELEGATED_SCOPES = ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"];

export interface AdminSession {
  objectId: string;
  username: string;
  getToken(): Promise<string>;
}

/**
 * Device-code sign-in (spec 1.3) with msal-node's PublicClientApplication over the got network client (network.ts)
 * and Recipe A for a non-Microsoft login URL (token.ts `msalAuthority`). The code is shown on stderr while msal
 * polls. Tokens are registered with the redactor; a token about to expire is renewed silently (refresh token).
 */
export async function signIn(io: Io, t: { tenantId: string; loginUrl: string; graphUrl: string }): Promise<AdminSession> {
  const network = new SignInNetwork();
  const pca = new PublicClientApplication({
    auth: { clientId: BOOTSTRAP_PUBLIC_CLIENT_ID, ...msalAuthority(t.tenantId, t.loginUrl) },
    system: { networkClient: network, loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} } },
  });
  const resource = graphScope(t.graphUrl).slice(0, -"/.default".length);
  const scopes = DELEGATED_SCOPES.map((s) => `${resource}/${s}`);
  const endpoint = `${t.loginUrl}/${t.tenantId}/oauth2/v2.0/devicecode`;
  const fail = (err: unknown) => mapSignInError(err, endpoint, network);

  let result;
  try {
    result = await pca.acquireTokenByDeviceCode({
      scopes,
      deviceCodeCallback: (r) => {
        // msal hands over whatever the endpoint answered, error or not, and would then poll with it: stop here.
        const refused = deviceCodeRefusal(network.deviceCode, r, endpoint);
        if (refused) throw refused;
        io.err(`To sign in as a tenant administrator (Application Administrator and Privileged Role Administrator, or Global Administrator),`);
        io.err(`open ${r.verificationUri} in a browser and enter the code ${r.userCode}`);
        io.err(`Waiting for the sign-in (the code expires in ${Math.round(r.expiresIn / 60)} minutes)...`);
      },
    });
  } catch (err) {
    throw fail(err);
  }
  if (!result?.accessToken || !result.account)
    throw new AuthError({ service: "entra", method: "POST", url: endpoint, message: "the device-code sign-in returned no access token or account" });
  registerSecret(result.accessToken);
  let token = result.accessToken;
  let expires = result.expiresOn?.getTime() ?? Date.now() + 3_000_000;
  const account: AccountInfo = result.account;
  const objectId = account.localAccountId || String(account.idTokenClaims?.oid ?? "");
  if (!objectId) throw new AuthError({ service: "entra", method: "POST", url: endpoint, message: "the sign-in did not say who signed in (no oid claim)" });
  return {
    objectId,
    username: account.username || objectId,
    async getToken() {
      if (expires - Date.now() > 300_000) return token;
      try {
        const r = await pca.acquireTokenSilent({ account, scopes });
        registerSecret(r.accessToken);
        token = r.accessToken;
        expires = r.expiresOn?.getTime() ?? Date.now() + 3_000_000;
        return token;
      } catch (err) {
        throw fail(err);
      }
    },
  };
}

/** An identity endpoint's answer as far as errors go: never a token or a device code. */
interface IdentityAnswer {
  url: string;
  status: number;
  error?: string;
  description?: string;
  aadsts?: string;
}

/**
 * msal's transport for the sign-in (network.ts), keeping the device-code endpoint's answer and the last refusal
 * of the token endpoint. msal reads neither: it passes a failed device-code answer on as if it were a code
 * (`open undefined ... enter the code undefined`), and turns a refused poll into `post_request_failed` with the
 * AADSTS code dropped.
 */
class SignInNetwork extends GotNetworkModule {
  deviceCode: IdentityAnswer | undefined;
  tokenRefusal: IdentityAnswer | undefined;

  override async sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const res = await super.sendPostRequestAsync<T>(url, options);
    const path = url.replace(/\?.*$/, "");
    const answer = identityAnswer(path, res.status, res.body);
    if (/\/devicecode$/.test(path)) this.deviceCode = answer;
    else if (res.status >= 400 && answer.error !== "authorization_pending") this.tokenRefusal = answer;
    return res;
  }
}

function identityAnswer(url: string, status: number, body: unknown): IdentityAnswer {
  const b = (typeof body === "object" && body !== null ? body : {}) as { error?: unknown; error_description?: unknown; error_codes?: unknown };
  const raw = typeof b.error_description === "string" ? b.error_description : undefined;
  // Entra's description is "AADSTS<n>: <text>\r\nTrace ID: ...": keep the first line, without the code.
  // (network.ts turns a non-JSON answer into error `invalid_response`, "HTTP <n>: <why>": the status is shown apart.)
  const description = raw?.split(/\r?\n/)[0]?.replace(/^AADSTS\d+:\s*/, "").replace(/^HTTP \d+:\s*/, "").trim();
  const code = Array.isArray(b.error_codes) && b.error_codes.length > 0 ? String(b.error_codes[0]) : raw ? /AADSTS(\d+)/.exec(raw)?.[1] : undefined;
  return { url, status, ...(typeof b.error === "string" ? { error: b.error } : {}), ...(description ? { description: redact(description) } : {}), ...(code ? { aadsts: code } : {}) };
}

/**
 * The device-code answer is checked before anything is shown (RFC 8628 3.2: `device_code`, `user_code`,
 * `verification_uri` and `expires_in` are required): an error or an incomplete answer becomes an AuthError (exit 4)
 * naming the HTTP status and the AADSTS code, with a hint.
 */
function deviceCodeRefusal(answer: IdentityAnswer | undefined, r: { userCode?: unknown; deviceCode?: unknown; verificationUri?: unknown; expiresIn?: unknown }, url: string): AuthError | undefined {
  const complete = typeof r.userCode === "string" && r.userCode !== "" && typeof r.deviceCode === "string" && typeof r.verificationUri === "string" && Number.isFinite(Number(r.expiresIn));
  if (complete && (answer === undefined || answer.status < 400)) return undefined;
  const a = answer ?? { url, status: 200 };
  return new AuthError({
    service: "entra",
    method: "POST",
    url: a.url,
    status: a.status,
    message: `the device-code request was refused: ${answerText(a, "the answer has no user code")}`,
    hint: signInHint(a),
  });
}

/** `AADSTS7000218: The request body must contain ... (HTTP 401 invalid_client)`, or what there is of it. */
function answerText(a: IdentityAnswer, incomplete: string): string {
  const what = a.aadsts ? `AADSTS${a.aadsts}${a.description ? `: ${a.description}` : ""}` : a.description ?? (a.status >= 400 ? "" : incomplete);
  const http = a.status >= 400 ? `HTTP ${a.status}${a.error && a.error !== "invalid_response" ? ` ${a.error}` : ""}` : "";
  return what && http ? `${what} (${http})` : what || http;
}

/** What to do about a refused sign-in, by OAuth error (RFC 8628 3.5), AADSTS code or HTTP status. */
function signInHint(a: IdentityAnswer): string {
  switch (a.error) {
    case "authorization_declined":
      return "the sign-in was declined; run bootstrap again and approve it";
    case "expired_token":
      return "the code expired before anyone signed in; run bootstrap again and sign in within the time shown";
    case "bad_verification_code":
      return "the device code was not recognised; run bootstrap again";
  }
  switch (a.aadsts) {
    case "7000218":
      return `the tenant does not let the sign-in client ${BOOTSTRAP_PUBLIC_CLIENT_ID} (Microsoft Graph Command Line Tools) use public client flows such as the device code: allow them (or that client) in Entra ID for the bootstrap, or create the automation app by hand in the Entra admin center`;
    case "700016":
      return `the tenant does not know the sign-in client ${BOOTSTRAP_PUBLIC_CLIENT_ID} (Microsoft Graph Command Line Tools): check tenants.*.tenantId and cloud`;
    case "90002":
      return "this tenant does not exist in this cloud: check tenants.*.tenantId and cloud";
    case "53003":
    case "530003":
      return "Conditional Access blocked the sign-in client (Microsoft Graph Command Line Tools); allow it for the bootstrap, or create the app by hand";
    case "50199":
    case "50105":
      return "the account may not use the sign-in client (Microsoft Graph Command Line Tools): sign in with a tenant administrator, or create the app by hand";
  }
  if (a.status === 404) return `nothing at ${a.url} answers a device-code sign-in: check tenants.*.cloud.loginUrl (the login origin, such as https://login.microsoftonline.com, without a tenant or path) and tenantId`;
  if (a.status >= 500) return "Entra ID's sign-in service failed; run bootstrap again in a few minutes";
  return "check tenants.* (tenantId, cloud) and sign in with an account allowed to create app registrations and grant admin consent";
}

function mapSignInError(err: unknown, url: string, network: SignInNetwork): HomelabError {
  if (err instanceof HomelabError) return err;
  const transport = network.lastTransportError;
  const base = { service: "entra", method: "POST", url };
  // A refused poll: msal's error has lost the AADSTS code, the recorded answer has it.
  const refusal = network.tokenRefusal;
  if (refusal && !(err instanceof ServerError) && err instanceof MsalAuthError && err.errorCode === "post_request_failed")
    return new AuthError({ ...base, url: refusal.url, status: refusal.status, message: `the device-code sign-in failed: ${answerText(refusal, err.errorCode)}`, hint: signInHint(refusal) });
  if (err instanceof ServerError) {
    const aadsts = /AADSTS(\d+)/.exec(err.errorMessage)?.[1] ?? /Error\(s\):\s*(\d+)/.exec(err.errorMessage)?.[1];
    const detail = redact(/Description:\s*(.*?)(?:\s+-\s+(?:Correlation ID|Trace ID)|\r?\n|$)/s.exec(err.errorMessage)?.[1]?.trim() || err.errorCode);
    const hint = signInHint({ url, status: err.status ?? 400, error: err.errorCode, ...(aadsts ? { aadsts } : {}) });
    return new AuthError({ ...base, ...(err.status !== undefined ? { status: err.status } : {}), message: `the device-code sign-in failed: ${aadsts && !detail.includes(`AADSTS${aadsts}`) ? `AADSTS${aadsts}: ` : ""}${detail}`, hint });
  }
  if (err instanceof MsalAuthError && (err.errorCode === "network_error" || transport)) {
    return new RemoteError({
      ...base,
      url: transport?.url ?? url,
      message: `cannot reach the Entra ID sign-in endpoint ${transport?.url ?? url}: ${redact(transport ? `${transport.code} ${transport.message}` : err.errorCode)}`,
      hint: "check the network, a proxy, or the tenant's cloud/loginUrl setting",
    });
  }
  if (err instanceof MsalAuthError)
    return new AuthError({ ...base, message: `msal could not sign in: ${redact(`${err.errorCode}: ${err.errorMessage}`)}`, hint: "check tenants.* (tenantId, cloud)" });
  return new RemoteError({ ...base, message: `the device-code sign-in failed: ${redact(err instanceof Error ? err.message : String(err))}` });
}
