import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { homelab } from "../helpers/cli.js";
import { pveLab, writes, type PveLab } from "../helpers/pve.js";
import { tenantYaml } from "../helpers/lab.js";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";
import { startProxmoxSim, type ProxmoxFixture } from "../../src/sim/proxmox/index.js";

const CLIENT_KEY = "authentik-Client-KEY-93f1c0";
const EXPIRE_2027_06_30 = Date.UTC(2027, 5, 30) / 1000;

/** A hand-made setup, as someone clicking through the web UI would leave it. */
const fixture: ProxmoxFixture = {
  realms: [
    {
      realm: "authentik", type: "openid", "issuer-url": "https://auth.lan/application/o/proxmox/", "client-id": "proxmox", "client-key": CLIENT_KEY,
      "username-claim": "username", scopes: "openid email profile", autocreate: 1, "groups-claim": "groups", "query-userinfo": 0, comment: "Authentik",
    },
    { realm: "corp", type: "ldap", server1: "ldap.lan", base_dn: "dc=lan", user_attr: "uid" },
    { realm: "pve", type: "pve", comment: "Local accounts (break-glass)" },
  ],
  groups: [{ groupid: "operators", comment: "People who run VMs" }, { groupid: "auditors" }],
  users: [
    { userid: "carol@pve", email: "carol@example.org", comment: "Break-glass", expire: EXPIRE_2027_06_30 },
    { userid: "bob@pve", firstname: "Bob", lastname: "Builder", enable: 0, groups: ["operators"] },
    { userid: "dave@auth.lan@authentik", comment: "Media admin", groups: ["operators"] },
    { userid: "eve@pve", email: "eve@example.org", groups: ["auditors"], expire: EXPIRE_2027_06_30 + 18 * 3600 },
    { userid: "idle@pve", comment: "no rights, no groups: not imported" },
    { userid: "homelab@pve" },
    { userid: "carl@corp" },
  ],
  roles: [{ roleid: "VMOperator", privs: ["VM.Audit", "VM.Console", "VM.PowerMgmt"] }, { roleid: "Nothing", privs: [] }],
  tokens: [{ userid: "homelab@pve", tokenid: "converge", privsep: 1 }],
  acl: [
    { path: "/", type: "user", ugid: "carol@pve", roleid: "PVEAuditor" },
    { path: "/vms/101", type: "user", ugid: "bob@pve", roleid: "PVEVMAdmin", propagate: 0 },
    { path: "/vms", type: "group", ugid: "operators", roleid: "VMOperator" },
    { path: "/pool/media", type: "user", ugid: "dave@auth.lan@authentik", roleid: "PVEVMUser" },
    { path: "/storage/media", type: "user", ugid: "dave@auth.lan@authentik", roleid: "PVEDatastoreUser", propagate: 0 },
    { path: "/access/realm/authentik", type: "group", ugid: "auditors", roleid: "Nothing" },
    { path: "/", type: "token", ugid: "homelab@pve!converge", roleid: "Administrator" },
    { path: "/nodes", type: "user", ugid: "carl@corp", roleid: "PVEAuditor" },
  ],
};

