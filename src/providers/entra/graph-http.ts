import { randomUUID } from "node:crypto";
import got, { type Got, type Response } from "got";
import { UserError } from "../../core/errors.js";
import { redact } from "../../log/redact.js";
import { backoff, retryAfterMs, sleep } from "./network.js";
import { gotTimeouts, isTimeout, timeoutHint, timeoutText, timeoutsWith } from "../timeouts.js";
import { watchRequest } from "../waits.js";
import { IN_CHUNK, type Call, type GraphClientOptions, type Reply } from "./graph-call.js";
import { GraphRequestError, graphError, header, parseJson, toError } from "./graph-errors.js";
import type { RequestLogEntry, RetryEvent } from "./types.js";

/**
 * A thin, typed Microsoft Graph v1.0 client (spec sections 3 and 4) on one got instance.
 *
 * Retries (spec 4.3, errata 9.3 and 9.7, STYLE.md section 5):
 * - 429 is retried for EVERY method, POST creates included, after `Retry-After` seconds (capped), or with
 *   exponential backoff and jitter when the header is missing. Spec 4.3: "When throttling occurs, Microsoft Graph
 *   returns 429 ... and the requests fail": a throttled request was refused before it was processed, so
 *   repeating it cannot create a second object.
 * - 5xx, 409 (PATCH only, spec 3.5) and transport errors are retried for calls safe to repeat: GET, PATCH (sets
 *   the same values again), DELETE, and removePassword (an unknown keyId is 204, errata 9.3).
 * - A creating POST (createApplication, addPassword, createServicePrincipal, assignGroup, grantAppRole) that
 *   fails that way may or may not have happened (spec 3.3, 4.3 "re-read before repeating"): before it is
 *   repeated, its `recover` step re-reads by the key homelab owns (the app by its `homelab:` tag, the service
 *   principal by appId, an assignment by principal, resource and role). Found: that object is the result, as
 *   if the POST had answered. For addPassword, which is not idempotent, a credential with the same display
 *   name that started during the failed attempt (by Graph's clock) is removed, since its value is lost, and
 *   the secret is added again. Not found: the POST is repeated. A create without such a key is not repeated.
 * - Eventual consistency (spec 4.4): requests that address an object this client created (or that depend on
 *   one, such as the service principal of a just-created app) treat 404 and the documented replication
 *   400/403 messages as "not replicated yet" and poll again at short, jittered, growing intervals (0.5 s to
 *   3 s by default) until the object shows or its wait budget runs out (per object, shared by every call that
 *   waits for it: default 120 s, `HOMELAB_ENTRA_WAIT_S`). Concurrent calls each poll on their own, so
 *   independent objects are waited for at the same time. Each wait is reported through `onRetry` and, as a
 *   progress message ("waiting for Entra to show the new app: 6 s"), through `onWait`.
 *
 * Errors: GraphRequestError (RemoteError) or GraphAuthError (AuthError, for 401/403) carrying the Graph
 * `error.code`, the message, `request-id` and `client-request-id` (spec 4.1). Every message passes through
 * `redact()`; the request, its headers and its body are never attached.
 */

/** How much longer each replication-lag poll waits than the one before (see lagDelay). */
export const LAG_GROWTH = 1.1;

/** OData string literal: single quotes, `'` doubled (spec 3). */
export function odataString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Longest backoff between retries of a 5xx or a lost connection without Retry-After (a run should not idle for a minute). */
const MAX_BACKOFF_MS = 8000;
/** What a lag wait is for, in progress lines. */
export const NEW_APP = "the new app";
export const NEW_SP = "the new service principal";

export type GraphCore = ReturnType<typeof createGraphCore>;

/**
 * The HTTP side of the Graph client: one got instance, the retries, the replication-lag waits and read-after-write
 * polls described above, paging, and the bookkeeping of objects created in this run. The per-resource modules
 * (graph-applications.ts, graph-secrets.ts, ...) build their calls on it. `onWait` is read at each wait, so the
 * client's settable `onWait` applies from the moment it is set.
 */
