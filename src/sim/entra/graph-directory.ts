import { GraphError, invalidObjectId, notFound } from "./errors.js";
import { methodNotAllowed } from "./graph-applications.js";
import { checkQueryOptions, contextUrl, countCollection, isAdvanced, listCollection, parseSelect, project } from "./graph-query.js";
import type { GraphCtx, Reply, Segment } from "./graph-context.js";
import { transitiveGroups } from "./id-token.js";
import { isGuid } from "./ids.js";
import { READ_GROUPS, READ_USERS, hasAny, requireAny } from "./permissions.js";
import { groupTemplate, userTemplate, type Json } from "./shapes.js";
import { eqi, type Entity } from "./state.js";

/**
 * `/users` and `/groups` (3.11): read-only, resolved by id, UPN or `$filter`; group members, direct and transitive,
 * with OData casts (`/members/microsoft.graph.user`).
 */

/** A user's default properties: what Graph returns without `$select` (3.11). */
const USER_DEFAULT = Object.keys(userTemplate({ id: "", displayName: "", userPrincipalName: "" }));
/** Selectable user properties: the default set plus those "returned only on $select". */
const USER_PROPS = new Set([...USER_DEFAULT, "accountEnabled", "userType"]);
const GROUP_PROPS = new Set(Object.keys(groupTemplate({ id: "", displayName: "" }, new Date(0))));
const MEMBER_PROPS = new Set([...USER_PROPS, ...GROUP_PROPS]);
/**
 * The basic profile User.ReadBasic.All reads (Graph permissions reference: display name, first and last name, email
 * address, photo; `id` and `userPrincipalName`). Everything else, `accountEnabled` included, needs User.Read.All or
 * Directory.Read.All: selected anyway, it comes back null [U: null rather than absent; the spec (1.2, 3.11) is silent
 * and Microsoft's docs only say the permission "restricts" the properties].
 */
const BASIC_USER_PROPS = ["id", "displayName", "givenName", "surname", "mail", "userPrincipalName"];
const FULL_USER_READ = ["User.Read.All", "Directory.Read.All"];

/** Member collections of a group, and the OData casts a member collection accepts. */
const MEMBER_NAVS = new Set(["members", "transitiveMembers"]);
const CASTS = new Set(["user", "group", "servicePrincipal", "device", "orgContact", "application"]);

/**
 * A user as this caller may read it: everything (`accountEnabled`, `userType` included) with User.Read.All or
 * Directory.Read.All (or for the user themself), the basic profile with User.ReadBasic.All, else only the id:
 * Graph's "limited information returned for inaccessible member objects" (members of a group, where reading the
 * group suffices to list them) [D: Graph docs, group-list-members "Important" note].
 */
function userView(ctx: GraphCtx, e: Entity): Json {
  const id = String(e.data.id);
  const full: Json = {
    ...structuredClone(e.data),
    accountEnabled: ctx.dir.accountEnabled(id),
    userType: ctx.dir.userSignIn.get(id)?.userType ?? "Member",
  };
  const self = ctx.caller.kind === "user" && eqi(ctx.caller.principalId, id);
  if (self || hasAny(ctx.caller, FULL_USER_READ)) return full;
  if (ctx.caller.permissions.has("User.ReadBasic.All")) {
    const out: Json = {};
    for (const p of BASIC_USER_PROPS) out[p] = full[p];
    return out;
  }
  return { id };
}

const userDefaults = (): string[] => USER_DEFAULT;

