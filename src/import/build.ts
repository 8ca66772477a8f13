/**
 * `homelab import`, the pure part: what one cluster (and optionally one tenant) holds → a homelab.yaml
 * document whose plan against that same state is empty, plus the notes the command prints (what was
 * adopted, what was left out and why). No I/O here: the command reads, this decides, yaml.ts writes.
 *
 * The rules follow what the planners compare (src/providers/proxmox/*.ts), so that nothing is written
 * that would show up as a change:
 * - realms: openid realms with every stored option under the schema's camelCase name; a value equal to
 *   the server default is left out (the planner fills defaults in). The client key becomes
 *   `${env:<REALM>_CLIENT_KEY}`: never the value. pam/pve only when their comment or default flag differ
 *   from a fresh install. ldap/ad realms cannot be declared (the schema has openid only): left out, with
 *   their users.
 * - roles: every non-built-in role whose id and privileges the schema accepts.
 * - groups: every group; members are the users the file declares. `<objectid>-<realm>` groups of an
 *   adopted tenant realm whose object id is an Entra group with a unique display name become
 *   `entraGroup` mappings (their members come from the groups claim and are not written).
 * - users: those with a user ACL entry or a group membership; attributes only when they differ from the
 *   defaults (enable true, no expiry, no text). root@pam is never managed; users of undeclarable realms
 *   and ids the schema refuses are left out.
 * - access: every user and group ACL entry whose principal, role and path are declared. Token entries
 *   are left out (homelab does not manage tokens).
 */
import { readFileSync } from "node:fs";
import { BUILTIN_REALMS, ROOT_USER, isBuiltinRole, realmOf } from "../core/pve.js";
import { hasOwn, nullRecord } from "../core/record.js";
import type { EntraApplication } from "../providers/entra/types.js";
import type { PveAclEntry, PveGroup, PveRealm, PveRole, PveUser } from "../providers/proxmox/types.js";

/** Comments of the built-in realms on a fresh install (access API spec 4.5). */
export const FRESH_REALM_COMMENTS: Readonly<Record<string, string>> = {
  pam: "Linux PAM standard authentication",
  pve: "Proxmox VE authentication server",
};

/** Username claims whose value nobody knows before a first login (the same rule as src/config/check.ts). */
const UNKNOWABLE_CLAIMS = new Set(["sub", "subject"]);

/** The openid options homelab understands, Proxmox name → schema name, with the server's defaults. */
const OPENID_OPTIONS: readonly { pve: string; key: string; kind: "text" | "bool" | "list"; fallback?: string | boolean }[] = [
  { pve: "issuer-url", key: "issuerUrl", kind: "text" },
  { pve: "client-id", key: "clientId", kind: "text" },
  { pve: "username-claim", key: "usernameClaim", kind: "text" },
  { pve: "scopes", key: "scopes", kind: "list", fallback: "email profile" },
  { pve: "prompt", key: "prompt", kind: "text" },
  { pve: "acr-values", key: "acrValues", kind: "list" },
  { pve: "audiences", key: "audiences", kind: "list" },
  { pve: "autocreate", key: "autocreate", kind: "bool", fallback: false },
  { pve: "groups-claim", key: "groupsClaim", kind: "text" },
  { pve: "groups-autocreate", key: "groupsAutocreate", kind: "bool", fallback: false },
  { pve: "groups-overwrite", key: "groupsOverwrite", kind: "bool", fallback: false },
  { pve: "query-userinfo", key: "queryUserinfo", kind: "bool", fallback: true },
  { pve: "comment", key: "comment", kind: "text" },
  { pve: "default", key: "default", kind: "bool", fallback: false },
];
const HANDLED_OPTIONS = new Set([...OPENID_OPTIONS.map((o) => o.pve), "client-key"]);

// --- the schema's patterns: one source of truth -------------------------------------------------------

