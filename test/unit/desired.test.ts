import { describe, expect, it } from "vitest";
import { buildDesired, toEpoch } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import type { DesiredState } from "../../src/core/desired.js";
import { minimal, playbook } from "../helpers/config.js";

const desired = (text: string): DesiredState => buildDesired(validateText(text).config, "/etc/homelab");
/** Serialisable view: what the planner will see (Secrets print as "(sensitive)"). */
const plain = (d: unknown) => JSON.parse(JSON.stringify(d));

describe("desired state of the tutorial playbook", () => {
  const d = desired(playbook("homelab.yaml"));

  it("has one cluster with the azure realm provisioned in the tenant", () => {
    expect(d.clusters.map((c) => c.name)).toEqual(["pve"]);
    const [realm] = d.clusters[0]!.realms;
    expect(plain(realm)).toEqual({
      address: "proxmox.realm/pve:azure",
      cluster: "pve",
      realm: "azure",
      type: "openid",
      options: {
        comment: "Microsoft Entra ID",
        default: true,
        "issuer-url": "https://login.microsoftonline.com/8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f/v2.0",
        "client-id": { ref: "entra.application/contoso:azure", field: "appId" },
        "username-claim": "upn",
        autocreate: true,
      },
      clientKey: { ref: "entra.secret/contoso:azure:pve", field: "secretText" },
      provisioned: { tenant: "contoso", application: "entra.application/contoso:azure" },
    });
    expect(d.clusters[0]!.managedRealms).toEqual(["azure"]);
  });

  it("creates the mapped user before first login, with Administrator on /", () => {
    const c = d.clusters[0]!;
    expect(plain(c.users)).toEqual([
      { address: "proxmox.user/pve:jane@contoso.com@azure", cluster: "pve", userid: "jane@contoso.com@azure", enable: true, expire: 0, groups: [] },
    ]);
    expect(c.acl).toEqual([
      { address: "proxmox.acl/pve:/:jane@contoso.com@azure:Administrator", cluster: "pve", path: "/", type: "user", ugid: "jane@contoso.com@azure", roleid: "Administrator", propagate: true },
    ]);
  });

  it("asks for an app registration with the cluster URL as redirect URI and one secret per cluster", () => {
    expect(d.tenants).toHaveLength(1);
    const t = d.tenants[0]!;
    expect({ loginUrl: t.loginUrl, graphUrl: t.graphUrl }).toEqual({ loginUrl: "https://login.microsoftonline.com", graphUrl: "https://graph.microsoft.com" });
    expect(t.applications).toEqual([
      {
        address: "entra.application/contoso:azure", tenant: "contoso", realm: "azure", displayName: "Proxmox VE",
        signInAudience: "AzureADMyOrg", usernameClaim: "upn", redirectUris: ["https://pve.lan:8006"], optionalIdTokenClaims: ["upn"],
        groupMembershipClaims: "None", assignedGroups: [], secretLifetimeDays: 180, renewBeforeDays: 30,
        secrets: [{ address: "entra.secret/contoso:azure:pve", cluster: "pve", displayName: "homelab:azure:pve" }],
      },
    ]);
    expect(t.groups).toEqual([]);
  });

  it("keeps secrets as references, redacted when serialised", () => {
    const s = JSON.stringify(d);
    expect(s).toContain('"secret":"(sensitive)"');
    expect(d.clusters[0]!.token.secret.ref).toBe("${env:PVE_TOKEN_SECRET}");
  });
});

