import type { Change } from "../../core/plan.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import { APPLICATION_KIND } from "./application.js";
import { realmTag } from "./graph.js";
import { appOf, type ObservedTenant, type TenantTarget } from "./target.js";

export const SERVICE_PRINCIPAL_KIND = "entra.servicePrincipal";

export const spAddress = (tenant: string, realm: string) => `${SERVICE_PRINCIPAL_KIND}/${tenant}:${realm}`;

/**
 * The app's service principal (its "enterprise application"): needed before any of its secrets work
 * (spec errata 9.1) and to assign groups to the app (3.9). Read by the application provider.
 */
export const servicePrincipalProvider: Provider<TenantTarget, ObservedTenant> = {
  kind: SERVICE_PRINCIPAL_KIND,
  async read() {
    return {};
  },

  plan(target, observed): PlanPart {
    const changes: Change[] = [];
    let unchanged = 0;
    for (const d of target.desired.applications) {
      const address = spAddress(target.desired.name, d.realm);
      const app = appOf(observed, d.realm);
      const sp = app ? observed.sps.get(app.appId) : undefined;
      if (sp) {
        target.resolver.record({ ref: address, field: "id" }, sp.id);
        unchanged++;
        continue;
      }
      target.resolver.markPending({ ref: address, field: "id" });
      changes.push({ address, kind: SERVICE_PRINCIPAL_KIND, target: target.desired.name, action: "create", dependsOn: [d.address], fields: [{ path: "appId", after: app?.appId ?? "(known after apply)" }] });
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    const realm = change!.address.slice(change!.address.lastIndexOf(":") + 1);
    const appAddress = `${APPLICATION_KIND}/${target.desired.name}:${realm}`;
    const appId = target.resolver.value({ ref: appAddress, field: "appId" });
    if (!appId) throw new Error(`${change!.address}: the app's id is not known`);
    const owner = (await target.graph.servicePrincipalOfCaller()).id;
    const { servicePrincipal, created } = await target.graph.createServicePrincipal(appId, { ownerId: owner, tags: ["homelab", realmTag(realm)] });
    target.resolver.record({ ref: change!.address, field: "id" }, servicePrincipal.id);
    // It existed (409: an interrupted earlier run made it, and the read did not show it yet): say so.
    return created ? undefined : { adopted: true };
  },
};
