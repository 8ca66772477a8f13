/**
 * The OpenID login as Proxmox VE performs it (spec 4.6 and 6; read from the source, since the spec
 * is brief): pve-access-control src/PVE/API2/OpenId.pm on top of proxmox-rs proxmox-openid
 * (lib.rs, auth_state.rs, http_client.rs), which uses the openidconnect 4 / oauth2 5 crates.
 *
 * auth-url: discovery (`<issuer-url>/.well-known/openid-configuration`, issuer compared exactly, then
 * the JWKS), a private state {csrf_token, nonce, pkce_verifier, ctime} stored per realm (10-minute
 * expiry, at most ~100 pending), and the discovered `authorization_endpoint` with response_type=code,
 * client_id, state = JSON {"csrf_token","realm"}, PKCE S256, redirect_uri, scope "openid <scopes>",
 * nonce, display=page, prompt, acr_values.
 *
 * login: the state is looked up and consumed first (a replay fails), discovery runs again, the code
 * is exchanged at the token endpoint (client-key → HTTP Basic with both parts form-urlencoded, as
 * oauth2 does; no key → client_id in the body), the ID token is verified (issuer exact, aud contains
 * the client id and every other aud is the client id or in `audiences`, alg among the discovered
 * id_token_signing_alg_values_supported, key by kid from jwks_uri, exp without leeway, nonce), userinfo
 * is queried unless query-userinfo=0, and the claims are merged (ID token wins). Then OpenId.pm:
 * user name, autocreate or the enabled/expiry check, group mapping, ticket. Every failure there is
 * 401 "authentication failure"; the reason goes to syslog ("openid authentication failure; rhost=…
 * msg=…"), here the simulator's in-memory syslog.
 *
 * Messages are worded as perlmod prints anyhow errors (`{err:#}`: the chain joined by ": ").
 */
import { createHash, createHmac, createPublicKey, randomBytes, timingSafeEqual, verify as cryptoVerify, constants, type JsonWebKey as NodeJwk, type KeyObject } from "node:crypto";
import { userUsable } from "./auth.js";
import type { HandlerContext } from "./context.js";
import { ApiError, handlerError, inLock } from "./errors.js";
import { OpenIdHttp, TransportError, type FetchedResponse } from "./openid-fetch.js";
import { verifyUsername } from "./params.js";
import type { RealmRec, SimState, UserRec } from "./state.js";
import type { SyslogEntry } from "./types.js";
import { hiddenParams } from "./versions.js";

export type SyslogLevel = SyslogEntry["level"];

/** PrivateAuthState of proxmox-openid, as stored in /var/lib/pve-manager/proxmox-openid-auth-state-<realm>. */
interface PrivateAuthState {
  csrf_token: string;
  nonce: string;
  pkce_verifier: string;
  /** epoch seconds */
  ctime: number;
}

/** The claims, as the JSON object OpenId.pm receives ($info). */
type Claims = Record<string, unknown>;

interface Discovered {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint?: string;
  userinfoEndpoint?: string;
  algs: string[];
  keys: JwkLike[];
}

interface JwkLike {
  kty?: string;
  kid?: string;
  use?: string;
  alg?: string;
  crv?: string;
  [k: string]: unknown;
}

/** An error of the OpenID code, with the text Proxmox would log or answer. */
class OidcError extends Error {}

const STATE_TIMEOUT_S = 10 * 60; // auth_state.rs
const STATE_MAX = 100; // auth_state.rs: "if data.len() > 100 bail"
const STATE_DIR = "/var/lib/pve-manager";

/** Standard claims of openidconnect's IdTokenClaims (before PVE 8.4 only these came from the ID token). */
const STANDARD_ID_TOKEN_CLAIMS = new Set([
  "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
  "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture",
  "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale", "phone_number",
  "phone_number_verified", "address", "updated_at",
]);

const b64url = (buf: Buffer): string => buf.toString("base64url");

