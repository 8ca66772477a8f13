import { Secret } from "../config/secret.js";
import type { DesiredApplication, DesiredCluster, DesiredRealm, DesiredState, DesiredTenant } from "../core/desired.js";
import { AuthError, HomelabError } from "../core/errors.js";
import { realmOf } from "../core/pve.js";
import { redact } from "../log/redact.js";
import { connectCluster, connectTenant } from "../providers/connect.js";
import type { AppRoleAssignment, EntraApplication, EntraGroup, EntraMember, EntraUser, EntraUserStatus, PasswordCredential, ServicePrincipal } from "../providers/entra/types.js";
import { directoryNeeded, exactGroup } from "../providers/entra/directory.js";
import { emptyObservedTenant } from "../providers/entra/target.js";
import { findLeavers } from "../providers/proxmox/leavers.js";
import { syncedMembers } from "../providers/proxmox/members.js";
import { emptyObserved } from "../providers/proxmox/observed.js";
import { createResolver } from "../engine/resolver.js";
import type { ProxmoxClient } from "../providers/proxmox/client.js";
import { proxmoxErrorInfo } from "../providers/proxmox/errors.js";
import type { PveRealm, PveUser } from "../providers/proxmox/types.js";
import { claimShape, daysUntil, fail, groupClaimsEmit, leaversCheck, membersCheck, namePart, pass, sameIssuer, sortChecks, warnCheck, type Check } from "./checks.js";
import { discoveryUrl, fetchDiscovery, probeTokenEndpoint, type DiscoveryResult, type TokenProbe } from "./discovery.js";
import { classifyNodeMessage, endpointOf, fetchAuthorize, type AuthorizeOutcome } from "./node.js";

export interface VerifyOptions {
  /** The clock secret expiry is measured against (HOMELAB_NOW honoured by the caller). */
  now: () => Date;
  /** Per discovery-document fetch, ms (default 5000). */
  discoveryTimeoutMs?: number;
  /** Per token request with a realm's credentials, ms (default 10 000). */
  tokenTimeoutMs?: number;
  /** Per request of an authorization URL at the identity provider, ms (default 5000). */
  authorizeTimeoutMs?: number;
  onWarning?: (message: string) => void;
  /** `--debug` lines (request logs, retries); never a secret. */
  onDebug?: (line: string) => void;
}

/** One OpenID realm on the clusters it is declared on. */
interface RealmPlan {
  realm: string;
  byCluster: Map<string, DesiredRealm>;
  /** cluster → user ids named in `access` that end in `@realm`. */
  named: Map<string, string[]>;
  tenant?: DesiredTenant;
  app?: DesiredApplication;
}

type ClusterFacts = { ok: true; api: ProxmoxClient; realms: Map<string, PveRealm | undefined>; users: Map<string, PveUser> } | { ok: false; error: unknown };

type TenantFacts =
  | {
      ok: true;
      apps: Map<string, EntraApplication[]>;
      /** realm → UPN → user (only realms whose username claim is the UPN); or the error of the lookup. */
      directory: Map<string, Map<string, EntraUser | undefined> | { error: unknown }>;
      /** realm → its app's service principal, who is assigned to it, and the mapped groups by display name (realms with mapped groups and one app). */
      groups: Map<string, GroupFacts | { error: unknown }>;
      /** Members of synced groups and the directory with accountEnabled (issue 13), as the plan reads them; or the refusal. */
      people: PeopleFacts | { error: unknown };
    }
  | { ok: false; error: unknown };

interface PeopleFacts {
  directory?: EntraUserStatus[];
  /** Entra group object id (lower case) → its transitive user members. */
  members: Map<string, EntraMember[]>;
  /** Display name (lower case) → object id, for synced groups. */
  groupIds: Map<string, string>;
}

interface GroupFacts {
  sp: ServicePrincipal | undefined;
  assigned: AppRoleAssignment[];
  byName: Map<string, EntraGroup[]>;
}

/** A token request with a realm's own client id and key: undefined when Entra ID issued a token. */
type Prove = (tenant: DesiredTenant, clientId: string, key: string, label: string) => Promise<undefined | { detail: string; hint: string; aadsts?: string }>;

/**
 * Every check of every OpenID realm (see CHECK_IDS), read-only: one bulk read per cluster (realms, users),
 * one app lookup per tenant realm (and for a realm with mapped groups its service principal, who is assigned to
 * it and the groups by name), one discovery fetch per distinct issuer URL and one token request per
 * (tenant realm, cluster). Failures of homelab's OWN credentials (a cluster token or the automation app
 * refused: AuthError) are thrown, so the CLI exits 4; anything else the realm depends on becomes a failed check.
 */
export async function verifyAll(desired: DesiredState, opts: VerifyOptions): Promise<Check[]> {
  const realms = realmPlans(desired);
  if (realms.length === 0) return [];
  const clusterNames = new Set(realms.flatMap((r) => [...r.byCluster.keys()]));
  const clusters = desired.clusters.filter((c) => clusterNames.has(c.name));
  const tenants = desired.tenants.filter((t) => realms.some((r) => r.tenant?.name === t.name));

  const closers: Array<() => void> = [];
  try {
    const [clusterFacts, tenantSide] = await Promise.all([readClusters(clusters, opts, closers), readTenants(tenants, realms, opts)]);
    const discovery = new Map<string, Promise<DiscoveryResult>>();
    const discover = (url: string) => {
      const key = url.replace(/\/+$/, "");
      let p = discovery.get(key);
      if (!p) discovery.set(key, (p = fetchDiscovery(key, { ...(opts.discoveryTimeoutMs !== undefined ? { timeoutMs: opts.discoveryTimeoutMs } : {}) })));
      return p;
    };
    const checks: Check[] = [];
    await Promise.all(
      realms.map(async (r) => {
        const facts = r.tenant ? tenantSide.facts.get(r.tenant.name) : undefined;
        checks.push(...realmWideChecks(r, facts));
        await Promise.all(
          [...r.byCluster.entries()].map(async ([cluster, want]) => {
            const cf = clusterFacts.get(cluster)!;
            checks.push(...peopleChecks(r, desired.clusters.find((c) => c.name === cluster)!, clusterFacts.get(cluster)!, facts));
            checks.push(...(await clusterChecks(r, want, desired.clusters.find((c) => c.name === cluster)!, cf, facts, { discover, prove: tenantSide.prove, probe: (e, m, id, k) => probeTokenEndpoint(e, m, id, k, { ...(opts.tokenTimeoutMs !== undefined ? { timeoutMs: opts.tokenTimeoutMs } : {}) }), authorize: (u, redirect) => fetchAuthorize(u, redirect, { ...(opts.authorizeTimeoutMs !== undefined ? { timeoutMs: opts.authorizeTimeoutMs } : {}) }), now: opts.now() })));
          }),
        );
      }),
    );
    return sortChecks(checks);
  } finally {
    for (const close of closers) close();
  }
}

