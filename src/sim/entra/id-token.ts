import { createHmac } from "node:crypto";
import { DEFAULT_ACCESS_ROLE_ID, base64url, newOpaque } from "./ids.js";
import type { Json } from "./shapes.js";
import type { Directory, Entity } from "./state.js";

/**
 * Claims of v2.0 ID tokens and of Graph's OIDC userinfo, as Entra issues them to a web app after the
 * authorization-code flow (spec 5.2, 5.3). The directory is read raw: sign-in sees no replication lag.
 */

/** The issuer homelab gives an Entra realm, and that the discovery document names (5.1): `<loginUrl>/{tid}/v2.0`. */
export function issuerUrl(loginUrl: string, tenantId: string): string {
  return `${loginUrl}/${tenantId}/v2.0`;
}

/** ID tokens live one hour. */
export const ID_TOKEN_SECONDS = 3600;
/** At most 200 groups in a JWT; above that the overage pointer replaces `groups` (5.3). */
export const GROUPS_CLAIM_LIMIT = 200;

/**
 * The pairwise `sub` (5.2): unique per user and application, opaque, immutable. An HMAC of the user's object id
 * and the client id under a per-tenant salt, base64url (43 characters, the length of Entra's).
 */
export function pairwiseSub(dir: Directory, userId: string, clientId: string): string {
  return base64url(createHmac("sha256", dir.pairwiseSalt).update(`${userId.toLowerCase()}|${clientId.toLowerCase()}`).digest());
}

/** Groups of which `userId` is a direct member. */
function directGroups(dir: Directory, memberId: string): Entity[] {
  return [...dir.collections.groups.values()].filter((g) => g.members.includes(memberId));
}

/** Every group the user is in, nested memberships included. */
export function transitiveGroups(dir: Directory, userId: string): Entity[] {
  const seen = new Map<string, Entity>();
  let frontier = [userId];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const id of frontier)
      for (const g of directGroups(dir, id)) {
        const gid = String(g.data.id);
        if (seen.has(gid)) continue;
        seen.set(gid, g);
        next.push(gid);
      }
    frontier = next;
  }
  return [...seen.values()];
}

/** Principal ids assigned to an app's service principal (appRoleAssignedTo, 3.9). */
function assignedPrincipals(dir: Directory, spId: string): Json[] {
  return [...dir.collections.appRoleAssignments.values()].map((a) => a.data).filter((a) => a.resourceId === spId);
}

/**
 * Whether a user may sign in to an app whose service principal has `appRoleAssignmentRequired`: assigned
 * directly, or through a group of which they are a direct member (group-based assignment does not cascade to
 * nested groups). Without a service principal, or without the requirement, everyone may.
 */
export function userAssigned(dir: Directory, sp: Entity | undefined, userId: string): boolean {
  if (!sp || sp.data.appRoleAssignmentRequired !== true) return true;
  const principals = new Set(assignedPrincipals(dir, String(sp.data.id)).map((a) => String(a.principalId).toLowerCase()));
  if (principals.has(userId.toLowerCase())) return true;
  return directGroups(dir, userId).some((g) => principals.has(String(g.data.id).toLowerCase()));
}

type Emit = "assigned" | "security" | "all" | "none";

/** `groupMembershipClaims` (5.3): `ApplicationGroup` wins over the others; `DirectoryRole` alone emits no groups. */
function groupEmit(value: unknown): Emit {
  const parts = String(value ?? "None")
    .split(",")
    .map((x) => x.trim().toLowerCase());
  if (parts.includes("applicationgroup")) return "assigned";
  if (parts.includes("all")) return "all";
  if (parts.includes("securitygroup")) return "security";
  return "none";
}

interface OptionalClaim {
  name: string;
  additionalProperties: string[];
}

