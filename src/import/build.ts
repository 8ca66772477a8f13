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
import { BUILTIN_REALMS, ROOT_USER, isBuiltinRole, realmOf } from "../core/pve.js";
import { hasOwn, nullRecord } from "../core/record.js";
import type { PveGroup } from "../providers/proxmox/types.js";
import { adoptionOf, defaultAppName, openidRealm, orderRealm, trimSlash } from "./realms.js";
import { fits, privilegeSet, propertyFits } from "./schema-fit.js";
import type { Adoption, ImportInput, ImportResult } from "./types.js";

export type { Adoption, CandidateApp, ImportInput, ImportResult, LiveCluster, LiveTenant } from "./types.js";

/** Comments of the built-in realms on a fresh install (access API spec 4.5). */
export const FRESH_REALM_COMMENTS: Readonly<Record<string, string>> = {
  pam: "Linux PAM standard authentication",
  pve: "Proxmox VE authentication server",
};

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
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

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => cmp(a, b)));
}
