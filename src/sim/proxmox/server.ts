/**
 * The HTTP(S) side: the /api2/json envelope, transport errors (spec 1.1, 1.2, 1.4, 1.5), auth,
 * permission checks before validation (errata 3), schema validation, dispatch, the request log and
 * fault injection.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { matchRoute, type MethodInfo, type Route } from "./apidoc.js";
import { authenticate, extractCredentials, type TicketSigner, verifyApiToken } from "./auth.js";
import type { HandlerContext, HandlerTable } from "./context.js";
import { loginPageHtml } from "./login-page.js";
import type { OpenIdService } from "./openid.js";
import { ApiError, handlerError, paramError, permError } from "./errors.js";
import { decodePathComponent, isListParam, parseForm, validateParams } from "./params.js";
import { isRootTicket, PermissionChecker, type Caller } from "./permissions.js";
import { shuffled, type Rng } from "../rng.js";
import type { SimState } from "./state.js";
import type { FailRule, FaultOptions } from "./types.js";
import { hiddenParams } from "./versions.js";

const MAX_BODY = 512 * 1024; // spec 1.1 (http-server >= 5.2.1)
const METHODS = new Set(["GET", "POST", "PUT", "DELETE"]);

export interface LogEntry {
  method: string;
  path: string;
  status: number;
}

export interface ServerConfig {
  /** replaced by ProxmoxSim.reset() */
  state: SimState;
  signer: TicketSigner;
  routes: Map<string, Route>;
  handlers: HandlerTable;
  shuffle: boolean;
  shuffleRng: Rng;
  faultRng: Rng;
  faults: () => FaultOptions | undefined;
  unauthorizedDelayMs: number;
  omitClientKey: boolean;
  log: LogEntry[];
  /** pending ProxmoxSim.failNext rules, in the order they were added */
  failRules: Array<Required<Pick<FailRule, "method" | "path" | "times" | "status">> & { message: string }>;
  /** simulated pmxcfs write latency inside a lock (HandlerContext.cfsWrite) */
  cfsWriteDelayMs: number;
  openid: OpenIdService;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reason phrases must be a single line of printable ASCII. */
function reasonPhrase(message: string): string {
  const first = message.split("\n")[0] ?? "";
  return first.replace(/[^\x20-\x7e]/g, "?").slice(0, 200) || "Error";
}

function send(
  res: ServerResponse,
  status: number,
  reason: string | undefined,
  body: string,
  contentType = "application/json;charset=UTF-8",
): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | number> = { "Content-Length": Buffer.byteLength(body) };
  if (body !== "") headers["Content-Type"] = contentType;
  if (reason !== undefined) res.writeHead(status, reason, headers);
  else res.writeHead(status, headers);
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on("end", () => resolve({ body: Buffer.concat(chunks), tooLarge }));
    req.on("error", reject);
    // A client that gave up (e.g. during a "slow" fault) destroys the request: settle instead of hanging.
    if (req.readableEnded) resolve({ body: Buffer.concat(chunks), tooLarge });
    else if (req.destroyed) reject(new Error("request aborted by the client"));
    req.on("close", () => {
      if (!req.readableEnded) reject(new Error("request aborted by the client"));
    });
  });
}

export function createRequestHandler(cfg: ServerConfig): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(cfg, req, res).catch((err: unknown) => {
      // A bug in the simulator: answer like an unexpected Perl die.
      const msg = `internal simulator error: ${err instanceof Error ? err.message : String(err)}\n`;
      respondError(cfg, req, res, new ApiError(500, msg), pathOf(req));
    });
  };
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function record(cfg: ServerConfig, req: IncomingMessage, path: string, status: number): void {
  cfg.log.push({ method: req.method ?? "", path, status });
}

function respondError(cfg: ServerConfig, req: IncomingMessage, res: ServerResponse, err: ApiError, path: string): void {
  record(cfg, req, path, err.status);
  if (err.plainText) {
    send(res, err.status, reasonPhrase(err.message), err.message, "text/plain;charset=UTF-8");
    return;
  }
  if (err.emptyBody) {
    send(res, err.status, reasonPhrase(err.message), "");
    return;
  }
  const body: Record<string, unknown> = { data: null, message: err.message };
  if (err.errors) body.errors = err.errors;
  send(res, err.status, reasonPhrase(err.message), JSON.stringify(body));
}

/** Decide whether this request gets a fault, deterministically from the seed (one draw per request). */
function pickFault(cfg: ServerConfig, method: string): { kind: FaultOptions["kinds"][number]; slowMs: number } | undefined {
  const f = cfg.faults();
  if (!f || f.rate <= 0 || f.kinds.length === 0) return undefined;
  if (f.methods && !f.methods.map((m) => m.toUpperCase()).includes(method)) return undefined;
  const hit = cfg.faultRng() < f.rate;
  const which = cfg.faultRng();
  if (!hit) return undefined;
  return { kind: f.kinds[Math.floor(which * f.kinds.length)]!, slowMs: f.slowMs ?? 2000 };
}

