import { graphClaimKey, type LeaverPolicy } from "../../core/desired.js";
import { realmOf } from "../../core/pve.js";
import { UserError } from "../../core/errors.js";
import { accountsReadable, GRANT_HINT } from "../entra/directory.js";
import type { ObservedTenant } from "../entra/target.js";
import type { EntraUserStatus } from "../entra/types.js";
import { byString } from "./common.js";
import type { ObservedCluster, ObservedUser } from "./observed.js";
import type { ClusterTarget } from "./target.js";

/**
 * Leavers (issue 13), pure: for each realm homelab provisions in a tenant, the Proxmox users of that realm whose
 * Entra account is disabled (`accountEnabled: false`) or no longer exists. A Proxmox API token outlives the
 * identity provider (a disabled Entra account cannot sign in, but its token keeps working, and disabling the
 * Proxmox user does not delete its tokens: re-enabling revives them), which is why they are listed with their
 * tokens and ACL entries, and why `leavers: disable` deletes the tokens too.
 *
 * Never root@pam, never the user homelab's own token belongs to, never a user outside the realm. An account
 * whose `accountEnabled` is not a boolean is "cannot tell": reported, never treated as enabled or acted on.
 */

export interface Leaver {
  userid: string;
  realm: string;
  /** `disabled`: accountEnabled false; `gone`: no Entra account has the user's name any more. */
  why: "disabled" | "gone";
  policy: LeaverPolicy;
  /** Whether the Proxmox user is enabled now. */
  enabled: boolean;
  /** Token ids of the user's API tokens, sorted. */
  tokens: string[];
  /** The ACL entries of the user and of its tokens, as `path role (principal)`, sorted. */
  acl: string[];
}

export interface LeaverReport {
  leavers: Leaver[];
  /** Users of a provisioned realm whose account Graph does not say is enabled or disabled. */
  unknown: string[];
}

/** Which Entra account a Proxmox user id of `realm` is, by the realm's username claim (case-insensitive, as Entra compares names). */
function directoryIndex(directory: readonly EntraUserStatus[], key: "userPrincipalName" | "mail" | "id"): Map<string, EntraUserStatus> {
  const index = new Map<string, EntraUserStatus>();
  for (const u of directory) {
    const v = u[key];
    if (typeof v === "string" && v !== "") index.set(v.toLowerCase(), u);
  }
  return index;
}

export function findLeavers(target: ClusterTarget, observed: ObservedCluster, world: ReadonlyMap<string, unknown>): LeaverReport {
  const c = target.desired;
  const out: LeaverReport = { leavers: [], unknown: [] };
  const users = [...observed.users.values()].sort(byString((u) => u.userid));
  for (const realm of c.realms) {
    if (!realm.provisioned) continue;
    const key = graphClaimKey(realm.options["username-claim"]);
    const directory = (world.get(realm.provisioned.tenant) as ObservedTenant | undefined)?.directory;
    // A claim Graph cannot know (sub): no user of the realm can be matched; validate refuses acting on them.
    if (key === undefined || directory === undefined) continue;
    // Acting on leavers needs to know who is one: without User.Read.All nobody's accountEnabled is known.
    if ((realm.leavers === "disable" || realm.leavers === "delete") && !accountsReadable(directory))
      throw new UserError(
        `realm ${realm.realm} has leavers: ${realm.leavers}, but Microsoft Graph does not say whether accounts of tenant ${realm.provisioned.tenant} are enabled (accountEnabled is not returned for any of ${directory.length} users); nothing was changed`,
        { code: "E_ENTRA_PERMISSION", hint: GRANT_HINT({ name: realm.provisioned.tenant }) },
      );
    const index = directoryIndex(directory, key);
    for (const u of users) {
      if (realmOf(u.userid) !== realm.realm || u.userid === "root@pam" || u.userid === target.runAs.userid) continue;
      const name = u.userid.slice(0, u.userid.length - realm.realm.length - 1);
      const account = index.get(name.toLowerCase());
      if (account && account.accountEnabled === true) continue;
      if (account && account.accountEnabled !== false) {
        out.unknown.push(u.userid);
        continue;
      }
      out.leavers.push(leaver(u, realm.realm, account ? "disabled" : "gone", realm.leavers ?? "report", observed));
    }
  }
  return out;
}

function leaver(u: ObservedUser, realm: string, why: Leaver["why"], policy: LeaverPolicy, observed: ObservedCluster): Leaver {
  const principals = new Set([u.userid, ...u.tokens.map((t) => `${u.userid}!${t.tokenid}`)]);
  const acl = observed.acl
    .filter((e) => (e.type === "user" || e.type === "token") && principals.has(e.ugid))
    .map((e) => `${e.path} ${e.roleid}${e.type === "token" ? ` (token ${e.ugid.slice(e.ugid.indexOf("!") + 1)})` : ""}`)
    .sort();
  return { userid: u.userid, realm, why, policy, enabled: u.enable, tokens: u.tokens.map((t) => t.tokenid).sort(), acl };
}

/** The plan's warning line for a leaver: who, why, what they still hold, and what this run does about it. */
export function leaverWarning(cluster: string, l: Leaver, action: "none" | "done" | "disable" | "delete" | "disable-declared"): string {
  const why = l.why === "disabled" ? "Entra account disabled" : "no Entra account any more";
  const holds = [
    l.enabled ? "enabled in Proxmox" : "disabled in Proxmox",
    l.tokens.length ? `API tokens: ${l.tokens.join(", ")}` : "no API tokens",
    l.acl.length ? `ACL entries: ${l.acl.join(", ")}` : "no ACL entries of its own",
  ].join("; ");
  const what = {
    none: `realms.${l.realm}.leavers is report: nothing is changed (set it to disable or delete)`,
    done: "already disabled, with no API tokens: nothing left to do",
    disable: "this run disables the user and deletes its API tokens (realms." + l.realm + ".leavers: disable)",
    delete: "this run deletes the user with its ACL entries and API tokens (realms." + l.realm + ".leavers: delete)",
    "disable-declared": "the file still declares this user, so this run only disables it and deletes its API tokens; remove it from the file to let homelab delete it",
  }[action];
  return `leaver ${l.userid} on ${cluster}: ${why}; ${holds}; ${what}`;
}
