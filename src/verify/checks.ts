/**
 * `homelab verify`: the checks a person's login depends on, as plain data, and the pure rules behind them.
 * No I/O here: src/verify/run.ts gathers the facts, src/cli/commands/verify.ts prints the result.
 */

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
