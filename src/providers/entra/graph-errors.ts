import { AuthError, RemoteError } from "../../core/errors.js";
import { redact } from "../../log/redact.js";
import { PERM, type Call } from "./graph-call.js";

/**
 * The errors the Graph client throws (spec 4.1): GraphRequestError (RemoteError) or GraphAuthError (AuthError, for
 * 401/403), each carrying the Graph `error.code` and the `client-request-id`; and the parsing of Graph's error
 * envelope. Every message the client builds passes through `redact()` before it gets here.
 */

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

export function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export interface GraphEnvelope {
  code?: string;
  message?: string;
  requestId?: string;
  clientRequestId?: string;
}

/** Spec 4.1 envelope: `error.code`, `error.message`, `error.innerError["request-id" | "client-request-id"]`. */
export function graphError(body: unknown): GraphEnvelope {
  const e = (body as { error?: Record<string, unknown> } | undefined)?.error;
  if (!e || typeof e !== "object") return {};
  const inner = (e.innerError ?? e.innererror) as Record<string, unknown> | undefined;
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const out: GraphEnvelope = {};
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

export function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The error for a failed call (the retries and waits are over): GraphAuthError for 401/403, GraphRequestError
 * otherwise, with a hint naming what to do; replication lag that outlasted its wait is a remote condition, not a
 * missing permission.
 */
export function toError(
  ctx: { tenant: string; base: string; graphUrl: string; retries: number },
  call: Pick<Call, "method" | "what" | "safe" | "permission" | "waitFor">,
  path: string,
  status: number,
  env: GraphEnvelope,
  headers: Record<string, string | string[] | undefined>,
  clientRequestId: string,
  exhausted: boolean,
  /** Set when the failure is replication lag that outlasted its wait: the polls made. */
  lagged: number | undefined,
): GraphRequestError | GraphAuthError {
  const requestId = env.requestId ?? header(headers["request-id"]);
  const detail = `${env.code ?? `HTTP ${status}`}${env.message ? `: ${env.message}` : ""}`;
  const message = redact(`Graph (tenant ${ctx.tenant}): ${call.what}: HTTP ${status} ${detail}`);
  const common = {
    service: "graph",
    method: call.method,
    url: redact(`${ctx.base}${path.slice(1)}`),
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
      hint: `Graph refused the access token: check that the tenant's graphUrl (${ctx.graphUrl}) belongs to the same cloud as its loginUrl`,
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
  if (status === 429) hint = `Graph kept throttling after ${ctx.retries} retries; run again later`;
  else if (status >= 500 && !call.safe)
    hint = "the request may or may not have been carried out; run again: homelab re-reads the tenant before creating anything";
  else if (status >= 500 && exhausted) hint = `Graph kept failing after ${ctx.retries} retries; run again later`;
  return new GraphRequestError({ ...common, ...(hint ? { hint } : {}) });
}
