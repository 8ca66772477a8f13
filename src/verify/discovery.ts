import got from "got";
import { redact } from "../log/redact.js";

/** The outcome of fetching `<issuer>/.well-known/openid-configuration` from where homelab runs. */
export type DiscoveryResult =
  | { ok: true; url: string; issuer: string; plainHttp: boolean }
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
 * with a detail and a hint. The answer is only read for its `issuer`.
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
    res = await got(url, {
      throwHttpErrors: false,
      followRedirect: false,
      retry: { limit: 0 },
      timeout: { request: opts.timeoutMs ?? 5000 },
      responseType: "text",
      headers: { accept: "application/json", "user-agent": "homelab" },
    });
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
  try {
    issuer = (JSON.parse(res.body) as { issuer?: unknown } | null)?.issuer;
  } catch {
    issuer = undefined;
  }
  if (typeof issuer !== "string" || issuer === "") {
    return { ok: false, url, detail: `${url} is not an OpenID discovery document (no \`issuer\`)`, hint: "check the issuer URL: it must point at an OpenID Connect provider" };
  }
  return { ok: true, url, issuer, plainHttp };
}
