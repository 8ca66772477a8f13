import got from "got";
import { redact } from "../log/redact.js";

/** The outcome of fetching `<issuer>/.well-known/openid-configuration` from where homelab runs. */
export type DiscoveryResult =
  | {
      ok: true;
      url: string;
      issuer: string;
      plainHttp: boolean;
      /** `token_endpoint`, when the document names one. */
      tokenEndpoint?: string;
      /** `token_endpoint_auth_methods_supported`; OpenID Connect Discovery 1.0: absent means `client_secret_basic`. */
      authMethods: string[];
    }
  | { ok: false; url: string; detail: string; hint: string };

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_NOT_YET_VALID", "UNABLE_TO_GET_ISSUER_CERT",
]);

export function discoveryUrl(issuerUrl: string): string {
  return `${issuerUrl.replace(/\/+$/, "")}/.well-known/openid-configuration`;
}

/**
 * One GET, no retry, no redirect (Proxmox's OpenID library does not follow them either), a short timeout,
 * TLS verified against Node's CA store plus NODE_EXTRA_CA_CERTS. Never throws: every failure is a result
 * with a detail and a hint. The answer is read for its `issuer`, its token endpoint and the client
 * authentication methods that endpoint accepts.
 */
export async function fetchDiscovery(issuerUrl: string, opts: { timeoutMs?: number } = {}): Promise<DiscoveryResult> {
  const url = discoveryUrl(issuerUrl);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, url, detail: `the issuer URL ${issuerUrl} is not a URL`, hint: "set the realm's issuer URL to the issuer's https URL" };
  }
  const plainHttp = parsed.protocol === "http:";
  let res;
  try {
    res = await getOnce(url, "application/json", opts.timeoutMs);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const code = e.code ?? "ERR_NETWORK";
    const tls = TLS_CODES.has(code) || /certificate/i.test(e.message ?? "");
    return {
      ok: false,
      url,
      detail: redact(`cannot fetch ${url}: ${code}${e.message ? ` (${e.message})` : ""}`),
      hint: tls
        ? "this machine does not trust the issuer's certificate: add its CA with NODE_EXTRA_CA_CERTS (the Proxmox nodes must trust it too)"
        : code === "ETIMEDOUT" || code === "ERR_TIMEOUT"
          ? "the issuer did not answer in time: check the network path, a firewall or a proxy between here and the issuer"
          : "check the issuer URL's host name and port, DNS and the network path (Proxmox fetches this document from each node as well)",
    };
  }
  if (res.statusCode >= 300 && res.statusCode < 400) {
    return {
      ok: false,
      url,
      detail: `${url} answered HTTP ${res.statusCode}, a redirect to ${String(res.headers.location ?? "?")}`,
      hint: "Proxmox does not follow redirects for discovery: set the issuer URL to the issuer itself (the document's `issuer`)",
    };
  }
  if (res.statusCode !== 200) {
    return {
      ok: false,
      url,
      detail: `${url} answered HTTP ${res.statusCode}`,
      hint: "check the issuer URL: it is the issuer itself, without /.well-known/openid-configuration (for Entra ID: the tenant GUID form)",
    };
  }
  let issuer: unknown;
  let doc: Record<string, unknown> = {};
  try {
    doc = (JSON.parse(res.body) as Record<string, unknown> | null) ?? {};
    issuer = doc.issuer;
  } catch {
    issuer = undefined;
  }
  if (typeof issuer !== "string" || issuer === "") {
    return { ok: false, url, detail: `${url} is not an OpenID discovery document (no \`issuer\`)`, hint: "check the issuer URL: it must point at an OpenID Connect provider" };
  }
  const methods = Array.isArray(doc.token_endpoint_auth_methods_supported) ? doc.token_endpoint_auth_methods_supported.filter((m): m is string => typeof m === "string") : ["client_secret_basic"];
  return { ok: true, url, issuer, plainHttp, authMethods: methods, ...(typeof doc.token_endpoint === "string" ? { tokenEndpoint: doc.token_endpoint } : {}) };
}

/** The outcome of a client-credentials request with a realm's client id and key at an external issuer. */
export type TokenProbe = { outcome: "accepted" } | { outcome: "refused"; detail: string } | { outcome: "unproven"; detail: string };

/**
 * Ask an external issuer's token endpoint for a token with the realm's own client id and key (client
 * credentials grant, RFC 6749 4.4), authenticating as the document says the endpoint accepts
 * (`client_secret_basic` preferred, else `client_secret_post`). `invalid_client` (RFC 6749 5.2) or a 401 means
 * the key is wrong; any other refusal (the client may not be allowed that grant, which is common for a
 * login-only client) proves nothing either way. Never throws; the key never appears in a result.
 */
export async function probeTokenEndpoint(tokenEndpoint: string, methods: readonly string[], clientId: string, key: string, opts: { timeoutMs?: number } = {}): Promise<TokenProbe> {
  const basic = methods.includes("client_secret_basic");
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  const headers: Record<string, string> = { accept: "application/json", "user-agent": "homelab", "content-type": "application/x-www-form-urlencoded" };
  // RFC 6749 2.3.1: both parts form-encoded before the Basic encoding.
  if (basic) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(key)}`).toString("base64")}`;
  else {
    form.set("client_id", clientId);
    form.set("client_secret", key);
  }
  let res;
  try {
    res = await got.post(tokenEndpoint, { body: form.toString(), headers, throwHttpErrors: false, followRedirect: false, retry: { limit: 0 }, timeout: { request: opts.timeoutMs ?? 10_000 }, responseType: "text" });
  } catch (err) {
    const e = err as { code?: string };
    return { outcome: "unproven", detail: redact(`the token endpoint ${tokenEndpoint} did not answer (${e.code ?? "ERR_NETWORK"})`) };
  }
  let body: { access_token?: unknown; error?: unknown; error_description?: unknown } = {};
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    body = {};
  }
  if (res.statusCode === 200 && typeof body.access_token === "string") return { outcome: "accepted" };
  const error = typeof body.error === "string" ? body.error : undefined;
  if (error === "invalid_client" || res.statusCode === 401) return { outcome: "refused", detail: redact(`the issuer refused the realm's client id and key (${error ?? `HTTP ${res.statusCode}`})`) };
  return { outcome: "unproven", detail: redact(`the issuer answered ${error ?? `HTTP ${res.statusCode}`} to a client-credentials request, which does not tell whether the key is right`) };
}

/**
 * One GET as a browser or an OpenID client would make it from here: no retry, no redirect followed, the answer as
 * text, TLS verified against Node's CA store (plus NODE_EXTRA_CA_CERTS). Throws got's error on no answer.
 */
export function getOnce(url: string, accept: string, timeoutMs = 5000) {
  return got(url, {
    throwHttpErrors: false,
    followRedirect: false,
    retry: { limit: 0 },
    timeout: { request: timeoutMs },
    responseType: "text",
    headers: { accept, "user-agent": "homelab" },
  });
}