export function createGraphCore(opts: GraphClientOptions, onWait: () => ((message: string) => void) | undefined) {
  const graphUrl = opts.graphUrl.replace(/\/+$/, "");
  const base = `${graphUrl}/v1.0/`;
  const origin = new URL(base).origin;
  const retries = opts.retries ?? 6;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
  const consistency = {
    delayMs: opts.consistency?.delayMs ?? 500,
    maxDelayMs: opts.consistency?.maxDelayMs ?? 3000,
    budgetMs: opts.consistency?.budgetMs ?? waitBudgetMs(),
    attempts: opts.consistency?.attempts ?? Infinity,
  };
  const visibility = opts.visibility ?? { times: 5, attempts: 30, delayMs: 1000 };
  const pageSize = opts.pageSize ?? 999;
  const requestLog: RequestLogEntry[] = [];

  /** Object ids (applications, service principals) and appIds created by this client: reads of them may lag. */
  const fresh = new Set<string>();
  /** Per-application lock for credential changes (spec 3.7: terraform serialises them). */
  const locks = new Map<string, Promise<unknown>>();
  /** Fresh object key → when the first wait for it began (ms): one budget per object, shared by its callers. */
  const waitStarted = new Map<string, number>();
  /** Graph's clock minus ours (from the `Date` header of the latest response; 1 s resolution). */
  let skewMs = 0;

  // Connect and answer timeouts (HOMELAB_CONNECT_TIMEOUT_S, HOMELAB_REQUEST_TIMEOUT_S; issue 10 item 10).
  const timeouts = timeoutsWith({ responseMs: opts.timeoutMs });
  const http: Got = got.extend({
    prefixUrl: base,
    throwHttpErrors: false,
    retry: { limit: 0 },
    followRedirect: false,
    responseType: "text",
    timeout: gotTimeouts(timeouts),
    headers: { accept: "application/json" },
  });

  const isFresh = (...ids: Array<string | undefined>): boolean => ids.some((id) => id !== undefined && fresh.has(id.toLowerCase()));
  /** Fresh ids → the object's id (an app is addressed by its object id and by its appId: one wait budget). */
  const freshKey = new Map<string, string>();
  const markFresh = (id: string, ...aliases: Array<string | undefined>): void => {
    for (const x of [id, ...aliases]) {
      if (!x) continue;
      fresh.add(x.toLowerCase());
      freshKey.set(x.toLowerCase(), id.toLowerCase());
    }
  };
  /** What a lag wait on `id` waits for (the same key for every alias of one object). */
  const waitFor = (id: string, what: string): { key: string; what: string } => ({ key: freshKey.get(id.toLowerCase()) ?? id.toLowerCase(), what });

  /** `/applications?$filter=...` (decoded, redacted) for logs and messages. */
  const shownPath = (path: string): string => {
    let p = path.startsWith(`${graphUrl}/v1.0/`) ? path.slice(`${graphUrl}/v1.0`.length) : /^https?:/i.test(path) ? path : `/${path}`;
    try {
      p = decodeURIComponent(p);
    } catch {
      // keep as sent
    }
    return redact(p);
  };

  async function send(call: Call): Promise<Reply> {
    const absolute = /^https?:\/\//i.test(call.path);
    if (absolute && new URL(call.path).origin !== origin)
      // A nextLink elsewhere would receive our bearer token: refuse.
      throw new GraphRequestError({
        service: "graph",
        method: call.method,
        url: redact(call.path.replace(/\?.*$/, "")),
        message: `Graph (tenant ${opts.tenant}) sent a next-page link to another origin than ${origin}; refusing to follow it`,
      });
    const path = shownPath(call.path);
    const repeatable = call.safe || call.recover !== undefined;
    let transient = 0;
    let lagged = 0;
    /**
     * After an ambiguous failure of a creating POST: re-read by its key. Returns the object it made (then the
     * call is done), or undefined (then the POST is repeated).
     */
    const recovered = async (sentAt: number): Promise<Reply | undefined> => {
      if (!call.recover) return undefined;
      // Graph's times are whole seconds (startDateTime, Date): widen the window by one second each side.
      const found = await call.recover({ from: sentAt + skewMs - 1000, to: Date.now() + skewMs + 2000 });
      return found === undefined ? undefined : { status: 200, body: found };
    };
    for (let attempt = 1; ; attempt++) {
      const token = await opts.tokens.getToken();
      const clientRequestId = randomUUID();
      const started = performance.now();
      const sentAt = Date.now();
      let res: Response<string>;
      // A request that takes long shows on the progress line ("waiting for Graph (https://...): 7 s").
      const done = watchRequest(`Graph (${origin})`);
      try {
        res = await http(call.path, {
          method: call.method,
          ...(absolute ? { prefixUrl: "" } : {}),
          headers: { ...call.headers, authorization: `Bearer ${token}`, "client-request-id": clientRequestId },
          ...(call.body !== undefined ? { json: call.body } : {}),
        });
      } catch (err) {
        done();
        requestLog.push({ method: call.method, path, status: 0, ms: Math.round(performance.now() - started), attempt });
        const e = err as { code?: string; message?: string };
        // A timeout is the limit the user set: not repeated (a silent service would otherwise cost retries x timeout).
        if (isTimeout(err))
          throw new GraphRequestError({
            service: "graph",
            method: call.method,
            url: redact(`${base}${path.slice(1)}`),
            message: redact(`Graph (tenant ${opts.tenant}): ${call.what}: timed out (${timeoutText(err, origin, timeouts)})`),
            hint: call.safe ? timeoutHint(origin) : `the request may or may not have been carried out; run again: homelab re-reads the tenant before creating anything. ${timeoutHint(origin)}`,
            cause: new Error(redact(`${e.code ?? ""} ${e.message ?? ""}`.trim())),
            clientRequestId,
          });
        if (repeatable && transient < retries) {
          transient++;
          const waitMs = backoff(retryDelayMs, transient, MAX_BACKOFF_MS);
          opts.onRetry?.({ method: call.method, path, attempt, waitMs, reason: "network" });
          await sleep(waitMs);
          const done = await recovered(sentAt);
          if (done) return done;
          continue;
        }
        throw new GraphRequestError({
          service: "graph",
          method: call.method,
          url: redact(`${base}${path.slice(1)}`),
          message: redact(`Graph (tenant ${opts.tenant}): ${call.what}: no response (${e.code ?? "ERR_NETWORK"}: ${e.message ?? String(err)})`),
          hint: call.safe
            ? `check the network and the tenant's graphUrl (${graphUrl})`
            : `the request may or may not have been carried out; run again: homelab re-reads the tenant before creating anything`,
          cause: new Error(redact(`${e.code ?? ""} ${e.message ?? ""}`.trim())),
          clientRequestId,
        });
      }
      done();
      const status = res.statusCode;
      requestLog.push({ method: call.method, path, status, ms: Math.round(performance.now() - started), attempt });
      const date = Date.parse(header(res.headers.date) ?? "");
      if (!Number.isNaN(date)) skewMs = date - Date.now();
      const body = parseJson(res.body);
      if (status < 300) {
        if (call.waitFor) waitStarted.delete(call.waitFor.key);
        return { status, body };
      }

      const env = graphError(body);
      const retryAfter = retryAfterMs(res.headers["retry-after"], maxRetryAfterMs);
      let reason: RetryEvent["reason"] | undefined;
      if (status === 429) reason = "throttled";
      else if (status >= 500 && repeatable) reason = "unavailable";
      else if (status === 409 && call.method === "PATCH") reason = "conflict";
      if (reason && transient < retries) {
        transient++;
        const waitMs = retryAfter ?? backoff(retryDelayMs, transient, MAX_BACKOFF_MS);
        opts.onRetry?.({ method: call.method, path, attempt, status, waitMs, reason });
        await sleep(waitMs);
        // A throttled request was refused before it was processed (spec 4.3): only a 5xx may have landed.
        if (reason === "unavailable") {
          const done = await recovered(sentAt);
          if (done) return done;
        }
        continue;
      }
      const lagging = call.lag?.(status, env.code, env.message ?? "") ?? false;
      if (lagging && lagged < consistency.attempts) {
        const key = call.waitFor?.key ?? path;
        const first = waitStarted.get(key) ?? Date.now();
        waitStarted.set(key, first);
        const elapsed = Date.now() - first;
        const waitMs = Math.min(lagDelay(lagged + 1), consistency.budgetMs - elapsed);
        if (waitMs > 0) {
          lagged++;
          opts.onRetry?.({ method: call.method, path, attempt, status, waitMs, reason: "not-replicated" });
          onWait()?.(`waiting for Entra to show ${call.waitFor?.what ?? "a new object"}: ${Math.round((elapsed + waitMs) / 1000)} s`);
          await sleep(waitMs);
          continue;
        }
      }
      throw toError({ tenant: opts.tenant, base, graphUrl, retries }, call, path, status, env, res.headers, clientRequestId, transient >= retries && !!reason, lagging ? lagged : undefined);
    }
  }

  /**
   * The wait before lag poll `n` (1-based): `delayMs` growing by LAG_GROWTH per poll, capped, ±20 % jitter. A
   * gentle growth: a few seconds of lag (the usual) cost a few seconds, not the doubling of a backoff; after
   * about 20 polls (25 s) the waits are at the cap.
   */
  function lagDelay(n: number): number {
    const base = Math.min(consistency.maxDelayMs, consistency.delayMs * LAG_GROWTH ** (n - 1));
    return Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
  }

  /**
   * After a create that answered: polls `shows`, the read the NEXT run's plan makes (service principals by
   * appId, the assignments of a service principal), until it shows the new object, at the lag polls' intervals
   * and under that object's wait budget (spec 4.4; terraform probes a new service principal the same way).
   * Without it the next run's read may miss the object under replication lag and POST it again: a write in a
   * run that should change nothing (chain soak C3). The create stands either way: when the budget runs out or
   * the read fails, it returns false and a later run adopts the object (409 / "already exists").
   */
  async function untilShown(key: string, what: string, path: string, shows: () => Promise<boolean>): Promise<boolean> {
    for (let n = 1; ; n++) {
      try {
        if (await shows()) {
          waitStarted.delete(key);
          return true;
        }
      } catch {
        return false;
      }
      if (n > consistency.attempts) return false;
      const first = waitStarted.get(key) ?? Date.now();
      waitStarted.set(key, first);
      const elapsed = Date.now() - first;
      const waitMs = Math.min(lagDelay(n), consistency.budgetMs - elapsed);
      if (waitMs <= 0) return false;
      opts.onRetry?.({ method: "GET", path: shownPath(path), attempt: n, waitMs, reason: "not-replicated" });
      onWait()?.(`waiting for Entra to show ${what}: ${Math.round((elapsed + waitMs) / 1000)} s`);
      await sleep(waitMs);
    }
  }


  async function json<T>(call: Call): Promise<T> {
    return (await send(call)).body as T;
  }

  /** All pages of a collection: follows absolute `@odata.nextLink`s verbatim (spec 3.1). */
  async function list<T>(call: Omit<Call, "method" | "safe">): Promise<T[]> {
    const out: T[] = [];
    let path: string | undefined = call.path;
    while (path !== undefined) {
      const page: { value?: T[]; "@odata.nextLink"?: string } = await json({ ...call, path, method: "GET", safe: true });
      out.push(...(page.value ?? []));
      path = page["@odata.nextLink"];
    }
    return out;
  }

  /** A list read over ids, `IN_CHUNK` per request (Graph's limit for `in (...)`), every page of each. */
  async function chunked<T>(ids: string[], call: (chunk: string[]) => Omit<Call, "method" | "safe">): Promise<T[]> {
    const wanted = [...new Set(ids)].sort();
    const out: T[] = [];
    for (let i = 0; i < wanted.length; i += IN_CHUNK) out.push(...(await list<T>(call(wanted.slice(i, i + IN_CHUNK)))));
    return out;
  }

  const q = (path: string, params: Record<string, string | number | undefined>): string => {
    const parts = Object.entries(params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
    return parts.length ? `${path}?${parts.join("&")}` : path;
  };

  const seg = (id: string): string => encodeURIComponent(id);

  function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    locks.set(key, tail);
    void tail.then(() => {
      if (locks.get(key) === tail) locks.delete(key);
    });
    return next;
  }

  const ownerBind = (ownerId: string): string[] => [`${graphUrl}/v1.0/directoryObjects/${ownerId}`];

  /** Poll `check` until it holds `times` times in a row; bounded by `attempts` polls (spec 3.7, 4.4 point 3, 6). */
  async function waitUntil(what: string, path: string, check: () => Promise<boolean>, v = visibility, progress?: string): Promise<void> {
    let streak = 0;
    const t0 = Date.now();
    for (let attempt = 1; attempt <= v.attempts; attempt++) {
      streak = (await check()) ? streak + 1 : 0;
      if (streak >= v.times) return;
      if (attempt < v.attempts) {
        opts.onRetry?.({ method: "GET", path, attempt, waitMs: v.delayMs, reason: "not-visible" });
        if (progress && streak === 0) onWait()?.(`${progress}: ${Math.round((Date.now() - t0 + v.delayMs) / 1000)} s`);
        await sleep(v.delayMs);
      }
    }
    throw new GraphRequestError({
      service: "graph",
      method: "GET",
      url: `${base}${path.slice(1)}`,
      message: `Graph (tenant ${opts.tenant}): ${what} was not seen ${v.times} times in a row within ${v.attempts} reads`,
      hint: "replication is slow right now; run again later",
    });
  }

  return { opts, graphUrl, base, pageSize, visibility, requestLog, send, json, list, chunked, q, seg, isFresh, markFresh, waitFor, shownPath, untilShown, waitUntil, withLock, ownerBind };
}


/**
 * How long homelab waits for Entra to show one new object (replication lag, spec 4.4): `HOMELAB_ENTRA_WAIT_S`
 * seconds, default 120. A value that is not a positive number is a UserError (exit 3).
 */
export function waitBudgetMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.HOMELAB_ENTRA_WAIT_S;
  if (raw === undefined || raw.trim() === "") return 120_000;
  const secs = Number(raw);
  if (!Number.isFinite(secs) || secs <= 0)
    throw new UserError(`HOMELAB_ENTRA_WAIT_S is not a number of seconds: ${raw}`, {
      code: "E_ARGS",
      hint: "set it to how many seconds homelab may wait for Entra to show a new object (default 120), or unset it",
    });
  return Math.round(secs * 1000);
}