/** OpenID realms of the config, by realm id, with the clusters they are on and their tenant app (if any). */
function realmPlans(desired: DesiredState): RealmPlan[] {
  const out = new Map<string, RealmPlan>();
  for (const c of desired.clusters) {
    for (const r of c.realms) {
      if (r.type !== "openid") continue;
      let p = out.get(r.realm);
      if (!p) {
        p = { realm: r.realm, byCluster: new Map(), named: new Map() };
        if (r.provisioned) {
          const tenant = desired.tenants.find((t) => t.name === r.provisioned!.tenant);
          const app = tenant?.applications.find((a) => a.address === r.provisioned!.application);
          if (tenant) p.tenant = tenant;
          if (app) p.app = app;
        }
        out.set(r.realm, p);
      }
      p.byCluster.set(c.name, r);
      p.named.set(c.name, namedUsers(c, r.realm));
    }
  }
  return [...out.values()].sort((a, b) => (a.realm < b.realm ? -1 : 1));
}

/** User ids named in `access` on a cluster that end in `@realm`, sorted. */
function namedUsers(cluster: DesiredCluster, realm: string): string[] {
  const ids = new Set<string>();
  for (const a of cluster.acl) if (a.type === "user" && typeof a.ugid === "string" && realmOf(a.ugid) === realm) ids.add(a.ugid);
  return [...ids].sort();
}

/** Claims whose value is the user's UPN in Entra ID, so the directory can be asked whether the person exists. */
const UPN_CLAIMS = new Set(["upn", "username", "preferred_username"]);

async function readClusters(clusters: DesiredCluster[], opts: VerifyOptions, closers: Array<() => void>): Promise<Map<string, ClusterFacts>> {
  const out = new Map<string, ClusterFacts>();
  if (clusters.length === 0) return out;
  await Promise.all(
    clusters.map(async (c) => {
      const api = await connectCluster(c, { ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), onRetry: (line) => opts.onDebug?.(`retry ${line}`) });
      closers.push(() => {
        for (const r of api.requestLog) opts.onDebug?.(`${c.name} ${r.method} ${r.path} ${r.status || "-"} ${r.ms}ms`);
        api.close();
      });
      try {
        const [listed, users] = await Promise.all([api.listRealms(), api.listUsers()]);
        const present = new Set(listed.map((r) => r.realm));
        const realms = new Map<string, PveRealm | undefined>();
        await Promise.all(
          c.realms
            .filter((r) => r.type === "openid")
            .map(async (r) => {
              // getRealm registers the returned client-key with the redactor.
              realms.set(r.realm, present.has(r.realm) ? await api.getRealm(r.realm) : undefined);
            }),
        );
        out.set(c.name, { ok: true, api, realms, users: new Map(users.map((u) => [u.userid, u])) });
      } catch (err) {
        if (err instanceof AuthError) throw err; // homelab's own token or pin refused: exit 4
        out.set(c.name, { ok: false, error: err });
      }
    }),
  );
  return out;
}

async function readTenants(tenants: DesiredTenant[], realms: RealmPlan[], opts: VerifyOptions): Promise<{ facts: Map<string, TenantFacts>; prove: Prove }> {
  const facts = new Map<string, TenantFacts>();
  if (tenants.length === 0) return { facts, prove: async () => undefined };
  // msal is loaded only when a tenant realm is verified.
  const { createTokenSource, TokenAuthError } = await import("../providers/entra/token.js");
  const { realmTag, graphCodeOf } = await import("../providers/entra/graph.js");

  await Promise.all(
    tenants.map(async (t) => {
      const { graph } = await connectTenant(t, { onRetry: (line) => opts.onDebug?.(`retry ${line}`) }, { retries: 2 });
      try {
        const apps = new Map<string, EntraApplication[]>();
        const directory = new Map<string, Map<string, EntraUser | undefined> | { error: unknown }>();
        const groups = new Map<string, GroupFacts | { error: unknown }>();
        // Reading assignments and groups needs Application.Read.All and GroupMember.Read.All: a refusal makes the check inconclusive.
        const refusal = (err: unknown) => {
          if (err instanceof AuthError && graphCodeOf(err) !== undefined && err.status === 403) return { error: err };
          throw err;
        };
        const mine = realms.filter((r) => r.tenant?.name === t.name);
        await Promise.all(
          mine.map(async (r) => {
            const found = await graph.listApplicationsByTag(realmTag(r.realm));
            apps.set(r.realm, found);
            const mapped = r.app?.assignedGroups ?? [];
            if (mapped.length > 0 && found.length === 1) {
              try {
                const [sp, byName] = await Promise.all([graph.findServicePrincipal(found[0]!.appId), graph.findGroupsByDisplayName(mapped)]);
                groups.set(r.realm, { sp, byName, assigned: sp ? await graph.listAppRoleAssignedTo(sp.id) : [] });
              } catch (err) {
                groups.set(r.realm, refusal(err));
              }
            }
            const claim = r.app?.usernameClaim;
            if (claim === undefined || !UPN_CLAIMS.has(claim)) return;
            const upns = [...new Set([...r.named.values()].flat().map(namePart))].sort();
            if (upns.length === 0) return;
            try {
              directory.set(r.realm, await graph.findUsers(upns));
            } catch (err) {
              // Reading users needs a permission the rest of homelab does not: a refusal here only makes this check inconclusive.
              if (err instanceof AuthError && graphCodeOf(err) !== undefined && err.status === 403) directory.set(r.realm, { error: err });
              else throw err;
            }
          }),
        );
        let people: PeopleFacts | { error: unknown };
        try {
          people = await readPeople(graph, t);
        } catch (err) {
          people = refusal(err);
        }
        facts.set(t.name, { ok: true, apps, directory, groups, people });
      } catch (err) {
        if (err instanceof AuthError) throw err; // the automation app's credentials or permissions refused: exit 4
        facts.set(t.name, { ok: false, error: err });
      } finally {
        for (const r of graph.requestLog) opts.onDebug?.(`${t.name} ${r.method} ${r.path} ${r.status || "-"} ${r.ms}ms`);
      }
    }),
  );

  const prove: Prove = async (tenant, clientId, key, label) => {
    try {
      const source = createTokenSource({
        tenantId: tenant.tenantId,
        loginUrl: tenant.loginUrl,
        graphUrl: tenant.graphUrl,
        credentials: { clientId, clientSecret: Secret.fromValue(key, label) },
        retries: 1,
        timeoutMs: opts.tokenTimeoutMs ?? 10_000,
      });
      await source.getToken();
      return undefined;
    } catch (err) {
      if (err instanceof TokenAuthError) return { detail: redact(err.message), hint: realmSecretHint(err.aadsts, clientId), ...(err.aadsts ? { aadsts: err.aadsts } : {}) };
      if (err instanceof HomelabError) return { detail: redact(err.message), hint: err.hint ?? "check the network path to the tenant's login URL" };
      return { detail: redact(err instanceof Error ? err.message : String(err)), hint: "check the network path to the tenant's login URL" };
    }
  };
  return { facts, prove };
}