async function handle(cfg: ServerConfig, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? "GET").toUpperCase();
  const url = req.url ?? "/";
  const qi = url.indexOf("?");
  const path = qi < 0 ? url : url.slice(0, qi);
  const query = qi < 0 ? "" : url.slice(qi + 1);

  // The web interface's place: a stand-in for its OpenID login, for a person trying `homelab sim` (login-page.ts).
  if (method === "GET" && path === "/") {
    await readBody(req);
    record(cfg, req, path, 200);
    send(res, 200, undefined, loginPageHtml(), "text/html;charset=UTF-8");
    return;
  }

  const fault = pickFault(cfg, method);
  if (fault) {
    if (fault.kind === "reset") {
      record(cfg, req, path, 0);
      req.socket.destroy();
      return;
    }
    if (fault.kind === "slow") await sleep(fault.slowMs);
    else {
      await readBody(req);
      const status = Number(fault.kind);
      const text = status === 500 ? "simulated fault\n" : status === 502 ? "Bad Gateway" : "Service Unavailable";
      if (status === 500) respondError(cfg, req, res, new ApiError(500, text), path);
      else respondError(cfg, req, res, new ApiError(status, text, undefined, false, true), path);
      return;
    }
  }

  const { body, tooLarge } = await readBody(req);
  const forced = takeFailRule(cfg, method, path);
  if (forced) {
    respondError(cfg, req, res, forced, path);
    return;
  }
  try {
    const result = await dispatch(cfg, req, method, path, query, body, tooLarge);
    cfg.state.reread();
    record(cfg, req, path, 200);
    send(res, 200, undefined, JSON.stringify({ data: result === undefined ? null : result }));
  } catch (err) {
    cfg.state.reread();
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401 && cfg.unauthorizedDelayMs > 0) await sleep(cfg.unauthorizedDelayMs); // errata 17
    respondError(cfg, req, res, err, path);
  }
}

/** The path as failNext rules name it: relative to /api2/json, no trailing "/". */
function relPath(path: string): string {
  const rel = path.startsWith("/api2/json/") ? path.slice("/api2/json".length) : path;
  return rel.length > 1 ? rel.replace(/\/+$/, "") : rel;
}

/**
 * ProxmoxSim.failNext: the first pending rule matching method and path (exact, or percent-decoded)
 * is used up and turned into an error answered before anything is read or changed.
 */
function takeFailRule(cfg: ServerConfig, method: string, path: string): ApiError | undefined {
  if (cfg.failRules.length === 0) return undefined;
  const rel = relPath(path);
  let decoded = rel;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    // keep the raw form
  }
  const i = cfg.failRules.findIndex((r) => r.method === method && (r.path === rel || r.path === decoded));
  if (i < 0) return undefined;
  const rule = cfg.failRules[i]!;
  rule.times -= 1;
  if (rule.times <= 0) cfg.failRules.splice(i, 1);
  const message = rule.message.endsWith("\n") ? rule.message : `${rule.message}\n`;
  return new ApiError(rule.status, message);
}

function notImplemented(method: string, rel: string): ApiError {
  return new ApiError(501, `Method '${method} ${rel}' not implemented\n`);
}

function parseBody(info: MethodInfo, contentType: string, body: Buffer): Record<string, unknown> {
  const text = body.toString("utf8");
  if (contentType === "application/json") {
    // errata 15: an empty or malformed JSON body is a plain-text 500, not the envelope.
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(500, "malformed JSON string, neither tag, array, object, number, string or atom, at character offset 0\n", undefined, true);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ApiError(500, "malformed JSON string: expected an object\n", undefined, true);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      // spec 1.3: since pve-common 8.0.2 an array for a "-list" parameter is joined with ",".
      out[k] = Array.isArray(v) && isListParam(info, k) ? v.map(String).join(",") : v;
    }
    return out;
  }
  return formToObject(info, text);
}

function formToObject(info: MethodInfo, text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, values] of parseForm(text)) {
    out[k] = values.length === 1 ? values[0] : values.join(isListParam(info, k) ? "," : "\0");
  }
  return out;
}

