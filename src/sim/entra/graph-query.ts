import { GraphError, badRequest, unsupportedQuery } from "./errors.js";
import { FILTERS, compileFilter, type CompiledFilter } from "./graph-filter.js";
import type { GraphCtx, Reply } from "./graph-context.js";
import type { Json } from "./shapes.js";

/**
 * OData query options for directory collections (3, 3.1, errata 9.4, 9.9): `$filter`, `$select`, `$top`,
 * `$skiptoken`, `$count`, `$search`, `$orderby`, and `$expand` where a collection names what may be expanded.
 * Page links are absolute and point at the simulator.
 */

const MAX_TOP = 999;
const DEFAULT_TOP = 100;
const SUPPORTED = new Set(["$filter", "$select", "$top", "$skiptoken", "$count", "$search", "$orderby"]);
/**
 * `$expand` on directory objects (Microsoft Graph docs, query-parameters, "expand parameter"): an expanded
 * relationship "typically returns a maximum of 20 items ... and has no @odata.nextLink"; and (Graph known issues,
 * "$expand on directory objects") a page of a collection read with `$expand` holds at most 100 objects, whatever
 * `$top` asks. Expanded relationships are part of the answer whatever `$select` names (OData 4.01 section 5.1.3).
 */
export const EXPAND_ITEMS = 20;
const EXPAND_PAGE = 100;

function consistencyEventual(ctx: GraphCtx): boolean {
  const h = ctx.headers["consistencylevel"];
  return typeof h === "string" && h.toLowerCase() === "eventual";
}

/** `ConsistencyLevel: eventual` and `$count=true`: the advanced-query switch (3). */
export function isAdvanced(ctx: GraphCtx): boolean {
  return consistencyEventual(ctx) && ctx.query.get("$count")?.toLowerCase() === "true";
}

export function checkQueryOptions(ctx: GraphCtx, allowed: string[] = [...SUPPORTED]): void {
  for (const k of ctx.query.keys()) {
    if (!k.startsWith("$")) continue;
    if (!allowed.includes(k.toLowerCase()))
      throw unsupportedQuery(`The query option '${k}' is not supported by the simulator on this resource.`);
  }
}

/** `$select`: only the named properties, in the order given; `id` is not added implicitly (errata 9.9). */
export function parseSelect(ctx: GraphCtx, typeName: string, known: ReadonlySet<string>): string[] | undefined {
  const raw = ctx.query.get("$select");
  if (raw === null) return undefined;
  const props = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const p of props)
    if (!known.has(p)) throw badRequest(`Could not find a property named '${p}' on type 'microsoft.graph.${typeName}'.`);
  return props;
}

export function project(obj: Json, select: string[] | undefined): Json {
  if (!select) return obj;
  const out: Json = {};
  for (const p of select) out[p] = obj[p] ?? null;
  return out;
}

export function contextUrl(ctx: GraphCtx, entitySet: string, select?: string[], entity = false): string {
  const sel = select ? `(${select.join(",")})` : "";
  return `${ctx.base}/$metadata#${entitySet}${sel}${entity ? "/$entity" : ""}`;
}

interface ListOptions {
  /** Key into FILTERS. */
  filterSpec: string;
  typeName: string;
  known: ReadonlySet<string>;
  /** `@odata.context` entity set, e.g. "applications" or "servicePrincipals('id')/appRoleAssignedTo". */
  entitySet: string;
  /** Adds `@odata.type` to each item (directoryObject collections). */
  odataType?: (item: Json) => string | undefined;
  /**
   * Properties an item shows without `$select` (default: all it has). Users show their default set only; others,
   * such as `accountEnabled`, appear only when selected (Graph user resource: "returned only on $select").
   */
  defaultProps?: (item: Json) => string[] | undefined;
  /**
   * The relationships `$expand` may name, each with the related objects of an item (the full list: the answer keeps
   * the first EXPAND_ITEMS). A function may throw (a permission the relationship needs). Without it `$expand` is 400.
   */
  expand?: Record<string, (item: Json) => Json[]>;
}

/**
 * `$expand=a,b`: the relationship names, each one of `known` (else 400, as Graph answers a property the type does not
 * have). Nested options (`a($select=...)`) are not simulated: 400.
 */
export function parseExpand(ctx: GraphCtx, typeName: string, known: readonly string[]): string[] | undefined {
  const raw = ctx.query.get("$expand");
  if (raw === null) return undefined;
  const names = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (n.includes("(")) throw unsupportedQuery(`The query option '$expand' with nested options is not supported by the simulator.`);
    if (!known.includes(n))
      throw badRequest(`Parsing OData Select and Expand failed: Could not find a property named '${n}' on type 'microsoft.graph.${typeName}'.`);
  }
  return names;
}

/** The expanded relationships of one item: at most EXPAND_ITEMS each, no next link. */
export function expandItem(item: Json, names: string[] | undefined, expand: Record<string, (item: Json) => Json[]> | undefined): Json {
  if (!names || !expand) return {};
  const out: Json = {};
  for (const n of names) out[n] = (expand[n]?.(item) ?? []).slice(0, EXPAND_ITEMS);
  return out;
}

/**
 * Lists a collection with the query options applied and one page cut out. `items` are the visible objects in
 * storage order (creation order, like a fresh tenant).
 */
