import type { Change } from "../../core/plan.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import { DEFAULT_ACCESS_ROLE_ID } from "./graph.js";
import { ENTRA_GROUP_KIND } from "./group.js";
import { spAddress } from "./service-principal.js";
import { isHomelabRole, observedRoles } from "./application.js";
import { appOf, type ObservedTenant, type TenantTarget } from "./target.js";

export const ASSIGNMENT_KIND = "entra.assignment";

/**
 * Each mapped group is assigned to the app (spec 3.9), so that with `groupMembershipClaims:
 * ApplicationGroup` its members' tokens carry it in the groups claim (5.3). With `groupsClaim: roles` (issue 13
 * part 3) each group is assigned to its own app role instead, whose value its members' tokens carry in the
 * `roles` claim. A role that goes is disabled and removed by the application planner; its assignments then
 * name no role and put nothing in tokens, so homelab removes the assignments to the roles it removes (a role made
 * by hand, and its assignments, are left alone).
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
      const roleOf = new Map((d.appRoles ?? []).map((r) => [r.group.toLowerCase(), r]));
      for (const name of d.assignedGroups) {
        const role = d.appRoles ? roleOf.get(name.toLowerCase()) : undefined;
        const roleId = role?.id ?? DEFAULT_ACCESS_ROLE_ID;
        const groupId = target.resolver.value({ ref: `${ENTRA_GROUP_KIND}/${t}:${name}`, field: "id" });
        if (groupId && existing.some((a) => a.principalId.toLowerCase() === groupId.toLowerCase() && a.appRoleId.toLowerCase() === roleId)) {
          unchanged++;
          continue;
        }
        changes.push({
          address: `${ASSIGNMENT_KIND}/${t}:${d.realm}:${name}`, kind: ASSIGNMENT_KIND, target: t, action: "create",
          // A role must exist on the app before a group can be assigned to it.
          dependsOn: [spAddress(t, d.realm), ...(role ? [d.address] : [])],
          fields: [{ path: "group", after: name }, { path: "groupId", after: groupId ?? "(known after apply)" }, ...(role ? [{ path: "appRole", after: role.value }] : [])],
          data: { group: name, realm: d.realm, ...(role ? { appRoleId: role.id } : {}) },
        });
      }
      // Assignments to a role homelab defined and now removes (its mapped group left the file): they would name no
      // role and put nothing in tokens, so they go in the same run (issue 13 part 3).
      if (app && sp) {
        const wanted = new Set((d.appRoles ?? []).map((r) => r.id.toLowerCase()));
        const going = new Map(observedRoles(app).filter((r) => isHomelabRole(r) && !wanted.has(r.id.toLowerCase())).map((r) => [r.id.toLowerCase(), r]));
        for (const a of existing) {
          const role = going.get(a.appRoleId.toLowerCase());
          if (!role) continue;
          changes.push({
            address: `${ASSIGNMENT_KIND}/${t}:${d.realm}:${a.principalDisplayName ?? a.principalId}/${role.value ?? role.id}`, kind: ASSIGNMENT_KIND, target: t, action: "delete",
            reason: `app role ${role.value ?? role.id} is removed`,
            dependsOn: [],
            fields: [{ path: "group", before: a.principalDisplayName ?? a.principalId }, { path: "appRole", before: role.value ?? role.id }],
            data: { realm: d.realm, spId: sp.id, assignmentId: a.id },
          });
        }
      }
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    if (change!.action === "delete") {
      const { spId, assignmentId } = change!.data as { spId: string; assignmentId: string };
      await target.graph.removeAssignment(spId, assignmentId);
      return;
    }
    const { group, realm, appRoleId } = change!.data as { group: string; realm: string; appRoleId?: string };
    const t = target.desired.name;
    const spId = target.resolver.value({ ref: spAddress(t, realm), field: "id" });
    const groupId = target.resolver.value({ ref: `${ENTRA_GROUP_KIND}/${t}:${group}`, field: "id" });
    if (!spId || !groupId) throw new Error(`${change!.address}: the service principal or the group is not known`);
    const assignment = await target.graph.assignGroup(spId, groupId, appRoleId);
    return assignment.existed ? { adopted: true } : undefined;
  },
};
