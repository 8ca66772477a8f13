import { normaliseKeyCredential } from "./client-assertion.js";
import { checkAppRoles, syncServicePrincipalRoles } from "./graph-app-roles.js";
import { GraphError, badRequest, notFound } from "./errors.js";
import { jsonBody, noContent, resolveEntity, type GraphCtx, type Reply, type Segment } from "./graph-context.js";
import { handleOwners, ownersFromBind } from "./graph-owners.js";
import { enforcePasswordPolicies, expandApplicationPolicies, listApplicationPolicies } from "./graph-policies.js";
import { checkQueryOptions, contextUrl, countCollection, listCollection, parseSelect, project } from "./graph-query.js";
import { graphDate, isGuid, newGuid, newSecretText } from "./ids.js";
import { READ_APPS, requireAny, requireCreate, requireWrite } from "./permissions.js";
import { SELECTABLE, applicationType, mergePatch, passwordCredentialType, validateBody } from "./schema.js";
import type { Json } from "./shapes.js";
import type { Entity } from "./state.js";

/** `/applications` (3.1–3.7, 3.10). */

const ALT_KEYS = { appId: "appId", uniqueName: "uniqueName" };

export function handleApplications(ctx: GraphCtx, first: Segment, rest: string[]): Reply {
  if (!first.key && rest.length === 0) {
    if (ctx.method === "GET") return listApplications(ctx);
    if (ctx.method === "POST") return createApplication(ctx);
    throw methodNotAllowed();
  }
  if (!first.key && rest[0] === "$count" && rest.length === 1 && ctx.method === "GET") {
    requireAny(ctx.caller, READ_APPS);
    return countCollection(ctx, visibleApps(ctx), "applications");
  }
  // 3.4: PATCH /applications(uniqueName='…') with Prefer: create-if-missing is an upsert.
  if (first.key?.prop === "uniqueName" && rest.length === 0 && ctx.method === "PATCH") return upsertApplication(ctx, first.key.value);

  const { entity, rest: tail } = resolveEntity(ctx, "applications", first, rest, ALT_KEYS);
  if (tail.length === 0) {
    if (ctx.method === "GET") return getApplication(ctx, entity);
    if (ctx.method === "PATCH") return patchApplication(ctx, entity);
    if (ctx.method === "DELETE") {
      requireWrite(ctx.caller, entity.owners);
      ctx.dir.deleteApplication(entity);
      return noContent();
    }
    throw methodNotAllowed();
  }
  const action = tail[0] ?? "";
  if (action === "addPassword" && tail.length === 1 && ctx.method === "POST") return addPassword(ctx, entity);
  if (action === "removePassword" && tail.length === 1 && ctx.method === "POST") return removePassword(ctx, entity);
  if (action === "owners") return handleOwners(ctx, entity, tail.slice(1), "applications");
  if (action === "appManagementPolicies") return listApplicationPolicies(ctx, entity, tail.slice(1));
  throw new GraphError(400, "BadRequest", `Resource not found for the segment '${action}'.`);
}

export function methodNotAllowed(): GraphError {
  return new GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.");
}

/**
 * What a Graph read shows: a copy, without credentials still replicating (3.7), never a secretText (3.2), and
 * `keyCredentials[].key` only when `keyCredentials` is selected (3.1).
 */
export function renderApplication(ctx: GraphCtx, e: Entity, select?: string[]): Json {
  const data = structuredClone(e.data);
  if (!select?.includes("keyCredentials"))
    data.keyCredentials = ((data.keyCredentials ?? []) as Json[]).map((k) => ({ ...k, key: null }));
  const creds = (data.passwordCredentials ?? []) as Json[];
  data.passwordCredentials = creds.filter((c) => ctx.dir.credentialVisible(String(c.keyId))).map((c) => ({ ...c, secretText: null }));
  return data;
}

function visibleApps(ctx: GraphCtx): Json[] {
  const raw = ctx.query.get("$select");
  const select = raw === null ? undefined : raw.split(",").map((s) => s.trim());
  return ctx.dir.list("applications").map((e) => renderApplication(ctx, e, select));
}

