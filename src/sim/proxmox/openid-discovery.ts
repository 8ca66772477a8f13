/**
 * The OpenID provider's discovery as proxmox-openid performs it (openidconnect 4's CoreProviderMetadata::discover):
 * the document at `<issuer-url>/.well-known/openid-configuration`, its issuer compared exactly, then the JWKS; with
 * openidconnect's wording for every failure (OidcError). openid.ts runs it at auth-url and again at login.
 */
import { OpenIdHttp, TransportError, type FetchedResponse } from "./openid-fetch.js";

export interface Discovered {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint?: string;
  userinfoEndpoint?: string;
  algs: string[];
  keys: JwkLike[];
}

export interface JwkLike {
  kty?: string;
  kid?: string;
  use?: string;
  alg?: string;
  crv?: string;
  [k: string]: unknown;
}

/** An error of the OpenID code, with the text Proxmox would log or answer. */
export class OidcError extends Error {}

export function transport(err: unknown): string {
  if (err instanceof TransportError) return `Request failed: ureq request failed - ${err.message}`;
  throw err;
}

/** IssuerUrl::join: append the suffix after a "/" unless the issuer already ends in one. */
export function discoveryUrl(issuer: string): string {
  return issuer.endsWith("/") ? `${issuer}.well-known/openid-configuration` : `${issuer}/.well-known/openid-configuration`;
}

/** check_content_type: a Content-Type, when present, must have the expected essence. */
function contentTypeIs(res: FetchedResponse, ...essences: string[]): boolean {
  const ct = res.headers["content-type"];
  if (ct === undefined) return true;
  const essence = ct.split(";")[0]!.trim().toLowerCase();
  return essences.includes(essence);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new OidcError(`Failed to parse server response: ${(e as Error).message}`);
  }
}

function requireUrl(name: string, v: unknown): string {
  if (v === undefined || v === null) throw new OidcError(`Failed to parse server response: missing field \`${name}\``);
  if (typeof v !== "string") throw new OidcError(`Failed to parse server response: ${name}: invalid type, expected a string`);
  try {
    new URL(v);
  } catch {
    throw new OidcError(`Failed to parse server response: ${name}: relative URL without a base`);
  }
  return v;
}

/** CoreProviderMetadata::discover: the document, its issuer compared exactly, then the JWKS. */
export async function discover(http: OpenIdHttp, issuer: string): Promise<Discovered> {
  try {
    new URL(issuer); // IssuerUrl::new
  } catch {
    throw new OidcError("relative URL without a base");
  }
  const url = discoveryUrl(issuer);
  let res: FetchedResponse;
  try {
    res = await http.get(url, { accept: "application/json" });
  } catch (e) {
    throw new OidcError(transport(e));
  }
  if (res.status !== 200) throw new OidcError(`Server returned invalid response: HTTP status code ${res.status} at ${url}`);
  if (!contentTypeIs(res, "application/json")) {
    throw new OidcError(`Server returned invalid response: Unexpected response Content-Type: "${res.headers["content-type"]}", should be \`application/json\``);
  }
  const doc = parseJson(res.body);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new OidcError("Failed to parse server response: invalid type, expected a map");
  const d = doc as Record<string, unknown>;
  const docIssuer = requireUrl("issuer", d.issuer);
  const authorizationEndpoint = requireUrl("authorization_endpoint", d.authorization_endpoint);
  const jwksUri = requireUrl("jwks_uri", d.jwks_uri);
  for (const f of ["response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"]) {
    if (!Array.isArray(d[f])) throw new OidcError(`Failed to parse server response: missing field \`${f}\``);
  }
  const tokenEndpoint = d.token_endpoint === undefined || d.token_endpoint === null ? undefined : requireUrl("token_endpoint", d.token_endpoint);
  const userinfoEndpoint =
    d.userinfo_endpoint === undefined || d.userinfo_endpoint === null ? undefined : requireUrl("userinfo_endpoint", d.userinfo_endpoint);
  if (docIssuer !== issuer) throw new OidcError(`Validation error: unexpected issuer URI \`${docIssuer}\` (expected \`${issuer}\`)`);
  let jres: FetchedResponse;
  try {
    jres = await http.get(jwksUri, { accept: "application/json" });
  } catch (e) {
    throw new OidcError(transport(e));
  }
  if (jres.status !== 200) throw new OidcError(`Server returned invalid response: HTTP status code ${jres.status}`);
  if (!contentTypeIs(jres, "application/json", "application/jwk-set+json")) {
    throw new OidcError(`Server returned invalid response: Unexpected response Content-Type: "${jres.headers["content-type"]}", should be \`application/json\``);
  }
  const jwks = parseJson(jres.body) as { keys?: unknown };
  if (!jwks || !Array.isArray(jwks.keys)) throw new OidcError("Failed to parse server response: missing field `keys`");
  return {
    issuer: docIssuer,
    authorizationEndpoint,
    tokenEndpoint,
    userinfoEndpoint,
    algs: (d.id_token_signing_alg_values_supported as unknown[]).map(String),
    keys: jwks.keys as JwkLike[],
  };
}
