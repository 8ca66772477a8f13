/**
 * The Proxmox VE access-control API client (shared/spec/proxmox-access-api.md, sections 1, 2, 5, 13).
 *
 * One got instance and one https.Agent per cluster. Authentication is an API token (`PVEAPIToken=`), read
 * from its Secret at the first request, so a missing variable surfaces as the SecretError when the cluster is
 * first used, not when the client is built. Bodies are form-encoded with every value percent-encoded
 * (errata 9); GET/DELETE carry their parameters in the query string (a body there is a 501).
 *
 * Retries: only GET is retried (a POST/PUT/DELETE that failed mid-flight may have been applied; the planner
 * re-reads instead), on network errors (not TLS/pin failures, not timeouts), 502/503/504 and 595-599, with
 * exponential backoff plus jitter, honouring Retry-After. 500 is NEVER retried: PVE uses it for every handler
 * error ("does not exist", "already exists", validation inside handlers), which a retry cannot fix, and a
 * transient 500 is indistinguishable from those by status alone.
 *
 * Timeouts (src/providers/timeouts.ts, HOMELAB_CONNECT_TIMEOUT_S / HOMELAB_REQUEST_TIMEOUT_S): connect plus TLS
 * handshake, then the wait for the answer. A timed-out request is not repeated, so they bound each request
 * (a silent server used to keep `plan` waiting 4 x 30 s, issue 10 item 10). A request waiting longer than
 * 3 s is shown on the progress line (src/providers/waits.ts).
 *
 * Keep-alive (chain soak finding C4): pveproxy, and the simulator (Node's default), close a connection idle
 * for 5 s. A request written on such a connection just as the server closes it fails with ECONNRESET before
 * any byte of an answer; the server never read it. So idle sockets are dropped after FREE_SOCKET_TIMEOUT_MS
 * (below the server's 5 s; Node also honours a shorter `Keep-Alive: timeout=` hint), and a request that still
 * fails that way on a REUSED socket, before any byte of the answer, is sent once more on a new connection,
 * whatever its method (the pattern Node's http documentation gives for `request.reusedSocket`).
 *
 * Failure semantics of the mutating methods: a failed create leaves nothing behind (PVE writes under a
 * lock, all or nothing); after a failed update or delete, assume the object is unchanged / still exists.
 */
import { Agent } from "node:https";
import got, { type Got, type Response } from "got";
import type { TlsSettings } from "../../core/desired.js";
import type { Secret } from "../../core/secret.js";
import { redact, registerSecret } from "../../log/redact.js";
import { isTimeout, timeoutsWith, timeoutText } from "../timeouts.js";
import { watchRequest } from "../waits.js";
import { httpError, transportError, type RequestDescription } from "./errors.js";
import { PinnedAgent, readCaFile } from "./tls.js";
import type { PveVersionInfo } from "./versions.js";
import type {
  PveAclEntry,
  PveAclUpdate,
  PveGroup,
  PveGroupCreate,
  PveParams,
  PveParamValue,
  PvePermissions,
  PveRealm,
  PveRealmCreate,
  PveRealmOptionValue,
  PveRealmSummary,
  PveRealmUpdate,
  PveRealmUpdateOptions,
  PveRole,
  PveRoleCreate,
  PveTokenInfo,
  PveUser,
  PveUserCreate,
  PveUserUpdate,
} from "./types.js";

export * from "./types.js";
export type { PveVersionInfo } from "./versions.js";
export { isAlreadyExists, isNotFound, proxmoxErrorInfo, type ProxmoxErrorInfo } from "./errors.js";
export { formatFingerprint, normalizeFingerprint } from "./tls.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/** Passed to `onRetry` before each retry; never contains a credential. */
export interface RetryEvent {
  cluster: string;
  method: HttpMethod;
  /** Relative to /api2/json, with query string. */
  path: string;
  /** The attempt that failed, 1-based. */
  attempt: number;
  /** `503 Service Unavailable`, `ECONNRESET`, ... */
  reason: string;
  /** Wait before the next attempt, ms. */
  delayMs: number;
}

/** One finished HTTP exchange (each attempt is one entry). status 0: no HTTP answer. */
export interface RequestLogEntry {
  method: HttpMethod;
  /** Relative to /api2/json, with query string, e.g. `/access/users?full=1`. */
  path: string;
  status: number;
  ms: number;
  attempt: number;
}

