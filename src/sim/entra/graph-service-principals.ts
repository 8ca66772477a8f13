import { GraphError, badRequest, notFound } from "./errors.js";
import { methodNotAllowed } from "./graph-applications.js";
import { jsonBody, noContent, resolveEntity, type GraphCtx, type Reply, type Segment } from "./graph-context.js";
import { handleOwners, ownersFromBind } from "./graph-owners.js";
import { checkQueryOptions, contextUrl, countCollection, listCollection, parseSelect, project } from "./graph-query.js";
import { DEFAULT_ACCESS_ROLE_ID } from "./ids.js";
import {
  READ_APPS,
  READ_ASSIGNMENTS,
  requireAny,
  requireAssignmentWrite,
  requireCreate,
  requireWrite,
} from "./permissions.js";
import { SELECTABLE, appRoleAssignmentType, mergePatch, servicePrincipalType, validateBody } from "./schema.js";
import type { Json } from "./shapes.js";
import type { Entity } from "./state.js";

/** `/servicePrincipals` (3.8), its `appRoleAssignedTo` / `appRoleAssignments` (3.9, 1.2) and owners (3.10). */

export function handleServicePrincipals(ctx: GraphCtx, first: Segment, rest: string[]): Reply {
  if (!first.key && rest.length === 0) {
    if (ctx.method === "GET") {
      requireAny(ctx.caller, READ_APPS);
      return listCollection(ctx, ctx.dir.list("servicePrincipals").map((e) => structuredClone(e.data)), {
        filterSpec: "servicePrincipals",
        typeName: "servicePrincipal",
        known: SELECTABLE.servicePrincipals ?? new Set(),
        entitySet: "servicePrincipals",
        // Who is assigned to each (3.9), as `GET /servicePrincipals/{id}/appRoleAssignedTo` lists them.
        expand: { appRoleAssignedTo: (sp) => assignedTo(ctx, String(sp.id), "resourceId") },
      });
    }
    if (ctx.method === "POST") return createServicePrincipal(ctx);
    throw methodNotAllowed();
  }
  if (!first.key && rest[0] === "$count" && rest.length === 1 && ctx.method === "GET") {
    requireAny(ctx.caller, READ_APPS);
    return countCollection(ctx, ctx.dir.list("servicePrincipals").map((e) => e.data), "servicePrincipals");
  }
  const { entity, rest: tail } = resolveEntity(ctx, "servicePrincipals", first, rest, { appId: "appId" });
  if (tail.length === 0) {
    if (ctx.method === "GET") {
      requireAny(ctx.caller, READ_APPS);
      checkQueryOptions(ctx, ["$select"]);
      const select = parseSelect(ctx, "servicePrincipal", SELECTABLE.servicePrincipals ?? new Set());
      return {
        status: 200,
        body: { "@odata.context": contextUrl(ctx, "servicePrincipals", select, true), ...project(structuredClone(entity.data), select) },
      };
    }
    if (ctx.method === "PATCH") {
      requireWrite(ctx.caller, entity.owners);
      const body = jsonBody(ctx);
      validateBody(servicePrincipalType, "ServicePrincipal", body);
      if ("appId" in body && body.appId !== entity.data.appId) throw badRequest("Property 'appId' is read-only and cannot be set.");
      mergePatch(entity.data, body);
      return noContent();
    }
    if (ctx.method === "DELETE") {
      requireWrite(ctx.caller, entity.owners);
      ctx.dir.deleteServicePrincipal(entity);
      return noContent();
    }
    throw methodNotAllowed();
  }
  const nav = tail[0] ?? "";
  if (nav === "appRoleAssignedTo") return assignments(ctx, entity, tail.slice(1), "resourceId");
  if (nav === "appRoleAssignments") return assignments(ctx, entity, tail.slice(1), "principalId");
  if (nav === "owners") return handleOwners(ctx, entity, tail.slice(1), "servicePrincipals");
  throw new GraphError(400, "BadRequest", `Resource not found for the segment '${nav}'.`);
}

function createServicePrincipal(ctx: GraphCtx): Reply {
  requireCreate(ctx.caller);
  const body = jsonBody(ctx);
  validateBody(servicePrincipalType, "ServicePrincipal", body, { binds: ["owners"] });
  const appId = body.appId;
  if (typeof appId !== "string" || appId === "")
    throw badRequest("Invalid value specified for property 'appId' of resource 'ServicePrincipal'.");
  const ownedByOnly = !ctx.caller.permissions.has("Application.ReadWrite.All");
  const app = ctx.dir.find("applications", (d) => typeof d.appId === "string" && d.appId.toLowerCase() === appId.toLowerCase());
  if (!app) {
    // 3.8 / errata 9.2: both mean "application not replicated yet" (or absent); retryable.
    if (ownedByOnly)
      throw new GraphError(
        403,
        "Authorization_RequestDenied",
        "When using this permission, the backing application of the service principal being created must in the local tenant",
      );
    throw badRequest(`The appId '${appId}' of the service principal does not reference a valid application object.`);
  }
  // Errata 9.2: with OwnedBy, creating a service principal requires owning its application.
  if (ownedByOnly && !app.owners.includes(ctx.caller.principalId))
    throw new GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
  // Errata 9.5: one service principal per app.
  if (ctx.dir.rawSpByAppId(appId))
    throw new GraphError(
      409,
      "Request_MultipleObjectsWithSameKeyValue",
      "Another object with the same value for property servicePrincipalNames already exists.",
    );
  const owners = ownersFromBind(ctx, body);
  const props: Json = {};
  for (const [k, v] of Object.entries(body)) if (!k.includes("@odata.")) props[k] = v;
  props.appId = app.data.appId;
  const sp = ctx.dir.newServicePrincipal(app.data, props, owners);
  return { status: 201, body: { "@odata.context": contextUrl(ctx, "servicePrincipals", undefined, true), ...structuredClone(sp.data) } };
}