/** The reads the plan makes for members sync and leavers (entra.group provider): synced groups' members, the directory. */
async function readPeople(graph: Awaited<ReturnType<typeof connectTenant>>["graph"], t: DesiredTenant): Promise<PeopleFacts> {
  const synced = t.groups.filter((g) => g.syncMembers).map((g) => g.displayName);
  const members = new Map<string, EntraMember[]>();
  const groupIds = new Map<string, string>();
  const [byName, directory] = await Promise.all([synced.length ? graph.findGroupsByDisplayName(synced) : Promise.resolve(new Map<string, EntraGroup[]>()), directoryNeeded(t) ? graph.listUserStatuses() : Promise.resolve(undefined)]);
  await Promise.all(
    synced.map(async (name) => {
      const found = exactGroup(byName, name);
      if (found.length !== 1) return;
      groupIds.set(name.toLowerCase(), found[0]!.id);
      members.set(found[0]!.id.toLowerCase(), await graph.listTransitiveUserMembers(found[0]!.id));
    }),
  );
  return { members, groupIds, ...(directory ? { directory } : {}) };
}

/**
 * `members` and `leavers` rows for a tenant realm on one cluster (issue 13), computed by the planners' own pure
 * functions from what verify read, so verify and apply cannot disagree about who is a member or a leaver.
 */
function peopleChecks(r: RealmPlan, cluster: DesiredCluster, cf: ClusterFacts, facts: TenantFacts | undefined): Check[] {
  if (!r.tenant || !facts?.ok || !cf.ok) return [];
  const people = facts.people;
  if ("error" in people) {
    const e = people.error;
    return [warnCheck("leavers", r.realm, cluster.name, `could not read the directory: ${redact(e instanceof Error ? e.message : String(e))}`, e instanceof HomelabError && e.hint ? e.hint : "grant the automation app User.Read.All and GroupMember.Read.All (homelab bootstrap does)")];
  }
  const resolver = createResolver();
  for (const [name, id] of people.groupIds) {
    const g = r.tenant.groups.find((x) => x.displayName.toLowerCase() === name)!;
    resolver.recordGroup({ tenant: r.tenant.name, displayName: g.displayName, realm: "" }, id);
    resolver.record({ ref: g.address, field: "id" }, id);
  }
  const target = { desired: cluster, api: undefined as never, resolver, runAs: { tokenId: cluster.token.id, userid: cluster.token.id.split("!")[0]! } };
  const observed = emptyObserved();
  for (const [id, u] of cf.users) observed.users.set(id, u);
  const world = new Map<string, unknown>([[r.tenant.name, { ...emptyObservedTenant(), members: people.members, ...(people.directory ? { directory: people.directory } : {}) }]]);
  const out: Check[] = [];
  const sync = syncedMembers(target, world);
  const realmGroups = cluster.groups.filter((g) => g.syncMembers && g.realm === r.realm);
  const groups = [...sync.groups.entries()]
    .filter(([gid]) => realmGroups.some((g) => sync.groupAddress.get(gid) === g.address))
    .map(([gid, displayName]) => ({
      displayName, groupid: gid,
      entra: [...sync.memberOf.entries()].filter(([u, gs]) => gs.has(gid) && (cf.users.has(u) || sync.profiles.get(u)?.accountEnabled !== false)).map(([u]) => u).sort(),
      proxmox: [...cf.users.values()].filter((u) => u.groups.includes(gid)).map((u) => u.userid).sort(),
    }));
  const m = membersCheck(r.realm, cluster.name, groups);
  if (m) out.push(m);
  if (people.directory) {
    const { leavers, unknown } = findLeavers(target, observed, world);
    const mine = leavers.filter((l) => l.realm === r.realm);
    const total = [...cf.users.keys()].filter((u) => realmOf(u) === r.realm).length;
    out.push(leaversCheck(r.realm, cluster.name, mine, unknown.filter((u) => realmOf(u) === r.realm), total));
  }
  return out;
}

/** What a refused token request with the realm's credentials means for the login, by AADSTS number. */
function realmSecretHint(aadsts: string | undefined, clientId: string): string {
  switch (aadsts) {
    case "7000222":
      return "the realm's client secret has expired, so every login fails: run homelab apply, which issues a new secret to the realm (and renews within renewBeforeDays from then on)";
    case "7000215":
      return `the realm's client key is not a valid secret of app ${clientId}: run homelab apply, which issues a new secret to the realm`;
    case "700016":
      return `no app with client id ${clientId} in the tenant: the realm's client-id is wrong; run homelab apply to set it`;
    case "7000229":
      return `app ${clientId} has no service principal in the tenant: run homelab apply, which creates it`;
    case "7000112":
      return `app ${clientId} is disabled in the tenant: enable its enterprise application`;
    default:
      return "run homelab apply to give the realm a working client id and secret";
  }
}

