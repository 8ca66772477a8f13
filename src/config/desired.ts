import { createHash } from "node:crypto";
import { isAbsolute, resolve as resolvePath } from "node:path";
import type {
  DesiredAcl, DesiredApplication, DesiredAppRole, DesiredCluster, DesiredEntraGroup, DesiredGroup, DesiredRealm, DesiredRole,
  DesiredState, DesiredTenant, DesiredUser, EntraGroupId, RealmOptionValue,
} from "../core/desired.js";
import { BUILTIN_REALMS, realmOf } from "../core/pve.js";
import { hasOwn, own } from "../core/record.js";
import type { HomelabConfig, RealmConfig, TenantConfig } from "./types.js";

const CLOUDS = {
  public: { loginUrl: "https://login.microsoftonline.com", graphUrl: "https://graph.microsoft.com" },
  usgov: { loginUrl: "https://login.microsoftonline.us", graphUrl: "https://graph.microsoft.us" },
  china: { loginUrl: "https://login.chinacloudapi.cn", graphUrl: "https://microsoftgraph.chinacloudapi.cn" },
} as const;

/** Optional ID-token claims Entra must be told to emit for a username claim (spec entra 5.2). */
const CLAIMS_NEEDING_OPTIONAL: ReadonlyMap<string, string> = new Map([["upn", "upn"], ["email", "email"]]);

export const DEFAULT_SECRET_LIFETIME_DAYS = 180;
export const DEFAULT_RENEW_BEFORE_DAYS = 30;

/**
 * A tenant realm whose Entra groups reach Proxmox as app roles (`groupsClaim: roles`, issue 13 part 3): the
 * `roles` claim carries readable values (the groups' keys) and has no group-count overage.
 */
export function usesAppRoles(r: RealmConfig | undefined): boolean {
  return r?.tenant !== undefined && r.groupsClaim === "roles";
}

/**
 * The id of the app role of a mapped Entra group in a realm: a GUID derived from the tenant id, the realm and the
 * group's display name (case-insensitive, as Entra matches it; validate allows one mapping per group and realm), as a
 * name-based UUID (version 5 layout over SHA-256), so every run, and every machine, plans the same role. Not from the
 * value: renaming the group's key changes the role's value in place (same id, so the group's assignment stays), and
 * the old value Graph still shows under this id is the link to the Proxmox group to replace (issue 13 part 3).
 */
