/**
 * Index pages, login (POST /access/ticket, spec 2.2), password change, the OpenID login endpoints
 * (implemented in openid.ts), and thin stand-ins for TFA and VNC tickets, which the reconciler does
 * not use.
 */
import { userUsable } from "./auth.js";
import { param, type HandlerContext, type HandlerTable } from "./context.js";
import { ApiError, handlerError } from "./errors.js";
import { verifyUsername } from "./params.js";
import { privsFor } from "./permissions.js";
import { ROOT } from "./state.js";
import { versionInfo } from "./versions.js";

/** A failed login: 401 with the JSON envelope, unlike pre-handler 401s (spec 2.4). */
const authFailure = (): ApiError => new ApiError(401, "authentication failure\n");

const CAP_AREAS: Record<string, { path: string; prefixes: string[]; extra?: string[] }> = {
  vms: { path: "/vms", prefixes: ["VM."], extra: ["Permissions.Modify"] },
  storage: { path: "/storage", prefixes: ["Datastore."], extra: ["Permissions.Modify"] },
  access: { path: "/access", prefixes: ["User.", "Group.", "Realm."], extra: ["Permissions.Modify"] },
  nodes: { path: "/nodes", prefixes: ["Sys."], extra: ["Permissions.Modify"] },
  dc: { path: "/", prefixes: ["Sys.Audit", "Sys.Modify", "SDN."], extra: [] },
  sdn: { path: "/sdn", prefixes: ["SDN."], extra: ["Permissions.Modify"] },
  mapping: { path: "/mapping", prefixes: ["Mapping."], extra: ["Permissions.Modify"] },
};

function capabilities(ctx: HandlerContext, userid: string): Record<string, Record<string, 1>> {
  const out: Record<string, Record<string, 1>> = {};
  for (const [area, def] of Object.entries(CAP_AREAS)) {
    const privs = privsFor(ctx.state, userid, def.path);
    const e: Record<string, 1> = {};
    for (const p of privs.keys()) {
      if (def.prefixes.some((x) => p.startsWith(x)) || def.extra?.includes(p)) e[p] = 1;
    }
    out[area] = e;
  }
  return out;
}

function checkPassword(ctx: HandlerContext, userid: string, password: string): boolean {
  const user = ctx.state.users.get(userid);
  if (!userUsable(user, Math.floor(Date.now() / 1000))) return false;
  if (userid === ROOT) return password === (user.password ?? ctx.state.rootPassword);
  const realm = ctx.state.realms.get(userid.slice(userid.lastIndexOf("@") + 1));
  if (!realm || (realm.type !== "pve" && realm.type !== "pam")) return false;
  return user.password !== undefined && user.password === password;
}

export const miscHandlers: HandlerTable = {
  /** `{version, release, repoid}` of the release played (ProxmoxSimOptions.version). */
  "GET /version": (ctx) => versionInfo(ctx.state.version),

  "GET /access": () =>
    ["users", "groups", "roles", "acl", "domains", "openid", "tfa", "ticket", "password", "permissions"].map(
      (subdir) => ({ subdir }),
    ),

  "GET /access/ticket": () => null,

  "POST /access/ticket": (ctx) => {
    let username = ctx.params.username!;
    const realm = param(ctx, "realm");
    if (realm !== undefined) username = `${username}@${realm}`;
    try {
      verifyUsername(username);
    } catch {
      throw authFailure();
    }
    const password = ctx.params.password!;
    // A valid ticket as password renews it; root@pam may mint one for another user (spec 2.2).
    const ticketUser = ctx.signer.verifyTicket(password);
    let ok = false;
    if (ticketUser !== undefined) {
      ok = (ticketUser === username || ticketUser === ROOT) && userUsable(ctx.state.users.get(username), Math.floor(Date.now() / 1000));
    } else {
      ok = checkPassword(ctx, username, password);
    }
    if (!ok) throw authFailure();
    const path = param(ctx, "path");
    const privs = param(ctx, "privs");
    if (path !== undefined && privs !== undefined) {
      // Verify mode: is the ticket valid and does its user hold the privileges?
      const have = privsFor(ctx.state, username, path);
      if (!privs.split(/[,;\s]+/).filter(Boolean).every((p) => have.has(p))) throw authFailure();
      return { username };
    }
    return {
      username,
      ticket: ctx.signer.ticket(username),
      CSRFPreventionToken: ctx.signer.csrf(username),
      cap: capabilities(ctx, username),
    };
  },

  "PUT /access/password": (ctx) => {
    const userid = ctx.params.userid!;
    const user = ctx.state.users.get(userid);
    if (!user) throw handlerError(`no such user ('${userid}')`);
    const realm = ctx.state.realms.get(userid.slice(userid.lastIndexOf("@") + 1));
    if (!realm) throw handlerError(`auth domain '${userid.slice(userid.lastIndexOf("@") + 1)}' does not exist`);
    if (realm.type !== "pve" && realm.type !== "pam") throw handlerError(`can't set password on auth type '${realm.type}'`);
    if (ctx.caller.authid !== ROOT) {
      const confirm = param(ctx, "confirmation-password");
      if (confirm === undefined || !checkPassword(ctx, ctx.caller.authid, confirm)) throw authFailure();
    }
    user.password = ctx.params.password!;
    return null;
  },


  "GET /access/openid": () => [{ subdir: "auth-url" }, { subdir: "login" }],

  // The OpenID login as Proxmox performs it: discovery, state, code exchange, ID token (openid.ts).
  "POST /access/openid/auth-url": (ctx) => ctx.openid.authUrl(ctx),

  "POST /access/openid/login": (ctx) =>
    ctx.openid.login(ctx, ctx.clientIp, (username) => ({
      ticket: ctx.signer.ticket(username),
      username,
      CSRFPreventionToken: ctx.signer.csrf(username),
      cap: capabilities(ctx, username),
    })),

  "GET /access/tfa": () => [],
  "GET /access/tfa/{userid}": (ctx) => {
    if (!ctx.state.users.has(ctx.params.userid!)) throw handlerError(`no such user ('${ctx.params.userid}')`);
    return [];
  },
  "GET /access/tfa/{userid}/{id}": (ctx) => {
    throw handlerError(`no such tfa entry '${ctx.params.id}'`);
  },
  "POST /access/tfa/{userid}": () => {
    throw handlerError("TFA is not supported by the simulator");
  },
  "PUT /access/tfa/{userid}/{id}": (ctx) => {
    throw handlerError(`no such tfa entry '${ctx.params.id}'`);
  },
  "DELETE /access/tfa/{userid}/{id}": (ctx) => {
    throw handlerError(`no such tfa entry '${ctx.params.id}'`);
  },
  "POST /access/vncticket": () => {
    throw authFailure();
  },
};