function transport(err: unknown): string {
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

/** openidconnect's key/alg compatibility (check_key_compatibility) and the verification itself. */
function keyFamily(alg: string): { kty: string; crv?: string } | undefined {
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return { kty: "RSA" };
  if (alg === "ES256") return { kty: "EC", crv: "P-256" };
  if (alg === "ES384") return { kty: "EC", crv: "P-384" };
  if (alg === "ES512") return { kty: "EC", crv: "P-521" };
  if (alg === "EdDSA") return { kty: "OKP", crv: "Ed25519" };
  if (/^HS(256|384|512)$/.test(alg)) return { kty: "oct" };
  return undefined;
}

function verifySignature(alg: string, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  const bits = alg.slice(2);
  const hash = `sha${bits}`;
  if (alg.startsWith("RS")) return cryptoVerify(hash, data, key, sig);
  if (alg.startsWith("PS")) {
    return cryptoVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
  }
  if (alg.startsWith("ES")) return cryptoVerify(alg === "ES512" ? "sha512" : hash, data, { key, dsaEncoding: "ieee-p1363" }, sig);
  if (alg === "EdDSA") return cryptoVerify(null, data, key, sig);
  return false;
}

interface VerifyInput {
  jwt: string;
  discovered: Discovered;
  clientId: string;
  clientKey: string | undefined;
  audiences: string[] | undefined;
  /** undefined for a signed userinfo response (no nonce or exp check) */
  nonce?: string;
  nowS: number;
}

/**
 * IdTokenVerifier::verified_claims: header, issuer, audience, alg, signature (steps 1–8), then exp,
 * nonce (steps 9–11). Returns the payload. Throws OidcError with openidconnect's wording.
 */
function verifyJwt(input: VerifyInput): Claims {
  const parts = input.jwt.split(".");
  if (parts.length !== 3) throw new OidcError("Failed to parse server response: id_token: invalid JSON Web Token: expected 3 parts");
  let header: Record<string, unknown>;
  let claims: Claims;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Claims;
  } catch {
    throw new OidcError("Failed to parse server response: id_token: invalid JSON Web Token");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new OidcError("Failed to parse server response: id_token: invalid type, expected a map");
  }
  for (const f of input.nonce !== undefined ? ["iss", "sub", "aud", "exp", "iat"] : ["sub"]) {
    if (claims[f] === undefined || claims[f] === null) throw new OidcError(`Failed to parse server response: id_token: missing field \`${f}\``);
  }
  const v = (msg: string): never => {
    throw new OidcError(input.nonce !== undefined ? `Failed to verify ID token: ${msg}` : msg);
  };
  // JOSE header: typ, when present, normalises to application/jwt or application/jose; no cty, no crit.
  if (typeof header.typ === "string") {
    const t = header.typ.toLowerCase();
    const norm = t.includes("/") ? t : `application/${t}`;
    if (norm !== "application/jwt" && norm !== "application/jose") v(`Unsupported: unexpected or unsupported JWT type \`${header.typ}\``);
  }
  if (header.cty !== undefined) v("Unsupported: nested JWT's are not currently supported");
  if (header.crit !== undefined) v("Unsupported: critical JWT header fields are unsupported");
  // Issuer: exactly the discovered issuer, which discovery made sure is the realm's issuer-url.
  if (input.nonce !== undefined || claims.iss !== undefined) {
    if (typeof claims.iss !== "string") v("Invalid issuer: missing issuer claim");
    if (claims.iss !== input.discovered.issuer) v(`Invalid issuer: expected \`${input.discovered.issuer}\` (found \`${String(claims.iss)}\`)`);
  }
  // Audience: must contain the client id; with several, each other one must be trusted (`audiences`).
  if (input.nonce !== undefined || claims.aud !== undefined) {
    const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.map(String) : undefined;
    if (!aud) v("Invalid audiences: missing audiences claim");
    if (!aud!.includes(input.clientId)) {
      v(`Invalid audiences: must contain \`${input.clientId}\` (found audiences: ${aud!.map((a) => `\`${a}\``).join(", ")})`);
    }
    if (aud!.length > 1) {
      const untrusted = aud!.find((a) => a !== input.clientId && !(input.audiences ?? []).includes(a));
      if (untrusted !== undefined) v(`Invalid audiences: \`${untrusted}\` is not a trusted audience`);
    }
  }
  // Algorithm: one of the provider's id_token_signing_alg_values_supported.
  const alg = header.alg;
  if (typeof alg !== "string" || alg === "none") v("Signature verification failed");
  if (!input.discovered.algs.includes(alg as string)) {
    v(`Signature verification failed: Disallowed signature algorithm: algorithm \`${String(alg)}\` is not one of: ${input.discovered.algs.join(", ")}`);
  }
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2]!, "base64url");
  if (/^HS/.test(alg as string)) {
    if (input.clientKey === undefined) v("Signature verification failed: Disallowed signature algorithm: symmetric signatures are disallowed for public clients");
    const mac = createHmac(`sha${(alg as string).slice(2)}`, input.clientKey!).update(data).digest();
    if (mac.length !== sig.length || !timingSafeEqual(mac, sig)) v("Signature verification failed: Crypto error: bad HMAC");
  } else {
    const fam = keyFamily(alg as string);
    if (!fam) v(`Signature verification failed: Unsupported signature algorithm: ${String(alg)}`);
    const kid = typeof header.kid === "string" ? header.kid : undefined;
    const eligible = input.discovered.keys.filter(
      (k) =>
        (kid === undefined || k.kid === kid) &&
        k.kty === fam!.kty &&
        (fam!.crv === undefined || k.crv === fam!.crv) &&
        (k.use === undefined || k.use === "sig") &&
        (k.alg === undefined || k.alg === alg),
    );
    if (eligible.length === 0) v("Signature verification failed: No matching key found");
    if (eligible.length > 1) {
      v(`Signature verification failed: Ambiguous key identification: JWK set must only contain one eligible public key, but found ${eligible.length} eligible keys`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: eligible[0] as NodeJwk, format: "jwk" });
    } catch (e) {
      return v(`Signature verification failed: Invalid cryptographic key: ${(e as Error).message}`);
    }
    if (!verifySignature(alg as string, key, data, sig)) v("Signature verification failed: Crypto error: bad signature");
  }
  if (input.nonce === undefined) return claims;
  // Step 9: no leeway ("cur_time >= expiration" is expired).
  const exp = Number(claims.exp);
  if (!Number.isFinite(exp)) v("Failed to parse server response: exp: invalid type");
  if (input.nowS >= exp) {
    v(`Expired: ID token expired at ${new Date(exp * 1000).toISOString()} (current time is ${new Date(input.nowS * 1000).toISOString()})`);
  }
  // Step 11: compared by SHA-256 digest (constant time).
  if (claims.nonce === undefined || claims.nonce === null) v("Invalid nonce: missing nonce claim");
  const a = createHash("sha256").update(String(claims.nonce)).digest();
  const b = createHash("sha256").update(input.nonce).digest();
  if (!timingSafeEqual(a, b)) v("Invalid nonce: nonce mismatch");
  return claims;
}

