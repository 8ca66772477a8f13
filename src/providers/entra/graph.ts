import { randomUUID } from "node:crypto";
import got, { type Got, type Response } from "got";
import { Secret } from "../../config/secret.js";
import { AuthError, RemoteError, UserError } from "../../core/errors.js";
import { redact } from "../../log/redact.js";
import { backoff, retryAfterMs, sleep } from "./network.js";
import { gotTimeouts, isTimeout, timeoutHint, timeoutText, timeoutsWith } from "../timeouts.js";
import { watchRequest } from "../waits.js";
// Type-only: a Graph client loads got, not msal (a bootstrap may bring its own token source).
import type { TokenSource } from "./token.js";
import type {
  AppRoleAssignment,
  ApplicationCreate,
  ApplicationPatch,
  EntraApplication,
  EntraGroup,
  EntraMember,
  EntraUser,
  EntraUserStatus,
  NewPassword,
  PasswordCredential,
  RequestLogEntry,
  RetryEvent,
  ServicePrincipal,
} from "./types.js";

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

export const DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000";

/** The marker an app homelab manages for a realm carries in `tags` (identity is never the display name). */
export function realmTag(realm: string): string {
  return `homelab:realm=${realm}`;
}

/** OData string literal: single quotes, `'` doubled (spec 3). */
export function odataString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export interface GraphErrorInfo {
  /** Graph `error.code`, e.g. `Request_ResourceNotFound`. */
  graphCode?: string;
  /** `innerError["client-request-id"]` (we send one per request). */
  clientRequestId?: string;
}

export class GraphRequestError extends RemoteError implements GraphErrorInfo {
  readonly graphCode?: string;
  readonly clientRequestId?: string;
  constructor(opts: ConstructorParameters<typeof RemoteError>[0] & GraphErrorInfo) {
    super({ ...opts, code: opts.code ?? "E_GRAPH" });
    if (opts.graphCode !== undefined) this.graphCode = opts.graphCode;
    if (opts.clientRequestId !== undefined) this.clientRequestId = opts.clientRequestId;
  }
}

export class GraphAuthError extends AuthError implements GraphErrorInfo {
  readonly graphCode?: string;
  readonly clientRequestId?: string;
  constructor(opts: ConstructorParameters<typeof AuthError>[0] & GraphErrorInfo) {
    super(opts);
    if (opts.graphCode !== undefined) this.graphCode = opts.graphCode;
    if (opts.clientRequestId !== undefined) this.clientRequestId = opts.clientRequestId;
  }
}

/** Graph code of an error thrown by this client, if any. */
export function graphCodeOf(err: unknown): string | undefined {
  return err instanceof GraphRequestError || err instanceof GraphAuthError ? err.graphCode : undefined;
}