function idTokenOptionalClaims(app: Json): Map<string, OptionalClaim> {
  const oc = (app.optionalClaims ?? null) as { idToken?: Json[] } | null;
  const out = new Map<string, OptionalClaim>();
  for (const c of oc?.idToken ?? [])
    if (typeof c.name === "string")
      out.set(c.name.toLowerCase(), {
        name: c.name,
        additionalProperties: Array.isArray(c.additionalProperties) ? c.additionalProperties.map(String) : [],
      });
  return out;
}

/**
 * The groups claim (5.3): with `ApplicationGroup`, the groups assigned to the app of which the user is a direct
 * member (as display names with the `cloud_displayname` property); with `SecurityGroup`, security groups; with
 * `All`, every group; nested memberships included for the last two. Object ids otherwise. More than 200 give the
 * overage pointer instead. `emit_as_roles` puts them in `roles`.
 */
function groupClaims(dir: Directory, app: Json, sp: Entity | undefined, userId: string, graphUrl: string, optional: Map<string, OptionalClaim>): Json {
  const emit = groupEmit(app.groupMembershipClaims);
  if (emit === "none") return {};
  let groups: Entity[];
  if (emit === "assigned") {
    const assigned = new Set(sp ? assignedPrincipals(dir, String(sp.data.id)).map((a) => String(a.principalId).toLowerCase()) : []);
    groups = directGroups(dir, userId).filter((g) => assigned.has(String(g.data.id).toLowerCase()));
  } else {
    groups = transitiveGroups(dir, userId).filter((g) => emit === "all" || g.data.securityEnabled !== false);
  }
  const props = optional.get("groups")?.additionalProperties ?? [];
  const claimName = props.includes("emit_as_roles") ? "roles" : "groups";
  if (groups.length > GROUPS_CLAIM_LIMIT)
    return {
      _claim_names: { groups: "src1" },
      _claim_sources: { src1: { endpoint: `${graphUrl}/v1.0/users/${userId}/getMemberObjects` } },
    };
  // [U] A user in none of the groups gets no groups claim at all.
  if (groups.length === 0) return {};
  const names = emit === "assigned" && props.includes("cloud_displayname");
  return { [claimName]: groups.map((g) => String(names ? g.data.displayName : g.data.id)).sort() };
}

/**
 * App roles assigned to the user on this app, by value: assigned to the user, or to a group of which the user is a
 * direct member (group-based assignment does not reach members of nested groups, as for sign-in, 3.9). Default
 * access is no role. A disabled role still counts while it stays assigned [D: Entra docs, howto-add-app-roles-in-apps:
 * "current app role assignments remain ... the app role will continue to pass in the token(s)"]; a role removed
 * from the application emits nothing.
 */
function appRoles(dir: Directory, app: Json, sp: Entity | undefined, userId: string): string[] {
  if (!sp) return [];
  const principals = new Set([userId, ...directGroups(dir, userId).map((g) => String(g.data.id))].map((x) => x.toLowerCase()));
  const roles = (app.appRoles ?? []) as Json[];
  const out = new Set<string>();
  for (const a of assignedPrincipals(dir, String(sp.data.id))) {
    if (!principals.has(String(a.principalId).toLowerCase()) || a.appRoleId === DEFAULT_ACCESS_ROLE_ID) continue;
    const role = roles.find((r) => String(r.id).toLowerCase() === String(a.appRoleId).toLowerCase());
    if (typeof role?.value === "string") out.add(role.value);
  }
  return [...out].sort();
}

export interface SignedInUser {
  user: Entity;
  guest: boolean;
}

/** A guest signs in with, and is shown by, their home address (`mail`); a member by their UPN. */
function displayUsername(u: SignedInUser): string {
  const d = u.user.data;
  return String(u.guest && typeof d.mail === "string" ? d.mail : d.userPrincipalName);
}

/**
 * The claims of a v2.0 ID token (5.2). `name`, `preferred_username` and `oid` need the `profile` scope; `email`
 * comes with the `email` scope or the `email` optional claim (and by default for guests) when the user has a mail
 * address; `upn`, `given_name` and `family_name` only as optional claims; groups per `groupMembershipClaims`.
 */