export interface OpenIdServiceOptions {
  http: OpenIdHttp;
  /** the simulator's syslog (ProxmoxSim.syslog) */
  syslog: (level: SyslogLevel, message: string) => void;
  now: () => number;
}

/**
 * The node's OpenID client state: pending auth states per realm (the state files under
 * /var/lib/pve-manager), the outgoing HTTP client, the syslog. One per simulator; reset() forgets.
 */
export class OpenIdService {
  private states = new Map<string, PrivateAuthState[]>();

  constructor(private readonly opts: OpenIdServiceOptions) {}

  reset(): void {
    this.states.clear();
  }

  /** Pending (unexpired) auth requests per realm: for tests. */
  pending(realm: string): number {
    return this.loadStates(realm)?.length ?? 0;
  }

  private nowS(): number {
    return Math.floor(this.opts.now() / 1000);
  }

  /** load_auth_state_locked: drop entries older than 10 minutes. */
  private loadStates(realm: string): PrivateAuthState[] | undefined {
    const list = this.states.get(realm);
    if (!list) return undefined;
    const now = this.nowS();
    const kept = list.filter((s) => s.ctime + STATE_TIMEOUT_S >= now);
    this.states.set(realm, kept);
    return kept;
  }

  /** $lookup_openid_auth: the realm's config, then OpenIdAuthenticator::discover. */
  private async lookup(state: SimState, realm: string, redirectUrl: string): Promise<{ rec: RealmRec; discovered: Discovered }> {
    const rec = state.realms.get(realm);
    if (!rec) throw new OidcError(`authentication domain '${realm}' does not exist`);
    if (rec.type !== "openid") throw new OidcError(`wrong realm type (${rec.type} != openid)`);
    const discovered = await this.discover(String(rec.opts.get("issuer-url") ?? ""));
    try {
      new URL(redirectUrl); // RedirectUrl::new
    } catch {
      throw new OidcError("relative URL without a base");
    }
    return { rec, discovered };
  }