export interface GraphClientOptions {
  /** Graph origin, e.g. https://graph.microsoft.com (requests go to `${graphUrl}/v1.0/`). */
  graphUrl: string;
  tokens: Pick<TokenSource, "getToken" | "clientId">;
  /** The tenant's name in homelab.yaml, for messages. */
  tenant: string;
  /** Retries of throttled / failed calls (default 6: a run converges through a quarter of requests failing). */
  retries?: number;
  /** First backoff step without Retry-After, ms (default 1000; doubles, with jitter, up to 8 s). */
  retryDelayMs?: number;
  /** Longest Retry-After honoured, ms (default 60 000). */
  maxRetryAfterMs?: number;
  onRetry?: (e: RetryEvent) => void;
  /** Progress while waiting for Entra to show a new object, e.g. "waiting for Entra to show the new app: 6 s". */
  onWait?: (message: string) => void;
  /**
   * Replication-lag polls after a create (spec 4.4): first wait `delayMs` (default 500), growing by a tenth
   * per poll up to `maxDelayMs` (default 3000), each jittered by ±20 %, until `budgetMs` has passed since the
   * first wait for that object (default HOMELAB_ENTRA_WAIT_S seconds, else 120 s). `attempts` optionally caps
   * the number of polls per call (tests).
   */
  consistency?: { delayMs?: number; maxDelayMs?: number; budgetMs?: number; attempts?: number };
  /** Read-after-write polls (spec 3.7, 6): consecutive sightings required, poll budget, wait between polls. Default 5, 30, 1000. */
  visibility?: { times: number; attempts: number; delayMs: number };
  /** `$top` for collection reads (default 999, the maximum; tests use small pages). */
  pageSize?: number;
  /** The answer timeout, ms (default HOMELAB_REQUEST_TIMEOUT_S, 30 s); the connect timeout is HOMELAB_CONNECT_TIMEOUT_S's. */
  timeoutMs?: number;
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";

interface Call {
  method: Method;
  /** Relative to `${graphUrl}/v1.0/` (no leading slash), or an absolute `@odata.nextLink`. */
  path: string;
  body?: unknown;
  /** Extra request headers (`Prefer: create-if-missing`). */
  headers?: Record<string, string>;
  /** Safe to repeat after a 5xx or a transport error. */
  safe: boolean;
  /** Treat these failures as replication lag (only set when the addressed object is known to be fresh). */
  lag?: (status: number, code: string | undefined, message: string) => boolean;
  /** The fresh object a lag wait is for: its key (one wait budget per object) and words for the progress line. */
  waitFor?: { key: string; what: string };
  /**
   * For a creating POST: re-read by the key homelab owns after an ambiguous failure (5xx, no response), given
   * the failed attempt's time window on Graph's clock. Returns the object when the attempt landed (it becomes
   * the call's result), undefined to repeat the POST. Its presence makes the POST repeatable.
   */
  recover?: (window: { from: number; to: number }) => Promise<unknown>;
  /** Permission named in the hint of a 403 Authorization_RequestDenied. */
  permission?: string;
  /** What the call does, for messages: "create application 'Proxmox VE'". */
  what: string;
}

interface Reply {
  status: number;
  body: unknown;
}

const APP_SELECT = [
  "id",
  "appId",
  "displayName",
  "tags",
  "notes",
  "signInAudience",
  "web",
  "groupMembershipClaims",
  "optionalClaims",
  "requiredResourceAccess",
  "passwordCredentials",
  "appRoles",
].join(",");
const SP_SELECT = "id,appId,displayName,appDisplayName,appRoleAssignmentRequired,accountEnabled,tags";
const GROUP_SELECT = "id,displayName,securityEnabled,mailEnabled,groupTypes";
const USER_SELECT = "id,displayName,userPrincipalName,mail";
/**
 * A group member as members sync needs it (issue 13): the three keys a username claim can name (`id`, UPN, mail),
 * the names a new Proxmox user gets, and `accountEnabled` (returned only when selected, and only with
 * User.Read.All or Directory.Read.All: null otherwise, sim13 notes).
 */
const MEMBER_SELECT = "id,userPrincipalName,mail,givenName,surname,accountEnabled";
/** A directory user as leaver detection needs it: the claim keys and whether the account is enabled. */
const USER_STATUS_SELECT = "id,userPrincipalName,mail,accountEnabled";
/** Longest backoff between retries of a 5xx or a lost connection without Retry-After (a run should not idle for a minute). */
const MAX_BACKOFF_MS = 8000;
/** Graph accepts at most 15 values in one `in (...)` (and 15 `or` terms) on directory objects. */
const IN_CHUNK = 15;

const PERM = {
  readApps: "Application.Read.All (or Application.ReadWrite.OwnedBy)",
  writeApps: "Application.ReadWrite.OwnedBy and ownership of the object (homelab makes the automation app its owner when it creates it)",
  assign: "AppRoleAssignment.ReadWrite.All plus Application.Read.All (Microsoft Graph wants both to assign a group to an app)",
  grant: "AppRoleAssignment.ReadWrite.All and Application.ReadWrite.All, by an account with a role that may grant application permissions (Privileged Role Administrator or Global Administrator)",
  groups: "GroupMember.Read.All or Group.Read.All",
  users: "User.ReadBasic.All or User.Read.All",
  members: "GroupMember.Read.All (or Group.Read.All) to list a group's members, and User.Read.All to read their names and whether their accounts are enabled (homelab bootstrap grants both)",
  userStatus: "User.Read.All (or Directory.Read.All), which reads whether accounts are enabled (homelab bootstrap grants it)",
};

const notFound = (status: number): boolean => status === 404;

export type GraphClient = ReturnType<typeof createGraphClient>;

export function createGraphClient(opts: GraphClientOptions) {
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
  /** appId → service principal created (or found) in this run: lists may not show it yet (spec 4.4 point 5). */
  const knownSp = new Map<string, ServicePrincipal>();
  /** Per-application lock for credential changes (spec 3.7: terraform serialises them). */
  const locks = new Map<string, Promise<unknown>>();
  let callerSp: Promise<ServicePrincipal> | undefined;
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
  const NEW_APP = "the new app";
  const NEW_SP = "the new service principal";

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
          client.onWait?.(`waiting for Entra to show ${call.waitFor?.what ?? "a new object"}: ${Math.round((elapsed + waitMs) / 1000)} s`);
          await sleep(waitMs);
          continue;
        }
      }
      throw toError(call, path, status, env, res.headers, clientRequestId, transient >= retries && !!reason, lagging ? lagged : undefined);
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
      client.onWait?.(`waiting for Entra to show ${what}: ${Math.round((elapsed + waitMs) / 1000)} s`);
      await sleep(waitMs);
    }
  }

  /** Waits (untilShown) until the list by appId, which the next run's read uses, shows service principal `sp`. */
  function untilSpListed(appId: string, sp: ServicePrincipal): Promise<boolean> {
    return untilShown(waitFor(sp.id, NEW_SP).key, NEW_SP, q("servicePrincipals", { $filter: `appId eq ${odataString(appId)}` }), async () =>
      (await listServicePrincipals(appId)).some((x) => x.id.toLowerCase() === sp.id.toLowerCase()),
    );
  }

  function toError(
    call: Call,
    path: string,
    status: number,
    env: { code?: string; message?: string; requestId?: string; clientRequestId?: string },
    headers: Record<string, string | string[] | undefined>,
    clientRequestId: string,
    exhausted: boolean,
    /** Set when the failure is replication lag that outlasted its wait: the polls made. */
    lagged: number | undefined,
  ): GraphRequestError | GraphAuthError {
    const requestId = env.requestId ?? header(headers["request-id"]);
    const detail = `${env.code ?? `HTTP ${status}`}${env.message ? `: ${env.message}` : ""}`;
    const message = redact(`Graph (tenant ${opts.tenant}): ${call.what}: HTTP ${status} ${detail}`);
    const common = {
      service: "graph",
      method: call.method,
      url: redact(`${base}${path.slice(1)}`),
      status,
      message,
      ...(requestId ? { requestId } : {}),
      ...(env.code ? { graphCode: env.code } : {}),
      clientRequestId: env.clientRequestId ?? clientRequestId,
    };
    // Still not replicated when the wait ran out (a 403 "backing application ... local tenant" included, spec
    // 3.8): a remote condition, not a missing permission.
    if (lagged !== undefined)
      return new GraphRequestError({
        ...common,
        hint: `Entra did not show ${call.waitFor?.what ?? "the new object"} after ${lagged} retries (replication lag); run again, or allow a longer wait with HOMELAB_ENTRA_WAIT_S (seconds, default 120)`,
      });
    if (status === 401)
      return new GraphAuthError({
        ...common,
        hint: `Graph refused the access token: check that the tenant's graphUrl (${graphUrl}) belongs to the same cloud as its loginUrl`,
      });
    if (status === 403)
      return new GraphAuthError({
        ...common,
        hint:
          env.code === "Authorization_RequestDenied"
            ? `the automation app lacks a permission for this: it needs ${call.permission ?? PERM.writeApps}, granted with admin consent`
            : `Graph denied the request; check the automation app's permissions`,
      });
    let hint: string | undefined;
    if (status === 429) hint = `Graph kept throttling after ${retries} retries; run again later`;
    else if (status >= 500 && !call.safe)
      hint = "the request may or may not have been carried out; run again: homelab re-reads the tenant before creating anything";
    else if (status >= 500 && exhausted) hint = `Graph kept failing after ${retries} retries; run again later`;
    return new GraphRequestError({ ...common, ...(hint ? { hint } : {}) });
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

  /** Service principals of an app by `$filter=appId eq` (spec 3.8: expect 0 or 1). */
  function listServicePrincipals(appId: string): Promise<ServicePrincipal[]> {
    return list<ServicePrincipal>({
      path: q("servicePrincipals", { $filter: `appId eq ${odataString(appId)}`, $select: SP_SELECT }),
      permission: PERM.readApps,
      what: `find the service principal of app ${appId}`,
    });
  }

  async function findServicePrincipal(appId: string): Promise<ServicePrincipal | undefined> {
    const known = knownSp.get(appId.toLowerCase());
    if (known) {
      // Created in this run: read it by id (lists may lag, spec 4.4 point 5); still 404 after the waits = gone.
      try {
        return await json<ServicePrincipal>({
          method: "GET",
          path: q(`servicePrincipals/${seg(known.id)}`, { $select: SP_SELECT }),
          safe: true,
          lag: notFound,
          waitFor: waitFor(known.id, NEW_SP),
          permission: PERM.readApps,
          what: `read service principal ${known.id}`,
        });
      } catch (err) {
        if (!(err instanceof GraphRequestError && err.status === 404)) throw err;
        knownSp.delete(appId.toLowerCase());
        return undefined;
      }
    }
    const found = await listServicePrincipals(appId);
    if (found.length > 1)
      throw new GraphRequestError({
        service: "graph",
        method: "GET",
        url: `${base}servicePrincipals`,
        message: `Graph (tenant ${opts.tenant}): ${found.length} service principals for app ${appId}; expected at most one`,
      });
    return found[0];
  }

  /** Poll `check` until it holds `times` times in a row; bounded by `attempts` polls (spec 3.7, 4.4 point 3, 6). */
  async function waitUntil(what: string, path: string, check: () => Promise<boolean>, v = visibility, progress?: string): Promise<void> {
    let streak = 0;
    const t0 = Date.now();
    for (let attempt = 1; attempt <= v.attempts; attempt++) {
      streak = (await check()) ? streak + 1 : 0;
      if (streak >= v.times) return;
      if (attempt < v.attempts) {
        opts.onRetry?.({ method: "GET", path, attempt, waitMs: v.delayMs, reason: "not-visible" });
        if (progress && streak === 0) client.onWait?.(`${progress}: ${Math.round((Date.now() - t0 + v.delayMs) / 1000)} s`);
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

  /** createApplication by `uniqueName` (spec 3.4); see there. */
  async function upsertApplication(body: ApplicationCreate, ownerId: string, uniqueName: string): Promise<EntraApplication & { adopted?: boolean }> {
    const byKey = `applications(uniqueName=${odataString(uniqueName)})`;
    let ambiguous = false;
    let reply: Reply | undefined;
    try {
      reply = await send({
        method: "PATCH",
        path: byKey,
        body: { ...body, "owners@odata.bind": ownerBind(ownerId) },
        headers: { prefer: "create-if-missing" },
        safe: true,
        // Only to learn that an attempt was ambiguous: the upsert itself is what makes a repeat safe.
        recover: async () => {
          ambiguous = true;
          return undefined;
        },
        permission: PERM.writeApps,
        what: `create application '${body.displayName}'`,
      });
    } catch (err) {
      if (!(err instanceof GraphRequestError && err.status === 400 && err.graphCode === "Request_MultipleObjectsWithSameKeyValue")) throw err;
    }
    if (reply?.status === 201 && reply.body && typeof reply.body === "object") {
      const app = reply.body as EntraApplication;
      markFresh(app.id, app.appId);
      return app;
    }
    // 204 or "already exists": it exists, so a 404 on reading it by its key is replication lag.
    const app = await json<EntraApplication>({
      method: "GET",
      path: q(byKey, { $select: APP_SELECT }),
      safe: true,
      lag: notFound,
      waitFor: { key: `app-named:${uniqueName.toLowerCase()}`, what: NEW_APP },
      permission: PERM.readApps,
      what: `read application ${uniqueName}`,
    }).catch((err: unknown) => {
      if (!(err instanceof GraphRequestError && err.status === 404)) throw err;
      // Refused as a duplicate, yet never readable: most likely an app deleted to "Deleted applications", which
      // may keep its key [U: spec 8 item 5, the upsert is not verified against the live service].
      throw new GraphRequestError({
        service: "graph",
        method: "GET",
        url: `${base}${byKey}`,
        status: 404,
        message: `Graph (tenant ${opts.tenant}): an app registration with uniqueName '${uniqueName}' exists but cannot be read`,
        hint: `if it was deleted, restore it from "Deleted applications" in the Entra admin center (homelab then takes it back) or delete it permanently there; otherwise run again later (replication lag)`,
        cause: err,
      });
    });
    markFresh(app.id, app.appId);
    return ambiguous ? app : { ...app, adopted: true };
  }

  const client = {
    /** Every request made (method, path, status, ms, attempt), for `--debug`. Paths carry no secrets. */
    requestLog,

    /** Where waits for Entra to show a new object are reported (progress line); settable after creation. */
    onWait: opts.onWait as ((message: string) => void) | undefined,

    /** Applications carrying `tag` (one request per page; spec 3.1). Includes apps homelab may not own. */
    async listApplicationsByTag(tag: string): Promise<EntraApplication[]> {
      return list<EntraApplication>({
        path: q("applications", { $filter: `tags/any(t:t eq ${odataString(tag)})`, $select: APP_SELECT, $top: pageSize }),
        permission: PERM.readApps,
        what: `list applications tagged '${tag}'`,
      });
    },

    /** One application by object id; 404 means absent unless this client just created it (then it waits). */
    async getApplication(id: string): Promise<EntraApplication> {
      return json<EntraApplication>({
        method: "GET",
        path: q(`applications/${seg(id)}`, { $select: APP_SELECT }),
        safe: true,
        ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
        permission: PERM.readApps,
        what: `read application ${id}`,
      });
    },

    /**
     * Creates an application with `ownerId` (the automation app's service principal object id) as owner, so
     * that Application.ReadWrite.OwnedBy can manage it later (errata 9.2). The response is authoritative (spec
     * 4.4): its ids are kept and later reads of them wait out lag.
     *
     * With `uniqueName` (every realm app), the create is the upsert of spec 3.4, `PATCH
     * /applications(uniqueName='…')` with `Prefer: create-if-missing`: Graph itself refuses a second app with
     * that key, even while the first is still replicating, so a create whose answer was lost, or that a killed
     * run made, is never made twice (chain soak C1: a re-read by tag misses an app that is not visible yet).
     * It is safe to repeat after a 5xx or a lost answer. Its outcomes: 201, the app made now; 204, it existed
     * and was updated to this body; 400 Request_MultipleObjectsWithSameKeyValue, it exists but is not visible
     * yet. In the last two the app is read by its key (waiting out lag) and returned with `adopted: true`,
     * unless an earlier attempt of this call failed ambiguously (then it is most likely that attempt's).
     *
     * Without `uniqueName` (the automation app of `bootstrap`) it is a POST, repeated after an ambiguous failure
     * only when the body carries a `homelab:` identity tag and a re-read by that tag found no app.
     */
    async createApplication(body: ApplicationCreate, ownerId: string, uniqueName?: string): Promise<EntraApplication & { adopted?: boolean }> {
      if (uniqueName !== undefined) return upsertApplication(body, ownerId, uniqueName);
      const tag = (Array.isArray(body.tags) ? (body.tags as unknown[]) : []).find((t): t is string => typeof t === "string" && t.startsWith("homelab:"));
      const app = await json<EntraApplication>({
        method: "POST",
        path: "applications",
        body: { ...body, "owners@odata.bind": ownerBind(ownerId) },
        safe: false,
        ...(tag
          ? {
              recover: async () => {
                const found = await client.listApplicationsByTag(tag);
                if (found.length > 1)
                  throw new GraphRequestError({
                    service: "graph",
                    method: "POST",
                    url: `${base}applications`,
                    message: `Graph (tenant ${opts.tenant}): ${found.length} app registrations carry the tag ${tag} (${found.map((a) => a.appId).join(", ")}) after a failed create`,
                    hint: "homelab never creates two: delete the extra app registration in Entra ID, then run again",
                  });
                return found[0];
              },
            }
          : {}),
        permission: PERM.writeApps,
        what: `create application '${body.displayName}'`,
      });
      markFresh(app.id, app.appId);
      return app;
    },

    /**
     * Applications named `displayName` (one filtered request, every page; spec 3.1: display names are not
     * unique). Graph compares case-insensitively; only exact matches are returned.
     */
    async findApplicationsByDisplayName(displayName: string): Promise<EntraApplication[]> {
      const found = await list<EntraApplication>({
        path: q("applications", { $filter: `displayName eq ${odataString(displayName)}`, $select: APP_SELECT, $top: pageSize }),
        permission: PERM.readApps,
        what: `find applications named '${displayName}'`,
      });
      return found.filter((a) => a.displayName === displayName);
    },

    /** PATCH: lists are replaced whole, nested objects merged (errata 9.9). Repeated on 409/5xx (idempotent). */
    async updateApplication(id: string, patch: ApplicationPatch): Promise<void> {
      await send({
        method: "PATCH",
        path: `applications/${seg(id)}`,
        body: patch,
        safe: true,
        ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
        permission: PERM.writeApps,
        what: `update application ${id}`,
      });
    },

    /** Deletes (to deleted items, spec 3.6). Idempotent: an application already gone counts as deleted. */
    async deleteApplication(id: string): Promise<void> {
      try {
        await send({
          method: "DELETE",
          path: `applications/${seg(id)}`,
          safe: true,
          ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `delete application ${id}`,
        });
      } catch (err) {
        if (err instanceof GraphRequestError && err.status === 404) return;
        throw err;
      }
    },

    /**
     * Adds a client secret (spec 3.7). `secretText` comes back once and is wrapped in a Secret at once
     * (registered for redaction). Serialised per app. Not idempotent: after an ambiguous failure (5xx, no
     * response) the app's credentials are re-listed, a credential named `cred.displayName` that started during
     * the failed attempt (Graph's clock, to the second) is removed (its value is lost with the response), and the
     * secret is added again. A credential still replicating when re-listed (spec 3.7) cannot be seen: it is
     * left, and the next plan removes it as a homelab secret not in use.
     */
    async addPassword(id: string, cred: { displayName: string; endDateTime: string }): Promise<NewPassword> {
      return withLock(`app:${id.toLowerCase()}`, async () => {
        const recover = async (window: { from: number; to: number }): Promise<undefined> => {
          const app = await client.getApplication(id);
          const landed = (app.passwordCredentials ?? []).filter((c) => {
            const start = Date.parse(c.startDateTime);
            return c.displayName === cred.displayName && start >= window.from && start <= window.to;
          });
          // Not through removePassword: this runs inside the app's credential lock.
          for (const c of landed)
            await send({
              method: "POST",
              path: `applications/${seg(id)}/removePassword`,
              body: { keyId: c.keyId },
              safe: true,
              ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
              permission: PERM.writeApps,
              what: `remove client secret ${c.keyId} (added by an attempt whose answer was lost) from application ${id}`,
            });
          return undefined;
        };
        const r = await json<PasswordCredential & { secretText?: string }>({
          method: "POST",
          path: `applications/${seg(id)}/addPassword`,
          body: { passwordCredential: { displayName: cred.displayName, endDateTime: cred.endDateTime } },
          safe: false,
          recover,
          ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `add a client secret '${cred.displayName}' to application ${id}`,
        }).catch((err: unknown) => {
          // Errata 9.6 / spec 6: the tenant's app management policy caps secret lifetimes: a config problem.
          if (err instanceof GraphRequestError && err.graphCode === "CredentialInvalidLifetimeAsPerAppPolicy")
            throw new UserError(`tenant ${opts.tenant} refuses a client secret valid until ${cred.endDateTime}: ${err.message}`, {
              code: "E_SECRET_POLICY",
              hint: "the tenant's app management policy limits secret lifetime: lower realms.<realm>.app.secret.lifetimeDays",
              cause: err,
            });
          throw err;
        });
        if (typeof r.secretText !== "string" || r.secretText === "")
          throw new GraphRequestError({
            service: "graph",
            method: "POST",
            url: `${base}applications/${seg(id)}/addPassword`,
            message: `Graph (tenant ${opts.tenant}): addPassword on application ${id} returned no secretText`,
          });
        const secretText = Secret.fromValue(r.secretText, `entra.secret/${opts.tenant}:${id}:${r.keyId}`);
        delete r.secretText;
        return {
          keyId: r.keyId,
          displayName: r.displayName ?? null,
          hint: r.hint ?? null,
          startDateTime: r.startDateTime,
          endDateTime: r.endDateTime,
          secretText,
        };
      });
    },

    /** Removes a client secret; an unknown keyId is fine (errata 9.3), so it is repeated on 5xx. Serialised per app. */
    async removePassword(id: string, keyId: string): Promise<void> {
      await withLock(`app:${id.toLowerCase()}`, () =>
        send({
          method: "POST",
          path: `applications/${seg(id)}/removePassword`,
          body: { keyId },
          safe: true,
          ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `remove client secret ${keyId} from application ${id}`,
        }),
      );
    },

    /**
     * Waits until the application's `passwordCredentials` shows (`present: true`) or no longer shows `keyId`
     * `visibility.times` reads in a row (spec 6 rotation steps 2 and 4; terraform uses 5). Bounded by
     * `visibility.attempts` reads; each wait is reported through onRetry (reason "not-visible"). Returns the
     * application as the last read showed it.
     */
    async waitForPassword(id: string, keyId: string, present: boolean, v = visibility): Promise<EntraApplication | undefined> {
      const path = `/applications/${id}`;
      const progress = present ? "waiting for Entra to show the new client secret" : "waiting for Entra to drop the old client secret";
      let last: EntraApplication | undefined;
      await waitUntil(`client secret ${keyId} ${present ? "on" : "gone from"} application ${id}`, path, async () => {
        let app: EntraApplication;
        try {
          app = await client.getApplication(id);
        } catch (err) {
          if (err instanceof GraphRequestError && err.status === 404) return false;
          throw err;
        }
        last = app;
        const has = (app.passwordCredentials ?? []).some((c) => c.keyId.toLowerCase() === keyId.toLowerCase());
        return has === present;
      }, v, progress);
      return last;
    },

    /** The app's service principal (0 or 1), by `$filter=appId eq` (spec 3.8), or by id when created in this run. */
    findServicePrincipal,

    /**
     * Creates the app's service principal (needed before any of its secrets work, errata 9.1), owned by
     * `ownerId` when given (errata 9.2). A 409 Request_MultipleObjectsWithSameKeyValue (errata 9.5) means it
     * exists: the existing one is returned with `created: false` (adopted), unless an earlier attempt of this
     * call failed ambiguously (then it is most likely that attempt's). After an ambiguous failure it is looked
     * up by appId before the POST is repeated. Right after the app was created, the replication errors of
     * spec 3.8 are retried.
     */
    async createServicePrincipal(
      appId: string,
      o: { ownerId?: string; tags?: string[]; appRoleAssignmentRequired?: boolean } = {},
    ): Promise<{ servicePrincipal: ServicePrincipal; created: boolean }> {
      const replicating = (status: number, code: string | undefined, message: string): boolean =>
        status === 404 ||
        (status === 400 && /does not reference a valid application object/i.test(message)) ||
        (status === 403 && /backing application of the service principal/i.test(message));
      let ambiguous = false;
      try {
        const sp = await json<ServicePrincipal>({
          method: "POST",
          path: "servicePrincipals",
          body: {
            appId,
            ...(o.tags ? { tags: o.tags } : {}),
            ...(o.appRoleAssignmentRequired !== undefined ? { appRoleAssignmentRequired: o.appRoleAssignmentRequired } : {}),
            ...(o.ownerId ? { "owners@odata.bind": ownerBind(o.ownerId) } : {}),
          },
          safe: false,
          recover: async () => {
            ambiguous = true;
            return listServicePrincipals(appId).then((found) => found[0]);
          },
          ...(isFresh(appId) ? { lag: replicating, waitFor: waitFor(appId, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `create the service principal of app ${appId}`,
        });
        markFresh(sp.id);
        knownSp.set(appId.toLowerCase(), sp);
        await untilSpListed(appId, sp);
        return { servicePrincipal: sp, created: true };
      } catch (err) {
        if (!(err instanceof GraphRequestError && err.status === 409 && err.graphCode === "Request_MultipleObjectsWithSameKeyValue")) throw err;
        // It exists, so a 404 on reading it by alternate key is replication lag.
        const sp = await json<ServicePrincipal>({
          method: "GET",
          path: q(`servicePrincipals(appId=${odataString(appId)})`, { $select: SP_SELECT }),
          safe: true,
          lag: notFound,
          waitFor: { key: `sp-of:${appId.toLowerCase()}`, what: "the existing service principal" },
          permission: PERM.readApps,
          what: `read the existing service principal of app ${appId}`,
        });
        knownSp.set(appId.toLowerCase(), sp);
        await untilSpListed(appId, sp);
        return { servicePrincipal: sp, created: ambiguous };
      }
    },

    /** Who is assigned to the app (spec 3.9), all pages. */
    async listAppRoleAssignedTo(spId: string): Promise<AppRoleAssignment[]> {
      return list<AppRoleAssignment>({
        path: q(`servicePrincipals/${seg(spId)}/appRoleAssignedTo`, { $top: pageSize }),
        ...(isFresh(spId) ? { lag: notFound, waitFor: waitFor(spId, NEW_SP) } : {}),
        permission: PERM.readApps,
        what: `list the assignments of service principal ${spId}`,
      });
    },

    /**
     * Assigns a group (or user) to the app with the default-access role, or the app role `appRoleId` (spec 3.9). After an ambiguous failure
     * the assignments are re-read (by principal and role) before the POST is repeated. A duplicate (400
     * "already exists") is re-read and the existing assignment returned with `existed: true` (spec 3.9),
     * unless an earlier attempt of this call failed ambiguously (then it is most likely that attempt's).
     */
    async assignGroup(spId: string, groupId: string, appRoleId: string = DEFAULT_ACCESS_ROLE_ID): Promise<AppRoleAssignment & { existed?: boolean }> {
      const lagging = isFresh(spId, groupId);
      const mine = (a: AppRoleAssignment) => a.principalId.toLowerCase() === groupId.toLowerCase() && a.appRoleId.toLowerCase() === appRoleId.toLowerCase();
      let ambiguous = false;
      /** The next run's read (the assignments of the service principal) shows it: see untilShown. */
      let listed: AppRoleAssignment | undefined;
      const shown = (): Promise<boolean> =>
        untilShown(`assignment:${spId.toLowerCase()}:${groupId.toLowerCase()}${appRoleId === DEFAULT_ACCESS_ROLE_ID ? "" : `:${appRoleId.toLowerCase()}`}`, "the new group assignment", `servicePrincipals/${seg(spId)}/appRoleAssignedTo`, async () => {
          listed = (await client.listAppRoleAssignedTo(spId)).find(mine);
          return listed !== undefined;
        });
      try {
        const assignment = await json<AppRoleAssignment>({
          method: "POST",
          path: `servicePrincipals/${seg(spId)}/appRoleAssignedTo`,
          body: { principalId: groupId, resourceId: spId, appRoleId },
          safe: false,
          recover: async () => {
            ambiguous = true;
            return (await client.listAppRoleAssignedTo(spId)).find(mine);
          },
          // Spec 3.9 / 4.4: terraform retries on 404 and 400 "Not a valid reference update".
          ...(lagging
            ? { lag: (s: number, _c: string | undefined, m: string) => s === 404 || (s === 400 && /not a valid reference update/i.test(m)), waitFor: waitFor(spId, NEW_SP) }
            : {}),
          permission: PERM.assign,
          what: `assign principal ${groupId} to service principal ${spId}`,
        });
        await shown();
        return assignment;
      } catch (err) {
        if (!(err instanceof GraphRequestError && err.status === 400 && /already exists/i.test(err.message))) throw err;
        const existed = !ambiguous;
        await shown();
        const existing = listed;
        if (existing) return { ...existing, existed };
        // Graph says it exists but the list does not show it yet (replication lag, spec 4.4): the wanted
        // state holds, so report it as done rather than fail a run that changed nothing.
        return { id: "", appRoleId, principalId: groupId, principalType: "Group", resourceId: spId, existed };
      }
    },

    /** Removes an assignment; one already gone counts as removed. */
    async removeAssignment(spId: string, assignmentId: string): Promise<void> {
      try {
        await send({
          method: "DELETE",
          path: `servicePrincipals/${seg(spId)}/appRoleAssignedTo/${seg(assignmentId)}`,
          safe: true,
          permission: PERM.assign,
          what: `remove assignment ${assignmentId} from service principal ${spId}`,
        });
      } catch (err) {
        if (err instanceof GraphRequestError && err.status === 404) return;
        throw err;
      }
    },

    /**
     * Groups by display name (spec 3.11), one request per 15 names. Each requested name maps to every group
     * that carries it: none (missing), one, or several (display names are not unique; the caller must refuse
     * the ambiguity). Graph compares case-insensitively; exact-case matches win when there are any.
     */
    /** What a service principal is granted (`/servicePrincipals/{id}/appRoleAssignments`, spec 1.2), all pages. */
    async listAppRoleAssignments(spId: string): Promise<AppRoleAssignment[]> {
      return list<AppRoleAssignment>({
        path: q(`servicePrincipals/${seg(spId)}/appRoleAssignments`, { $top: pageSize }),
        permission: PERM.grant,
        what: `list the permissions granted to service principal ${spId}`,
      });
    },

    /**
     * Grant an app role of `resourceId` (e.g. Microsoft Graph's service principal) to `spId`: how admin consent
     * to application permissions is done through Graph (spec 1.2). Right after `spId` was created, 404 and 400
     * "Not a valid reference update" are replication lag (3.9, 4.4). A duplicate (400 "already exists") is success.
     */
    async grantAppRole(spId: string, resourceId: string, appRoleId: string): Promise<void> {
      try {
        await json<AppRoleAssignment>({
          method: "POST",
          path: `servicePrincipals/${seg(spId)}/appRoleAssignments`,
          body: { principalId: spId, resourceId, appRoleId },
          safe: false,
          recover: async () =>
            (await client.listAppRoleAssignments(spId)).find(
              (a) => a.resourceId.toLowerCase() === resourceId.toLowerCase() && a.appRoleId.toLowerCase() === appRoleId.toLowerCase(),
            ),
          ...(isFresh(spId)
            ? { lag: (st: number, _c: string | undefined, m: string) => st === 404 || (st === 400 && /not a valid reference update/i.test(m)), waitFor: waitFor(spId, NEW_SP) }
            : {}),
          permission: PERM.grant,
          what: `grant app role ${appRoleId} of ${resourceId} to service principal ${spId}`,
        });
      } catch (err) {
        if (err instanceof GraphRequestError && err.status === 400 && /already exists/i.test(err.message)) return;
        throw err;
      }
    },

    /** Applications by client id (`appId in (...)`, 15 per request), e.g. to adopt a hand-made app (import). */
    async findApplicationsByAppId(appIds: string[]): Promise<EntraApplication[]> {
      return chunked<EntraApplication>(appIds, (c) => ({
        path: q("applications", { $filter: `appId in (${c.map(odataString).join(",")})`, $select: APP_SELECT, $top: pageSize }),
        permission: PERM.readApps,
        what: "find applications by client id",
      }));
    },

    /** Groups by object id (`id in (...)`, 15 per request): the Entra groups behind `<objectid>-<realm>` ids (import). */
    async findGroupsById(ids: string[]): Promise<EntraGroup[]> {
      return chunked<EntraGroup>(ids, (c) => ({
        path: q("groups", { $filter: `id in (${c.map(odataString).join(",")})`, $select: GROUP_SELECT, $top: pageSize }),
        permission: PERM.groups,
        what: "find groups by object id",
      }));
    },

    async findGroupsByDisplayName(names: string[]): Promise<Map<string, EntraGroup[]>> {
      const wanted = [...new Set(names)];
      const found: EntraGroup[] = [];
      for (let i = 0; i < wanted.length; i += IN_CHUNK) {
        const chunk = wanted.slice(i, i + IN_CHUNK);
        found.push(
          ...(await list<EntraGroup>({
            path: q("groups", { $filter: `displayName in (${chunk.map(odataString).join(",")})`, $select: GROUP_SELECT, $top: pageSize }),
            permission: PERM.groups,
            what: `find groups by display name`,
          })),
        );
      }
      const out = new Map<string, EntraGroup[]>();
      for (const name of wanted) {
        const ci = found.filter((g) => g.displayName.toLowerCase() === name.toLowerCase());
        const exact = ci.filter((g) => g.displayName === name);
        out.set(name, exact.length > 0 ? exact : ci);
      }
      return out;
    },

    /**
     * The transitive USER members of a group (issue 13 members sync): `/groups/{id}/transitiveMembers/microsoft.graph.user`,
     * nested groups resolved by Graph, each user once, `$top` 999 per page: one paged read per group whatever its size
     * up to 999 members. The cast leaves out groups, devices and service principals.
     */
    async listTransitiveUserMembers(groupId: string): Promise<EntraMember[]> {
      return list<EntraMember>({
        path: q(`groups/${seg(groupId)}/transitiveMembers/microsoft.graph.user`, { $select: MEMBER_SELECT, $top: pageSize }),
        permission: PERM.members,
        what: `list the members of group ${groupId}`,
      });
    },

    /**
     * Every user of the directory with `accountEnabled` (issue 13 leavers): one paged read, 999 per page. A deleted
     * account is simply absent, which only a read of the whole directory can tell (a per-user read would be one
     * request per Proxmox user).
     */
    async listUserStatuses(): Promise<EntraUserStatus[]> {
      return list<EntraUserStatus>({
        path: q("users", { $select: USER_STATUS_SELECT, $top: pageSize }),
        permission: PERM.userStatus,
        what: "list the directory's users with accountEnabled",
      });
    },

    /** Users by userPrincipalName (spec 3.11), one request per 15 UPNs; absent UPNs map to undefined. */
    async findUsers(upns: string[]): Promise<Map<string, EntraUser | undefined>> {
      const wanted = [...new Set(upns)];
      const found: EntraUser[] = [];
      for (let i = 0; i < wanted.length; i += IN_CHUNK) {
        const chunk = wanted.slice(i, i + IN_CHUNK);
        found.push(
          ...(await list<EntraUser>({
            path: q("users", { $filter: `userPrincipalName in (${chunk.map(odataString).join(",")})`, $select: USER_SELECT, $top: pageSize }),
            permission: PERM.users,
            what: `find users by userPrincipalName`,
          })),
        );
      }
      const out = new Map<string, EntraUser | undefined>();
      for (const upn of wanted) out.set(upn, found.find((u) => u.userPrincipalName.toLowerCase() === upn.toLowerCase()));
      return out;
    },

    /** The automation app's own service principal (its object id owns what homelab creates). Cached. */
    servicePrincipalOfCaller(): Promise<ServicePrincipal> {
      callerSp ??= json<ServicePrincipal>({
        method: "GET",
        path: q(`servicePrincipals(appId=${odataString(opts.tokens.clientId)})`, { $select: SP_SELECT }),
        safe: true,
        permission: PERM.readApps,
        what: `read the automation app's service principal (appId ${opts.tokens.clientId})`,
      }).catch((err: unknown) => {
        callerSp = undefined;
        throw err;
      });
      return callerSp;
    },

    /** Alias of servicePrincipalOfCaller: `GET /me` only works with delegated tokens. */
    me(): Promise<ServicePrincipal> {
      return client.servicePrincipalOfCaller();
    },

    // ---- app management policies (issue 9 failure 5; parsed and judged in policy.ts) ---------------------------

    /**
     * The tenant default app management policy (`GET /policies/defaultAppManagementPolicy`, Graph's
     * tenantappmanagementpolicy-get: Policy.Read.All). Returned as Graph sends it; policy.ts reads the fields.
     */
    async getDefaultAppManagementPolicy(): Promise<Record<string, unknown>> {
      return json<Record<string, unknown>>({
        method: "GET",
        path: "policies/defaultAppManagementPolicy",
        safe: true,
        permission: "Policy.Read.All (homelab bootstrap grants it)",
        what: "read the tenant's default app management policy",
      });
    },

    /**
     * The app management policies applied to an application (0 or 1; `GET /applications/{id}/appManagementPolicies`,
     * Application.Read.All and Policy.Read.All), all pages.
     */
    async listAppManagementPoliciesOf(id: string): Promise<Record<string, unknown>[]> {
      return list<Record<string, unknown>>({
        path: `applications/${seg(id)}/appManagementPolicies`,
        ...(isFresh(id) ? { lag: notFound } : {}),
        permission: "Policy.Read.All and Application.Read.All (homelab bootstrap grants both)",
        what: `list the app management policies applied to application ${id}`,
      });
    },

    /**
     * Applications carrying `tag`, with the creation time a policy's `restrictForAppsCreatedAfterDateTime` is
     * compared with (not in the usual `$select`).
     */
    async listApplicationCreationTimes(tag: string): Promise<Array<{ id: string; appId: string; displayName: string; createdDateTime?: string | null }>> {
      return list<{ id: string; appId: string; displayName: string; createdDateTime?: string | null }>({
        path: q("applications", { $filter: `tags/any(t:t eq ${odataString(tag)})`, $select: "id,appId,displayName,createdDateTime", $top: pageSize }),
        permission: PERM.readApps,
        what: `list applications tagged '${tag}' with their creation times`,
      });
    },
  };
  return client;
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

function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Spec 4.1 envelope: `error.code`, `error.message`, `error.innerError["request-id" | "client-request-id"]`. */
function graphError(body: unknown): { code?: string; message?: string; requestId?: string; clientRequestId?: string } {
  const e = (body as { error?: Record<string, unknown> } | undefined)?.error;
  if (!e || typeof e !== "object") return {};
  const inner = (e.innerError ?? e.innererror) as Record<string, unknown> | undefined;
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const out: { code?: string; message?: string; requestId?: string; clientRequestId?: string } = {};
  const code = str(e.code);
  const message = str(e.message);
  const requestId = str(inner?.["request-id"]);
  const clientRequestId = str(inner?.["client-request-id"]);
  if (code) out.code = code;
  if (message) out.message = message;
  if (requestId) out.requestId = requestId;
  if (clientRequestId) out.clientRequestId = clientRequestId;
  return out;
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

