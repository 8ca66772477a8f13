import { UserError } from "../../core/errors.js";
import type { Change } from "../../core/plan.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import { GraphAuthError, GraphRequestError, realmTag, type GraphClient } from "./graph.js";
import type { ObservedTenant, TenantTarget } from "./target.js";

/**
 * The tenant's app management policies (issue 9 failure 5): a `passwordLifetime` restriction caps the lifetime of
 * new client secrets, a `passwordAddition` restriction forbids them. Graph enforces both on `addPassword` (errata
 * 9.6); this provider finds them at plan time, so a plan that would break them is refused (a config problem, exit 3)
 * before anything is written on either side.
 *
 * It plans no changes and reads nothing up front: only a new client secret can break a policy, so the policies are
 * read after the first plan, and only when that plan adds a secret (`readAfterPlan`; a no-op reads no policy, issue
 * 12). It fetches the tenant default policy and, per existing homelab app, the policy applied to it, when the
 * automation app may (Policy.Read.All; `homelab bootstrap` grants it). The engine then plans again and reviews that
 * plan, so the refusal still comes before any write. Without the permission (403), nothing is known: `review` warns,
 * and the refusal comes at apply time from Graph, which names the policy but not its limit; `explainSecretRefusal`
 * turns that into a user error with the right hint.
 *
 * Semantics followed (Microsoft Graph docs; spec 6 is silent on them):
 * - https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy: one default policy per tenant, disabled
 *   (`isEnabled: false`) until configured; restrictions on application objects in `applicationRestrictions`.
 * - https://learn.microsoft.com/graph/api/resources/appmanagementpolicy: at most one policy applied to an app, its
 *   restrictions in `restrictions`.
 * - https://learn.microsoft.com/graph/api/resources/applicationauthenticationmethodpolicy: a restriction the app's
 *   policy defines takes precedence over the tenant default's (disabled there = the app is exempt); a restriction it
 *   does not define falls back to the tenant default.
 * - https://learn.microsoft.com/graph/api/resources/passwordcredentialconfiguration: `maxLifetime` is an ISO 8601
 *   duration (P90D, P4DT12H30M5S); `restrictForAppsCreatedAfterDateTime` limits a restriction to apps created on or
 *   after that date (null: every app); `state` enabled / disabled.
 */

export const POLICY_KIND = "entra.policy";
const SECRET_KIND = "entra.secret"; // secret.ts's kind (not imported: secret.ts may import this module)
const DAY_MS = 86_400_000;

type RestrictionType = "passwordAddition" | "passwordLifetime";

export interface PasswordRestriction {
  type: RestrictionType;
  enabled: boolean;
  /** `maxLifetime` as Graph sent it (passwordLifetime only). */
  maxLifetime?: string;
  /** `maxLifetime` in ms; absent when Graph sent a duration homelab cannot read. */
  maxMs?: number;
  /** `restrictForAppsCreatedAfterDateTime`; absent = every app. */
  since?: string;
}

export interface AppManagementPolicy {
  id: string;
  displayName: string;
  isEnabled: boolean;
  /** "default": the tenant default policy; "app": a policy applied to the app. */
  scope: "default" | "app";
  restrictions: PasswordRestriction[];
}

/** A homelab app (found by its realm tag) and the policy applied to it. */
export interface PolicyApp {
  id: string;
  appId: string;
  displayName: string;
  createdDateTime?: string;
  policy?: AppManagementPolicy;
  /** Set when the app's own policy could not be read: then nothing is concluded for it. */
  unreadable?: string;
}

export interface ObservedPolicies {
  /** False when the tenant default could not be read (no Policy.Read.All): nothing is known. */
  readable: boolean;
  /** Graph's refusal, when not readable. */
  denied?: string;
  tenantDefault?: AppManagementPolicy;
  /** realm → the apps carrying its tag, with their policies. */
  apps: Map<string, PolicyApp[]>;
}

/** The observed tenant with this provider's part (merged in by the engine like every provider's read). */
export type ObservedTenantPolicies = ObservedTenant & { appPolicies?: ObservedPolicies };

/** The Graph reads this provider needs (graph.ts); TenantTarget's `graph` does not name them, so they are looked up. */
type PolicyReads = Pick<GraphClient, "getDefaultAppManagementPolicy" | "listAppManagementPoliciesOf" | "listApplicationCreationTimes" | "listApplicationPolicies">;