function listApplications(ctx: GraphCtx): Reply {
  // 1.2: OwnedBy lists every application in the tenant, not only owned ones.
  requireAny(ctx.caller, READ_APPS);
  return listCollection(ctx, visibleApps(ctx), {
    filterSpec: "applications",
    typeName: "application",
    known: SELECTABLE.applications ?? new Set(),
    entitySet: "applications",
    expand: { appManagementPolicies: expandApplicationPolicies(ctx) },
  });
}

function getApplication(ctx: GraphCtx, e: Entity): Reply {
  requireAny(ctx.caller, READ_APPS);
  checkQueryOptions(ctx, ["$select"]);
  const select = parseSelect(ctx, "application", SELECTABLE.applications ?? new Set());
  return {
    status: 200,
    body: { "@odata.context": contextUrl(ctx, "applications", select, true), ...project(renderApplication(ctx, e, select), select) },
  };
}

function createBodyChecks(body: Json): Json {
  validateBody(applicationType, "Application", body, { binds: ["owners"] });
  if (typeof body.displayName !== "string" || body.displayName.trim() === "")
    throw badRequest("Invalid value specified for property 'displayName' of resource 'Application'.");
  // 3.3: passwords cannot be added at creation; use addPassword. [U: exact message]
  if (Array.isArray(body.passwordCredentials) && body.passwordCredentials.length > 0)
    throw badRequest("Invalid value specified for property 'passwordCredentials' of resource 'Application'.");
  const props: Json = {};
  for (const [k, v] of Object.entries(body)) if (!k.includes("@odata.")) props[k] = v;
  delete props.passwordCredentials;
  if (Array.isArray(props.keyCredentials)) props.keyCredentials = (props.keyCredentials as Json[]).map(normaliseKeyCredential);
  if ("appRoles" in props) props.appRoles = checkAppRoles(props.appRoles, []);
  return props;
}

function uniqueNameTaken(ctx: GraphCtx, name: unknown, except?: Entity): void {
  if (typeof name !== "string") return;
  const other = ctx.dir.findRaw("applications", (d) => typeof d.uniqueName === "string" && d.uniqueName.toLowerCase() === name.toLowerCase());
  if (other && other !== except)
    throw new GraphError(400, "Request_MultipleObjectsWithSameKeyValue", "Another object with the same value for property uniqueName already exists.");
}

function createApplication(ctx: GraphCtx, extra: Json = {}): Reply {
  requireCreate(ctx.caller);
  const body = jsonBody(ctx);
  const props = { ...createBodyChecks(body), ...extra };
  uniqueNameTaken(ctx, props.uniqueName);
  // 1.2 / 8.1: only owners@odata.bind makes the caller an owner; the simulator adds nobody implicitly.
  const owners = ownersFromBind(ctx, body);
  const e = ctx.dir.newApplication(props, owners);
  // 4.4: the write response is authoritative even while reads still miss the object.
  const data = structuredClone(e.data);
  return { status: 201, body: { "@odata.context": contextUrl(ctx, "applications", undefined, true), ...data } };
}

function upsertApplication(ctx: GraphCtx, uniqueName: string): Reply {
  const existing = ctx.dir.find("applications", (d) => typeof d.uniqueName === "string" && d.uniqueName.toLowerCase() === uniqueName.toLowerCase());
  // [U] Whether the upsert of an existing app accepts `owners@odata.bind` is not documented; the simulator adds
  // the owners (the caller must already own the app), so a client may send the create body unchanged.
  if (existing) return patchApplication(ctx, existing, ["owners"]);
  const prefer = String(ctx.headers["prefer"] ?? "").toLowerCase();
  if (!prefer.split(",").map((s) => s.trim()).includes("create-if-missing")) throw notFound(uniqueName);
  return createApplication(ctx, { uniqueName });
}