export function idTokenClaims(
  dir: Directory,
  urls: { loginUrl: string; graphUrl: string },
  app: Json,
  sp: Entity | undefined,
  who: SignedInUser,
  grant: { scopes: string[]; nonce?: string; authTime: number },
): Json {
  const d = who.user.data;
  const userId = String(d.id);
  const clientId = String(app.appId);
  const scopes = new Set(grant.scopes.map((s) => s.toLowerCase()));
  const optional = idTokenOptionalClaims(app);
  const profile = scopes.has("profile");
  const now = Math.floor(dir.now().getTime() / 1000);
  const claims: Json = {
    aud: clientId,
    iss: issuerUrl(urls.loginUrl, dir.tenantId),
    iat: now,
    nbf: now,
    exp: now + ID_TOKEN_SECONDS,
    aio: newOpaque(48),
  };
  const mail = typeof d.mail === "string" && d.mail !== "" ? d.mail : undefined;
  if (mail && (scopes.has("email") || optional.has("email") || who.guest)) claims.email = mail;
  if (optional.has("family_name") && d.surname) claims.family_name = d.surname;
  if (optional.has("given_name") && d.givenName) claims.given_name = d.givenName;
  Object.assign(claims, groupClaims(dir, app, sp, userId, urls.graphUrl, optional));
  if (profile) claims.name = d.displayName;
  if (grant.nonce !== undefined) claims.nonce = grant.nonce;
  if (profile) claims.oid = userId;
  if (profile) claims.preferred_username = displayUsername(who);
  claims.rh = `${newOpaque(24)}.`;
  const roles = appRoles(dir, app, sp, userId);
  if (roles.length > 0) claims.roles = [...new Set([...((claims.roles as string[] | undefined) ?? []), ...roles])];
  claims.sid = newGuidLike(userId, clientId, grant.authTime);
  claims.sub = pairwiseSub(dir, userId, clientId);
  claims.tid = dir.tenantId;
  const upn = optional.get("upn");
  if (upn && profile) {
    // A guest's upn (`jane_example.com#EXT#@tenant`) is emitted only when the optional claim asks for it with
    // `include_externally_authenticated_upn`, or with `#` turned into `_` by `..._without_hash` (spec 3 / 5.2,
    // `optionalClaims` upn additionalProperties) [U: guests get no upn without them, as Microsoft's optional-claims
    // reference describes the properties; not checked against a live tenant].
    const props = upn.additionalProperties;
    if (!who.guest) claims.upn = d.userPrincipalName;
    else if (props.includes("include_externally_authenticated_upn")) claims.upn = d.userPrincipalName;
    else if (props.includes("include_externally_authenticated_upn_without_hash")) claims.upn = String(d.userPrincipalName).replace(/#/g, "_");
  }
  claims.uti = newOpaque(16);
  claims.ver = "2.0";
  return claims;
}

/** A session id stable for one sign-in. */
function newGuidLike(userId: string, clientId: string, authTime: number): string {
  const h = createHmac("sha256", "sid").update(`${userId}|${clientId}|${authTime}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Graph's OIDC userinfo (`GET https://graph.microsoft.com/oidc/userinfo`): `sub` (the same pairwise value as the
 * ID token of the app the access token was issued to), `name`, `family_name`, `given_name`, `picture`, and
 * `email` with the email scope.
 */
export function userinfoClaims(dir: Directory, graphUrl: string, user: Entity, clientId: string, scopes: string[]): Json {
  const d = user.data;
  const out: Json = { sub: pairwiseSub(dir, String(d.id), clientId), name: d.displayName };
  if (d.surname) out.family_name = d.surname;
  if (d.givenName) out.given_name = d.givenName;
  out.picture = `${graphUrl}/v1.0/me/photo/$value`;
  if (scopes.map((s) => s.toLowerCase()).includes("email") && typeof d.mail === "string" && d.mail !== "") out.email = d.mail;
  return out;
}
