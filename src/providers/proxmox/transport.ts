/**
 * One cluster's HTTP transport for the Proxmox client (client.ts): the got instance and its keep-alive agent,
 * authentication, retries, timeouts, the request log. The API methods live in client.ts; this file knows
 * nothing of realms or users.
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
 * Cost per request (issue 12, bench/got-cost.mjs): every option that is the same for all requests of the
 * cluster (origin, agent, TLS, timeouts, the Authorization and Accept headers, the form content type) is merged
 * once, into two got instances made by got.extend when the first request is sent; a request passes only its
 * method, path (query string included, encoded by encodeForm) and body, so got merges nothing per request but
 * those (and one handler empties got's unused cache options, which saves a slow object copy per request:
 * emptyCacheOptions below). Error descriptions (redacted URL) are built only for a request that fails.
 */
import { Agent } from "node:https";
import got, { type Got, type HandlerFunction, type Response } from "got";
import type { TlsSettings } from "../../core/desired.js";
import type { Secret } from "../../core/secret.js";
import { redact, registerSecret } from "../../log/redact.js";
import { gotTimeouts, isTimeout, timeoutsWith, timeoutText, type Timeouts } from "../timeouts.js";
import { watchRequest } from "../waits.js";
import { encodeForm } from "./encode.js";
import { httpError, transportError, type RequestDescription } from "./errors.js";
import { PinnedAgent, readCaFile } from "./tls.js";
import type { PveParams } from "./types.js";

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

export interface TransportOptions {
  /** Cluster name from homelab.yaml; used in messages. */
  name: string;
  /** Origin without a trailing slash, e.g. `https://pve1.lan:8006`. */
  url: string;
  token: { id: string; secret: Secret };
  tls: TlsSettings;
  timeoutMs?: number | undefined;
  connectTimeoutMs?: number | undefined;
  retries?: number | undefined;
  retryBaseDelayMs?: number | undefined;
  onRetry?: ((event: RetryEvent) => void) | undefined;
  maxSockets?: number | undefined;
  freeSocketTimeoutMs?: number | undefined;
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
const FORM = "application/x-www-form-urlencoded";

/** The got instances of a cluster: one for requests without a body, one that adds the form content type. */
interface Http {
  plain: Got;
  form: Got;
}

export class ProxmoxTransport {
  /** Every HTTP exchange, in order (for --debug, tests and benchmarks). */
  readonly requestLog: RequestLogEntry[] = [];

  readonly #name: string;
  readonly #url: string;
  /** `pve1 (https://pve1.lan:8006)`: how a slow request is named on the progress line. */
  readonly #label: string;
  readonly #tokenId: string;
  readonly #secret: Secret;
  readonly #tls: TlsSettings;
  readonly #timeouts: Timeouts;
  readonly #retries: number;
  readonly #retryBaseMs: number;
  readonly #onRetry: ((e: RetryEvent) => void) | undefined;
  readonly #agent: Agent;
  #http: Http | undefined;
  /** Incremented by close(): a request started before it stops at its next failure or backoff. */
  #generation = 0;
  /** Wakes the backoff sleeps in progress (close() ends them). */
  readonly #wakers = new Set<() => void>();