function realmWideChecks(r: RealmPlan, facts: TenantFacts | undefined): Check[] {
  if (!r.tenant) return [];
  if (!facts || !facts.ok) {
    const err = facts && !facts.ok ? facts.error : undefined;
    return [fail("tenant", r.realm, undefined, `cannot read tenant ${r.tenant.name}: ${errorText(err)}`, errorHint(err, "check the network path to Microsoft Graph and run again"))];
  }
  const out: Check[] = [];
  const found = facts.apps.get(r.realm) ?? [];
  const tag = `homelab:realm=${r.realm}`;
  if (found.length === 0) out.push(fail("app", r.realm, undefined, `no app registration in tenant ${r.tenant.name} carries the tag ${tag}`, "run homelab apply to create it (homelab finds a realm's app by this tag, never by its name)"));
  else if (found.length > 1) out.push(fail("app", r.realm, undefined, `${found.length} app registrations carry the tag ${tag} (${found.map((a) => a.appId).join(", ")})`, "delete the extra app registrations in Entra ID: homelab never creates two"));
  else out.push(pass("app", r.realm, undefined, `${found[0]!.displayName} (client id ${found[0]!.appId}) in tenant ${r.tenant.name}`));

  const dir = facts.directory.get(r.realm);
  if (dir && "error" in dir) {
    out.push(warnCheck("directory", r.realm, undefined, `cannot read users in tenant ${r.tenant.name}: ${errorText(dir.error)}`, "grant the automation app User.ReadBasic.All (or User.Read.All) to check that named users exist in the directory"));
  } else if (dir instanceof Map) {
    const missing = [...dir.entries()].filter(([, u]) => u === undefined).map(([upn]) => upn);
    if (missing.length > 0)
      out.push(fail("directory", r.realm, undefined, `not in tenant ${r.tenant.name}: ${missing.join(", ")}`, `check the spelling in access (the login produces <UPN>@${r.realm}), or create the user in Entra ID`));
    else out.push(pass("directory", r.realm, undefined, `${dir.size} named user${dir.size === 1 ? " exists" : "s exist"} in tenant ${r.tenant.name}`));
  }
  if (r.app && r.app.assignedGroups.length > 0 && found.length === 1) out.push(groupClaimsCheck(r, found[0]!), groupAssignmentCheck(r, r.app.assignedGroups, facts.groups.get(r.realm)));
  return out;
}

/**
 * A mapped Entra group gives its members rights only if their ID token carries it: the app must emit the groups
 * claim (`groupMembershipClaims`, and the `groups` optional claim homelab sets on the ID token).
 */
function groupClaimsCheck(r: RealmPlan, app: EntraApplication): Check {
  const emit = groupClaimsEmit(app.groupMembershipClaims);
  const shown = app.groupMembershipClaims ?? "None";
  const optional = (app.optionalClaims?.idToken ?? []).some((x) => x.name === "groups");
  const problems: string[] = [];
  if (emit === "none") problems.push(`the app's groupMembershipClaims is ${shown}, so ID tokens carry no groups`);
  if (!optional) problems.push("the app's ID token has no groups optional claim");
  const hint = "run homelab apply to restore them (groupMembershipClaims ApplicationGroup and the groups optional claim): without them members of the mapped groups get no rights in Proxmox";
  if (problems.length > 0) return fail("group-claims", r.realm, undefined, problems.join("; "), hint);
  if (emit === "all")
    return warnCheck("group-claims", r.realm, undefined, `the app's groupMembershipClaims is ${shown}: ID tokens carry every group of the user, and none at all for a user in more than 200 groups`, "run homelab apply to set ApplicationGroup, which puts only the groups assigned to the app in the token");
  return pass("group-claims", r.realm, undefined, `ID tokens carry the groups assigned to the app (groupMembershipClaims ${shown}, groups optional claim)`);
}

/** With ApplicationGroup, Entra ID puts only groups assigned to the app in the token: each mapped group must be assigned. */
function groupAssignmentCheck(r: RealmPlan, mapped: string[], g: GroupFacts | { error: unknown } | undefined): Check {
  const realm = r.realm;
  if (!g) return warnCheck("group-assignment", realm, undefined, "not checked", "run homelab verify again");
  if ("error" in g)
    return warnCheck("group-assignment", realm, undefined, `cannot read the app's assignments or the groups: ${errorText(g.error)}`, "grant the automation app Application.Read.All and GroupMember.Read.All to check that the mapped groups are assigned to the app");
  if (!g.sp)
    return fail("group-assignment", realm, undefined, `the app has no service principal (enterprise application), so no group is assigned to it: ${mapped.join(", ")}`, "run homelab apply: it creates the service principal and assigns the mapped groups");
  const missing: string[] = [];
  const ambiguous: string[] = [];
  const unassigned: string[] = [];
  for (const name of mapped) {
    const found = g.byName.get(name) ?? [];
    if (found.length === 0) missing.push(name);
    else if (found.length > 1) ambiguous.push(`${name} (${found.length} groups)`);
    else if (!g.assigned.some((a) => a.principalId.toLowerCase() === found[0]!.id.toLowerCase())) unassigned.push(name);
  }
  const tenant = r.tenant!.name;
  const parts = [
    ...(unassigned.length ? [`not assigned to the app: ${unassigned.join(", ")}, so Entra ID leaves ${unassigned.length === 1 ? "it" : "them"} out of the groups claim and ${unassigned.length === 1 ? "its" : "their"} members get no rights through it`] : []),
    ...(missing.length ? [`no group named ${missing.join(", ")} in tenant ${tenant}`] : []),
    ...(ambiguous.length ? [`several groups share the name ${ambiguous.join(", ")} in tenant ${tenant}`] : []),
  ];
  if (parts.length > 0) {
    const hints = [
      ...(unassigned.length ? ["run homelab apply to assign them (the automation app needs AppRoleAssignment.ReadWrite.All), or assign them to the enterprise application in the Entra admin center"] : []),
      ...(missing.length || ambiguous.length ? ["check groups.*.entraGroup against the display names in Entra ID (they must name exactly one group)"] : []),
    ];
    return fail("group-assignment", realm, undefined, parts.join("; "), hints.join("; "));
  }
  return pass("group-assignment", realm, undefined, `${mapped.length === 1 ? "the mapped group is" : `${mapped.length} mapped groups are`} assigned to the app: ${mapped.join(", ")}`);
}

