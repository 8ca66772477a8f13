/**
 * The Proxmox VE access-control API client (shared/spec/proxmox-access-api.md, sections 1, 2, 5, 13): one method
 * per API call, answers normalised (normalize.ts). The HTTP side (one got instance and one https.Agent per
 * cluster, retries, timeouts, keep-alive, the request log) is transport.ts; parameter encoding encode.ts.
 *
 * Authentication is an API token (`PVEAPIToken=`), read from its Secret at the first request, so a missing
 * variable surfaces as the SecretError when the cluster is first used, not when the client is built. Bodies are
 * form-encoded with every value percent-encoded (errata 9); GET/DELETE carry their parameters in the query
 * string (a body there is a 501).
 *
 * Failure semantics of the mutating methods: a failed create leaves nothing behind (PVE writes under a
 * lock, all or nothing); after a failed update or delete, assume the object is unchanged / still exists.
 */
import type { TlsSettings } from "../../core/desired.js";
import type { Secret } from "../../core/secret.js";
import { registerSecret } from "../../log/redact.js";
import { path } from "./encode.js";
import { aclKey, asRecords, bool, cmp, normalizeAclEntry, normalizeGroup, normalizeRealm, normalizeRealmSummary, normalizeRole, normalizeUser } from "./normalize.js";
import { ProxmoxTransport, type HttpMethod, type RequestLogEntry, type RetryEvent } from "./transport.js";
import type { PveVersionInfo } from "./versions.js";
import type {
  PveAclEntry,
  PveAclUpdate,
  PveGroup,
  PveGroupCreate,
  PveParams,
  PvePermissions,
  PveRealm,
  PveRealmCreate,
  PveRealmSummary,
  PveRealmUpdate,
  PveRealmUpdateOptions,
  PveRole,
  PveRoleCreate,
  PveUser,
  PveUserCreate,
  PveUserUpdate,
} from "./types.js";

export * from "./types.js";
export type { PveVersionInfo } from "./versions.js";
export { isAlreadyExists, isNotFound, proxmoxErrorInfo, type ProxmoxErrorInfo } from "./errors.js";
export { formatFingerprint, normalizeFingerprint } from "./tls.js";
export { encodeForm } from "./encode.js";
export { normalizeAclEntry, normalizeGroup, normalizeRealm, normalizeRealmSummary, normalizeRole, normalizeUser } from "./normalize.js";
export { FREE_SOCKET_TIMEOUT_MS, type HttpMethod, type RequestLogEntry, type RetryEvent } from "./transport.js";

export interface ProxmoxClientOptions {
  /** Cluster name from homelab.yaml; used in messages. */
  name: string;
  /** Origin, e.g. `https://pve1.lan:8006` (a trailing slash is tolerated). */
  url: string;
  token: { id: string; secret: Secret };
  tls: TlsSettings;
  /** Time allowed for an answer once the request is sent, ms. Default: HOMELAB_REQUEST_TIMEOUT_S, else 30 s. */
  timeoutMs?: number;
  /** Time allowed for TCP connect plus TLS handshake, ms. Default: HOMELAB_CONNECT_TIMEOUT_S, else 10 s. */
  connectTimeoutMs?: number;
  /** Retries of a failed GET (so at most retries + 1 attempts). Default 3. */
  retries?: number;
  /** First backoff delay, ms; doubled per retry, with jitter, capped at 10 s. Default 250. */
  retryBaseDelayMs?: number;
  onRetry?: (event: RetryEvent) => void;
  /** Called once, at construction, for each warning (also kept in `warnings`). */
  onWarning?: (message: string) => void;
  /** Kept-alive sockets per cluster. Default 8. */
  maxSockets?: number;
  /** An idle kept-alive socket is closed after this many ms. Default FREE_SOCKET_TIMEOUT_MS. */
  freeSocketTimeoutMs?: number;
}

export class ProxmoxClient {
  readonly name: string;
  readonly url: string;
  /** Warnings the CLI prints on every run (e.g. TLS verification disabled). */
  readonly warnings: string[] = [];
  /** Every HTTP exchange of this client, in order (for --debug, tests and benchmarks). */
  readonly requestLog: RequestLogEntry[];
  readonly #transport: ProxmoxTransport;

  constructor(opts: ProxmoxClientOptions) {
    this.name = opts.name;
    this.url = opts.url.replace(/\/+$/, "");
    this.#transport = new ProxmoxTransport({ ...opts, url: this.url });
    this.requestLog = this.#transport.requestLog;
    if (opts.tls.insecure === true && opts.tls.fingerprint === undefined) {
      const w = `cluster '${this.name}': TLS certificate verification is disabled (tls.insecure: true); anyone on the network path can read the API token. Pin the certificate with tls.fingerprint instead`;
      this.warnings.push(w);
      opts.onWarning?.(w);
    }
  }

