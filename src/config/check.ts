import type { ConfigProblem } from "../core/errors.js";
import { BUILTIN_REALMS, BUILTIN_ROLES, ROOT_USER, realmOf } from "../core/pve.js";
import type { LoadedConfig, Segment } from "./load.js";
import { toEpoch } from "./desired.js";
import { dotted } from "./schema.js";
import { closest } from "./suggest.js";
import type { AccessConfig, GroupConfig, RealmConfig, RoleConfig, UserConfig } from "./types.js";

const GUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

/** Username claims whose value Entra computes per app and cannot be known before a first login (spec entra 5.2). */
const UNKNOWABLE_CLAIMS = new Set(["sub", "subject"]);

/**
 * Cross-reference checks that JSON Schema cannot express. Runs only on data that passed the schema, so
 * shapes can be trusted. Every problem names the field that holds the bad reference.
 */
export function checkReferences(loaded: LoadedConfig): ConfigProblem[] {
  const d = loaded.data as {
    tenants?: Record<string, unknown>;
    clusters?: Record<string, unknown>;
    realms?: Record<string, RealmConfig>;
    roles?: Record<string, RoleConfig>;
    groups?: Record<string, GroupConfig>;
    users?: Record<string, UserConfig>;
    access?: AccessConfig[];
  };
  const tenants = d.tenants ?? {};
  const clusters = d.clusters ?? {};
  const realms = d.realms ?? {};
  const roles = d.roles ?? {};
  const groups = d.groups ?? {};
  const users = d.users ?? {};
  const access = d.access ?? [];
  const problems: ConfigProblem[] = [];

  const add = (path: Segment[], message: string, hint?: string, key = false) =>
    problems.push({ ...(loaded.locate(path, key) ?? {}), path: dotted(path), message, ...(hint ? { hint } : {}) });

  const unknown = (path: Segment[], what: string, name: string, known: string[], section: string) => {
    const guess = closest(name, known);
    add(path, `unknown ${what} \`${name}\`${guess ? `; did you mean \`${guess}\`?` : ""}`, guess ? undefined : known.length ? `declared ${what}s: ${known.join(", ")}` : `declare it under \`${section}:\``);
  };
  const checkClusters = (path: Segment[], list: string[] | undefined) =>
    list?.forEach((c, i) => {
      if (!(c in clusters)) unknown([...path, i], "cluster", c, Object.keys(clusters), "clusters");
    });

  const allClusters = Object.keys(clusters);
  const realmClusters = (realm: string): string[] => realms[realm]?.clusters ?? allClusters;
  const realmKnown = (realm: string) => realm in realms || BUILTIN_REALMS.includes(realm);

  // Tenants and clusters share one namespace in plans and output (`contoso`, `pve1`).
  for (const name of Object.keys(tenants)) {
    if (name in clusters) add(["tenants", name], `\`${name}\` names both a tenant and a cluster`, "give the tenant and the cluster different names: plans and reports list them side by side", true);
  }

  // Realms.
  const defaults: string[] = [];
  const guidReported = new Set<string>();
  for (const [name, r] of Object.entries(realms)) {
    const at: Segment[] = ["realms", name];
    if (BUILTIN_REALMS.includes(name) && r.type !== undefined && r.type !== name) {
      add([...at, "type"], `\`${name}\` is a built-in realm of type ${name}`, `write \`type: ${name}\` or leave \`type\` out`);
    }
    if (r.tenant !== undefined && !(r.tenant in tenants)) unknown([...at, "tenant"], "tenant", r.tenant, Object.keys(tenants), "tenants");
    else if (r.tenant !== undefined && !GUID.test(String((tenants[r.tenant] as { tenantId?: unknown }).tenantId ?? ""))) {
      if (!guidReported.has(r.tenant)) {
        guidReported.add(r.tenant);
        add(["tenants", r.tenant, "tenantId"], `tenant \`${r.tenant}\` provisions realm \`${name}\`, so its tenantId must be the directory's GUID, not a domain`, "Proxmox compares the realm's issuer URL with the discovery document's issuer, which always names the tenant by GUID (Entra spec 5.1): copy the Tenant ID from the Entra admin center's overview page");
      }
    }
    checkClusters([...at, "clusters"], r.clusters);
    if (r.default) defaults.push(name);
    const s = r.app?.secret;
    if (s && (s.renewBeforeDays ?? 30) >= (s.lifetimeDays ?? 180)) {
      add([...at, "app", "secret", "renewBeforeDays"], `renewBeforeDays (${s.renewBeforeDays ?? 30}) must be less than lifetimeDays (${s.lifetimeDays ?? 180})`, "otherwise every run would renew the secret");
    }
  }
  if (defaults.length > 1) {
    for (const name of defaults.slice(1)) add(["realms", name, "default"], `only one realm can be the default (\`${defaults[0]}\` already is)`, undefined, true);
  }

  // Roles.
  for (const [name, r] of Object.entries(roles)) {
    if (name in BUILTIN_ROLES) add(["roles", name], `\`${name}\` is a built-in role and cannot be redefined`, "built-in roles exist on every cluster: use it in `access` directly, or give your role another name", true);
    checkClusters(["roles", name, "clusters"], r.clusters);
  }
  const roleKnown = (role: string) => role in BUILTIN_ROLES || role in roles;

  // Users named anywhere, for the username-claim check.
  const namedUsers = new Map<string, Segment[]>();
  const userRealmCheck = (path: Segment[], userid: string, key = false) => {
    if (!namedUsers.has(userid)) namedUsers.set(userid, path);
    if (userid === ROOT_USER) {
      add(path, "`root@pam` cannot be managed", "root@pam always exists and always has every privilege; Proxmox never stores ACL entries for it", key);
      return;
    }
    const realm = realmOf(userid);
    if (!realmKnown(realm)) {
      const known = [...Object.keys(realms), ...BUILTIN_REALMS];
      const guess = closest(realm, known);
      add(path, `user \`${userid}\` is in realm \`${realm}\`, which is not declared${guess ? `; did you mean \`@${guess}\`?` : ""}`, guess ? undefined : `declare it under \`realms:\`, or use a built-in realm (@pve, @pam)`, key);
    }
  };

  for (const [userid, u] of Object.entries(users)) {
    userRealmCheck(["users", userid], userid, true);
    checkClusters(["users", userid, "clusters"], u.clusters);
    if (typeof u.expire === "string") {
      try {
        toEpoch(u.expire);
      } catch {
        add(["users", userid, "expire"], `\`${u.expire}\` is not a valid date`, "write a real calendar date like 2027-06-30");
      }
    }
  }

  // Groups.
  const entraGroupSeen = new Map<string, string>();
  for (const [name, g] of Object.entries(groups)) {
    const at: Segment[] = ["groups", name];
    checkClusters([...at, "clusters"], g.clusters);
    if (g.realm !== undefined && !realmKnown(g.realm)) unknown([...at, "realm"], "realm", g.realm, Object.keys(realms), "realms");
    if (g.entraGroup !== undefined) {
      if (g.realm === undefined) add([...at, "entraGroup"], "an Entra group needs `realm`: the tenant realm whose logins carry it", "add `realm: <name of a realm with tenant:>`", true);
      else if (g.realm in realms && realms[g.realm]!.tenant === undefined) add([...at, "realm"], `realm \`${g.realm}\` is not provisioned in a tenant, so it cannot map Entra groups`, "Entra groups need a realm with `tenant:`; for an external issuer, name the group as the issuer's groups claim does, without `entraGroup`");
      const k = `${g.realm}\0${g.entraGroup.toLowerCase()}`;
      const prev = entraGroupSeen.get(k);
      if (prev) add([...at, "entraGroup"], `Entra group \`${g.entraGroup}\` is already mapped by \`groups.${prev}\``, "map each Entra group once per realm", true);
      else entraGroupSeen.set(k, name);
      if (g.members) add([...at, "members"], "an Entra group gets its members from the groups claim at login; `members` cannot be set", "manage membership in Entra, or drop `entraGroup` for a plain Proxmox group", true);
    }
    g.members?.forEach((m, i) => userRealmCheck([...at, "members", i], m));
  }

  // Access.
  const mappings = new Map<string, number>();
  access.forEach((a, i) => {
    const at: Segment[] = ["access", i];
    let principalClusters = allClusters;
    if (a.user !== undefined) {
      userRealmCheck([...at, "user"], a.user);
      const realm = realmOf(a.user);
      principalClusters = users[a.user]?.clusters ?? (realm in realms ? realmClusters(realm) : allClusters);
    }
    if (a.group !== undefined) {
      const g = groups[a.group];
      if (!g) unknown([...at, "group"], "group", a.group, Object.keys(groups), "groups");
      else principalClusters = g.clusters ?? (g.realm && g.realm in realms ? realmClusters(g.realm) : allClusters);
    }
    if (!roleKnown(a.role)) unknown([...at, "role"], "role", a.role, [...Object.keys(BUILTIN_ROLES), ...Object.keys(roles)], "roles");
    checkClusters([...at, "clusters"], a.clusters);
    for (const c of a.clusters ?? []) {
      if (c in clusters && !principalClusters.includes(c)) add([...at, "clusters"], `${a.user ? `user \`${a.user}\`` : `group \`${a.group}\``} does not exist on cluster \`${c}\``, "the user's realm (or the group) must be on every cluster the mapping names");
    }
    const roleOn = roles[a.role]?.clusters;
    if (roleOn) {
      for (const c of a.clusters ?? principalClusters) {
        if (c in clusters && !roleOn.includes(c)) add([...at, "role"], `role \`${a.role}\` is not created on cluster \`${c}\``, `add ${c} to roles.${a.role}.clusters, or limit this mapping with \`clusters:\``);
      }
    }
    const principal = a.user !== undefined ? a.user : `@${a.group}`;
    for (const c of a.clusters ?? principalClusters) {
      const k = `${c}\0${a.path}\0${principal}\0${a.role}`;
      const prev = mappings.get(k);
      if (prev !== undefined) {
        const first = loaded.locate(["access", prev]);
        add(at, `duplicate mapping: ${principal} already has ${a.role} on ${a.path}${allClusters.length > 1 ? ` on cluster ${c}` : ""} (access[${prev}]${first ? ` at ${first.file}:${first.line}:${first.col}` : ""})`, "remove one of the two entries", false);
        break;
      }
      mappings.set(k, i);
    }
  });

  // Users named before their first login need a username claim whose value is known in advance.
  const reported = new Set<string>();
  for (const [userid, path] of namedUsers) {
    const realm = realmOf(userid);
    const r = realms[realm];
    if (!r || r.tenant === undefined || reported.has(realm)) continue;
    const claim = r.usernameClaim ?? "subject";
    if (UNKNOWABLE_CLAIMS.has(claim)) {
      reported.add(realm);
      add(
        ["realms", realm, ...(r.usernameClaim ? ["usernameClaim"] : [])],
        `realm \`${realm}\` uses the \`${claim === "subject" ? "sub" : claim}\` claim${r.usernameClaim ? "" : " (the default)"}, but \`${userid}\` (${dotted(path)}) is named before its first login`,
        "Entra's `sub` is pairwise: a random value per user and app, unknown until the person logs in. Set `usernameClaim: upn` (or `email`, `username`) so user ids are readable and can be created in advance",
        true,
      );
    }
  }

  if (allClusters.length === 0 && (Object.keys(realms).length > 0 || access.length > 0)) {
    add([], "no clusters are declared", "add a `clusters:` section with at least one Proxmox VE cluster");
  }
  return problems;
}