interface ClusterCtx {
  discover(url: string): Promise<DiscoveryResult>;
  prove: Prove;
  /** A client-credentials request at an external issuer with a realm's client id and key. */
  probe(tokenEndpoint: string, methods: readonly string[], clientId: string, key: string): Promise<TokenProbe>;
  /** A GET of an authorization URL at the identity provider, without signing in. */
  authorize(url: string, redirectUrl: string): Promise<AuthorizeOutcome>;
  now: Date;
}

async function clusterChecks(r: RealmPlan, want: DesiredRealm, cluster: DesiredCluster, cf: ClusterFacts, facts: TenantFacts | undefined, ctx: ClusterCtx): Promise<Check[]> {
  const realm = r.realm;
  const c = cluster.name;
  if (!cf.ok) return [fail("cluster", realm, c, `cannot read cluster ${c}: ${errorText(cf.error)}`, errorHint(cf.error, `check that ${cluster.url} is reachable from here and run again`))];
  const out: Check[] = [];
  const apps = facts?.ok ? facts.apps.get(realm) : undefined;
  const app = apps?.length === 1 ? apps[0] : undefined;
  const named = r.named.get(c) ?? [];

  // The app's side does not depend on the realm existing.
  if (r.tenant && app) {
    const uris = app.web?.redirectUris ?? [];
    if (uris.includes(cluster.url)) out.push(pass("redirect-uri", realm, c, `the app accepts ${cluster.url}`));
    else
      out.push(fail("redirect-uri", realm, c, `the app's redirect URIs (${uris.join(", ") || "none"}) do not contain ${cluster.url}`,
        "run homelab apply to restore them; Entra ID compares redirect URIs exactly (scheme, host, port, no trailing slash) and refuses the login otherwise"));
  }
  if (named.length > 0) out.push(usersCheck(realm, cluster, cf.users, named));

  const have = cf.realms.get(realm);
  if (!have) {
    out.push(fail("realm", realm, c, `realm ${realm} does not exist on ${c}`, "run homelab apply to create it"));
    return out;
  }
  if (have.type !== "openid") {
    out.push(fail("realm", realm, c, `realm ${realm} on ${c} is a ${have.type} realm, not openid`, "run homelab apply, which replaces it"));
    return out;
  }
  out.push(pass("realm", realm, c, "an OpenID realm"));

  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const storedIssuer = str(have.options["issuer-url"]);
  const wantIssuer = str(want.options["issuer-url"]);
  if (storedIssuer && wantIssuer && sameIssuer(storedIssuer, wantIssuer)) out.push(pass("issuer", realm, c, `issuer-url ${storedIssuer}`));
  else out.push(fail("issuer", realm, c, `the realm's issuer-url is ${storedIssuer ?? "(unset)"}, the config asks for ${wantIssuer ?? "(unset)"}`, "run homelab apply to set it"));

  // From here and from the node, at the same time: the node's answer is read against what homelab saw.
  const [discovered, node] = await Promise.all([storedIssuer ? ctx.discover(storedIssuer) : undefined, nodeAuthUrl(cf.api, realm, cluster.url)]);
  if (storedIssuer && discovered) out.push(discoveryCheck(realm, c, storedIssuer, wantIssuer, r.tenant, discovered));
  out.push(nodeDiscoveryCheck(realm, c, storedIssuer, wantIssuer, r.tenant, discovered, node));

  const storedClientId = str(have.options["client-id"]);
  if (r.tenant) {
    if (app) {
      if (storedClientId === app.appId) out.push(pass("client-id", realm, c, `client-id ${app.appId} is the app's`));
      else out.push(fail("client-id", realm, c, `the realm's client-id is ${storedClientId ?? "(unset)"}, the app's is ${app.appId}`, `run homelab apply to set it: it must be the client id of the app tagged homelab:realm=${realm}`));
    }
  } else {
    const wantId = str(want.options["client-id"]);
    if (storedClientId === wantId) out.push(pass("client-id", realm, c, `client-id ${storedClientId ?? "(unset)"}`));
    else out.push(fail("client-id", realm, c, `the realm's client-id is ${storedClientId ?? "(unset)"}, the config asks for ${wantId ?? "(unset)"}`, "run homelab apply to set it"));
  }

  out.push(clientKeyCheck(r, want, c, have, discovered));
  if (node.ok) out.push(authorizeCheck(r, c, cluster.url, storedClientId, await ctx.authorize(node.url, cluster.url)));
  out.push(await secretCheck(r, want, c, have, app, storedClientId, ctx, discovered));
  out.push(usernameClaimCheck(r, want, c, have, app, named));
  return out;
}

/**
 * The issuer's discovery document names exactly the realm's issuer. OpenID Connect Discovery 1.0 section 4.3
 * requires the `issuer` a relying party was configured with to equal the document's, and Proxmox's OpenID client
 * refuses every login otherwise; so a mismatch is a failure even when the document comes from a Graph-compatible
 * stand-in at a tenant's custom login URL (Entra's own document names `<login URL>/<tenant GUID>/v2.0`).
 */
function discoveryCheck(realm: string, c: string, issuer: string, wantIssuer: string | undefined, tenant: DesiredTenant | undefined, d: DiscoveryResult): Check {
  if (!d.ok) return fail("discovery", realm, c, d.detail, d.hint);
  // Exactly, a trailing "/" included: openidconnect-rs (Proxmox's OpenID client) compares the issuer strings as written.
  if (issuer !== d.issuer) return fail("discovery", realm, c, `${d.url} names the issuer ${d.issuer}, the realm has ${issuer}`, issuerMismatchHint(realm, issuer, wantIssuer, tenant, d.issuer));
  if (d.plainHttp)
    return warnCheck("discovery", realm, c, `reachable over plain http; it names the issuer ${d.issuer}`, "use https: over http anyone on the path between Proxmox and the issuer can change where logins are sent");
  return pass("discovery", realm, c, `reachable; it names the issuer ${d.issuer}`);
}

