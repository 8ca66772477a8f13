import { GraphError, invalidObjectId, notFound } from "./errors.js";
import { methodNotAllowed } from "./graph-applications.js";
import { checkQueryOptions, contextUrl, countCollection, listCollection, parseSelect, project } from "./graph-query.js";
import type { GraphCtx, Reply, Segment } from "./graph-context.js";
import { transitiveGroups } from "./id-token.js";
import { isGuid } from "./ids.js";
import { READ_GROUPS, READ_USERS, requireAny } from "./permissions.js";
import { groupTemplate, userTemplate, type Json } from "./shapes.js";
import { eqi, type Entity } from "./state.js";

/** `/users` and `/groups` (3.11): read-only, resolved by id, UPN or `$filter=displayName eq '…'`. */

const USER_PROPS = new Set([
  ...Object.keys(userTemplate({ id: "", displayName: "", userPrincipalName: "" })),
  "accountEnabled",
  "userType",
]);
const GROUP_PROPS = new Set(Object.keys(groupTemplate({ id: "", displayName: "" }, new Date(0))));

export function handleUsers(ctx: GraphCtx, first: Segment, rest: string[]): Reply {
  const memberObjects = getMemberObjects(ctx, first, rest);
  if (memberObjects) return memberObjects;
  requireAny(ctx.caller, READ_USERS);
  if (ctx.method !== "GET") throw methodNotAllowed();
  if (!first.key && rest.length === 0)
    return listCollection(ctx, ctx.dir.list("users").map((e) => structuredClone(e.data)), {
      filterSpec: "users",
      typeName: "user",
      known: USER_PROPS,
      entitySet: "users",
    });
  if (!first.key && rest[0] === "$count" && rest.length === 1)
    return countCollection(ctx, ctx.dir.list("users").map((e) => e.data), "users");
  // 3.11: /users/{id | userPrincipalName} and /users('{upn}').
  const key = first.key ? first.key.value : (rest[0] ?? "");
  const tail = first.key ? rest : rest.slice(1);
  const user = isGuid(key)
    ? ctx.dir.get("users", key.toLowerCase())
    : ctx.dir.find("users", (d) => eqi(d.userPrincipalName, key));
  if (!user) throw notFound(key);
  if (tail.length > 0) throw new GraphError(400, "BadRequest", `Resource not found for the segment '${tail[0] ?? ""}'.`);
  checkQueryOptions(ctx, ["$select"]);
  const select = parseSelect(ctx, "user", USER_PROPS);
  return { status: 200, body: { "@odata.context": contextUrl(ctx, "users", select, true), ...project(structuredClone(user.data), select) } };
}

export function handleGroups(ctx: GraphCtx, first: Segment, rest: string[]): Reply {
  requireAny(ctx.caller, READ_GROUPS);
  if (ctx.method !== "GET") throw methodNotAllowed();
  if (!first.key && rest.length === 0)
    return listCollection(ctx, ctx.dir.list("groups").map((e) => structuredClone(e.data)), {
      filterSpec: "groups",
      typeName: "group",
      known: GROUP_PROPS,
      entitySet: "groups",
    });
  if (!first.key && rest[0] === "$count" && rest.length === 1)
    return countCollection(ctx, ctx.dir.list("groups").map((e) => e.data), "groups");
  const id = first.key ? first.key.value : (rest[0] ?? "");
  const tail = first.key ? rest : rest.slice(1);
  if (!isGuid(id)) throw invalidObjectId(id);
  const group = ctx.dir.get("groups", id.toLowerCase());
  if (!group) throw notFound(id);
  if (tail.length === 0) {
    checkQueryOptions(ctx, ["$select"]);
    const select = parseSelect(ctx, "group", GROUP_PROPS);
    return { status: 200, body: { "@odata.context": contextUrl(ctx, "groups", select, true), ...project(structuredClone(group.data), select) } };
  }
  if (tail[0] === "members" && tail.length === 1) return listMembers(ctx, group);
  throw new GraphError(400, "BadRequest", `Resource not found for the segment '${tail[0] ?? ""}'.`);
}

/** `GET /me`: the signed-in user of a delegated token (bootstrap, 1.3). */
export function handleMe(ctx: GraphCtx, rest: string[]): Reply {
  if (ctx.caller.kind !== "user")
    throw new GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.");
  if (ctx.method !== "GET") throw methodNotAllowed();
  if (rest.length > 0) throw new GraphError(400, "BadRequest", `Resource not found for the segment '${rest[0] ?? ""}'.`);
  const user = ctx.dir.get("users", ctx.caller.principalId);
  if (!user) throw notFound(ctx.caller.principalId);
  checkQueryOptions(ctx, ["$select"]);
  const select = parseSelect(ctx, "user", USER_PROPS);
  return { status: 200, body: { "@odata.context": contextUrl(ctx, "users", select, true), ...project(structuredClone(user.data), select) } };
}

/**
 * `POST /users/{id}/getMemberObjects` (the groups-claim overage pointer, 5.3): ids of every group the user is in,
 * nested ones included; `securityEnabledOnly` keeps security groups. Callable by the user themself (a delegated
 * token of theirs, User.Read) or by an app that reads users and groups. Undefined when the request is not this.
 */
function getMemberObjects(ctx: GraphCtx, first: Segment, rest: string[]): Reply | undefined {
  const key = first.key ? first.key.value : rest[0];
  const tail = first.key ? rest : rest.slice(1);
  if (key === undefined || tail.length !== 1 || tail[0] !== "getMemberObjects") return undefined;
  if (ctx.method !== "POST") throw methodNotAllowed();
  const user = isGuid(key) ? ctx.dir.get("users", key.toLowerCase()) : ctx.dir.find("users", (d) => eqi(d.userPrincipalName, key));
  const self = ctx.caller.kind === "user" && user !== undefined && eqi(ctx.caller.principalId, user.data.id);
  if (!self) {
    requireAny(ctx.caller, READ_USERS);
    requireAny(ctx.caller, READ_GROUPS);
  }
  if (!user) throw notFound(key);
  let body: Json = {};
  try {
    body = ctx.rawBody ? (JSON.parse(ctx.rawBody) as Json) : {};
  } catch {
    throw new GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
  }
  if (typeof body.securityEnabledOnly !== "boolean")
    throw new GraphError(400, "Request_BadRequest", "The parameter 'securityEnabledOnly' in the request payload is not a valid parameter for the function 'getMemberObjects'.");
  const groups = transitiveGroups(ctx.dir, String(user.data.id)).filter((g) => !body.securityEnabledOnly || g.data.securityEnabled !== false);
  return {
    status: 200,
    body: { "@odata.context": `${ctx.base}/$metadata#Collection(Edm.String)`, value: groups.map((g) => String(g.data.id)) },
  };
}

function listMembers(ctx: GraphCtx, group: Entity): Reply {
  const items: Json[] = [];
  const types = new Map<string, string>();
  for (const id of group.members) {
    const o = ctx.dir.directoryObject(id);
    if (!o) continue;
    items.push(structuredClone(o.entity.data));
    types.set(id, `#microsoft.graph.${o.type}`);
  }
  return listCollection(ctx, items, {
    filterSpec: "users",
    typeName: "directoryObject",
    known: USER_PROPS,
    entitySet: "directoryObjects",
    odataType: (i) => types.get(String(i.id)),
  });
}
