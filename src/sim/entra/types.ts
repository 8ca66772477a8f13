/**
 * Public option and handle types of the Entra ID / Microsoft Graph simulator.
 * The behaviour follows shared/spec/entra-graph-api.md; section numbers in comments refer to it.
 */

/** Which requests a knob hits: a share (`rate`, 0..1, seeded PRNG), every Nth request, or the next `count` requests. */
export interface Trigger {
  /** Share of matching Graph requests hit, drawn from the seeded PRNG (0..1). */
  rate?: number;
  /** Hit every Nth matching Graph request (1 = all). */
  every?: number;
  /** Hit the next N matching Graph requests, then stop. */
  count?: number;
  /** Only requests with one of these methods (e.g. ["POST","PATCH","DELETE"]: writes throttled while reads pass, 4.3). */
  methods?: string[];
}

export interface ThrottleKnob extends Trigger {
  /** Seconds in the Retry-After header of a 429 (default 1). */
  retryAfterSeconds?: number;
}

export interface FaultKnob extends Trigger {
  /** 503 serviceNotAvailable (default) or 500 generalException; no Retry-After (errata 9.7). */
  status?: 500 | 503;
  /**
   * Share (0..1, seeded PRNG; 1 = every one) of the faults that hit AFTER the request was carried out: the write
   * happens and the answer is lost, as after a gateway timeout (spec 3.3). Default 0: refused before processing.
   */
  landed?: number;
}

export interface SecretPolicy {
  /** Tenant app-management policy `passwordLifetime` (section 6): addPassword beyond it is rejected (errata 9.6). */
  maxLifetimeDays: number;
}

// App management policies (spec section 6, errata 9.6): served and enforced by graph-policies.ts.
/** One policy as the simulator is told about it (the knob `appManagementPolicies`). */
export interface SimAppManagementPolicy {
  /** Default: derived from the display name (stable across requests). The tenant default's is always the zero GUID. */
  id?: string;
  displayName?: string;
  description?: string;
  /** Default true (the tenant default policy is disabled unless a knob configures it). */
  isEnabled?: boolean;
  /** The `passwordLifetime` restriction: `maxLifetime` as an ISO 8601 duration (e.g. P180D); null = present but disabled. */
  passwordLifetime?: string | null;
  /** The `passwordAddition` restriction: true = enabled (no new secrets), false = present but disabled (an exemption). */
  passwordAddition?: boolean;
  /** `restrictForAppsCreatedAfterDateTime` of every restriction here; absent = null (every app). */
  restrictForAppsCreatedAfterDateTime?: string;
  /** App-specific policies only: the applications it is applied to (object id, appId or display name). */
  appliesTo?: string[];
}

export interface AppManagementPoliciesKnob {
  /** The tenant default policy's application restrictions. */
  tenantDefault?: Omit<SimAppManagementPolicy, "id" | "appliesTo">;
  /** App-specific policies (each applied to the apps in its `appliesTo`). */
  policies?: SimAppManagementPolicy[];
}

export interface EntraSimKnobs {
  /** A newly created directory object is invisible (404 by id, absent from lists) for its next N reads (4.4). */
  consistencyDelay?: number;
  /** A new password credential is missing from `passwordCredentials` for the next N reads of its application (3.7). */
  credentialDelay?: number;
  /** A new client secret is refused (AADSTS7000215) by the next N token requests that present it (1.1, 6). */
  secretActivationDelay?: number;
  /** 429 TooManyRequests with Retry-After on chosen Graph requests (4.3, errata 9.7). */
  throttle?: ThrottleKnob;
  /** 5xx on chosen Graph requests (errata 9.7). */
  faults?: FaultKnob;
  /** Tenant policy capping secret lifetime (errata 9.6). */
  secretPolicy?: SecretPolicy;
  /** App management policies: the tenant default and app-specific ones, read through Graph and enforced on addPassword (6). */
  appManagementPolicies?: AppManagementPoliciesKnob;
  /**
   * 409 on chosen requests (checklist 7: "409 on next PATCH"; terraform retries PATCH on 409, 3.5). `methods`
   * defaults to ["PATCH"]. The error code varies on the live service (4.1); the simulator uses
   * `Request_ConflictingObjects` [U].
   */
  conflicts?: Trigger;
}

export interface EntraFixtureUser {
  id?: string;
  displayName: string;
  userPrincipalName: string;
  mail?: string;
  givenName?: string;
  surname?: string;
  /** Sign-in password (authorization endpoint). Default DEFAULT_USER_PASSWORD. Never served by Graph. */
  password?: string;
  /** false: sign-in is refused with AADSTS50057 (UserDisabled). Default true. */
  accountEnabled?: boolean;
  /** "Guest" for a B2B guest (upn `name_domain#EXT#@tenant`): signs in with `mail` too, and gets `email` by default (5.2). */
  userType?: "Member" | "Guest";
  /**
   * Also a direct member of this many generated security groups ("Generated group 001", ...): the
   * more-than-200-groups overage case of 5.3.
   */
  generatedGroups?: number;
}

export interface EntraFixtureGroup {
  id?: string;
  displayName: string;
  /** Direct members, by userPrincipalName. */
  members?: string[];
  /** Nested groups that are direct members of this one, by displayName (transitive memberships, 5.3). */
  memberGroups?: string[];
  description?: string;
  /** false: a Microsoft 365 / distribution group, not in the `SecurityGroup` groups claim. Default true. */
  securityEnabled?: boolean;
}

