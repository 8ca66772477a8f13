/**
 * The independent oracle of the Proxmox property test: from a config and the cluster state before a run,
 * the state Proxmox should hold after `homelab apply`, computed with Proxmox's own rules (what it stores,
 * trims, cascades) and the managed-scope rules of the README and issue 8, never with homelab's planner.
 *
 * States are compared in a canonical form: one entry per object (`realm:x`, `user:x`, `group:x`, `role:x`,
 * `acl:path|type|ugid|role`, `token:user!id`) whose value is a stable JSON string. Objects homelab manages
 * are compared by meaning where Proxmox has two spellings of one value (an absent boolean option and its
 * default, `expire` absent and 0); everything else byte for byte.
 */
import type { FixtureAcl, FixtureRealm, FixtureUser, ProxmoxFixture } from "../../src/sim/proxmox/index.js";
import { declaredUsers, type GenCase, type GenConfig, type GenRealm } from "./generate.js";

const BUILTIN_REALM_COMMENT: Record<string, string> = { pam: "Linux PAM standard authentication", pve: "Proxmox VE authentication server" };
const ROOT = "root@pam";

/** OpenID options homelab owns on a declared realm, with Proxmox's default for each (apidoc `default`). */
const OPENID_MANAGED: Record<string, string | number | undefined> = {
  "issuer-url": undefined, "client-id": undefined, "client-key": undefined, "username-claim": undefined, scopes: "email profile",
  prompt: undefined, "acr-values": undefined, audiences: undefined, autocreate: 0, "groups-claim": undefined, "groups-autocreate": 0,
  "groups-overwrite": 0, "query-userinfo": 1, comment: undefined, default: 0,
};
const BOOLEAN_OPTIONS = new Set(["autocreate", "groups-autocreate", "groups-overwrite", "query-userinfo", "default"]);
const LIST_OPTIONS = new Set(["scopes", "acr-values", "audiences"]);

/**
 * Proxmox trims values when it parses its config files (issue 8 item 3); an empty value is no value, and
 * so is "0" (Perl reads it as false and skips it when it writes user.cfg or domains.cfg).
 */
const stored = (v: string | undefined): string | undefined => {
  const t = v?.trim();
  return t === undefined || t === "" || t === "0" ? undefined : t;
};

/** What the run should do, and the scope homelab manages (for labelling differences). */
export interface Expectation {
  state: ProxmoxFixture;
  /** whether an object key is inside what homelab manages */
  managed(key: string): boolean;
  /** realms compared by meaning (declared ones) */
  declaredRealms: Set<string>;
  declaredUsers: Set<string>;
}

export interface ModelContext {
  /** user of the token homelab runs as (never touched) */
  tokenUser: string;
  /** client keys by env variable name */
  env: Record<string, string>;
}

/** Epoch seconds of a config `expire` (the README's forms). */
export function epochOf(v: number | string | undefined): number {
  if (v === undefined || v === "never") return 0;
  if (typeof v === "number") return v;
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v;
  return Math.floor(Date.parse(iso) / 1000);
}

/** Managed realms: declared in the file, other than the built-in pam and pve. */
export function managedRealms(c: GenConfig): Set<string> {
  return new Set(Object.keys(c.realms).filter((r) => r !== "pam" && r !== "pve"));
}

const realmOf = (userid: string) => userid.slice(userid.lastIndexOf("@") + 1);

/**
 * The expected state after one successful `apply` of `c` on a cluster in state `prior`.
 * Order of Proxmox's cascades: principals deleted take their ACL entries, memberships and tokens along;
 * roles are deleted only once no remaining ACL entry names them.
 */