function policyReads(target: TenantTarget): PolicyReads | undefined {
  const g = target.graph as Partial<PolicyReads>;
  return g.getDefaultAppManagementPolicy && g.listAppManagementPoliciesOf && g.listApplicationCreationTimes && g.listApplicationPolicies ? (g as PolicyReads) : undefined;
}

const isDenied = (err: unknown): boolean => err instanceof GraphAuthError && err.status === 403;

export const policyProvider: Provider<TenantTarget, ObservedTenant> = {
  kind: POLICY_KIND,

  /** Nothing up front: see readAfterPlan. */
  async read() {
    return {};
  },

  /**
   * When the plan adds a client secret (a create or a replace), the policies that could refuse it: 1 request when
   * they are not readable, else 1 + 1 per realm (its apps by tag with the policy applied to each,
   * `$expand=appManagementPolicies`); where Graph refuses that expansion, 1 + 2 per realm (the apps, then the policy of
   * each). Otherwise nothing (undefined). Depends on no other late read: a secret is planned from the first read.
   */
  async readAfterPlan(target, _observed, changes) {
    if (!changes.some(addsSecret)) return undefined;
    return readPolicies(target);
  },

  plan(): PlanPart {
    return { changes: [], unchanged: 0 };
  },

  async apply() {
    // Plans no changes.
  },

  /**
   * Refuses (UserError, exit 3, before any write) a new client secret the tenant's policy would refuse: a lifetime
   * over `passwordLifetime`, or any secret under `passwordAddition`. Warns when the policies could not be read.
   */
  review(target, observed, changes) {
    const adding = changes.filter(addsSecret);
    if (adding.length === 0) return;
    const obs = (observed as ObservedTenantPolicies).appPolicies;
    if (!obs) return;
    const tenant = target.desired.name;
    if (!obs.readable)
      return [
        `tenant ${tenant}: the automation app may not read app management policies (Policy.Read.All), so a client secret lifetime over the tenant's limit shows only when the secret is created; \`homelab bootstrap --tenant ${tenant}\` grants the permission`,
      ];
    const warnings: string[] = [];
    const refusals: Refusal[] = [];
    for (const [realm, secrets] of byRealm(adding)) {
      const app = obs.apps.get(realm)?.[0];
      if (app?.unreadable) {
        warnings.push(`tenant ${tenant}: could not read the app management policy applied to app ${app.displayName} (${app.appId}): ${app.unreadable}`);
        continue;
      }
      const r = judge(obs, app, secrets);
      if (r) refusals.push({ ...r, realm, app });
    }
    if (refusals.length > 0) throw refusalError(tenant, refusals);
    return warnings;
  },
};

/**
 * The apply-time fallback: turns Graph's refusal of `addPassword` (400 CredentialInvalidLifetimeAsPerAppPolicy or
 * CredentialTypeNotAllowedAsPerAppPolicy, or graph.ts's E_SECRET_POLICY wrapping of the first) into a user error
 * that names the policy and, when Graph's message states it, its limit, with the fix in homelab.yaml's terms. Graph's
 * message names the policy id only ("Credential lifetime exceeds the max value allowed as per assigned policy
 * '<id>'."), so without Policy.Read.All the limit is known only as "less than lifetimeDays". Anything else is
 * returned unchanged. Call it where a secret of a realm is added: `.catch((e) => { throw explainSecretRefusal(e, …) })`.
 */
