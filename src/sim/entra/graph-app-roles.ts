import { GraphError, badRequest } from "./errors.js";
import type { Json } from "./shapes.js";
import type { Directory, Entity } from "./state.js";

/**
 * App roles on an application (`appRoles`, Graph appRole resource), as homelab defines them for the `roles` claim
 * (issue 13 part 3). Rules enforced on create, PATCH and the uniqueName upsert:
 * - each role has a GUID `id` (unique in the list), `allowedMemberTypes` from `User` / `Application` (not empty),
 *   and a `value` without spaces, from Graph's allowed characters, not starting with "." and unique in the list;
 * - an enabled role can be neither removed nor changed: the PATCH that removes or changes it is
 *   400 `CannotDeleteOrUpdateEnabledEntitlement` "Permission (scope or role) cannot be deleted or updated unless
 *   disabled first." (spec 3.5 [T]; code and message as recorded from the live service [S]). Disable it
 *   (`isEnabled: false`, nothing else changed) in one PATCH, then remove or change it in a later one.
 * - the service principal's `appRoles` follow the application's (the enterprise app shows the roles its app
 *   registration declares), so a role can be assigned (`appRoleAssignedTo`) as soon as the PATCH returned.
 * A disabled role is no longer assignable, but existing assignments stay and keep putting its value in the
 * `roles` claim until they are removed [D: Entra docs, howto-add-app-roles-in-apps]. Removing a disabled role that
 * still has assignments is allowed here [U]; its assignments then name no role and emit nothing.
 */

const MEMBER_TYPES = new Set(["User", "Application"]);
/**
 * Allowed characters of `value` [D: appRole resource]: ! # $ % & ' ( ) * + , - . / : ; < = > ? @ [ ] ^ + _ ` { | } ~
 * and 0-9, A-Z, a-z; no space; may not begin with ".".
 */
const VALUE_RE = /^[!#$%&'()*+,\-./:;<=>?@[\]^_`{|}~0-9A-Za-z]+$/;
const COMPARED = ["value", "displayName", "description", "allowedMemberTypes", "origin"] as const;

export const ENTITLEMENT_ENABLED = (): GraphError =>
  new GraphError(400, "CannotDeleteOrUpdateEnabledEntitlement", "Permission (scope or role) cannot be deleted or updated unless disabled first.");

const invalid = (prop: string): GraphError => badRequest(`Invalid value specified for property '${prop}' of resource 'AppRole'.`);

/** The roles as stored: defaults filled in (`isEnabled` true, `origin` "Application", absent texts null). */
function normalise(r: Json): Json {
  return {
    allowedMemberTypes: [...((r.allowedMemberTypes ?? []) as string[])],
    description: r.description ?? null,
    displayName: r.displayName ?? null,
    id: String(r.id).toLowerCase(),
    isEnabled: r.isEnabled ?? true,
    origin: r.origin ?? "Application",
    value: r.value ?? null,
  };
}

function sameRole(a: Json, b: Json): boolean {
  return COMPARED.every((k) => {
    const x = a[k];
    const y = b[k];
    if (Array.isArray(x) && Array.isArray(y)) return [...x].sort().join("\n") === [...y].sort().join("\n");
    return x === y;
  });
}

/**
 * Checks a new `appRoles` list against the application's current one and returns it normalised. The body has
 * already passed the schema (each item an object with known properties of the right JSON types).
 */
export function checkAppRoles(next: unknown, current: unknown): Json[] {
  if (!Array.isArray(next)) throw badRequest("Invalid value specified for property 'appRoles' of resource 'Application'.");
  const roles = (next as Json[]).map((r) => {
    if (typeof r.id !== "string") throw invalid("id");
    const types = r.allowedMemberTypes;
    if (!Array.isArray(types) || types.length === 0 || !types.every((t) => MEMBER_TYPES.has(String(t)))) throw invalid("allowedMemberTypes");
    if (r.value !== undefined && r.value !== null && (typeof r.value !== "string" || !VALUE_RE.test(r.value) || r.value.startsWith(".") || r.value.length > 249))
      throw invalid("value");
    return normalise(r);
  });
  const ids = new Set<string>();
  const values = new Set<string>();
  for (const r of roles) {
    if (ids.has(String(r.id))) throw badRequest(`App role ids must be unique: '${String(r.id)}' appears twice.`); // [U] message
    ids.add(String(r.id));
    if (typeof r.value === "string") {
      const v = r.value.toLowerCase();
      if (values.has(v)) throw badRequest(`App role values must be unique: '${r.value}' appears twice.`); // [U] message
      values.add(v);
    }
  }
  for (const old of (Array.isArray(current) ? current : []) as Json[]) {
    if (old.isEnabled === false) continue;
    const now = roles.find((r) => r.id === String(old.id).toLowerCase());
    // Removed, or changed in anything but being disabled, while enabled.
    if (!now || !sameRole(normalise(old), now)) throw ENTITLEMENT_ENABLED();
  }
  return roles;
}

/** After the application's roles changed: its service principal in this tenant shows the same roles. */
export function syncServicePrincipalRoles(dir: Directory, app: Entity): void {
  const sp = dir.rawSpByAppId(String(app.data.appId));
  if (sp) sp.data.appRoles = structuredClone(app.data.appRoles ?? []);
}