describe("desired state of the larger playbook", () => {
  const d = desired(playbook("larger.yaml"));
  const pve1 = d.clusters.find((c) => c.name === "pve1")!;
  const pve2 = d.clusters.find((c) => c.name === "pve2")!;

  it("puts the external realm only on its cluster, and every other realm everywhere", () => {
    expect(pve1.realms.map((r) => r.realm)).toEqual(["authentik", "entra", "pve"]);
    expect(pve2.realms.map((r) => r.realm)).toEqual(["entra", "pve"]);
    expect(pve1.managedRealms).toEqual(["authentik", "entra"]);
    const authentik = pve1.realms[0]!;
    expect(authentik.options).toMatchObject({ "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", scopes: "openid email profile", "groups-claim": "groups" });
    expect(String(authentik.clientKey)).toBe("(sensitive)");
  });

  it("maps the Entra group to a Proxmox group id resolved later, with the display name as comment", () => {
    const admins = pve1.groups.find((g) => g.key === "admins")!;
    expect(admins).toMatchObject({ groupid: { tenant: "contoso", displayName: "Proxmox Admins", realm: "entra" }, comment: "Proxmox Admins", realm: "entra" });
    expect(pve1.realms.find((r) => r.realm === "entra")!.options["groups-claim"]).toBe("groups");
    const app = d.tenants[0]!.applications[0]!;
    expect(app.groupMembershipClaims).toBe("ApplicationGroup");
    expect(app.assignedGroups).toEqual(["Proxmox Admins"]);
    expect(app.redirectUris).toEqual(["https://pve.lan:8006", "https://pve1.lan:8006", "https://pve2.lan:8006"]);
    expect(app.secrets.map((s) => s.cluster)).toEqual(["pve1", "pve2"]);
    expect(app.secretLifetimeDays).toBe(365);
    expect(d.tenants[0]!.groups.map((g) => g.address)).toEqual(["entra.group/contoso:Proxmox Admins"]);
  });

  it("derives user attributes, memberships and expiry", () => {
    const carol = pve1.users.find((u) => u.userid === "carol@pve")!;
    expect(carol).toMatchObject({ email: "carol@example.org", comment: "Break-glass account", expire: Date.UTC(2027, 5, 30) / 1000, groups: ["operators"] });
    expect(pve2.users.map((u) => u.userid)).toEqual(["bob@contoso.com@entra", "carol@pve"]);
  });

  it("limits mappings to the principal's clusters and to explicit clusters", () => {
    const addr = (c: typeof pve1) => c.acl.map((a) => a.address);
    expect(addr(pve1)).toContain("proxmox.acl/pve1:/storage/media:dave@auth.lan@authentik:PVEDatastoreUser");
    expect(addr(pve2).some((a) => a.includes("authentik"))).toBe(false);
    expect(pve1.acl.find((a) => a.address === "proxmox.acl/pve1:/vms/101:bob@contoso.com@entra:PVEVMAdmin")!.propagate).toBe(false);
    expect(pve1.acl.find((a) => a.address.includes("@admins"))!.ugid).toEqual({ tenant: "contoso", displayName: "Proxmox Admins", realm: "entra" });
  });

  it("resolves a relative CA path against the config's directory", () => {
    expect(pve2.tls).toEqual({ ca: "/etc/homelab/certs/homelab-ca.pem" });
  });

  it("is deterministic and sorted by address", () => {
    expect(plain(desired(playbook("larger.yaml")))).toEqual(plain(d));
    for (const c of d.clusters) {
      for (const list of [c.realms, c.roles, c.groups, c.users, c.acl]) {
        const addresses = list.map((x) => x.address);
        expect(addresses).toEqual([...addresses].sort());
      }
    }
  });
});

