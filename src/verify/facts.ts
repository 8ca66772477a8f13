/**
 * What `homelab verify` reads before it checks anything: the OpenID realms of the config (with their clusters and
 * tenant apps), one bulk read per cluster and the tenant side (apps by tag, directory users, group assignments,
 * members and the directory for issue 13), plus the token request that proves a realm's own secret.
 * run.ts combines these facts with tenant-checks.ts and cluster-checks.ts.
 */
import { Secret } from "../core/secret.js";
import type { DesiredApplication, DesiredCluster, DesiredRealm, DesiredState, DesiredTenant } from "../core/desired.js";
import { AuthError, HomelabError } from "../core/errors.js";
import { realmOf } from "../core/pve.js";
import { redact } from "../log/redact.js";
import { connectCluster, connectTenant } from "../providers/connect.js";
import type { AppRoleAssignment, EntraApplication, EntraGroup, EntraMember, EntraUser, EntraUserStatus, ServicePrincipal } from "../providers/entra/types.js";
import { directoryNeeded, exactGroup } from "../providers/entra/directory.js";
import type { ProxmoxClient } from "../providers/proxmox/client.js";
import type { PveRealm, PveUser } from "../providers/proxmox/types.js";
import { namePart } from "./checks.js";

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
export interface RealmPlan {
  realm: string;
  byCluster: Map<string, DesiredRealm>;
  /** cluster → user ids named in `access` that end in `@realm`. */
  named: Map<string, string[]>;
  tenant?: DesiredTenant;
  app?: DesiredApplication;
}

export type ClusterFacts = { ok: true; api: ProxmoxClient; realms: Map<string, PveRealm | undefined>; users: Map<string, PveUser> } | { ok: false; error: unknown };

export type TenantFacts =
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

export interface PeopleFacts {
  directory?: EntraUserStatus[];
  /** Entra group object id (lower case) → its transitive user members. */
  members: Map<string, EntraMember[]>;
  /** Display name (lower case) → object id, for synced groups. */
  groupIds: Map<string, string>;
}

export interface GroupFacts {
  sp: ServicePrincipal | undefined;
  assigned: AppRoleAssignment[];
  byName: Map<string, EntraGroup[]>;
}

/** A token request with a realm's own client id and key: undefined when Entra ID issued a token. */
export type Prove = (tenant: DesiredTenant, clientId: string, key: string, label: string) => Promise<undefined | { detail: string; hint: string; aadsts?: string }>;

/** OpenID realms of the config, by realm id, with the clusters they are on and their tenant app (if any). */
export function realmPlans(desired: DesiredState): RealmPlan[] {
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

export async function readClusters(clusters: DesiredCluster[], opts: VerifyOptions, closers: Array<() => void>): Promise<Map<string, ClusterFacts>> {
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

export async function readTenants(tenants: DesiredTenant[], realms: RealmPlan[], opts: VerifyOptions): Promise<{ facts: Map<string, TenantFacts>; prove: Prove }> {
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
