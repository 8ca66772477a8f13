/** /access/users and /access/users/{userid}/token (spec 3.2, 3.3, errata 4, 8, 10, 13). */
import { randomUUID } from "node:crypto";
import { param, type HandlerContext, type HandlerTable } from "./context.js";
import { handlerError, inLock, paramError } from "./errors.js";
import { splitList, truthy, verifyUsername } from "./params.js";
import type { TokenRec, UserRec } from "./state.js";

const TEXT_FIELDS = ["firstname", "lastname", "email", "comment", "keys"] as const;

/**
 * extract_user_data as it looks after a round trip through user.cfg: Perl-false text fields are
 * dropped, except that `email` is "" when a later field (comment, keys) is set (errata 10).
 */
function userData(u: UserRec): Record<string, unknown> {
  const e: Record<string, unknown> = { enable: u.enable };
  if (u.expire !== undefined) e.expire = u.expire;
  if (truthy(u.firstname)) e.firstname = u.firstname;
  if (truthy(u.lastname)) e.lastname = u.lastname;
  if (u.email) e.email = u.email;
  else if (u.comment || u.keys) e.email = "";
  if (truthy(u.comment)) e.comment = u.comment;
  if (truthy(u.keys)) e.keys = u.keys;
  return e;
}

function tokenInfo(t: TokenRec): Record<string, unknown> {
  const e: Record<string, unknown> = { privsep: t.privsep, expire: t.expire ?? 0 };
  if (t.comment) e.comment = t.comment;
  return e;
}

function requireUser(ctx: HandlerContext, userid: string): UserRec {
  const u = ctx.state.users.get(userid);
  if (!u) throw handlerError(`no such user ('${userid}')`);
  return u;
}

function requireToken(ctx: HandlerContext, user: UserRec, tokenid: string): TokenRec {
  const t = user.tokens.get(tokenid);
  if (!t) throw handlerError(`no such token '${tokenid}' for user '${user.userid}'`);
  return t;
}

/** lookup_username: ldap/ad realms with case-sensitive=0 compare user names case-insensitively. */
function findExisting(ctx: HandlerContext, userid: string): string | undefined {
  if (ctx.state.users.has(userid)) return userid;
  const { realm } = verifyUsername(userid);
  const rec = ctx.state.realms.get(realm);
  if (rec && (rec.type === "ldap" || rec.type === "ad") && rec.opts.get("case-sensitive") === 0) {
    const lower = userid.toLowerCase();
    for (const id of ctx.state.users.keys()) if (id.toLowerCase() === lower) return id;
  }
  return undefined;
}

