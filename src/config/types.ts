import type { Secret } from "../core/secret.js";

/**
 * The typed form of a validated homelab.yaml (schemas/homelab.schema.json is the contract; these types
 * mirror it). Secret fields are `Secret` objects that resolve lazily and never print their value.
 */
export interface HomelabConfig {
  version: 1;
  tenants: Record<string, TenantConfig>;
  clusters: Record<string, ClusterConfig>;
  realms: Record<string, RealmConfig>;
  roles: Record<string, RoleConfig>;
  groups: Record<string, GroupConfig>;
  users: Record<string, UserConfig>;
  access: AccessConfig[];
  prune: PruneConfig;
}

export type CloudName = "public" | "usgov" | "china";

export interface TenantConfig {
  tenantId: string;
  cloud?: CloudName | { loginUrl: string; graphUrl: string };
  credentials: {
    clientId: string;
    clientSecret?: Secret;
    certificate?: { privateKey: Secret; thumbprint: string };
  };
}

export interface ClusterConfig {
  url: string;
  token: { id: string; secret: Secret };
  tls?: { fingerprint?: string; ca?: string; insecure?: true };
  comment?: string;
}

export interface RealmConfig {
  type?: "openid" | "pam" | "pve";
  clusters?: string[];
  comment?: string;
  default?: boolean;
  tenant?: string;
  app?: {
    displayName?: string;
    redirectUris?: string[];
    secret?: { lifetimeDays?: number; renewBeforeDays?: number };
  };
  issuerUrl?: string;
  clientId?: string;
  clientKey?: Secret;
  usernameClaim?: string;
  scopes?: string[];
  prompt?: string;
  acrValues?: string[];
  audiences?: string[];
  autocreate?: boolean;
  groupsClaim?: string;
  groupsAutocreate?: boolean;
  groupsOverwrite?: boolean;
  queryUserinfo?: boolean;
  /** Tenant realms: what apply does with users whose Entra account is disabled or gone (default `report`). */
  leavers?: "report" | "disable" | "delete";
}

export interface RoleConfig {
  privs: string[];
  clusters?: string[];
}

export interface GroupConfig {
  realm?: string;
  entraGroup?: string;
  comment?: string;
  /** Plain groups: the member user ids. Entra groups: `sync` makes the Entra membership the Proxmox one (issue 13). */
  members?: string[] | "sync";
  /** Default true: `members` is the whole membership. */
  membersExclusive?: boolean;
  clusters?: string[];
}

export interface UserConfig {
  email?: string;
  firstname?: string;
  lastname?: string;
  comment?: string;
  enable?: boolean;
  expire?: number | string;
  clusters?: string[];
}

export interface AccessConfig {
  user?: string;
  group?: string;
  role: string;
  path: string;
  propagate?: boolean;
  clusters?: string[];
  comment?: string;
}

export interface PruneConfig {
  acl: boolean;
  users: boolean;
  groups: boolean;
  roles: boolean;
}