type NodeAnswer = { ok: true; url: string } | { ok: false; message: string; status?: number; transport?: boolean };

/**
 * `POST /access/openid/auth-url` on the cluster, with the cluster's URL as redirect URL (what the Proxmox GUI sends:
 * its origin, which homelab registers as the app's redirect URI). The endpoint needs no credentials (spec 4.6); the
 * cluster client sends its token anyway, which Proxmox ignores here. Each call leaves one unused login state on the
 * node, which Proxmox drops after 10 minutes.
 */
async function nodeAuthUrl(api: ProxmoxClient, realm: string, redirectUrl: string): Promise<NodeAnswer> {
  try {
    const url = await api.request<unknown>("POST", "access/openid/auth-url", { realm, "redirect-url": redirectUrl });
    if (typeof url === "string" && url !== "") return { ok: true, url };
    return { ok: false, message: "the node answered without an authorization URL" };
  } catch (err) {
    const info = proxmoxErrorInfo(err);
    const status = err instanceof HomelabError && "status" in err && typeof err.status === "number" ? err.status : undefined;
    if (info && status !== undefined) return { ok: false, message: redact(info.serverMessage), status };
    return { ok: false, message: errorText(err), transport: true };
  }
}

/**
 * The node's own discovery (POST /access/openid/auth-url): Proxmox's message as the row's detail, a hint by what it
 * says, compared with what homelab saw from here (an issuer reachable from here but not from the node points at the
 * node's network or trust store).
 */
function nodeDiscoveryCheck(realm: string, c: string, issuer: string | undefined, wantIssuer: string | undefined, tenant: DesiredTenant | undefined, here: DiscoveryResult | undefined, node: NodeAnswer): Check {
  if (node.ok) return pass("node-discovery", realm, c, `the node fetched the issuer's discovery document; sign-in starts at ${endpointOf(node.url)}`);
  if (node.transport)
    return fail("node-discovery", realm, c, `POST /access/openid/auth-url got no answer: ${node.message}`, "the node may be waiting for the issuer (Proxmox fetches its discovery document during this request): check from the node that the issuer URL answers, e.g. curl it there");
  const detail = `the node answered ${node.status ?? "an error"}: ${node.message}`;
  const doc = issuer ? discoveryUrl(issuer) : "the discovery document";
  const seenHere = here?.ok === true;
  const f = classifyNodeMessage(node.message);
  switch (f.kind) {
    case "unreachable":
      return fail("node-discovery", realm, c, detail,
        seenHere
          ? `homelab reaches the issuer from here, but the Proxmox node does not: check the node's DNS, routes, firewall and proxy settings for ${doc} (Proxmox fetches it at every login)`
          : `neither homelab nor the node reaches ${doc}: check the issuer URL and the network path to the issuer`);
    case "tls":
      return fail("node-discovery", realm, c, detail,
        "the node does not trust the issuer's TLS certificate: Proxmox uses the node's system trust store, so add the issuer's CA there on every node (copy it to /usr/local/share/ca-certificates/ and run update-ca-certificates)");
    case "issuer":
      return fail("node-discovery", realm, c, detail, issuerMismatchHint(realm, f.expected, wantIssuer, tenant, f.named));
    case "no-document":
      return fail("node-discovery", realm, c, detail, `there is no discovery document at ${doc}: check the realm's issuer URL (the issuer itself, without /.well-known/openid-configuration${tenant ? "; for Entra ID the tenant GUID form" : ""})`);
    case "bad-document":
      return fail("node-discovery", realm, c, detail, `Proxmox does not accept the document at ${doc} or the keys it names: check that the issuer URL points at an OpenID Connect provider`);
    case "realm":
      return fail("node-discovery", realm, c, detail, "run homelab apply to create the OpenID realm");
    default:
      return fail("node-discovery", realm, c, detail, "a login through this realm fails with the same error: fix what Proxmox reports");
  }
}

/**
 * The identity provider's answer to the node's authorization URL, before anyone signs in: its sign-in page passes;
 * an error page or an error sent back to the redirect URI fails, with a hint by Entra ID's error number.
 */
function authorizeCheck(r: RealmPlan, c: string, redirectUrl: string, clientId: string | undefined, a: AuthorizeOutcome): Check {
  const realm = r.realm;
  const client = clientId ?? "(unset)";
  switch (a.kind) {
    case "sign-in":
      return pass("authorize", realm, c, `the identity provider shows its sign-in page for client ${client} and redirect URI ${redirectUrl}`);
    case "unreachable":
      return fail("authorize", realm, c, `cannot request the authorization URL from here: ${a.detail}`, "the node reaches the issuer but this machine does not: a person's browser must reach it too; check DNS, firewall and proxy between browsers and the issuer");
    case "redirect-error":
      return fail("authorize", realm, c, `the identity provider sends the browser back with ${a.error}${a.description ? `: ${a.description}` : ""}`, "a login through this realm ends with this error: check the realm's client id, scopes and prompt against the client registered at the identity provider");
    case "page-error": {
      const detail = `the identity provider shows an error before sign-in${a.status !== 200 ? ` (HTTP ${a.status})` : ""}: ${a.message}`;
      return fail("authorize", realm, c, detail, authorizeHint(r, redirectUrl, client, a.aadsts));
    }
  }
}

/** What to change for an error the identity provider shows before sign-in, by Entra ID's AADSTS number. */
function authorizeHint(r: RealmPlan, redirectUrl: string, clientId: string, aadsts: string | undefined): string {
  const tenant = r.tenant !== undefined;
  switch (aadsts) {
    case "50011":
      return tenant
        ? `the app's redirect URIs do not contain ${redirectUrl} (Entra ID compares them exactly): run homelab apply to restore them`
        : `register ${redirectUrl} as a redirect URI of client ${clientId} in Entra ID (exact match: scheme, host, port, no trailing slash)`;
    case "700016":
      return tenant
        ? `no app with client id ${clientId} in the tenant: the realm's client-id is wrong or the app was deleted; run homelab apply`
        : `no app with client id ${clientId} in the tenant the issuer URL names: check realms.${r.realm}.clientId and issuerUrl`;
    case "90002":
      return "the issuer URL names a tenant Entra ID does not know: check the tenant id";
    case "900971":
    case "900144":
      return "the realm sends no client id or redirect URI: run homelab apply to set the realm's client-id";
    case undefined:
      return `check that client ${clientId} exists at the identity provider and has ${redirectUrl} as a redirect URI`;
    default:
      return `Entra ID's error AADSTS${aadsts}: see https://login.microsoftonline.com/error?code=${aadsts}`;
  }
}

