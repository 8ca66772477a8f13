import { GraphRequestError } from "./graph-errors.js";
import { NEW_APP, NEW_SP, odataString, type GraphCore } from "./graph-http.js";
import { PERM, notFound } from "./graph-call.js";
import type { AppRoleAssignment, ServicePrincipal } from "./types.js";

/**
 * Service principals (spec 3.8, errata 9.1, 9.2, 9.5): the app's (found by appId, or by id when created in this
 * run, since lists lag), its creation, and the automation app's own (cached: it owns what homelab creates). Part
 * of the Graph client (graph.ts).
 */

export const SP_SELECT = "id,appId,displayName,appDisplayName,appRoleAssignmentRequired,accountEnabled,tags";

/**
 * Microsoft Graph docs (query-parameters, "expand parameter"): on directory objects an expanded relationship
 * "typically returns a maximum of 20 items ... and has no @odata.nextLink". Fewer than this is the whole list.
 */
export const EXPAND_LIMIT = 20;

/**
 * Assignments read with a service principal (`$expand=appRoleAssignedTo`), by service principal id (lower case),
 * for the next listAppRoleAssignedTo of it: one request for both in a plan's read. Only complete lists are kept.
 */
export type PrefetchedAssignments = Map<string, AppRoleAssignment[]>;

