/**
 * The simulator's in-memory copy of user.cfg, domains.cfg and priv/token.cfg (spec section 7).
 * Handlers mutate it only after every check of a call has passed, so a failed call changes nothing
 * ("written together, or not at all", spec 3.6).
 */
import { createHash, randomUUID } from "node:crypto";
import { BUILTIN_REALM_COMMENTS, BUILTIN_ROLES, REALM_PLUGINS, type RealmType } from "./constants.js";
import { FileLock, type CfsFile } from "./lock.js";
import { DEFAULT_PVE_VERSION, parsePveVersion, type PveVersion } from "./versions.js";

export type Flag = 0 | 1;

export interface RealmRec {
  realm: string;
  type: RealmType;
  /** stored options in insertion order; booleans and integers as numbers */
  opts: Map<string, string | number>;
  /** ldap/ad bind password (priv/realm/<realm>.pw): never returned */
  bindPassword?: string;
}

export interface TokenRec {
  tokenid: string;
  privsep: Flag;
  /** undefined = "same as user" (nothing stored) */
  expire?: number;
  comment?: string;
  secret: string;
}

export interface UserRec {
  userid: string;
  enable: Flag;
  /** undefined only for an implicitly re-created root@pam (errata 13) */
  expire?: number;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  keys?: string;
  groups: Set<string>;
  tokens: Map<string, TokenRec>;
  /** password for pve/pam realm users (ticket login) */
  password?: string;
}

export interface GroupRec {
  groupid: string;
  comment?: string;
  members: Set<string>;
}

export interface RoleRec {
  roleid: string;
  privs: Set<string>;
  special: boolean;
}

export type AclKind = "users" | "groups" | "tokens";
/** One ACL path: principal → role → propagate. */
export interface AclNode {
  users: Map<string, Map<string, Flag>>;
  groups: Map<string, Map<string, Flag>>;
  tokens: Map<string, Map<string, Flag>>;
}

export const ROOT = "root@pam";

