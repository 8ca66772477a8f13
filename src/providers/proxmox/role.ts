import { byAddress, diffFields, type Change, type PlanPart } from "./common.js";
import type { Provider } from "../../engine/provider.js";
import { aclAddress, aclPrunes, prunedPrincipals } from "./acl.js";
import type { ObservedAcl, ObservedCluster, ObservedRole } from "./observed.js";
import type { ClusterTarget } from "./target.js";

export const ROLE_KIND = "proxmox.role";

export const roleProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: ROLE_KIND,

  async read(target) {
    const roles = new Map<string, ObservedRole>();
    for (const r of await target.api.listRoles()) roles.set(r.roleid, r); // privs come sorted from the client
    return { roles };
  },

  plan(target, observed, world = new Map()): PlanPart {
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
    const warnings: string[] = [];
    if (c.prune.roles) {
      const declared = new Set(c.roles.map((r) => r.roleid));
      // Deleting a role silently removes every ACL entry that uses it (spec 3.5, 5.3). So a role is deleted
      // only when this plan removes each of its entries anyway: entries the ACL planner prunes (their
      // deletes go first: the ACL endpoint checks the role even when deleting, issue 8 failure 7), and
      // entries of users and groups being deleted. Any other entry keeps the role, with a warning.
      const pruned = new Map(aclPrunes(target, observed, world).map((e) => [aclAddress(c.name, e), e]));
      const gone = prunedPrincipals(target, observed, world);
      for (const have of [...observed.roles.values()].sort((a, b) => (a.roleid < b.roleid ? -1 : 1))) {
        if (have.special || declared.has(have.roleid)) continue;
        const uses = observed.acl.filter((e) => e.roleid === have.roleid);
        // A token's entries go with its user too (a deleted user takes its tokens, spec 5.3).
        const goes = (e: ObservedAcl) => gone.has(`${e.type}:${e.ugid}`) || (e.type === "token" && gone.has(`user:${e.ugid.slice(0, e.ugid.lastIndexOf("!"))}`));
        const kept = uses.filter((e) => !pruned.has(aclAddress(c.name, e)) && !goes(e));
        if (kept.length > 0) {
          const shown = kept.slice(0, 5).map((e) => `${e.path} ${e.type} ${e.ugid}`).join(", ");
          warnings.push(`cluster ${c.name}: role ${have.roleid} is not declared but is not deleted (prune.roles): ${kept.length} ACL ${kept.length === 1 ? "entry" : "entries"} that homelab does not remove still ${kept.length === 1 ? "uses" : "use"} it (${shown}${kept.length > 5 ? ", ..." : ""}); deleting it would remove ${kept.length === 1 ? "that entry" : "them"} silently`);
          continue;
        }
        const viaAcl = uses.map((e) => aclAddress(c.name, e)).filter((a) => pruned.has(a));
        changes.push({
          address: `${ROLE_KIND}/${c.name}:${have.roleid}`, kind: ROLE_KIND, target: c.name, action: "delete", dependsOn: viaAcl,
          reason: uses.length === 0 ? "not declared in roles (prune.roles); no ACL entry uses it" : `not declared in roles (prune.roles); after the ACL entries that use it are removed`,
          fields: [{ path: "privs", before: have.privs }],
        });
      }
    }
    return { changes, unchanged, warnings };
  },

  async apply([change], target) {
    const roleid = change!.address.slice(change!.address.indexOf(":") + 1);
    const want = byAddress(target.desired.roles, change!.address);
    if (change!.action === "create") await target.api.createRole({ roleid, privs: want!.privs });
    else if (change!.action === "update") await target.api.updateRole(roleid, want!.privs);
    else if (change!.action === "delete") await target.api.deleteRole(roleid);
  },
};