export interface ProxmoxClientOptions {
  /** Cluster name from homelab.yaml; used in messages. */
  name: string;
  /** Origin, e.g. `https://pve1.lan:8006` (a trailing slash is tolerated). */
  url: string;
  token: { id: string; secret: Secret };
  tls: TlsSettings;
  /** Time allowed for an answer once the request is sent, ms. Default: HOMELAB_REQUEST_TIMEOUT_S, else 30 s. */
  timeoutMs?: number;
  /** Time allowed for TCP connect plus TLS handshake, ms. Default: HOMELAB_CONNECT_TIMEOUT_S, else 10 s. */
  connectTimeoutMs?: number;
  /** Retries of a failed GET (so at most retries + 1 attempts). Default 3. */
  retries?: number;
  /** First backoff delay, ms; doubled per retry, with jitter, capped at 10 s. Default 250. */
  retryBaseDelayMs?: number;
  onRetry?: (event: RetryEvent) => void;
  /** Called once, at construction, for each warning (also kept in `warnings`). */
  onWarning?: (message: string) => void;
  /** Kept-alive sockets per cluster. Default 8. */
  maxSockets?: number;
  /** An idle kept-alive socket is closed after this many ms. Default FREE_SOCKET_TIMEOUT_MS. */
  freeSocketTimeoutMs?: number;
}

/**
 * Idle sockets are closed after 4 s: below the 5 s after which pveproxy and the simulator (Node's default
 * `keepAliveTimeout`) close them, so a request is rarely written on a socket the server is closing.
 */
export const FREE_SOCKET_TIMEOUT_MS = 4000;
const DEFAULT_RETRIES = 3;
const DEFAULT_RETRY_BASE_MS = 250;
const MAX_RETRY_DELAY_MS = 10_000;
/** Statuses worth retrying on a GET: gateway/availability errors and pveproxy's forwarding failures (spec 1.5). */
const RETRY_STATUSES = new Set([502, 503, 504, 595, 596, 597, 598, 599]);
const RETRY_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "EPIPE", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "ECONNABORTED",
  "ERR_STREAM_PREMATURE_CLOSE",
]);
/** How a kept-alive socket closed by the server fails the request written on it ("socket hang up" is ECONNRESET). */
const STALE_SOCKET_CODES = new Set(["ECONNRESET", "EPIPE", "ERR_STREAM_PREMATURE_CLOSE"]);

/** Boolean realm options (spec 3.1.5) that come back as 0/1. */
const REALM_BOOLEANS = new Set(["default", "autocreate", "groups-autocreate", "groups-overwrite", "query-userinfo", "secure", "verify", "case-sensitive"]);

// --- encoding ----------------------------------------------------------------------------------------

function encodeValue(v: Exclude<PveParamValue, null | undefined>): string {
  if (typeof v === "boolean") return v ? "1" : "0";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return v;
  return v.join(",");
}

/**
 * `application/x-www-form-urlencoded` (also used for query strings): every key and value percent-encoded
 * with encodeURIComponent, so `;`, `=`, `&`, `+`, `%`, spaces and non-ASCII survive (errata 9: PVE also splits
 * pairs on a raw `;`). undefined and null are omitted (errata 6).
 */