/** pve-common ParseUtils encode_text: escape control and high-bit characters, ":" and "%". */
function encodeText(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const safe = (byte >= 0x20 && byte <= 0x24) || (byte >= 0x26 && byte <= 0x39) || (byte >= 0x3b && byte <= 0x7e);
    out += safe ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function setOrDelete<T extends object, K extends keyof T>(rec: T, key: K, value: T[K] | undefined): void {
  if (value === undefined) delete rec[key];
  else rec[key] = value;
}

/** Perl `\s` on the raw bytes of a config line (ASCII only: the files are read as bytes). */
const PERL_SPACE = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;
/** encode_text (pve-common ParseUtils) escapes every control character, so only U+0020 stays raw. */
const RAW_SPACE = /^ +| +$/g;

/** Perl truthiness of a stored string: undefined, "" and "0" are false. */
function perlTrue(v: string | undefined): v is string {
  return v !== undefined && v !== "" && v !== "0";
}

/**
 * A text field of user.cfg as parse_user_config reads it back: the field is trimmed (`s/^\s+//`,
 * `s/\s+$//`) BEFORE decode_text, and a Perl-false result is dropped. Fields that go through
 * encode_text (names, comments) only have raw spaces to lose; `email` and `keys` are written raw.
 */
function rereadText(v: string | undefined, encoded: boolean): string | undefined {
  if (v === undefined) return undefined;
  const t = v.replace(encoded ? RAW_SPACE : PERL_SPACE, "");
  return perlTrue(t) ? t : undefined;
}

/** Serialise a domains.cfg value as SectionConfig format_config_line does (booleans as 0/1, "" skipped). */
function configLine(key: string, value: string | number): string {
  const s = String(value);
  return s === "" ? "" : `\t${key} ${s}\n`;
}

export class SimState {
  realms = new Map<string, RealmRec>();
  users = new Map<string, UserRec>();
  groups = new Map<string, GroupRec>();
  roles = new Map<string, RoleRec>();
  acl = new Map<string, AclNode>();
  rootPassword: string;
  /** the PVE release played (GET /version and the gates of versions.ts) */
  version: PveVersion;
  /** cfs_lock_file per config file (pve-cluster Cluster.pm): one writer at a time */
  readonly locks: Record<CfsFile, FileLock> = { "domains.cfg": new FileLock("domains.cfg"), "user.cfg": new FileLock("user.cfg") };
  /** the text of domains.cfg as last written; its SHA-1 is the digest (SectionConfig parse_config) */
  private domainsText = "";
  private digestCache: string | undefined;
  private domainsDirty = false;
  private userCfgDirty = false;

  constructor(rootPassword: string, version: string = DEFAULT_PVE_VERSION) {
    this.rootPassword = rootPassword;
    this.version = parsePveVersion(version);
    for (const [roleid, privs] of BUILTIN_ROLES) {
      this.roles.set(roleid, { roleid, privs: new Set(privs), special: true });
    }
    this.ensureBuiltinRealms();
    this.ensureRoot();
    this.realmsChanged(); // the installer writes domains.cfg with both built-in realms
    this.reread();
  }

  /**
   * Every read of domains.cfg re-creates pam and pve, and gives them their default comment whenever
   * theirs is Perl-false: missing, "" or "0" (Auth/Plugin.pm parse_config, spec 3.1.6).
   */
  ensureBuiltinRealms(): void {
    for (const realm of ["pam", "pve"] as const) {
      let rec = this.realms.get(realm);
      if (!rec) {
        rec = { realm, type: realm, opts: new Map() };
        this.realms.set(realm, rec);
      }
      const comment = rec.opts.get("comment");
      if (comment === undefined || comment === "" || comment === "0") {
        // Put first, where SectionConfig writes the comment; the file itself is not rewritten by a read.
        rec.opts = new Map([["comment", BUILTIN_REALM_COMMENTS[realm]], ...[...rec.opts].filter(([k]) => k !== "comment")]);
      }
    }
  }

  /** root@pam always exists; when deleted it comes back as {enable: 1} without expire (errata 13). */
  ensureRoot(): void {
    if (!this.users.has(ROOT)) {
      this.users.set(ROOT, { userid: ROOT, enable: 1, groups: new Set(), tokens: new Map() });
    }
  }

  /**
   * domains.cfg was written (cfs_write_file): serialise it as SectionConfig write_config does and
   * schedule the re-read that every later request sees. The values stay as written until reread().
   */
  realmsChanged(): void {
    let text = "";
    for (const r of this.realms.values()) {
      const plugin = REALM_PLUGINS[r.type];
      text += `${r.type}: ${r.realm}\n`;
      const comment = r.opts.get("comment");
      // write_config: `if ($scfg->{comment} ...)`: a Perl-false comment ("" or "0") is not written.
      if (comment !== undefined && comment !== "" && String(comment) !== "0") text += configLine("comment", encodeText(String(comment)));
      const keys = [...r.opts.keys()].filter((k) => k !== "comment").sort();
      for (const k of keys) if (plugin.options.get(k)) text += configLine(k, r.opts.get(k)!);
      for (const k of keys) if (!plugin.options.get(k)) text += configLine(k, r.opts.get(k)!);
      text += "\n";
    }
    this.domainsText = text;
    this.digestCache = undefined;
    this.domainsDirty = true;
  }

  /** user.cfg (or priv/token.cfg with it) was written: the next request reads it back (reread()). */
  userCfgChanged(): void {
    this.userCfgDirty = true;
  }

  /** SHA-1 hex of domains.cfg as written; changes whenever the file changes (spec 1.6). */
  digest(): string {
    this.digestCache ??= createHash("sha1").update(this.domainsText).digest("hex");
    return this.digestCache;
  }

  /**
   * What the next cfs_read_file of a written file returns: values trimmed, Perl-false text fields
   * dropped, the built-in realms' default comments restored. Called after every request, so a
   * request sees its own writes as sent and every later request sees them as Proxmox re-reads them.
   */
  reread(): void {
    if (this.domainsDirty) {
      this.domainsDirty = false;
      this.rereadRealms();
    }
    if (this.userCfgDirty) {
      this.userCfgDirty = false;
      this.rereadUserCfg();
    }
  }

  /**
   * SectionConfig parse_config: `^\s+(\S+)(\s+(.*\S))?\s*$` trims every value; a value that was only
   * whitespace is undefined and dropped ("got undefined value"); a section that then lacks a
   * required option fails check_config and is skipped (the realm is gone for every read by id).
   */
  private rereadRealms(): void {
    for (const [id, r] of this.realms) {
      const opts = new Map<string, string | number>();
      for (const [k, v] of r.opts) {
        if (k === "comment" && String(v) === "0") continue; // never written (see realmsChanged)
        if (typeof v === "number") opts.set(k, v);
        else {
          const t = v.replace(k === "comment" ? RAW_SPACE : PERL_SPACE, "");
          if (t !== "") opts.set(k, t);
        }
      }
      r.opts = opts;
      const missingRequired = [...REALM_PLUGINS[r.type].options].some(([k, req]) => req && !opts.has(k));
      if (missingRequired) this.realms.delete(id);
    }
    this.ensureBuiltinRealms();
  }

  /** parse_user_config: every ":"-separated field trimmed; Perl-false text fields dropped. */
  private rereadUserCfg(): void {
    for (const u of this.users.values()) {
      setOrDelete(u, "firstname", rereadText(u.firstname, true));
      setOrDelete(u, "lastname", rereadText(u.lastname, true));
      setOrDelete(u, "comment", rereadText(u.comment, true));
      // email is stored even when empty (parse_user_config assigns it unconditionally); the read
      // handlers treat "" as unset (errata 10).
      if (u.email !== undefined) u.email = u.email.replace(PERL_SPACE, "");
      setOrDelete(u, "keys", rereadText(u.keys, false));
      for (const t of u.tokens.values()) setOrDelete(t, "comment", rereadText(t.comment, true));
    }
    for (const g of this.groups.values()) setOrDelete(g, "comment", rereadText(g.comment, true));
  }

  aclNode(path: string, create: true): AclNode;
  aclNode(path: string, create?: false): AclNode | undefined;
  aclNode(path: string, create = false): AclNode | undefined {
    let node = this.acl.get(path);
    if (!node && create) {
      node = { users: new Map(), groups: new Map(), tokens: new Map() };
      this.acl.set(path, node);
    }
    return node;
  }

  setAcl(path: string, kind: AclKind, ugid: string, roleid: string, propagate: Flag): void {
    // root@pam entries are never written to user.cfg (spec 3.6, errata confirmation).
    if (kind === "users" && ugid === ROOT) return;
    const node = this.aclNode(path, true);
    let roles = node[kind].get(ugid);
    if (!roles) {
      roles = new Map();
      node[kind].set(ugid, roles);
    }
    roles.set(roleid, propagate);
  }

  deleteAcl(path: string, kind: AclKind, ugid: string, roleid: string): void {
    const node = this.acl.get(path);
    const roles = node?.[kind].get(ugid);
    if (!node || !roles) return;
    roles.delete(roleid);
    if (roles.size === 0) node[kind].delete(ugid);
    this.pruneNode(path, node);
  }

  private pruneNode(path: string, node: AclNode): void {
    if (node.users.size === 0 && node.groups.size === 0 && node.tokens.size === 0) this.acl.delete(path);
  }

  /** Drop every ACL entry of a principal (cascades of spec 5.3). */
  removePrincipalAcl(kind: AclKind, match: (ugid: string) => boolean): void {
    for (const [path, node] of this.acl) {
      for (const ugid of [...node[kind].keys()]) if (match(ugid)) node[kind].delete(ugid);
      this.pruneNode(path, node);
    }
  }

  /** Drop every ACL entry naming a role (spec 3.5: they vanish on the next read of user.cfg). */
  removeRoleAcl(roleid: string): void {
    for (const [path, node] of this.acl) {
      for (const kind of ["users", "groups", "tokens"] as const) {
        for (const [ugid, roles] of node[kind]) {
          roles.delete(roleid);
          if (roles.size === 0) node[kind].delete(ugid);
        }
      }
      this.pruneNode(path, node);
    }
  }

  addMembership(userid: string, groupid: string): void {
    const user = this.users.get(userid);
    const group = this.groups.get(groupid);
    if (!user || !group) return;
    user.groups.add(groupid);
    group.members.add(userid);
  }

  removeAllMemberships(userid: string): void {
    const user = this.users.get(userid);
    if (!user) return;
    for (const g of user.groups) this.groups.get(g)?.members.delete(userid);
    user.groups.clear();
  }

  /** DELETE user: memberships, ACL entries, tokens and their entries, password (spec 3.2, 5.3). */
  deleteUser(userid: string): void {
    const user = this.users.get(userid);
    if (!user) return;
    this.removeAllMemberships(userid);
    this.removePrincipalAcl("users", (u) => u === userid);
    this.removePrincipalAcl("tokens", (t) => t.startsWith(`${userid}!`));
    this.users.delete(userid);
    if (userid === ROOT) this.ensureRoot();
  }

  deleteGroup(groupid: string): void {
    const group = this.groups.get(groupid);
    if (!group) return;
    for (const u of group.members) this.users.get(u)?.groups.delete(groupid);
    this.groups.delete(groupid);
    this.removePrincipalAcl("groups", (g) => g === groupid);
  }

  deleteToken(userid: string, tokenid: string): void {
    this.users.get(userid)?.tokens.delete(tokenid);
    const full = `${userid}!${tokenid}`;
    this.removePrincipalAcl("tokens", (t) => t === full);
  }

  newToken(userid: string, tokenid: string, privsep: Flag, expire?: number, comment?: string, secret?: string): TokenRec {
    const user = this.users.get(userid);
    if (!user) throw new Error(`no such user '${userid}'`);
    const token: TokenRec = { tokenid, privsep, secret: secret ?? randomUUID() };
    if (expire !== undefined) token.expire = expire;
    if (comment !== undefined && comment !== "") token.comment = comment;
    user.tokens.set(tokenid, token);
    return token;
  }
}
