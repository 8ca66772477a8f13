import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { createResolver } from "../../src/engine/resolver.js";
import { applicationProvider, graphRole } from "../../src/providers/entra/application.js";
import { appRoleId } from "../../src/config/desired.js";
import { emptyObservedTenant, type TenantTarget } from "../../src/providers/entra/target.js";
import { aclProvider } from "../../src/providers/proxmox/acl.js";
import { groupProvider } from "../../src/providers/proxmox/group.js";
import { guardProvider } from "../../src/providers/proxmox/guard.js";
import { emptyObserved } from "../../src/providers/proxmox/observed.js";
import { userProvider } from "../../src/providers/proxmox/user.js";

process.env.T_SECRET = "x"; process.env.PVE_TOKEN = "x";
const TID = "0a1b2c3d-0000-4000-8000-000000000001";
const JANE = "jane@contoso.com@azure";
const cfg = `version: 1
tenants:
  contoso: { tenantId: ${TID}, credentials: { clientId: 0a1b2c3d-0000-4000-8000-000000000002, clientSecret: "\${env:T_SECRET}" } }
clusters:
  pve: { url: "https://pve.lan:8006", token: { id: "homelab@pve!converge", secret: "\${env:PVE_TOKEN}" } }
realms:
  azure: { tenant: contoso, usernameClaim: upn, groupsClaim: roles }
groups:
  sysadmins: { realm: azure, entraGroup: Proxmox Admins }
access:
  - { group: sysadmins, role: Administrator, path: / }
`;
describe("guard and rename", () => {
  it("renaming the only admin group is not a lockout", () => {
    const d = buildDesired(validateText(cfg).config);
    const resolver = createResolver();
    const tenant = { ...emptyObservedTenant(), apps: new Map([["azure", [{ id: "a", appId: "b", displayName: "x", appRoles: [graphRole({ id: appRoleId(TID, "azure", "Proxmox Admins"), value: "admins", group: "Proxmox Admins" }, "azure")] }]]]) } as any;
    applicationProvider.plan({ desired: d.tenants[0]!, resolver } as unknown as TenantTarget, tenant, new Map());
    const ob = emptyObserved();
    ob.groups.set("admins-azure", { groupid: "admins-azure", users: [JANE] } as any);
    ob.users.set(JANE, { userid: JANE, enable: true, expire: 0, groups: ["admins-azure"], tokens: [] } as any);
    ob.users.set("homelab@pve", { userid: "homelab@pve", enable: true, expire: 0, groups: [], tokens: [] } as any);
    ob.acl.push({ path: "/", type: "group", ugid: "admins-azure", roleid: "Administrator", propagate: true });
    ob.acl.push({ path: "/", type: "user", ugid: "homelab@pve", roleid: "Administrator", propagate: true });
    ob.realms.set("azure", { type: "openid" });
    const ct = { desired: d.clusters[0]!, api: {} as any, resolver, runAs: { tokenId: "homelab@pve!converge", userid: "homelab@pve" } };
    const world = new Map<string, unknown>([["contoso", tenant]]);
    const changes = [groupProvider, userProvider, aclProvider].flatMap((p) => p.plan(ct, ob, world).changes);
    expect(changes.map((c) => c.address)).toContain("proxmox.group/pve:admins-azure");
    expect(() => guardProvider.review!(ct, ob, changes)).not.toThrow();
  });
});
