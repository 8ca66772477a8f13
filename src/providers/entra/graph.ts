import { applicationCalls } from "./graph-applications.js";
import { assignmentCalls } from "./graph-assignments.js";
import type { GraphClientOptions } from "./graph-call.js";
import { directoryCalls } from "./graph-directory.js";
import { createGraphCore } from "./graph-http.js";
import { policyCalls } from "./graph-policies.js";
import { secretCalls } from "./graph-secrets.js";
import { servicePrincipalCalls, type PrefetchedAssignments } from "./graph-service-principals.js";

/**
 * A thin, typed Microsoft Graph v1.0 client (spec sections 3 and 4), in parts:
 * - graph-http.ts: the HTTP core on one got instance: retries (429, 5xx, lost connections), the re-read before a
 *   creating POST is repeated, replication-lag waits and read-after-write polls, paging, `in (...)` chunks;
 * - graph-errors.ts: GraphRequestError / GraphAuthError and the mapping of Graph's error envelope;
 * - graph-applications.ts, graph-secrets.ts, graph-service-principals.ts, graph-assignments.ts,
 *   graph-directory.ts, graph-policies.ts: the calls, by resource.
 * This module puts them together into one client and re-exports what the rest of homelab imports.
 */

export { DEFAULT_ACCESS_ROLE_ID } from "./graph-assignments.js";
export type { GraphClientOptions } from "./graph-call.js";
export { GraphAuthError, GraphRequestError, graphCodeOf, type GraphErrorInfo } from "./graph-errors.js";
export { LAG_GROWTH, odataString, waitBudgetMs } from "./graph-http.js";

/** The marker an app homelab manages for a realm carries in `tags` (identity is never the display name). */
export function realmTag(realm: string): string {
  return `homelab:realm=${realm}`;
}

export type GraphClient = ReturnType<typeof createGraphClient>;

export function createGraphClient(opts: GraphClientOptions) {
  let onWait = opts.onWait as ((message: string) => void) | undefined;
  const core = createGraphCore(opts, () => onWait);
  const apps = applicationCalls(core);
  const prefetched: PrefetchedAssignments = new Map();
  return {
    /** Every request made (method, path, status, ms, attempt), for `--debug`. Paths carry no secrets. */
    requestLog: core.requestLog,

    /** Where waits for Entra to show a new object are reported (progress line); settable after creation. */
    get onWait(): ((message: string) => void) | undefined {
      return onWait;
    },
    set onWait(fn: ((message: string) => void) | undefined) {
      onWait = fn;
    },

    ...apps,
    ...secretCalls(core, apps),
    ...servicePrincipalCalls(core, prefetched),
    ...assignmentCalls(core, prefetched),
    ...directoryCalls(core),
    ...policyCalls(core),
  };
}