export function servicePrincipalCalls(core: GraphCore, prefetched: PrefetchedAssignments) {
  const { opts, base, json, list, q, seg, isFresh, markFresh, waitFor, untilShown, ownerBind } = core;
  /** appId → service principal created (or found) in this run: lists may not show it yet (spec 4.4 point 5). */
  const knownSp = new Map<string, ServicePrincipal>();
  let callerSp: Promise<ServicePrincipal> | undefined;

  /** Waits (untilShown) until the list by appId, which the next run's read uses, shows service principal `sp`. */
  function untilSpListed(appId: string, sp: ServicePrincipal): Promise<boolean> {
    return untilShown(waitFor(sp.id, NEW_SP).key, NEW_SP, q("servicePrincipals", { $filter: `appId eq ${odataString(appId)}` }), async () =>
      (await listServicePrincipals(appId)).some((x) => x.id.toLowerCase() === sp.id.toLowerCase()),
    );
  }

  /** Service principals of an app by `$filter=appId eq` (spec 3.8: expect 0 or 1). */
  function listServicePrincipals(appId: string): Promise<ServicePrincipal[]> {
    return list<ServicePrincipal>({
      path: q("servicePrincipals", { $filter: `appId eq ${odataString(appId)}`, $select: SP_SELECT }),
      permission: PERM.readApps,
      what: `find the service principal of app ${appId}`,
    });
  }

  /**
   * listServicePrincipals with who is assigned to each (`$expand=appRoleAssignedTo`, the same permission): a plan
   * reads the service principal and its assignments in one request. The list is kept for listAppRoleAssignedTo when
   * it is complete (under EXPAND_LIMIT items); the service principals are returned without it.
   */
  async function listServicePrincipalsWithAssignments(appId: string): Promise<ServicePrincipal[]> {
    const found = await list<ServicePrincipal & { appRoleAssignedTo?: AppRoleAssignment[] }>({
      path: q("servicePrincipals", { $filter: `appId eq ${odataString(appId)}`, $select: SP_SELECT, $expand: "appRoleAssignedTo" }),
      permission: PERM.readApps,
      what: `find the service principal of app ${appId}`,
    });
    return found.map(({ appRoleAssignedTo, ...sp }) => {
      if (Array.isArray(appRoleAssignedTo) && appRoleAssignedTo.length < EXPAND_LIMIT) prefetched.set(sp.id.toLowerCase(), appRoleAssignedTo);
      return sp;
    });
  }

  async function findServicePrincipal(appId: string): Promise<ServicePrincipal | undefined> {
    const known = knownSp.get(appId.toLowerCase());
    if (known) {
      // Created in this run: read it by id (lists may lag, spec 4.4 point 5); still 404 after the waits = gone.
      try {
        return await json<ServicePrincipal>({
          method: "GET",
          path: q(`servicePrincipals/${seg(known.id)}`, { $select: SP_SELECT }),
          safe: true,
          lag: notFound,
          waitFor: waitFor(known.id, NEW_SP),
          permission: PERM.readApps,
          what: `read service principal ${known.id}`,
        });
      } catch (err) {
        if (!(err instanceof GraphRequestError && err.status === 404)) throw err;
        knownSp.delete(appId.toLowerCase());
        return undefined;
      }
    }
    const found = await listServicePrincipalsWithAssignments(appId);
    if (found.length > 1)
      throw new GraphRequestError({
        service: "graph",
        method: "GET",
        url: `${base}servicePrincipals`,
        message: `Graph (tenant ${opts.tenant}): ${found.length} service principals for app ${appId}; expected at most one`,
      });
    return found[0];
  }

  const calls = {
    /** The app's service principal (0 or 1), by `$filter=appId eq` (spec 3.8), or by id when created in this run. */
    findServicePrincipal,

    /**
     * Creates the app's service principal (needed before any of its secrets work, errata 9.1), owned by
     * `ownerId` when given (errata 9.2). A 409 Request_MultipleObjectsWithSameKeyValue (errata 9.5) means it
     * exists: the existing one is returned with `created: false` (adopted), unless an earlier attempt of this
     * call failed ambiguously (then it is most likely that attempt's). After an ambiguous failure it is looked
     * up by appId before the POST is repeated. Right after the app was created, the replication errors of
     * spec 3.8 are retried.
     */
    async createServicePrincipal(
      appId: string,
      o: { ownerId?: string; tags?: string[]; appRoleAssignmentRequired?: boolean } = {},
    ): Promise<{ servicePrincipal: ServicePrincipal; created: boolean }> {
      const replicating = (status: number, code: string | undefined, message: string): boolean =>
        status === 404 ||
        (status === 400 && /does not reference a valid application object/i.test(message)) ||
        (status === 403 && /backing application of the service principal/i.test(message));
      let ambiguous = false;
      try {
        const sp = await json<ServicePrincipal>({
          method: "POST",
          path: "servicePrincipals",
          body: {
            appId,
            ...(o.tags ? { tags: o.tags } : {}),
            ...(o.appRoleAssignmentRequired !== undefined ? { appRoleAssignmentRequired: o.appRoleAssignmentRequired } : {}),
            ...(o.ownerId ? { "owners@odata.bind": ownerBind(o.ownerId) } : {}),
          },
          safe: false,
          recover: async () => {
            ambiguous = true;
            return listServicePrincipals(appId).then((found) => found[0]);
          },
          ...(isFresh(appId) ? { lag: replicating, waitFor: waitFor(appId, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `create the service principal of app ${appId}`,
        });
        markFresh(sp.id);
        knownSp.set(appId.toLowerCase(), sp);
        await untilSpListed(appId, sp);
        return { servicePrincipal: sp, created: true };
      } catch (err) {
        if (!(err instanceof GraphRequestError && err.status === 409 && err.graphCode === "Request_MultipleObjectsWithSameKeyValue")) throw err;
        // It exists, so a 404 on reading it by alternate key is replication lag.
        const sp = await json<ServicePrincipal>({
          method: "GET",
          path: q(`servicePrincipals(appId=${odataString(appId)})`, { $select: SP_SELECT }),
          safe: true,
          lag: notFound,
          waitFor: { key: `sp-of:${appId.toLowerCase()}`, what: "the existing service principal" },
          permission: PERM.readApps,
          what: `read the existing service principal of app ${appId}`,
        });
        knownSp.set(appId.toLowerCase(), sp);
        await untilSpListed(appId, sp);
        return { servicePrincipal: sp, created: ambiguous };
      }
    },

    /** The automation app's own service principal (its object id owns what homelab creates). Cached. */
    servicePrincipalOfCaller(): Promise<ServicePrincipal> {
      callerSp ??= json<ServicePrincipal>({
        method: "GET",
        path: q(`servicePrincipals(appId=${odataString(opts.tokens.clientId)})`, { $select: SP_SELECT }),
        safe: true,
        permission: PERM.readApps,
        what: `read the automation app's service principal (appId ${opts.tokens.clientId})`,
      }).catch((err: unknown) => {
        callerSp = undefined;
        throw err;
      });
      return callerSp;
    },

    /** Alias of servicePrincipalOfCaller: `GET /me` only works with delegated tokens. */
    me(): Promise<ServicePrincipal> {
      return calls.servicePrincipalOfCaller();
    },
  };
  return calls;
}
