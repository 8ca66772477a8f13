import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";
import got, { type Got, type Response } from "got";
import { gotTimeouts, isTimeout, timeoutsWith, timeoutText, type Timeouts } from "../timeouts.js";
import { watchRequest } from "../waits.js";
import type { RetryEvent } from "./types.js";

/**
 * Retries of token-endpoint answers 5xx and 429 (chain soak finding C2). The identity platform documents both
 * as transient; a token request is safe to repeat (it creates nothing). They are retried here, below msal,
 * because msal-node's ThrottlingUtils caches a 429/5xx answer and then refuses every later call of that app
 * for the Retry-After time (60 s without the header) without asking the server.
 */
export interface StatusRetry {
  /** Retries after the first answer (default 5). */
  retries: number;
  /** First backoff step without Retry-After, ms (doubles with jitter, up to 8 s). */
  delayMs: number;
  /** Longest Retry-After honoured, ms. */
  maxRetryAfterMs: number;
  onRetry?: (e: RetryEvent) => void;
}

/** Longest backoff without Retry-After: a run should not idle for a minute behind one token request. */
const MAX_STATUS_BACKOFF_MS = 8000;

/**
 * msal-node's HTTP transport, on got (spec 2.4, DESIGN.md performance budget). msal-node 5+ falls back to
 * Node's global `fetch`, whose first call loads undici (+0.26 s on every run); handing msal this module as
 * `system.networkClient` keeps that cost away and puts every Entra request on the same HTTP stack.
 *
 * Contract (spec 2.4 [V]): `body` is the parsed JSON object, `status` the HTTP status, header values are
 * strings (arrays joined), and a non-2xx response is returned, never thrown, so msal can read
 * `error`/`error_codes` and its own throttling headers. Only transport failures (no response) throw; msal turns
 * them into `ClientAuthError network_error` and drops the original, so the last one is kept in
 * `lastTransportError` for the token source to name (ECONNREFUSED, ETIMEDOUT, ...).
 *
 * Timeouts (issue 10 item 10, src/providers/timeouts.ts): connect plus TLS handshake, then the wait for the
 * answer, from HOMELAB_CONNECT_TIMEOUT_S / HOMELAB_REQUEST_TIMEOUT_S (10 s / 30 s); a timed-out request's
 * `lastTransportError` names the origin, the timeout and its variable. A request waiting longer than 3 s is
 * shown on the progress line as `waiting for Entra ID (https://login.microsoftonline.com): 5 s`.
 */
export class GotNetworkModule implements INetworkModule {
  private readonly http: Got;
  /** The most recent request that got no HTTP response at all, for error messages (never holds a request body). */
  lastTransportError: { code: string; message: string; url: string } | undefined;
  /** How 5xx and 429 answers are retried; the token source sets it (its options) before each token request. */
  statusRetry: StatusRetry = { retries: 5, delayMs: 500, maxRetryAfterMs: 30_000 };

  /** Connect and response timeouts, ms. */
  readonly timeouts: Timeouts;

  /** `timeoutMs`: the response timeout, `connectTimeoutMs` the connect one; each defaults to its variable (timeouts.ts). */
  constructor(opts: { timeoutMs?: number; connectTimeoutMs?: number } = {}) {
    this.timeouts = timeoutsWith({ connectMs: opts.connectTimeoutMs, responseMs: opts.timeoutMs });
    this.http = got.extend({
      throwHttpErrors: false,
      retry: { limit: 0 },
      followRedirect: false,
      // Text, parsed below: an HTML error page from a proxy must reach msal as an error body, not a ParseError.
      responseType: "text",
      timeout: gotTimeouts(this.timeouts),
    });
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>("POST", url, options);
  }

  /** One request, repeated while it is answered 5xx or 429 (see StatusRetry), at most `statusRetry.retries` times. */
  private async send<T>(method: "GET" | "POST", url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.once(method, url, options, timeout);
      const r = this.statusRetry;
      const retryable = res.statusCode === 429 || (res.statusCode >= 500 && res.statusCode <= 599);
      if (!retryable || attempt > r.retries)
        return { status: res.statusCode, headers: flattenHeaders(res.headers), body: parseBody(res.body, res.statusCode) as T };
      const waitMs = retryAfterMs(res.headers["retry-after"], r.maxRetryAfterMs) ?? backoff(r.delayMs, attempt, MAX_STATUS_BACKOFF_MS);
      r.onRetry?.({ method, path: new URL(url).pathname, attempt, status: res.statusCode, waitMs, reason: res.statusCode === 429 ? "throttled" : "unavailable" });
      await sleep(waitMs);
    }
  }

  private async once(method: "GET" | "POST", url: string, options?: NetworkRequestOptions, timeout?: number): Promise<Response<string>> {
    let res: Response<string>;
    const origin = originOf(url);
    const done = watchRequest(`Entra ID (${origin})`);
    try {
      res = await this.http(url, {
        method,
        headers: { ...(options?.headers ?? {}) },
        ...(method === "POST" && options?.body !== undefined ? { body: options.body } : {}),
        ...(timeout !== undefined && timeout > 0 ? { timeout: { request: timeout } } : {}),
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      // The URL carries only the tenant and a client-request-id; the form body (with the secret) is never kept.
      this.lastTransportError = isTimeout(err)
        ? { code: "ETIMEDOUT", message: timeoutText(err, origin, this.timeouts), url: url.replace(/\?.*$/, "") }
        : { code: e.code ?? "ERR_NETWORK", message: e.message ?? String(err), url: url.replace(/\?.*$/, "") };
      throw err;
    } finally {
      done();
    }
    return res;
  }
}

/** `https://host:port` of a URL (the URL itself when it cannot be parsed). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** `Retry-After` in seconds or as an HTTP date, capped at `capMs`; undefined when absent or unreadable. */
export function retryAfterMs(v: string | string[] | undefined, capMs: number): number | undefined {
  const h = Array.isArray(v) ? v[0] : v;
  if (h === undefined || h.trim() === "") return undefined;
  const secs = Number(h);
  let ms: number;
  if (Number.isFinite(secs)) ms = secs * 1000;
  else {
    const at = Date.parse(h);
    if (Number.isNaN(at)) return undefined;
    ms = at - Date.now();
  }
  return Math.min(capMs, Math.max(0, Math.round(ms)));
}

/** Lower-case names (as got gives them; msal v7 looks headers up case-insensitively), array values joined. */
export function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

function parseBody(text: string, status: number): unknown {
  if (text.trim() === "") return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === "object" && v !== null) return v;
  } catch {
    // fall through
  }
  // Not JSON (a proxy's HTML page): give msal an error envelope it understands rather than a string.
  return { error: "invalid_response", error_description: `HTTP ${status}: the identity endpoint answered with a non-JSON body` };
}

/** Exponential backoff with "equal jitter" (errata 9.7): at least half of `base * 2^(attempt-1)`, capped. */
export function backoff(baseMs: number, attempt: number, capMs = 60_000): number {
  const exp = Math.min(capMs, baseMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
