/**
 * The simulator's in-memory copy of user.cfg, domains.cfg and priv/token.cfg (spec section 7).
 * Handlers mutate it only after every check of a call has passed, so a failed call changes nothing
 * ("written together, or not at all", spec 3.6).
 */
import { createHash, randomUUID } from "node:crypto";
import { BUILTIN_REALM_COMMENTS, BUILTIN_ROLES, type RealmType } from "./constants.js";

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

export class SimState {
  realms = new Map<string, RealmRec>();
  users = new Map<string, UserRec>();
  groups = new Map<string, GroupRec>();
  roles = new Map<string, RoleRec>();
  acl = new Map<string, AclNode>();
  rootPassword: string;
  private digestCache: string | undefined;

  constructor(rootPassword: string) {
    this.rootPassword = rootPassword;
    for (const [roleid, privs] of BUILTIN_ROLES) {
      this.roles.set(roleid, { roleid, privs: new Set(privs), special: true });
    }
    this.ensureBuiltinRealms();
    this.ensureRoot();
  }

  /** Every read of domains.cfg re-creates pam and pve (spec 3.1.6). */
  ensureBuiltinRealms(): void {
    for (const realm of ["pam", "pve"] as const) {
      if (!this.realms.has(realm)) {
        this.realms.set(realm, {
          realm,
          type: realm,
          opts: new Map([["comment", BUILTIN_REALM_COMMENTS[realm]]]),
        });
        this.realmsChanged();
      }
    }
  }

  /** root@pam always exists; when deleted it comes back as {enable: 1} without expire (errata 13). */
  ensureRoot(): void {
    if (!this.users.has(ROOT)) {
      this.users.set(ROOT, { userid: ROOT, enable: 1, groups: new Set(), tokens: new Map() });
    }
  }

  realmsChanged(): void {
    this.digestCache = undefined;
  }

  /** SHA-1 hex of a serialised domains.cfg; changes whenever any realm changes (spec 1.6). */
  digest(): string {
    if (this.digestCache === undefined) {
      let text = "";
      for (const r of this.realms.values()) {
        text += `${r.type}: ${r.realm}\n`;
        for (const [k, v] of r.opts) text += `\t${k} ${v}\n`;
        text += "\n";
      }
      this.digestCache = createHash("sha1").update(text).digest("hex");
    }
    return this.digestCache;
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
