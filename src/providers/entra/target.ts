import type { DesiredTenant } from "../../core/desired.js";
import type { Resolver } from "../../engine/resolver.js";
import type { GraphClient } from "./graph.js";
import type { AppRoleAssignment, EntraApplication, EntraGroup, EntraMember, EntraUserStatus, ServicePrincipal } from "./types.js";

/** What the Entra providers act on: one tenant, its desired apps and groups, and its Graph client. */
export interface TenantTarget {
  desired: DesiredTenant;
  graph: Pick<
    GraphClient,
    | "listApplicationsByTag" | "findApplicationsByDisplayName" | "createApplication" | "updateApplication" | "addPassword" | "removePassword" | "waitForPassword"
    | "findServicePrincipal" | "createServicePrincipal" | "listAppRoleAssignedTo" | "assignGroup" | "findGroupsByDisplayName"
    | "servicePrincipalOfCaller" | "removeAssignment" | "listTransitiveUserMembers" | "listUserStatuses" | "findUserStatuses"
  >;
  resolver: Resolver;
  /** The clock secret lifetimes are measured against. */
  now(): Date;
  /** `--rotate-secrets`: renew every homelab secret now. */
  rotateSecrets: boolean;
  /** Prove a new secret with a token request (spec 6 step 2); bounded retries while it replicates. */
  proveSecret?(appId: string, secret: string): Promise<void>;
  /**
   * Progress while a change waits for Entra to show a new object ("waiting for Entra to show the new app: 6 s").
   * The graph client reports its waits here (wired where the target is built); the CLI shows the latest
   * message on the progress line until the next change settles.
   */
  onWait?(message: string): void;
}

/** A tenant as read: the apps homelab owns (found by tag), their service principals and assignments, the mapped groups. */
export interface ObservedTenant {
  /** realm → apps carrying the realm's tag (more than one is an error: homelab never creates two). */
  apps: Map<string, EntraApplication[]>;
  /** appId → its service principal, if any. */
  sps: Map<string, ServicePrincipal | undefined>;
  /** service principal id → who is assigned to it. */
  assignments: Map<string, AppRoleAssignment[]>;
  /** display name → groups with that name. */
  groups: Map<string, EntraGroup[]>;
  /**
   * realm → app registrations WITHOUT a `homelab:realm=` tag that carry the realm's app display name and
   * redirect to one of its URLs: read only for realms whose tagged app is missing (a create is planned).
   */
  lookalikes?: Map<string, EntraApplication[]>;
  /** Entra group object id (lower case) → its transitive user members: groups some mapping syncs (`members: sync`). */
  members?: Map<string, EntraMember[]>;
  /**
   * Every user of the directory with `accountEnabled`: read when a realm the tenant provisions can name its users
   * from Graph (username claim upn, email or oid), to find leavers (issue 13).
   */
  directory?: EntraUserStatus[];
}

export function emptyObservedTenant(): ObservedTenant {
  return { apps: new Map(), sps: new Map(), assignments: new Map(), groups: new Map() };
}

/** The app of a realm, if it exists (refuses ambiguity). */
export function appOf(observed: ObservedTenant, realm: string): EntraApplication | undefined {
  return observed.apps.get(realm)?.[0];
}