describe("table: one config feature in, desired objects out", () => {
  const base = minimal;
  it.each([
    {
      name: "a custom role on every cluster, privileges sorted",
      text: `${base}roles:\n  Ops: { privs: [VM.PowerMgmt, VM.Audit] }\n`,
      pick: (d: DesiredState) => d.clusters[0]!.roles,
      want: [{ address: "proxmox.role/pve:Ops", cluster: "pve", roleid: "Ops", privs: ["VM.Audit", "VM.PowerMgmt"] }],
    },
    {
      name: "a plain group with members: users get the membership",
      text: `${base}groups:\n  ops: { comment: Ops, members: [jane@sso] }\n`,
      pick: (d: DesiredState) => [d.clusters[0]!.groups, d.clusters[0]!.users.map((u) => u.groups)],
      want: [[{ address: "proxmox.group/pve:ops", cluster: "pve", key: "ops", groupid: "ops", comment: "Ops", membersExclusive: true }], [["ops"]]],
    },
    {
      name: "membersExclusive: false (plain groups only; Entra-mapped groups are never exclusive)",
      text: `${base}groups:
  ops: { members: [jane@sso], membersExclusive: false }
`,
      pick: (d: DesiredState) => d.clusters[0]!.groups.map((g) => g.membersExclusive),
      want: [false],
    },
    {
      name: "explicit user attributes, disabled, expiring",
      text: `${base}users:\n  jane@sso: { email: jane@x.org, firstname: Jane, enable: false, expire: 1900000000 }\n`,
      pick: (d: DesiredState) => d.clusters[0]!.users,
      want: [{ address: "proxmox.user/pve:jane@sso", cluster: "pve", userid: "jane@sso", enable: false, expire: 1900000000, email: "jane@x.org", firstname: "Jane", groups: [] }],
    },
    {
      name: "a group mapping with propagate off",
      text: `${base}groups:\n  ops: {}\n`.replace("access:\n", "access:\n  - { group: ops, role: PVEAuditor, path: /nodes, propagate: false }\n"),
      pick: (d: DesiredState) => d.clusters[0]!.acl.filter((a) => a.type === "group"),
      want: [{ address: "proxmox.acl/pve:/nodes:@ops:PVEAuditor", cluster: "pve", path: "/nodes", type: "group", ugid: "ops", roleid: "PVEAuditor", propagate: false }],
    },
    {
      name: "prune settings default to nothing",
      text: base,
      pick: (d: DesiredState) => d.clusters[0]!.prune,
      want: { acl: false, users: false, groups: false, roles: false },
    },
    {
      name: "prune settings as given",
      text: `${base}prune: { acl: true, users: true }\n`,
      pick: (d: DesiredState) => d.clusters[0]!.prune,
      want: { acl: true, users: true, groups: false, roles: false },
    },
    {
      name: "the built-in pve realm: comment and default only, not managed",
      text: base.replace("realms:\n", "realms:\n  pve: { comment: Local, default: true }\n"),
      pick: (d: DesiredState) => [d.clusters[0]!.realms.find((r) => r.realm === "pve"), d.clusters[0]!.managedRealms],
      want: [{ address: "proxmox.realm/pve:pve", cluster: "pve", realm: "pve", type: "pve", options: { comment: "Local", default: true } }, ["sso"]],
    },
    {
      name: "explicit cloud endpoints (how simulators are reached)",
      text: playbook("homelab.yaml").replace("    credentials:", "    cloud: { loginUrl: http://127.0.0.1:4010/, graphUrl: http://127.0.0.1:4011 }\n    credentials:"),
      pick: (d: DesiredState) => [d.tenants[0]!.loginUrl, d.tenants[0]!.graphUrl, d.clusters[0]!.realms[0]!.options["issuer-url"]],
      want: ["http://127.0.0.1:4010", "http://127.0.0.1:4011", "http://127.0.0.1:4010/8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f/v2.0"],
    },
    {
      name: "the US government cloud",
      text: playbook("homelab.yaml").replace("    credentials:", "    cloud: usgov\n    credentials:"),
      pick: (d: DesiredState) => [d.tenants[0]!.graphUrl, d.clusters[0]!.realms[0]!.options["issuer-url"]],
      want: ["https://graph.microsoft.us", "https://login.microsoftonline.us/8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f/v2.0"],
    },
  ])("$name", ({ text, pick, want }) => {
    expect(plain(pick(desired(text)))).toEqual(want);
  });
});

describe("toEpoch", () => {
  it.each([
    [undefined, 0], [0, 0], ["never", 0], [1900000000, 1900000000],
    ["2027-06-30", 1814313600], ["2027-06-30T18:00:00Z", 1814378400], ["2027-06-30T20:00:00+02:00", 1814378400],
  ])("%j → %d", (input, want) => expect(toEpoch(input as never)).toBe(want));
  it("refuses impossible dates", () => expect(() => toEpoch("2027-02-30")).toThrow(/not a valid date/));
});
