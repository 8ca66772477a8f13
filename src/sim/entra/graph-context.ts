import type { IncomingHttpHeaders } from "node:http";
import { badRequest, invalidObjectId, notFound } from "./errors.js";
import { isGuid } from "./ids.js";
import type { Caller } from "./permissions.js";
import type { CollectionName, Directory, Entity } from "./state.js";
import type { Json } from "./shapes.js";

/** One Graph request after authentication. */
export interface GraphCtx {
  dir: Directory;
  method: string;
  /** Path segments after `/v1.0`, percent-decoded. */
  segments: string[];
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** `${graphUrl}/v1.0`: links the simulator emits point at itself (3). */
  base: string;
  /** Decoded request path, for @odata.nextLink. */
  path: string;
  caller: Caller;
}

export interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export const noContent = (): Reply => ({ status: 204 });

/** Parsed JSON object body; Graph answers 400 for anything else. */
export function jsonBody(ctx: GraphCtx): Json {
  let v: unknown;
  try {
    v = ctx.rawBody.trim() === "" ? undefined : JSON.parse(ctx.rawBody);
  } catch {
    v = undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw badRequest(
      "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
    );
  return v as Json;
}

/** A path segment such as `applications`, `applications(appId='…')` or `users('$x@y.com')`. */
export interface Segment {
  name: string;
  key?: { prop?: string; value: string };
}

export function parseSegment(s: string): Segment {
  const m = /^([^()]+)\((.*)\)$/.exec(s);
  if (!m) return { name: s };
  const name = m[1] ?? s;
  const inner = (m[2] ?? "").trim();
  const alt = /^([A-Za-z]+)\s*=\s*'((?:[^']|'')*)'$/.exec(inner);
  if (alt) return { name, key: { prop: alt[1] ?? "", value: (alt[2] ?? "").replace(/''/g, "'") } };
  const quoted = /^'((?:[^']|'')*)'$/.exec(inner);
  if (quoted) return { name, key: { value: (quoted[1] ?? "").replace(/''/g, "'") } };
  return { name, key: { value: inner } };
}

/**
 * Resolves `/{coll}/{id}` or `/{coll}(prop='v')` to a visible entity. A malformed object id is 400 (errata 9.8),
 * a missing or still-replicating one 404 (4.4). Returns the entity and the remaining segments.
 */
export function resolveEntity(
  ctx: GraphCtx,
  coll: CollectionName,
  first: Segment,
  rest: string[],
  altKeys: Record<string, string> = {},
  idLookup?: (id: string) => Entity | undefined,
): { entity: Entity; rest: string[] } {
  let entity: Entity | undefined;
  let shown: string;
  if (first.key) {
    const { prop, value } = first.key;
    shown = value;
    if (prop === undefined || prop === "id") {
      entity = lookupId(ctx, coll, value, idLookup);
    } else {
      const field = altKeys[prop];
      if (!field) throw badRequest(`The key property '${prop}' is not an alternate key of '${coll}'.`);
      entity = ctx.dir.find(coll, (d) => typeof d[field] === "string" && (d[field] as string).toLowerCase() === value.toLowerCase());
    }
  } else {
    const id = rest[0] ?? "";
    rest = rest.slice(1);
    shown = id;
    entity = lookupId(ctx, coll, id, idLookup);
  }
  if (!entity) throw notFound(shown);
  return { entity, rest };
}

function lookupId(ctx: GraphCtx, coll: CollectionName, id: string, idLookup?: (id: string) => Entity | undefined): Entity | undefined {
  if (idLookup) return idLookup(id);
  if (!isGuid(id)) throw invalidObjectId(id);
  return ctx.dir.get(coll, id.toLowerCase());
}

/** `https://graph.microsoft.com/v1.0/directoryObjects/{id}` (any origin): the trailing id (3.3). */
export function idFromReference(ref: unknown): string {
  if (typeof ref !== "string") throw badRequest("Invalid value specified for property '@odata.id'.");
  const tail = ref.replace(/\/+$/, "").split("/").pop() ?? "";
  const m = /^(?:[A-Za-z]+\()?'?([^'()]+)'?\)?$/.exec(tail);
  const id = m?.[1] ?? tail;
  if (!isGuid(id)) throw invalidObjectId(id);
  return id.toLowerCase();
}
