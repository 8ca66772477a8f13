import type { Provider } from "../engine/provider.js";
import { aclProvider } from "./proxmox/acl.js";
import { groupProvider } from "./proxmox/group.js";
import type { ObservedCluster } from "./proxmox/observed.js";
import { realmProvider } from "./proxmox/realm.js";
import { roleProvider } from "./proxmox/role.js";
import type { ClusterTarget } from "./proxmox/target.js";
import { userProvider } from "./proxmox/user.js";

/**
 * The registry: every resource kind, in the order its changes are listed. A new kind is a provider file
 * plus one line here; the engine iterates over this list and never names a kind.
 */
export const clusterProviders: readonly Provider<ClusterTarget, ObservedCluster>[] = [realmProvider, roleProvider, groupProvider, userProvider, aclProvider];