  /**
   * Close kept-alive connections and end the requests under way: one in flight or waiting to be retried fails
   * at once instead of being repeated, and no further retry is announced (with --debug, retry lines used to go
   * on after the command had printed its final error). The client stays usable: a request started after
   * close() opens a new connection.
   */
  close(): void {
    this.#transport.close();
  }

  /**
   * One API call. `relPath` is relative to /api2/json with path parameters already encoded (no leading
   * slash needed). Returns the unwrapped `data`. Retries, timeouts: transport.ts.
   */
  request<T = unknown>(method: HttpMethod, relPath: string, params: PveParams = {}): Promise<T> {
    return this.#transport.request<T>(method, relPath, params);
  }

  // --- realms ---------------------------------------------------------------------------------------

  /** GET /access/domains: every realm, sorted by id. */
  async listRealms(): Promise<PveRealmSummary[]> {
    const data = await this.request("GET", "access/domains");
    return asRecords(data).map(normalizeRealmSummary).sort((a, b) => cmp(a.realm, b.realm));
  }

  /**
   * GET /access/domains/{realm}: options (booleans coerced) and `digest`. A missing realm is a 500 RemoteError.
   * A returned `client-key` is registered with the redactor.
   */
  async getRealm(realm: string): Promise<PveRealm> {
    const data = await this.request<Record<string, unknown>>("GET", path`access/domains/${realm}`);
    const out = normalizeRealm(realm, data ?? {});
    // The OpenID client secret is readable (spec 3.1.3): make sure no log line, error or diff can show it.
    const key = out.options["client-key"];
    if (typeof key === "string") registerSecret(key);
    return out;
  }

  /** POST /access/domains. An existing realm is a 500 ("already exists"). */
  async createRealm(params: PveRealmCreate): Promise<void> {
    await this.request("POST", "access/domains", params);
  }

  /**
   * PUT /access/domains/{realm}. Only sent options change; `delete` unsets options first. Never PUT a realm
   * that was not listed (errata 1). `username-claim` is fixed at creation and refused here: changing it
   * needs delete + create.
   */
  async updateRealm(realm: string, params: PveRealmUpdate, opts: PveRealmUpdateOptions = {}): Promise<void> {
    for (const fixed of ["username-claim", "type", "realm"]) {
      if (fixed in params || opts.delete?.includes(fixed)) {
        throw new Error(`internal error: updateRealm(${realm}) must not send '${fixed}' (fixed at creation; replace the realm instead)`);
      }
    }
    const body: PveParams = { ...params };
    if (opts.delete !== undefined && opts.delete.length > 0) body.delete = [...opts.delete];
    if (opts.digest !== undefined) body.digest = opts.digest;
    await this.request("PUT", path`access/domains/${realm}`, body);
  }

  /** DELETE /access/domains/{realm}. Users, groups and ACLs of the realm stay. Never delete pam/pve. */
  async deleteRealm(realm: string): Promise<void> {
    await this.request("DELETE", path`access/domains/${realm}`);
  }

  // --- users ----------------------------------------------------------------------------------------

  /** GET /access/users?full=1: users with groups and token metadata, sorted by userid. Filtered by the token's rights. */
  async listUsers(): Promise<PveUser[]> {
    const data = await this.request("GET", "access/users", { full: true });
    return asRecords(data).map(normalizeUser).sort((a, b) => cmp(a.userid, b.userid));
  }

  /** POST /access/users. Every group must exist. */
  async createUser(params: PveUserCreate): Promise<void> {
    await this.request("POST", "access/users", { ...params });
  }

  /** PUT /access/users/{userid}: `""` clears a text field, `groups` replaces memberships unless `append`. */
  async updateUser(userid: string, params: PveUserUpdate): Promise<void> {
    await this.request("PUT", path`access/users/${userid}`, { ...params });
  }

  /**
   * DELETE /access/users/{userid}/token/{tokenid}: the token stops authenticating at once. Disabling the user does
   * not delete its tokens, and re-enabling makes them work again (issue 13, leavers).
   */
  async deleteToken(userid: string, tokenid: string): Promise<void> {
    await this.request("DELETE", path`access/users/${userid}/token/${tokenid}`);
  }

  /** DELETE /access/users/{userid}: also removes its memberships, ACL entries and tokens. */
  async deleteUser(userid: string): Promise<void> {
    await this.request("DELETE", path`access/users/${userid}`);
  }

  // --- groups ---------------------------------------------------------------------------------------

  /** GET /access/groups: groups with members, sorted by groupid. */
  async listGroups(): Promise<PveGroup[]> {
    const data = await this.request("GET", "access/groups");
    return asRecords(data).map(normalizeGroup).sort((a, b) => cmp(a.groupid, b.groupid));
  }

  async createGroup(params: PveGroupCreate): Promise<void> {
    await this.request("POST", "access/groups", { ...params });
  }

  /** PUT /access/groups/{groupid}: only the comment (`""` clears it); membership is set through users. */
  async updateGroup(groupid: string, params: { comment: string }): Promise<void> {
    await this.request("PUT", path`access/groups/${groupid}`, { comment: params.comment });
  }

