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
 *
 * Files: openid-discovery.ts (discovery), openid-jwt.ts (ID token verification), openid-users.ts (user and group
 * mapping), openid-fetch.ts (the outgoing HTTPS client); this file keeps the auth states and the two endpoints.
 */
import { createHash, randomBytes } from "node:crypto";
import { ApiError, handlerError } from "./errors.js";
import { discover, OidcError, transport, type Discovered } from "./openid-discovery.js";
import type { FetchedResponse, OpenIdHttp } from "./openid-fetch.js";
import { verifyJwt, type Claims } from "./openid-jwt.js";
import { mapUser } from "./openid-users.js";
import type { Params } from "./params.js";
import type { RealmRec, SimState } from "./state.js";
import type { SyslogEntry } from "./types.js";
import { hiddenParams } from "./versions.js";

export { discoveryUrl } from "./openid-discovery.js";

export type SyslogLevel = SyslogEntry["level"];

/** PrivateAuthState of proxmox-openid, as stored in /var/lib/pve-manager/proxmox-openid-auth-state-<realm>. */
interface PrivateAuthState {
  csrf_token: string;
  nonce: string;
  pkce_verifier: string;
  /** epoch seconds */
  ctime: number;
}

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

/**
 * What the OpenID endpoints read of a request: the node's state and the validated parameters. (A HandlerContext
 * is one; naming only these keeps this file free of context.ts, which names OpenIdService.)
 */
export interface OpenIdRequest {
  state: SimState;
  params: Params;
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
    const discovered = await discover(this.opts.http, String(rec.opts.get("issuer-url") ?? ""));
    try {
      new URL(redirectUrl); // RedirectUrl::new
    } catch {
      throw new OidcError("relative URL without a base");
    }
    return { rec, discovered };
  }

  /** POST /access/openid/auth-url. Failures are 500 with the message (spec 6). */
  async authUrl(ctx: OpenIdRequest): Promise<string> {
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
  async login(ctx: OpenIdRequest, rhost: string, ticketData: (userid: string) => Record<string, unknown>): Promise<Record<string, unknown>> {
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

  private async loginInner(ctx: OpenIdRequest): Promise<string> {
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
    return mapUser(state, realm, rec, info, opt, { syslog: this.opts.syslog, nowS: this.nowS() });
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
}

/** PVE::Tools::split_list: split on whitespace, commas and semicolons, dropping empty parts. */
function splitPveList(s: string): string[] {
  return s.split(/[\s,;\0]+/).filter(Boolean);
}