interface SchemaDefs {
  $defs: Record<string, { pattern?: string; maxLength?: number; minLength?: number; enum?: string[]; properties?: Record<string, { pattern?: string; maxLength?: number }> }>;
}
let defs: SchemaDefs["$defs"] | undefined;
function schemaDefs(): SchemaDefs["$defs"] {
  defs ??= (JSON.parse(readFileSync(new URL("../../schemas/homelab.schema.json", import.meta.url), "utf8")) as SchemaDefs).$defs;
  return defs;
}
function fits(def: string, value: string): boolean {
  const d = schemaDefs()[def]!;
  if (d.pattern !== undefined && !new RegExp(d.pattern, "u").test(value)) return false;
  if (d.maxLength !== undefined && [...value].length > d.maxLength) return false;
  if (d.minLength !== undefined && [...value].length < d.minLength) return false;
  return true;
}
const privilegeSet = (): Set<string> => new Set(schemaDefs().privilege!.enum);
function propertyFits(def: string, prop: string, value: string): boolean {
  const p = schemaDefs()[def]!.properties?.[prop];
  if (!p) return true;
  if (p.pattern !== undefined && !new RegExp(p.pattern, "u").test(value)) return false;
  return p.maxLength === undefined || [...value].length <= p.maxLength;
}

// --- input and output ---------------------------------------------------------------------------------

/** What the command read from one cluster (the client's normalised shapes). */
export interface LiveCluster {
  name: string;
  /** Origin without trailing slash. */
  url: string;
  /** Every realm with its options (client-key included when the server returns it). */
  realms: PveRealm[];
  users: PveUser[];
  groups: PveGroup[];
  roles: PveRole[];
  acl: PveAclEntry[];
}

/** An app registration whose client id is a realm's, with what adoption needs to know about it. */
export interface CandidateApp {
  app: EntraApplication;
  /** Other apps already carrying `homelab:realm=<realm>` (homelab would pick those instead). */
  otherTagged: EntraApplication[];
}

export interface LiveTenant {
  name: string;
  /** The issuer URL homelab sets for a realm of this tenant (`<loginUrl>/<tenantId>/v2.0`). */
  issuerUrl: string;
  /** realm → the app registration whose appId equals the realm's client id (if any). */
  apps: Map<string, CandidateApp>;
  /** Entra group object id (lower case) → display name, for ids that exist; `unique`: no other group has the name. */
  groups: Map<string, { displayName: string; unique: boolean }>;
  /** `--adopt`: tag matched apps that are not tagged yet (the command does the PATCH). */
  adopt: boolean;
}

export interface ImportInput {
  cluster: LiveCluster;
  /** The cluster's entry as written in the source config (secret references as strings). */
  clusterEntry: Record<string, unknown>;
  tenant?: LiveTenant;
  tenantEntry?: Record<string, unknown>;
}

export interface Adoption {
  realm: string;
  app: EntraApplication;
  /** The app lacks homelab's tags: the command adds them (only with --adopt). */
  needsTag: boolean;
}

