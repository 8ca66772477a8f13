import type { PveAclEntry, PveGroup, PvePermissions, PveRole, PveUser } from "./types.js";
import type { PveVersionInfo } from "./versions.js";

/**
 * What a cluster holds, normalised (access API spec section 5.1): booleans as booleans, lists sorted,
 * server defaults filled in, empty optional strings absent. Built by the providers' bulk reads; users,
 * groups, roles and ACL entries are the client's normalised shapes as they are.
 */
export interface ObservedRealm {
  type: string;
  /** Only read for realms the file declares (GET /access/domains/{realm}); absent for the others. */
  options?: Record<string, string | boolean>;
  digest?: string;
}

export type ObservedUser = PveUser;
export type ObservedGroup = PveGroup;
export type ObservedRole = PveRole;
export type ObservedAcl = PveAclEntry;

export interface ObservedCluster {
  realms: Map<string, ObservedRealm>;
  users: Map<string, ObservedUser>;
  groups: Map<string, ObservedGroup>;
  roles: Map<string, ObservedRole>;
  acl: ObservedAcl[];
  /**
   * The token's own effective privileges as Proxmox computes them (`GET /access/permissions`, read by the
   * access check): default paths and every path with an ACL entry. Absent when not read.
   */
  permissions?: PvePermissions;
  /** `GET /version`, read only when the desired state uses a version-gated feature (versions.ts). */
  version?: PveVersionInfo;
}

export function emptyObserved(): ObservedCluster {
  return { realms: new Map(), users: new Map(), groups: new Map(), roles: new Map(), acl: [] };
}
