import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { handleAuthorize } from "./authorize.js";
import { instanceDiscovery, openIdConfiguration } from "./discovery.js";
import { GraphError, TokenError } from "./errors.js";
import { handleApplications } from "./graph-applications.js";
import { parseSegment, type GraphCtx, type Reply } from "./graph-context.js";
import { handleGroups, handleMe, handleUsers } from "./graph-directory.js";
import { handlePolicies } from "./graph-policies.js";
import { handleServicePrincipals } from "./graph-service-principals.js";
import { issuerUrl, userinfoClaims } from "./id-token.js";
import { innerErrorDate, newGuid } from "./ids.js";
import type { Knobs } from "./knobs.js";
import type { Caller } from "./permissions.js";
import type { Json } from "./shapes.js";
import type { Directory } from "./state.js";
import { handleIdentityPost, tenantMatches, tokenErrorBody, type TokenEndpointConfig } from "./token-endpoint.js";
import type { LogEntry } from "./types.js";

/**
 * One plain-HTTP server for both APIs: identity endpoints at `/{tenant}/…` and `/common/…`, Graph at `/v1.0/…`.
 * Nothing is printed; the request log records method, path (no query) and status only.
 */

const GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

export interface ServerDeps {
  dir: Directory;
  knobs: Knobs;
  tokenConfig: TokenEndpointConfig;
  log: LogEntry[];
  urls: { loginUrl: string; graphUrl: string };
  /** Authorization-code lifetime, seconds. */
  codeSeconds: number;
}

export async function listen(deps: ServerDeps, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        handle(deps, req, res, Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        // A simulator bug: answer 500 in the Graph envelope rather than hanging the client.
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { code: "generalException", message: `simulator error: ${(err as Error).message}` } }));
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return { server, url: `http://${h}:${addr.port}` };
}

