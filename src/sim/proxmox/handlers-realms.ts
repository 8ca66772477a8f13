/** /access/domains: realms (spec 3.1, errata 1, 2, 5, 6). */
import { REALM_PLUGINS, type RealmType } from "./constants.js";
import { param, type HandlerContext, type HandlerTable } from "./context.js";
import { handlerError, inLock, paramError } from "./errors.js";
import { splitList, truthy, type Params } from "./params.js";
import type { RealmRec } from "./state.js";

/** Parameters that are not realm options (extracted by the handler before check_config). */
const NON_OPTIONS = new Set(["realm", "type", "check-connection", "password", "delete", "digest"]);

/**
 * SectionConfig check_config: null values, fixed options, options the type does not have, and on
 * create the required ones. Values come back typed (booleans and integers as numbers).
 */
function checkConfig(
  ctx: HandlerContext,
  type: RealmType,
  params: Params,
  create: boolean,
): Map<string, string | number> {
  const plugin = REALM_PLUGINS[type];
  const out = new Map<string, string | number>();
  for (const [k, v] of Object.entries(params)) {
    if (NON_OPTIONS.has(k)) continue;
    if (!create && plugin.fixed.has(k)) throw handlerError(`can't change value of fixed parameter '${k}'`);
    if (v === null) throw handlerError(`got undefined value for option '${k}'`); // errata 6
    if (!plugin.options.has(k)) throw handlerError(`unexpected property '${k}'`);
    // SectionConfig check_value (pve-common): runs even with skipSchemaCheck, so every realm option
    // is refused with a CR or LF anywhere in it (a YAML folded scalar ends in "\n": issue 8, item 4).
    if (/[\n\r]/.test(v)) throw handlerError("property contains a line feed");
    const t = ctx.info.properties[k]?.type;
    out.set(k, t === "boolean" || t === "integer" || t === "number" ? Number(v) : v);
  }
  if (create) {
    for (const [k, required] of plugin.options) {
      if (required && !out.has(k)) throw handlerError(`missing value for required option '${k}'`);
    }
  }
  return out;
}

function clearDefaults(ctx: HandlerContext, except: string): void {
  for (const r of ctx.state.realms.values()) {
    if (r.realm !== except) r.opts.delete("default");
  }
}

