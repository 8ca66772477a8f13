import type { DesiredCluster } from "../../core/desired.js";
import type { Resolver } from "../../engine/resolver.js";
import type { ObservedCluster } from "./observed.js";

/** The calls the Proxmox providers make; implemented by the got-based client (client.ts). */
export interface PveApi {
  listRealms(): Promise<{ realm: string; type: string }[]>;
  getRealm(realm: string): Promise<Record<string, unknown>>;
  createRealm(params: Record<string, unknown>): Promise<void>;
  updateRealm(realm: string, params: Record<string, unknown>, opts?: { delete?: string[]; digest?: string }): Promise<void>;
  deleteRealm(realm: string): Promise<void>;
  listUsers(): Promise<{ userid: string; enable: boolean; expire: number; firstname?: string; lastname?: string; email?: string; comment?: string; groups: string[] }[]>;
  createUser(params: Record<string, unknown>): Promise<void>;
  updateUser(userid: string, params: Record<string, unknown>): Promise<void>;
  deleteUser(userid: string): Promise<void>;
  listGroups(): Promise<{ groupid: string; comment?: string; members: string[] }[]>;
  createGroup(params: { groupid: string; comment?: string }): Promise<void>;
  updateGroup(groupid: string, params: { comment: string }): Promise<void>;
  deleteGroup(groupid: string): Promise<void>;
  listRoles(): Promise<{ roleid: string; privs: string[]; special: boolean }[]>;
  createRole(roleid: string, privs: string[]): Promise<void>;
  updateRole(roleid: string, privs: string[]): Promise<void>;
  deleteRole(roleid: string): Promise<void>;
  listAcl(): Promise<{ path: string; type: "user" | "group" | "token"; ugid: string; roleid: string; propagate: boolean }[]>;
  putAcl(params: { path: string; roles: string[]; users?: string[]; groups?: string[]; propagate: boolean; delete?: boolean }): Promise<void>;
}

/** What the Proxmox providers act on: one cluster, its desired state and its API. */
export interface ClusterTarget {
  desired: DesiredCluster;
  api: PveApi;
  resolver: Resolver;
  /** The token homelab runs as, and its user: never pruned, never stripped of rights. */
  runAs: { tokenId: string; userid: string };
}

export type { ObservedCluster };