export function handleUsers(ctx: GraphCtx, first: Segment, rest: string[]): Reply {
  const memberObjects = getMemberObjects(ctx, first, rest);
  if (memberObjects) return memberObjects;
  requireAny(ctx.caller, READ_USERS);
  if (ctx.method !== "GET") throw methodNotAllowed();
  if (!first.key && rest.length === 0)
    return listCollection(ctx, ctx.dir.list("users").map((e) => userView(ctx, e)), {
      filterSpec: "users",
      typeName: "user",
      known: USER_PROPS,
      entitySet: "users",
      defaultProps: userDefaults,
    });
  if (!first.key && rest[0] === "$count" && rest.length === 1)
    return countCollection(ctx, ctx.dir.list("users").map((e) => userView(ctx, e)), "users");
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
  return { status: 200, body: { "@odata.context": contextUrl(ctx, "users", select, true), ...project(userView(ctx, user), select ?? USER_DEFAULT) } };
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
  if (MEMBER_NAVS.has(tail[0] ?? "") && tail.length <= 3) return listMembers(ctx, group, tail[0] === "transitiveMembers", tail.slice(1));
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
  return { status: 200, body: { "@odata.context": contextUrl(ctx, "users", select, true), ...project(userView(ctx, user), select ?? USER_DEFAULT) } };
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

/**
 * `GET /groups/{id}/members` and `/transitiveMembers` (every member reachable through nested groups, each once, the
 * nested groups included), optionally cast (`/microsoft.graph.user`: users only, as `users`) and counted (`/$count`,
 * with ConsistencyLevel: eventual). Paged like any collection: `$top` up to 999, absolute `@odata.nextLink`.
 * Permission: reading the group (GroupMember.Read.All, Group.Read.All or Directory.Read.All), checked by the caller;
 * members the caller may not read come back with their id and type only (userView).
 */
function listMembers(ctx: GraphCtx, group: Entity, transitive: boolean, rest: string[]): Reply {
  let cast: string | undefined;
  let count = false;
  for (const [i, seg] of rest.entries()) {
    if (seg === "$count" && i === rest.length - 1) count = true;
    else if (i === 0 && seg.startsWith("microsoft.graph.") && CASTS.has(seg.slice("microsoft.graph.".length))) cast = seg.slice("microsoft.graph.".length);
    else throw new GraphError(400, "BadRequest", `Resource not found for the segment '${seg}'.`);
  }
  if (ctx.method !== "GET") throw methodNotAllowed();
  // "An attempt to filter by an OData cast that represents an unsupported member type returns 400
  // Request_UnsupportedQuery", e.g. groups in a Microsoft 365 group [D: group-list-transitivemembers].
  const unified = ((group.data.groupTypes ?? []) as string[]).includes("Unified");
  if (unified && cast === "group")
    throw new GraphError(400, "Request_UnsupportedQuery", "The specified OData cast is not supported for the members of this group.");
  const ids = transitive ? ctx.dir.transitiveMemberIds(String(group.data.id)) : [...group.members];
  const items: Json[] = [];
  const types = new Map<string, string>();
  for (const id of ids) {
    const o = ctx.dir.directoryObject(id);
    if (!o || (cast !== undefined && o.type !== cast)) continue;
    const item = o.type === "user" ? userView(ctx, o.entity) : o.type === "group" ? structuredClone(o.entity.data) : { id: o.entity.data.id };
    items.push(item);
    types.set(String(item.id), `#microsoft.graph.${o.type}`);
  }
  const spec = cast === "user" ? "users" : cast === "group" ? "groups" : "directoryObjects";
  if (count) return countCollection(ctx, items, spec);
  // [U] $filter on member collections is taken as an advanced query (ConsistencyLevel: eventual and $count=true);
  // Graph's docs list filters on members among the advanced-query cases. homelab never filters members.
  if (ctx.query.has("$filter") && !isAdvanced(ctx))
    throw new GraphError(
      400,
      "Request_UnsupportedQuery",
      "Filter on members requires the advanced query parameters: add $count=true and the ConsistencyLevel: eventual header.",
    );
  return listCollection(ctx, items, {
    filterSpec: spec,
    typeName: cast ?? "directoryObject",
    known: cast === "user" ? USER_PROPS : cast === "group" ? GROUP_PROPS : MEMBER_PROPS,
    entitySet: cast === "user" ? "users" : cast === "group" ? "groups" : "directoryObjects",
    // A cast collection names its type in @odata.context; mixed ones tag each item.
    odataType: cast ? undefined : (i) => types.get(String(i.id)),
    defaultProps: (i) => (types.get(String(i.id)) === "#microsoft.graph.user" ? USER_DEFAULT : undefined),
  });
}
