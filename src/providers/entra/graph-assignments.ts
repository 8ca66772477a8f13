import { GraphRequestError } from "./graph-errors.js";
import { NEW_SP, type GraphCore } from "./graph-http.js";
import { PERM, notFound } from "./graph-call.js";
import type { PrefetchedAssignments } from "./graph-service-principals.js";
import type { AppRoleAssignment } from "./types.js";

/**
 * App role assignments (spec 1.2, 3.9): who is assigned to an app (groups, to the default-access role or to an app
 * role), and what a service principal is granted (the automation app's Graph permissions, bootstrap). Part of the
 * Graph client (graph.ts).
 */

/** The documented default-access role (spec 3.9): "assigned to the resource app without any specific app roles". */
export const DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000";

export function assignmentCalls(core: GraphCore, prefetched: PrefetchedAssignments) {
  const { pageSize, send, json, list, q, seg, isFresh, waitFor, untilShown } = core;

  const calls = {
    /**
     * Who is assigned to the app (spec 3.9), all pages; or, once, the complete list findServicePrincipal read with
     * the service principal just before (no request). An assignment written through this client drops that list.
     */
    async listAppRoleAssignedTo(spId: string): Promise<AppRoleAssignment[]> {
      const read = prefetched.get(spId.toLowerCase());
      if (read) {
        prefetched.delete(spId.toLowerCase());
        return read;
      }
      return list<AppRoleAssignment>({
        path: q(`servicePrincipals/${seg(spId)}/appRoleAssignedTo`, { $top: pageSize }),
        ...(isFresh(spId) ? { lag: notFound, waitFor: waitFor(spId, NEW_SP) } : {}),
        permission: PERM.readApps,
        what: `list the assignments of service principal ${spId}`,
      });
    },

    /**
     * Assigns a group (or user) to the app with the default-access role, or the app role `appRoleId` (spec 3.9). After an ambiguous failure
     * the assignments are re-read (by principal and role) before the POST is repeated. A duplicate (400
     * "already exists") is re-read and the existing assignment returned with `existed: true` (spec 3.9),
     * unless an earlier attempt of this call failed ambiguously (then it is most likely that attempt's).
     */
    async assignGroup(spId: string, groupId: string, appRoleId: string = DEFAULT_ACCESS_ROLE_ID): Promise<AppRoleAssignment & { existed?: boolean }> {
      prefetched.delete(spId.toLowerCase());
      const lagging = isFresh(spId, groupId);
      const mine = (a: AppRoleAssignment) => a.principalId.toLowerCase() === groupId.toLowerCase() && a.appRoleId.toLowerCase() === appRoleId.toLowerCase();
      let ambiguous = false;
      /** The next run's read (the assignments of the service principal) shows it: see untilShown. */
      let listed: AppRoleAssignment | undefined;
      const shown = (): Promise<boolean> =>
        untilShown(`assignment:${spId.toLowerCase()}:${groupId.toLowerCase()}${appRoleId === DEFAULT_ACCESS_ROLE_ID ? "" : `:${appRoleId.toLowerCase()}`}`, "the new group assignment", `servicePrincipals/${seg(spId)}/appRoleAssignedTo`, async () => {
          listed = (await calls.listAppRoleAssignedTo(spId)).find(mine);
          return listed !== undefined;
        });
      try {
        const assignment = await json<AppRoleAssignment>({
          method: "POST",
          path: `servicePrincipals/${seg(spId)}/appRoleAssignedTo`,
          body: { principalId: groupId, resourceId: spId, appRoleId },
          safe: false,
          recover: async () => {
            ambiguous = true;
            return (await calls.listAppRoleAssignedTo(spId)).find(mine);
          },
          // Spec 3.9 / 4.4: terraform retries on 404 and 400 "Not a valid reference update".
          ...(lagging
            ? { lag: (s: number, _c: string | undefined, m: string) => s === 404 || (s === 400 && /not a valid reference update/i.test(m)), waitFor: waitFor(spId, NEW_SP) }
            : {}),
          permission: PERM.assign,
          what: `assign principal ${groupId} to service principal ${spId}`,
        });
        await shown();
        return assignment;
      } catch (err) {
        if (!(err instanceof GraphRequestError && err.status === 400 && /already exists/i.test(err.message))) throw err;
        const existed = !ambiguous;
        await shown();
        const existing = listed;
        if (existing) return { ...existing, existed };
        // Graph says it exists but the list does not show it yet (replication lag, spec 4.4): the wanted
        // state holds, so report it as done rather than fail a run that changed nothing.
        return { id: "", appRoleId, principalId: groupId, principalType: "Group", resourceId: spId, existed };
      }
    },

    /** Removes an assignment; one already gone counts as removed. */
    async removeAssignment(spId: string, assignmentId: string): Promise<void> {
      prefetched.delete(spId.toLowerCase());
      try {
        await send({
          method: "DELETE",
          path: `servicePrincipals/${seg(spId)}/appRoleAssignedTo/${seg(assignmentId)}`,
          safe: true,
          permission: PERM.assign,
          what: `remove assignment ${assignmentId} from service principal ${spId}`,
        });
      } catch (err) {
        if (err instanceof GraphRequestError && err.status === 404) return;
        throw err;
      }
    },

    /** What a service principal is granted (`/servicePrincipals/{id}/appRoleAssignments`, spec 1.2), all pages. */
    async listAppRoleAssignments(spId: string): Promise<AppRoleAssignment[]> {
      return list<AppRoleAssignment>({
        path: q(`servicePrincipals/${seg(spId)}/appRoleAssignments`, { $top: pageSize }),
        permission: PERM.grant,
        what: `list the permissions granted to service principal ${spId}`,
      });
    },

    /**
     * Grant an app role of `resourceId` (e.g. Microsoft Graph's service principal) to `spId`: how admin consent
     * to application permissions is done through Graph (spec 1.2). Right after `spId` was created, 404 and 400
     * "Not a valid reference update" are replication lag (3.9, 4.4). A duplicate (400 "already exists") is success.
     */
    async grantAppRole(spId: string, resourceId: string, appRoleId: string): Promise<void> {
      try {
        await json<AppRoleAssignment>({
          method: "POST",
          path: `servicePrincipals/${seg(spId)}/appRoleAssignments`,
          body: { principalId: spId, resourceId, appRoleId },
          safe: false,
          recover: async () =>
            (await calls.listAppRoleAssignments(spId)).find(
              (a) => a.resourceId.toLowerCase() === resourceId.toLowerCase() && a.appRoleId.toLowerCase() === appRoleId.toLowerCase(),
            ),
          ...(isFresh(spId)
            ? { lag: (st: number, _c: string | undefined, m: string) => st === 404 || (st === 400 && /not a valid reference update/i.test(m)), waitFor: waitFor(spId, NEW_SP) }
            : {}),
          permission: PERM.grant,
          what: `grant app role ${appRoleId} of ${resourceId} to service principal ${spId}`,
        });
      } catch (err) {
        if (err instanceof GraphRequestError && err.status === 400 && /already exists/i.test(err.message)) return;
        throw err;
      }
    },
  };
  return calls;
}
