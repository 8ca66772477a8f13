/**
 * Proxmox VE's permission evaluation as a pure function (access API spec 2.3, 2.5, 3.6, 4.4), over an
 * access model that can be built from the observed state or from the state a plan leads to. Used by the
 * guard (guard.ts) to know what homelab's token and each person hold before and after a plan, and what a
 * change needs (spec 3.0 table, 3.6 "perm-modify").
 *
 * The evaluation follows `AccessControl.pm roles()` and `RPCEnvironment.pm permissions()`: it gives what
 * `GET /access/permissions?userid=...&path=...` answers. Like that endpoint it does not look at whether a
 * user is enabled (a disabled user's rights are still computed); `canAuthenticate` adds that rule, and
 * `effectivePrivileges` combines the two. Pools (spec 2.5) are not modelled: homelab neither reads nor
 * writes them, and the guard only evaluates `/access...` paths and the paths of ACL entries it plans.
 */
import { BUILTIN_ROLES, PRIVILEGES, ROOT_USER, isBuiltinRole } from "../../core/pve.js";
import type { ObservedCluster } from "./observed.js";

/** privilege → whether it propagates to the paths below (the shape of `GET /access/permissions`). */
export type PrivilegeSet = ReadonlyMap<string, boolean>;

export interface ModelToken {
  privsep: boolean;
  /** Epoch seconds, 0 = never. */
  expire: number;
}

export interface ModelUser {
  enable: boolean;
  /** Epoch seconds, 0 = never. */
  expire: number;
  groups: ReadonlySet<string>;
  tokens: ReadonlyMap<string, ModelToken>;
}

export interface ModelAcl {
  path: string;
  type: "user" | "group" | "token";
  ugid: string;
  roleid: string;
  propagate: boolean;
}

/**
 * What permission evaluation looks at: users (with memberships and tokens), role contents (built-in roles
 * included), ACL entries. Immutable by convention: `withChanges`-style code builds a new one.
 */
export interface AccessModel {
  users: ReadonlyMap<string, ModelUser>;
  roles: ReadonlyMap<string, readonly string[]>;
  acl: readonly ModelAcl[];
}

const NONE: PrivilegeSet = new Map();

/**
 * The privileges of a role: the built-in table of spec 4.4 for the built-in roles (they are computed in
 * code, never stored), the observed contents for custom roles. A role that does not exist grants nothing
 * (Proxmox drops the ACL entries of a deleted role, spec 3.5).
 */
export function rolePrivileges(observed: Pick<ObservedCluster, "roles">): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const [id, r] of observed.roles) out.set(id, r.special && isBuiltinRole(id) ? BUILTIN_ROLES[id]! : r.privs);
  for (const [id, privs] of Object.entries(BUILTIN_ROLES)) if (!out.has(id)) out.set(id, privs);
  return out;
}

/** The access model of an observed cluster. */
export function modelFromObserved(observed: Pick<ObservedCluster, "users" | "roles" | "acl">): AccessModel {
  const users = new Map<string, ModelUser>();
  for (const u of observed.users.values()) {
    users.set(u.userid, {
      enable: u.enable,
      expire: u.expire,
      groups: new Set(u.groups ?? []),
      tokens: new Map((u.tokens ?? []).map((t) => [t.tokenid, { privsep: t.privsep, expire: t.expire }])),
    });
  }
  return { users, roles: rolePrivileges(observed), acl: observed.acl.map((a) => ({ ...a })) };
}

/** `user@realm!token` → its parts; undefined for a user id. */
export function splitTokenId(authid: string): { userid: string; tokenid: string } | undefined {
  const i = authid.indexOf("!");
  return i < 0 ? undefined : { userid: authid.slice(0, i), tokenid: authid.slice(i + 1) };
}