function decodePath(pathname: string): string[] {
  return pathname
    .split("/")
    .filter((s) => s !== "")
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

function handle(deps: ServerDeps, req: IncomingMessage, res: ServerResponse, rawBody: string): void {
  const url = new URL(req.url ?? "/", "http://sim.invalid");
  const segments = decodePath(url.pathname);
  const path = `/${segments.join("/")}`;
  const method = (req.method ?? "GET").toUpperCase();
  if (segments[0] === "v1.0") {
    const status = handleGraph(deps, req, res, method, segments.slice(1), url, path, rawBody);
    deps.log.push({ api: "graph", method, path, status });
  } else if (segments[0] === "oidc" && segments[1] === "userinfo" && segments.length === 2) {
    const status = handleUserinfo(deps, req, res, method);
    deps.log.push({ api: "graph", method, path, status });
  } else {
    const status = handleIdentity(deps, req, res, method, segments, url, rawBody);
    deps.log.push({ api: "token", method, path, status });
  }
}

// ---- Graph ------------------------------------------------------------------------------------------------------

function handleGraph(
  deps: ServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  segments: string[],
  url: URL,
  path: string,
  rawBody: string,
): number {
  const { dir } = deps;
  const requestId = newGuid();
  const crid = typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : requestId;
  const headers: Record<string, string> = {
    "request-id": requestId,
    "client-request-id": crid,
    date: dir.now().toUTCString(),
  };
  let reply: Reply;
  try {
    const late = deps.knobs.check(method);
    const caller = authenticate(dir, req.headers.authorization);
    const ctx: GraphCtx = {
      dir,
      method,
      segments,
      query: url.searchParams,
      headers: req.headers,
      rawBody,
      base: `${deps.urls.graphUrl}/v1.0`,
      path,
      caller,
    };
    if (late) {
      // A landed fault: the request is carried out (or refused), and the client only ever sees the 5xx.
      try {
        route(ctx);
      } catch (err) {
        // Its own error answer is lost too; a simulator bug still surfaces.
        if (!(err instanceof GraphError)) throw err;
      }
      throw late;
    }
    reply = route(ctx);
  } catch (err) {
    if (!(err instanceof GraphError)) throw err;
    // 4.1: the OData envelope, innerError carrying date, request-id and client-request-id.
    reply = {
      status: err.status,
      headers: err.headers,
      body: {
        error: {
          code: err.code,
          message: err.message,
          innerError: { date: innerErrorDate(dir.now()), "request-id": requestId, "client-request-id": crid },
        },
      },
    };
  }
  Object.assign(headers, reply.headers ?? {});
  if (reply.text !== undefined) {
    res.writeHead(reply.status, { "content-type": "text/plain", ...headers });
    res.end(reply.text);
  } else if (reply.body !== undefined) {
    res.writeHead(reply.status, { "content-type": GRAPH_JSON, ...headers });
    res.end(JSON.stringify(reply.body));
  } else {
    res.writeHead(reply.status, headers);
    res.end();
  }
  return reply.status;
}

function authenticate(dir: Directory, authorization: string | undefined): Caller {
  const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  if (!m?.[1]) throw new GraphError(401, "InvalidAuthenticationToken", "Access token is empty.");
  const grant = dir.accessTokens.get(m[1]);
  if (!grant) throw new GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.");
  // Tokens expire on the simulator clock (3599 s, 1.1): moving the clock forward invalidates cached tokens.
  if (dir.now().getTime() >= grant.expiresAt)
    throw new GraphError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.");
  return { kind: grant.kind, appId: grant.appId, principalId: grant.principalId, permissions: new Set(grant.permissions) };
}

function route(ctx: GraphCtx): Reply {
  const [head, ...rest] = ctx.segments;
  if (head === undefined) return { status: 200, body: { "@odata.context": `${ctx.base}/$metadata`, value: [] } };
  const first = parseSegment(head);
  switch (first.name) {
    case "applications":
      return handleApplications(ctx, first, rest);
    case "servicePrincipals":
      return handleServicePrincipals(ctx, first, rest);
    case "users":
      return handleUsers(ctx, first, rest);
    case "groups":
      return handleGroups(ctx, first, rest);
    case "me":
      return handleMe(ctx, rest);
    case "policies":
      return handlePolicies(ctx, rest);
    default:
      throw new GraphError(400, "BadRequest", `Resource not found for the segment '${first.name}'.`);
  }
}

/**
 * Graph's OIDC userinfo endpoint (`https://graph.microsoft.com/oidc/userinfo`, the discovery document's
 * `userinfo_endpoint`), GET or POST with the access token of a user sign-in (authorization code flow).
 */
function handleUserinfo(deps: ServerDeps, req: IncomingMessage, res: ServerResponse, method: string): number {
  const { dir } = deps;
  const requestId = newGuid();
  const fail = (status: number, code: string, message: string): number => {
    res.writeHead(status, {
      "content-type": GRAPH_JSON,
      "request-id": requestId,
      "www-authenticate": `Bearer realm="", authorization_uri="${deps.urls.loginUrl}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
    });
    res.end(JSON.stringify({ error: { code, message, innerError: { date: innerErrorDate(dir.now()), "request-id": requestId, "client-request-id": requestId } } }));
    return status;
  };
  if (method !== "GET" && method !== "POST") return fail(405, "Request_BadRequest", "The HTTP method is not allowed.");
  const m = req.headers.authorization ? /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization) : null;
  if (!m?.[1]) return fail(401, "InvalidAuthenticationToken", "Access token is empty.");
  const grant = dir.accessTokens.get(m[1]);
  if (!grant) return fail(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.");
  if (dir.now().getTime() >= grant.expiresAt) return fail(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.");
  const user = grant.kind === "user" ? dir.collections.users.get(grant.principalId) : undefined;
  // userinfo needs a user token with the openid scope.
  if (!user || !grant.permissions.includes("openid")) return fail(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", "request-id": requestId });
  res.end(JSON.stringify(userinfoClaims(dir, deps.urls.graphUrl, user, grant.appId, grant.permissions)));
  return 200;
}

// ---- identity ---------------------------------------------------------------------------------------------------

function handleIdentity(
  deps: ServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  segments: string[],
  url: URL,
  rawBody: string,
): number {
  const { dir } = deps;
  const form = new URLSearchParams(rawBody);
  const correlation =
    url.searchParams.get("client-request-id") ??
    (typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : null) ??
    form.get("client-request-id") ??
    undefined;
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store, no-cache",
    "x-ms-request-id": newGuid(),
    date: dir.now().toUTCString(),
  };
  if (correlation) headers["client-request-id"] = correlation;
  const send = (status: number, body: Json, extra: Record<string, string> = {}): number => {
    res.writeHead(status, { ...headers, ...extra });
    res.end(JSON.stringify(body));
    return status;
  };
  const [tenant = "", ...rest] = segments;
  const tail = rest.join("/");
  if (tail === "oauth2/v2.0/authorize" && (method === "GET" || method === "POST")) {
    const r = handleAuthorize(dir, { codeSeconds: deps.codeSeconds }, tenant, method, req.url ?? "", url.searchParams, form);
    res.writeHead(r.status, { ...r.headers, "x-ms-request-id": headers["x-ms-request-id"] ?? "", date: headers.date ?? "" });
    res.end(r.body);
    return r.status;
  }
  try {
    if (tail === "oauth2/v2.0/token" || tail === "oauth2/v2.0/devicecode") {
      if (method !== "POST")
        throw new TokenError(400, "invalid_request", 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`);
      const action = tail.endsWith("token") ? "token" : "devicecode";
      const r = handleIdentityPost(dir, deps.tokenConfig, tenant, action, form, req.headers);
      return send(r.status, r.body);
    }
    if (method === "GET" && tail === "v2.0/.well-known/openid-configuration")
      return send(200, openIdConfiguration(dir, deps.urls.loginUrl, deps.urls.graphUrl, tenant), { "cache-control": "max-age=86400, private" });
    if (method === "GET" && tenant === "common" && tail === "discovery/instance")
      return send(200, instanceDiscovery(dir, deps.urls.loginUrl, url.searchParams.get("authorization_endpoint")));
    if (method === "GET" && tail === "discovery/v2.0/keys") {
      if (!tenantMatches(dir, tenant) && !["common", "organizations", "consumers"].includes(tenant.toLowerCase()))
        return send(400, { error: "invalid_tenant", error_description: `AADSTS90002: Tenant '${tenant}' not found.`, error_codes: [90002] });
      return send(200, dir.signing.jwks(issuerUrl(deps.urls.loginUrl, dir.tenantId)), { "cache-control": "max-age=86400, private" });
    }
    return send(404, { error: "not_found", error_description: `No simulated endpoint at ${method} /${segments.join("/")}` });
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    return send(err.status, tokenErrorBody(err, dir.now(), correlation));
  }
}