export function explainSecretRefusal(err: unknown, at: { tenant: string; realm: string; lifetimeDays: number }): unknown {
  const graphErr = err instanceof GraphRequestError ? err : err instanceof UserError && err.cause instanceof GraphRequestError ? err.cause : undefined;
  const code = graphErr?.graphCode;
  if (!graphErr || (code !== "CredentialInvalidLifetimeAsPerAppPolicy" && code !== "CredentialTypeNotAllowedAsPerAppPolicy")) return err;
  const said = graphMessage(graphErr.message);
  const policyId = /assigned policy '([^']+)'/i.exec(said)?.[1];
  const policy = policyId ? `app management policy ${policyId}` : "an app management policy";
  const key = `realms.${at.realm}.app.secret.lifetimeDays`;
  const grant = (what: string) =>
    `homelab could not read the tenant's policies before writing; with Policy.Read.All (\`homelab bootstrap --tenant ${at.tenant}\` grants it) plan ${what} and refuses before any write`;
  if (code === "CredentialTypeNotAllowedAsPerAppPolicy")
    return new UserError(`tenant ${at.tenant} refuses new client secrets for realm ${at.realm}: ${policy} blocks them (passwordAddition). Graph: ${code}: ${said}`, {
      code: "E_SECRET_POLICY",
      hint: `${BLOCKED_HINT}; ${grant("finds the restriction")}`,
      cause: err,
    });
  const limit = limitIn(said);
  const days = limit === undefined ? undefined : Math.floor(limit.ms / DAY_MS);
  return new UserError(
    `tenant ${at.tenant} refuses a ${at.lifetimeDays}-day client secret for realm ${at.realm}: ${policy} limits secret lifetime to ${limit ? `${limit.text}` : `less than ${at.lifetimeDays} days`} (passwordLifetime). Graph: ${code}: ${said}`,
    {
      code: "E_SECRET_POLICY",
      hint: days !== undefined && days >= 1 ? `lower ${key} to at most ${days}` : `lower ${key} below ${at.lifetimeDays} (to the tenant's limit; ask its administrator for it); ${grant("names the policy's limit")}`,
      cause: err,
    },
  );
}

// ---- reading ----------------------------------------------------------------------------------------------

/** A change that adds a client secret, which the tenant's policies may refuse. */
const addsSecret = (c: Change): boolean => c.kind === SECRET_KIND && (c.action === "create" || c.action === "replace");

/** The tenant default policy and each realm's apps with the policy applied to them (see readAfterPlan). */
export async function readPolicies(target: TenantTarget): Promise<Partial<ObservedTenant>> {
  const graph = policyReads(target);
  if (!graph) return {};
  let raw: Record<string, unknown>;
  try {
    raw = await graph.getDefaultAppManagementPolicy();
  } catch (err) {
    if (!isDenied(err)) throw err;
    return part({ readable: false, denied: (err as Error).message, apps: new Map() });
  }
  const apps = new Map<string, PolicyApp[]>();
  await Promise.all(target.desired.applications.map(async (d) => apps.set(d.realm, await realmApps(graph, realmTag(d.realm)))));
  return part({ readable: true, tenantDefault: parsePolicy(raw, "default"), apps });
}

function part(p: ObservedPolicies): Partial<ObservedTenant> {
  return { appPolicies: p } as Partial<ObservedTenantPolicies> as Partial<ObservedTenant>;
}

/**
 * A realm's apps with their policies: one read with `$expand=appManagementPolicies`. Should Graph refuse the expansion
 * (400, or 403 where the relationship's permission is judged apart), the reads it replaces: the apps by tag, then the
 * policy applied to each (an app whose policy is refused is `unreadable`, as before).
 */
async function realmApps(graph: PolicyReads, tag: string): Promise<PolicyApp[]> {
  let found: Awaited<ReturnType<PolicyReads["listApplicationPolicies"]>>;
  try {
    found = await graph.listApplicationPolicies(tag);
  } catch (err) {
    if (!(err instanceof GraphRequestError && err.status === 400) && !isDenied(err)) throw err;
    return Promise.all((await graph.listApplicationCreationTimes(tag)).map((a) => withPolicy(graph, a)));
  }
  return found.map((a) => {
    const app: PolicyApp = { id: a.id, appId: a.appId, displayName: a.displayName, ...(a.createdDateTime ? { createdDateTime: a.createdDateTime } : {}) };
    const applied = Array.isArray(a.appManagementPolicies) ? a.appManagementPolicies[0] : undefined;
    if (applied) app.policy = parsePolicy(applied, "app");
    return app;
  });
}