export interface ImportResult {
  /** The document as plain data, in output order. */
  data: Record<string, unknown>;
  /** realm → environment variable its client key is read from. */
  clientKeyEnv: Map<string, string>;
  adopted: Adoption[];
  /** Human-readable lines: what was left out and why. */
  leftOut: string[];
  /** Other remarks worth a comment (e.g. an app that could be adopted with --adopt). */
  notes: string[];
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const trimSlash = (u: string): string => u.replace(/\/+$/, "");
const list = (v: unknown): string[] => String(v).split(/[,;\s]+/).filter(Boolean);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `AUTHENTIK_CLIENT_KEY` for realm `authentik`: upper case, anything else than [A-Z0-9_] becomes `_`. */
export function clientKeyVariable(realm: string, taken: ReadonlySet<string>): string {
  const base = `${realm.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}_CLIENT_KEY`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  return name;
}

/** Epoch seconds → what the file says: a date at midnight UTC, else a UTC date-time. */
export function expireText(epoch: number): string {
  const iso = new Date(epoch * 1000).toISOString();
  return iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : `${iso.slice(0, 19)}Z`;
}

/** The default display name homelab gives a tenant realm's app (src/config/desired.ts). */
const defaultAppName = (realm: string) => `Proxmox VE (${realm})`;

export function buildImport(input: ImportInput): ImportResult {
  const { cluster: live, tenant } = input;
  const leftOut: string[] = [];
  const notes: string[] = [];
  const adopted: Adoption[] = [];
  const clientKeyEnv = new Map<string, string>();

  // --- users we might name: decided first, since adoption depends on whether a realm's users are named.
  const userById = new Map(live.users.map((u) => [u.userid, u]));
  const candidates = new Set<string>();
  for (const a of live.acl) if (a.type === "user") candidates.add(a.ugid);
  for (const g of live.groups) for (const m of g.users) candidates.add(m);
  for (const u of live.users) if (u.groups.length > 0) candidates.add(u.userid);

  // --- realms ------------------------------------------------------------------------------------------
  // Keyed by names read from the cluster: no prototype, so `__proto__` or `toString` are ordinary keys.
  const realms: Record<string, Record<string, unknown>> = nullRecord<Record<string, unknown>>();
  const declaredRealms = new Set<string>(BUILTIN_REALMS);
  /** Realms left out with a note that already covers their users. */
  const reportedRealms = new Set<string>();
  const tenantRealms = new Set<string>();
  for (const r of [...live.realms].sort((a, b) => cmp(a.realm, b.realm))) {
    if (r.type === "pam" || r.type === "pve") {
      const o = r.options;
      const comment = typeof o.comment === "string" ? o.comment : undefined;
      const isDefault = o.default === true;
      if (comment === FRESH_REALM_COMMENTS[r.realm] && !isDefault) continue;
      if (comment !== undefined && !propertyFits("builtinRealm", "comment", comment)) {
        leftOut.push(`realm ${r.realm}: its comment does not fit the schema (longer than 4096 characters?); left as it is`);
        continue;
      }
      realms[r.realm] = { ...(comment !== undefined ? { comment } : {}), ...(isDefault ? { default: true } : {}) };
      continue;
    }
    if (r.type !== "openid") {
      const n = live.users.filter((u) => realmOf(u.userid) === r.realm).length;
      leftOut.push(`realm ${r.realm} (type ${r.type}): homelab manages openid realms only; its ${n} user${n === 1 ? "" : "s"} and their ACL entries are left out too`);
      reportedRealms.add(r.realm);
      continue;
    }
    if (!fits("realmId", r.realm)) {
      leftOut.push(`realm ${r.realm}: the schema refuses its id; its users and their ACL entries are left out too`);
      reportedRealms.add(r.realm);
      continue;
    }
    const built = openidRealm(r, leftOut);
    if (!built) {
      reportedRealms.add(r.realm);
      continue;
    }
    const { entry, key } = built;
    const namedUsers = [...candidates].some((u) => realmOf(u) === r.realm && u !== ROOT_USER);
    const adoption = tenant ? adoptionOf(r, entry, live, tenant, namedUsers, notes) : undefined;
    if (adoption) {
      // A tenant realm: issuer, client id and key come from the app homelab now manages.
      delete entry.issuerUrl;
      delete entry.clientId;
      const app: Record<string, unknown> = {};
      if (adoption.app.displayName !== defaultAppName(r.realm)) app.displayName = adoption.app.displayName;
      const extra = (adoption.app.web?.redirectUris ?? []).map(trimSlash).filter((u) => u !== live.url).sort();
      if (extra.length > 0) app.redirectUris = [...new Set(extra)];
      realms[r.realm] = orderRealm({ tenant: tenant!.name, ...(Object.keys(app).length ? { app } : {}), ...entry });
      tenantRealms.add(r.realm);
      adopted.push(adoption);
    } else {
      if (key !== undefined) {
        const v = clientKeyVariable(r.realm, new Set(clientKeyEnv.values()));
        clientKeyEnv.set(r.realm, v);
        entry.clientKey = `\${env:${v}}`;
      }
      realms[r.realm] = orderRealm(entry);
    }
    declaredRealms.add(r.realm);
  }

  // --- roles -------------------------------------------------------------------------------------------
  const privs = privilegeSet();
  // Keyed by names read from the cluster: no prototype, so `__proto__` or `toString` are ordinary keys.
  const roles: Record<string, { privs: string[] }> = nullRecord<{ privs: string[] }>();
  for (const r of live.roles) {
    if (r.special || isBuiltinRole(r.roleid)) continue;
    const unknown = r.privs.filter((p) => !privs.has(p));
    if (!fits("customRoleId", r.roleid)) leftOut.push(`role ${r.roleid}: the schema refuses its id; its ACL entries are left out too`);
    else if (unknown.length > 0) leftOut.push(`role ${r.roleid}: privileges the schema does not know (${unknown.join(", ")}); its ACL entries are left out too`);
    else roles[r.roleid] = { privs: [...r.privs].sort() };
  }
  const roleKnown = (role: string) => isBuiltinRole(role) || hasOwn(roles, role);

  // --- users ---------------------------------------------------------------------------------------------
  const declaredUsers = new Set<string>();
  const skippedUsers = new Map<string, string>();
  for (const id of [...candidates].sort()) {
    if (id === ROOT_USER) skippedUsers.set(id, "root@pam always has every privilege and is never managed");
    else if (!declaredRealms.has(realmOf(id))) skippedUsers.set(id, `its realm ${realmOf(id)} is not declared`);
    else if (!fits("userId", id)) skippedUsers.set(id, "the schema refuses the id (at most 64 printable ASCII characters, no `:` or `/`)");
    else if (!userById.has(id)) skippedUsers.set(id, "it is not in the user list (an ACL entry or membership of a user that no longer exists)");
    else declaredUsers.add(id);
  }
  for (const [id, why] of skippedUsers) if (id !== ROOT_USER && !reportedRealms.has(realmOf(id))) leftOut.push(`user ${id}: ${why}; its ACL entries and memberships are left out too`);

  // Keyed by names read from the cluster: no prototype, so `__proto__` or `toString` are ordinary keys.
  const users: Record<string, Record<string, unknown>> = nullRecord<Record<string, unknown>>();
  for (const id of [...declaredUsers].sort()) {
    const u = userById.get(id)!;
    const attrs: Record<string, unknown> = {};
    if (u.email !== undefined) {
      if (propertyFits("user", "email", u.email)) attrs.email = u.email;
      else notes.push(`user ${id}: email \`${u.email}\` does not fit the schema's pattern; not written (homelab leaves an unset email alone)`);
    }
    for (const f of ["firstname", "lastname", "comment"] as const) {
      const v = u[f];
      if (v === undefined) continue;
      if (propertyFits("user", f, v)) attrs[f] = v;
      else notes.push(`user ${id}: ${f} is too long for the schema; not written (homelab leaves an unset ${f} alone)`);
    }
    if (!u.enable) attrs.enable = false;
    if (u.expire !== 0) attrs.expire = expireText(u.expire);
    if (Object.keys(attrs).length > 0) users[id] = attrs;
  }

  // --- groups --------------------------------------------------------------------------------------------
  // Keyed by names read from the cluster: no prototype, so `__proto__` or `toString` are ordinary keys.
  const groups: Record<string, Record<string, unknown>> = nullRecord<Record<string, unknown>>();
  /** Proxmox group id → key in the file. */
  const groupKey = new Map<string, string>();
  const entraMapped: { g: PveGroup; realm: string; displayName: string }[] = [];
  for (const g of live.groups) {
    const m = /^(.+)-([^-]+)$/.exec(g.groupid);
    const realm = m?.[2];
    const oid = m?.[1]?.toLowerCase();
    if (realm !== undefined && oid !== undefined && tenantRealms.has(realm) && GUID.test(oid)) {
      const found = tenant!.groups.get(oid);
      if (found?.unique) {
        entraMapped.push({ g, realm, displayName: found.displayName });
        continue;
      }
      notes.push(
        found
          ? `group ${g.groupid}: Entra group "${found.displayName}" shares its display name with another group, so it cannot be mapped by name; written as a plain group`
          : `group ${g.groupid}: no Entra group has the object id ${oid}; written as a plain group`,
      );
    }
    groupKey.set(g.groupid, g.groupid);
  }
  for (const g of live.groups) {
    if (!groupKey.has(g.groupid)) continue;
    const entry: Record<string, unknown> = {};
    if (g.comment !== undefined) entry.comment = g.comment;
    const members = g.users.filter((u) => declaredUsers.has(u)).sort();
    if (members.length > 0) entry.members = members;
    groups[g.groupid] = entry;
  }
  const taken = new Set(groupKey.values());
  for (const { g, realm, displayName } of entraMapped) {
    let base = displayName.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "entra-group";
    base = base.slice(0, 56);
    let key = base;
    for (let i = 2; taken.has(key); i++) key = `${base}-${i}`;
    taken.add(key);
    groupKey.set(g.groupid, key);
    // The desired comment defaults to the display name; an absent comment must be written as "".
    const comment = g.comment ?? "";
    groups[key] = { realm, entraGroup: displayName, ...(comment !== displayName ? { comment } : {}) };
  }

  // --- access --------------------------------------------------------------------------------------------
  const access: Record<string, unknown>[] = [];
  const tokenEntries: string[] = [];
  let rootEntries = 0;
  for (const a of live.acl) {
    const where = `${a.path} ${a.type === "group" ? "@" : ""}${a.ugid} ${a.roleid}`;
    if (a.type === "token") {
      tokenEntries.push(`${a.ugid} ${a.roleid} on ${a.path}`);
      continue;
    }
    if (a.type === "user" && a.ugid === ROOT_USER) {
      rootEntries++;
      continue;
    }
    if (a.type === "user" && !declaredUsers.has(a.ugid)) continue; // reported with the user
    if (a.type === "group" && !groupKey.has(a.ugid)) {
      leftOut.push(`ACL entry ${where}: the group is not in the group list`);
      continue;
    }
    if (!roleKnown(a.roleid)) continue; // reported with the role
    if (!fits("aclPath", a.path)) {
      leftOut.push(`ACL entry ${where}: the schema refuses the path`);
      continue;
    }
    access.push({
      ...(a.type === "user" ? { user: a.ugid } : { group: groupKey.get(a.ugid)! }),
      role: a.roleid,
      path: a.path,
      ...(a.propagate ? {} : { propagate: false }),
    });
  }
  if (tokenEntries.length > 0) leftOut.push(`${tokenEntries.length} ACL entr${tokenEntries.length === 1 ? "y" : "ies"} of API tokens (homelab does not manage tokens): ${tokenEntries.join("; ")}`);
  if (rootEntries > 0) leftOut.push(`${rootEntries} ACL entr${rootEntries === 1 ? "y" : "ies"} of root@pam (never managed)`);
  access.sort((x, y) => cmp(String(x.path), String(y.path)) || cmp(String(x.user ?? `@${x.group}`), String(y.user ?? `@${y.group}`)) || cmp(String(x.role), String(y.role)));

  const data: Record<string, unknown> = { version: 1 };
  if (tenant && input.tenantEntry) data.tenants = { [tenant.name]: input.tenantEntry };
  data.clusters = { [live.name]: input.clusterEntry };
  if (Object.keys(realms).length) data.realms = realms;
  if (Object.keys(roles).length) data.roles = roles;
  if (Object.keys(groups).length) data.groups = sortKeys(groups);
  if (Object.keys(users).length) data.users = users;
  if (access.length) data.access = access;
  return { data, clientKeyEnv, adopted, leftOut, notes };
}

/** The schema-shaped entry of one openid realm (client key excluded), or undefined when it cannot be expressed. */
function openidRealm(r: PveRealm, leftOut: string[]): { entry: Record<string, unknown>; key: string | undefined } | undefined {
  const o = r.options;
  const entry: Record<string, unknown> = {};
  for (const opt of OPENID_OPTIONS) {
    const v = o[opt.pve];
    if (v === undefined || v === "") continue;
    if (opt.kind === "bool") {
      const b = v === true || v === 1 || v === "1";
      if (b !== opt.fallback) entry[opt.key] = b;
    } else if (opt.kind === "list") {
      const items = [...new Set(list(v))];
      if (opt.fallback !== undefined && [...items].sort().join(" ") === list(opt.fallback).sort().join(" ")) continue;
      if (items.length > 0) entry[opt.key] = items;
    } else entry[opt.key] = String(v);
  }
  const other = Object.keys(o).filter((k) => !HANDLED_OPTIONS.has(k)).sort();
  const problems: string[] = [];
  if (other.length > 0) problems.push(`options homelab does not manage (${other.join(", ")})`);
  if (typeof entry.issuerUrl === "string" && !fits("httpsUrl", entry.issuerUrl)) problems.push("an issuer URL the schema refuses");
  if (problems.length > 0) {
    leftOut.push(`realm ${r.realm}: ${problems.join(" and ")}; the realm, its users and their ACL entries are left out`);
    return undefined;
  }
  const key = typeof o["client-key"] === "string" && o["client-key"] !== "" ? o["client-key"] : undefined;
  return { entry, key };
}

/**
 * Whether a realm is clearly homelab-manageable as a tenant realm: an app registration in the tenant has
 * the realm's client id as appId and the cluster URL among its redirect URIs, the realm's issuer is the
 * tenant's, no other app carries the realm's tag, and the schema's checks will accept it. Otherwise the
 * realm stays an external issuer, with a note saying why.
 */
function adoptionOf(r: PveRealm, entry: Record<string, unknown>, live: LiveCluster, tenant: LiveTenant, namedUsers: boolean, notes: string[]): Adoption | undefined {
  const c = tenant.apps.get(r.realm);
  if (!c) return undefined;
  const { app } = c;
  const label = `realm ${r.realm}: app registration "${app.displayName}" (appId ${app.appId})`;
  const redirects = (app.web?.redirectUris ?? []).map(trimSlash);
  if (!redirects.includes(live.url)) {
    notes.push(`${label} has the realm's client id but not ${live.url} as redirect URI; not adopted (written as an external issuer)`);
    return undefined;
  }
  if (trimSlash(String(entry.issuerUrl ?? "")) !== trimSlash(tenant.issuerUrl)) {
    notes.push(`${label} matches, but the realm's issuer URL is not tenant ${tenant.name}'s (${tenant.issuerUrl}); not adopted`);
    return undefined;
  }
  if (c.otherTagged.length > 0) {
    notes.push(`${label} matches, but ${c.otherTagged.map((a) => `"${a.displayName}" (${a.appId})`).join(", ")} already carr${c.otherTagged.length === 1 ? "ies" : "y"} the tag homelab:realm=${r.realm}; not adopted`);
    return undefined;
  }
  const bad = redirects.filter((u) => u !== live.url && !/^https:\/\/[^\s/?#]+\/?$/.test(u));
  if (bad.length > 0) {
    notes.push(`${label} matches, but has redirect URIs the schema cannot express (${bad.join(", ")}); not adopted`);
    return undefined;
  }
  const claim = String(entry.usernameClaim ?? "subject");
  if (namedUsers && UNKNOWABLE_CLAIMS.has(claim)) {
    notes.push(`${label} matches, but the realm uses the pairwise \`sub\` claim and has users with rights: homelab refuses that for tenant realms; not adopted`);
    return undefined;
  }
  const tagged = (app.tags ?? []).includes(`homelab:realm=${r.realm}`) && (app.tags ?? []).includes("homelab");
  if (!tagged && !tenant.adopt) {
    notes.push(`${label} matches (redirect URI ${live.url}, client id): run again with --adopt to tag it homelab:realm=${r.realm} and manage it as a tenant realm; written as an external issuer meanwhile`);
    return undefined;
  }
  return { realm: r.realm, app, needsTag: !tagged };
}

const REALM_ORDER = ["type", "tenant", "app", "clusters", "issuerUrl", "clientId", "clientKey"];
function orderRealm(e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of REALM_ORDER) if (k in e) out[k] = e[k];
  for (const [k, v] of Object.entries(e)) if (!(k in out)) out[k] = v;
  return out;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => cmp(a, b)));
}
