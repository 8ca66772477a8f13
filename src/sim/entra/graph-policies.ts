import { createHash } from "node:crypto";
import { GraphError, denied } from "./errors.js";
import type { GraphCtx, Reply } from "./graph-context.js";
import { checkQueryOptions } from "./graph-query.js";
import { READ_APPS, hasAny, requireAny } from "./permissions.js";
import type { Json } from "./shapes.js";
import type { Entity } from "./state.js";
import type { AppManagementPoliciesKnob, SimAppManagementPolicy } from "./types.js";

/**
 * App management policies (spec section 6, errata 9.6): the tenant default policy
 * (`GET /policies/defaultAppManagementPolicy`), app-specific policies (`GET /policies/appManagementPolicies[/{id}]`),
 * the policy applied to an application (`GET /applications/{id}/appManagementPolicies`), and their enforcement on
 * `addPassword`.
 *
 * Where the spec is silent this follows Microsoft's Graph documentation:
 * - tenantAppManagementPolicy (https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy): one object
 *   that always exists, id 00000000-0000-0000-0000-000000000000, display name "Default app management tenant
 *   policy", `isEnabled` false by default; restrictions on application objects in `applicationRestrictions`.
 * - appManagementPolicy (https://learn.microsoft.com/graph/api/resources/appmanagementpolicy): `restrictions`, at
 *   most one policy applied to an application.
 * - passwordCredentialConfiguration (https://learn.microsoft.com/graph/api/resources/passwordcredentialconfiguration):
 *   `restrictionType` (passwordAddition, passwordLifetime, ...), `maxLifetime` (ISO 8601 duration),
 *   `restrictForAppsCreatedAfterDateTime` (the restriction holds for apps created on or after it; null: every app),
 *   `state` (enabled / disabled).
 * - Precedence (https://learn.microsoft.com/graph/api/resources/applicationauthenticationmethodpolicy): a restriction
 *   the app's policy defines wins over the tenant default's (a disabled one exempts the app); a restriction it does
 *   not define falls back to the tenant default.
 * - Permissions: reading either policy is Policy.Read.All (or Policy.Read.ApplicationConfiguration /
 *   Policy.ReadWrite.ApplicationConfiguration); listing an application's policies needs Application.Read.All as well
 *   (tenantappmanagementpolicy-get, application-list-appmanagementpolicies).
 * - Refusals on addPassword (field reports; spec 8.3 marks the exact text [U]): 400
 *   `CredentialInvalidLifetimeAsPerAppPolicy` "Credential lifetime exceeds the max value allowed as per assigned
 *   policy '{policyId}'." and 400 `CredentialTypeNotAllowedAsPerAppPolicy` "Credential type not allowed as per
 *   assigned policy '{policyId}'.". Graph names the policy, never its limit.
 *
 * Simulator shortcut: an app-specific policy's `appliesTo` names applications by object id, appId or display name,
 * matched when a request is served, so a test can apply a policy to an app homelab has yet to create.
 */

export const DEFAULT_POLICY_ID = "00000000-0000-0000-0000-000000000000";
const DEFAULT_POLICY_NAME = "Default app management tenant policy";
const READ_POLICIES = ["Policy.Read.All", "Policy.Read.ApplicationConfiguration", "Policy.ReadWrite.ApplicationConfiguration"];
const DAY_MS = 86_400_000;