  /** CoreProviderMetadata::discover: the document, its issuer compared exactly, then the JWKS. */
  private async discover(issuer: string): Promise<Discovered> {
    try {
      new URL(issuer); // IssuerUrl::new
    } catch {
      throw new OidcError("relative URL without a base");
    }
    const url = discoveryUrl(issuer);
    let res: FetchedResponse;
    try {
      res = await this.opts.http.get(url, { accept: "application/json" });
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
      jres = await this.opts.http.get(jwksUri, { accept: "application/json" });
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

  /** POST /access/openid/auth-url. Failures are 500 with the message (spec 6). */
  async authUrl(ctx: HandlerContext): Promise<string> {
    const realm = ctx.params.realm!;
    const redirectUrl = ctx.params["redirect-url"]!;
    try {
      const { rec, discovered } = await this.lookup(ctx.state, realm, redirectUrl);
      const priv: PrivateAuthState = {
        csrf_token: b64url(randomBytes(16)),
        nonce: b64url(randomBytes(16)),
        pkce_verifier: b64url(randomBytes(32)),
        ctime: this.nowS(),
      };
      // store_auth_state
      const list = this.loadStates(realm) ?? [];
      if (list.length > STATE_MAX) throw new OidcError(`too many pending openid auth request for realm ${realm}`);
      list.push(priv);
      this.states.set(realm, list);

      const url = new URL(discovered.authorizationEndpoint);
      const scopes = splitPveList(String(rec.opts.get("scopes") ?? "email profile"));
      const q = url.searchParams;
      q.append("response_type", "code");
      q.append("client_id", String(rec.opts.get("client-id") ?? ""));
      q.append("state", JSON.stringify({ csrf_token: priv.csrf_token, realm }));
      q.append("code_challenge", b64url(createHash("sha256").update(priv.pkce_verifier).digest()));
      q.append("code_challenge_method", "S256");
      q.append("redirect_uri", redirectUrl);
      q.append("scope", ["openid", ...scopes].join(" "));
      q.append("nonce", priv.nonce);
      const prompt = rec.opts.get("prompt");
      if (prompt !== undefined) q.append("prompt", String(prompt));
      q.append("display", "page");
      const acr = rec.opts.get("acr-values");
      if (acr !== undefined) {
        const values = splitPveList(String(acr));
        if (values.length > 0) q.append("acr_values", values.join(" "));
      }
      return url.toString();
    } catch (e) {
      if (e instanceof OidcError) throw handlerError(e.message);
      throw e;
    }
  }

  /** POST /access/openid/login. */
  async login(ctx: HandlerContext, rhost: string, ticketData: (userid: string) => Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      const username = await this.loginInner(ctx);
      const res = ticketData(username);
      this.opts.syslog("info", `successful openid auth for user '${username}'`);
      return res;
    } catch (e) {
      if (!(e instanceof OidcError) && !(e instanceof ApiError)) throw e;
      const msg = e.message.endsWith("\n") ? e.message : `${e.message}\n`;
      this.opts.syslog("err", `openid authentication failure; rhost=${rhost} msg=${msg}`);
      // do not return any info to prevent user enumeration attacks
      throw new ApiError(401, "authentication failure\n");
    }
  }

  private async loginInner(ctx: HandlerContext): Promise<string> {
    const state = ctx.state;
    // verify_public_auth_state: parse, then find and remove the entry (consumed before anything else).
    let pub: { csrf_token?: unknown; realm?: unknown };
    try {
      pub = JSON.parse(ctx.params.state!) as typeof pub;
    } catch (e) {
      throw new OidcError((e as Error).message);
    }
    if (typeof pub !== "object" || pub === null || typeof pub.csrf_token !== "string" || typeof pub.realm !== "string") {
      throw new OidcError("invalid type: expected struct PublicAuthState");
    }
    const realm = pub.realm;
    const list = this.loadStates(realm);
    if (!list) throw new OidcError(`unable to open file '${STATE_DIR}/proxmox-openid-auth-state-${realm}' - No such file or directory`);
    const i = list.findIndex((s) => s.csrf_token === pub.csrf_token);
    if (i < 0) throw new OidcError("no openid auth state found (possible timeout)");
    const priv = list.splice(i, 1)[0]!;

    const redirectUrl = ctx.params["redirect-url"]!;
    const { rec, discovered } = await this.lookup(state, realm, redirectUrl);
    const hidden = hiddenParams(state.version, "POST", "/access/domains");
    const opt = (k: string): string | number | undefined => (hidden.has(k) ? undefined : rec.opts.get(k));
    const clientId = String(rec.opts.get("client-id") ?? "");
    const ck = rec.opts.get("client-key");
    const clientKey = ck === undefined ? undefined : String(ck);
    const aud = opt("audiences");
    // Before 8.4 (proxmox-openid 0.10.4) userinfo was always queried and the ID token gave only its
    // standard claims (fix #4234, #4411): the gate of `query-userinfo` marks that release.
    const modern = !hidden.has("query-userinfo");
    const qui = opt("query-userinfo");
    const queryUserinfo = !modern || qui === undefined || Number(qui) !== 0;

    // exchange_code
    if (!discovered.tokenEndpoint) throw new OidcError("Configuration error for token endpoint: No token endpoint URL specified");
    const form: Array<[string, string]> = [
      ["grant_type", "authorization_code"],
      ["code", ctx.params.code!],
    ];
    const headers: Record<string, string> = { accept: "application/json", "content-type": "application/x-www-form-urlencoded" };
    if (clientKey !== undefined) {
      // RFC 6749 2.3.1: both parts form-urlencoded before Basic (oauth2 endpoint.rs).
      const enc = (s: string): string => new URLSearchParams([["", s]]).toString().slice(1);
      headers.authorization = `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientKey)}`).toString("base64")}`;
    } else {
      form.push(["client_id", clientId]);
    }
    form.push(["redirect_uri", redirectUrl], ["code_verifier", priv.pkce_verifier]);
    let tres: FetchedResponse;
    try {
      tres = await this.opts.http.post(discovered.tokenEndpoint, headers, Buffer.from(new URLSearchParams(form).toString()));
    } catch (e) {
      throw new OidcError(`Failed to contact token endpoint: ${transport(e)}`);
    }
    const tokenFail = (m: string): never => {
      throw new OidcError(`Failed to contact token endpoint: ${m}`);
    };
    const ct = tres.headers["content-type"];
    if (ct !== undefined && !ct.toLowerCase().startsWith("application/json")) tokenFail(`Other error: unexpected response Content-Type: "${ct}", should be \`application/json\``);
    if (tres.body.length === 0) tokenFail("Other error: server returned empty response body");
    let token: Record<string, unknown>;
    try {
      token = JSON.parse(tres.body.toString("utf8")) as Record<string, unknown>;
    } catch (e) {
      return tokenFail(`Failed to parse server response: ${(e as Error).message}`);
    }
    if (typeof token.access_token !== "string") tokenFail("Failed to parse server response: missing field `access_token`");
    if (typeof token.token_type !== "string") tokenFail("Failed to parse server response: missing field `token_type`");
    // `.expect("Server did not return an ID token")`: a panic, which perlmod reports as below.
    if (typeof token.id_token !== "string") throw new OidcError("rust function panicked");