export function appRoleId(tenantId: string, realm: string, entraGroup: string): string {
  const h = createHash("sha256").update(`homelab-app-role\0${tenantId.toLowerCase()}\0${realm}\0${entraGroup.toLowerCase()}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function tenantEndpoints(t: TenantConfig): { loginUrl: string; graphUrl: string } {
  const c = t.cloud ?? "public";
  const e = typeof c === "string" ? CLOUDS[c] : c;
  return { loginUrl: trimSlash(e.loginUrl), graphUrl: trimSlash(e.graphUrl) };
}

/** The issuer URL Proxmox needs for a realm provisioned in this tenant (spec entra 5.1). */
export function issuerUrl(t: TenantConfig): string {
  return `${tenantEndpoints(t).loginUrl}/${t.tenantId}/v2.0`;
}

/**
 * The desired state of every cluster and tenant, as a pure function of a validated config. Output is
 * sorted by address so equal configs give equal (deep-equal, serialisable) results. `baseDir` resolves
 * relative CA paths.
 */
export function buildDesired(cfg: HomelabConfig, baseDir = "."): DesiredState {
  const allClusters = Object.keys(cfg.clusters).sort();
  const realmClusters = (realm: string): string[] => own(cfg.realms, realm)?.clusters ?? allClusters;
  const userClusters = (userid: string): string[] => {
    const realm = realmOf(userid);
    return own(cfg.users, userid)?.clusters ?? (hasOwn(cfg.realms, realm) ? realmClusters(realm) : allClusters);
  };
  const groupClusters = (key: string): string[] => {
    const g = own(cfg.groups, key)!;
    return g.clusters ?? (g.realm !== undefined && hasOwn(cfg.realms, g.realm) ? realmClusters(g.realm) : allClusters);
  };
  const groupId = (key: string): string | EntraGroupId => {
    const g = own(cfg.groups, key)!;
    if (g.entraGroup === undefined) return key;
    const id: EntraGroupId = { tenant: own(cfg.realms, g.realm!)!.tenant!, displayName: g.entraGroup, realm: g.realm! };
    // App roles: the login's `roles` claim carries the key, so Proxmox's group is `<key>-<realm>` (spec 4.6).
    return usesAppRoles(own(cfg.realms, g.realm!)) ? { ...id, roleValue: key } : id;
  };

  // Every user named anywhere, with the plain groups they are a member of.
  const memberships = new Map<string, Set<string>>();
  const name = (u: string) => memberships.get(u) ?? memberships.set(u, new Set()).get(u)!;
  for (const u of Object.keys(cfg.users)) name(u);
  for (const a of cfg.access) if (a.user !== undefined) name(a.user);
  for (const [key, g] of Object.entries(cfg.groups)) for (const m of Array.isArray(g.members) ? g.members : []) name(m).add(key);

  const clusters: DesiredCluster[] = allClusters.map((cname) => {
    const c = own(cfg.clusters, cname)!;
    const on = (list: string[]) => list.includes(cname);

    const realms: DesiredRealm[] = Object.entries(cfg.realms)
      .filter(([r]) => on(realmClusters(r)))
      .map(([r, rc]) => desiredRealm(cfg, cname, r, rc));

    const roles: DesiredRole[] = Object.entries(cfg.roles)
      .filter(([, rc]) => on(rc.clusters ?? allClusters))
      .map(([roleid, rc]) => ({ address: `proxmox.role/${cname}:${roleid}`, cluster: cname, roleid, privs: [...rc.privs].sort() }));

    const groups: DesiredGroup[] = Object.entries(cfg.groups)
      .filter(([key]) => on(groupClusters(key)))
      .map(([key, g]) => {
        const comment = g.comment ?? g.entraGroup;
        return {
          address: `proxmox.group/${cname}:${key}`, cluster: cname, key, groupid: groupId(key),
          membersExclusive: g.entraGroup === undefined && g.membersExclusive !== false,
          ...(g.entraGroup !== undefined && g.members === "sync" ? { syncMembers: true as const } : {}),
          ...(comment !== undefined ? { comment } : {}), ...(g.realm !== undefined ? { realm: g.realm } : {}),
        };
      });

    const users: DesiredUser[] = [...memberships.entries()]
      .filter(([u]) => on(userClusters(u)))
      .map(([userid, groupsOf]) => {
        const u = own(cfg.users, userid) ?? {};
        return {
          address: `proxmox.user/${cname}:${userid}`, cluster: cname, userid,
          enable: u.enable ?? true,
          expire: toEpoch(u.expire),
          ...(u.firstname !== undefined ? { firstname: u.firstname } : {}),
          ...(u.lastname !== undefined ? { lastname: u.lastname } : {}),
          ...(u.email !== undefined ? { email: u.email } : {}),
          ...(u.comment !== undefined ? { comment: u.comment } : {}),
          groups: [...groupsOf].filter((g) => on(groupClusters(g))).sort(),
        };
      });

    const acl: DesiredAcl[] = [];
    for (const a of cfg.access) {
      const principalClusters = a.user !== undefined ? userClusters(a.user) : groupClusters(a.group!);
      if (!on(a.clusters ?? principalClusters)) continue;
      const principal = a.user ?? `@${a.group}`;
      acl.push({
        address: `proxmox.acl/${cname}:${a.path}:${principal}:${a.role}`, cluster: cname, path: a.path,
        type: a.user !== undefined ? "user" : "group", ugid: a.user ?? groupId(a.group!), roleid: a.role,
        propagate: a.propagate ?? true,
      });
    }

    const tls = c.tls ?? {};
    return {
      name: cname,
      url: trimSlash(c.url),
      token: c.token,
      tls: { ...tls, ...(tls.ca !== undefined ? { ca: isAbsolute(tls.ca) ? tls.ca : resolvePath(baseDir, tls.ca) } : {}) },
      realms: byAddress(realms), roles: byAddress(roles), groups: byAddress(groups), users: byAddress(users), acl: byAddress(acl),
      prune: cfg.prune,
      managedRealms: Object.keys(cfg.realms).filter((r) => !BUILTIN_REALMS.includes(r) && on(realmClusters(r))).sort(),
    };
  });

  const tenants: DesiredTenant[] = Object.keys(cfg.tenants).sort().map((tname) => {
    const t = own(cfg.tenants, tname)!;
    const apps: DesiredApplication[] = Object.entries(cfg.realms)
      .filter(([, r]) => r.tenant === tname)
      .map(([realm, r]) => {
        const mapped = Object.entries(cfg.groups).filter(([, g]) => g.realm === realm && g.entraGroup !== undefined);
        const entraGroups = mapped.map(([, g]) => g.entraGroup!);
        const roles = usesAppRoles(r);
        const appRoles: DesiredAppRole[] = mapped
          .map(([value, g]) => ({ id: appRoleId(t.tenantId, realm, g.entraGroup!), value, group: g.entraGroup! }))
          .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
        const onClusters = realmClusters(realm);
        const claim = CLAIMS_NEEDING_OPTIONAL.get(r.usernameClaim ?? "");
        return {
          address: `entra.application/${tname}:${realm}`, tenant: tname, realm,
          displayName: r.app?.displayName ?? `Proxmox VE (${realm})`,
          signInAudience: "AzureADMyOrg" as const,
          ...(r.usernameClaim !== undefined ? { usernameClaim: r.usernameClaim } : {}),
          redirectUris: uniqSorted([...onClusters.map((c) => trimSlash(own(cfg.clusters, c)!.url)), ...(r.app?.redirectUris ?? []).map(trimSlash)]),
          optionalIdTokenClaims: claim ? [claim] : [],
          // With app roles the token needs no groups claim: the roles claim replaces it.
          groupMembershipClaims: entraGroups.length > 0 && !roles ? ("ApplicationGroup" as const) : ("None" as const),
          assignedGroups: uniqSorted(entraGroups),
          ...(roles ? { appRoles } : {}),
          secretLifetimeDays: r.app?.secret?.lifetimeDays ?? DEFAULT_SECRET_LIFETIME_DAYS,
          renewBeforeDays: r.app?.secret?.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS,
          secrets: [...onClusters].sort().map((c) => ({ address: `entra.secret/${tname}:${realm}:${c}`, cluster: c, displayName: `homelab:${realm}:${c}` })),
        };
      });
    const synced = new Set(
      Object.values(cfg.groups)
        .filter((g) => g.members === "sync" && g.entraGroup !== undefined && g.realm !== undefined && own(cfg.realms, g.realm)?.tenant === tname)
        .map((g) => g.entraGroup!),
    );
    const groups: DesiredEntraGroup[] = uniqSorted(apps.flatMap((a) => a.assignedGroups)).map((displayName) => ({
      address: `entra.group/${tname}:${displayName}`, tenant: tname, displayName,
      ...(synced.has(displayName) ? { syncMembers: true as const } : {}),
    }));
    return { name: tname, tenantId: t.tenantId, ...tenantEndpoints(t), credentials: t.credentials, applications: byAddress(apps), groups };
  });

  return { clusters, tenants };
}

function desiredRealm(cfg: HomelabConfig, cluster: string, realm: string, r: RealmConfig): DesiredRealm {
  // The built-in realms are configured under their own names (schema: builtinRealm); `type` is optional there.
  const type = realm === "pam" || realm === "pve" ? realm : "openid";
  const options: Record<string, RealmOptionValue> = {};
  const set = (k: string, v: RealmOptionValue | undefined) => {
    if (v !== undefined) options[k] = v;
  };
  set("comment", r.comment);
  set("default", r.default);
  const base: DesiredRealm = { address: `proxmox.realm/${cluster}:${realm}`, cluster, realm, type, options };
  if (type !== "openid") return base;

  const app = r.tenant !== undefined ? `entra.application/${r.tenant}:${realm}` : undefined;
  const hasEntraGroups = Object.values(cfg.groups).some((g) => g.realm === realm && g.entraGroup !== undefined);
  set("issuer-url", app ? issuerUrl(own(cfg.tenants, r.tenant!)!) : r.issuerUrl);
  set("client-id", app ? { ref: app, field: "appId" } : r.clientId);
  set("username-claim", r.usernameClaim);
  set("scopes", r.scopes?.join(" "));
  set("prompt", r.prompt);
  set("acr-values", r.acrValues?.join(","));
  set("audiences", r.audiences?.join(","));
  set("autocreate", r.autocreate);
  set("groups-claim", r.groupsClaim ?? (hasEntraGroups ? "groups" : undefined));
  set("groups-autocreate", r.groupsAutocreate);
  set("groups-overwrite", r.groupsOverwrite);
  set("query-userinfo", r.queryUserinfo);
  return {
    ...base,
    ...(app
      ? { clientKey: { ref: `entra.secret/${r.tenant}:${realm}:${cluster}`, field: "secretText" }, provisioned: { tenant: r.tenant!, application: app }, ...(r.leavers !== undefined && r.leavers !== "report" ? { leavers: r.leavers } : {}) }
      : r.clientKey !== undefined ? { clientKey: r.clientKey } : {}),
  };
}

/** `2027-06-30` (midnight UTC), a date-time with zone, epoch seconds, or 0 / `never`. */
export function toEpoch(v: number | string | undefined): number {
  if (v === undefined || v === "never") return 0;
  if (typeof v === "number") return v;
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v.replace(" ", "T");
  const ms = Date.parse(iso);
  // Date.parse rolls 2027-02-30 over to March: compare the calendar date back to refuse it.
  if (Number.isNaN(ms) || (iso.endsWith("T00:00:00Z") && new Date(ms).toISOString().slice(0, 10) !== v)) {
    throw new RangeError(`not a valid date: ${v}`);
  }
  return Math.floor(ms / 1000);
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, "");
}

function uniqSorted(xs: string[]): string[] {
  return [...new Set(xs)].sort();
}

function byAddress<T extends { address: string }>(xs: T[]): T[] {
  return xs.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}
