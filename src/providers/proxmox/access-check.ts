import { AuthError } from "../../core/errors.js";
import type { Provider } from "../../engine/provider.js";
import type { ObservedCluster } from "./observed.js";
import type { ClusterTarget } from "./target.js";

export const ACCESS_CHECK_KIND = "proxmox.access";

/**
 * Not a resource: a pre-flight of the token's own view. Proxmox filters `GET /access/users` and
 * `GET /access/acl` by the caller's rights (access API spec 3.2, 3.6) and answers a restricted token with
 * a partial list, not an error. A plan made from a partial view is wrong (it would "create" users that
 * exist), so a token without `Sys.Audit` on `/access` is refused before any planning. One request
 * (`GET /access/permissions`, the caller's effective privileges on the default paths, spec 3.7); the
 * answer is kept in the observed state (`permissions`) for the write-privilege pre-flight (guard.ts).
 */
export const accessCheckProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: ACCESS_CHECK_KIND,

  async read(target) {
    const perms = await target.api.permissions();
    // The entry for /access holds the effective privileges there, inherited ones included.
    if (!("Sys.Audit" in (perms["/access"] ?? {}))) {
      const c = target.desired;
      throw new AuthError({
        service: "proxmox",
        method: "GET",
        url: `${c.url}/api2/json/access/permissions`,
        code: "E_PARTIAL_VIEW",
        message: `proxmox cluster '${c.name}': token ${target.runAs.tokenId} lacks Sys.Audit on /access, so Proxmox shows it only part of the users and ACL entries; a plan from a partial view would be wrong`,
        hint: "give the token Administrator on / (and with privilege separation, its user too); a read-only token for `homelab plan` needs at least PVEAuditor on /access",
      });
    }
    // Kept for the guard's write-privilege pre-flight (guard.ts): Proxmox's own answer, pools included.
    return { permissions: perms };
  },

  plan() {
    return { changes: [], unchanged: 0 };
  },

  async apply() {
    // Never planned.
  },
};
