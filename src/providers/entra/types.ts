import type { Secret } from "../../core/secret.js";

/**
 * Shapes of the Graph objects homelab reads and writes (spec section 3). Only the fields homelab uses are
 * typed; Graph returns more, and clients must ignore unknown properties and `@odata.*` fields (spec 3).
 * Three different GUIDs name one app (spec "Terms"): the application object id (`id`), the client id
 * (`appId`) and the service principal's object id. They live in separately named fields everywhere.
 */

/** Why a request is being repeated, for `--debug` and tests. */
export type RetryReason =
  | "throttled" // 429 (Retry-After honoured)
  | "unavailable" // 5xx on a call safe to repeat
  | "conflict" // 409 on a PATCH (spec 3.5: terraform retries it)
  | "network" // no HTTP response on a call safe to repeat
  | "not-replicated" // 404 (or the 400/403 replication messages) right after a create (spec 4.4)
  | "not-visible"; // a read-after-write poll has not yet seen the state k times in a row (spec 3.7, 6)

export interface RetryEvent {
  method: string;
  /** Path under `/v1.0` (query included), or the token endpoint path. */
  path: string;
  /** The attempt that failed, 1-based. */
  attempt: number;
  status?: number;
  waitMs: number;
  reason: RetryReason;
}

export interface RequestLogEntry {
  method: string;
  /** Path under `/v1.0`, query included (filters carry no secrets). */
  path: string;
  /** HTTP status, or 0 when no response came. */
  status: number;
  ms: number;
  attempt: number;
}

export interface PasswordCredential {
  keyId: string;
  displayName: string | null;
  hint: string | null;
  startDateTime: string;
  endDateTime: string;
  customKeyIdentifier?: string | null;
}

/** The one response that carries a secret (spec 3.7): the value is wrapped at once, never kept as a string. */
export interface NewPassword {
  keyId: string;
  displayName: string | null;
  hint: string | null;
  startDateTime: string;
  endDateTime: string;
  secretText: Secret;
}

export interface OptionalClaim {
  name: string;
  source: string | null;
  essential: boolean;
  additionalProperties: string[];
}

export interface EntraApplication {
  /** Application object id (`/applications/{id}`). */
  id: string;
  /** Client id (what Proxmox's `client-id` holds). */
  appId: string;
  displayName: string;
  signInAudience?: string;
  tags?: string[];
  notes?: string | null;
  web?: { redirectUris?: string[]; implicitGrantSettings?: { enableIdTokenIssuance?: boolean; enableAccessTokenIssuance?: boolean } };
  groupMembershipClaims?: string | null;
  optionalClaims?: { idToken?: OptionalClaim[]; accessToken?: OptionalClaim[]; saml2Token?: OptionalClaim[] } | null;
  requiredResourceAccess?: Array<{ resourceAppId: string; resourceAccess: Array<{ id: string; type: "Scope" | "Role" }> }>;
  passwordCredentials?: PasswordCredential[];
  [extra: string]: unknown;
}

/** A create body; `owners@odata.bind` is added by the client (errata 9.2). */
export type ApplicationCreate = Omit<Partial<EntraApplication>, "id" | "appId" | "passwordCredentials"> & { displayName: string };

export type ApplicationPatch = Omit<Partial<EntraApplication>, "id" | "appId" | "passwordCredentials">;

export interface ServicePrincipal {
  /** Service principal object id (owner of app-role assignments). */
  id: string;
  appId: string;
  displayName?: string;
  appDisplayName?: string;
  appRoleAssignmentRequired?: boolean;
  accountEnabled?: boolean;
  tags?: string[];
  [extra: string]: unknown;
}

export interface AppRoleAssignment {
  /** Opaque assignment id (not a GUID). */
  id: string;
  appRoleId: string;
  principalId: string;
  principalType: "User" | "Group" | "ServicePrincipal" | string;
  principalDisplayName?: string | null;
  resourceId: string;
  resourceDisplayName?: string | null;
  createdDateTime?: string;
}

export interface EntraGroup {
  id: string;
  displayName: string;
  securityEnabled?: boolean;
  mailEnabled?: boolean;
  groupTypes?: string[];
}

export interface EntraUser {
  id: string;
  displayName?: string | null;
  userPrincipalName: string;
  mail?: string | null;
}

/**
 * A transitive user member of a group, as members sync reads it (issue 13). `accountEnabled` is a boolean only
 * with User.Read.All (or Directory.Read.All); with less, Graph answers null ("cannot tell", never "enabled").
 * With only a group permission, Graph returns "limited information": `id` and every other property null.
 */
export interface EntraMember {
  id: string;
  userPrincipalName?: string | null;
  mail?: string | null;
  givenName?: string | null;
  surname?: string | null;
  accountEnabled?: boolean | null;
}

/** A directory user with whether its account is enabled (leavers, issue 13). */
export interface EntraUserStatus {
  id: string;
  userPrincipalName?: string | null;
  mail?: string | null;
  accountEnabled?: boolean | null;
}