export function listCollection(ctx: GraphCtx, items: Json[], opts: ListOptions): Reply {
  checkQueryOptions(ctx, [...SUPPORTED, ...(opts.expand ? ["$expand"] : [])]);
  const expanded = parseExpand(ctx, opts.typeName, Object.keys(opts.expand ?? {}));
  const eventual = consistencyEventual(ctx);
  const advanced = isAdvanced(ctx);
  const select = parseSelect(ctx, opts.typeName, opts.known);

  let filter: CompiledFilter | undefined;
  const f = ctx.query.get("$filter");
  if (f !== null) {
    const spec = FILTERS[opts.filterSpec];
    if (!spec) throw unsupportedQuery(`$filter is not supported on this resource.`);
    filter = compileFilter(f, spec, advanced);
  }

  const search = ctx.query.get("$search");
  let searchTerms: Array<[string, string]> | undefined;
  if (search !== null) {
    // Errata 9.4: $search needs ConsistencyLevel: eventual.
    if (!eventual)
      throw unsupportedQuery(
        "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
      );
    searchTerms = parseSearch(search);
  }

  const orderby = ctx.query.get("$orderby");
  let order: { prop: string; desc: boolean } | undefined;
  if (orderby !== null) {
    const m = /^\s*(\w+)(?:\s+(asc|desc))?\s*$/i.exec(orderby);
    if (!m || m[1] !== "displayName") throw unsupportedQuery(`Sorting not supported for current query.`);
    // 3: $filter combined with $orderby is an advanced query.
    if ((f !== null || search !== null) && !advanced) throw unsupportedQuery("Sorting not supported for current query.");
    order = { prop: m[1], desc: (m[2] ?? "").toLowerCase() === "desc" };
  }

  const top = expanded ? Math.min(parseTop(ctx), EXPAND_PAGE) : parseTop(ctx);
  const offset = parseSkipToken(ctx);

  let matched = items.filter((i) => (filter ? filter.test(i) : true));
  if (searchTerms) {
    const terms = searchTerms;
    matched = matched.filter((i) => terms.every(([p, t]) => typeof i[p] === "string" && (i[p] as string).toLowerCase().includes(t)));
  }
  if (order) {
    const { prop, desc } = order;
    matched = [...matched].sort((a, b) => String(a[prop] ?? "").localeCompare(String(b[prop] ?? "")) * (desc ? -1 : 1));
  }

  const page = matched.slice(offset, offset + top).map((i) => {
    const p = { ...project(structuredClone(i), select ?? opts.defaultProps?.(i)), ...expandItem(i, expanded, opts.expand) };
    const t = opts.odataType?.(i);
    return t ? { "@odata.type": t, ...p } : p;
  });
  const body: Json = { "@odata.context": contextUrl(ctx, opts.entitySet, select) };
  // Errata 9.4: $count=true without ConsistencyLevel is ignored, not an error.
  if (advanced) body["@odata.count"] = matched.length;
  if (offset + top < matched.length) body["@odata.nextLink"] = nextLink(ctx, offset + top);
  body.value = page;
  return { status: 200, body };
}

/** `GET /{collection}/$count`: 400 without ConsistencyLevel (errata 9.4), else a text/plain number. */
export function countCollection(ctx: GraphCtx, items: Json[], filterSpec: string): Reply {
  if (!consistencyEventual(ctx)) throw badRequest("$count is not currently supported.");
  const f = ctx.query.get("$filter");
  const spec = FILTERS[filterSpec];
  const filter = f !== null && spec ? compileFilter(f, spec, true) : undefined;
  const n = items.filter((i) => (filter ? filter.test(i) : true)).length;
  return { status: 200, text: String(n), headers: { "content-type": "text/plain" } };
}

function parseTop(ctx: GraphCtx): number {
  const raw = ctx.query.get("$top");
  if (raw === null) return DEFAULT_TOP;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOP)
    throw badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and ${MAX_TOP} inclusive.`);
  return n;
}

const SKIP_PREFIX = "RFNwdAIAAQAAA";

function parseSkipToken(ctx: GraphCtx): number {
  const raw = ctx.query.get("$skiptoken");
  if (raw === null) return 0;
  try {
    if (!raw.startsWith(SKIP_PREFIX)) throw new Error("prefix");
    const o = JSON.parse(Buffer.from(raw.slice(SKIP_PREFIX.length), "base64url").toString("utf8")) as { o?: unknown };
    if (typeof o.o === "number" && Number.isInteger(o.o) && o.o >= 0) return o.o;
  } catch {
    // fall through
  }
  throw new GraphError(400, "Request_BadRequest", "Skip token is null or invalid.");
}

/** Absolute link to the next page: the same query plus an opaque `$skiptoken` (3.1: never built by clients). */
function nextLink(ctx: GraphCtx, offset: number): string {
  const q = new URLSearchParams();
  for (const [k, v] of ctx.query) if (k !== "$skiptoken") q.append(k, v);
  q.set("$skiptoken", SKIP_PREFIX + Buffer.from(JSON.stringify({ o: offset })).toString("base64url"));
  const query = q.toString().replace(/\+/g, "%20").replace(/(^|&)%24/g, "$1$");
  return `${ctx.base}${ctx.path.replace(/^\/v1\.0/, "")}?${query}`;
}

function parseSearch(s: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const m of s.matchAll(/"([A-Za-z]+):([^"]*)"/g)) out.push([m[1] ?? "", (m[2] ?? "").toLowerCase()]);
  if (out.length === 0) throw badRequest(`Syntax error: invalid $search value '${s}'.`);
  return out;
}
