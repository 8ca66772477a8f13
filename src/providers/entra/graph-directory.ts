import { PERM } from "./graph-call.js";
import { odataString, type GraphCore } from "./graph-http.js";
import type { EntraGroup, EntraMember, EntraUser, EntraUserStatus } from "./types.js";

/**
 * Groups and users (spec 3.11, issue 13): groups by display name or id, a group's transitive user members (members
 * sync), the directory's users with `accountEnabled` (leavers), users by UPN. Part of the Graph client (graph.ts).
 */

const GROUP_SELECT = "id,displayName,securityEnabled,mailEnabled,groupTypes";
const USER_SELECT = "id,displayName,userPrincipalName,mail";
/**
 * A group member as members sync needs it (issue 13): the three keys a username claim can name (`id`, UPN, mail),
 * the names a new Proxmox user gets, and `accountEnabled` (returned only when selected, and only with
 * User.Read.All or Directory.Read.All: null otherwise, sim13 notes).
 */
const MEMBER_SELECT = "id,userPrincipalName,mail,givenName,surname,accountEnabled";
/** A directory user as leaver detection needs it: the claim keys and whether the account is enabled. */
const USER_STATUS_SELECT = "id,userPrincipalName,mail,accountEnabled";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function directoryCalls(core: GraphCore) {
  const { pageSize, list, chunked, q, seg } = core;

  const calls = {
    /** Groups by object id (`id in (...)`, 15 per request): the Entra groups behind `<objectid>-<realm>` ids (import). */
    async findGroupsById(ids: string[]): Promise<EntraGroup[]> {
      return chunked<EntraGroup>(ids, (c) => ({
        path: q("groups", { $filter: `id in (${c.map(odataString).join(",")})`, $select: GROUP_SELECT, $top: pageSize }),
        permission: PERM.groups,
        what: "find groups by object id",
      }));
    },

    /**
     * Groups by display name (spec 3.11), one request per 15 names. Each requested name maps to every group
     * that carries it: none (missing), one, or several (display names are not unique; the caller must refuse
     * the ambiguity). Graph compares case-insensitively; exact-case matches win when there are any.
     */
    async findGroupsByDisplayName(names: string[]): Promise<Map<string, EntraGroup[]>> {
      const wanted = [...new Set(names)];
      const found = await chunked<EntraGroup>(wanted, (c) => ({
        path: q("groups", { $filter: `displayName in (${c.map(odataString).join(",")})`, $select: GROUP_SELECT, $top: pageSize }),
        permission: PERM.groups,
        what: "find groups by display name",
      }));
      const out = new Map<string, EntraGroup[]>();
      for (const name of wanted) {
        const ci = found.filter((g) => g.displayName.toLowerCase() === name.toLowerCase());
        const exact = ci.filter((g) => g.displayName === name);
        out.set(name, exact.length > 0 ? exact : ci);
      }
      return out;
    },

    /**
     * The transitive USER members of a group (issue 13 members sync): `/groups/{id}/transitiveMembers/microsoft.graph.user`,
     * nested groups resolved by Graph, each user once, `$top` 999 per page: one paged read per group whatever its size
     * up to 999 members. The cast leaves out groups, devices and service principals.
     */
    async listTransitiveUserMembers(groupId: string): Promise<EntraMember[]> {
      return list<EntraMember>({
        path: q(`groups/${seg(groupId)}/transitiveMembers/microsoft.graph.user`, { $select: MEMBER_SELECT, $top: pageSize }),
        permission: PERM.members,
        what: `list the members of group ${groupId}`,
      });
    },

    /**
     * Every user of the directory with `accountEnabled` (issue 13 leavers): one paged read, 999 per page. A deleted
     * account is simply absent, which only a read of the whole directory can tell (a per-user read would be one
     * request per Proxmox user).
     */
    async listUserStatuses(): Promise<EntraUserStatus[]> {
      return list<EntraUserStatus>({
        path: q("users", { $select: USER_STATUS_SELECT, $top: pageSize }),
        permission: PERM.userStatus,
        what: "list the directory's users with accountEnabled",
      });
    },

    /**
     * The users named `names` by one claim key (`userPrincipalName`, `mail` or `id`), with `accountEnabled`: the leavers
     * read when only a few Proxmox users are to be checked (`in (...)`, 15 per request, every page; see directory.ts
     * directoryRead). A name without an account is simply absent. An `id` that is not a GUID names no account and is
     * not sent (Graph refuses a malformed object id, errata 9.8).
     */
    async findUserStatuses(key: "userPrincipalName" | "mail" | "id", names: string[]): Promise<EntraUserStatus[]> {
      const wanted = key === "id" ? names.filter((n) => GUID.test(n)) : names;
      return chunked<EntraUserStatus>(wanted, (c) => ({
        path: q("users", { $filter: `${key} in (${c.map(odataString).join(",")})`, $select: USER_STATUS_SELECT, $top: pageSize }),
        permission: PERM.userStatus,
        what: `read whether the accounts of ${c.length} user${c.length === 1 ? "" : "s"} are enabled`,
      }));
    },

    /** Users by userPrincipalName (spec 3.11), one request per 15 UPNs; absent UPNs map to undefined. */
    async findUsers(upns: string[]): Promise<Map<string, EntraUser | undefined>> {
      const wanted = [...new Set(upns)];
      const found = await chunked<EntraUser>(wanted, (c) => ({
        path: q("users", { $filter: `userPrincipalName in (${c.map(odataString).join(",")})`, $select: USER_SELECT, $top: pageSize }),
        permission: PERM.users,
        what: "find users by userPrincipalName",
      }));
      const out = new Map<string, EntraUser | undefined>();
      for (const upn of wanted) out.set(upn, found.find((u) => u.userPrincipalName.toLowerCase() === upn.toLowerCase()));
      return out;
    },
  };
  return calls;
}
