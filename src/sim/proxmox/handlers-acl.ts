/** /access/acl (spec 3.6, 5.4) and /access/permissions (spec 3.7). */
import { isValidAclPath, normalizeAclPath } from "./constants.js";
import { param, type HandlerContext, type HandlerTable } from "./context.js";
import { handlerError, inLock, paramError, permError } from "./errors.js";
import { FormatError, parseTokenId, splitList, verifyUsername } from "./params.js";
import { isRootTicket, privsFor } from "./permissions.js";
import { ROOT, type AclKind, type Flag } from "./state.js";
import { aclPathInRelease } from "./versions.js";

const TYPE_OF: Record<AclKind, "user" | "group" | "token"> = { users: "user", groups: "group", tokens: "token" };

function pathKey(path: string): string[] {
  return path === "/" ? [] : path.slice(1).split("/");
}

/** Tree order: root first, children sorted (spec 3.6 GET). */
export function compareAclPaths(a: string, b: string): number {
  const x = pathKey(a);
  const y = pathKey(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

interface AclChange {
  kind: AclKind;
  ugid: string;
  roleid: string;
}

function verifyUser(userid: string): void {
  try {
    verifyUsername(userid);
  } catch (err) {
    if (err instanceof FormatError) throw handlerError(err.message);
    throw err;
  }
}

export const aclHandlers: HandlerTable = {
  "GET /access/acl": (ctx) => {
    const { state, perms } = ctx;
    // Callers with Sys.Audit on /access see everything; others only paths they may modify.
    const canAll = isRootTicket(ctx.caller) || perms.check("/access", ["Sys.Audit"], false, true);
    const out: Record<string, unknown>[] = [];
    for (const path of [...state.acl.keys()].sort(compareAclPaths)) {
      if (!canAll && !perms.checkPermModify(path, true)) continue;
      const node = state.acl.get(path)!;
      const entries: Record<string, unknown>[] = [];
      for (const kind of ["users", "groups", "tokens"] as const) {
        for (const [ugid, roles] of node[kind]) {
          for (const [roleid, propagate] of roles) {
            entries.push({ path, type: TYPE_OF[kind], ugid, roleid, propagate });
          }
        }
      }
      // Within one path the order comes from Perl hashes (errata 16).
      out.push(...ctx.shuffle(entries));
    }
    return out;
  },

  "PUT /access/acl": (ctx) => {
    const { state, perms } = ctx;
    const users = param(ctx, "users");
    const groups = param(ctx, "groups");
    const tokens = param(ctx, "tokens");
    if (!users && !groups && !tokens) {
      const msg = "either 'users', 'groups' or 'tokens' is required.";
      throw paramError({ users: msg, groups: msg, tokens: msg });
    }
    const rawPath = ctx.params.path!;
    const path = normalizeAclPath(rawPath);
    const del = param(ctx, "delete") === "1";
    // The allowed-path list is only checked when adding, so stale entries can still be removed.
    // Paths newer than the release played are not in its check_path yet (versions.ts).
    if (!path || (!del && !(isValidAclPath(path) && aclPathInRelease(state.version, path)))) {
      throw paramError({ path: `invalid ACL path '${rawPath}'` });
    }
    return inLock(ctx.state, "user.cfg", "ACL update failed", () => {
      const propagateParam = param(ctx, "propagate");
      const propagate: Flag = propagateParam === undefined ? 1 : propagateParam === "1" ? 1 : 0;
      const hasModify = perms.check(path, ["Permissions.Modify"], false, true);
      const own = hasModify ? undefined : perms.privs(path);
      const changes: AclChange[] = [];
      for (const roleid of splitList(ctx.params.roles)) {
        const role = state.roles.get(roleid);
        if (!role) throw handlerError(`role '${roleid}' does not exist`);
        if (own) {
          // Without Permissions.Modify only subsets of one's own (propagating) privileges (spec 3.6).
          const ok =
            roleid !== "NoAccess" &&
            [...role.privs].every((p) => own.has(p) && (!propagate || own.get(p) === true));
          if (!ok) {
            throw paramError({
              role: `Cannot add role '${roleid}' - requires 'Permissions.Modify' or superset of privileges.`,
            });
          }
        }
        for (const g of splitList(groups)) {
          if (!state.groups.has(g)) throw handlerError(`group '${g}' does not exist`);
          changes.push({ kind: "groups", ugid: g, roleid });
        }
        for (const u of splitList(users)) {
          verifyUser(u);
          if (!state.users.has(u)) throw handlerError(`user '${u}' does not exist`);
          changes.push({ kind: "users", ugid: u, roleid });
        }
        for (const t of splitList(tokens)) {
          const id = parseTokenId(t);
          if (!id) throw handlerError(`value '${t}' does not look like a valid token ID`);
          const user = state.users.get(id.userid);
          if (!user) throw handlerError(`no such user ('${id.userid}')`);
          if (!user.tokens.has(id.tokenid)) throw handlerError(`no such token '${id.tokenid}' for user '${id.userid}'`);
          changes.push({ kind: "tokens", ugid: t, roleid });
        }
      }
      // All checks passed: write everything at once (root@pam entries are skipped by setAcl).
      for (const c of changes) {
        if (del) state.deleteAcl(path, c.kind, c.ugid, c.roleid);
        else state.setAcl(path, c.kind, c.ugid, c.roleid, propagate);
      }
      return null;
    });
  },

  "GET /access/permissions": (ctx: HandlerContext) => {
    const { state, caller, perms } = ctx;
    const target = param(ctx, "userid") ?? caller.authid;
    if (target !== caller.authid) {
      const tok = parseTokenId(target);
      const own = tok !== undefined && tok.userid === caller.authid;
      if (!own && !perms.check("/access", ["Sys.Audit"], false, true)) throw permError("/access, Sys.Audit");
    }
    const pathParam = param(ctx, "path");
    let paths: string[];
    if (pathParam !== undefined) paths = [normalizeAclPath(pathParam) ?? pathParam];
    else {
      const set = new Set(["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"]);
      for (const p of state.acl.keys()) set.add(p);
      paths = [...set].sort(compareAclPaths);
    }
    const out: Record<string, Record<string, 0 | 1>> = {};
    for (const p of paths) {
      const privs = target === ROOT || (isRootTicket(caller) && target === caller.authid) ? perms.privs(p) : privsFor(state, target, p);
      if (privs.size === 0) continue;
      const e: Record<string, 0 | 1> = {};
      for (const [priv, prop] of [...privs].sort(([a], [b]) => (a < b ? -1 : 1))) e[priv] = prop ? 1 : 0;
      out[p] = e;
    }
    return out;
  },
};
