/** What every handler receives, and the handler registry type. */
import type { MethodInfo } from "./apidoc.js";
import type { OpenIdService } from "./openid.js";
import type { TicketSigner } from "./auth.js";
import type { Params } from "./params.js";
import type { Caller, PermissionChecker } from "./permissions.js";
import type { SimState } from "./state.js";

export interface HandlerContext {
  state: SimState;
  caller: Caller;
  perms: PermissionChecker;
  /** validated parameters (path parameters included) */
  params: Params;
  info: MethodInfo;
  signer: TicketSigner;
  omitClientKey: boolean;
  /** the node's OpenID client: auth states, outgoing HTTPS, syslog (openid.ts) */
  openid: OpenIdService;
  /** the caller's address, for the syslog line of a failed OpenID login ("rhost=") */
  clientIp: string;
  /**
   * The cfs_write_file of a handler that holds a lock: resolves after the simulated pmxcfs write
   * latency (ProxmoxSimOptions.cfsWriteDelayMs; by default at once). Handlers await it between their
   * read/checks and their mutation, so concurrent writers are kept apart only by the lock.
   */
  cfsWrite(): Promise<void>;
  /** shuffle a list whose order PVE does not define (errata 16); identity when shuffling is off */
  shuffle<T>(items: T[]): T[];
}

export type Handler = (ctx: HandlerContext) => unknown;

/** Handlers keyed by "<METHOD> <template>", e.g. "GET /access/users/{userid}". */
export type HandlerTable = Record<string, Handler>;

/** Read a parameter, treating JSON null as "not sent" (spec 1.3; realms are the exception, errata 6). */
export function param(ctx: HandlerContext, name: string): string | undefined {
  const v = ctx.params[name];
  return v === null ? undefined : v;
}