export interface EntraFixture {
  users?: EntraFixtureUser[];
  groups?: EntraFixtureGroup[];
  /**
   * Partial application objects merged over the documented create response (3.3). `id`/`appId` are generated
   * when absent. Extra, non-Graph keys: `owners` (object ids, appIds meaning "that app's service principal", or
   * UPNs) and `passwordCredentials[].secretText` (stored as the usable secret, never served back).
   */
  applications?: Array<Record<string, unknown>>;
  /** Partial service principals; `appId` must name a fixture application. `owners` as for applications. */
  servicePrincipals?: Array<Record<string, unknown>>;
}

export interface EntraSimOptions extends EntraSimKnobs {
  host?: string;
  port?: number;
  /** Default DEFAULT_TENANT_ID. */
  tenantId?: string;
  fixture?: EntraFixture;
  /** The app homelab runs as (client credentials). Seeded with an application, a service principal and one secret. */
  automation?: { clientId?: string; clientSecret?: string; permissions?: string[]; displayName?: string };
  /** Seed of the PRNG that decides `rate` knobs. Default 1. */
  seed?: number;
  /** Simulator clock: secret validity, token expiry, createdDateTime, device-code expiry. Default real time. */
  now?: () => Date;
  /** Device code: polls answered `authorization_pending` before success (default 1). */
  devicePendingPolls?: number;
  /** Device code: `interval` returned by /devicecode (seconds, default 1; 2.8). */
  devicePollInterval?: number;
  /** Device code: userPrincipalName of the fixture user who "signs in" (default the first fixture user). */
  deviceUser?: string;
  /**
   * Device code: false plays a tenant that refuses public client flows to the sign-in client: its device-code
   * request answers 401 invalid_client AADSTS7000218, as reported from the field (issue 9). Default true.
   */
  publicClientFlows?: boolean;
  /**
   * Salt of the pairwise `sub` (5.2): HMAC of user oid and client id under it. Default derived from the tenant id,
   * so the same tenant gives the same `sub` on every run, as Entra does.
   */
  pairwiseSalt?: string;
  /** Authorization-code lifetime in seconds on the simulator clock (default 600: "about 10 minutes"). */
  authorizationCodeSeconds?: number;
}

export type LogEntry = { api: "token" | "graph"; method: string; path: string; status: number };

export interface EntraSimState {
  applications: unknown[];
  servicePrincipals: unknown[];
  groups: unknown[];
  users: unknown[];
  appRoleAssignments: unknown[];
  /** Owner object ids by application or service principal object id (not a Graph property). */
  owners: Record<string, string[]>;
  /** Direct member object ids by group id (not a Graph property). */
  groupMembers: Record<string, string[]>;
}

/**
 * Changes to the directory while the simulator runs, as an admin would make them in the portal (issue 13: members
 * join and leave, accounts are disabled or deleted). Users are named by object id or userPrincipalName, groups by
 * object id or display name (which must then be unique). Changes are visible to the next Graph read at once (no
 * replication lag) and to the next sign-in. Each throws on an unknown name or what Entra would refuse (a duplicate
 * membership, a membership cycle).
 */
export interface EntraSimDirectory {
  /** Adds a user (fields as in the fixture); returns its object id. */
  addUser(user: EntraFixtureUser): string;
  /** Changes profile properties; `null` clears `mail`, `givenName` or `surname`. */
  updateUser(user: string, props: { displayName?: string; userPrincipalName?: string; mail?: string | null; givenName?: string | null; surname?: string | null }): void;
  /** `accountEnabled`: false refuses sign-in (AADSTS50057) and shows in Graph reads that select it. */
  setAccountEnabled(user: string, enabled: boolean): void;
  /** Deletes the user: 404 from `/users/{id}`, gone from every group and app role assignment, its tokens revoked. */
  deleteUser(user: string): void;
  /** Adds an empty group; returns its object id. */
  addGroup(group: { id?: string; displayName: string; description?: string; securityEnabled?: boolean }): string;
  deleteGroup(group: string): void;
  /** Makes a user (id or UPN) or a group (id or display name) a direct member; returns the member's object id. */
  addMember(group: string, member: string): string;
  /** Removes a direct membership (throws when `member` is not a direct member). */
  removeMember(group: string, member: string): void;
  /** Object ids of the group's direct members. */
  members(group: string): string[];
  /** Object ids of every member reachable through nested groups, each once (nested groups included). */
  transitiveMembers(group: string): string[];
}

export interface EntraSim {
  /** Run-time changes to users, groups and memberships (issue 13). */
  directory: EntraSimDirectory;
  loginUrl: string;
  graphUrl: string;
  tenantId: string;
  automation: { clientId: string; clientSecret: string; objectId: string; servicePrincipalId: string };
  requestLog: LogEntry[];
  clearLog(): void;
  setClock(now: () => Date): void;
  setKnobs(k: Partial<EntraSimKnobs>): void;
  state(): EntraSimState;
  checkClientSecret(appId: string, secret: string): boolean;
  /** Every access token issued so far (for tests that prove no token reaches any output). */
  issuedAccessTokens(): string[];
  close(): Promise<void>;
}
