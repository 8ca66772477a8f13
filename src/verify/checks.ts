/**
 * `homelab verify`: the checks a person's login depends on, as plain data, and the pure rules behind them.
 * No I/O here: src/verify/facts.ts gathers the facts, src/verify/run.ts runs the checks over them,
 * src/cli/commands/verify.ts prints the result.
 */
import { HomelabError } from "../core/errors.js";
import { redact } from "../log/redact.js";

/** What each check proves. The order here is the order rows are printed in, per realm and cluster. */
export const CHECK_IDS = [
  "tenant", // homelab could read the realm's tenant (its app registration)
  "app", // exactly one app registration carries the realm's tag
  "directory", // users named in `access` exist in the Entra directory (username claim `upn`)
  "group-claims", // with mapped groups: the app emits the groups claim (groupMembershipClaims ApplicationGroup, `groups` optional claim)
  "group-assignment", // with mapped groups: each one is assigned to the app (ApplicationGroup emits only assigned groups)
  "cluster", // homelab could read the cluster
  "realm", // the realm exists on the cluster and is an OpenID realm
  "issuer", // the realm's issuer-url is what the config asks for
  "discovery", // the issuer's discovery document is reachable from here and names that issuer
  "node-discovery", // the Proxmox node fetches it too: POST /access/openid/auth-url answers an authorization URL
  "client-id", // the realm's client-id is the app's (or the config's)
  "client-key", // the realm has a client key when its provider needs one
  "redirect-uri", // the app's redirect URIs contain the cluster's URL
  "authorize", // the identity provider shows its sign-in page for that URL, not an error (unknown client, unregistered redirect URI)
  "secret", // the realm's client key is valid (proven by a token request for tenant realms) and when it expires
  "username-claim", // the claim is the one the config asks for, is emitted, and gives the expected user ids
  "users", // users named in `access` exist on the cluster and are enabled
  "members", // groups with `members: sync` hold exactly their Entra group's members (issue 13)
  "leavers", // no user whose Entra account is disabled or gone is enabled or holds an API token (issue 13)
] as const;

export type CheckId = (typeof CHECK_IDS)[number];

export interface Check {
  id: CheckId;
  realm: string;
  /** Absent for checks of the realm as a whole (its app, its directory users). */
  cluster?: string;
  ok: boolean;
  /** A passing check that still deserves attention (e.g. a secret within renewBeforeDays, an http issuer). */
  warning?: boolean;
  detail: string;
  /** What to do; set on every failure and on warnings. */
  hint?: string;
}

export const pass = (id: CheckId, realm: string, cluster: string | undefined, detail: string): Check => ({ id, realm, ...(cluster !== undefined ? { cluster } : {}), ok: true, detail });

export const warnCheck = (id: CheckId, realm: string, cluster: string | undefined, detail: string, hint: string): Check => ({
  id, realm, ...(cluster !== undefined ? { cluster } : {}), ok: true, warning: true, detail, hint,
});

export const fail = (id: CheckId, realm: string, cluster: string | undefined, detail: string, hint: string): Check => ({
  id, realm, ...(cluster !== undefined ? { cluster } : {}), ok: false, detail, hint,
});

/** Rows in print order: by realm, realm-wide checks first, then by cluster, then by CHECK_IDS order. */
export function sortChecks(checks: Check[]): Check[] {
  const rank = (c: Check) => CHECK_IDS.indexOf(c.id);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...checks].sort((a, b) => cmp(a.realm, b.realm) || cmp(a.cluster ?? "", b.cluster ?? "") || rank(a) - rank(b));
}

/** Issuer URLs compare exactly (OIDC discovery), except that one trailing slash is tolerated. */
export function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}

export const DAY_MS = 86_400_000;

/** Whole days from `now` until `end` (negative once past). */
export function daysUntil(end: string, now: Date): number {
  return Math.floor((Date.parse(end) - now.getTime()) / DAY_MS);
}

/**
 * What a username claim produces, when homelab can tell (spec proxmox 4.6, entra 5.2): the user id is
 * `<claim value>@<realm>`. `tenant` is true for a realm provisioned in Entra ID, where `username` means
 * `preferred_username`, i.e. the UPN.
 */