  constructor(opts: TransportOptions) {
    this.#name = opts.name;
    this.#url = opts.url;
    this.#label = `${opts.name} (${opts.url})`;
    this.#tokenId = opts.token.id;
    this.#secret = opts.token.secret;
    this.#tls = opts.tls;
    this.#timeouts = timeoutsWith({ connectMs: opts.connectTimeoutMs, responseMs: opts.timeoutMs });
    this.#retries = Math.max(0, opts.retries ?? DEFAULT_RETRIES);
    this.#retryBaseMs = Math.max(0, opts.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_MS);
    this.#onRetry = opts.onRetry;
    // `timeout` of a keep-alive Agent is the idle (free) socket timeout: Agent.keepSocketAlive sets it on each
    // socket put back in the pool (and takes the server's `Keep-Alive: timeout=N` hint minus 1 s when shorter);
    // a request in flight is timed by got's options below, not by this.
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 8, timeout: opts.freeSocketTimeoutMs ?? FREE_SOCKET_TIMEOUT_MS };
    this.#agent = opts.tls.fingerprint !== undefined
      ? new PinnedAgent({ ...agentOpts, fingerprint: opts.tls.fingerprint, handshakeTimeoutMs: this.#timeouts.connectMs })
      : new Agent(agentOpts);
  }

  /** See ProxmoxClient.close(). */
  close(): void {
    this.#generation++;
    for (const wake of [...this.#wakers]) wake();
    this.#agent.destroy();
  }

  /**
   * Build the got instances on first use: reveals the token secret (SecretError if missing) and reads the CA
   * file. Everything that is the same for every request is merged here, once.
   */
  #init(): Http {
    if (this.#http) return this.#http;
    const secret = this.#secret.reveal();
    registerSecret(secret);
    let certificateAuthority: string | undefined;
    if (this.#tls.ca !== undefined && this.#tls.fingerprint === undefined) {
      // Bounded: a regular file of at most 1 MiB (tls.ts MAX_CA_BYTES), so `tls.ca: /dev/zero` cannot hang (issue 10 item 3).
      certificateAuthority = readCaFile(this.#tls.ca, `clusters.${this.#name}.tls.ca`);
    }
    const plain = got.extend({
      prefixUrl: `${this.#url}/api2/json/`,
      agent: { https: this.#agent },
      https: {
        rejectUnauthorized: this.#tls.insecure !== true,
        ...(certificateAuthority !== undefined ? { certificateAuthority } : {}),
      },
      timeout: gotTimeouts(this.#timeouts),
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: "text",
      handlers: [emptyCacheOptions],
      // The header value is URL-decoded by the server (errata 14); a token secret is a UUID, so no escaping.
      headers: { "user-agent": "homelab", accept: "application/json", authorization: `PVEAPIToken=${this.#tokenId}=${secret}` },
    });
    this.#http = { plain, form: plain.extend({ headers: { "content-type": FORM } }) };
    return this.#http;
  }

  /**
   * One API call. `relPath` is relative to /api2/json with path parameters already encoded (no leading
   * slash needed). Returns the unwrapped `data`.
   */
  async request<T = unknown>(method: HttpMethod, relPath: string, params: PveParams = {}): Promise<T> {
    const http = this.#init();
    const rel = relPath.charCodeAt(0) === 47 /* "/" */ ? relPath.replace(/^\/+/, "") : relPath;
    const encoded = encodeForm(params);
    const hasBody = method === "POST" || method === "PUT";
    // GET/DELETE carry their parameters in the query string (a body there is a 501), encoded as a form is (errata 9).
    const target = !hasBody && encoded !== "" ? `${rel}?${encoded}` : rel;
    const shownPath = redact(`/${target}`);
    const safe = method === "GET";
    let staleRetried = false;
    const generation = this.#generation;
    for (let attempt = 1; ; attempt++) {
      if (this.#generation !== generation) throw this.#closedError(method, shownPath);
      const started = performance.now();
      let response: Response<string> | undefined;
      let failure: unknown;
      const done = watchRequest(this.#label);
      try {
        response = await (hasBody ? http.form(target, { method, body: encoded }) : http.plain(target, { method }));
      } catch (err) {
        failure = err;
      } finally {
        done();
      }
      const status = response?.statusCode ?? 0;
      this.requestLog.push({ method, path: shownPath, status, ms: Math.round(performance.now() - started), attempt });

      if (response && status >= 200 && status < 300) return unwrap<T>(response.body, () => this.#describe(method, shownPath));
      // Closed meanwhile (the run is over): no retry, no further line.
      if (this.#generation !== generation) throw this.#closedError(method, shownPath);

      const code = failure !== undefined ? networkCode(failure) : undefined;
      if (!response && !staleRetried && staleSocket(failure, code)) {
        // Written on a kept-alive socket the server had closed: it never read the request (see the header).
        staleRetried = true;
        this.#onRetry?.({ cluster: this.#name, method, path: shownPath, attempt, reason: `${code} on a reused connection`, delayMs: 0 });
        continue;
      }
      const timedOut = !response && isTimeout(failure);
      const retryable = safe && !timedOut && attempt <= this.#retries && (response ? RETRY_STATUSES.has(status) : code !== undefined && RETRY_CODES.has(code));
      if (!retryable) {
        const desc = this.#describe(method, shownPath);
        if (response) throw httpError(desc, status, response.statusMessage, response.body);
        throw transportError(desc, timedOut ? timeoutFailure(failure, this.#url, this.#timeouts) : failure, this.#timeouts);
      }
      const backoff = Math.min(MAX_RETRY_DELAY_MS, this.#retryBaseMs * 2 ** (attempt - 1));
      const jittered = Math.round(backoff / 2 + Math.random() * (backoff / 2));
      const after = response ? retryAfterMs(response.headers["retry-after"]) : undefined;
      const delayMs = after !== undefined ? Math.min(Math.max(after, jittered), 60_000) : jittered;
      const reason = response ? `${status} ${redact(response.statusMessage ?? "")}`.trim() : code!;
      this.#onRetry?.({ cluster: this.#name, method, path: shownPath, attempt, reason, delayMs });
      await this.#sleep(delayMs);
    }
  }

  /** The request as errors name it (the path is already redacted; so is the URL). */
  #describe(method: HttpMethod, shownPath: string): RequestDescription {
    return { cluster: this.#name, method, path: shownPath, url: redact(`${this.#url}/api2/json${shownPath}`) };
  }

  /** A backoff that ends early when the transport is closed (the loop then stops). */
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

  #closedError(method: HttpMethod, shownPath: string): Error {
    return transportError(this.#describe(method, shownPath), Object.assign(new Error("the client was closed: the run is over"), { code: "ERR_CLIENT_CLOSED" }), this.#timeouts);
  }
}

/**
 * A got handler (called with each request's options before it is sent) that empties `cacheOptions`. homelab
 * sets no `cache`, so they are never read; but got spreads them into the options it builds for node:https
 * (Options.createNativeRequestOptions: `{...cacheOptions, ...unixOptions, ALPNProtocols: ..., 30 more}`), and on
 * Node 20's V8 an object literal that spreads a non-empty object and then adds that many properties takes a slow
 * path: about 0.1-0.2 ms and 17 KB per request, garbage that lives as long as the request and so reaches the old
 * generation (a third of all old-generation garbage of a from-empty apply, bench/probe-heap.mjs). Spreading an
 * empty object takes the fast path. The setter is got's public one; nothing else changes.
 */
const emptyCacheOptions: HandlerFunction = (options, next) => {
  options.cacheOptions = {};
  return next(options);
};

/** Parse Retry-After (seconds or an HTTP date) into ms, or undefined. */
function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
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
function timeoutFailure(err: unknown, origin: string, timeouts: Timeouts): Error {
  return Object.assign(new Error(timeoutText(err, origin, timeouts)), { code: "ETIMEDOUT" });
}

function networkCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === "string") return e.code;
  return typeof e.cause?.code === "string" ? e.cause.code : undefined;
}

function unwrap<T>(body: string, describe: () => RequestDescription): T {
  try {
    const parsed = JSON.parse(body) as { data?: unknown };
    return (parsed?.data ?? null) as T;
  } catch {
    throw transportError(describe(), Object.assign(new Error(`response is not JSON: ${body.slice(0, 200)}`), { code: "E_BAD_RESPONSE" }), { connectMs: 0, responseMs: 0 });
  }
}
