// Type-only: a Graph client loads got, not msal (a bootstrap may bring its own token source).
import type { TokenSource } from "./token.js";
import type { RetryEvent } from "./types.js";

/**
 * What the Graph client is configured with, and what one Graph call is (the request and how it may be repeated):
 * shared by the HTTP core (graph-http.ts), its error mapping (graph-errors.ts) and the per-resource modules.
 */

export interface GraphClientOptions {
  /** Graph origin, e.g. https://graph.microsoft.com (requests go to `${graphUrl}/v1.0/`). */
  graphUrl: string;
  tokens: Pick<TokenSource, "getToken" | "clientId">;
  /** The tenant's name in homelab.yaml, for messages. */
  tenant: string;
  /** Retries of throttled / failed calls (default 6: a run converges through a quarter of requests failing). */
  retries?: number;
  /** First backoff step without Retry-After, ms (default 1000; doubles, with jitter, up to 8 s). */
  retryDelayMs?: number;
  /** Longest Retry-After honoured, ms (default 60 000). */
  maxRetryAfterMs?: number;
  onRetry?: (e: RetryEvent) => void;
  /** Progress while waiting for Entra to show a new object, e.g. "waiting for Entra to show the new app: 6 s". */
  onWait?: (message: string) => void;
  /**
   * Replication-lag polls after a create (spec 4.4): first wait `delayMs` (default 500), growing by a tenth
   * per poll up to `maxDelayMs` (default 3000), each jittered by ±20 %, until `budgetMs` has passed since the
   * first wait for that object (default HOMELAB_ENTRA_WAIT_S seconds, else 120 s). `attempts` optionally caps
   * the number of polls per call (tests).
   */
  consistency?: { delayMs?: number; maxDelayMs?: number; budgetMs?: number; attempts?: number };
  /** Read-after-write polls (spec 3.7, 6): consecutive sightings required, poll budget, wait between polls. Default 5, 30, 1000. */
  visibility?: { times: number; attempts: number; delayMs: number };
  /** `$top` for collection reads (default 999, the maximum; tests use small pages). */
  pageSize?: number;
  /** The answer timeout, ms (default HOMELAB_REQUEST_TIMEOUT_S, 30 s); the connect timeout is HOMELAB_CONNECT_TIMEOUT_S's. */
  timeoutMs?: number;
}

export type Method = "GET" | "POST" | "PATCH" | "DELETE";

export interface Call {
  method: Method;
  /** Relative to `${graphUrl}/v1.0/` (no leading slash), or an absolute `@odata.nextLink`. */
  path: string;
  body?: unknown;
  /** Extra request headers (`Prefer: create-if-missing`). */
  headers?: Record<string, string>;
  /** Safe to repeat after a 5xx or a transport error. */
  safe: boolean;
  /** Treat these failures as replication lag (only set when the addressed object is known to be fresh). */
  lag?: (status: number, code: string | undefined, message: string) => boolean;
  /** The fresh object a lag wait is for: its key (one wait budget per object) and words for the progress line. */
  waitFor?: { key: string; what: string };
  /**
   * For a creating POST: re-read by the key homelab owns after an ambiguous failure (5xx, no response), given
   * the failed attempt's time window on Graph's clock. Returns the object when the attempt landed (it becomes
   * the call's result), undefined to repeat the POST. Its presence makes the POST repeatable.
   */
  recover?: (window: { from: number; to: number }) => Promise<unknown>;
  /** Permission named in the hint of a 403 Authorization_RequestDenied. */
  permission?: string;
  /** What the call does, for messages: "create application 'Proxmox VE'". */
  what: string;
}

export interface Reply {
  status: number;
  body: unknown;
}

/** Graph accepts at most 15 values in one `in (...)` (and 15 `or` terms) on directory objects. */
export const IN_CHUNK = 15;

export const PERM = {
  readApps: "Application.Read.All (or Application.ReadWrite.OwnedBy)",
  writeApps: "Application.ReadWrite.OwnedBy and ownership of the object (homelab makes the automation app its owner when it creates it)",
  assign: "AppRoleAssignment.ReadWrite.All plus Application.Read.All (Microsoft Graph wants both to assign a group to an app)",
  grant: "AppRoleAssignment.ReadWrite.All and Application.ReadWrite.All, by an account with a role that may grant application permissions (Privileged Role Administrator or Global Administrator)",
  groups: "GroupMember.Read.All or Group.Read.All",
  users: "User.ReadBasic.All or User.Read.All",
  members: "GroupMember.Read.All (or Group.Read.All) to list a group's members, and User.Read.All to read their names and whether their accounts are enabled (homelab bootstrap grants both)",
  userStatus: "User.Read.All (or Directory.Read.All), which reads whether accounts are enabled (homelab bootstrap grants it)",
};

export const notFound = (status: number): boolean => status === 404;
