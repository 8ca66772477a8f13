import { createHash } from "node:crypto";
import { isAbsolute, resolve as resolvePath } from "node:path";
import type {
  DesiredAcl, DesiredApplication, DesiredAppRole, DesiredCluster, DesiredEntraGroup, DesiredGroup, DesiredRealm, DesiredRole,
  DesiredState, DesiredTenant, DesiredUser, EntraGroupId, RealmOptionValue,
} from "../core/desired.js";
import { BUILTIN_REALMS, realmOf } from "../core/pve.js";
import { hasOwn, own } from "../core/record.js";
import type { HomelabConfig, RealmConfig, TenantConfig, UserConfig } from "./types.js";

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

/**
 * A function giving the declared realm a user id is in (the part after its last `@`), or undefined when that realm
 * is not a key of `realms`. It tells by the id's ending, without cutting the realm out of each id: a large file names
 * tens of thousands of users, and each cut is a new string to hash before it can be looked up (issue 12).
 */
export function declaredRealmOf(realms: Readonly<Record<string, unknown>>): (userid: string) => string | undefined {
  // `@<realm>` can end an id only where its last `@` is, when the realm's name has no `@` (a valid one never has).
  const names = Object.keys(realms).filter((r) => !r.includes("@"));
  const endings = names.map((r) => `@${r}`);
  return (userid) => {
    // An indexed loop: this runs for every user and mapping, often before the JIT has compiled it.
    for (let i = 0; i < endings.length; i++) if (userid.endsWith(endings[i]!)) return names[i];
    const realm = realmOf(userid);
    return hasOwn(realms, realm) ? realm : undefined;
  };
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
  const { allClusters, declaredUsers, realmClusters, userClusters, groupClusters } = clusterLists(cfg);
  const groupId = (key: string): string | EntraGroupId => {
    const g = own(cfg.groups, key)!;
    if (g.entraGroup === undefined) return key;
    const id: EntraGroupId = { tenant: own(cfg.realms, g.realm!)!.tenant!, displayName: g.entraGroup, realm: g.realm! };
    // App roles: the login's `roles` claim carries the key, so Proxmox's group is `<key>-<realm>` (spec 4.6).
    return usesAppRoles(own(cfg.realms, g.realm!)) ? { ...id, roleValue: key } : id;
  };

  // Users and ACL entries are the bulk of a large file (85,000 mappings on three clusters are 255,000 entries):
  // each is built in one pass over keys sorted once, and pushed onto every cluster it is on, so each cluster's
  // list comes out in address order without sorting addresses (`proxmox.acl/<cluster>:` is the same prefix
  // throughout one list, so the order of the addresses is the order of what follows it). They are placed when
  // the first cluster gets to them, after its realms, roles and groups, as before.
  let users: Map<string, DesiredUser[]> | undefined;
  let acl: Map<string, DesiredAcl[]> | undefined;

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

    users ??= placeUsers(cfg, declaredUsers, allClusters, userClusters, groupClusters);
    acl ??= placeAcl(cfg, allClusters, userClusters, groupClusters, groupId);
    const tls = c.tls ?? {};
    return {
      name: cname,
      url: trimSlash(c.url),
      token: c.token,
      tls: { ...tls, ...(tls.ca !== undefined ? { ca: isAbsolute(tls.ca) ? tls.ca : resolvePath(baseDir, tls.ca) } : {}) },
      realms: byAddress(realms), roles: byAddress(roles), groups: byAddress(groups), users: users.get(cname)!, acl: acl.get(cname)!,
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

/** The clusters each thing is on (sorted cluster names; a realm's, a user's and a group's clusters). */
function clusterLists(cfg: HomelabConfig) {
  const allClusters = Object.keys(cfg.clusters).sort();
  const realmClusters = (realm: string): string[] => own(cfg.realms, realm)?.clusters ?? allClusters;
  const declaredUsers = new Map(Object.entries(cfg.users));
  const realmIn = declaredRealmOf(cfg.realms);
  const userClusters = (userid: string): string[] => {
    const realm = realmIn(userid);
    return declaredUsers.get(userid)?.clusters ?? (realm !== undefined ? realmClusters(realm) : allClusters);
  };
  const groupClusters = (key: string): string[] => {
    const g = own(cfg.groups, key)!;
    return g.clusters ?? (g.realm !== undefined && hasOwn(cfg.realms, g.realm) ? realmClusters(g.realm) : allClusters);
  };
  return { allClusters, declaredUsers, realmClusters, userClusters, groupClusters };
}

/** Every user named anywhere (declared, given access, or a member of a plain group), and the plain groups of each member. */
function namedUsers(cfg: HomelabConfig): { named: Set<string>; memberOf: Map<string, Set<string>> } {
  const named = new Set<string>(Object.keys(cfg.users));
  for (const a of cfg.access) if (a.user !== undefined) named.add(a.user);
  // Most users are in no group, and get no set.
  const memberOf = new Map<string, Set<string>>();
  for (const [key, g] of Object.entries(cfg.groups)) {
    if (!Array.isArray(g.members)) continue;
    for (const m of g.members) {
      named.add(m);
      const set = memberOf.get(m);
      if (set) set.add(key);
      else memberOf.set(m, new Set([key]));
    }
  }
  return { named, memberOf };
}

/**
 * How many distinct users buildDesired puts on any cluster, without building the desired state (validate's
 * summary; building the state of 85,000 mappings only to count its users took half of a cold validate, issue 12).
 */
export function desiredUserCount(cfg: HomelabConfig): number {
  const { allClusters, userClusters } = clusterLists(cfg);
  let n = 0;
  for (const userid of namedUsers(cfg).named) {
    const list = userClusters(userid);
    if (allClusters.some((c) => list.includes(c))) n++;
  }
  return n;
}

/** Every named user on each cluster it is on, in user id order: each cluster's list. */
function placeUsers(
  cfg: HomelabConfig, declaredUsers: Map<string, UserConfig>, allClusters: string[], userClusters: (userid: string) => string[],
  groupClusters: (key: string) => string[],
): Map<string, DesiredUser[]> {
  const { named, memberOf } = namedUsers(cfg);
  // Dates are read in the order clusters, then users, were always built in, so that a config that skipped
  // validation fails on the same date as before.
  const expires = new Map<string, number>();
  for (const cname of allClusters) {
    for (const [userid, u] of Object.entries(cfg.users)) {
      if (u.expire !== undefined && !expires.has(userid) && userClusters(userid).includes(cname)) expires.set(userid, toEpoch(u.expire));
    }
  }

  const lists = allClusters.map((): DesiredUser[] => []);
  const prefixes = allClusters.map((c) => `proxmox.user/${c}:`);
  for (const userid of [...named].sort()) {
    const list = userClusters(userid);
    const u = declaredUsers.get(userid);
    const groupsOf = memberOf.get(userid);
    const groups = groupsOf ? [...groupsOf].sort() : [];
    for (let k = 0; k < allClusters.length; k++) {
      const cname = allClusters[k]!;
      if (!list.includes(cname)) continue;
      const address = prefixes[k] + userid;
      const inGroups = groups.length === 0 ? [] : groups.filter((g) => groupClusters(g).includes(cname));
      lists[k]!.push(
        u === undefined
          // Most users are only named in `access`: one literal, one object shape, all fields in the object.
          ? { address, cluster: cname, userid, enable: true, expire: 0, groups: inGroups }
          : {
            address, cluster: cname, userid, enable: u.enable ?? true, expire: expires.get(userid) ?? 0,
            ...(u.firstname !== undefined ? { firstname: u.firstname } : {}),
            ...(u.lastname !== undefined ? { lastname: u.lastname } : {}),
            ...(u.email !== undefined ? { email: u.email } : {}),
            ...(u.comment !== undefined ? { comment: u.comment } : {}),
            groups: inGroups,
          },
      );
    }
  }
  return new Map(allClusters.map((c, k) => [c, lists[k]!]));
}

/**
 * Every access mapping on each cluster it is on, in address order: the part after `proxmox.acl/<cluster>:` is
 * sorted once (equal ones keep the file's order, as the stable sort by address did), and each address is that
 * prefix and that part (one string of each, shared by the clusters).
 */
function placeAcl(
  cfg: HomelabConfig, allClusters: string[], userClusters: (userid: string) => string[], groupClusters: (key: string) => string[],
  groupId: (key: string) => string | EntraGroupId,
): Map<string, DesiredAcl[]> {
  const access = cfg.access;
  const keys: string[] = [];
  const on: string[][] = [];
  for (const a of access) {
    const principalClusters = a.user !== undefined ? userClusters(a.user) : groupClusters(a.group!);
    on.push(a.clusters ?? principalClusters);
    keys.push(`${a.path}:${a.user ?? `@${a.group}`}:${a.role}`);
  }
  const order = access.map((_, i) => i).sort((x, y) => (keys[x]! < keys[y]! ? -1 : keys[x]! > keys[y]! ? 1 : x - y));
  const lists = allClusters.map((): DesiredAcl[] => []);
  const prefixes = allClusters.map((c) => `proxmox.acl/${c}:`);
  for (const i of order) {
    const a = access[i]!;
    const list = on[i]!;
    for (let k = 0; k < allClusters.length; k++) {
      const cname = allClusters[k]!;
      if (!list.includes(cname)) continue;
      lists[k]!.push({
        address: prefixes[k] + keys[i]!, cluster: cname, path: a.path,
        type: a.user !== undefined ? "user" : "group", ugid: a.user ?? groupId(a.group!), roleid: a.role,
        propagate: a.propagate ?? true,
      });
    }
  }
  return new Map(allClusters.map((c, k) => [c, lists[k]!]));
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