/** What to change when the discovery document names another issuer than the realm's issuer-url. */
function issuerMismatchHint(realm: string, issuer: string, wantIssuer: string | undefined, tenant: DesiredTenant | undefined, named: string): string {
  if (!tenant) return `set realms.${realm}.issuerUrl to exactly ${named}: OpenID Connect requires the configured issuer to equal the document's, or Proxmox refuses every login`;
  if (!GUID_IN.test(issuer) && GUID_IN.test(named))
    return `Entra ID's discovery document always names the tenant GUID, so Proxmox refuses an issuer in domain form: run homelab apply to set the GUID form (tenants.${tenant.name}.tenantId must be the GUID)`;
  if (wantIssuer === undefined || !sameIssuer(issuer, wantIssuer)) return "run homelab apply to set the realm's issuer-url (derived from the tenant's loginUrl and tenantId)";
  // The realm has what the config derives, and the login URL's own document disagrees: apply cannot fix that.
  const suffix = `/${tenant.tenantId}/v2.0`;
  const origin = named.toLowerCase().endsWith(suffix.toLowerCase()) ? named.slice(0, -suffix.length) : undefined;
  return origin
    ? `the login URL ${tenant.loginUrl} serves a document for the issuer ${named}, and Proxmox refuses every login whose issuer differs from the realm's: set tenants.${tenant.name}.cloud.loginUrl to ${origin} (or make the service at ${tenant.loginUrl} name its own URL as issuer), then run homelab apply`
    : `the login URL ${tenant.loginUrl} serves a document for another issuer, and Proxmox refuses every login whose issuer differs from the realm's: check tenants.${tenant.name}.cloud (loginUrl and graphUrl) and tenantId`;
}

const GUID_IN = /\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\/|$)/i;

const storedKey = (have: PveRealm): string | undefined =>
  typeof have.options["client-key"] === "string" && have.options["client-key"] !== "" ? (have.options["client-key"] as string) : undefined;

/**
 * "The realm has a client key", for every OpenID realm (issue 14). Proxmox returns `client-key` on every read
 * (access API spec 3.1.3), so a read without one means the realm has none, and Proxmox then signs people in
 * without a client secret. Entra ID always wants one from a web app; an external issuer needs one unless its
 * token endpoint accepts clients without (`none` in `token_endpoint_auth_methods_supported`).
 */
function clientKeyCheck(r: RealmPlan, want: DesiredRealm, c: string, have: PveRealm, d: DiscoveryResult | undefined): Check {
  const realm = r.realm;
  if (storedKey(have) !== undefined) return pass("client-key", realm, c, "the realm has a client key");
  if (r.tenant) return fail("client-key", realm, c, "the realm has no client key, so Entra ID refuses every sign-in through it", "run homelab apply: it issues a new client secret to the realm (Entra ID never shows an existing one again)");
  if (want.clientKey instanceof Secret) return fail("client-key", realm, c, `the realm has no client key; the config gives ${want.clientKey.ref}`, "run homelab apply to set it");
  if (!d || !d.ok) return warnCheck("client-key", realm, c, "the realm has no client key, and without the issuer's discovery document homelab cannot tell whether it needs one", `if the issuer gave this client a secret, add realms.${realm}.clientKey`);
  if (d.authMethods.includes("none")) return pass("client-key", realm, c, "no client key; the issuer accepts clients without one");
  return fail("client-key", realm, c, `the realm has no client key, but the issuer's token endpoint accepts only ${d.authMethods.join(", ") || "client_secret_basic"}: every sign-in fails`, `add realms.${realm}.clientKey: \${env:NAME} with the client secret the issuer shows for client ${String(have.options["client-id"] ?? "")}`);
}