export const userHandlers: HandlerTable = {
  "GET /access/users": (ctx) => {
    const { state, perms, caller } = ctx;
    const full = param(ctx, "full") === "1";
    const enabled = param(ctx, "enabled");
    const privs = ["User.Modify", "Sys.Audit"];
    const canAll = perms.check("/access/groups", privs, true, true);
    let allowed: Set<string> | undefined;
    if (!canAll) {
      allowed = new Set();
      for (const g of perms.allowedGroups(privs)) for (const m of state.groups.get(g)!.members) allowed.add(m);
    }
    // errata 16: the user list is sorted (Perl `sort keys`), never shuffled.
    const ids = [...state.users.keys()].sort();
    const out: Record<string, unknown>[] = [];
    for (const id of ids) {
      if (allowed && id !== caller.authid && !allowed.has(id)) continue;
      const u = state.users.get(id)!;
      if (enabled !== undefined && (enabled === "1") !== (u.enable === 1)) continue;
      const e = userData(u);
      if (full) {
        e.groups = [...u.groups].sort().join(",");
        e.tokens =
          u.tokens.size === 0
            ? null
            : ctx.shuffle([...u.tokens.values()].map((t) => ({ tokenid: t.tokenid, ...tokenInfo(t) })));
      }
      e.userid = id;
      const realm = state.realms.get(id.slice(id.lastIndexOf("@") + 1));
      if (realm) e["realm-type"] = realm.type;
      out.push(e);
    }
    return out;
  },

  "POST /access/users": (ctx) =>
    inLock(ctx.state, "user.cfg", "create user failed", () => {
      const { state } = ctx;
      const userid = ctx.params.userid!;
      const { realm } = verifyUsername(userid);
      const existing = findExisting(ctx, userid);
      if (existing) throw handlerError(`user '${existing}' already exists`);
      const password = param(ctx, "password");
      if (password !== undefined) {
        const rec = state.realms.get(realm);
        if (!rec) throw handlerError(`auth domain '${realm}' does not exist`);
        if (rec.type !== "pve" && rec.type !== "pam") throw handlerError(`can't set password on auth type '${rec.type}'`);
      }
      const groupsParam = param(ctx, "groups");
      const groups = truthy(groupsParam) ? splitList(groupsParam) : [];
      for (const g of groups) if (!state.groups.has(g)) throw handlerError(`no such group '${g}'`);
      const enable = param(ctx, "enable");
      const expire = param(ctx, "expire");
      const user: UserRec = {
        userid,
        enable: enable === "0" ? 0 : 1,
        expire: truthy(expire) ? Number(expire) : 0,
        groups: new Set(),
        tokens: new Map(),
      };
      // Empty strings (and Perl-false "0") are not stored on create.
      for (const f of TEXT_FIELDS) {
        const v = param(ctx, f);
        if (truthy(v)) user[f] = v;
      }
      if (password !== undefined) user.password = password;
      state.users.set(userid, user);
      for (const g of groups) state.addMembership(userid, g);
      return null;
    }),

  "GET /access/users/{userid}": (ctx) => {
    const u = requireUser(ctx, ctx.params.userid!);
    const e = userData(u);
    e.groups = [...u.groups].sort();
    if (u.tokens.size === 0) e.tokens = null;
    else {
      const tokens: Record<string, unknown> = {};
      for (const t of ctx.shuffle([...u.tokens.values()])) tokens[t.tokenid] = tokenInfo(t);
      e.tokens = tokens;
    }
    return e;
  },

  "PUT /access/users/{userid}": (ctx) =>
    inLock(ctx.state, "user.cfg", "update user failed", () => {
      const { state } = ctx;
      const u = requireUser(ctx, ctx.params.userid!);
      const groupsParam = param(ctx, "groups");
      const append = truthy(param(ctx, "append"));
      const groups = truthy(groupsParam) ? splitList(groupsParam) : [];
      for (const g of groups) if (!state.groups.has(g)) throw handlerError(`no such group '${g}'`);
      const enable = param(ctx, "enable");
      const expire = param(ctx, "expire");
      if (enable !== undefined) u.enable = enable === "1" ? 1 : 0;
      if (expire !== undefined) u.expire = Number(expire);
      // groups without append REPLACES the membership set; groups="" removes all (spec 3.2).
      if (!append && groupsParam !== undefined) state.removeAllMemberships(u.userid);
      for (const g of groups) state.addMembership(u.userid, g);
      // An empty string clears a field.
      for (const f of TEXT_FIELDS) {
        const v = param(ctx, f);
        if (v !== undefined) u[f] = v;
      }
      return null;
    }),

  "DELETE /access/users/{userid}": (ctx) =>
    inLock(ctx.state, "user.cfg", "delete user failed", () => {
      // The handler itself never checks existence: a root@pam ticket deleting a missing user gets
      // 200/null; everyone else fails earlier in the permission check (spec 3.2, 5.2).
      ctx.state.deleteUser(ctx.params.userid!);
      return null;
    }),

  "GET /access/users/{userid}/tfa": (ctx) => {
    const u = requireUser(ctx, ctx.params.userid!);
    const realm = u.userid.slice(u.userid.lastIndexOf("@") + 1);
    const rec = ctx.state.realms.get(realm);
    const out: Record<string, unknown> = { user: "none" };
    const tfa = rec?.opts.get("tfa");
    if (typeof tfa === "string") out.realm = tfa.replace(/^type=/, "").split(",")[0];
    if (param(ctx, "multiple") === "1") out.types = [];
    return out;
  },

  "PUT /access/users/{userid}/unlock-tfa": (ctx) => {
    requireUser(ctx, ctx.params.userid!);
    return 0;
  },

  // --- tokens ------------------------------------------------------------------------------

  "GET /access/users/{userid}/token": (ctx) => {
    const u = requireUser(ctx, ctx.params.userid!);
    return ctx.shuffle([...u.tokens.values()].map((t) => ({ tokenid: t.tokenid, ...tokenInfo(t) })));
  },

  "GET /access/users/{userid}/token/{tokenid}": (ctx) => {
    const u = requireUser(ctx, ctx.params.userid!);
    return tokenInfo(requireToken(ctx, u, ctx.params.tokenid!));
  },

  "POST /access/users/{userid}/token/{tokenid}": (ctx) => {
    const u = requireUser(ctx, ctx.params.userid!);
    const tokenid = ctx.params.tokenid!;
    // spec 3.3: an existing token is a 400, unlike every other "already exists".
    if (u.tokens.has(tokenid)) throw paramError({ tokenid: "Token already exists." });
    const privsep = param(ctx, "privsep");
    const expire = param(ctx, "expire");
    const comment = param(ctx, "comment");
    ctx.state.userCfgChanged();
    const token = ctx.state.newToken(
      u.userid,
      tokenid,
      privsep === "0" ? 0 : 1,
      expire !== undefined ? Number(expire) : undefined,
      truthy(comment) ? comment : undefined,
    );
    // errata 4: echoed values are the validated strings; only a defaulted privsep is the number 1.
    const info: Record<string, unknown> = { privsep: privsep ?? 1 };
    if (expire !== undefined) info.expire = expire;
    if (truthy(comment)) info.comment = comment;
    return { "full-tokenid": `${u.userid}!${tokenid}`, info, value: token.secret };
  },

  "PUT /access/users/{userid}/token/{tokenid}": (ctx) => {
    const u = requireUser(ctx, ctx.params.userid!);
    const t = requireToken(ctx, u, ctx.params.tokenid!);
    const del = param(ctx, "delete");
    const toDelete = splitList(del);
    for (const k of toDelete) {
      if (k !== "comment") throw handlerError(`delete: unknown option '${k}'`);
    }
    const privsep = param(ctx, "privsep");
    const expire = param(ctx, "expire");
    const comment = param(ctx, "comment");
    ctx.state.userCfgChanged();
    if (privsep !== undefined) t.privsep = privsep === "1" ? 1 : 0;
    if (expire !== undefined) t.expire = Number(expire);
    if (toDelete.includes("comment") || comment === "") delete t.comment;
    else if (comment !== undefined) t.comment = comment;
    const out: Record<string, unknown> = tokenInfo(t);
    // errata 4: values sent in this call come back as strings.
    if (privsep !== undefined) out.privsep = privsep;
    if (expire !== undefined) out.expire = expire;
    if (truthy(param(ctx, "regenerate"))) {
      t.secret = randomUUID();
      out.value = t.secret;
      out["full-tokenid"] = `${u.userid}!${t.tokenid}`;
    }
    return out;
  },

  "DELETE /access/users/{userid}/token/{tokenid}": (ctx) => {
    const u = requireUser(ctx, ctx.params.userid!);
    const t = requireToken(ctx, u, ctx.params.tokenid!);
    ctx.state.userCfgChanged();
    ctx.state.deleteToken(u.userid, t.tokenid);
    return null;
  },
};

