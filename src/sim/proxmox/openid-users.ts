/**
 * What OpenId.pm does once the provider's claims are verified: the user name from the username claim, autocreate or
 * the enabled/expiry check, and the groups claim mapped to `<group>-<realm>` groups (groups-autocreate,
 * groups-overwrite), logging as Proxmox does.
 */
import { userUsable } from "./auth.js";
import { handlerError, inLock } from "./errors.js";
import { OidcError } from "./openid-discovery.js";
import type { Claims } from "./openid-jwt.js";
import { verifyUsername } from "./params.js";
import type { RealmRec, SimState, UserRec } from "./state.js";
import type { SyslogEntry } from "./types.js";

type Syslog = (level: SyslogEntry["level"], message: string) => void;

/** OpenId.pm after verify_authorization_code: user name, autocreate / enabled check, groups. */
export async function mapUser(
  state: SimState,
  realm: string,
  rec: RealmRec,
  info: Claims,
  opt: (k: string) => string | number | undefined,
  node: { syslog: Syslog; nowS: number },
): Promise<string> {
  const userAttr = String(rec.opts.get("username-claim") ?? "sub");
  let unique: unknown;
  if (info[userAttr] !== undefined && info[userAttr] !== null) unique = info[userAttr];
  else if (userAttr === "subject") unique = info.sub; // stay compat with old versions
  else if (userAttr === "username") {
    unique = info.preferred_username;
    if (unique === undefined || unique === null) throw new OidcError("missing claim 'preferred_username'");
  } else throw new OidcError(`missing configured claim '${userAttr}' in returned info object`);
  // Perl interpolates whatever the claim holds; an array or object would become "ARRAY(0x…)",
  // a user id nobody wants: the simulator refuses those instead (documented deviation).
  if (typeof unique === "boolean") unique = unique ? "1" : "";
  if (typeof unique !== "string" && typeof unique !== "number") {
    throw new OidcError(`claim '${userAttr}' is not a string (simulator: Perl would interpolate a reference)`);
  }
  const username = `${String(unique)}@${realm}`;
  try {
    verifyUsername(username);
  } catch (e) {
    throw new OidcError((e as Error).message);
  }

  const nowS = node.nowS;
  if (opt("autocreate") !== undefined && Number(opt("autocreate")) !== 0 && !state.users.has(username)) {
    await inLock(state, "user.cfg", "autocreate openid user failed", () => {
      if (state.users.has(username)) throw handlerError(`user '${username}' already exists`);
      const entry: UserRec = { userid: username, enable: 1, expire: 0, groups: new Set(), tokens: new Map() };
      if (info.email !== undefined && info.email !== null) entry.email = String(info.email);
      if (info.given_name !== undefined && info.given_name !== null) entry.firstname = String(info.given_name);
      if (info.family_name !== undefined && info.family_name !== null) entry.lastname = String(info.family_name);
      state.users.set(username, entry);
    });
  } else {
    // check_user_enabled
    const user = state.users.get(username);
    if (!user) throw new OidcError(`no such user ('${username}')`);
    if (!user.enable) throw new OidcError(`user '${username}' is disabled`);
    if (!userUsable(user, nowS)) throw new OidcError(`user '${username}' access expired`);
  }

  const groupsClaim = opt("groups-claim");
  if (groupsClaim !== undefined) await mapGroups(state, realm, username, String(groupsClaim), info, opt, node.syslog);
  return username;
}

async function mapGroups(
  state: SimState,
  realm: string,
  username: string,
  claim: string,
  info: Claims,
  opt: (k: string) => string | number | undefined,
  log: Syslog,
): Promise<void> {
  const list = info[claim];
  if (list === undefined || list === null) {
    log("err", `openid groups claim '${claim}' is not found in claims`);
    return;
  }
  if (!Array.isArray(list)) {
    log("err", "openid groups list is not an array; groups will not be updated");
    return;
  }
  await inLock(state, "user.cfg", "openid group mapping failed", () => {
    const oidcGroups = new Set<string>();
    for (const g of list) {
      const name = typeof g === "string" || typeof g === "number" ? String(g) : undefined;
      // verify_groupname on the claim entry (not on "<entry>-<realm>")
      if (name !== undefined && /^[A-Za-z0-9.\-_]+$/.test(name)) oidcGroups.add(`${name}-${realm}`);
      else log("warn", `openid group '${name ?? JSON.stringify(g)}' contains invalid characters`);
    }
    let join = new Set([...oidcGroups].filter((g) => state.groups.has(g)));
    if (flag(opt("groups-autocreate"))) {
      join = oidcGroups;
      const create = [...oidcGroups].filter((g) => !state.groups.has(g)).sort();
      if (create.length > 0) log("info", `groups created automatically from openid claim: ${create.join(", ")}`);
    }
    if (flag(opt("groups-overwrite"))) {
      state.removeAllMemberships(username);
      log("info", `openid overwrite groups enabled; user '${username}' removed from all groups`);
    }
    if (join.size > 0) {
      for (const g of join) {
        // add_user_group autovivifies a missing group (no comment): that is the autocreate.
        if (!state.groups.has(g)) state.groups.set(g, { groupid: g, members: new Set() });
        state.addMembership(username, g);
      }
      log("info", `openid user '${username}' added to groups: ${[...join].sort().join(", ")}`);
    }
  });
}

function flag(v: string | number | undefined): boolean {
  return v !== undefined && Number(v) !== 0;
}
