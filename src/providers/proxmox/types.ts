/**
 * Normalised shapes of what the Proxmox VE access API returns (spec 5.1), and the parameter shapes the
 * client's typed methods accept. Normalisation rules, applied by the client on every read:
 * - booleans are JS booleans whether `0`/`1`, `"0"`/`"1"` or `true`/`false` arrive;
 * - user `enable` missing → true, `expire` missing → 0, ACL `propagate` missing → true;
 * - comma-joined lists (user `groups`, group `users`, role `privs`) become sorted arrays;
 * - optional text fields that arrive as `""` are absent;
 * - list results are sorted by id (ACL entries by path, type, ugid, roleid), since PVE's order is arbitrary.
 */

/** One element of `GET /access/domains`. */
export interface PveRealmSummary {
  realm: string;
  type: string;
  comment?: string;
  /** The default login realm (the API sets `default: 1` on at most one realm). */
  default: boolean;
  /** `oath` or `yubico` when the realm enforces TFA. */
  tfa?: string;
}

/** A realm option value after normalisation: booleans for the boolean options, numbers stay numbers. */
export type PveRealmOptionValue = string | number | boolean;

/**
 * `GET /access/domains/{realm}`. `options` holds every stored option under its Proxmox name
 * (`issuer-url`, `client-id`, `username-claim`, ...), booleans coerced, `""` dropped. Server-side defaults
 * are NOT filled in (an absent `query-userinfo` means "default, 1"; absent `scopes` means `email profile`),
 * so a caller can tell "unset" from "set to the default". `client-key` may be absent (spec 3.1.3): treat
 * absence as "unknown", not "empty". `type`, `digest` and the pam realm's `plugin` are not in `options`.
 */
export interface PveRealm {
  realm: string;
  type: string;
  /** SHA-1 of domains.cfg; pass it to `updateRealm` for optimistic concurrency. */
  digest: string;
  options: Record<string, PveRealmOptionValue>;
}

/** A token of a user, as listed by `GET /access/users?full=1` (no secret is ever readable). */
export interface PveTokenInfo {
  tokenid: string;
  privsep: boolean;
  /** Epoch seconds, 0 = never. */
  expire: number;
  comment?: string;
}

/** One element of `GET /access/users?full=1`. */
export interface PveUser {
  userid: string;
  enable: boolean;
  /** Epoch seconds, 0 = never. */
  expire: number;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  keys?: string;
  /** Type of the user's realm when the realm exists (`realm-type`). */
  realmType?: string;
  /** Group ids, sorted. */
  groups: string[];
  /** Tokens, sorted by tokenid. */
  tokens: PveTokenInfo[];
}

/** One element of `GET /access/groups`. */
export interface PveGroup {
  groupid: string;
  comment?: string;
  /** Member user ids, sorted. */
  users: string[];
}

/** One element of `GET /access/roles`. */
export interface PveRole {
  roleid: string;
  /** Sorted; [] for NoAccess. */
  privs: string[];
  /** A built-in role: cannot be created, modified or deleted. */
  special: boolean;
}

/** One element of `GET /access/acl`: one (path, principal, role). Group ids come without `@`. */
export interface PveAclEntry {
  path: string;
  type: "user" | "group" | "token";
  ugid: string;
  roleid: string;
  propagate: boolean;
}

/** `GET /access/permissions`: path → privilege → propagates. */
export type PvePermissions = Record<string, Record<string, boolean>>;

// --- parameters -----------------------------------------------------------------------------------

/**
 * A value the form encoder accepts: booleans become `1`/`0`, numbers decimal strings, arrays comma-joined
 * strings; `undefined` and `null` are omitted (errata 6: never send null). `""` is sent (it clears user and
 * group text fields).
 */
export type PveParamValue = string | number | boolean | readonly string[] | null | undefined;
export type PveParams = Record<string, PveParamValue>;

/** `POST /access/domains`. Options under their Proxmox names, e.g. `"issuer-url"`, `"client-key"`. */
export interface PveRealmCreate {
  realm: string;
  type: "openid" | "ldap" | "ad";
  [option: string]: PveParamValue;
}

/** `PUT /access/domains/{realm}` options besides `delete`/`digest`. `username-claim` is refused (fixed option). */
export type PveRealmUpdate = Record<string, PveParamValue>;

export interface PveRealmUpdateOptions {
  /** Option names to unset (sent as the comma-joined `delete` parameter). Never list required options. */
  delete?: readonly string[];
  /** The `digest` of the read this update is based on; a mismatch fails with a 500. */
  digest?: string;
}

export interface PveUserFields {
  enable?: boolean;
  /** Epoch seconds, 0 = never. */
  expire?: number;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  keys?: string;
  /** Group ids; every group must exist. */
  groups?: readonly string[];
}

/** `POST /access/users`. */
export interface PveUserCreate extends PveUserFields {
  userid: string;
  /** Only for realms that store passwords (pve). */
  password?: string;
}

/** `PUT /access/users/{userid}`: only sent fields change; `""` clears a text field; `groups` replaces unless `append`. */
export interface PveUserUpdate extends PveUserFields {
  append?: boolean;
}

export interface PveGroupCreate {
  groupid: string;
  comment?: string;
}

export interface PveRoleCreate {
  roleid: string;
  privs: readonly string[];
}

/** `PUT /access/acl`: every role × principal combination is added (upsert) or, with `delete`, removed. */
export interface PveAclUpdate {
  path: string;
  roles: readonly string[];
  users?: readonly string[];
  groups?: readonly string[];
  tokens?: readonly string[];
  propagate: boolean;
  delete?: boolean;
}
