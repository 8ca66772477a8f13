import type { ConfigProblem } from "../core/errors.js";
import { BUILTIN_REALMS, BUILTIN_ROLES, ROOT_USER, isBuiltinRole, realmOf } from "../core/pve.js";
import { nullRecord } from "../core/record.js";
import type { LoadedConfig, Segment } from "./load.js";
import { claimTrouble, graphClaimTrouble } from "./check-claims.js";
import { textTrouble, urlTrouble } from "./check-values.js";
import { declaredRealmOf, issuerUrl, toEpoch } from "./desired.js";
import { dotted } from "./schema.js";
import { closest } from "./suggest.js";
import type { AccessConfig, GroupConfig, RealmConfig, RoleConfig, TenantConfig, UserConfig } from "./types.js";

// The semantic checks run after the JSON Schema. Split by responsibility (issue 12): check-values.ts (free text and
// URLs), check-claims.ts (username claims), check-warnings.ts (advice about a valid file); this file keeps the
// cross-reference checks and exports what importers use.
export { urlTrouble } from "./check-values.js";
export { checkWarnings } from "./check-warnings.js";

const GUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

/** The largest `expire` homelab sends: 9999-12-31T23:59:59Z, the last instant a `YYYY-MM-DD` date can name. */
const MAX_EXPIRE = 253402300799;