/** `/`, `/a`, `/a/b` for `/a/b`: the levels a walk visits. */
export function pathLevels(path: string): string[] {
  const out = ["/"];
  let cur = "";
  for (const seg of path.split("/")) {
    if (seg === "") continue;
    cur += `/${seg}`;
    out.push(cur);
  }
  return out;
}

const byPathCache = new WeakMap<readonly ModelAcl[], Map<string, ModelAcl[]>>();

function entriesByPath(acl: readonly ModelAcl[]): Map<string, ModelAcl[]> {
  let index = byPathCache.get(acl);
  if (!index) {
    index = new Map();
    for (const e of acl) {
      const list = index.get(e.path);
      if (list) list.push(e);
      else index.set(e.path, [e]);
    }
    byPathCache.set(acl, index);
  }
  return index;
}

/**
 * `roles()` of AccessControl.pm (spec 2.5): walk from `/` to `path`; at each level the first rule that
 * matches replaces everything collected so far: the token's own entries, else the user's entries, else the
 * merged entries of every group the user is in. Above the target only propagating entries count. A result
 * holding `NoAccess` is `NoAccess` alone. role → propagate. An entry naming a role that does not exist is
 * skipped, as Proxmox drops it when it reads user.cfg (spec 3.5): it does not win its level.
 *
 * For a token this gives the token's own entries only; the owner's rights are applied by `privilegesOn`.
 * When two groups give the same role on the target path with different propagate flags, Perl's hash order
 * decides; here the role propagates if either entry does.
 */
export function rolesOn(model: AccessModel, principal: string, path: string): Map<string, boolean> {
  const token = splitTokenId(principal);
  const user = token ? undefined : model.users.get(principal);
  const byPath = entriesByPath(model.acl);
  let roles = new Map<string, boolean>();
  const levels = pathLevels(path);
  levels.forEach((level, i) => {
    const entries = byPath.get(level);
    if (!entries) return;
    const final = i === levels.length - 1;
    const counts = (e: ModelAcl) => final || e.propagate;
    const pick = (match: (e: ModelAcl) => boolean): Map<string, boolean> | undefined => {
      let found: Map<string, boolean> | undefined;
      for (const e of entries) {
        if (!match(e) || !counts(e) || !model.roles.has(e.roleid)) continue;
        (found ??= new Map()).set(e.roleid, (found.get(e.roleid) ?? false) || e.propagate);
      }
      return found;
    };
    const next = token
      ? pick((e) => e.type === "token" && e.ugid === principal)
      : pick((e) => e.type === "user" && e.ugid === principal) ?? (user && user.groups.size > 0 ? pick((e) => e.type === "group" && user.groups.has(e.ugid)) : undefined);
    if (next) roles = next;
  });
  if (roles.has("NoAccess")) return new Map([["NoAccess", roles.get("NoAccess")!]]);
  return roles;
}

/** The union of the roles' privileges; a privilege propagates if one of the roles giving it does. */
function privilegesOfRoles(model: AccessModel, roles: ReadonlyMap<string, boolean>): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const [roleid, propagate] of roles) {
    for (const p of model.roles.get(roleid) ?? []) out.set(p, (out.get(p) ?? false) || propagate);
  }
  return out;
}

function allPrivileges(model: AccessModel): PrivilegeSet {
  return new Map((model.roles.get("Administrator") ?? PRIVILEGES).map((p) => [p, true]));
}

/**
 * What `GET /access/permissions?userid=<authid>&path=<path>` answers (spec 2.3, 2.5, 3.7): root@pam holds
 * every privilege; a token with `privsep=0` holds exactly its owner's; a privsep token holds the
 * intersection of its own ACL privileges and its owner's (propagating only where both do); an unknown user
 * or token holds nothing. Enabled or not does not matter here (see `effectivePrivileges`).
 */
