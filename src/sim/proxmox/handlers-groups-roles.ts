/** /access/groups (spec 3.4) and /access/roles (spec 3.5, errata 11). */
import { param, type HandlerTable } from "./context.js";
import { handlerError, inLock, paramError } from "./errors.js";
import { splitList } from "./params.js";

export const groupHandlers: HandlerTable = {
  "GET /access/groups": (ctx) => {
    const { state, perms } = ctx;
    const privs = ["User.Modify", "Sys.Audit", "Group.Allocate"];
    const out: Record<string, unknown>[] = [];
    for (const g of state.groups.values()) {
      if (!perms.check(`/access/groups/${g.groupid}`, privs, true, true)) continue;
      const e: Record<string, unknown> = { groupid: g.groupid };
      if (g.comment) e.comment = g.comment;
      e.users = [...g.members].sort().join(",");
      out.push(e);
    }
    return ctx.shuffle(out);
  },

  "POST /access/groups": (ctx) =>
    inLock(ctx.state, "user.cfg", "create group failed", () => {
      const groupid = ctx.params.groupid!;
      if (ctx.state.groups.has(groupid)) throw handlerError(`group '${groupid}' already exists`);
      // errata 11: a group named "0" is accepted and then silently dropped by the config writer.
      if (groupid === "0") return null;
      const comment = param(ctx, "comment");
      ctx.state.groups.set(groupid, { groupid, members: new Set(), ...(comment ? { comment } : {}) });
      return null;
    }),

  "GET /access/groups/{groupid}": (ctx) => {
    const groupid = ctx.params.groupid!;
    const g = ctx.state.groups.get(groupid);
    if (!g) throw handlerError(`group '${groupid}' does not exist`);
    const e: Record<string, unknown> = { members: ctx.shuffle([...g.members]) };
    if (g.comment) e.comment = g.comment;
    return e;
  },

  "PUT /access/groups/{groupid}": (ctx) =>
    inLock(ctx.state, "user.cfg", "update group failed", () => {
      const groupid = ctx.params.groupid!;
      const g = ctx.state.groups.get(groupid);
      if (!g) throw handlerError(`group '${groupid}' does not exist`);
      const comment = param(ctx, "comment");
      if (comment !== undefined) g.comment = comment;
      return null;
    }),

  "DELETE /access/groups/{groupid}": (ctx) =>
    inLock(ctx.state, "user.cfg", "delete group failed", () => {
      const groupid = ctx.params.groupid!;
      if (!ctx.state.groups.has(groupid)) throw handlerError(`group '${groupid}' does not exist`);
      ctx.state.deleteGroup(groupid); // also its ACL entries and memberships (spec 5.3)
      return null;
    }),
};

export const roleHandlers: HandlerTable = {
  "GET /access/roles": (ctx) =>
    ctx.shuffle(
      [...ctx.state.roles.values()].map((r) => ({
        roleid: r.roleid,
        privs: [...r.privs].sort().join(","),
        special: r.special ? 1 : 0,
      })),
    ),

  "POST /access/roles": (ctx) => {
    const roleid = ctx.params.roleid!;
    // spec 3.5: checked before the lock, so this one is a real 400.
    if (/^pve/i.test(roleid)) {
      throw paramError({ roleid: "cannot use role ID starting with the (case-insensitive) 'PVE' namespace" });
    }
    return inLock(ctx.state, "user.cfg", "create role failed", () => {
      if (ctx.state.roles.has(roleid)) throw handlerError(`role '${roleid}' already exists`);
      if (roleid === "0") return null; // errata 11: accepted, then silently dropped
      ctx.state.roles.set(roleid, { roleid, privs: new Set(splitList(param(ctx, "privs"))), special: false });
      return null;
    });
  },

  "GET /access/roles/{roleid}": (ctx) => {
    const roleid = ctx.params.roleid!;
    const r = ctx.state.roles.get(roleid);
    if (!r) throw handlerError(`role '${roleid}' does not exist`);
    const out: Record<string, 1> = {};
    for (const p of ctx.shuffle([...r.privs])) out[p] = 1;
    return out;
  },

  "PUT /access/roles/{roleid}": (ctx) => {
    const roleid = ctx.params.roleid!;
    if (ctx.state.roles.get(roleid)?.special) throw handlerError(`auto-generated role '${roleid}' cannot be modified`);
    return inLock(ctx.state, "user.cfg", "update role failed", () => {
      const r = ctx.state.roles.get(roleid);
      if (!r) throw handlerError(`role '${roleid}' does not exist`);
      const privs = splitList(param(ctx, "privs"));
      // Without append the privileges are REPLACED; a PUT without privs empties the role (spec 3.5).
      if (param(ctx, "append") === "1") for (const p of privs) r.privs.add(p);
      else r.privs = new Set(privs);
      return null;
    });
  },

  "DELETE /access/roles/{roleid}": (ctx) => {
    const roleid = ctx.params.roleid!;
    if (ctx.state.roles.get(roleid)?.special) throw handlerError(`auto-generated role '${roleid}' cannot be deleted`);
    return inLock(ctx.state, "user.cfg", "delete role failed", () => {
      if (!ctx.state.roles.has(roleid)) throw handlerError(`role '${roleid}' does not exist`);
      ctx.state.roles.delete(roleid);
      ctx.state.removeRoleAcl(roleid); // entries vanish on the next read of user.cfg (spec 3.5)
      return null;
    });
  },
};