/** `/policies/...` (only the app management policies). */
export function handlePolicies(ctx: GraphCtx, rest: string[]): Reply {
  if (ctx.method !== "GET") throw new GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.");
  const [what, id, ...tail] = rest;
  if (what === "defaultAppManagementPolicy" && id === undefined) {
    requireAny(ctx.caller, READ_POLICIES);
    checkQueryOptions(ctx, []);
    return { status: 200, body: { "@odata.context": `${ctx.base}/$metadata#policies/defaultAppManagementPolicy/$entity`, ...renderDefault(ctx) } };
  }
  if (what === "appManagementPolicies" && tail.length === 0) {
    requireAny(ctx.caller, READ_POLICIES);
    checkQueryOptions(ctx, []);
    const all = appPolicies(ctx);
    if (id === undefined) return { status: 200, body: { "@odata.context": `${ctx.base}/$metadata#policies/appManagementPolicies`, value: all.map((p) => renderApp(p)) } };
    const one = all.find((p) => p.id.toLowerCase() === id.toLowerCase());
    if (!one) throw new GraphError(404, "Request_ResourceNotFound", `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
    return { status: 200, body: { "@odata.context": `${ctx.base}/$metadata#policies/appManagementPolicies/$entity`, ...renderApp(one) } };
  }
  throw new GraphError(400, "BadRequest", `Resource not found for the segment '${what ?? "policies"}'.`);
}

/** `GET /applications/{id}/appManagementPolicies`: the (at most one) policy applied to the application. */
export function listApplicationPolicies(ctx: GraphCtx, app: Entity, rest: string[]): Reply {
  if (ctx.method !== "GET" || rest.length > 0) throw new GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.");
  requireAny(ctx.caller, READ_APPS);
  if (!hasAny(ctx.caller, READ_POLICIES)) throw denied();
  checkQueryOptions(ctx, []);
  const applied = policyOf(ctx, app);
  return {
    status: 200,
    body: { "@odata.context": `${ctx.base}/$metadata#applications('${String(app.data.id)}')/appManagementPolicies`, value: applied ? [renderApp(applied)] : [] },
  };
}

/**
 * `$expand=appManagementPolicies` on `GET /applications` (application-list: $expand is supported; the relationship is
 * appManagementPolicies): the policies applied to the app (0 or 1), with the permission the relationship's own read
 * needs (Policy.Read.All or an application-configuration policy permission). [U: whether Graph refuses the whole list
 * without it or leaves the relationship out; the simulator refuses, as the relationship's own read does.]
 */
export function expandApplicationPolicies(ctx: GraphCtx): (item: Json) => Json[] {
  if (!hasAny(ctx.caller, READ_POLICIES)) return () => {
    throw denied();
  };
  return (item) => {
    const app = ctx.dir.get("applications", String(item.id));
    const applied = app ? policyOf(ctx, app) : undefined;
    return applied ? [renderApp(applied)] : [];
  };
}

/**
 * Throws the 400 Graph answers when a password credential from `start` to `end` on `app` breaks the policy that
 * governs it (the app's own restriction if it defines one, else the tenant default's).
 */
export function enforcePasswordPolicies(ctx: GraphCtx, app: Entity, start: Date, end: Date): void {
  const created = typeof app.data.createdDateTime === "string" ? Date.parse(app.data.createdDateTime) : ctx.dir.now().getTime();
  const addition = governing(ctx, app, "passwordAddition", created);
  if (addition) throw new GraphError(400, "CredentialTypeNotAllowedAsPerAppPolicy", `Credential type not allowed as per assigned policy '${addition.policyId}'.`);
  const lifetime = governing(ctx, app, "passwordLifetime", created);
  if (lifetime && end.getTime() - start.getTime() > lifetime.maxMs)
    throw new GraphError(400, "CredentialInvalidLifetimeAsPerAppPolicy", `Credential lifetime exceeds the max value allowed as per assigned policy '${lifetime.policyId}'.`);
}

// ---- internals ------------------------------------------------------------------------------------------------

interface Restriction {
  restrictionType: "passwordAddition" | "passwordLifetime";
  maxLifetime: string | null;
  restrictForAppsCreatedAfterDateTime: string | null;
  state: "enabled" | "disabled";
}

interface ResolvedPolicy {
  id: string;
  displayName: string;
  description: string;
  isEnabled: boolean;
  restrictions: Restriction[];
  appliesTo: string[];
}

function restrictionsOf(p: Omit<SimAppManagementPolicy, "id" | "appliesTo">): Restriction[] {
  const since = p.restrictForAppsCreatedAfterDateTime ?? null;
  const out: Restriction[] = [];
  if (p.passwordAddition !== undefined)
    out.push({ restrictionType: "passwordAddition", maxLifetime: null, restrictForAppsCreatedAfterDateTime: since, state: p.passwordAddition ? "enabled" : "disabled" });
  if (p.passwordLifetime !== undefined)
    out.push({ restrictionType: "passwordLifetime", maxLifetime: p.passwordLifetime, restrictForAppsCreatedAfterDateTime: since, state: p.passwordLifetime === null ? "disabled" : "enabled" });
  return out;
}

/** The tenant default as configured: the `appManagementPolicies` knob, or the older `secretPolicy` knob (a lifetime cap). */
function tenantDefault(ctx: GraphCtx): ResolvedPolicy {
  const knob = ctx.dir.knobs.appManagementPolicies?.tenantDefault;
  const legacy = ctx.dir.knobs.secretPolicy;
  const restrictions = knob ? restrictionsOf(knob) : legacy ? restrictionsOf({ passwordLifetime: `P${legacy.maxLifetimeDays}D` }) : [];
  return {
    id: DEFAULT_POLICY_ID,
    displayName: knob?.displayName ?? DEFAULT_POLICY_NAME,
    description: knob?.description ?? "Default tenant policy that enforces app management restrictions on applications and service principals. To apply policy to targeted resources, create a new policy under appManagementPolicies collection.",
    isEnabled: knob ? knob.isEnabled ?? true : legacy !== undefined,
    restrictions,
    appliesTo: [],
  };
}

function appPolicies(ctx: GraphCtx): ResolvedPolicy[] {
  return (ctx.dir.knobs.appManagementPolicies?.policies ?? []).map((p) => ({
    id: (p.id ?? guidFrom(p.displayName ?? "policy")).toLowerCase(),
    displayName: p.displayName ?? "App management policy",
    description: p.description ?? "",
    isEnabled: p.isEnabled ?? true,
    restrictions: restrictionsOf(p),
    appliesTo: p.appliesTo ?? [],
  }));
}

/** The policy applied to `app` (the first one naming it: Graph allows one per object). */
function policyOf(ctx: GraphCtx, app: Entity): ResolvedPolicy | undefined {
  const names = [app.data.id, app.data.appId, app.data.displayName].filter((v): v is string => typeof v === "string").map((v) => v.toLowerCase());
  return appPolicies(ctx).find((p) => p.appliesTo.some((a) => names.includes(a.toLowerCase())));
}

/** The restriction of `type` that governs `app`, when it is in force: its policy id and, for lifetimes, the cap. */
function governing(ctx: GraphCtx, app: Entity, type: Restriction["restrictionType"], createdMs: number): { policyId: string; maxMs: number } | undefined {
  const own = policyOf(ctx, app);
  const fromOwn = own?.isEnabled ? own.restrictions.find((r) => r.restrictionType === type) : undefined;
  const def = tenantDefault(ctx);
  const r = fromOwn ?? (def.isEnabled ? def.restrictions.find((x) => x.restrictionType === type) : undefined);
  if (!r || r.state !== "enabled") return undefined;
  if (r.restrictForAppsCreatedAfterDateTime !== null && createdMs < Date.parse(r.restrictForAppsCreatedAfterDateTime)) return undefined;
  const maxMs = r.maxLifetime === null ? Infinity : durationMs(r.maxLifetime);
  return { policyId: fromOwn ? own!.id : def.id, maxMs };
}

function renderRestrictions(rs: Restriction[]): Json {
  return {
    passwordCredentials: rs.map((r) => ({ ...r })),
    keyCredentials: [],
  };
}

function renderDefault(ctx: GraphCtx): Json {
  const d = tenantDefault(ctx);
  return {
    id: d.id,
    displayName: d.displayName,
    description: d.description,
    isEnabled: d.isEnabled,
    applicationRestrictions: renderRestrictions(d.restrictions),
    servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
  };
}

function renderApp(p: ResolvedPolicy): Json {
  return { id: p.id, displayName: p.displayName, description: p.description, isEnabled: p.isEnabled, restrictions: renderRestrictions(p.restrictions) };
}

/** A GUID-shaped id derived from a name, so a policy keeps its id from one request to the next. */
function guidFrom(name: string): string {
  const h = createHash("sha1").update(`appManagementPolicy:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** An Edm.Duration (`P90D`, `P4DT12H30M5S`, `PT12H`) in ms; anything else is a simulator configuration error. */
export function durationMs(s: string): number {
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(s);
  if (!m || s === "P" || s.endsWith("T")) throw new Error(`entra sim: '${s}' is not an ISO 8601 duration such as P90D`);
  const [, w, d, h, min, sec] = m;
  return (Number(w ?? 0) * 7 + Number(d ?? 0)) * DAY_MS + Number(h ?? 0) * 3_600_000 + Number(min ?? 0) * 60_000 + Number(sec ?? 0) * 1000;
}

