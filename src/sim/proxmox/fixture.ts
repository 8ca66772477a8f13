/** Seeding the simulator from a fixture, and snapshotting its state in the same form. */
import { BUILTIN_ROLES, PRIVILEGE_SET, REALM_PLUGINS, REALM_TYPES, normalizeAclPath } from "./constants.js";
import { compareAclPaths } from "./handlers-acl.js";
import { parseTokenId, verifyUsername } from "./params.js";
import { ROOT, type AclKind, type Flag, type SimState, type UserRec } from "./state.js";
import { formatVersion, hiddenParams } from "./versions.js";
import type { FixtureAcl, FixtureRealm, FixtureToken, FixtureUser, ProxmoxFixture } from "./types.js";

const KIND_OF: Record<FixtureAcl["type"], AclKind> = { user: "users", group: "groups", token: "tokens" };

function fixtureError(msg: string): Error {
  return new Error(`invalid Proxmox simulator fixture: ${msg}`);
}

function optionValue(v: unknown): string | number {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") return v;
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.join(",");
  throw fixtureError(`unsupported option value ${JSON.stringify(v)}`);
}

/** Apply a fixture on top of the current state. Throws on references that PVE would refuse. */
export function applyFixture(state: SimState, fx: ProxmoxFixture): void {
  for (const r of fx.realms ?? []) {
    const { realm, type, password, ...options } = r;
    if (!/^[A-Za-z][A-Za-z0-9.\-_]+$/.test(realm) || realm.length > 32) throw fixtureError(`invalid realm id '${realm}'`);
    if (!REALM_TYPES.includes(type)) throw fixtureError(`realm '${realm}': unknown type '${String(type)}'`);
    const plugin = REALM_PLUGINS[type];
    const existing = state.realms.get(realm);
    if (existing && existing.type !== type) throw fixtureError(`realm '${realm}' exists with type '${existing.type}'`);
    if (!existing && (type === "pam" || type === "pve")) throw fixtureError(`cannot create builtin type '${type}'`);
    const opts = existing ? existing.opts : new Map<string, string | number>();
    const notYet = hiddenParams(state.version, "POST", "/access/domains");
    for (const [k, v] of Object.entries(options)) {
      if (v === undefined) continue;
      if (!plugin.options.has(k)) throw fixtureError(`realm '${realm}': unexpected property '${k}'`);
      if (notYet.has(k)) throw fixtureError(`realm '${realm}': '${k}' does not exist in Proxmox VE ${formatVersion(state.version)}`);
      const value = optionValue(v);
      if (typeof value === "string" && /[\n\r]/.test(value)) throw fixtureError(`realm '${realm}': property '${k}' contains a line feed`);
      opts.set(k, value);
    }
    for (const [k, req] of plugin.options) {
      if (req && !opts.has(k)) throw fixtureError(`realm '${realm}': missing value for required option '${k}'`);
    }
    if (opts.get("default")) for (const o of state.realms.values()) if (o.realm !== realm) o.opts.delete("default");
    const rec = existing ?? { realm, type, opts };
    if (typeof password === "string" && (type === "ldap" || type === "ad")) rec.bindPassword = password;
    state.realms.set(realm, rec);
    state.realmsChanged();
  }

  for (const g of fx.groups ?? []) {
    if (!/^[A-Za-z0-9.\-_]+$/.test(g.groupid)) throw fixtureError(`invalid group id '${g.groupid}'`);
    const existing = state.groups.get(g.groupid);
    if (existing) {
      if (g.comment !== undefined) existing.comment = g.comment;
    } else {
      state.groups.set(g.groupid, { groupid: g.groupid, members: new Set(), ...(g.comment ? { comment: g.comment } : {}) });
    }
  }

  for (const u of fx.users ?? []) applyUser(state, u);

  for (const r of fx.roles ?? []) {
    if (BUILTIN_ROLES.has(r.roleid)) throw fixtureError(`role '${r.roleid}' is built in`);
    if (!/^[A-Za-z0-9.\-_]+$/.test(r.roleid)) throw fixtureError(`invalid role id '${r.roleid}'`);
    for (const p of r.privs) if (!PRIVILEGE_SET.has(p)) throw fixtureError(`role '${r.roleid}': invalid privilege '${p}'`);
    state.roles.set(r.roleid, { roleid: r.roleid, privs: new Set(r.privs), special: false });
  }

  for (const t of fx.tokens ?? []) applyToken(state, t);
  // Fixture values are what user.cfg holds; reads see them as parse_user_config returns them.
  state.userCfgChanged();

  for (const a of fx.acl ?? []) {
    const path = normalizeAclPath(a.path);
    if (!path) throw fixtureError(`invalid ACL path '${a.path}'`);
    const kind = KIND_OF[a.type];
    if (!kind) throw fixtureError(`invalid ACL type '${String(a.type)}'`);
    if (!state.roles.has(a.roleid)) throw fixtureError(`ACL role '${a.roleid}' does not exist`);
    if (kind === "users" && !state.users.has(a.ugid)) throw fixtureError(`ACL user '${a.ugid}' does not exist`);
    if (kind === "groups" && !state.groups.has(a.ugid)) throw fixtureError(`ACL group '${a.ugid}' does not exist`);
    if (kind === "tokens") {
      const id = parseTokenId(a.ugid);
      if (!id || !state.users.get(id.userid)?.tokens.has(id.tokenid)) throw fixtureError(`ACL token '${a.ugid}' does not exist`);
    }
    state.setAcl(path, kind, a.ugid, a.roleid, a.propagate === 0 ? 0 : 1);
  }
}