async function secretCheck(r: RealmPlan, want: DesiredRealm, c: string, have: PveRealm, app: EntraApplication | undefined, storedClientId: string | undefined, ctx: ClusterCtx, d: DiscoveryResult | undefined): Promise<Check> {
  const realm = r.realm;
  const key = storedKey(have);

  if (!r.tenant) {
    // External issuer: its secrets' lifetimes are its own business; compare with the config's value, then
    // prove it at the issuer's token endpoint where the issuer takes client secrets there.
    if (!(want.clientKey instanceof Secret)) return key === undefined ? pass("secret", realm, c, "no client key (the config sets none)") : warnCheck("secret", realm, c, "the realm holds a client key the config does not set", `add realms.${realm}.clientKey, or remove the key from the realm`);
    if (key === undefined) return fail("secret", realm, c, "nothing to prove: the realm has no client key", "run homelab apply to set it");
    if (key !== want.clientKey.reveal()) return fail("secret", realm, c, `the realm's client key differs from ${want.clientKey.ref}`, "run homelab apply to set it (or update the variable or file if the issuer's secret was renewed)");
    const same = `the realm's client key is ${want.clientKey.ref}`;
    const methods = d?.ok ? d.authMethods.filter((m) => m === "client_secret_basic" || m === "client_secret_post") : [];
    if (!d?.ok || !d.tokenEndpoint || methods.length === 0 || storedClientId === undefined)
      return warnCheck("secret", realm, c, `${same}; not proven (${!d?.ok ? "no discovery document" : !d.tokenEndpoint ? "the issuer names no token endpoint" : storedClientId === undefined ? "the realm has no client-id" : "the issuer takes no client secret at its token endpoint"})`, "sign in once through the realm to prove it");
    const probe = await ctx.probe(d.tokenEndpoint, methods, storedClientId, key);
    if (probe.outcome === "accepted") return pass("secret", realm, c, `${same}; the issuer's token endpoint accepts it`);
    if (probe.outcome === "refused") return fail("secret", realm, c, probe.detail, `the issuer no longer accepts ${want.clientKey.ref}: copy the client's current secret from the issuer into it and run homelab apply`);
    return warnCheck("secret", realm, c, `${same}; not proven: ${probe.detail}`, "sign in once through the realm to prove it (a login-only client is often not allowed the client-credentials grant)");
  }

  const name = `homelab:${realm}:${c}`;
  const creds = app?.passwordCredentials ?? [];
  const own = creds.filter((x) => x.displayName === name);
  const byHint = (k: string) => (xs: PasswordCredential[]) => xs.find((x) => x.hint !== null && x.hint !== "" && k.startsWith(x.hint));
  const cred = key !== undefined ? (byHint(key)(own) ?? byHint(key)(creds)) : [...own].sort((a, b) => (a.endDateTime < b.endDateTime ? 1 : -1))[0];
  const days = cred ? daysUntil(cred.endDateTime, ctx.now) : undefined;
  const expiry = cred ? `${cred.displayName ?? cred.keyId} ${days! < 0 ? "expired" : "expires"} on ${cred.endDateTime.slice(0, 10)}${days! < 0 ? "" : ` (in ${days} day${days === 1 ? "" : "s"})`}` : undefined;

  if (key === undefined) return fail("secret", realm, c, `nothing to prove: the realm has no client key${cred ? "" : ` and the app has no secret ${name}`}`, "run homelab apply to issue one to the realm");
  const refused = storedClientId ? await ctx.prove(r.tenant, storedClientId, key, `realms.${realm} client-key on ${c}`) : { detail: "the realm has no client-id", hint: "run homelab apply to set it" };
  if (refused) return fail("secret", realm, c, `${refused.detail}${expiry ? `; ${expiry}` : ""}`, refused.hint);
  if (!cred) return warnCheck("secret", realm, c, "accepted by Entra ID, but it is not one of homelab's secrets of the app (expiry unknown)", "run homelab apply: it gives the realm its own homelab secret, which it renews in time");
  if (days! < 0) return fail("secret", realm, c, `accepted by Entra ID, but ${expiry} by this machine's clock`, "check this machine's clock (or HOMELAB_NOW); run homelab apply to renew it");
  const renewBefore = r.app?.renewBeforeDays ?? 30;
  if (days! <= renewBefore) return warnCheck("secret", realm, c, `accepted by Entra ID; ${expiry}`, `within renewBeforeDays (${renewBefore}): the next homelab apply renews it; run it soon (a schedule such as a daily cron job keeps it renewed)`);
  return pass("secret", realm, c, `accepted by Entra ID; ${expiry}`);
}

function usernameClaimCheck(r: RealmPlan, want: DesiredRealm, c: string, have: PveRealm, app: EntraApplication | undefined, named: string[]): Check {
  const realm = r.realm;
  const wantClaim = typeof want.options["username-claim"] === "string" ? (want.options["username-claim"] as string) : undefined;
  const haveClaim = typeof have.options["username-claim"] === "string" && have.options["username-claim"] !== "" ? (have.options["username-claim"] as string) : undefined;
  const shown = (x: string | undefined) => x ?? "subject (the default)";
  const problems: string[] = [];
  const hints: string[] = [];
  if ((wantClaim ?? "subject") !== (haveClaim ?? "subject")) {
    problems.push(`the realm uses ${shown(haveClaim)}, the config asks for ${shown(wantClaim)}`);
    hints.push("run homelab apply: it replaces the realm (the username claim is fixed when a realm is created)");
  }
  if (r.app && app) {
    const emitted = new Set((app.optionalClaims?.idToken ?? []).map((x) => x.name));
    const missing = r.app.optionalIdTokenClaims.filter((x) => !emitted.has(x));
    if (missing.length > 0) {
      problems.push(`the app does not emit the optional ID-token claim${missing.length === 1 ? "" : "s"} ${missing.join(", ")}`);
      hints.push("run homelab apply to restore the app's optional claims (without them the login has no such claim and fails)");
    }
  }
  const shape = claimShape(wantClaim, r.tenant !== undefined);
  let fits = "";
  if (named.length > 0) {
    if (shape === "unknowable") {
      problems.push(`${shown(wantClaim)} is pairwise in Entra ID (random per user and app), so ${named.join(", ")} cannot be named in advance`);
      hints.push(`set realms.${realm}.usernameClaim: upn`);
    } else if (shape) {
      const bad = named.filter((u) => !shape.test(namePart(u)));
      if (bad.length > 0) {
        problems.push(`${bad.join(", ")} ${bad.length === 1 ? "does" : "do"} not have the form <${shape.looks}>@${realm} that ${wantClaim} produces`);
        hints.push(`name users as <claim value>@${realm}, e.g. jane@contoso.com@${realm}`);
      } else fits = `; ${named.length} named user${named.length === 1 ? " has" : "s have"} the form <${shape.looks}>@${realm}`;
    } else fits = `; homelab cannot tell the values of ${wantClaim}: check that ${named[0]} is what a login produces`;
  }
  if (problems.length > 0) return fail("username-claim", realm, c, problems.join("; "), hints.join("; "));
  return pass("username-claim", realm, c, `${shown(wantClaim)}${fits}`);
}

function usersCheck(realm: string, cluster: DesiredCluster, users: Map<string, PveUser>, named: string[]): Check {
  const c = cluster.name;
  const missing = named.filter((u) => !users.has(u));
  const disabled = named.filter((u) => users.get(u)?.enable === false && cluster.users.find((d) => d.userid === u)?.enable !== false);
  if (missing.length === 0 && disabled.length === 0) return pass("users", realm, c, `${named.length} user${named.length === 1 ? "" : "s"} named in access exist${named.length === 1 ? "s" : ""}`);
  const parts = [...(missing.length ? [`missing on ${c}: ${missing.join(", ")}`] : []), ...(disabled.length ? [`disabled on ${c}: ${disabled.join(", ")}`] : [])];
  return fail("users", realm, c, parts.join("; "), "run homelab apply to create or enable them (a missing user has no ACL entries, and a disabled one cannot log in)");
}

function errorText(err: unknown): string {
  return redact(err instanceof Error ? err.message : String(err));
}

function errorHint(err: unknown, fallback: string): string {
  return err instanceof HomelabError && err.hint ? redact(err.hint) : fallback;
}