export function expect(c: GenConfig, prior: ProxmoxFixture, ctx: ModelContext): Expectation {
  const s = structuredClone(prior) as Required<ProxmoxFixture>;
  const mRealms = managedRealms(c);
  const dUsers = declaredUsers(c);
  const dGroups = new Set(Object.keys(c.groups));
  const dRoles = new Set(Object.keys(c.roles));
  const userIsManaged = (u: string) => u !== ROOT && u !== ctx.tokenUser && mRealms.has(realmOf(u));
  const groupIsManaged = (gid: string) => [...mRealms].some((r) => gid.endsWith(`-${r}`));

  // Realms.
  for (const [id, want] of Object.entries(c.realms)) {
    const i = s.realms.findIndex((r) => r.realm === id);
    if (id === "pam" || id === "pve") {
      const r = s.realms[i]!;
      r.comment = stored(want.comment) ?? BUILTIN_REALM_COMMENT[id]!;
      if (want.default) r.default = 1;
      else delete r.default;
      continue;
    }
    const have = i >= 0 ? s.realms[i] : undefined;
    const replace = !have || have.type !== "openid" || (have["username-claim"] ?? "") !== (want.usernameClaim ?? "");
    const r: FixtureRealm = replace ? { realm: id, type: "openid" } : have!;
    // A client key the file does not give is left alone (README "Client keys").
    for (const k of Object.keys(OPENID_MANAGED)) if (k !== "client-key" || want.clientKey !== undefined) delete r[k];
    Object.assign(r, openidOptions(want, ctx));
    if (i >= 0) s.realms[i] = r;
    else s.realms.push(r);
  }
  const newDefault = Object.entries(c.realms).find(([, r]) => r.default === true)?.[0];
  if (newDefault !== undefined) for (const r of s.realms) if (r.realm !== newDefault && r.default) delete r.default;

  // Roles.
  for (const [roleid, r] of Object.entries(c.roles)) {
    const have = s.roles.find((x) => x.roleid === roleid);
    if (have) have.privs = [...r.privs].sort();
    else s.roles.push({ roleid, privs: [...r.privs].sort() });
  }

  // Groups.
  for (const [groupid, gr] of Object.entries(c.groups)) {
    let have = s.groups.find((x) => x.groupid === groupid);
    if (!have) s.groups.push((have = { groupid }));
    if (gr.comment !== undefined) {
      const v = stored(gr.comment);
      if (v === undefined) delete have.comment;
      else have.comment = v;
    }
  }

  // Users.
  for (const userid of dUsers) {
    let u = s.users.find((x) => x.userid === userid);
    if (!u) s.users.push((u = { userid, enable: 1, expire: 0, groups: [] }));
    const want = c.users[userid] ?? {};
    u.enable = want.enable === false ? 0 : 1;
    u.expire = epochOf(want.expire);
    for (const f of ["firstname", "lastname", "email", "comment"] as const) {
      if (want[f] === undefined) continue;
      const v = stored(want[f]);
      if (v === undefined) delete u[f];
      else u[f] = v;
    }
  }

  // Memberships of declared groups: `members` is the whole list unless membersExclusive is false.
  for (const u of s.users) {
    const groups = new Set(u.groups ?? []);
    for (const [gid, gr] of Object.entries(c.groups)) {
      const listed = (gr.members ?? []).includes(u.userid);
      if (listed) groups.add(gid);
      else if (gr.membersExclusive !== false) groups.delete(gid);
    }
    u.groups = [...groups].sort();
  }

  // Pruning inside managed realms and groups, with Proxmox's cascades (spec 5.3).
  const goneUsers = new Set(c.prune.users ? s.users.filter((u) => !dUsers.has(u.userid) && userIsManaged(u.userid)).map((u) => u.userid) : []);
  const goneGroups = new Set(c.prune.groups ? s.groups.filter((x) => !dGroups.has(x.groupid) && groupIsManaged(x.groupid)).map((x) => x.groupid) : []);
  s.users = s.users.filter((u) => !goneUsers.has(u.userid));
  s.tokens = s.tokens.filter((t) => !goneUsers.has(t.userid));
  s.groups = s.groups.filter((x) => !goneGroups.has(x.groupid));
  for (const u of s.users) u.groups = (u.groups ?? []).filter((x) => !goneGroups.has(x));
  s.acl = s.acl.filter((e) => {
    if (e.type === "user") return !goneUsers.has(e.ugid);
    if (e.type === "group") return !goneGroups.has(e.ugid);
    return !goneUsers.has(e.ugid.slice(0, e.ugid.indexOf("!")));
  });

  // ACL entries.
  const key = (e: Pick<FixtureAcl, "path" | "type" | "ugid" | "roleid">) => `${e.path}|${e.type}|${e.ugid}|${e.roleid}`;
  const wanted = new Map<string, FixtureAcl>();
  for (const a of c.access) {
    const e: FixtureAcl = { path: a.path, type: a.user !== undefined ? "user" : "group", ugid: a.user ?? a.group!, roleid: a.role, propagate: a.propagate === false ? 0 : 1 };
    wanted.set(key(e), e);
  }
  if (c.prune.acl) {
    s.acl = s.acl.filter((e) => {
      if (wanted.has(key(e))) return true;
      if (e.type === "user") return !userIsManaged(e.ugid);
      if (e.type === "group") return !(dGroups.has(e.ugid) || groupIsManaged(e.ugid));
      return true;
    });
  }
  for (const [k, e] of wanted) {
    const i = s.acl.findIndex((x) => key(x) === k);
    if (i >= 0) s.acl[i] = e;
    else s.acl.push(e);
  }

  // Roles last: a custom role still named by a remaining entry stays (issue 8 item 7).
  if (c.prune.roles) {
    const used = new Set(s.acl.map((e) => e.roleid));
    s.roles = s.roles.filter((r) => dRoles.has(r.roleid) || used.has(r.roleid));
  }

  const managed = (k: string): boolean => {
    const [kind, rest] = [k.slice(0, k.indexOf(":")), k.slice(k.indexOf(":") + 1)];
    if (kind === "realm") return rest in c.realms;
    if (kind === "user") return dUsers.has(rest) || userIsManaged(rest);
    if (kind === "group") return dGroups.has(rest) || groupIsManaged(rest);
    if (kind === "role") return dRoles.has(rest) || c.prune.roles === true;
    if (kind === "acl") {
      const [, type, ugid] = rest.split("|");
      return type === "user" ? userIsManaged(ugid!) || dUsers.has(ugid!) : type === "group" ? dGroups.has(ugid!) || groupIsManaged(ugid!) : false;
    }
    return false;
  };
  return { state: s, managed, declaredRealms: new Set(Object.keys(c.realms)), declaredUsers: dUsers };
}

