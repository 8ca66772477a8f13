/** Public option and fixture types of the Proxmox VE simulator (re-exported from index.ts). */

export type FaultKind = "500" | "502" | "503" | "reset" | "slow";

export interface FaultOptions {
  /** share of requests that get a fault, 0..1 */
  rate: number;
  kinds: FaultKind[];
  /** delay of a "slow" answer; default 2000 ms */
  slowMs?: number;
  /** only requests with these methods (default: all) */
  methods?: string[];
}

export interface FixtureRealm {
  realm: string;
  type: "openid" | "ldap" | "ad" | "pam" | "pve";
  [option: string]: unknown;
}

export interface FixtureUser {
  userid: string;
  enable?: 0 | 1;
  expire?: number;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  keys?: string;
  groups?: string[];
  /** login password (pve/pam realms) for POST /access/ticket; simulator extension */
  password?: string;
}

export interface FixtureGroup {
  groupid: string;
  comment?: string;
}

export interface FixtureRole {
  roleid: string;
  privs: string[];
}

export interface FixtureAcl {
  path: string;
  type: "user" | "group" | "token";
  ugid: string;
  roleid: string;
  propagate?: 0 | 1;
}

export interface FixtureToken {
  userid: string;
  tokenid: string;
  privsep?: 0 | 1;
  expire?: number;
  comment?: string;
  secret?: string;
}

export interface ProxmoxFixture {
  realms?: FixtureRealm[];
  users?: FixtureUser[];
  groups?: FixtureGroup[];
  roles?: FixtureRole[];
  acl?: FixtureAcl[];
  tokens?: FixtureToken[];
}

export interface ProxmoxSimOptions {
  /** default "127.0.0.1" */
  host?: string;
  /** default 0 (ephemeral) */
  port?: number;
  /** initial state, applied on top of a fresh install (pam, pve, root@pam, 17 built-in roles) */
  fixture?: ProxmoxFixture;
  /** shuffle lists whose order PVE does not define (errata 16; never the user list); default true */
  shuffle?: boolean;
  /** PRNG seed for shuffling and fault injection; default 1 */
  seed?: number;
  /** errata 17: a real server holds 401s for about 3 s; default 3000, tests pass 0 */
  unauthorizedDelayMs?: number;
  /** spec 3.1.3: omit client-key from GET /access/domains/{realm} */
  omitClientKey?: boolean;
  faults?: FaultOptions;
  /** password of root@pam for POST /access/ticket; default "homelab-sim" (simulator extension) */
  rootPassword?: string;
}

export interface ProxmoxSim {
  /** "https://127.0.0.1:<port>" (no /api2/json suffix) */
  url: string;
  /** SHA-256 of the certificate, "AB:CD:..." */
  fingerprint: string;
  certPem: string;
  /** "root@pam!homelab", privsep=0, created at start */
  adminToken: { id: string; secret: string };
  /** path without the query string, e.g. "/api2/json/access/users"; status 0 for a reset connection */
  requestLog: Array<{ method: string; path: string; status: number }>;
  clearLog(): void;
  setFaults(f: FaultOptions | undefined): void;
  /** deep-copied snapshot in fixture form (sorted); built-in realms and root@pam included, built-in roles not */
  state(): ProxmoxFixture;
  createToken(userid: string, tokenid: string, opts?: { privsep?: 0 | 1 }): { id: string; secret: string };
  close(): Promise<void>;
}
