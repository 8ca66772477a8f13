import { badRequest, notFound } from "./errors.js";
import { idFromReference, jsonBody, noContent, type GraphCtx, type Reply } from "./graph-context.js";
import { listCollection } from "./graph-query.js";
import { READ_APPS, requireAny, requireOwnerChange } from "./permissions.js";
import type { Entity } from "./state.js";
import type { Json } from "./shapes.js";

/**
 * `owners` of applications and service principals (3.10): list, `POST …/owners/$ref`, `DELETE …/owners/{id}/$ref`.
 */

/** Owner ids from `owners@odata.bind` (3.3): any origin, the trailing id; must be a user or service principal. */
export function ownersFromBind(ctx: GraphCtx, body: Json): string[] {
  const raw = body["owners@odata.bind"];
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw badRequest("Invalid value specified for property 'owners' of resource 'Application'.");
  const ids: string[] = [];
  for (const ref of raw) {
    const id = idFromReference(ref);
    const obj = ctx.dir.directoryObject(id);
    if (!obj) throw notFound(id);
    if (obj.type !== "user" && obj.type !== "servicePrincipal") throw badRequest("Invalid owner: owners must be users or service principals.");
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

export function handleOwners(ctx: GraphCtx, target: Entity, rest: string[], resourceSet: string): Reply {
  // rest: [] | ["$ref"] | [ownerId, "$ref"]
  if (rest.length === 0 && ctx.method === "GET") {
    requireAny(ctx.caller, READ_APPS);
    const items: Json[] = [];
    const types = new Map<string, string>();
    for (const id of target.owners) {
      const o = ctx.dir.directoryObject(id);
      if (!o) continue;
      items.push(o.entity.data);
      types.set(String(o.entity.data.id), `#microsoft.graph.${o.type}`);
    }
    return listCollection(ctx, items, {
      filterSpec: "none",
      typeName: "directoryObject",
      known: new Set(items.flatMap((i) => Object.keys(i))),
      entitySet: "directoryObjects",
      odataType: (i) => types.get(String(i.id)),
    });
  }
  if (rest.length === 1 && rest[0] === "$ref" && ctx.method === "POST") {
    requireOwnerChange(ctx.caller, target.owners);
    const body = jsonBody(ctx);
    for (const k of Object.keys(body))
      if (k !== "@odata.id") throw badRequest(`The property '${k}' does not exist on type 'microsoft.graph.directoryObject'. Make sure to only use property names that are defined by the type or mark the type as open type.`);
    const id = idFromReference(body["@odata.id"]);
    const obj = ctx.dir.directoryObject(id);
    if (!obj) throw notFound(id);
    // 3.10 [U: wording]: adding an existing owner is a 400.
    if (target.owners.includes(id))
      throw badRequest("One or more added object references already exist for the following modified properties: 'owners'.");
    target.owners.push(id);
    return noContent();
  }
  if (rest.length === 2 && rest[1] === "$ref" && ctx.method === "DELETE") {
    requireOwnerChange(ctx.caller, target.owners);
    const id = (rest[0] ?? "").toLowerCase();
    if (!target.owners.includes(id)) throw notFound(id);
    target.owners = target.owners.filter((o) => o !== id);
    return noContent();
  }
  throw badRequest(`Unsupported request on '${resourceSet}/owners'.`);
}
