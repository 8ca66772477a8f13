import { graphClaimKey, type DesiredTenant } from "../../core/desired.js";
import { UserError } from "../../core/errors.js";
import { IN_CHUNK } from "./graph-call.js";
import type { ObservedTenant } from "./target.js";
import type { EntraGroup } from "./types.js";

/**
 * What the tenant side knows about people (issue 13), for the Proxmox user planner: which Entra account a
 * Proxmox user id is, whether it is enabled, who is in a synced group. Pure, except the reads group.ts makes.
 */

/** The groups named `displayName` (case-insensitive, as Graph compares), from findGroupsByDisplayName's answer. */
export function exactGroup(groups: ReadonlyMap<string, EntraGroup[]>, displayName: string): EntraGroup[] {
  const lc = displayName.toLowerCase();
  return [...groups.entries()]
    .filter(([name]) => name.toLowerCase() === lc)
    .flatMap(([, list]) => list)
    .filter((m) => m.displayName.toLowerCase() === lc);
}

/**
 * Whether a realm the tenant provisions names users by a claim Graph can tell (upn, email, oid), so its leavers can
 * be found. With `sub` nobody can be matched, so nothing is read. (verify reads the directory when this holds.)
 */
export function directoryNeeded(t: DesiredTenant): boolean {
  return t.applications.some((a) => graphClaimKey(a.usernameClaim) !== undefined);
}

/**
 * The Proxmox users of each realm the tenant provisions, as `directoryRead` takes them (`realm → names without
 * "@realm"`), from the user ids each cluster the realm is on holds (`usersOf(cluster)`: the cluster's read; undefined
 * when it was not read). root@pam and users of other realms are left out.
 */
export function realmUsers(t: DesiredTenant, usersOf: (cluster: string) => Iterable<string> | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of t.applications) {
    const suffix = `@${a.realm}`;
    const names = new Set<string>();
    for (const cluster of new Set(a.secrets.map((s) => s.cluster))) {
      for (const userid of usersOf(cluster) ?? []) if (userid.endsWith(suffix) && userid.length > suffix.length) names.add(userid.slice(0, -suffix.length));
    }
    if (names.size > 0) out.set(a.realm, [...names]);
  }
  return out;
}

/**
 * How to read the accounts leaver detection needs (issue 12: read only what the config needs), given the Proxmox users
 * of each realm the tenant provisions (`realm → user names without "@realm"`, as the clusters' reads found them):
 * - `none`: no realm can name its users from Graph (`sub`), or no realm has a user in Proxmox: nothing to check;
 * - `some`: at most IN_CHUNK names (Graph's limit of values in one `in (...)`), all by one claim key: one filtered
 *   request (`findUserStatuses`), whatever the size of the directory;
 * - `all`: the whole directory (`listUserStatuses`, ceil(users / 999) requests), which beats ceil(names / 15) filtered
 *   requests as soon as there are more names than one filtered request holds.
 * An absent account is "gone" either way: the filtered read asks for exactly the names leavers.ts looks up.
 * Read after the first plan (group.ts readAfterPlan), once the clusters' reads have found the realms' users.
 */
export type DirectoryRead = { kind: "none" } | { kind: "some"; key: "userPrincipalName" | "mail" | "id"; names: string[] } | { kind: "all" };

export function directoryRead(t: DesiredTenant, realmUsers: ReadonlyMap<string, readonly string[]>): DirectoryRead {
  const byKey = new Map<"userPrincipalName" | "mail" | "id", Set<string>>();
  for (const a of t.applications) {
    const key = graphClaimKey(a.usernameClaim);
    const names = realmUsers.get(a.realm) ?? [];
    if (key === undefined || names.length === 0) continue;
    const set = byKey.get(key) ?? new Set<string>();
    for (const n of names) set.add(n.toLowerCase());
    byKey.set(key, set);
  }
  if (byKey.size === 0) return { kind: "none" };
  const [only] = byKey;
  if (byKey.size === 1 && only && only[1].size <= IN_CHUNK) return { kind: "some", key: only[0], names: [...only[1]].sort() };
  return { kind: "all" };
}

export const GRANT_HINT = (t: { name: string }) =>
  `grant the automation app the Microsoft Graph application permission User.Read.All (or Directory.Read.All) with admin consent: run \`homelab bootstrap --tenant ${t.name}\` again (it grants it), or add it in the Entra admin center (App registrations > the automation app > API permissions) and grant admin consent`;

/**
 * Refuses, before anything is written, a plan made from member reads that permissions blinded (issue 13, sim13
 * notes): members read with a group permission only come back as "limited information" (`id`, every other
 * property null), so the Proxmox user ids cannot be made.
 */
export function refuseUnreadable(t: DesiredTenant, observed: ObservedTenant): void {
  for (const [groupId, members] of observed.members ?? []) {
    const blind = members.filter((m) => typeof m.userPrincipalName !== "string");
    if (blind.length > 0) {
      const name = t.groups.find((g) => g.syncMembers && observed.groups.get(g.displayName)?.some((x) => x.id.toLowerCase() === groupId))?.displayName ?? groupId;
      throw new UserError(
        `tenant ${t.name}: Microsoft Graph returns only the object ids of ${blind.length} member${blind.length === 1 ? "" : "s"} of Entra group "${name}" (members: sync), not their user names`,
        { code: "E_ENTRA_PERMISSION", hint: `Graph gives "limited information" about members the caller may not read: ${GRANT_HINT(t)}` },
      );
    }
  }
}

/** Whether Graph said, for anyone at all, whether their account is enabled (it does not without User.Read.All). */
export function accountsReadable(people: ReadonlyArray<{ accountEnabled?: boolean | null }>): boolean {
  return people.length === 0 || people.some((u) => typeof u.accountEnabled === "boolean");
}

/**
 * `accountEnabled` is null for everyone without User.Read.All (or Directory.Read.All): a leaver cannot be told from
 * anyone else. A value that is not a boolean means "cannot tell", never "enabled". With `leavers: report` (the
 * default) that is a warning, so a tenant bootstrapped before leavers existed keeps working; a realm whose
 * `leavers` acts (disable, delete) is refused by the leaver planner (src/providers/proxmox/leavers.ts).
 */
export function unreadableWarning(t: DesiredTenant, observed: ObservedTenant): string | undefined {
  const people = [...(observed.directory ?? []), ...[...(observed.members?.values() ?? [])].flat()];
  if (accountsReadable(people)) return undefined;
  const realms = t.applications.filter((a) => graphClaimKey(a.usernameClaim) !== undefined).map((a) => a.realm);
  return `tenant ${t.name}: Microsoft Graph does not say whether accounts are enabled (accountEnabled is not returned for any of ${people.length} users), so homelab cannot tell the leavers of realm${realms.length === 1 ? "" : "s"} ${realms.join(", ")}: ${GRANT_HINT(t)}`;
}