async function dispatch(
  cfg: ServerConfig,
  req: IncomingMessage,
  method: string,
  path: string,
  query: string,
  body: Buffer,
  tooLarge: boolean,
): Promise<unknown> {
  const rel = path.startsWith("/api2/json/") ? path.slice("/api2/json".length).replace(/\/+$/, "") : path;
  if (!METHODS.has(method)) throw notImplemented(method, rel);
  if (!path.startsWith("/api2/json/")) throw notImplemented(method, path);
  if (/chunked/i.test(String(req.headers["transfer-encoding"] ?? ""))) {
    throw new ApiError(501, "chunked transfer encoding not supported\n");
  }
  const contentLength = Number(req.headers["content-length"] ?? 0);
  if ((method === "GET" || method === "DELETE") && (contentLength > 0 || body.length > 0)) {
    throw new ApiError(501, `Unexpected content for method '${method}'\n`);
  }
  const rawType = String(req.headers["content-type"] ?? "");
  const contentType = rawType.split(";")[0]!.trim().toLowerCase();
  if ((method === "POST" || method === "PUT") && contentType !== "" && contentType !== "application/x-www-form-urlencoded" && contentType !== "application/json") {
    throw new ApiError(506, `upload 'Content-Type '${rawType}' not implemented\n`);
  }
  if (tooLarge) throw new ApiError(413, "request too large\n");

  const match = matchRoute(cfg.routes, rel, decodePathComponent);
  let info = match?.route.methods.get(method);
  const handler = match ? cfg.handlers[`${method} ${match.route.template}`] : undefined;
  if (!match || !info || !handler) throw notImplemented(method, rel);

  // Parameters: body, then the query string (which wins), then path parameters.
  const data: Record<string, unknown> =
    method === "POST" || method === "PUT" ? parseBody(info, contentType, body) : {};
  Object.assign(data, formToObject(info, query));
  delete data._dc; // spec 1.2: the ExtJS cache-buster is dropped
  const dup: Record<string, string> = {};
  for (const [name, value] of Object.entries(match.pathParams)) {
    if (name in data && data[name] !== null && String(data[name]) !== value) {
      dup[name] = "duplicate parameter (already defined in URI) with conflicting values!";
    }
    data[name] = value;
  }
  if (Object.keys(dup).length > 0) throw paramError(dup);

  // Authentication (spec 2.4): world-readable calls ignore credentials.
  const creds = extractCredentials(req.headers);
  let caller: Caller;
  if (info.permissions.user === "world") {
    caller = { kind: "anonymous", authid: "", userid: "" };
    if (!info.allowtoken && creds.token !== undefined && creds.ticket === undefined) {
      const tok = verifyApiToken(cfg.state, creds.token, Math.floor(Date.now() / 1000));
      if (tok) throw permError(`URI '${rel}' not available with API token, need proper ticket.`);
    }
  } else {
    const csrf = req.headers.csrfpreventiontoken;
    caller = authenticate(cfg.state, cfg.signer, creds, method, Array.isArray(csrf) ? csrf[0] : csrf);
    if (caller.kind === "token" && !info.allowtoken) {
      throw permError(`URI '${rel}' not available with API token, need proper ticket.`);
    }
  }

  // Permission checks run before parameter validation (errata 3); a root@pam ticket skips them.
  const perms = new PermissionChecker(cfg.state, caller);
  if (!isRootTicket(caller) && info.permissions.check && caller.kind !== "anonymous") {
    perms.evaluate(info.permissions.check, data);
  }

  // Parameters newer than the release played are not in its schema at all (versions.ts): they fail
  // like any unknown parameter, "property is not defined in schema ...".
  const hidden = hiddenParams(cfg.state.version, method, match.route.template);
  if (hidden.size > 0) {
    const properties = { ...info.properties };
    for (const p of hidden) delete properties[p];
    info = { ...info, properties };
  }

  // errata 8: token PUT with an empty or "0" delete fails inside the handler with a Perl error
  // (only where the release has `delete` there: 9.1+).
  if (method === "PUT" && match.route.template === "/access/users/{userid}/token/{tokenid}" && !hidden.has("delete") && (data.delete === "" || data.delete === "0" || data.delete === 0)) {
    throw handlerError("Can't use an undefined value as an ARRAY reference at /usr/share/perl5/PVE/API2/User.pm line 803.");
  }

  const { params, errors } = validateParams(info, data);
  if (errors) throw paramError(errors);

  const ctx: HandlerContext = {
    state: cfg.state,
    caller,
    perms,
    params,
    info,
    signer: cfg.signer,
    omitClientKey: cfg.omitClientKey,
    openid: cfg.openid,
    clientIp: req.socket.remoteAddress ?? "",
    cfsWrite: () =>
      cfg.cfsWriteDelayMs > 0 ? sleep(cfg.cfsWriteDelayMs) : new Promise<void>((resolve) => setImmediate(resolve)),
    shuffle: <T>(items: T[]): T[] => (cfg.shuffle ? shuffled(items, cfg.shuffleRng) : items),
  };
  return handler(ctx);
}
