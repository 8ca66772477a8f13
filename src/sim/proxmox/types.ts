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
  /**
   * Proxmox VE release to play, "X.Y" or "X.Y.Z" (pve-manager version, as GET /version reports it);
   * default "9.2.1". Older releases refuse what they do not have yet (versions.ts VERSION_GATES:
   * OpenID `audiences`, token `regenerate`/`delete`, newer SDN ACL paths, OpenID group options).
   * Releases before 8.0 are refused: startProxmoxSim rejects.
   */
  version?: string;
  /**
   * Simulated latency of a pmxcfs write, awaited by realm writes while they hold the domains.cfg
   * lock (between their digest check and their write); default 0. Tests raise it to make concurrent
   * writers overlap; only the lock keeps them apart.
   */
  cfsWriteDelayMs?: number;
  /**
   * PEM certificates the "node" trusts for its outgoing OpenID requests (discovery, JWKS, token,
   * userinfo), on top of the public roots: the CA of a test issuer (a real node uses the system trust
   * store, /etc/ssl/certs). Default none.
   */
  openidTrustedCAs?: string[];
  /**
   * Hosts the node cannot reach: "host" or "host:port" (IPv6 in brackets). A request to one fails as
   * a connect timeout would ("io: Connection timed out (os error 110)"), at once. Change it later with
   * ProxmoxSim.setOpenIdBlockedHosts. Default none.
   */
  openidBlockedHosts?: string[];
  /** timeout of each outgoing OpenID request; default 10000 ms */
  openidTimeoutMs?: number;
  /** also print every syslog line (ProxmoxSim.syslog) to stderr; default false */
  debug?: boolean;
}

/** A line the simulated node wrote to syslog or the cluster log (OpenID logins). */
export interface SyslogEntry {
  /** epoch milliseconds */
  time: number;
  level: "info" | "warn" | "err";
  message: string;
}

/** One ProxmoxSim.failNext rule. */
export interface FailRule {
  /** HTTP method, case-insensitive */
  method: string;
  /** path relative to /api2/json, e.g. "/access/domains" or "/access/domains/oidc" (raw or percent-decoded) */
  path: string;
  /** how many matching requests fail; default 1 */
  times?: number;
  /** HTTP status; default 500 */
  status?: number;
  /** the error `message` (a trailing "\n" is added as Perl's die does); default "simulated failure (failNext)" */
  message?: string;
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
  /**
   * The next `times` (default 1) requests with this method and path fail with `status` (default 500)
   * and `message`, in the JSON envelope, before authentication, validation or any change. Rules
   * stack: each matching request uses up the oldest matching rule. Cleared by reset().
   */
  failNext(rule: FailRule): void;
  /**
   * Back to a fresh install plus `fixture` on the same URL, certificate and admin token (its secret
   * unchanged): state, request log, pending failNext rules and the shuffle/fault PRNGs (re-seeded) are
   * reset; faults set with setFaults stay. `opts.version` also switches the release (else the current
   * one stays). Throws on an invalid fixture or version, leaving the previous state in place.
   */
  reset(fixture?: ProxmoxFixture, opts?: { version?: string }): void;
  /** Switch the Proxmox VE release played ("9.1.1"); the state is kept. Throws below 8.0. */
  setVersion(v: string): void;
  /** the release played, "X.Y.Z" */
  readonly version: string;
  /**
   * What the node logged, oldest first: the reason of each failed OpenID login ("openid
   * authentication failure; rhost=... msg=..."), group-mapping notes, successful logins. Live array;
   * cleared by reset() and clearSyslog().
   */
  readonly syslog: readonly SyslogEntry[];
  clearSyslog(): void;
  /** Replace the hosts the node cannot reach (ProxmoxSimOptions.openidBlockedHosts). */
  setOpenIdBlockedHosts(hosts: string[]): void;
  /** Pending OpenID auth requests of a realm (state entries not yet used or expired). */
  openIdPending(realm: string): number;
  close(): Promise<void>;
}
