import { PERM, notFound } from "./graph-call.js";
import { odataString, type GraphCore } from "./graph-http.js";

/**
 * App management policies (issue 9 failure 5): the tenant default, the policy applied to an app, and the apps'
 * creation times their restrictions are compared with. Returned as Graph sends them; policy.ts parses and judges.
 * Part of the Graph client (graph.ts).
 */

export function policyCalls(core: GraphCore) {
  const { pageSize, json, list, q, seg, isFresh } = core;

  const calls = {
    /**
     * The tenant default app management policy (`GET /policies/defaultAppManagementPolicy`, Graph's
     * tenantappmanagementpolicy-get: Policy.Read.All). Returned as Graph sends it; policy.ts reads the fields.
     */
    async getDefaultAppManagementPolicy(): Promise<Record<string, unknown>> {
      return json<Record<string, unknown>>({
        method: "GET",
        path: "policies/defaultAppManagementPolicy",
        safe: true,
        permission: "Policy.Read.All (homelab bootstrap grants it)",
        what: "read the tenant's default app management policy",
      });
    },

    /**
     * The app management policies applied to an application (0 or 1; `GET /applications/{id}/appManagementPolicies`,
     * Application.Read.All and Policy.Read.All), all pages.
     */
    async listAppManagementPoliciesOf(id: string): Promise<Record<string, unknown>[]> {
      return list<Record<string, unknown>>({
        path: `applications/${seg(id)}/appManagementPolicies`,
        ...(isFresh(id) ? { lag: notFound } : {}),
        permission: "Policy.Read.All and Application.Read.All (homelab bootstrap grants both)",
        what: `list the app management policies applied to application ${id}`,
      });
    },

    /**
     * Applications carrying `tag`, with the creation time a policy's `restrictForAppsCreatedAfterDateTime` is
     * compared with (not in the usual `$select`).
     */
    async listApplicationCreationTimes(tag: string): Promise<Array<{ id: string; appId: string; displayName: string; createdDateTime?: string | null }>> {
      return list<{ id: string; appId: string; displayName: string; createdDateTime?: string | null }>({
        path: q("applications", { $filter: `tags/any(t:t eq ${odataString(tag)})`, $select: "id,appId,displayName,createdDateTime", $top: pageSize }),
        permission: PERM.readApps,
        what: `list applications tagged '${tag}' with their creation times`,
      });
    },

    /**
     * listApplicationCreationTimes with the policy applied to each app (`$expand=appManagementPolicies`, 0 or 1 each):
     * the policy reads of a realm in one request instead of one more per app. Pages of at most 100 with `$expand`
     * (Graph known issues); a realm has one app.
     */
    async listApplicationPolicies(tag: string): Promise<Array<{ id: string; appId: string; displayName: string; createdDateTime?: string | null; appManagementPolicies?: Record<string, unknown>[] }>> {
      return list({
        path: q("applications", { $filter: `tags/any(t:t eq ${odataString(tag)})`, $select: "id,appId,displayName,createdDateTime", $expand: "appManagementPolicies", $top: pageSize }),
        permission: "Policy.Read.All and Application.Read.All (homelab bootstrap grants both)",
        what: `list applications tagged '${tag}' with their app management policies`,
      });
    },
  };
  return calls;
}
