/**
 * Permission evaluation (spec 2.3, 2.5, 3.0) and the schema's `permissions.check` expressions
 * (RPCEnvironment check_api2_permissions).
 */
import type { PermCheck } from "./apidoc.js";
import { PRIVILEGES } from "./constants.js";
import { ApiError, handlerError, permError } from "./errors.js";
import { FormatError, parseTokenId, splitList, verifyUsername } from "./params.js";
import { normalizeAclPath } from "./constants.js";
import { ROOT, type Flag, type SimState } from "./state.js";

/** Who is calling. A root@pam *ticket* skips permission checks entirely (spec 2.3). */
export interface Caller {
  kind: "ticket" | "token" | "anonymous";
  /** "user@realm" or "user@realm!tokenid" */
  authid: string;
  userid: string;
}

const ALL_PRIVS: ReadonlyMap<string, boolean> = new Map(PRIVILEGES.map((p) => [p, true]));
const NONE: ReadonlyMap<string, boolean> = new Map();

function pathPrefixes(path: string): string[] {
  if (path === "/") return ["/"];
  const parts = path.split("/").slice(1);
  const out = ["/"];
  let cur = "";
  for (const p of parts) {
    cur += `/${p}`;
    out.push(cur);
  }
  return out;
}

/**
 * AccessControl.pm roles(): walk from "/" to the path; at each level the first matching rule
 * (token entries, then user entries, then the merged entries of the user's groups) replaces what
 * was collected. Above the target only propagating entries count. NoAccess wins.
 */
export function rolesFor(state: SimState, principal: string, path: string): Map<string, Flag> {
  const token = parseTokenId(principal);
  const user = state.users.get(token ? token.userid : principal);
  let roles = new Map<string, Flag>();
  const levels = pathPrefixes(path);
  levels.forEach((level, i) => {
    const node = state.acl.get(level);
    if (!node) return;
    const final = i === levels.length - 1;
    const pick = (ri: Map<string, Flag> | undefined): Map<string, Flag> | undefined => {
      if (!ri) return undefined;
      let found: Map<string, Flag> | undefined;
      for (const [role, prop] of ri) {
        if (final || prop) (found ??= new Map()).set(role, prop);
      }
      return found;
    };
    if (token) {
      const n = pick(node.tokens.get(principal));
      if (n) roles = n;
      return; // a privsep token only has token entries (its user's rights are intersected later)
    }
    const fromUser = pick(node.users.get(principal));
    if (fromUser) {
      roles = fromUser;
      return;
    }
    if (!user || user.groups.size === 0) return;
    let merged: Map<string, Flag> | undefined;
    for (const [g, ri] of node.groups) {
      if (!user.groups.has(g)) continue;
      const n = pick(ri);
      if (n) for (const [r, p] of n) (merged ??= new Map()).set(r, p);
    }
    if (merged) roles = merged;
  });
  if (roles.has("NoAccess")) return new Map([["NoAccess", roles.get("NoAccess")!]]);
  return roles;
}

function privsFromRoles(state: SimState, roles: Map<string, Flag>): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const [roleid, prop] of roles) {
    const role = state.roles.get(roleid);
    if (!role) continue;
    for (const p of role.privs) out.set(p, (out.get(p) ?? false) || prop === 1);
  }
  return out;
}

/**
 * Effective privileges (priv → propagates) of a user or token on a path. Privsep tokens get the
 * intersection of their own ACL privileges and their user's (spec 2.3); privsep=0 tokens are their user.
 */
export function privsFor(state: SimState, authid: string, path: string): ReadonlyMap<string, boolean> {
  const token = parseTokenId(authid);
  const userid = token ? token.userid : authid;
  const user = state.users.get(userid);
  if (!user) return NONE;
  const userPrivs = userid === ROOT ? ALL_PRIVS : privsFromRoles(state, rolesFor(state, userid, path));
  if (!token) return userPrivs;
  const tok = user.tokens.get(token.tokenid);
  if (!tok) return NONE;
  if (!tok.privsep) return userPrivs;
  const own = privsFromRoles(state, rolesFor(state, authid, path));
  const out = new Map<string, boolean>();
  for (const [p, prop] of own) {
    const up = userPrivs.get(p);
    if (up !== undefined) out.set(p, prop && up);
  }
  return out;
}

export function isRootTicket(caller: Caller): boolean {
  return caller.kind === "ticket" && caller.authid === ROOT;
}

export class PermissionChecker {
  constructor(
    private readonly state: SimState,
    private readonly caller: Caller,
  ) {}

  privs(path: string): ReadonlyMap<string, boolean> {
    if (isRootTicket(this.caller)) return ALL_PRIVS;
    return privsFor(this.state, this.caller.authid, path);
  }