function applyUser(state: SimState, u: FixtureUser): void {
  try {
    verifyUsername(u.userid);
  } catch (err) {
    throw fixtureError((err as Error).message.trim());
  }
  let rec = state.users.get(u.userid);
  if (!rec) {
    rec = { userid: u.userid, enable: 1, expire: 0, groups: new Set(), tokens: new Map() };
    state.users.set(u.userid, rec);
  }
  if (u.enable !== undefined) rec.enable = u.enable ? 1 : 0;
  if (u.expire !== undefined) rec.expire = u.expire;
  for (const f of ["firstname", "lastname", "email", "comment", "keys", "password"] as const) {
    const v = u[f];
    if (v !== undefined) (rec as UserRec)[f] = v;
  }
  for (const g of u.groups ?? []) {
    if (!state.groups.has(g)) {
      if (!/^[A-Za-z0-9.\-_]+$/.test(g)) throw fixtureError(`invalid group id '${g}'`);
      state.groups.set(g, { groupid: g, members: new Set() });
    }
    state.addMembership(u.userid, g);
  }
}

function applyToken(state: SimState, t: FixtureToken): void {
  if (!state.users.has(t.userid)) throw fixtureError(`token owner '${t.userid}' does not exist`);
  if (!/^[A-Za-z][A-Za-z0-9.\-_]+$/.test(t.tokenid)) throw fixtureError(`invalid token id '${t.tokenid}'`);
  state.newToken(t.userid, t.tokenid, t.privsep === 0 ? 0 : 1, t.expire, t.comment, t.secret);
}

/** The whole state in fixture form, sorted, deep-copied. Built-in roles are left out. */
export function snapshot(state: SimState): Required<ProxmoxFixture> {
  const realms: FixtureRealm[] = [...state.realms.values()]
    .sort((a, b) => (a.realm < b.realm ? -1 : a.realm > b.realm ? 1 : 0))
    .map((r) => ({ realm: r.realm, type: r.type, ...Object.fromEntries(r.opts) }));
  const userIds = [...state.users.keys()].sort();
  const users: FixtureUser[] = userIds.map((id) => {
    const u = state.users.get(id)!;
    const out: FixtureUser = { userid: id, enable: u.enable };
    if (u.expire !== undefined) out.expire = u.expire;
    for (const f of ["firstname", "lastname", "email", "comment", "keys"] as const) if (u[f]) out[f] = u[f];
    out.groups = [...u.groups].sort();
    return out;
  });
  const groups = [...state.groups.values()]
    .sort((a, b) => (a.groupid < b.groupid ? -1 : a.groupid > b.groupid ? 1 : 0))
    .map((g) => (g.comment ? { groupid: g.groupid, comment: g.comment } : { groupid: g.groupid }));
  const roles = [...state.roles.values()]
    .filter((r) => !r.special)
    .sort((a, b) => (a.roleid < b.roleid ? -1 : a.roleid > b.roleid ? 1 : 0))
    .map((r) => ({ roleid: r.roleid, privs: [...r.privs].sort() }));
  const acl: FixtureAcl[] = [];
  const typeOf = { users: "user", groups: "group", tokens: "token" } as const;
  for (const path of [...state.acl.keys()].sort(compareAclPaths)) {
    const node = state.acl.get(path)!;
    const entries: FixtureAcl[] = [];
    for (const kind of ["users", "groups", "tokens"] as const) {
      for (const [ugid, rs] of node[kind]) {
        for (const [roleid, propagate] of rs) entries.push({ path, type: typeOf[kind], ugid, roleid, propagate: propagate as Flag });
      }
    }
    entries.sort((a, b) => cmp(a.type, b.type) || cmp(a.ugid, b.ugid) || cmp(a.roleid, b.roleid));
    acl.push(...entries);
  }
  const tokens: FixtureToken[] = [];
  for (const id of userIds) {
    const u = state.users.get(id)!;
    for (const t of [...u.tokens.values()].sort((a, b) => cmp(a.tokenid, b.tokenid))) {
      const out: FixtureToken = { userid: id, tokenid: t.tokenid, privsep: t.privsep, secret: t.secret };
      if (t.expire !== undefined) out.expire = t.expire;
      if (t.comment) out.comment = t.comment;
      tokens.push(out);
    }
  }
  return { realms, users, groups, roles, acl, tokens };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export { ROOT };