export function privilegesOn(model: AccessModel, authid: string, path: string): PrivilegeSet {
  const token = splitTokenId(authid);
  const userid = token ? token.userid : authid;
  const user = model.users.get(userid);
  if (!user && userid !== ROOT_USER) return NONE;
  const userPrivs = userid === ROOT_USER ? allPrivileges(model) : privilegesOfRoles(model, rolesOn(model, userid, path));
  if (!token) return userPrivs;
  const tok = user?.tokens.get(token.tokenid);
  if (!tok) return NONE;
  if (!tok.privsep) return userPrivs;
  const out = new Map<string, boolean>();
  for (const [p, propagate] of privilegesOfRoles(model, rolesOn(model, authid, path))) {
    const up = userPrivs.get(p);
    if (up !== undefined) out.set(p, propagate && up);
  }
  return out;
}

/**
 * Whether Proxmox accepts this user or token at all (spec 2.1): the user exists, is enabled and not
 * expired; a token also exists and has not expired. root@pam always exists (spec 4.5, errata 13).
 */
export function canAuthenticate(model: AccessModel, authid: string, nowSeconds: number): boolean {
  const token = splitTokenId(authid);
  const userid = token ? token.userid : authid;
  const user = model.users.get(userid);
  if (!user) return userid === ROOT_USER && !token;
  const live = (expire: number) => expire === 0 || expire > nowSeconds;
  if (!user.enable || !live(user.expire)) return false;
  if (!token) return true;
  const tok = user.tokens.get(token.tokenid);
  return tok !== undefined && live(tok.expire);
}

/** The privileges a user or token can actually use on a path: none when it cannot authenticate. */
export function effectivePrivileges(model: AccessModel, authid: string, path: string, nowSeconds: number): PrivilegeSet {
  return canAuthenticate(model, authid, nowSeconds) ? privilegesOn(model, authid, path) : NONE;
}

// --- what a change needs -----------------------------------------------------------------------------

/**
 * A privilege requirement of one API call (spec 3.0). `all`: every listed privilege on `path`.
 * `perm-modify`: an ACL write on `path` (spec 3.6): `Permissions.Modify` there; or, on `/storage/<id>`,
 * `/vms/<id>`, `/pool/<id>`, that path's Allocate privilege together with every privilege of the role
 * (propagating, when the entry propagates; never `NoAccess`).
 */
export type Requirement =
  | { kind: "all"; path: string; privs: readonly string[] }
  | { kind: "perm-modify"; path: string; roleid: string; rolePrivs: readonly string[]; propagate: boolean };

/** The Allocate privilege that stands in for `Permissions.Modify` on some paths (check_perm_modify). */
export function allocateAlternative(path: string): string | undefined {
  if (/^\/storage\/.+$/.test(path)) return "Datastore.Allocate";
  if (/^\/vms\/.+$/.test(path)) return "VM.Allocate";
  if (/^\/pool\/.+$/.test(path)) return "Pool.Allocate";
  return undefined;
}

/**
 * What a requirement lacks given the privileges held on its path: `[]` when it is met, else the
 * privileges to add (for perm-modify, `Permissions.Modify`, the simplest fix).
 */
export function missingFor(req: Requirement, have: PrivilegeSet): string[] {
  if (req.kind === "all") return req.privs.filter((p) => !have.has(p));
  if (have.has("Permissions.Modify")) return [];
  const alt = allocateAlternative(req.path);
  if (alt !== undefined && have.has(alt) && req.roleid !== "NoAccess") {
    // Without Permissions.Modify only a subset of one's own privileges may be handed out (spec 3.6).
    const subset = req.rolePrivs.every((p) => have.has(p) && (!req.propagate || have.get(p) === true));
    if (subset) return [];
  }
  return ["Permissions.Modify"];
}

/** A requirement as a person reads it: `Realm.Allocate on /access/realm`. */
export function describeRequirement(req: Requirement, missing: readonly string[] = req.kind === "all" ? req.privs : ["Permissions.Modify"]): string {
  return `${missing.join(", ")} on ${req.path}`;
}
