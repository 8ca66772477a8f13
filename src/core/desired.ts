import type { Secret } from "./secret.js";

/**
 * The desired state: what homelab.yaml asks for, normalised and sorted, per cluster and per tenant. It is
 * pure data built by a pure function (src/config/desired.ts); the planner compares it with what the APIs
 * report. Nothing here has been read from a network.
 */
export interface DesiredState {
  clusters: DesiredCluster[];
  tenants: DesiredTenant[];
}

/** A value known only once another object exists, e.g. the client id of an app homelab creates. */
export interface Ref {
  ref: string; // address of the object that provides it
  field: string; // which of its values
}

/**
 * A Proxmox group mapped from an Entra group: its id is `<objectid>-<realm>` once the object id is resolved, or, in a
 * realm with `groupsClaim: roles`, `<roleValue>-<realm>` (the app role's value, which the login's `roles` claim
 * carries; issue 13 part 3). Both are computed by one function, providers/proxmox/common.ts groupIdOf.
 */
export interface EntraGroupId {
  tenant: string;
  displayName: string;
  realm: string;
  /** App roles realms only: the value of the group's app role (the group's key in the file). */
  roleValue?: string;
}

export interface TlsSettings {
  fingerprint?: string;
  ca?: string; // absolute path
  insecure?: true;
}

export interface PruneSettings {
  acl: boolean;
  users: boolean;
  groups: boolean;
  roles: boolean;
}

export interface DesiredCluster {
  name: string;
  /** Origin without trailing slash, e.g. https://pve1.lan:8006. */
  url: string;
  token: { id: string; secret: Secret };
  tls: TlsSettings;
  realms: DesiredRealm[];
  roles: DesiredRole[];
  groups: DesiredGroup[];
  users: DesiredUser[];
  acl: DesiredAcl[];
  prune: PruneSettings;
  /** Realms declared in the file for this cluster, other than pam/pve: pruning only ever looks inside these. */
  managedRealms: string[];
}

export type RealmOptionValue = string | boolean | Ref;

export interface DesiredRealm {
  address: string; // proxmox.realm/<cluster>:<realm>
  cluster: string;
  realm: string;
  type: "openid" | "pam" | "pve";
  /** Options under their Proxmox names (`issuer-url`, `username-claim`, ...); only what the file sets or homelab derives. */
  options: Record<string, RealmOptionValue>;
  /** The client secret: a reference from the file, or the Entra secret homelab provisions for this cluster. */
  clientKey?: Secret | Ref;
  /** Set when homelab provisions the app registration behind this realm. */
  provisioned?: { tenant: string; application: string };
  /**
   * Provisioned realms only: what apply does with a leaver, a user of this realm whose Entra account is disabled
   * or gone (issue 13). `report` (the default) only lists them.
   */
  leavers?: LeaverPolicy;
}

export type LeaverPolicy = "report" | "disable" | "delete";

/**
 * Username claims whose value homelab can read from Graph for a person who has never signed in (issue 13: members
 * sync and leavers): the claim → the Graph user property it carries. `sub` is pairwise per app and unknowable;
 * `preferred_username` is not guaranteed to be the UPN (guests), so it is not guessed.
 */
export const GRAPH_CLAIM_KEYS: Readonly<Record<string, "userPrincipalName" | "mail" | "id">> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, "userPrincipalName" | "mail" | "id">, { upn: "userPrincipalName", email: "mail", oid: "id" }),
);

/** The Graph property behind a realm's username claim, or undefined when Graph cannot know the claim's value. */
export function graphClaimKey(claim: unknown): "userPrincipalName" | "mail" | "id" | undefined {
  return typeof claim === "string" && Object.hasOwn(GRAPH_CLAIM_KEYS, claim) ? GRAPH_CLAIM_KEYS[claim] : undefined;
}

export interface DesiredRole {
  address: string; // proxmox.role/<cluster>:<roleid>
  cluster: string;
  roleid: string;
  privs: string[]; // sorted
}

export interface DesiredGroup {
  address: string; // proxmox.group/<cluster>:<key>
  cluster: string;
  /** The name used in homelab.yaml. */
  key: string;
  groupid: string | EntraGroupId;
  comment?: string;
  realm?: string;
  /** Plain groups: members not declared in the file are drift and removed (the default). */
  membersExclusive: boolean;
  /** Entra groups with `members: sync`: the membership is the Entra group's transitive user members (issue 13). */
  syncMembers?: true;
}

export interface DesiredUser {
  address: string; // proxmox.user/<cluster>:<userid>
  cluster: string;
  userid: string;
  enable: boolean;
  /** Epoch seconds; 0 = never. */
  expire: number;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  /** Plain (non-Entra) groups the user is a member of, by Proxmox group id, sorted. */
  groups: string[];
}

export interface DesiredAcl {
  address: string; // proxmox.acl/<cluster>:<path>:<user id or @group>:<role>
  cluster: string;
  path: string;
  type: "user" | "group";
  ugid: string | EntraGroupId;
  roleid: string;
  propagate: boolean;
}

export interface DesiredTenant {
  name: string;
  tenantId: string;
  loginUrl: string;
  graphUrl: string;
  credentials: { clientId: string; clientSecret?: Secret; certificate?: { privateKey: Secret; thumbprint: string } };
  applications: DesiredApplication[];
  groups: DesiredEntraGroup[];
}

export interface DesiredApplication {
  address: string; // entra.application/<tenant>:<realm>
  tenant: string;
  realm: string;
  displayName: string;
  signInAudience: "AzureADMyOrg";
  /** Every cluster URL the realm is on, plus extra URIs from the file; sorted. */
  redirectUris: string[];
  /** The realm's username claim (fixed at the realm's creation: a change replaces the realm). */
  usernameClaim?: string;
  /** ID-token optional claims the username claim needs (`upn`, `email`); sorted. */
  optionalIdTokenClaims: string[];
  groupMembershipClaims: "ApplicationGroup" | "None";
  /** Display names of the Entra groups assigned to the app; sorted. */
  assignedGroups: string[];
  /**
   * Realms with `groupsClaim: roles` only (issue 13 part 3): one app role per mapped group, sorted by value. Each
   * group is assigned to its role instead of the default-access role, and Proxmox reads the `roles` claim.
   */
  appRoles?: DesiredAppRole[];
  secretLifetimeDays: number;
  renewBeforeDays: number;
  /** One client secret per cluster the realm is on. */
  secrets: { address: string; cluster: string; displayName: string }[];
}

/** An app role homelab defines on a realm's app registration for one mapped Entra group. */
export interface DesiredAppRole {
  /**
   * Stable GUID derived from the tenant id, the realm and the Entra group's display name (config/desired.ts
   * appRoleId), not from the value: a changed value is the same role PATCHed in place (its assignments stay), and
   * the value Graph still shows under this id is how a run knows the old Proxmox group to replace.
   */
  id: string;
  /** The group's key in the file: the `roles` claim value, and the Proxmox group `<value>-<realm>`. */
  value: string;
  /** The Entra group's display name (also the role's display name). */
  group: string;
}

export interface DesiredEntraGroup {
  address: string; // entra.group/<tenant>:<displayName>
  tenant: string;
  displayName: string;
  /** Some mapping of this group says `members: sync`: its transitive user members are read (issue 13). */
  syncMembers?: true;
}