/** The options Proxmox stores for a declared OpenID realm, as homelab must write them. */
function openidOptions(r: GenRealm, ctx: ModelContext): Record<string, string | number> {
  const o: Record<string, string | number | undefined> = {
    "issuer-url": r.issuerUrl,
    "client-id": r.clientId,
    "client-key": r.clientKey !== undefined ? ctx.env[/\$\{env:(\w+)\}/.exec(r.clientKey)![1]!] : undefined,
    "username-claim": r.usernameClaim,
    scopes: r.scopes?.join(" "),
    prompt: r.prompt,
    "acr-values": r.acrValues?.join(","),
    audiences: r.audiences?.join(","),
    autocreate: r.autocreate === undefined ? undefined : r.autocreate ? 1 : 0,
    "groups-claim": r.groupsClaim,
    "groups-autocreate": r.groupsAutocreate === undefined ? undefined : r.groupsAutocreate ? 1 : 0,
    "groups-overwrite": r.groupsOverwrite === undefined ? undefined : r.groupsOverwrite ? 1 : 0,
    "query-userinfo": r.queryUserinfo === undefined ? undefined : r.queryUserinfo ? 1 : 0,
    comment: stored(r.comment),
    default: r.default ? 1 : undefined,
  };
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

// --- canonical form and comparison ------------------------------------------------------------------

/** Stable JSON: keys sorted. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

/** A realm's options by meaning: defaults filled in, booleans as 0/1, lists as sorted sets, strings trimmed. */
function realmByMeaning(r: FixtureRealm): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const defaults: Record<string, string | number | undefined> = r.type === "openid" ? OPENID_MANAGED : { comment: undefined, default: 0 };
  for (const [k, v] of Object.entries(r)) if (!(k in defaults)) out[k] = v;
  for (const [k, d] of Object.entries(defaults)) {
    let v: unknown = r[k];
    if (v === "" || v === null) v = undefined;
    if (BOOLEAN_OPTIONS.has(k)) v = v === undefined ? d : Number(v) ? 1 : 0;
    else if (LIST_OPTIONS.has(k)) v = v === undefined ? d : String(v).split(/[,;\s]+/).filter(Boolean).sort().join(" ");
    else if (typeof v === "string") v = v.trim();
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** One entry per object; declared realms and users by meaning, everything else exactly as the simulator reports it. */
export function canonical(state: ProxmoxFixture, x: Pick<Expectation, "declaredRealms" | "declaredUsers">): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of state.realms ?? []) out.set(`realm:${r.realm}`, stable(x.declaredRealms.has(r.realm) ? realmByMeaning(r) : r));
  for (const u of state.users ?? []) {
    const v: FixtureUser = { ...u, groups: [...(u.groups ?? [])].sort() };
    if (x.declaredUsers.has(u.userid) && v.expire === undefined) v.expire = 0;
    out.set(`user:${u.userid}`, stable(v));
  }
  for (const g of state.groups ?? []) out.set(`group:${g.groupid}`, stable(g));
  for (const r of state.roles ?? []) out.set(`role:${r.roleid}`, stable({ ...r, privs: [...r.privs].sort() }));
  for (const a of state.acl ?? []) out.set(`acl:${a.path}|${a.type}|${a.ugid}|${a.roleid}`, stable({ propagate: a.propagate ?? 1 }));
  for (const t of state.tokens ?? []) out.set(`token:${t.userid}!${t.tokenid}`, stable(t));
  return out;
}

export interface Difference {
  key: string;
  managed: boolean;
  expected?: string;
  actual?: string;
}

/** Objects whose canonical value differs between what the model expects and what the cluster holds. */
export function differences(x: Expectation, actual: ProxmoxFixture): Difference[] {
  const want = canonical(x.state, x);
  const have = canonical(actual, x);
  const out: Difference[] = [];
  for (const k of [...new Set([...want.keys(), ...have.keys()])].sort()) {
    const w = want.get(k);
    const h = have.get(k);
    if (w !== h) out.push({ key: k, managed: x.managed(k), ...(w !== undefined ? { expected: w } : {}), ...(h !== undefined ? { actual: h } : {}) });
  }
  return out;
}

export type { GenCase };