  /** DELETE /access/groups/{groupid}: also removes its ACL entries and memberships. */
  async deleteGroup(groupid: string): Promise<void> {
    await this.request("DELETE", path`access/groups/${groupid}`);
  }

  // --- roles ----------------------------------------------------------------------------------------

  /** GET /access/roles: every role incl. built-ins (`special`), sorted by roleid. */
  async listRoles(): Promise<PveRole[]> {
    const data = await this.request("GET", "access/roles");
    return asRecords(data).map(normalizeRole).sort((a, b) => cmp(a.roleid, b.roleid));
  }

  async createRole(params: PveRoleCreate): Promise<void> {
    await this.request("POST", "access/roles", { roleid: params.roleid, privs: params.privs.length > 0 ? [...params.privs] : undefined });
  }

  /** PUT /access/roles/{roleid}: REPLACES the privileges (never `append`); [] empties the role. */
  async updateRole(roleid: string, privs: readonly string[]): Promise<void> {
    // A PUT without privs empties the role (spec 3.5), so [] is sent as "no privs".
    await this.request("PUT", path`access/roles/${roleid}`, { privs: privs.length > 0 ? [...privs] : undefined });
  }

  async deleteRole(roleid: string): Promise<void> {
    await this.request("DELETE", path`access/roles/${roleid}`);
  }

  // --- ACL ------------------------------------------------------------------------------------------

  /** GET /access/acl: every entry of every path in one call, sorted by (path, type, ugid, roleid). */
  async listAcl(): Promise<PveAclEntry[]> {
    const data = await this.request("GET", "access/acl");
    return asRecords(data).map(normalizeAclEntry).sort((a, b) => cmp(aclKey(a), aclKey(b)));
  }

  /**
   * PUT /access/acl: add (upsert, propagate overwritten) or, with `delete`, remove every role × principal
   * combination in one all-or-nothing call. Deleting an absent entry succeeds; naming a missing principal
   * or role fails (500).
   */
  async putAcl(update: PveAclUpdate): Promise<void> {
    const nonEmpty = (l: readonly string[] | undefined): string[] | undefined => (l !== undefined && l.length > 0 ? [...l] : undefined);
    if (!nonEmpty(update.users) && !nonEmpty(update.groups) && !nonEmpty(update.tokens)) {
      throw new Error(`internal error: putAcl(${update.path}) needs at least one user, group or token`);
    }
    await this.request("PUT", "access/acl", {
      path: update.path,
      roles: [...update.roles],
      users: nonEmpty(update.users),
      groups: nonEmpty(update.groups),
      tokens: nonEmpty(update.tokens),
      propagate: update.propagate,
      delete: update.delete === true ? true : undefined,
    });
  }

  // --- permissions ------------------------------------------------------------------------------------

  /**
   * GET /access/permissions: the effective privileges of the token (or of `userid`, a user or token id) on
   * `path`, or on the default paths; value = whether the privilege propagates. For pre-flight checks.
   */
  async permissions(pathArg?: string, userid?: string): Promise<PvePermissions> {
    const data = await this.request<Record<string, unknown> | null>("GET", "access/permissions", { path: pathArg, userid });
    return permissionsOf(data);
  }

  // --- version ----------------------------------------------------------------------------------------

  /**
   * GET /version (any authenticated user): `{version: "9.2.1", release: "9.2", repoid}`. Missing fields
   * come back as "" (a caller that cannot parse the version says so rather than guessing).
   */
  async version(): Promise<PveVersionInfo> {
    const data = await this.request<Record<string, unknown> | null>("GET", "version");
    const field = (k: string) => (data?.[k] === undefined || data?.[k] === null ? "" : String(data[k]));
    return { version: field("version"), release: field("release"), repoid: field("repoid") };
  }
}

/**
 * The answer of `GET /access/permissions` with every value a boolean, converted IN PLACE: the answer is parsed for
 * this call alone, and without a `path` it lists every path with an ACL entry, each with every privilege held there
 * (1,000 paths x 50 privileges for a token with Administrator on /). Copying that into new objects cost about
 * 14 ms per cluster of a no-op; changing the values where they are costs a tenth (issue 12). A path whose value is
 * not an object holds nothing.
 */
export function permissionsOf(data: unknown): PvePermissions {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return {};
  const out = data as Record<string, unknown>;
  for (const p of Object.keys(out)) {
    const privs = out[p];
    if (privs === null || typeof privs !== "object" || Array.isArray(privs)) {
      out[p] = {};
      continue;
    }
    const rec = privs as Record<string, unknown>;
    for (const priv of Object.keys(rec)) {
      const v = rec[priv];
      if (typeof v !== "boolean") rec[priv] = bool(v, false);
    }
  }
  return out as PvePermissions;
}

/** Build the client of one cluster. No I/O happens until the first call. */
export function createProxmoxClient(opts: ProxmoxClientOptions): ProxmoxClient {
  return new ProxmoxClient(opts);
}
