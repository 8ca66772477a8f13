import { graphClaimKey } from "../../core/desired.js";
import type { ObservedTenant } from "../entra/target.js";
import type { EntraMember } from "../entra/types.js";
import { groupIdOf } from "./common.js";
import type { ClusterTarget } from "./target.js";

/**
 * Members sync (issue 13), pure: for each Entra-mapped group with `members: sync`, who its Proxmox group
 * `<objectid>-<realm>` should hold, read from the tenant's observed state (the transitive user members the
 * entra.group provider read). The user planner (user.ts) turns it into user creates and membership updates.
 *
 * A member's Proxmox user id is what the realm's username claim will give at their sign-in: `upn` ←
 * userPrincipalName, `email` ← mail, `oid` ← id (lower case, as tokens carry it). `sub` cannot be known, and
 * validate refuses `members: sync` with it.
 */

/** A user id Proxmox accepts: `name@realm`, the name without whitespace, `:` or `/`; 3 to 64 characters (access API 4.1). */
const USERID = /^[^\s:/,;]+@[A-Za-z][A-Za-z0-9._-]+$/;

export interface MemberProfile {
  email?: string;
  firstname?: string;
  lastname?: string;
  /** Graph's accountEnabled: a boolean, or null/undefined ("cannot tell"). */
  accountEnabled?: boolean | null;
}

export interface SyncedMembers {
  /** Proxmox group id → the Entra group's display name, for every synced group resolved on this cluster. */
  groups: Map<string, string>;
  /** Proxmox group id → the address of its desired group (a membership depends on the group's creation). */
  groupAddress: Map<string, string>;
  /** User id → the synced groups the user belongs to. */
  memberOf: Map<string, Set<string>>;
  /** User id → what Graph says about them (a new user gets email and names from it). */
  profiles: Map<string, MemberProfile>;
  warnings: string[];
}

/** The Proxmox user id a member gets in `realm` with this username claim, or undefined when Graph does not know it. */
export function memberUserId(m: Pick<EntraMember, "id" | "userPrincipalName" | "mail">, claim: unknown, realm: string): string | undefined {
  const key = graphClaimKey(claim);
  if (key === undefined) return undefined;
  const name = key === "id" ? m.id.toLowerCase() : m[key];
  if (typeof name !== "string" || name === "") return undefined;
  const userid = `${name}@${realm}`;
  return USERID.test(userid) && userid.length <= 64 ? userid : undefined;
}

/** A text field Proxmox keeps as written (one line, no spaces at either end), else undefined: names are optional. */
function keepable(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" && v !== "0" && !/[\n\r]/.test(v) && v.trim() === v ? v : undefined;
}

export function syncedMembers(target: ClusterTarget, world: ReadonlyMap<string, unknown>): SyncedMembers {
  const c = target.desired;
  const out: SyncedMembers = { groups: new Map(), groupAddress: new Map(), memberOf: new Map(), profiles: new Map(), warnings: [] };
  for (const g of c.groups) {
    if (!g.syncMembers || typeof g.groupid === "string") continue;
    const gid = groupIdOf(g.groupid, target.resolver);
    const oid = target.resolver.value({ ref: `entra.group/${g.groupid.tenant}:${g.groupid.displayName}`, field: "id" });
    const realm = c.realms.find((r) => r.realm === g.realm);
    const tenant = world.get(g.groupid.tenant) as ObservedTenant | undefined;
    const members = oid === undefined ? undefined : tenant?.members?.get(oid.toLowerCase());
    // Unresolved group (the tenant planner refuses it) or a realm not on this cluster: nothing to sync here.
    if (gid === undefined || members === undefined || !realm) continue;
    out.groups.set(gid, g.groupid.displayName);
    out.groupAddress.set(gid, g.address);
    const claim = realm.options["username-claim"];
    const unnamed: string[] = [];
    for (const m of members) {
      const userid = memberUserId(m, claim, realm.realm);
      if (userid === undefined) {
        unnamed.push(m.userPrincipalName ?? m.id);
        continue;
      }
      (out.memberOf.get(userid) ?? out.memberOf.set(userid, new Set()).get(userid)!).add(gid);
      if (!out.profiles.has(userid)) {
        const p: MemberProfile = { accountEnabled: m.accountEnabled ?? null };
        const email = keepable(m.mail);
        const first = keepable(m.givenName);
        const last = keepable(m.surname);
        if (email) p.email = email;
        if (first) p.firstname = first;
        if (last) p.lastname = last;
        out.profiles.set(userid, p);
      }
    }
    if (unnamed.length > 0) {
      const shown = unnamed.sort().slice(0, 5).join(", ");
      out.warnings.push(
        `${c.name}: ${unnamed.length} member${unnamed.length === 1 ? "" : "s"} of Entra group "${g.groupid.displayName}" cannot be given a Proxmox user id in realm ${realm.realm} (username claim ${String(claim)}: no ${claim === "email" ? "mail address" : "usable value"}, or not a valid user id): ${shown}${unnamed.length > 5 ? ", ..." : ""}; they are not synced`,
      );
    }
  }
  return out;
}
