/**
 * What a cluster holds, normalised (access API spec section 5.1): booleans as booleans, lists sorted,
 * server defaults filled in, empty optional strings absent. Built by the providers' bulk reads.
 */
export interface ObservedRealm {
  type: string;
  /** Only read for realms the file declares (GET /access/domains/{realm}); absent for the others. */
  options?: Record<string, string | boolean>;
  digest?: string;
}

export interface ObservedUser {
  userid: string;
  enable: boolean;
  expire: number;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
  groups: string[];
}

export interface ObservedGroup {
  groupid: string;
  comment?: string;
  members: string[];
}

export interface ObservedRole {
  roleid: string;
  privs: string[];
  special: boolean;
}

export interface ObservedAcl {
  path: string;
  type: "user" | "group" | "token";
  ugid: string;
  roleid: string;
  propagate: boolean;
}

export interface ObservedCluster {
  realms: Map<string, ObservedRealm>;
  users: Map<string, ObservedUser>;
  groups: Map<string, ObservedGroup>;
  roles: Map<string, ObservedRole>;
  acl: ObservedAcl[];
}

export function emptyObserved(): ObservedCluster {
  return { realms: new Map(), users: new Map(), groups: new Map(), roles: new Map(), acl: [] };
}
