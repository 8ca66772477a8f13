import type { Change } from "../../core/plan.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import { ENTRA_GROUP_KIND } from "./group.js";
import { spAddress } from "./service-principal.js";
import { appOf, type ObservedTenant, type TenantTarget } from "./target.js";

export const ASSIGNMENT_KIND = "entra.assignment";

/**
 * Each mapped group is assigned to the app (spec 3.9), so that with `groupMembershipClaims:
 * ApplicationGroup` its members' tokens carry it in the groups claim (5.3). Assignments homelab did not
 * plan are left alone.
 */
export const assignmentProvider: Provider<TenantTarget, ObservedTenant> = {
  kind: ASSIGNMENT_KIND,
  async read() {
    return {};
  },

  plan(target, observed): PlanPart {
    const changes: Change[] = [];
    let unchanged = 0;
    const t = target.desired.name;
    for (const d of target.desired.applications) {
      const app = appOf(observed, d.realm);
      const sp = app ? observed.sps.get(app.appId) : undefined;
      const existing = sp ? (observed.assignments.get(sp.id) ?? []) : [];
      for (const name of d.assignedGroups) {
        const groupId = target.resolver.value({ ref: `${ENTRA_GROUP_KIND}/${t}:${name}`, field: "id" });
        if (groupId && existing.some((a) => a.principalId.toLowerCase() === groupId.toLowerCase())) {
          unchanged++;
          continue;
        }
        changes.push({
          address: `${ASSIGNMENT_KIND}/${t}:${d.realm}:${name}`, kind: ASSIGNMENT_KIND, target: t, action: "create",
          dependsOn: [spAddress(t, d.realm)], fields: [{ path: "group", after: name }, { path: "groupId", after: groupId ?? "(known after apply)" }],
          data: { group: name, realm: d.realm },
        });
      }
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    const { group, realm } = change!.data as { group: string; realm: string };
    const t = target.desired.name;
    const spId = target.resolver.value({ ref: spAddress(t, realm), field: "id" });
    const groupId = target.resolver.value({ ref: `${ENTRA_GROUP_KIND}/${t}:${group}`, field: "id" });
    if (!spId || !groupId) throw new Error(`${change!.address}: the service principal or the group is not known`);
    const assignment = await target.graph.assignGroup(spId, groupId);
    return assignment.existed ? { adopted: true } : undefined;
  },
};
