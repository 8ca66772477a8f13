import { byAddress, diffFields, type Change, type PlanPart } from "./common.js";
import type { Provider } from "../../engine/provider.js";
import type { ObservedCluster, ObservedRole } from "./observed.js";
import type { ClusterTarget } from "./target.js";

export const ROLE_KIND = "proxmox.role";

export const roleProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: ROLE_KIND,

  async read(target) {
    const roles = new Map<string, ObservedRole>();
    for (const r of await target.api.listRoles()) roles.set(r.roleid, r); // privs come sorted from the client
    return { roles };
  },

  plan(target, observed): PlanPart {
    const changes: Change[] = [];
    let unchanged = 0;
    const c = target.desired;
    for (const r of c.roles) {
      const have = observed.roles.get(r.roleid);
      const base = { address: r.address, kind: ROLE_KIND, target: c.name, dependsOn: [] };
      if (!have) changes.push({ ...base, action: "create", fields: [{ path: "privs", after: r.privs }] });
      else {
        const fields = diffFields({ privs: have.privs }, { privs: r.privs });
        if (fields.length) changes.push({ ...base, action: "update", fields });
        else unchanged++;
      }
    }
    if (c.prune.roles) {
      const declared = new Set(c.roles.map((r) => r.roleid));
      for (const have of [...observed.roles.values()].sort((a, b) => (a.roleid < b.roleid ? -1 : 1))) {
        if (have.special || declared.has(have.roleid)) continue;
        changes.push({
          address: `${ROLE_KIND}/${c.name}:${have.roleid}`, kind: ROLE_KIND, target: c.name, action: "delete", dependsOn: [],
          reason: "not declared in roles (prune.roles); its ACL entries disappear with it", fields: [{ path: "privs", before: have.privs }],
        });
      }
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    const roleid = change!.address.slice(change!.address.indexOf(":") + 1);
    const want = byAddress(target.desired.roles, change!.address);
    if (change!.action === "create") await target.api.createRole({ roleid, privs: want!.privs });
    else if (change!.action === "update") await target.api.updateRole(roleid, want!.privs);
    else if (change!.action === "delete") await target.api.deleteRole(roleid);
  },
};