function tfaType(tfa: string | number | undefined): string | undefined {
  if (typeof tfa !== "string") return undefined;
  for (const part of tfa.split(",")) {
    const m = /^(?:type=)?(oath|yubico)$/.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

export const realmHandlers: HandlerTable = {
  "GET /access/domains": (ctx) =>
    ctx.shuffle(
      [...ctx.state.realms.values()].map((r) => {
        const e: Record<string, unknown> = { realm: r.realm, type: r.type };
        const comment = r.opts.get("comment");
        if (comment !== undefined && comment !== "" && comment !== "0") e.comment = comment; // `if $d->{comment}`
        if (r.opts.get("default")) e.default = 1;
        const tfa = tfaType(r.opts.get("tfa"));
        if (tfa) e.tfa = tfa;
        return e;
      }),
    ),

  "POST /access/domains": (ctx) =>
    inLock(ctx.state, "domains.cfg", "add auth server failed", async () => {
      const realm = ctx.params.realm!;
      const type = ctx.params.type as RealmType;
      const checkConnection = param(ctx, "check-connection");
      if (ctx.state.realms.has(realm)) throw handlerError(`domain '${realm}' already exists`);
      if (type === "pam" || type === "pve") throw handlerError(`unable to create builtin type '${type}'`);
      if (checkConnection !== undefined && type !== "ldap" && type !== "ad") {
        throw handlerError("'check-connection' parameter can only be set for realms of type 'ldap' or 'ad'");
      }
      const opts = checkConfig(ctx, type, ctx.params, true);
      // check-connection=1 would test-bind the LDAP server; the simulator has none and accepts it.
      if (opts.get("default")) clearDefaults(ctx, realm);
      const rec: RealmRec = { realm, type, opts };
      const password = param(ctx, "password");
      // The bind password only exists for ldap/ad (on_add_hook); other types ignore it.
      if (password !== undefined && (type === "ldap" || type === "ad")) rec.bindPassword = password;
      await ctx.cfsWrite();
      ctx.state.realms.set(realm, rec);
      ctx.state.realmsChanged();
      return null;
    }),

  "GET /access/domains/{realm}": (ctx) => {
    const realm = ctx.params.realm!;
    const rec = ctx.state.realms.get(realm);
    if (!rec) throw handlerError(`domain '${realm}' does not exist`);
    const out: Record<string, unknown> = { type: rec.type };
    for (const [k, v] of rec.opts) {
      // spec 3.1.3: client-key IS returned (faithful to source); omitClientKey switches it off.
      if (k === "client-key" && ctx.omitClientKey) continue;
      out[k] = v;
    }
    if (rec.type === "pam") out.plugin = "PVE::Auth::PAM";
    out.digest = ctx.state.digest();
    return out;
  },

  "PUT /access/domains/{realm}": (ctx) =>
    inLock(ctx.state, "domains.cfg", "update auth server failed", async () => {
      const { state } = ctx;
      const digest = param(ctx, "digest");
      // pve-common Tools assert_if_modified: only a Perl-true digest is compared (so "" and "0" skip it).
      if (truthy(digest) && digest !== state.digest()) {
        throw handlerError("detected modified configuration - file changed by other user? Try again.");
      }
      const realm = ctx.params.realm!;
      const rec = state.realms.get(realm);
      const type = rec?.type;
      if (param(ctx, "check-connection") !== undefined && type !== "ldap" && type !== "ad") {
        throw handlerError("'check-connection' parameter can only be set for realms of type 'ldap' or 'ad'");
      }
      const deleteStr = param(ctx, "delete");
      const password = param(ctx, "password");
      const optionKeys = Object.keys(ctx.params).filter((k) => !NON_OPTIONS.has(k));
      if (!truthy(deleteStr) && optionKeys.length === 0 && password === undefined) {
        throw handlerError("no options specified");
      }
      // errata 1: the handler auto-creates an empty entry while reading the type, so a missing
      // realm fails in the plugin lookup rather than with "does not exist".
      if (!rec) throw handlerError("cannot lookup undefined type!");
      const opts = new Map(rec.opts);
      let deletePw = false;
      for (const opt of splitList(deleteStr)) {
        opts.delete(opt);
        if (opt === "password") deletePw = true;
      }
      const config = checkConfig(ctx, rec.type, ctx.params, false);
      for (const [k, v] of config) opts.set(k, v);
      // errata 5: deleting a required option fails and changes nothing.
      for (const [k, required] of REALM_PLUGINS[rec.type].options) {
        if (required && !opts.has(k)) throw handlerError(`missing value for required option '${k}'`);
      }
      // Everything above is the read and the checks; the write to pmxcfs takes time, and only the
      // lock keeps another writer from passing the same digest check meanwhile (rule 7 of issue 8).
      await ctx.cfsWrite();
      if (config.get("default")) clearDefaults(ctx, realm);
      rec.opts = opts;
      if (rec.type === "ldap" || rec.type === "ad") {
        if (password !== undefined) rec.bindPassword = password;
        else if (deletePw) delete rec.bindPassword;
      }
      state.realmsChanged();
      return null;
    }),

  "DELETE /access/domains/{realm}": (ctx) =>
    inLock(ctx.state, "domains.cfg", "delete auth server failed", async () => {
      const realm = ctx.params.realm!;
      if (!ctx.state.realms.has(realm)) throw handlerError(`authentication domain '${realm}' does not exist`);
      await ctx.cfsWrite();
      // spec 3.1.6 / 5.3: users, groups and ACL entries of the realm stay. Deleting pam or pve
      // "succeeds" and the next read re-creates the realm with its default comment (SimState.reread).
      ctx.state.realms.delete(realm);
      ctx.state.realmsChanged();
      return null;
    }),

  "POST /access/domains/{realm}/sync": (ctx) => {
    const realm = ctx.params.realm!;
    const rec = ctx.state.realms.get(realm);
    if (!rec) throw paramError({ realm: "Realm does not exist." });
    if (rec.type !== "ldap" && rec.type !== "ad") {
      throw handlerError(`Cannot sync realm type '${rec.type}'! Only LDAP/AD realms can be synced.`);
    }
    const defaults = String(rec.opts.get("sync-defaults-options") ?? "");
    if (param(ctx, "scope") === undefined && !/(?:^|,)scope=/.test(defaults)) {
      throw paramError({ scope: "property is missing and it is not optional" });
    }
    // No LDAP server behind the simulator: the task is accepted and does nothing.
    const now = Math.floor(Date.now() / 1000).toString(16).toUpperCase().padStart(8, "0");
    return `UPID:sim:00000001:00000001:${now}:auth-realm-sync:${realm}:${ctx.caller.authid}:`;
  },
};
