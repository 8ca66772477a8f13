import type { Provider } from "../engine/provider.js";
import { applicationProvider } from "./entra/application.js";
import { assignmentProvider } from "./entra/assignment.js";
import { entraGroupProvider } from "./entra/group.js";
import { policyProvider } from "./entra/policy.js";
import { secretProvider } from "./entra/secret.js";
import { servicePrincipalProvider } from "./entra/service-principal.js";
import type { ObservedTenant, TenantTarget } from "./entra/target.js";
import { accessCheckProvider } from "./proxmox/access-check.js";
import { aclProvider } from "./proxmox/acl.js";
import { groupProvider } from "./proxmox/group.js";
import { guardProvider } from "./proxmox/guard.js";
import type { ObservedCluster } from "./proxmox/observed.js";
import { realmProvider } from "./proxmox/realm.js";
import { roleProvider } from "./proxmox/role.js";
import type { ClusterTarget } from "./proxmox/target.js";
import { userProvider } from "./proxmox/user.js";

/**
 * The registry: every resource kind, in the order its changes are planned and listed. A new kind is a
 * provider file plus one line here; the engine iterates over these lists and never names a kind.
 * Tenants are planned before clusters: what they will create (an app's client id, a new secret, a
 * group's object id) is what the Proxmox realms and groups refer to.
 */
export const tenantProviders: readonly Provider<TenantTarget, ObservedTenant>[] = [applicationProvider, servicePrincipalProvider, entraGroupProvider, secretProvider, assignmentProvider, policyProvider];

export const clusterProviders: readonly Provider<ClusterTarget, ObservedCluster>[] = [accessCheckProvider, realmProvider, roleProvider, groupProvider, userProvider, aclProvider, guardProvider];