export interface ClaimShape {
  /** How the claim's values look, for messages: "email address". */
  looks: string;
  test(name: string): boolean;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function claimShape(claim: string | undefined, tenant: boolean): ClaimShape | "unknowable" | undefined {
  const c = claim ?? "subject";
  if (c === "upn" || c === "email" || (tenant && (c === "username" || c === "preferred_username"))) return { looks: "email address", test: (n) => EMAIL.test(n) };
  if (tenant && c === "oid") return { looks: "object id (GUID)", test: (n) => GUID.test(n) };
  // Entra's sub is pairwise: random per user and app, unknown before the first login (spec entra 5.2).
  if (tenant && (c === "subject" || c === "sub")) return "unknowable";
  return undefined;
}

/** `jane@contoso.com@azure` → `jane@contoso.com` (the claim value the login must produce). */
export function namePart(userid: string): string {
  const at = userid.lastIndexOf("@");
  return at < 0 ? userid : userid.slice(0, at);
}

/**
 * What the app's `groupMembershipClaims` puts in a token for a mapped group (Entra spec 5.3): "ApplicationGroup" emits
 * the groups assigned to the app (what homelab sets); "SecurityGroup" and "All" emit every group of the user, but no
 * groups claim at all above 200 groups; "None" and "DirectoryRole" emit no group. Graph may hold several values
 * separated by commas.
 */
export function groupClaimsEmit(value: string | null | undefined): "assigned" | "all" | "none" {
  const parts = (value ?? "None").split(",").map((x) => x.trim().toLowerCase());
  if (parts.includes("applicationgroup")) return "assigned";
  if (parts.includes("securitygroup") || parts.includes("all")) return "all";
  return "none";
}

/** One synced group's membership as verify compares it: who Entra says, who Proxmox holds (user ids). */
export interface SyncedGroupFacts {
  displayName: string;
  groupid: string;
  /** Members whose account may get a user (not disabled), as Proxmox user ids. */
  entra: string[];
  /** Users of the cluster in the group. */
  proxmox: string[];
}

/**
 * `members`: each group with `members: sync` holds exactly its Entra group's members on the cluster (issue 13).
 * A difference is what the next apply changes; a member missing from Proxmox has no rights until then.
 */
export function membersCheck(realm: string, cluster: string, groups: SyncedGroupFacts[]): Check | undefined {
  if (groups.length === 0) return undefined;
  const off: string[] = [];
  for (const g of groups) {
    const missing = g.entra.filter((u) => !g.proxmox.includes(u));
    const extra = g.proxmox.filter((u) => !g.entra.includes(u));
    if (missing.length) off.push(`"${g.displayName}": ${missing.length} member${missing.length === 1 ? "" : "s"} not in ${g.groupid} (${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", ..." : ""})`);
    if (extra.length) off.push(`"${g.displayName}": ${extra.length} in ${g.groupid} who ${extra.length === 1 ? "is" : "are"} no longer members (${extra.slice(0, 3).join(", ")}${extra.length > 3 ? ", ..." : ""})`);
  }
  const n = groups.reduce((k, g) => k + g.entra.length, 0);
  if (off.length === 0) return pass("members", realm, cluster, `${groups.length} synced group${groups.length === 1 ? "" : "s"} match Entra ID (${n} member${n === 1 ? "" : "s"})`);
  return fail("members", realm, cluster, off.join("; "), "run homelab apply: members: sync creates missing members and removes those who left the Entra group (a login alone never removes a membership)");
}

/** A leaver as verify sees it: enabled or holding a token is what fails. */
export interface LeaverFacts {
  userid: string;
  why: "disabled" | "gone";
  enabled: boolean;
  tokens: string[];
}

/**
 * `leavers`: no user of the realm whose Entra account is disabled or gone is still enabled in Proxmox or holds an API
 * token (a token keeps working whatever Entra says; issue 13). `unknown`: accounts Graph does not say are enabled.
 */
export function leaversCheck(realm: string, cluster: string, leavers: LeaverFacts[], unknown: string[], total: number): Check {
  const live = leavers.filter((l) => l.enabled || l.tokens.length > 0);
  if (live.length > 0) {
    const shown = live.slice(0, 3).map((l) => `${l.userid} (${l.why === "disabled" ? "disabled in Entra" : "gone from Entra"}; ${[l.enabled ? "enabled" : "", l.tokens.length ? `tokens: ${l.tokens.join(", ")}` : ""].filter(Boolean).join(", ")})`);
    return fail(
      "leavers",
      realm,
      cluster,
      `${live.length} leaver${live.length === 1 ? "" : "s"} can still get in: ${shown.join("; ")}${live.length > 3 ? "; ..." : ""}`,
      `set \`realms.${realm}.leavers: disable\` (or \`delete\`) and run homelab apply, which disables them and deletes their API tokens; disabling alone would not stop a token once the user is enabled again`,
    );
  }
  if (unknown.length > 0)
    return warnCheck("leavers", realm, cluster, `cannot tell whether ${unknown.length} account${unknown.length === 1 ? " is" : "s are"} enabled (${unknown.slice(0, 3).join(", ")})`, "Graph returns no accountEnabled for them: grant the automation app User.Read.All (homelab bootstrap does)");
  return pass("leavers", realm, cluster, leavers.length ? `${leavers.length} leaver${leavers.length === 1 ? "" : "s"}, all disabled and without API tokens` : `no leavers among ${total} user${total === 1 ? "" : "s"} of the realm`);
}

/** An error's message for a row's detail, redacted. */
export function errorText(err: unknown): string {
  return redact(err instanceof Error ? err.message : String(err));
}

/** A homelab error's own hint for a row, redacted; else the fallback. */
export function errorHint(err: unknown, fallback: string): string {
  return err instanceof HomelabError && err.hint ? redact(err.hint) : fallback;
}