/** The visible assignments to (side = "resourceId") or of (side = "principalId") a service principal, as copies. */
function assignedTo(ctx: GraphCtx, spId: string, side: "resourceId" | "principalId"): Json[] {
  requireAny(ctx.caller, READ_ASSIGNMENTS);
  return ctx.dir
    .list("appRoleAssignments")
    .filter((a) => a.data[side] === spId)
    .map((a) => structuredClone(a.data));
}

/**
 * `appRoleAssignedTo` (side = "resourceId": who is assigned to this SP, 3.9) and `appRoleAssignments`
 * (side = "principalId": what this SP is granted, e.g. Graph permissions in the bootstrap, 1.2).
 */
function assignments(ctx: GraphCtx, sp: Entity, rest: string[], side: "resourceId" | "principalId"): Reply {
  const spId = String(sp.data.id);
  const nav = side === "resourceId" ? "appRoleAssignedTo" : "appRoleAssignments";
  if (rest.length === 0 && ctx.method === "GET") {
    const items = assignedTo(ctx, spId, side);
    return listCollection(ctx, items, {
      filterSpec: "appRoleAssignments",
      typeName: "appRoleAssignment",
      known: new Set(Object.keys(appRoleAssignmentType.fields)),
      entitySet: `servicePrincipals('${spId}')/${nav}`,
    });
  }
  if (rest.length === 0 && ctx.method === "POST") {
    requireAssignmentWrite(ctx.caller);
    const body = jsonBody(ctx);
    validateBody(appRoleAssignmentType, "AppRoleAssignment", body);
    for (const k of ["principalId", "resourceId", "appRoleId"])
      if (typeof body[k] !== "string") throw badRequest(`Invalid value specified for property '${k}' of resource 'AppRoleAssignment'.`);
    const principalId = String(body.principalId).toLowerCase();
    const resourceId = String(body.resourceId).toLowerCase();
    const appRoleId = String(body.appRoleId).toLowerCase();
    if ((side === "resourceId" ? resourceId : principalId) !== spId) throw badRequest("Not a valid reference update.");
    const principal = ctx.dir.directoryObject(principalId);
    if (!principal || principal.type === "application") throw notFound(principalId);
    const resource = side === "resourceId" ? sp : ctx.dir.get("servicePrincipals", resourceId);
    if (!resource) throw notFound(resourceId);
    // 3.9: the default-access role, or one of the resource's enabled app roles for this kind of principal.
    if (appRoleId !== DEFAULT_ACCESS_ROLE_ID) {
      const member = principal.type === "servicePrincipal" ? "Application" : "User";
      const roles = (resource.data.appRoles ?? []) as Json[];
      const ok = roles.some(
        (r) => String(r.id).toLowerCase() === appRoleId && r.isEnabled !== false && ((r.allowedMemberTypes ?? []) as string[]).includes(member),
      );
      if (!ok) throw badRequest(`Permission being assigned was not found on application '${String(resource.data.appId)}'.`);
    }
    // 3.9: a duplicate assignment is 400.
    const dup = ctx.dir.findRaw(
      "appRoleAssignments",
      (d) => d.principalId === principalId && d.resourceId === String(resource.data.id) && d.appRoleId === appRoleId,
    );
    if (dup) throw badRequest("Permission being assigned already exists on the object");
    const a = ctx.dir.newAssignment(principal, resource, appRoleId);
    return {
      status: 201,
      body: { "@odata.context": `${ctx.base}/$metadata#servicePrincipals('${spId}')/${nav}/$entity`, ...structuredClone(a.data) },
    };
  }
  if (rest.length === 1 && ctx.method === "DELETE") {
    requireAssignmentWrite(ctx.caller);
    const id = rest[0] ?? "";
    const a = ctx.dir.get("appRoleAssignments", id);
    if (!a || a.data[side] !== spId) throw notFound(id);
    ctx.dir.collections.appRoleAssignments.delete(id);
    return noContent();
  }
  if (rest.length === 1 && ctx.method === "GET") {
    requireAny(ctx.caller, READ_ASSIGNMENTS);
    const id = rest[0] ?? "";
    const a = ctx.dir.get("appRoleAssignments", id);
    if (!a || a.data[side] !== spId) throw notFound(id);
    return { status: 200, body: { "@odata.context": `${ctx.base}/$metadata#servicePrincipals('${spId}')/${nav}/$entity`, ...structuredClone(a.data) } };
  }
  throw methodNotAllowed();
}