  /** RPCEnvironment check / check_any; raises 403 "(path, priv)" unless noerr. */
  check(path: string, privs: string[], any: boolean, noerr: boolean): boolean {
    const have = this.privs(path);
    if (any) {
      if (privs.some((p) => have.has(p))) return true;
      if (noerr) return false;
      throw permError(`${path}, ${privs.join("|")}`);
    }
    for (const p of privs) {
      if (!have.has(p)) {
        if (noerr) return false;
        throw permError(`${path}, ${p}`);
      }
    }
    return true;
  }

  /** Groups where the caller holds one of the privileges on /access/groups/<group>. */
  allowedGroups(privs: string[]): Set<string> {
    const out = new Set<string>();
    for (const g of this.state.groups.keys()) {
      if (this.check(`/access/groups/${g}`, privs, true, true)) out.add(g);
    }
    return out;
  }

  /** perm-modify (spec 3.6): Permissions.Modify, or the path's Allocate privilege. */
  permModifyPrivs(path: string): string[] {
    const privs = ["Permissions.Modify"];
    if (/^\/storage\/.+$/.test(path)) privs.push("Datastore.Allocate");
    else if (/^\/vms\/.+$/.test(path)) privs.push("VM.Allocate");
    else if (/^\/pool\/.+$/.test(path)) privs.push("Pool.Allocate");
    return privs;
  }

  checkPermModify(rawPath: string, noerr: boolean): boolean {
    const path = normalizeAclPath(rawPath) ?? rawPath;
    return this.check(path, this.permModifyPrivs(path), true, noerr);
  }

  /** Evaluate a schema `permissions.check` expression. Runs before parameter validation (errata 3). */
  evaluate(check: PermCheck, params: Record<string, unknown>, noerr = false): boolean {
    const [cmd, ...rest] = check;
    const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
    switch (cmd) {
      case "and":
        for (const sub of rest as PermCheck[]) if (!this.evaluate(sub, params, noerr)) return false;
        return true;
      case "or":
        for (const sub of rest as PermCheck[]) if (this.evaluate(sub, params, true)) return true;
        if (noerr) return false;
        throw permError();
      case "perm": {
        const [tmpl, privs, ...opts] = rest as [string, string[], ...unknown[]];
        const path = tmpl.replace(/\{(\w+)\}/g, (_, k: string) => str(params[k]) ?? "");
        const any = opts[0] === "any" && Boolean(opts[1]);
        return this.check(path, privs, any, noerr);
      }
      case "perm-modify": {
        const tmpl = rest[0] as string;
        const path = tmpl.replace(/\{(\w+)\}/g, (_, k: string) => str(params[k]) ?? "");
        return this.checkPermModify(path, noerr);
      }
      case "userid-param": {
        const userid = str(params.userid);
        if (userid === undefined) return true; // the missing parameter is reported by validation (400)
        const { realm } = this.verify(userid);
        if (rest[0] === "self") {
          if (this.caller.authid === userid) return true;
          if (noerr) return false;
          throw permError();
        }
        return this.check(`/access/realm/${realm}`, ["Realm.AllocateUser"], false, noerr);
      }
      case "userid-group": {
        const userid = str(params.userid);
        if (userid === undefined) return true;
        this.verify(userid);
        const privs = rest[0] as string[];
        const opts = rest.slice(1);
        const gi = opts.indexOf("groups_param");
        const groupsParam = gi >= 0 ? (opts[gi + 1] as string) : undefined;
        if (groupsParam !== "create" && !this.state.users.has(userid)) {
          // The existence check is part of the permission check (spec 3.0, 5.2).
          if (noerr) return false;
          throw handlerError(`no such user ('${userid}')`);
        }
        if (this.check("/access/groups", privs, true, true)) return true;
        const allowed = this.allowedGroups(privs);
        if (groupsParam) {
          const list = splitList(str(params.groups));
          if (list.length === 0) {
            if (noerr) return false;
            throw permError(`/access/groups, ${privs.join("|")}`);
          }
          for (const g of list) {
            if (!allowed.has(g)) {
              if (noerr) return false;
              throw permError(`/access/groups/${g}, ${privs.join("|")}`);
            }
          }
        }
        if (groupsParam !== "create") {
          const user = this.state.users.get(userid)!;
          if (![...user.groups].some((g) => allowed.has(g))) {
            if (noerr) return false;
            throw permError();
          }
        }
        return true;
      }
      default:
        throw new ApiError(500, `unknown permission check '${String(cmd)}'\n`);
    }
  }

  /** verify_username inside a permission check: a malformed id is a raw 500 (errata 3). */
  private verify(userid: string): { realm: string } {
    try {
      return verifyUsername(userid);
    } catch (err) {
      if (err instanceof FormatError) throw handlerError(err.message);
      throw err;
    }
  }
}