async function withPolicy(graph: PolicyReads, a: { id: string; appId: string; displayName: string; createdDateTime?: string | null }): Promise<PolicyApp> {
  const app: PolicyApp = { id: a.id, appId: a.appId, displayName: a.displayName, ...(a.createdDateTime ? { createdDateTime: a.createdDateTime } : {}) };
  try {
    const applied = await graph.listAppManagementPoliciesOf(a.id);
    if (applied[0]) app.policy = parsePolicy(applied[0], "app");
  } catch (err) {
    if (isDenied(err)) app.unreadable = (err as Error).message;
    // Gone since it was listed: no policy to find (the app's own read decides what happens to it).
    else if (!(err instanceof GraphRequestError && err.status === 404)) throw err;
  }
  return app;
}

/** A tenantAppManagementPolicy or appManagementPolicy as Graph returns it, reduced to its password restrictions. */
export function parsePolicy(raw: Record<string, unknown>, scope: "default" | "app"): AppManagementPolicy {
  const config = (scope === "default" ? raw.applicationRestrictions : raw.restrictions) as { passwordCredentials?: unknown } | null | undefined;
  const list = Array.isArray(config?.passwordCredentials) ? (config.passwordCredentials as Record<string, unknown>[]) : [];
  const restrictions: PasswordRestriction[] = [];
  for (const r of list) {
    if (r.restrictionType !== "passwordAddition" && r.restrictionType !== "passwordLifetime") continue;
    const out: PasswordRestriction = { type: r.restrictionType, enabled: r.state !== "disabled" };
    if (typeof r.maxLifetime === "string") {
      out.maxLifetime = r.maxLifetime;
      const ms = durationMs(r.maxLifetime);
      if (ms !== undefined) out.maxMs = ms;
    }
    if (typeof r.restrictForAppsCreatedAfterDateTime === "string") out.since = r.restrictForAppsCreatedAfterDateTime;
    restrictions.push(out);
  }
  return {
    id: typeof raw.id === "string" ? raw.id : "",
    displayName: typeof raw.displayName === "string" ? raw.displayName : "",
    // The tenant default is disabled unless it says otherwise; an applied policy is in force unless it says otherwise.
    isEnabled: typeof raw.isEnabled === "boolean" ? raw.isEnabled : scope === "app",
    scope,
    restrictions,
  };
}

/** An ISO 8601 / Edm.Duration (P90D, P4DT12H30M5S, PT12H, P2W) in ms, or undefined. Years and months are not durations Graph sends. */
export function durationMs(s: string): number | undefined {
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(s.trim());
  if (!m || /^P$|T$/.test(s.trim())) return undefined;
  const [, w, d, h, min, sec] = m;
  return (Number(w ?? 0) * 7 + Number(d ?? 0)) * DAY_MS + Number(h ?? 0) * 3_600_000 + Number(min ?? 0) * 60_000 + Number(sec ?? 0) * 1000;
}

// ---- judging ----------------------------------------------------------------------------------------------

interface Governing {
  policy: AppManagementPolicy;
  restriction: PasswordRestriction;
}

/**
 * The restriction of `type` in force for `app` (undefined: an app homelab is about to create, so created now): the
 * app's own policy's if it defines one, else the tenant default's; none when disabled or when the app was created
 * before `restrictForAppsCreatedAfterDateTime`.
 */
export function governing(obs: Pick<ObservedPolicies, "tenantDefault">, app: Pick<PolicyApp, "policy" | "createdDateTime"> | undefined, type: RestrictionType, nowMs = Date.now()): Governing | undefined {
  const own = app?.policy?.isEnabled ? app.policy.restrictions.find((r) => r.type === type) : undefined;
  const def = obs.tenantDefault?.isEnabled ? obs.tenantDefault.restrictions.find((r) => r.type === type) : undefined;
  const g = own ? { policy: app!.policy!, restriction: own } : def ? { policy: obs.tenantDefault!, restriction: def } : undefined;
  if (!g || !g.restriction.enabled) return undefined;
  const created = app?.createdDateTime ? Date.parse(app.createdDateTime) : nowMs;
  if (g.restriction.since !== undefined && created < Date.parse(g.restriction.since)) return undefined;
  return g;
}

interface Refusal {
  realm: string;
  app: PolicyApp | undefined;
  why: "blocked" | "lifetime";
  policy: AppManagementPolicy;
  restriction: PasswordRestriction;
  lifetimeDays: number;
  addresses: string[];
}

