/**
 * The official parameter schema (pve-apidoc-access.json, spec section 10), loaded once and turned
 * into a route table. The JSON is a verbatim copy of shared/spec/pve-apidoc-access.json kept next to
 * this module; tsc does not copy it to dist/, so from dist/ we fall back to the one in src/.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface PropSchema {
  type: "string" | "boolean" | "integer" | "number" | "object" | "array" | "null";
  optional?: 0 | 1;
  format?: string;
  pattern?: string;
  maxLength?: number;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  requires?: string;
  default?: unknown;
}

export interface MethodInfo {
  name: string;
  method: string;
  allowtoken: boolean;
  permissions: PermissionSpec;
  properties: Record<string, PropSchema>;
}

export type PermCheck = [string, ...unknown[]];
export interface PermissionSpec {
  check?: PermCheck;
  user?: "all" | "world";
  description?: string;
}

export interface Route {
  /** e.g. "/access/users/{userid}" */
  template: string;
  regex: RegExp;
  paramNames: string[];
  methods: Map<string, MethodInfo>;
}

interface RawNode {
  path: string;
  info?: Record<
    string,
    {
      name: string;
      method: string;
      allowtoken?: number;
      permissions?: PermissionSpec;
      parameters?: { properties?: Record<string, PropSchema> };
    }
  >;
  children?: RawNode[];
}

function apidocPath(): string {
  const candidates = [
    new URL("./pve-apidoc-access.json", import.meta.url),
    new URL("../../../src/sim/proxmox/pve-apidoc-access.json", import.meta.url),
  ];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  throw new Error("pve-apidoc-access.json not found next to the Proxmox simulator");
}

/**
 * Additions the bundled apidata.js lacks (spec section 10): OpenID `audiences` (9.1.1, same
 * pattern as `acr-values`) on realm create/update, and token-update `regenerate` (9.1.0).
 */
function patch(routes: Map<string, Route>): void {
  const acr = routes.get("/access/domains")?.methods.get("POST")?.properties["acr-values"];
  for (const [template, method] of [
    ["/access/domains", "POST"],
    ["/access/domains/{realm}", "PUT"],
  ] as const) {
    const info = routes.get(template)?.methods.get(method);
    if (info) info.properties.audiences = { type: "string", optional: 1, pattern: acr?.pattern ?? "^[^\\x00-\\x1F\\x7F <>#\"]*$" };
  }
  const tokenPut = routes.get("/access/users/{userid}/token/{tokenid}")?.methods.get("PUT");
  if (tokenPut) tokenPut.properties.regenerate = { type: "boolean", optional: 1 };
  // GET /version lives outside /access (pve-manager API2.pm): any authenticated caller, tokens too.
  routes.set("/version", {
    template: "/version",
    regex: /^\/version$/,
    paramNames: [],
    methods: new Map([
      ["GET", { name: "version", method: "GET", allowtoken: true, permissions: { user: "all" }, properties: {} }],
    ]),
  });
}

let cached: Map<string, Route> | undefined;

/** Route table keyed by template, built once per process. */
export function loadRoutes(): Map<string, Route> {
  if (cached) return cached;
  const root = JSON.parse(readFileSync(apidocPath(), "utf8")) as RawNode | RawNode[];
  const routes = new Map<string, Route>();
  const walk = (node: RawNode): void => {
    const paramNames: string[] = [];
    const source = node.path
      .split("/")
      .map((seg) => {
        const m = /^\{(\w+)\}$/.exec(seg);
        if (m) {
          paramNames.push(m[1]!);
          return "([^/]+)";
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      })
      .join("/");
    const methods = new Map<string, MethodInfo>();
    for (const [method, info] of Object.entries(node.info ?? {})) {
      methods.set(method, {
        name: info.name,
        method,
        allowtoken: info.allowtoken !== 0,
        permissions: info.permissions ?? {},
        properties: { ...(info.parameters?.properties ?? {}) },
      });
    }
    routes.set(node.path, { template: node.path, regex: new RegExp(`^${source}$`), paramNames, methods });
    for (const child of node.children ?? []) walk(child);
  };
  for (const n of Array.isArray(root) ? root : [root]) walk(n);
  patch(routes);
  cached = routes;
  return routes;
}

/** Find the route for a path relative to /api2/json, with its percent-decoded path parameters. */
export function matchRoute(
  routes: Map<string, Route>,
  relPath: string,
  decode: (s: string) => string,
): { route: Route; pathParams: Record<string, string> } | undefined {
  // Exact templates first so that "/access/users" never matches "{userid}" style routes.
  const exact = routes.get(relPath);
  if (exact) return { route: exact, pathParams: {} };
  for (const route of routes.values()) {
    if (route.paramNames.length === 0) continue;
    const m = route.regex.exec(relPath);
    if (!m) continue;
    const pathParams: Record<string, string> = {};
    route.paramNames.forEach((name, i) => {
      pathParams[name] = decode(m[i + 1]!);
    });
    return { route, pathParams };
  }
  return undefined;
}
