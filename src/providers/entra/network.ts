import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from "@azure/msal-node";
import got, { type Got, type Response } from "got";

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
 */
export class GotNetworkModule implements INetworkModule {
  private readonly http: Got;
  /** The most recent request that got no HTTP response at all, for error messages (never holds a request body). */
  lastTransportError: { code: string; message: string; url: string } | undefined;

  constructor(opts: { timeoutMs?: number } = {}) {
    this.http = got.extend({
      throwHttpErrors: false,
      retry: { limit: 0 },
      followRedirect: false,
      // Text, parsed below: an HTML error page from a proxy must reach msal as an error body, not a ParseError.
      responseType: "text",
      timeout: { request: opts.timeoutMs ?? 30_000 },
    });
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>("POST", url, options);
  }

  private async send<T>(method: "GET" | "POST", url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    let res: Response<string>;
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
      this.lastTransportError = { code: e.code ?? "ERR_NETWORK", message: e.message ?? String(err), url: url.replace(/\?.*$/, "") };
      throw err;
    }
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: parseBody(res.body, res.statusCode) as T };
  }
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