function patchApplication(ctx: GraphCtx, e: Entity, binds: string[] = []): Reply {
  requireWrite(ctx.caller, e.owners);
  const body = jsonBody(ctx);
  validateBody(applicationType, "Application", body, { binds });
  if (binds.includes("owners")) for (const o of ownersFromBind(ctx, body)) if (!e.owners.includes(o)) e.owners.push(o);
  // 3.5: PATCH cannot set passwordCredentials. [U: exact message]
  if ("passwordCredentials" in body)
    throw badRequest("Invalid value specified for property 'passwordCredentials' of resource 'Application'.");
  if ("uniqueName" in body && e.data.uniqueName !== null && body.uniqueName !== e.data.uniqueName)
    throw badRequest("Property 'uniqueName' is read-only and cannot be set.");
  uniqueNameTaken(ctx, body.uniqueName, e);
  if (Array.isArray(body.keyCredentials)) body.keyCredentials = (body.keyCredentials as Json[]).map(normaliseKeyCredential);
  // App roles: an enabled role must be disabled in an earlier PATCH before it can change or go (graph-app-roles.ts).
  if ("appRoles" in body) body.appRoles = checkAppRoles(body.appRoles, e.data.appRoles);
  // Errata 9.9: nested objects merged, lists replaced whole.
  mergePatch(e.data, body);
  if ("appRoles" in body) syncServicePrincipalRoles(ctx.dir, e);
  return noContent();
}

function addPassword(ctx: GraphCtx, e: Entity): Reply {
  requireWrite(ctx.caller, e.owners);
  const body = jsonBody(ctx);
  for (const k of Object.keys(body))
    if (k !== "passwordCredential")
      throw badRequest(`The parameter '${k}' in the request payload is not a valid parameter for the operation 'addPassword'.`);
  const pc = (body.passwordCredential ?? {}) as Json;
  if (typeof pc !== "object" || pc === null || Array.isArray(pc))
    throw badRequest("Invalid value specified for property 'passwordCredential' of resource 'PasswordCredential'.");
  validateBody(passwordCredentialType, "PasswordCredential", pc, {});
  const now = ctx.dir.now();
  const start = typeof pc.startDateTime === "string" ? new Date(pc.startDateTime) : now;
  let end: Date;
  if (typeof pc.endDateTime === "string") end = new Date(pc.endDateTime);
  else {
    // 3.7: endDateTime defaults to startDateTime + 2 years.
    end = new Date(start);
    end.setUTCFullYear(end.getUTCFullYear() + 2);
  }
  if (end.getTime() <= start.getTime())
    throw badRequest("Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.");
  // Errata 9.6: the tenant's (or the app's own) app management policy.
  enforcePasswordPolicies(ctx, e, start, end);
  const secretText = newSecretText();
  const cred: Json = {
    customKeyIdentifier: null,
    displayName: typeof pc.displayName === "string" ? pc.displayName : null,
    endDateTime: graphDate(end),
    hint: secretText.slice(0, 3),
    keyId: newGuid(),
    secretText: null,
    startDateTime: graphDate(start),
  };
  (e.data.passwordCredentials as Json[]).push(cred);
  ctx.dir.storeSecret(String(e.data.id), String(cred.keyId), secretText, true);
  // 3.7: 200 (not 201); secretText appears in this response only.
  return {
    status: 200,
    body: { "@odata.context": `${ctx.base}/$metadata#microsoft.graph.passwordCredential`, ...cred, secretText },
  };
}

function removePassword(ctx: GraphCtx, e: Entity): Reply {
  requireWrite(ctx.caller, e.owners);
  const body = jsonBody(ctx);
  for (const k of Object.keys(body))
    if (k !== "keyId")
      throw badRequest(`The parameter '${k}' in the request payload is not a valid parameter for the operation 'removePassword'.`);
  const keyId = body.keyId;
  if (typeof keyId !== "string" || !isGuid(keyId))
    throw badRequest("Invalid value specified for property 'keyId' of resource 'PasswordCredential'.");
  const creds = (e.data.passwordCredentials ?? []) as Json[];
  const match = (c: Json): boolean => String(c.keyId).toLowerCase() === keyId.toLowerCase();
  for (const c of creds.filter(match)) ctx.dir.dropSecret(String(c.keyId));
  e.data.passwordCredentials = creds.filter((c) => !match(c));
  // Errata 9.3: an unknown keyId is also 204.
  return noContent();
}
