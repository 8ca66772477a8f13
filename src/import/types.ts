/** `homelab import`: what the command reads (one cluster, optionally one tenant) and what build.ts makes of it. */
import type { EntraApplication } from "../providers/entra/types.js";
import type { PveAclEntry, PveGroup, PveRealm, PveRole, PveUser } from "../providers/proxmox/types.js";

/** What the command read from one cluster (the client's normalised shapes). */
export interface LiveCluster {
  name: string;
  /** Origin without trailing slash. */
  url: string;
  /** Every realm with its options (client-key included when the server returns it). */
  realms: PveRealm[];
  users: PveUser[];
  groups: PveGroup[];
  roles: PveRole[];
  acl: PveAclEntry[];
}

/** An app registration whose client id is a realm's, with what adoption needs to know about it. */
export interface CandidateApp {
  app: EntraApplication;
  /** Other apps already carrying `homelab:realm=<realm>` (homelab would pick those instead). */
  otherTagged: EntraApplication[];
}

export interface LiveTenant {
  name: string;
  /** The issuer URL homelab sets for a realm of this tenant (`<loginUrl>/<tenantId>/v2.0`). */
  issuerUrl: string;
  /** realm → the app registration whose appId equals the realm's client id (if any). */
  apps: Map<string, CandidateApp>;
  /** Entra group object id (lower case) → display name, for ids that exist; `unique`: no other group has the name. */
  groups: Map<string, { displayName: string; unique: boolean }>;
  /** `--adopt`: tag matched apps that are not tagged yet (the command does the PATCH). */
  adopt: boolean;
}

export interface ImportInput {
  cluster: LiveCluster;
  /** The cluster's entry as written in the source config (secret references as strings). */
  clusterEntry: Record<string, unknown>;
  tenant?: LiveTenant;
  tenantEntry?: Record<string, unknown>;
}

export interface Adoption {
  realm: string;
  app: EntraApplication;
  /** The app lacks homelab's tags: the command adds them (only with --adopt). */
  needsTag: boolean;
}

export interface ImportResult {
  /** The document as plain data, in output order. */
  data: Record<string, unknown>;
  /** realm → environment variable its client key is read from. */
  clientKeyEnv: Map<string, string>;
  adopted: Adoption[];
  /** Human-readable lines: what was left out and why. */
  leftOut: string[];
  /** Other remarks worth a comment (e.g. an app that could be adopted with --adopt). */
  notes: string[];
}