export function encodeForm(params: PveParams): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(encodeValue(v))}`);
  }
  return parts.join("&");
}

/** A path with each interpolated parameter encodeURIComponent'd: path`/access/users/${userid}`. */
function path(strings: TemplateStringsArray, ...values: string[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]!) : ""), "");
}

// --- normalisation -----------------------------------------------------------------------------------

function bool(v: unknown, missing: boolean): boolean {
  if (v === undefined || v === null || v === "") return missing;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  const s = String(v).toLowerCase();
  return !(s === "0" || s === "false" || s === "no" || s === "off");
}

function int(v: unknown, missing: number): number {
  if (v === undefined || v === null || v === "") return missing;
  const n = Number(v);
  return Number.isFinite(n) ? n : missing;
}

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v);
  return s === "" ? undefined : s;
}

/** A PVE list given as a comma-joined string (or, leniently, an array) → sorted array without empties. */
function list(v: unknown): string[] {
  const items = Array.isArray(v) ? v.map(String) : typeof v === "string" ? v.split(/[,;\s]+/) : [];
  return items.filter((s) => s !== "").sort(cmp);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Put optional text fields on `out` only when present and non-empty. */
function optional<T extends object>(out: T, src: Record<string, unknown>, keys: readonly string[]): T {
  for (const k of keys) {
    const t = text(src[k]);
    if (t !== undefined) (out as Record<string, unknown>)[k] = t;
  }
  return out;
}

function asRecords(data: unknown): Record<string, unknown>[] {
  return Array.isArray(data) ? (data.filter((x) => x !== null && typeof x === "object") as Record<string, unknown>[]) : [];
}

export function normalizeRealmSummary(r: Record<string, unknown>): PveRealmSummary {
  return optional({ realm: String(r.realm), type: String(r.type), default: bool(r.default, false) } as PveRealmSummary, r, ["comment", "tfa"]);
}

export function normalizeRealm(realm: string, r: Record<string, unknown>): PveRealm {
  const options: Record<string, PveRealmOptionValue> = {};
  for (const [k, v] of Object.entries(r)) {
    if (k === "type" || k === "digest" || k === "plugin" || k === "realm" || v === null || v === undefined || v === "") continue;
    options[k] = REALM_BOOLEANS.has(k) ? bool(v, false) : typeof v === "number" || typeof v === "boolean" ? v : String(v);
  }
  return { realm, type: String(r.type), digest: String(r.digest ?? ""), options };
}

function normToken(t: Record<string, unknown>): PveTokenInfo {
  return optional({ tokenid: String(t.tokenid), privsep: bool(t.privsep, true), expire: int(t.expire, 0) } as PveTokenInfo, t, ["comment"]);
}

export function normalizeUser(u: Record<string, unknown>): PveUser {
  const out = optional(
    { userid: String(u.userid), enable: bool(u.enable, true), expire: int(u.expire, 0) } as PveUser,
    u,
    ["firstname", "lastname", "email", "comment", "keys"],
  );
  const realmType = text(u["realm-type"]);
  if (realmType !== undefined) out.realmType = realmType;
  out.groups = list(u.groups);
  out.tokens = asRecords(u.tokens).map(normToken).sort((a, b) => cmp(a.tokenid, b.tokenid));
  return out;
}

export function normalizeGroup(g: Record<string, unknown>): PveGroup {
  const out = optional({ groupid: String(g.groupid) } as PveGroup, g, ["comment"]);
  out.users = list(g.users ?? g.members);
  return out;
}

export function normalizeRole(r: Record<string, unknown>): PveRole {
  return { roleid: String(r.roleid), privs: list(r.privs), special: bool(r.special, false) };
}

export function normalizeAclEntry(a: Record<string, unknown>): PveAclEntry {
  return {
    path: String(a.path),
    type: String(a.type) as PveAclEntry["type"],
    ugid: String(a.ugid),
    roleid: String(a.roleid),
    propagate: bool(a.propagate, true),
  };
}

function aclKey(a: PveAclEntry): string {
  return `${a.path}\0${a.type}\0${a.ugid}\0${a.roleid}`;
}

// --- the client ----------------------------------------------------------------------------------------

/** Parse Retry-After (seconds or an HTTP date) into ms, or undefined. */
function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

export class ProxmoxClient {
  readonly name: string;
  readonly url: string;
  /** Warnings the CLI prints on every run (e.g. TLS verification disabled). */
  readonly warnings: string[] = [];
  /** Every HTTP exchange of this client, in order (for --debug, tests and benchmarks). */
  readonly requestLog: RequestLogEntry[] = [];

  readonly #tokenId: string;
  readonly #secret: Secret;
  readonly #tls: TlsSettings;
  readonly #timeouts: { connectMs: number; responseMs: number };
  readonly #retries: number;
  readonly #retryBaseMs: number;
  readonly #onRetry: ((e: RetryEvent) => void) | undefined;
  readonly #agent: Agent;
  readonly #maxSockets: number;
  #http: Got | undefined;
  #authorization: string | undefined;
  /** Incremented by close(): a request started before it stops at its next failure or backoff. */
  #generation = 0;
  /** Wakes the backoff sleeps in progress (close() ends them). */
  readonly #wakers = new Set<() => void>();

  constructor(opts: ProxmoxClientOptions) {
    this.name = opts.name;
    this.url = opts.url.replace(/\/+$/, "");
    this.#tokenId = opts.token.id;
    this.#secret = opts.token.secret;
    this.#tls = opts.tls;
    this.#timeouts = timeoutsWith({ connectMs: opts.connectTimeoutMs, responseMs: opts.timeoutMs });
    this.#retries = Math.max(0, opts.retries ?? DEFAULT_RETRIES);
    this.#retryBaseMs = Math.max(0, opts.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_MS);
    this.#onRetry = opts.onRetry;
    this.#maxSockets = opts.maxSockets ?? 8;
    // `timeout` of a keep-alive Agent is the idle (free) socket timeout: Agent.keepSocketAlive sets it on each
    // socket put back in the pool (and takes the server's `Keep-Alive: timeout=N` hint minus 1 s when shorter);
    // a request in flight is timed by got's options below, not by this.
    const agentOpts = { keepAlive: true, maxSockets: this.#maxSockets, timeout: opts.freeSocketTimeoutMs ?? FREE_SOCKET_TIMEOUT_MS };
    this.#agent = opts.tls.fingerprint !== undefined
      ? new PinnedAgent({ ...agentOpts, fingerprint: opts.tls.fingerprint, handshakeTimeoutMs: this.#timeouts.connectMs })
      : new Agent(agentOpts);
    if (opts.tls.insecure === true && opts.tls.fingerprint === undefined) {
      const w = `cluster '${this.name}': TLS certificate verification is disabled (tls.insecure: true); anyone on the network path can read the API token. Pin the certificate with tls.fingerprint instead`;
      this.warnings.push(w);
      opts.onWarning?.(w);
    }
  }

  /**
   * Close kept-alive connections and end the requests under way: one in flight or waiting to be retried fails
   * at once instead of being repeated, and no further retry is announced (with --debug, retry lines used to go
   * on after the command had printed its final error). The client stays usable: a request started after
   * close() opens a new connection.
   */
  close(): void {
    this.#generation++;
    for (const wake of [...this.#wakers]) wake();
    this.#agent.destroy();
  }

  /** Build the got instance on first use: reveals the token secret (SecretError if missing) and reads the CA file. */
  #init(): Got {
    if (this.#http) return this.#http;
    const secret = this.#secret.reveal();
    registerSecret(secret);
    // The header value is URL-decoded by the server (errata 14); a token secret is a UUID, so no escaping.
    this.#authorization = `PVEAPIToken=${this.#tokenId}=${secret}`;
    let certificateAuthority: string | undefined;
    if (this.#tls.ca !== undefined && this.#tls.fingerprint === undefined) {
      // Bounded: a regular file of at most 1 MiB (tls.ts MAX_CA_BYTES), so `tls.ca: /dev/zero` cannot hang (issue 10 item 3).
      certificateAuthority = readCaFile(this.#tls.ca, `clusters.${this.name}.tls.ca`);
    }
    this.#http = got.extend({
      prefixUrl: `${this.url}/api2/json/`,
      agent: { https: this.#agent },
      https: {
        rejectUnauthorized: this.#tls.insecure !== true,
        ...(certificateAuthority !== undefined ? { certificateAuthority } : {}),
      },
      timeout: { lookup: this.#timeouts.connectMs, connect: this.#timeouts.connectMs, secureConnect: this.#timeouts.connectMs, response: this.#timeouts.responseMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: "text",
      headers: { "user-agent": "homelab", accept: "application/json" },
    });
    return this.#http;
  }

  /**
   * One API call. `relPath` is relative to /api2/json with path parameters already encoded (no leading
   * slash needed). Returns the unwrapped `data`.
   */
  async request<T = unknown>(method: HttpMethod, relPath: string, params: PveParams = {}): Promise<T> {
    const http = this.#init();
    const rel = relPath.replace(/^\/+/, "");
    const encoded = encodeForm(params);
    const hasBody = method === "POST" || method === "PUT";
    const shownPath = `/${rel}${!hasBody && encoded !== "" ? `?${encoded}` : ""}`;
    const desc: RequestDescription = { cluster: this.name, method, path: redact(shownPath), url: redact(`${this.url}/api2/json${shownPath}`) };
    const safe = method === "GET";
    let staleRetried = false;
    const generation = this.#generation;
    for (let attempt = 1; ; attempt++) {
      if (this.#generation !== generation) throw this.#closedError(desc);
      const started = performance.now();
      let response: Response<string> | undefined;
      let failure: unknown;
      const done = watchRequest(`${this.name} (${this.url})`);
      try {
        response = await http(rel, {
          method,
          headers: {
            authorization: this.#authorization!,
            ...(hasBody ? { "content-type": "application/x-www-form-urlencoded" } : {}),
          },
          ...(hasBody ? { body: encoded } : encoded !== "" ? { searchParams: encoded } : {}),
        });
      } catch (err) {
        failure = err;
      } finally {
        done();
      }
      const status = response?.statusCode ?? 0;
      this.requestLog.push({ method, path: desc.path, status, ms: Math.round(performance.now() - started), attempt });

      if (response && status >= 200 && status < 300) return unwrap<T>(response.body, desc);
      // Closed meanwhile (the run is over): no retry, no further line.
      if (this.#generation !== generation) throw this.#closedError(desc);

      const code = failure !== undefined ? networkCode(failure) : undefined;
      if (!response && !staleRetried && staleSocket(failure, code)) {
        // Written on a kept-alive socket the server had closed: it never read the request (see the header).
        staleRetried = true;
        this.#onRetry?.({ cluster: this.name, method, path: desc.path, attempt, reason: `${code} on a reused connection`, delayMs: 0 });
        continue;
      }
      const timedOut = !response && isTimeout(failure);
      const retryable = safe && !timedOut && attempt <= this.#retries && (response ? RETRY_STATUSES.has(status) : code !== undefined && RETRY_CODES.has(code));
      if (!retryable) {
        if (response) throw httpError(desc, status, response.statusMessage, response.body);
        throw transportError(desc, timedOut ? timeoutFailure(failure, this.url, this.#timeouts) : failure, this.#timeouts);
      }
      const backoff = Math.min(MAX_RETRY_DELAY_MS, this.#retryBaseMs * 2 ** (attempt - 1));
      const jittered = Math.round(backoff / 2 + Math.random() * (backoff / 2));
      const after = response ? retryAfterMs(response.headers["retry-after"]) : undefined;
      const delayMs = after !== undefined ? Math.min(Math.max(after, jittered), 60_000) : jittered;
      const reason = response ? `${status} ${redact(response.statusMessage ?? "")}`.trim() : code!;
      this.#onRetry?.({ cluster: this.name, method, path: desc.path, attempt, reason, delayMs });
      await this.#sleep(delayMs);
    }
  }

  /** A backoff that ends early when the client is closed (the loop then stops). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wakers = this.#wakers;
      const t = setTimeout(done, ms);
      wakers.add(done);
      function done(): void {
        clearTimeout(t);
        wakers.delete(done);
        resolve();
      }
    });
  }

  #closedError(desc: RequestDescription): Error {
    return transportError(desc, Object.assign(new Error("the client was closed: the run is over"), { code: "ERR_CLIENT_CLOSED" }), this.#timeouts);
  }

  // --- realms ---------------------------------------------------------------------------------------

  /** GET /access/domains: every realm, sorted by id. */
  async listRealms(): Promise<PveRealmSummary[]> {
    const data = await this.request("GET", "access/domains");
    return asRecords(data).map(normalizeRealmSummary).sort((a, b) => cmp(a.realm, b.realm));
  }

  /**
   * GET /access/domains/{realm}: options (booleans coerced) and `digest`. A missing realm is a 500 RemoteError.
   * A returned `client-key` is registered with the redactor.
   */
  async getRealm(realm: string): Promise<PveRealm> {
    const data = await this.request<Record<string, unknown>>("GET", path`access/domains/${realm}`);
    const out = normalizeRealm(realm, data ?? {});
    // The OpenID client secret is readable (spec 3.1.3): make sure no log line, error or diff can show it.
    const key = out.options["client-key"];
    if (typeof key === "string") registerSecret(key);
    return out;
  }

  /** POST /access/domains. An existing realm is a 500 ("already exists"). */
  async createRealm(params: PveRealmCreate): Promise<void> {
    await this.request("POST", "access/domains", params);
  }

  /**
   * PUT /access/domains/{realm}. Only sent options change; `delete` unsets options first. Never PUT a realm
   * that was not listed (errata 1). `username-claim` is fixed at creation and refused here: changing it
   * needs delete + create.
   */
  async updateRealm(realm: string, params: PveRealmUpdate, opts: PveRealmUpdateOptions = {}): Promise<void> {
    for (const fixed of ["username-claim", "type", "realm"]) {
      if (fixed in params || opts.delete?.includes(fixed)) {
        throw new Error(`internal error: updateRealm(${realm}) must not send '${fixed}' (fixed at creation; replace the realm instead)`);
      }
    }
    const body: PveParams = { ...params };
    if (opts.delete !== undefined && opts.delete.length > 0) body.delete = [...opts.delete];
    if (opts.digest !== undefined) body.digest = opts.digest;
    await this.request("PUT", path`access/domains/${realm}`, body);
  }

  /** DELETE /access/domains/{realm}. Users, groups and ACLs of the realm stay. Never delete pam/pve. */
  async deleteRealm(realm: string): Promise<void> {
    await this.request("DELETE", path`access/domains/${realm}`);
  }

  // --- users ----------------------------------------------------------------------------------------

  /** GET /access/users?full=1: users with groups and token metadata, sorted by userid. Filtered by the token's rights. */
  async listUsers(): Promise<PveUser[]> {
    const data = await this.request("GET", "access/users", { full: true });
    return asRecords(data).map(normalizeUser).sort((a, b) => cmp(a.userid, b.userid));
  }

  /** POST /access/users. Every group must exist. */
  async createUser(params: PveUserCreate): Promise<void> {
    await this.request("POST", "access/users", { ...params });
  }

  /** PUT /access/users/{userid}: `""` clears a text field, `groups` replaces memberships unless `append`. */
  async updateUser(userid: string, params: PveUserUpdate): Promise<void> {
    await this.request("PUT", path`access/users/${userid}`, { ...params });
  }

  /**
   * DELETE /access/users/{userid}/token/{tokenid}: the token stops authenticating at once. Disabling the user does
   * not delete its tokens, and re-enabling makes them work again (issue 13, leavers).
   */
  async deleteToken(userid: string, tokenid: string): Promise<void> {
    await this.request("DELETE", path`access/users/${userid}/token/${tokenid}`);
  }

  /** DELETE /access/users/{userid}: also removes its memberships, ACL entries and tokens. */
  async deleteUser(userid: string): Promise<void> {
    await this.request("DELETE", path`access/users/${userid}`);
  }

  // --- groups ---------------------------------------------------------------------------------------

  /** GET /access/groups: groups with members, sorted by groupid. */
  async listGroups(): Promise<PveGroup[]> {
    const data = await this.request("GET", "access/groups");
    return asRecords(data).map(normalizeGroup).sort((a, b) => cmp(a.groupid, b.groupid));
  }

  async createGroup(params: PveGroupCreate): Promise<void> {
    await this.request("POST", "access/groups", { ...params });
  }

  /** PUT /access/groups/{groupid}: only the comment (`""` clears it); membership is set through users. */
  async updateGroup(groupid: string, params: { comment: string }): Promise<void> {
    await this.request("PUT", path`access/groups/${groupid}`, { comment: params.comment });
  }

  /** DELETE /access/groups/{groupid}: also removes its ACL entries and memberships. */
  async deleteGroup(groupid: string): Promise<void> {
    await this.request("DELETE", path`access/groups/${groupid}`);
  }

  // --- roles ----------------------------------------------------------------------------------------

  /** GET /access/roles: every role incl. built-ins (`special`), sorted by roleid. */
  async listRoles(): Promise<PveRole[]> {
    const data = await this.request("GET", "access/roles");
    return asRecords(data).map(normalizeRole).sort((a, b) => cmp(a.roleid, b.roleid));
  }

  async createRole(params: PveRoleCreate): Promise<void> {
    await this.request("POST", "access/roles", { roleid: params.roleid, privs: params.privs.length > 0 ? [...params.privs] : undefined });
  }

  /** PUT /access/roles/{roleid}: REPLACES the privileges (never `append`); [] empties the role. */
  async updateRole(roleid: string, privs: readonly string[]): Promise<void> {
    // A PUT without privs empties the role (spec 3.5), so [] is sent as "no privs".
    await this.request("PUT", path`access/roles/${roleid}`, { privs: privs.length > 0 ? [...privs] : undefined });
  }

  async deleteRole(roleid: string): Promise<void> {
    await this.request("DELETE", path`access/roles/${roleid}`);
  }

  // --- ACL ------------------------------------------------------------------------------------------

  /** GET /access/acl: every entry of every path in one call, sorted by (path, type, ugid, roleid). */
  async listAcl(): Promise<PveAclEntry[]> {
    const data = await this.request("GET", "access/acl");
    return asRecords(data).map(normalizeAclEntry).sort((a, b) => cmp(aclKey(a), aclKey(b)));
  }

  /**
   * PUT /access/acl: add (upsert, propagate overwritten) or, with `delete`, remove every role × principal
   * combination in one all-or-nothing call. Deleting an absent entry succeeds; naming a missing principal
   * or role fails (500).
   */
  async putAcl(update: PveAclUpdate): Promise<void> {
    const nonEmpty = (l: readonly string[] | undefined): string[] | undefined => (l !== undefined && l.length > 0 ? [...l] : undefined);
    if (!nonEmpty(update.users) && !nonEmpty(update.groups) && !nonEmpty(update.tokens)) {
      throw new Error(`internal error: putAcl(${update.path}) needs at least one user, group or token`);
    }
    await this.request("PUT", "access/acl", {
      path: update.path,
      roles: [...update.roles],
      users: nonEmpty(update.users),
      groups: nonEmpty(update.groups),
      tokens: nonEmpty(update.tokens),
      propagate: update.propagate,
      delete: update.delete === true ? true : undefined,
    });
  }

  // --- permissions ------------------------------------------------------------------------------------

  /**
   * GET /access/permissions: the effective privileges of the token (or of `userid`, a user or token id) on
   * `path`, or on the default paths; value = whether the privilege propagates. For pre-flight checks.
   */
  async permissions(pathArg?: string, userid?: string): Promise<PvePermissions> {
    const data = await this.request<Record<string, Record<string, unknown>> | null>("GET", "access/permissions", { path: pathArg, userid });
    const out: PvePermissions = {};
    for (const [p, privs] of Object.entries(data ?? {})) {
      out[p] = {};
      for (const [priv, v] of Object.entries(privs ?? {})) out[p][priv] = bool(v, false);
    }
    return out;
  }

  // --- version ----------------------------------------------------------------------------------------

  /**
   * GET /version (any authenticated user): `{version: "9.2.1", release: "9.2", repoid}`. Missing fields
   * come back as "" (a caller that cannot parse the version says so rather than guessing).
   */
  async version(): Promise<PveVersionInfo> {
    const data = await this.request<Record<string, unknown> | null>("GET", "version");
    const field = (k: string) => (data?.[k] === undefined || data?.[k] === null ? "" : String(data[k]));
    return { version: field("version"), release: field("release"), repoid: field("repoid") };
  }
}

/**
 * A request that failed on a kept-alive socket the server had closed: a reset (or "socket hang up") on a
 * REUSED socket before any byte of an answer. got's error carries its Request, whose `reusedSocket` is
 * the ClientRequest's (Node http: true when the request was written on a socket from the pool).
 */
function staleSocket(err: unknown, code: string | undefined): boolean {
  if (code === undefined || !STALE_SOCKET_CODES.has(code)) return false;
  const e = err as { request?: { reusedSocket?: boolean }; response?: unknown; timings?: { response?: number } };
  return e.request?.reusedSocket === true && e.response === undefined && e.timings?.response === undefined;
}

/** A timed-out request's failure, reworded to name the origin, the timeout and its variable (timeouts.ts). */
function timeoutFailure(err: unknown, origin: string, timeouts: { connectMs: number; responseMs: number }): Error {
  return Object.assign(new Error(timeoutText(err, origin, timeouts)), { code: "ETIMEDOUT" });
}

function networkCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === "string") return e.code;
  return typeof e.cause?.code === "string" ? e.cause.code : undefined;
}

function unwrap<T>(body: string, desc: RequestDescription): T {
  try {
    const parsed = JSON.parse(body) as { data?: unknown };
    return (parsed?.data ?? null) as T;
  } catch {
    throw transportError(desc, Object.assign(new Error(`response is not JSON: ${body.slice(0, 200)}`), { code: "E_BAD_RESPONSE" }), { connectMs: 0, responseMs: 0 });
  }
}

/** Build the client of one cluster. No I/O happens until the first call. */
export function createProxmoxClient(opts: ProxmoxClientOptions): ProxmoxClient {
  return new ProxmoxClient(opts);
}