function byRealm(changes: Change[]): Map<string, Change[]> {
  const out = new Map<string, Change[]>();
  for (const c of changes) {
    const realm = String((c.data as { realm?: unknown } | undefined)?.realm ?? "");
    out.set(realm, [...(out.get(realm) ?? []), c]);
  }
  return out;
}

function judge(obs: ObservedPolicies, app: PolicyApp | undefined, secrets: Change[]): Omit<Refusal, "realm" | "app"> | undefined {
  const addresses = secrets.map((c) => c.address);
  const lifetimeDays = Math.max(...secrets.map((c) => Number((c.data as { lifetimeDays?: unknown }).lifetimeDays ?? 0)));
  const blocked = governing(obs, app, "passwordAddition");
  if (blocked) return { why: "blocked", ...blocked, lifetimeDays, addresses };
  const life = governing(obs, app, "passwordLifetime");
  if (life?.restriction.maxMs !== undefined && lifetimeDays * DAY_MS > life.restriction.maxMs) return { why: "lifetime", ...life, lifetimeDays, addresses };
  return undefined;
}

const BLOCKED_HINT =
  "a Proxmox OpenID realm signs in to Entra ID with a client secret, so lowering lifetimeDays does not help: ask a tenant administrator to exempt homelab's app registration from the passwordAddition restriction (an app management policy applied to the app with that restriction disabled)";

function describePolicy(r: Refusal): string {
  const name = r.policy.displayName ? `"${r.policy.displayName}"` : r.policy.id;
  const which = r.policy.scope === "default" ? "the tenant default" : `applied to app ${r.app?.displayName ?? "?"} (${r.app?.appId ?? "?"})`;
  return `app management policy ${name} (${which}, id ${r.policy.id})`;
}

function limitText(r: PasswordRestriction): string {
  const ms = r.maxMs ?? 0;
  return ms % DAY_MS === 0 ? `${ms / DAY_MS} days (passwordLifetime ${r.maxLifetime})` : `${r.maxLifetime} (${(ms / DAY_MS).toFixed(2)} days)`;
}

function refusalError(tenant: string, refusals: Refusal[]): UserError {
  const lines = refusals.map((r) =>
    r.why === "blocked"
      ? `${describePolicy(r)} blocks new client secrets (passwordAddition); realm ${r.realm} needs one per cluster (${r.addresses.join(", ")})`
      : `${describePolicy(r)} limits client secrets to ${limitText(r.restriction)}; realm ${r.realm} asks for ${r.lifetimeDays} days (${r.addresses.join(", ")})`,
  );
  const hints = refusals.map((r) => {
    if (r.why === "blocked") return BLOCKED_HINT;
    const days = Math.floor((r.restriction.maxMs ?? 0) / DAY_MS);
    return days >= 1
      ? `lower realms.${r.realm}.app.secret.lifetimeDays to at most ${days}`
      : `the policy allows less than a day, below the shortest lifetimeDays (1): ask a tenant administrator to lengthen it or exempt homelab's app`;
  });
  const message =
    lines.length === 1
      ? `tenant ${tenant}: ${lines[0]}; nothing was changed`
      : `tenant ${tenant}: ${lines.length} realms break its app management policies; nothing was changed:\n${lines.map((l) => `  - ${l}`).join("\n")}`;
  return new UserError(message, { code: "E_SECRET_POLICY", hint: [...new Set(hints)].join("; ") });
}

// ---- Graph's message ---------------------------------------------------------------------------------------

/** Graph's own message inside graph.ts's "Graph (tenant t): what: HTTP 400 Code: message". */
function graphMessage(message: string): string {
  const m = /HTTP \d{3} \w+: (.*)$/s.exec(message);
  return (m?.[1] ?? message).trim();
}

/** A limit stated in Graph's message, if any (an ISO duration, or "N days"). */
function limitIn(message: string): { text: string; ms: number } | undefined {
  const iso = /\b(P(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?)\b/.exec(message)?.[1];
  const isoMs = iso && iso !== "P" ? durationMs(iso) : undefined;
  if (iso && isoMs !== undefined) return { text: `${iso} (${Math.round((isoMs / DAY_MS) * 100) / 100} days)`, ms: isoMs };
  const days = /\b(\d+)\s*days?\b/i.exec(message)?.[1];
  return days ? { text: `${days} days`, ms: Number(days) * DAY_MS } : undefined;
}