describe("homelab import from a Proxmox cluster", () => {
  let l: PveLab;
  const out = () => join(l.dir, "out.yaml");
  const run = (args: string[], env: Record<string, string> = {}) => homelab(args, { env: { ...l.env, ...env } });
  let imported: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    l = await pveLab(fixture);
    l.write("");
    imported = await run(["import", "-f", l.file, "-o", out()]);
  });
  afterAll(() => l.close());

  it("writes a file and changes nothing on the cluster", () => {
    expect(imported.stderr).not.toMatch(/error/);
    expect(imported.code).toBe(0);
    expect(writes(l.sim)).toEqual([]);
    const text = readFileSync(out(), "utf8");
    expect(text.split("\n")[0]).toMatch(/^# yaml-language-server: \$schema=.*schemas\/homelab\.schema\.json$/);
  });

  it("the written file validates", async () => {
    const r = await run(["validate", "-f", out()]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("its plan against the same cluster is empty", async () => {
    const r = await run(["plan", "-f", out(), "--detailed-exitcode"], { AUTHENTIK_CLIENT_KEY: CLIENT_KEY });
    expect(r.stdout).toContain("No changes");
    expect(r.code).toBe(0);
    expect(imported.stderr).toContain("check: a plan of the written file against the same state has no changes");
  });

  it("the check is real: a different client key is a pending change", async () => {
    const r = await run(["plan", "-f", out(), "--detailed-exitcode"], { AUTHENTIK_CLIENT_KEY: "not-the-key" });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("proxmox.realm/pve:authentik");
  });

  it("declares what it found, in the schema's terms", () => {
    const doc = parse(readFileSync(out(), "utf8"));
    expect(Object.keys(doc.clusters)).toEqual(["pve"]);
    expect(doc.clusters.pve.token.secret).toBe("${env:PVE_TOKEN}");
    expect(doc.realms.authentik).toEqual({
      issuerUrl: "https://auth.lan/application/o/proxmox/", clientId: "proxmox", clientKey: "${env:AUTHENTIK_CLIENT_KEY}",
      usernameClaim: "username", scopes: ["openid", "email", "profile"], autocreate: true, groupsClaim: "groups", queryUserinfo: false, comment: "Authentik",
    });
    expect(doc.realms.pve).toEqual({ comment: "Local accounts (break-glass)" });
    expect(doc.realms.pam).toBeUndefined();
    expect(doc.realms.corp).toBeUndefined();
    expect(doc.roles).toEqual({ Nothing: { privs: [] }, VMOperator: { privs: ["VM.Audit", "VM.Console", "VM.PowerMgmt"] } });
    expect(doc.groups).toEqual({
      auditors: { members: ["eve@pve"] },
      operators: { comment: "People who run VMs", members: ["bob@pve", "dave@auth.lan@authentik"] },
    });
    expect(doc.users).toEqual({
      "bob@pve": { firstname: "Bob", lastname: "Builder", enable: false },
      "carol@pve": { email: "carol@example.org", comment: "Break-glass", expire: "2027-06-30" },
      "dave@auth.lan@authentik": { comment: "Media admin" },
      "eve@pve": { email: "eve@example.org", expire: "2027-06-30T18:00:00Z" },
    });
    expect(doc.access).toEqual([
      { user: "carol@pve", role: "PVEAuditor", path: "/" },
      { group: "auditors", role: "Nothing", path: "/access/realm/authentik" },
      { user: "dave@auth.lan@authentik", role: "PVEVMUser", path: "/pool/media" },
      { user: "dave@auth.lan@authentik", role: "PVEDatastoreUser", path: "/storage/media", propagate: false },
      { group: "operators", role: "VMOperator", path: "/vms" },
      { user: "bob@pve", role: "PVEVMAdmin", path: "/vms/101", propagate: false },
    ]);
    expect(doc.prune).toBeUndefined();
  });

  it("names the client-key variable in comments and says what it left out, never the key", () => {
    const text = readFileSync(out(), "utf8");
    expect(text).toMatch(/clientKey: \$\{env:AUTHENTIK_CLIENT_KEY\} # set AUTHENTIK_CLIENT_KEY/);
    expect(text).toMatch(/left out:\n(#.*\n)*#\s+- 1 ACL entry of API tokens.*homelab@pve!converge Administrator on \//);
    expect(text).toMatch(/#\s+- realm corp \(type ldap\)/);
    expect(text).not.toMatch(/- user carl@corp/); // covered by the realm's line
    expect(text).not.toContain("idle@pve");
    expect(text).toMatch(/^\s+- \{ user: bob@pve, role: PVEVMAdmin, path: \/vms\/101, propagate: false \}$/m);
    for (const s of [text, imported.stdout, imported.stderr]) expect(s).not.toContain(CLIENT_KEY);
    expect(imported.stderr).toContain("left out: 1 ACL entry of API tokens");
  });

  it("is deterministic, refuses to overwrite without --force, and prints to stdout without -o", async () => {
    const again = await run(["import", "-f", l.file, "-o", out()]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/exists.*--force/s);
    const forced = await run(["import", "-f", l.file, "-o", out(), "--force"]);
    expect(forced.code).toBe(0);
    const text = readFileSync(out(), "utf8");
    expect(text).toBe(readFileSync(out(), "utf8"));
    const first = readFileSync(out(), "utf8");
    const second = await run(["import", "-f", l.file, "-o", join(l.dir, "second.yaml")]);
    expect(second.code).toBe(0);
    expect(readFileSync(join(l.dir, "second.yaml"), "utf8")).toBe(first);
    const stdout = await homelab(["import", "-f", l.file], { cwd: l.dir, env: l.env });
    expect(stdout.code).toBe(0);
    expect(stdout.stdout).toBe(first);
    expect(stdout.stdout + stdout.stderr).not.toContain(CLIENT_KEY);
  });

  it("keeps secret references as references, with relative file paths rebased onto the new file", async () => {
    mkdirSync(join(l.dir, "conf"), { recursive: true });
    mkdirSync(join(l.dir, "secrets"), { recursive: true });
    writeFileSync(join(l.dir, "secrets", "pve.token"), `${l.sim.adminToken.secret}\n`);
    const conf = join(l.dir, "conf", "homelab.yaml");
    writeFileSync(conf, readFileSync(l.file, "utf8").replace("${env:PVE_TOKEN}", "${file:../secrets/pve.token}"));
    const r = await homelab(["import", "-f", conf, "-o", join(l.dir, "rebased.yaml")], { env: { PVE_TOKEN: undefined } });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(parse(readFileSync(join(l.dir, "rebased.yaml"), "utf8")).clusters.pve.token.secret).toBe("${file:secrets/pve.token}");
    const plan = await homelab(["plan", "-f", join(l.dir, "rebased.yaml"), "--detailed-exitcode"], { env: { PVE_TOKEN: undefined, AUTHENTIK_CLIENT_KEY: CLIENT_KEY } });
    expect(plan.stdout).toContain("No changes");
    expect(plan.code).toBe(0);
  });

  it("needs --cluster when the config has several", async () => {
    const other = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    try {
      const two = join(l.dir, "two.yaml");
      writeFileSync(two, `${readFileSync(l.file, "utf8")}  other:\n    url: ${other.url}\n    token: { id: "${other.adminToken.id}", secret: "\${env:OTHER}" }\n    tls: { fingerprint: "${other.fingerprint}" }\n`);
      const r = await run(["import", "-f", two]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("--cluster");
      const ok = await run(["import", "-f", two, "--cluster", "other"], { OTHER: other.adminToken.secret });
      expect(ok.code).toBe(0);
      expect(parse(ok.stdout).clusters).toEqual({ other: expect.objectContaining({ url: other.url }) });
    } finally {
      await other.close();
    }
  });
});

describe("homelab import of names that are JavaScript property names (issue 10 item 6)", () => {
  it("a group `__proto__` and a role `toString` are imported as ordinary names: the file validates and plans nothing", async () => {
    const l = await pveLab({
      groups: [{ groupid: "__proto__" }, { groupid: "constructor" }],
      users: [{ userid: "ann@pve", groups: ["__proto__", "constructor"] }],
      roles: [{ roleid: "toString", privs: ["VM.Audit"] }],
      acl: [
        { path: "/vms", type: "group", ugid: "__proto__", roleid: "toString" },
        { path: "/", type: "user", ugid: "ann@pve", roleid: "PVEAuditor" },
      ],
    });
    try {
      l.write("");
      const out = join(l.dir, "out.yaml");
      const r = await homelab(["import", "-f", l.file, "-o", out], { env: l.env });
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      const doc = parse(readFileSync(out, "utf8"));
      expect(Object.keys(doc.groups).sort()).toEqual(["__proto__", "constructor"]);
      expect(Object.keys(doc.roles)).toEqual(["toString"]);
      expect((await homelab(["validate", "-f", out], { env: l.env })).code).toBe(0);
      const plan = await homelab(["plan", "-f", out], { env: l.env });
      expect(plan.stdout).toContain("No changes");
      expect(plan.code).toBe(0);
    } finally {
      await l.close();
    }
  });
});

describe("homelab import with a tenant: adopting a matching app registration", () => {
  const KEY = "entra-Secret-Text-55b2e1";
  const appId = "6a1d3f0e-2b4c-4d5e-8f90-a1b2c3d4e5f6";
  const appObjectId = "0f1e2d3c-4b5a-4968-8776-655443322110";
  const otherAppId = "7b2e4a1f-3c5d-4e6f-9a01-b2c3d4e5f6a7";
  const adminsId = "11111111-2222-4333-8444-555555555555";
  const AUTOMATION = "2b0c6d1e-7f8a-4b9c-8d0e-1f2a3b4c5d6e";
  let pve: PveLab;
  let entra: EntraSim;
  let file: string;
  let env: Record<string, string>;
  const out = (n: string) => join(pve.dir, n);
  const run = (args: string[], extra: Record<string, string> = {}) => homelab(["-f", file, ...args], { env: { ...env, ...extra } });

  beforeAll(async () => {
    // The cluster first (the app's redirect URI is its URL), then the tenant (the realm's issuer is its URL).
    pve = await pveLab();
    const claim = (name: string) => ({ name, source: null, essential: false, additionalProperties: [] });
    entra = await startEntraSim({
      automation: { clientId: AUTOMATION },
      fixture: {
        users: [{ displayName: "Jane Doe", userPrincipalName: "jane@contoso.com" }],
        groups: [{ id: adminsId, displayName: "Proxmox Admins", members: ["jane@contoso.com"] }],
        applications: [
          {
            // Made by hand the way homelab would make it, but without homelab's tags.
            id: appObjectId, appId, displayName: "Proxmox Login", signInAudience: "AzureADMyOrg",
            web: { redirectUris: [pve.sim.url], implicitGrantSettings: { enableIdTokenIssuance: false, enableAccessTokenIssuance: false } },
            groupMembershipClaims: "ApplicationGroup",
            optionalClaims: { idToken: [claim("upn"), claim("groups")], accessToken: [], saml2Token: [] },
            passwordCredentials: [{ displayName: "homelab:azure:pve", secretText: KEY }],
            owners: [AUTOMATION],
          },
          // Same tenant, but registered for another host: not a match.
          { appId: otherAppId, displayName: "Elsewhere", web: { redirectUris: ["https://elsewhere.lan:8006"] } },
        ],
        servicePrincipals: [{ appId }],
      },
    });
    // The automation app owns the app (so Application.ReadWrite.OwnedBy may tag it); the group is assigned to it.
    const { createTokenSource } = await import("../../src/providers/entra/token.js");
    const { createGraphClient } = await import("../../src/providers/entra/graph.js");
    const { Secret } = await import("../../src/core/secret.js");
    const tokens = createTokenSource({ tenantId: entra.tenantId, loginUrl: entra.loginUrl, graphUrl: entra.graphUrl, credentials: { clientId: entra.automation.clientId, clientSecret: Secret.fromValue(entra.automation.clientSecret, "test") } });
    const graph = createGraphClient({ graphUrl: entra.graphUrl, tokens, tenant: "contoso" });
    const sp = (await graph.findServicePrincipal(appId))!;
    await graph.assignGroup(sp.id, adminsId);

    const issuer = `${entra.loginUrl}/${entra.tenantId}/v2.0`;
    await pve.admin.createRealm({ realm: "azure", type: "openid", "issuer-url": issuer, "client-id": appId, "client-key": KEY, "username-claim": "upn", autocreate: true, "groups-claim": "groups" });
    await pve.admin.createRealm({ realm: "elsewhere", type: "openid", "issuer-url": issuer, "client-id": otherAppId });
    await pve.admin.createGroup({ groupid: `${adminsId}-azure`, comment: "Proxmox Admins" });
    await pve.admin.createUser({ userid: "jane@contoso.com@azure" });
    await pve.admin.putAcl({ path: "/", roles: ["Administrator"], users: ["jane@contoso.com@azure"], propagate: true });
    await pve.admin.putAcl({ path: "/", roles: ["PVEAdmin"], groups: [`${adminsId}-azure`], propagate: true });

    entra.clearLog();
    file = join(pve.dir, "homelab.yaml");
    env = { ...pve.env, CONTOSO_SECRET: entra.automation.clientSecret };
    writeFileSync(file, `version: 1
${tenantYaml(entra)}clusters:
  pve:
    url: ${pve.sim.url}
    token: { id: "${pve.sim.adminToken.id}", secret: "\${env:PVE_TOKEN}" }
    tls: { fingerprint: "${pve.sim.fingerprint}" }
`);
  });
  afterAll(async () => {
    await entra.close();
    await pve.close();
  });

  it("without --adopt, an untagged match stays an external issuer (empty plan) and the output says how to adopt it", async () => {
    const r = await run(["import", "--tenant", "contoso", "-o", out("external.yaml")]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const text = readFileSync(out("external.yaml"), "utf8");
    const doc = parse(text);
    expect(doc.realms.azure).toMatchObject({ issuerUrl: `${entra.loginUrl}/${entra.tenantId}/v2.0`, clientId: appId, clientKey: "${env:AZURE_CLIENT_KEY}" });
    expect(doc.realms.azure.tenant).toBeUndefined();
    expect(text).toMatch(/realm azure: app registration "Proxmox Login" .* run again with --adopt/);
    expect(tagsOf(entra, appObjectId)).toEqual([]);
    expect(entra.requestLog.filter((q) => q.api === "graph" && q.method !== "GET")).toEqual([]);
    const plan = await homelab(["plan", "-f", out("external.yaml"), "--detailed-exitcode"], { env: { ...env, AZURE_CLIENT_KEY: KEY } });
    expect(plan.stdout).toContain("No changes");
    expect(plan.code).toBe(0);
  });

  it("with --adopt: tagged, written as a tenant realm with its Entra group mapped; validates; the plan takes it over with one update (the guest upn property)", async () => {
    const r = await run(["import", "--tenant", "contoso", "--adopt", "-o", out("adopted.yaml")]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(tagsOf(entra, appObjectId).sort()).toEqual(["homelab", "homelab:realm=azure"]);
    const text = readFileSync(out("adopted.yaml"), "utf8");
    const doc = parse(text);
    expect(doc.tenants.contoso.credentials.clientSecret).toBe("${env:CONTOSO_SECRET}");
    expect(doc.realms.azure).toEqual({ tenant: "contoso", app: { displayName: "Proxmox Login" }, usernameClaim: "upn", autocreate: true, groupsClaim: "groups" });
    // Its redirect URI is not this cluster's: not adopted, kept as an external issuer.
    expect(doc.realms.elsewhere).toEqual({ issuerUrl: `${entra.loginUrl}/${entra.tenantId}/v2.0`, clientId: otherAppId });
    expect(text).toMatch(/realm elsewhere: .* not .* as redirect URI; not adopted/);
    expect(doc.groups).toEqual({ "proxmox-admins": { realm: "azure", entraGroup: "Proxmox Admins" } });
    expect(doc.access).toEqual([
      { group: "proxmox-admins", role: "PVEAdmin", path: "/" },
      { user: "jane@contoso.com@azure", role: "Administrator", path: "/" },
    ]);
    expect(text).toMatch(/adopted \(managed from now on as tenant realms\):\n#\s+- realm azure: app registration "Proxmox Login"/);
    expect(r.stderr).toContain("adopted: realm azure as a tenant realm");
    // The hand-made app asks for `upn` without `include_externally_authenticated_upn` (guests would get no upn):
    // the one change taking it over, listed by the check.
    expect(r.stderr).toMatch(/^check: the next apply would make 1 change \(taking the adopted apps over\):\n {2}update entra\.application\/contoso:azure$/m);
    for (const s of [text, r.stdout, r.stderr]) expect(s).not.toContain(KEY);

    const validate = await homelab(["validate", "-f", out("adopted.yaml")]);
    expect(validate.code).toBe(0);
    const plan = await homelab(["plan", "-f", out("adopted.yaml"), "--detailed-exitcode"], { env });
    expect(plan.stdout).toMatch(/include_externally_authenticated_upn/);
    expect(plan.stdout).toMatch(/idTokenClaims: \["groups", "upn"\] → \["groups", "upn\(include_externally_authenticated_upn\)"\]/);
    expect(plan.stdout).toMatch(/Plan: 0 to create, 1 to update, 0 to replace, 0 to delete/);
    expect(plan.code).toBe(2);
  });
});

function tagsOf(entra: EntraSim, id: string): string[] {
  return ((entra.state().applications as { id: string; tags?: string[] }[]).find((a) => a.id === id)!.tags ?? []);
}
