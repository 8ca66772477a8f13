import { GraphRequestError } from "./graph-errors.js";
import { NEW_APP, odataString, type GraphCore } from "./graph-http.js";
import { PERM, notFound, type Reply } from "./graph-call.js";
import type { ApplicationCreate, ApplicationPatch, EntraApplication } from "./types.js";

/**
 * Application objects (spec 3.1-3.6): find by tag, display name or client id, read, create (the `uniqueName`
 * upsert of spec 3.4 for realm apps), update and delete. Part of the Graph client (graph.ts).
 */

export const APP_SELECT = [
  "id",
  "appId",
  "displayName",
  "tags",
  "notes",
  "signInAudience",
  "web",
  "groupMembershipClaims",
  "optionalClaims",
  "requiredResourceAccess",
  "passwordCredentials",
  "appRoles",
].join(",");

export function applicationCalls(core: GraphCore) {
  const { opts, base, pageSize, send, json, list, chunked, q, seg, isFresh, markFresh, waitFor, ownerBind } = core;

  /** createApplication by `uniqueName` (spec 3.4); see there. */
  async function upsertApplication(body: ApplicationCreate, ownerId: string, uniqueName: string): Promise<EntraApplication & { adopted?: boolean }> {
    const byKey = `applications(uniqueName=${odataString(uniqueName)})`;
    let ambiguous = false;
    let reply: Reply | undefined;
    try {
      reply = await send({
        method: "PATCH",
        path: byKey,
        body: { ...body, "owners@odata.bind": ownerBind(ownerId) },
        headers: { prefer: "create-if-missing" },
        safe: true,
        // Only to learn that an attempt was ambiguous: the upsert itself is what makes a repeat safe.
        recover: async () => {
          ambiguous = true;
          return undefined;
        },
        permission: PERM.writeApps,
        what: `create application '${body.displayName}'`,
      });
    } catch (err) {
      if (!(err instanceof GraphRequestError && err.status === 400 && err.graphCode === "Request_MultipleObjectsWithSameKeyValue")) throw err;
    }
    if (reply?.status === 201 && reply.body && typeof reply.body === "object") {
      const app = reply.body as EntraApplication;
      markFresh(app.id, app.appId);
      return app;
    }
    // 204 or "already exists": it exists, so a 404 on reading it by its key is replication lag.
    const app = await json<EntraApplication>({
      method: "GET",
      path: q(byKey, { $select: APP_SELECT }),
      safe: true,
      lag: notFound,
      waitFor: { key: `app-named:${uniqueName.toLowerCase()}`, what: NEW_APP },
      permission: PERM.readApps,
      what: `read application ${uniqueName}`,
    }).catch((err: unknown) => {
      if (!(err instanceof GraphRequestError && err.status === 404)) throw err;
      // Refused as a duplicate, yet never readable: most likely an app deleted to "Deleted applications", which
      // may keep its key [U: spec 8 item 5, the upsert is not verified against the live service].
      throw new GraphRequestError({
        service: "graph",
        method: "GET",
        url: `${base}${byKey}`,
        status: 404,
        message: `Graph (tenant ${opts.tenant}): an app registration with uniqueName '${uniqueName}' exists but cannot be read`,
        hint: `if it was deleted, restore it from "Deleted applications" in the Entra admin center (homelab then takes it back) or delete it permanently there; otherwise run again later (replication lag)`,
        cause: err,
      });
    });
    markFresh(app.id, app.appId);
    return ambiguous ? app : { ...app, adopted: true };
  }

  const calls = {
    /** Applications carrying `tag` (one request per page; spec 3.1). Includes apps homelab may not own. */
    async listApplicationsByTag(tag: string): Promise<EntraApplication[]> {
      return list<EntraApplication>({
        path: q("applications", { $filter: `tags/any(t:t eq ${odataString(tag)})`, $select: APP_SELECT, $top: pageSize }),
        permission: PERM.readApps,
        what: `list applications tagged '${tag}'`,
      });
    },

    /** One application by object id; 404 means absent unless this client just created it (then it waits). */
    async getApplication(id: string): Promise<EntraApplication> {
      return json<EntraApplication>({
        method: "GET",
        path: q(`applications/${seg(id)}`, { $select: APP_SELECT }),
        safe: true,
        ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
        permission: PERM.readApps,
        what: `read application ${id}`,
      });
    },

    /**
     * Creates an application with `ownerId` (the automation app's service principal object id) as owner, so
     * that Application.ReadWrite.OwnedBy can manage it later (errata 9.2). The response is authoritative (spec
     * 4.4): its ids are kept and later reads of them wait out lag.
     *
     * With `uniqueName` (every realm app), the create is the upsert of spec 3.4, `PATCH
     * /applications(uniqueName='…')` with `Prefer: create-if-missing`: Graph itself refuses a second app with
     * that key, even while the first is still replicating, so a create whose answer was lost, or that a killed
     * run made, is never made twice (chain soak C1: a re-read by tag misses an app that is not visible yet).
     * It is safe to repeat after a 5xx or a lost answer. Its outcomes: 201, the app made now; 204, it existed
     * and was updated to this body; 400 Request_MultipleObjectsWithSameKeyValue, it exists but is not visible
     * yet. In the last two the app is read by its key (waiting out lag) and returned with `adopted: true`,
     * unless an earlier attempt of this call failed ambiguously (then it is most likely that attempt's).
     *
     * Without `uniqueName` (the automation app of `bootstrap`) it is a POST, repeated after an ambiguous failure
     * only when the body carries a `homelab:` identity tag and a re-read by that tag found no app.
     */
    async createApplication(body: ApplicationCreate, ownerId: string, uniqueName?: string): Promise<EntraApplication & { adopted?: boolean }> {
      if (uniqueName !== undefined) return upsertApplication(body, ownerId, uniqueName);
      const tag = (Array.isArray(body.tags) ? (body.tags as unknown[]) : []).find((t): t is string => typeof t === "string" && t.startsWith("homelab:"));
      const app = await json<EntraApplication>({
        method: "POST",
        path: "applications",
        body: { ...body, "owners@odata.bind": ownerBind(ownerId) },
        safe: false,
        ...(tag
          ? {
              recover: async () => {
                const found = await calls.listApplicationsByTag(tag);
                if (found.length > 1)
                  throw new GraphRequestError({
                    service: "graph",
                    method: "POST",
                    url: `${base}applications`,
                    message: `Graph (tenant ${opts.tenant}): ${found.length} app registrations carry the tag ${tag} (${found.map((a) => a.appId).join(", ")}) after a failed create`,
                    hint: "homelab never creates two: delete the extra app registration in Entra ID, then run again",
                  });
                return found[0];
              },
            }
          : {}),
        permission: PERM.writeApps,
        what: `create application '${body.displayName}'`,
      });
      markFresh(app.id, app.appId);
      return app;
    },

    /**
     * Applications named `displayName` (one filtered request, every page; spec 3.1: display names are not
     * unique). Graph compares case-insensitively; only exact matches are returned.
     */
    async findApplicationsByDisplayName(displayName: string): Promise<EntraApplication[]> {
      const found = await list<EntraApplication>({
        path: q("applications", { $filter: `displayName eq ${odataString(displayName)}`, $select: APP_SELECT, $top: pageSize }),
        permission: PERM.readApps,
        what: `find applications named '${displayName}'`,
      });
      return found.filter((a) => a.displayName === displayName);
    },

    /** PATCH: lists are replaced whole, nested objects merged (errata 9.9). Repeated on 409/5xx (idempotent). */
    async updateApplication(id: string, patch: ApplicationPatch): Promise<void> {
      await send({
        method: "PATCH",
        path: `applications/${seg(id)}`,
        body: patch,
        safe: true,
        ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
        permission: PERM.writeApps,
        what: `update application ${id}`,
      });
    },

    /** Deletes (to deleted items, spec 3.6). Idempotent: an application already gone counts as deleted. */
    async deleteApplication(id: string): Promise<void> {
      try {
        await send({
          method: "DELETE",
          path: `applications/${seg(id)}`,
          safe: true,
          ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `delete application ${id}`,
        });
      } catch (err) {
        if (err instanceof GraphRequestError && err.status === 404) return;
        throw err;
      }
    },

    /** Applications by client id (`appId in (...)`, 15 per request), e.g. to adopt a hand-made app (import). */
    async findApplicationsByAppId(appIds: string[]): Promise<EntraApplication[]> {
      return chunked<EntraApplication>(appIds, (c) => ({
        path: q("applications", { $filter: `appId in (${c.map(odataString).join(",")})`, $select: APP_SELECT, $top: pageSize }),
        permission: PERM.readApps,
        what: "find applications by client id",
      }));
    },
  };
  return calls;
}
