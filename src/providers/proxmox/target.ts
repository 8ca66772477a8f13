import type { DesiredCluster } from "../../core/desired.js";
import type { Resolver } from "../../engine/resolver.js";
import type { ProxmoxClient } from "./client.js";
import type { ObservedCluster } from "./observed.js";

/** The calls the Proxmox providers make, as the got-based client (client.ts) implements them. */
export type PveApi = Pick<
  ProxmoxClient,
  | "listRealms" | "getRealm" | "createRealm" | "updateRealm" | "deleteRealm"
  | "listUsers" | "createUser" | "updateUser" | "deleteUser" | "deleteToken"
  | "listGroups" | "createGroup" | "updateGroup" | "deleteGroup"
  | "listRoles" | "createRole" | "updateRole" | "deleteRole"
  | "listAcl" | "putAcl" | "permissions" | "version"
>;

/** What the Proxmox providers act on: one cluster, its desired state and its API. */
export interface ClusterTarget {
  desired: DesiredCluster;
  api: PveApi;
  resolver: Resolver;
  /** The token homelab runs as, and its user: never pruned, never stripped of rights. */
  runAs: { tokenId: string; userid: string };
  /**
   * True when this run applies its plan (apply without --check). The write-privilege pre-flight then
   * refuses a plan the token lacks privileges for; otherwise (plan, --check, import's check) it warns.
   */
  applying?: boolean;
}

export type { ObservedCluster };