/** Proxmox's limit for a realm's `issuer-url` (access API 3.1.5.1). */
const MAX_ISSUER_URL = 256;

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether a list names something twice (cluster lists are short). */
function hasRepeat(list: readonly string[]): boolean {
  for (let i = 1; i < list.length; i++) for (let j = 0; j < i; j++) if (list[i] === list[j]) return true;
  return false;
}

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
  // Records without a prototype: a name from the file (`toString`, `constructor`, `__proto__`) is found only
  // when it is declared (issue 10 item 6).
  const tenants = nullRecord(d.tenants);
  const clusters = nullRecord(d.clusters);
  const realms = nullRecord(d.realms);
  const roles = nullRecord(d.roles);
  const groups = nullRecord(d.groups);
  const users = nullRecord(d.users);
  const access = d.access ?? [];
  const problems: ConfigProblem[] = [];

  const add = (path: Segment[], message: string, hint?: string, key = false) =>
    problems.push({ ...(loaded.locate(path, key) ?? {}), path: dotted(path), message, ...(hint ? { hint } : {}) });

  const unknown = (path: Segment[], what: string, name: string, known: string[], section: string) => {
    const guess = closest(name, known);
    add(path, `unknown ${what} \`${name}\`${guess ? `; did you mean \`${guess}\`?` : ""}`, guess ? undefined : known.length ? `declared ${what}s: ${known.join(", ")}` : `declare it under \`${section}:\``);
  };
  /** A free-text field homelab sends to Proxmox as written (the schema checks the fields with a pattern). */
  const checkText = (path: Segment[], value: unknown, zero?: string, note = "") => {
    const t = textTrouble(value, zero);
    if (t) add(path, `${t.message}${note}`, t.hint);
  };
  const DROPPED = "does not store it (the field stays empty)";

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

  /** Every URL homelab connects to or registers is refused here if a URL parser or a TCP port would refuse it. */
  const checkUrl = (path: Segment[], value: unknown, origin = false) => {
    const t = urlTrouble(value, origin);
    if (t) add(path, t.message, t.hint);
  };
  for (const [name, c] of Object.entries(clusters)) {
    if (isMapping(c)) checkUrl(["clusters", name, "url"], c.url, true);
  }
  for (const [name, t] of Object.entries(tenants)) {
    const cloud = isMapping(t) ? t.cloud : undefined;
    if (isMapping(cloud)) for (const f of ["loginUrl", "graphUrl"]) checkUrl(["tenants", name, "cloud", f], cloud[f]);
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
        add(["tenants", r.tenant, "tenantId"], `tenant \`${r.tenant}\` provisions realm \`${name}\`, so its tenantId must be the directory's GUID, not a domain`, "Proxmox compares the realm's issuer URL with the issuer of Entra ID's discovery document, which always names the tenant by its GUID: copy the Tenant ID from the Entra admin center's overview page");
      }
    } else if (r.tenant !== undefined) {
      // The issuer URL homelab sets is the tenant's login URL, its id and `/v2.0` (config/desired.ts issuerUrl).
      const t = tenants[r.tenant] as TenantConfig;
      const login = typeof t.cloud === "object" && t.cloud !== null && typeof t.cloud.loginUrl === "string" ? t.cloud.loginUrl.replace(/\/+$/, "") : undefined;
      const url = login !== undefined ? issuerUrl(t) : undefined;
      if (login !== undefined && url !== undefined && url.length > MAX_ISSUER_URL && !guidReported.has(r.tenant)) {
        guidReported.add(r.tenant);
        add(["tenants", r.tenant, "cloud", "loginUrl"], `realm \`${name}\` would get an issuer URL of ${url.length} characters (\`${url.slice(0, 40)}...\`); Proxmox allows at most ${MAX_ISSUER_URL}`, `the issuer URL is the login URL, the tenant id and \`/v2.0\`: shorten the login URL to at most ${MAX_ISSUER_URL - (url.length - login.length)} characters`);
      }
    }
    checkClusters([...at, "clusters"], r.clusters);
    checkUrl([...at, "issuerUrl"], r.issuerUrl);
    if (Array.isArray(r.app?.redirectUris)) r.app.redirectUris.forEach((u, i) => checkUrl([...at, "app", "redirectUris", i], u, true));
    // SectionConfig.pm write_config writes a comment only `if ($scfg->{comment})`, and the built-in realms
    // get their default comment back whenever Proxmox reads a false one (Auth/Plugin.pm parse_config).
    checkText([...at, "comment"], r.comment, BUILTIN_REALMS.includes(name) ? "puts the realm's default comment back" : DROPPED);
    if (r.default) defaults.push(name);
    // `groupsClaim: roles` on a tenant realm means app roles (issue 13 part 3); on an external realm it stays what it
    // always was, the name of the claim the issuer puts groups in (Keycloak's `roles`, say), passed to Proxmox.
    if (r.leavers !== undefined) {
      if (r.tenant === undefined) add([...at, "leavers"], "`leavers` only applies to tenant realms: homelab reads leavers from the realm's Entra directory", "add `tenant:` to the realm, or remove `leavers`", true);
      else if (r.leavers !== "report") {
        const trouble = graphClaimTrouble(r.usernameClaim);
        if (trouble) add([...at, "leavers"], `\`leavers: ${r.leavers}\` needs to know which Entra account each user is, but realm \`${name}\` ${trouble.message}`, trouble.hint);
      }
    }
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
    if (isBuiltinRole(name)) add(["roles", name], `\`${name}\` is a built-in role and cannot be redefined`, "built-in roles exist on every cluster: use it in `access` directly, or give your role another name", true);
    checkClusters(["roles", name, "clusters"], r.clusters);
  }
  const roleKnown = (role: string) => isBuiltinRole(role) || role in roles;

  // Looked up once per mapping: a Map and the realm by the id's ending (desired.ts declaredRealmOf), not the records.
  const declaredUsers = new Map(Object.entries(users));
  const realmIn = declaredRealmOf(realms);

  // Users named anywhere, for the username-claim check.
  // Where each was first named: a path, or the index of the `access` entry whose `user` it is (most of a large file).
  const namedUsers = new Map<string, Segment[] | number>();
  const placeOf = (where: Segment[] | number): Segment[] => (typeof where === "number" ? ["access", where, "user"] : where);
  // A user id is checked once: its checks depend on nothing else. A refused one is checked, and reported, again
  // at each place it is named (a large file names most users once, in `access`, issue 12).
  const refusedUsers = new Set<string>();
  const userRealmCheck = (where: Segment[] | number, userid: string, key = false) => {
    if (!namedUsers.has(userid)) namedUsers.set(userid, where);
    else if (!refusedUsers.has(userid)) return;
    const path = placeOf(where);
    if (userid === ROOT_USER) {
      refusedUsers.add(userid);
      add(path, "`root@pam` cannot be managed", "root@pam always exists and always has every privilege; Proxmox never stores ACL entries for it", key);
      return;
    }
    if (realmIn(userid) === undefined && !BUILTIN_REALMS.includes(realmOf(userid))) {
      const realm = realmOf(userid);
      refusedUsers.add(userid);
      const known = [...Object.keys(realms), ...BUILTIN_REALMS];
      const guess = closest(realm, known);
      add(path, `user \`${userid}\` is in realm \`${realm}\`, which is not declared${guess ? `; did you mean \`@${guess}\`?` : ""}`, guess ? undefined : `declare it under \`realms:\`, or use a built-in realm (@pve, @pam)`, key);
    }
  };

  for (const [userid, u] of Object.entries(users)) {
    userRealmCheck(["users", userid], userid, true);
    checkClusters(["users", userid, "clusters"], u.clusters);
    if (typeof u.expire === "string") {
      let epoch: number | undefined;
      try {
        epoch = toEpoch(u.expire);
      } catch {
        add(["users", userid, "expire"], `\`${u.expire}\` is not a valid date`, "write a real calendar date like 2027-06-30");
      }
      // Sent as epoch seconds: Proxmox's minimum is 0 (spec 3.2), and 0 itself means "never".
      if (epoch !== undefined && epoch < 0) add(["users", userid, "expire"], `\`${u.expire}\` is before 1970`, "Proxmox stores expiry as Unix epoch seconds and refuses a negative value: give a date from 1970-01-02 on, or `never`; to lock an account now, set `enable: false`");
      else if (epoch === 0 && u.expire !== "never") add(["users", userid, "expire"], `\`${u.expire}\` is the Unix epoch itself, which Proxmox reads as "never expires"`, "to lock an account now, set `enable: false`; write `never` (or 0) if no expiry is meant");
      else if (epoch !== undefined && epoch > MAX_EXPIRE) add(["users", userid, "expire"], `\`${u.expire}\` is after the year 9999`, "give a date up to 9999-12-31, or `never`");
    }
    for (const f of ["firstname", "lastname", "comment"] as const) checkText(["users", userid, f], u[f], DROPPED);
  }

  // Groups.
  const entraGroupSeen = new Map<string, string>();
  const roleValueSeen = new Map<string, string>();
  for (const [name, g] of Object.entries(groups)) {
    const at: Segment[] = ["groups", name];
    checkClusters([...at, "clusters"], g.clusters);
    if (g.realm !== undefined && !realmKnown(g.realm)) unknown([...at, "realm"], "realm", g.realm, Object.keys(realms), "realms");
    checkText([...at, "comment"], g.comment, DROPPED);
    if (g.entraGroup !== undefined) {
      if (g.realm === undefined) add([...at, "entraGroup"], "an Entra group needs `realm`: the tenant realm whose logins carry it", "add `realm: <name of a realm with tenant:>`", true);
      // A built-in realm, declared (`realms: { pve: {...} }`) or not, has no tenant and no logins with claims.
      else if (BUILTIN_REALMS.includes(g.realm)) add([...at, "realm"], `Entra groups only on tenant realms: \`${g.realm}\` is a built-in realm`, "name a realm declared with `tenant:` (its logins carry the Entra groups claim), or drop `entraGroup` for a plain Proxmox group");
      else if (g.realm in realms && realms[g.realm]!.tenant === undefined) add([...at, "realm"], `Entra groups only on tenant realms: realm \`${g.realm}\` is not provisioned in a tenant, so it cannot map Entra groups`, "Entra groups need a realm with `tenant:`; for an external issuer, name the group as the issuer's groups claim does, without `entraGroup`");
      // Without a comment, the display name becomes the Proxmox group's comment (config/desired.ts).
      if (g.comment === undefined) checkText([...at, "entraGroup"], g.entraGroup, DROPPED, " (it becomes the Proxmox group's comment)");
      if (g.membersExclusive !== undefined) add([...at, "membersExclusive"], "`membersExclusive` only applies to plain groups", "an Entra group's members come from the groups claim at each login, not from the file: remove `membersExclusive`, or drop `entraGroup` for a plain Proxmox group", true);
      if (g.realm !== undefined && realms[g.realm]?.tenant !== undefined && realms[g.realm]!.groupsClaim === "roles") {
        // The key is the app role's value: Graph refuses a value starting with "." and two values differing in case only.
        if (name.startsWith(".")) add(["groups", name], `\`${name}\` becomes an app role value in realm \`${g.realm}\` (\`groupsClaim: roles\`), and Entra ID refuses a value starting with \`.\``, "rename the group so it starts with a letter or a digit", true);
        const v = `${g.realm}\0${name.toLowerCase()}`;
        const other = roleValueSeen.get(v);
        if (other) add(["groups", name], `\`${name}\` and \`${other}\` become app role values in realm \`${g.realm}\` that differ only in case, which Entra ID refuses`, "rename one of the groups", true);
        else roleValueSeen.set(v, name);
      }
      const k = `${g.realm}\0${g.entraGroup.toLowerCase()}`;
      const prev = entraGroupSeen.get(k);
      if (prev) add([...at, "entraGroup"], `Entra group \`${g.entraGroup}\` is already mapped by \`groups.${prev}\``, "map each Entra group once per realm", true);
      else entraGroupSeen.set(k, name);
      if (Array.isArray(g.members)) add([...at, "members"], "an Entra group gets its members from Entra ID; a list of `members` cannot be set", "manage membership in Entra, and write `members: sync` to create the members' Proxmox users before their first sign-in; or drop `entraGroup` for a plain Proxmox group", true);
      // With app roles too (issue 13): the synced group is then `<key>-<realm>`, the one the roles claim names.
      else if (g.members === "sync" && g.realm !== undefined && realms[g.realm]?.tenant !== undefined) {
        const trouble = graphClaimTrouble(realms[g.realm]!.usernameClaim);
        if (trouble) add([...at, "members"], `\`members: sync\` creates each member's Proxmox user before their first sign-in, but realm \`${g.realm}\` ${trouble.message}`, trouble.hint);
      }
    } else if (g.members === "sync") {
      add([...at, "members"], "`members: sync` takes the membership from an Entra group, and this group has no `entraGroup`", "add `entraGroup: <display name>` and `realm: <tenant realm>`, or list the members' user ids", true);
    }
    if (Array.isArray(g.members)) g.members.forEach((m, i) => userRealmCheck([...at, "members", i], m));
  }

  // Access. A mapping is a duplicate when an earlier one has its path, principal and role on one of its clusters.
  // Nearly every key is written once (85,000 mappings, issue 12): a key holds the index of the one mapping that
  // has it, which claimed each of its clusters, until a second mapping has the key; then its clusters' claims.
  const mappings = new Map<string, number | Map<string, number>>();
  const mappedOn: string[][] = [];
  access.forEach((a, i) => {
    const at: Segment[] = ["access", i];
    let principalClusters = allClusters;
    if (a.user !== undefined) {
      userRealmCheck(i, a.user);
      const realm = realmIn(a.user);
      principalClusters = declaredUsers.get(a.user)?.clusters ?? (realm !== undefined ? realmClusters(realm) : allClusters);
    }
    if (a.group !== undefined) {
      const g = groups[a.group];
      if (!g) unknown([...at, "group"], "group", a.group, Object.keys(groups), "groups");
      else principalClusters = g.clusters ?? (g.realm && g.realm in realms ? realmClusters(g.realm) : allClusters);
    }
    if (!roleKnown(a.role)) unknown([...at, "role"], "role", a.role, [...Object.keys(BUILTIN_ROLES), ...Object.keys(roles)], "roles");
    if (a.clusters !== undefined) checkClusters([...at, "clusters"], a.clusters);
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
    const k = `${a.path}\0${principal}\0${a.role}`;
    const on = (mappedOn[i] = a.clusters ?? principalClusters);
    const owner = mappings.get(k);
    // The first mapping with a key claims each of its clusters (unless one is listed twice: it is its own duplicate).
    if (owner === undefined && (on === allClusters || !hasRepeat(on))) {
      mappings.set(k, i);
      return;
    }
    let claims: Map<string, number>;
    if (typeof owner === "object") claims = owner;
    else {
      claims = new Map(owner === undefined ? [] : mappedOn[owner]!.map((c) => [c, owner]));
      mappings.set(k, claims);
    }
    for (const c of on) {
      const prev = claims.get(c);
      if (prev !== undefined) {
        const first = loaded.locate(["access", prev]);
        add(at, `duplicate mapping: ${principal} already has ${a.role} on ${a.path}${allClusters.length > 1 ? ` on cluster ${c}` : ""} (access[${prev}]${first ? ` at ${first.file}:${first.line}:${first.col}` : ""})`, "remove one of the two entries", false);
        break;
      }
      claims.set(c, i);
    }
  });

  // Users named before their first login need a username claim whose value is known in advance.
  const reported = new Set<string>();
  for (const [userid, where] of namedUsers) {
    const realm = realmOf(userid);
    const r = realms[realm];
    if (!r || r.tenant === undefined || reported.has(realm)) continue;
    const claim = r.usernameClaim ?? "subject";
    const trouble = claimTrouble(claim, userid.slice(0, userid.length - realm.length - 1));
    if (!trouble) continue;
    reported.add(realm);
    const shown = claim === "subject" ? "sub" : claim;
    add(
      ["realms", realm, ...(r.usernameClaim ? ["usernameClaim"] : [])],
      `realm \`${realm}\` uses the \`${shown}\` claim${r.usernameClaim ? "" : " (the default)"}, but \`${userid}\` (${dotted(placeOf(where))}) is named before its first login${trouble.message}`,
      trouble.hint,
      true,
    );
  }

  if (allClusters.length === 0 && (Object.keys(realms).length > 0 || access.length > 0)) {
    add([], "no clusters are declared", "add a `clusters:` section with at least one Proxmox VE cluster");
  }
  return problems;
}