    const idClaims = verifyJwt({
      jwt: token.id_token,
      discovered,
      clientId,
      clientKey,
      audiences: aud === undefined ? undefined : splitPveList(String(aud)),
      nonce: priv.nonce,
      nowS: this.nowS(),
    });
    const info: Claims = {};
    for (const [k, v] of Object.entries(idClaims)) {
      if (modern || STANDARD_ID_TOKEN_CLAIMS.has(k.split("#")[0]!)) info[k] = v;
    }
    if (queryUserinfo) {
      const ui = await this.userinfo(discovered, token.access_token as string, clientId, clientKey);
      // verify_authorization_code_simple_userinfo: the ID token's values win; userinfo fills the rest.
      for (const [k, v] of Object.entries(ui)) if (info[k] === undefined || info[k] === null) info[k] = v;
    }
    // Not a Proxmox line: which claims arrived, to tell a missing claim from a misnamed one.
    this.opts.syslog("info", `simulator: openid claims for realm '${realm}': ${Object.keys(info).sort().join(", ")}`);
    return this.mapUser(ctx, realm, rec, info, opt);
  }

  /** UserInfoRequest: GET with the bearer token; JSON, or a signed JWT (application/jwt). */
  private async userinfo(discovered: Discovered, accessToken: string, clientId: string, clientKey: string | undefined): Promise<Claims> {
    if (!discovered.userinfoEndpoint) throw new OidcError("No user info endpoint URL specified");
    let res: FetchedResponse;
    try {
      res = await this.opts.http.get(discovered.userinfoEndpoint, { accept: "application/json", authorization: `Bearer ${accessToken}` });
    } catch (e) {
      throw new OidcError(`Failed to contact userinfo endpoint: ${transport(e)}`);
    }
    const fail = (m: string): never => {
      throw new OidcError(`Failed to contact userinfo endpoint: ${m}`);
    };
    const ct = (res.headers["content-type"] ?? "application/json").split(";")[0]!.trim().toLowerCase();
    let claims: Claims;
    if (ct === "application/json") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(res.body.toString("utf8"));
      } catch (e) {
        return fail(`Failed to parse server response: ${(e as Error).message}`);
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return fail("Failed to parse server response: invalid type, expected a map");
      claims = parsed as Claims;
      if (claims.sub === undefined) fail("Failed to parse server response: missing field `sub`");
    } else if (ct === "application/jwt") {
      try {
        claims = verifyJwt({ jwt: res.body.toString("utf8").trim(), discovered, clientId, clientKey, audiences: undefined, nowS: this.nowS() });
      } catch (e) {
        return fail(`Failed to verify claims: ${(e as Error).message}`);
      }
    } else {
      return fail(`Server returned invalid response: unexpected response Content-Type: \`"${ct}"\``);
    }
    return claims;
  }

  /** OpenId.pm after verify_authorization_code: user name, autocreate / enabled check, groups. */
  private async mapUser(
    ctx: HandlerContext,
    realm: string,
    rec: RealmRec,
    info: Claims,
    opt: (k: string) => string | number | undefined,
  ): Promise<string> {
    const state = ctx.state;
    const userAttr = String(rec.opts.get("username-claim") ?? "sub");
    let unique: unknown;
    if (info[userAttr] !== undefined && info[userAttr] !== null) unique = info[userAttr];
    else if (userAttr === "subject") unique = info.sub; // stay compat with old versions
    else if (userAttr === "username") {
      unique = info.preferred_username;
      if (unique === undefined || unique === null) throw new OidcError("missing claim 'preferred_username'");
    } else throw new OidcError(`missing configured claim '${userAttr}' in returned info object`);
    // Perl interpolates whatever the claim holds; an array or object would become "ARRAY(0x…)",
    // a user id nobody wants: the simulator refuses those instead (documented deviation).
    if (typeof unique === "boolean") unique = unique ? "1" : "";
    if (typeof unique !== "string" && typeof unique !== "number") {
      throw new OidcError(`claim '${userAttr}' is not a string (simulator: Perl would interpolate a reference)`);
    }
    const username = `${String(unique)}@${realm}`;
    try {
      verifyUsername(username);
    } catch (e) {
      throw new OidcError((e as Error).message);
    }

    const nowS = this.nowS();
    if (opt("autocreate") !== undefined && Number(opt("autocreate")) !== 0 && !state.users.has(username)) {
      await inLock(state, "user.cfg", "autocreate openid user failed", () => {
        if (state.users.has(username)) throw handlerError(`user '${username}' already exists`);
        const entry: UserRec = { userid: username, enable: 1, expire: 0, groups: new Set(), tokens: new Map() };
        if (info.email !== undefined && info.email !== null) entry.email = String(info.email);
        if (info.given_name !== undefined && info.given_name !== null) entry.firstname = String(info.given_name);
        if (info.family_name !== undefined && info.family_name !== null) entry.lastname = String(info.family_name);
        state.users.set(username, entry);
      });
    } else {
      // check_user_enabled
      const user = state.users.get(username);
      if (!user) throw new OidcError(`no such user ('${username}')`);
      if (!user.enable) throw new OidcError(`user '${username}' is disabled`);
      if (!userUsable(user, nowS)) throw new OidcError(`user '${username}' access expired`);
    }

    const groupsClaim = opt("groups-claim");
    if (groupsClaim !== undefined) await this.mapGroups(state, realm, username, String(groupsClaim), info, opt);
    return username;
  }

  private async mapGroups(
    state: SimState,
    realm: string,
    username: string,
    claim: string,
    info: Claims,
    opt: (k: string) => string | number | undefined,
  ): Promise<void> {
    const log = this.opts.syslog;
    const list = info[claim];
    if (list === undefined || list === null) {
      log("err", `openid groups claim '${claim}' is not found in claims`);
      return;
    }
    if (!Array.isArray(list)) {
      log("err", "openid groups list is not an array; groups will not be updated");
      return;
    }
    await inLock(state, "user.cfg", "openid group mapping failed", () => {
      const oidcGroups = new Set<string>();
      for (const g of list) {
        const name = typeof g === "string" || typeof g === "number" ? String(g) : undefined;
        // verify_groupname on the claim entry (not on "<entry>-<realm>")
        if (name !== undefined && /^[A-Za-z0-9.\-_]+$/.test(name)) oidcGroups.add(`${name}-${realm}`);
        else log("warn", `openid group '${name ?? JSON.stringify(g)}' contains invalid characters`);
      }
      let join = new Set([...oidcGroups].filter((g) => state.groups.has(g)));
      if (flag(opt("groups-autocreate"))) {
        join = oidcGroups;
        const create = [...oidcGroups].filter((g) => !state.groups.has(g)).sort();
        if (create.length > 0) log("info", `groups created automatically from openid claim: ${create.join(", ")}`);
      }
      if (flag(opt("groups-overwrite"))) {
        state.removeAllMemberships(username);
        log("info", `openid overwrite groups enabled; user '${username}' removed from all groups`);
      }
      if (join.size > 0) {
        for (const g of join) {
          // add_user_group autovivifies a missing group (no comment): that is the autocreate.
          if (!state.groups.has(g)) state.groups.set(g, { groupid: g, members: new Set() });
          state.addMembership(username, g);
        }
        log("info", `openid user '${username}' added to groups: ${[...join].sort().join(", ")}`);
      }
    });
  }
}

function flag(v: string | number | undefined): boolean {
  return v !== undefined && Number(v) !== 0;
}

/** PVE::Tools::split_list: split on whitespace, commas and semicolons, dropping empty parts. */
function splitPveList(s: string): string[] {
  return s.split(/[\s,;\0]+/).filter(Boolean);
}
