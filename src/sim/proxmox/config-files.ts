/**
 * Seed the simulator from real configuration files (spec section 7): /etc/pve/user.cfg,
 * /etc/pve/domains.cfg and /etc/pve/priv/token.cfg, turned into a ProxmoxFixture.
 * Pools are ignored; built-in roles and root@pam ACL entries are skipped as PVE's writer does.
 */
import { loadRoutes } from "./apidoc.js";
import { BUILTIN_ROLES } from "./constants.js";
import type { FixtureAcl, FixtureRealm, FixtureToken, FixtureUser, ProxmoxFixture } from "./types.js";

/** decode_text: percent-escapes for ":", "%", control characters and non-ASCII (UTF-8). */
function decodeText(s: string | undefined): string {
  if (!s) return "";
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const list = (s: string | undefined): string[] => (s ? s.split(",").map((x) => x.trim()).filter(Boolean) : []);

export interface ConfigFiles {
  userCfg?: string;
  domainsCfg?: string;
  /** priv/token.cfg: "<full-token-id> <uuid>" per line */
  tokenCfg?: string;
}

export function parseUserCfg(text: string, secrets: Map<string, string> = new Map()): ProxmoxFixture {
  const users: FixtureUser[] = [];
  const groups: Array<{ groupid: string; comment?: string }> = [];
  const members = new Map<string, string[]>();
  const roles: Array<{ roleid: string; privs: string[] }> = [];
  const tokens: FixtureToken[] = [];
  const acl: FixtureAcl[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    switch (f[0]) {
      case "user": {
        const u: FixtureUser = { userid: f[1]!, enable: f[2] === "0" ? 0 : 1, expire: Number(f[3] || 0) };
        const [firstname, lastname, email, comment, keys] = [f[4], f[5], f[6], f[7], f[8]];
        if (firstname) u.firstname = decodeText(firstname);
        if (lastname) u.lastname = decodeText(lastname);
        if (email) u.email = email;
        if (comment) u.comment = decodeText(comment);
        if (keys) u.keys = keys;
        users.push(u);
        break;
      }
      case "token": {
        const full = f[1]!;
        const bang = full.lastIndexOf("!");
        const t: FixtureToken = { userid: full.slice(0, bang), tokenid: full.slice(bang + 1), privsep: f[3] === "0" ? 0 : 1 };
        if (f[2] && f[2] !== "0") t.expire = Number(f[2]);
        if (f[4]) t.comment = decodeText(f[4]);
        const secret = secrets.get(full);
        if (secret) t.secret = secret;
        tokens.push(t);
        break;
      }
      case "group": {
        const g: { groupid: string; comment?: string } = { groupid: f[1]! };
        if (f[3]) g.comment = decodeText(f[3]);
        groups.push(g);
        members.set(g.groupid, list(f[2]));
        break;
      }
      case "role":
        if (!BUILTIN_ROLES.has(f[1]!)) roles.push({ roleid: f[1]!, privs: list(f[2]) });
        break;
      case "acl": {
        const propagate = f[1] === "0" ? 0 : 1;
        const path = f[2]!;
        for (const ugid of list(f[3])) {
          for (const roleid of list(f[4])) {
            if (ugid === "root@pam") continue;
            const type = ugid.startsWith("@") ? "group" : ugid.includes("!") ? "token" : "user";
            acl.push({ path, type, ugid: ugid.replace(/^@/, ""), roleid, propagate });
          }
        }
        break;
      }
      default:
        break; // pool: and anything newer
    }
  }
  for (const u of users) {
    const gs = [...members].filter(([, m]) => m.includes(u.userid)).map(([g]) => g);
    if (gs.length) u.groups = gs;
  }
  return { users, groups, roles, tokens, acl };
}

export function parseDomainsCfg(text: string): FixtureRealm[] {
  const props = loadRoutes().get("/access/domains")?.methods.get("POST")?.properties ?? {};
  const realms: FixtureRealm[] = [];
  let cur: FixtureRealm | undefined;
  for (const raw of text.split("\n")) {
    if (!raw.trim() || raw.trim().startsWith("#")) continue;
    const head = /^(\w+):\s*(\S+)\s*$/.exec(raw);
    if (head) {
      cur = { realm: head[2]!, type: head[1] as FixtureRealm["type"] };
      realms.push(cur);
      continue;
    }
    const opt = /^\s+(\S+)(?:\s+(.*))?$/.exec(raw);
    if (!opt || !cur) continue;
    const key = opt[1]!;
    const value = (opt[2] ?? "").trim();
    const t = props[key]?.type;
    cur[key] = t === "boolean" || t === "integer" ? Number(value) : value;
  }
  return realms;
}

export function parseTokenCfg(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const m = /^(\S+)\s+(\S+)\s*$/.exec(raw.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** Build a fixture from the three files; the pam/pve realms merge into the fresh-install ones. */
export function fixtureFromConfigFiles(files: ConfigFiles): ProxmoxFixture {
  const secrets = files.tokenCfg ? parseTokenCfg(files.tokenCfg) : new Map<string, string>();
  const fx = files.userCfg ? parseUserCfg(files.userCfg, secrets) : {};
  if (files.domainsCfg) fx.realms = parseDomainsCfg(files.domainsCfg);
  return fx;
}
