import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { BUILTIN_ROLES, isBuiltinRole } from "../../src/core/pve.js";
import { rolePrivileges } from "../../src/providers/proxmox/privileges.js";
import { problemsOf } from "../helpers/config.js";

/**
 * Names that are members of Object.prototype (issue 10 item 6). A plain object answers `"toString" in obj`
 * with true and `obj.constructor` with a function, so a name nobody declared was "known", and a custom role
 * named `constructor` was "a built-in role". Every such name must either work like any other name or be
 * refused by validate, located.
 */

/** Members of Object.prototype, each a valid Proxmox role, group and user name. */
const PROTO = ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "__defineGetter__", "__lookupSetter__"];
/** Those that also fit a realm, tenant or cluster name (these start with a letter). */
const LETTERED = PROTO.filter((n) => /^[A-Za-z]/.test(n));

const head = (clusters = "pve") => `version: 1
clusters:
${clusters.split(",").map((c) => `  ${c}:\n    url: https://${c.toLowerCase().replace(/_/g, "")}.lan:8006\n    token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN}" }\n`).join("")}`;

describe.each(PROTO)("the name %s", (name) => {
  it("is an unknown role, group and realm until declared (located, with the declared names as hint)", () => {
    const text = `${head()}access:
  - { user: bob@pve, role: ${name}, path: / }
  - { group: ${name}, role: PVEAuditor, path: / }
`;
    const problems = problemsOf(text);
    expect(problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`)).toEqual([
      `7:28 access[0].role: unknown role \`${name}\``,
      `8:14 access[1].group: unknown group \`${name}\``,
    ]);
    expect(problems[0]!.hint).toMatch(/^declared roles: Administrator, /);
  });

  it("is a realm that is not declared when a user id names it", () => {
    if (!/^[A-Za-z][A-Za-z0-9._-]+$/.test(name)) return; // not a realm id: the schema refuses the user id
    const problems = problemsOf(`${head()}users:\n  bob@${name}: {}\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: `users["bob@${name}"]`, line: 7, col: 3 });
    expect(problems[0]!.message).toMatch(new RegExp(`^user \`bob@${name.replace(/[$]/g, "\\$&")}\` is in realm \`${name}\`, which is not declared`));
  });

  it("is an unknown cluster and tenant until declared", () => {
    const text = `${head()}realms:
  sso:
    issuerUrl: https://auth.lan/
    clientId: proxmox
    clientKey: \${env:K}
    clusters: [${name}]
  azure: { tenant: ${name} }
`;
    const problems = problemsOf(text);
    const paths = problems.map((p) => p.path);
    expect(paths).toContain("realms.sso.clusters[0]");
    // A cluster name starts with a letter: `__proto__` and `__defineGetter__` are refused as names.
    expect(problems.find((p) => p.path === "realms.sso.clusters[0]")!.message).toBe(/^[A-Za-z]/.test(name) ? `unknown cluster \`${name}\`` : `\`${name}\` is not a valid name`);
    if (/^[A-Za-z]/.test(name)) expect(problems.find((p) => p.path === "realms.azure.tenant")?.message).toBe(`unknown tenant \`${name}\``);
    for (const p of problems) expect(p.line, JSON.stringify(p)).toBeGreaterThan(0);
  });

  it("works as a custom role, a group and a user name, end to end into the desired state", () => {
    const text = `${head()}roles:
  ${name}: { privs: [VM.Audit] }
groups:
  ${name}: { members: [${name}@pve] }
users:
  ${name}@pve: { comment: c }
access:
  - { user: ${name}@pve, role: ${name}, path: / }
  - { group: ${name}, role: ${name}, path: /vms }
`;
    const { config } = validateText(text);
    expect(Object.keys(config.roles)).toEqual([name]);
    expect(Object.hasOwn(config.groups, name)).toBe(true);
    const c = buildDesired(config).clusters[0]!;
    expect(c.roles.map((r) => [r.roleid, r.privs])).toEqual([[name, ["VM.Audit"]]]);
    expect(c.groups.map((g) => [g.key, g.groupid])).toEqual([[name, name]]);
    expect(c.users.map((u) => [u.userid, u.groups, u.comment])).toEqual([[`${name}@pve`, [name], "c"]]);
    expect(c.acl.map((a) => a.address).sort()).toEqual([`proxmox.acl/pve:/:${name}@pve:${name}`, `proxmox.acl/pve:/vms:@${name}:${name}`]);
  });

  it("is not a built-in role", () => {
    expect(isBuiltinRole(name)).toBe(false);
    expect(name in BUILTIN_ROLES).toBe(false);
    // A cluster's custom role of that name keeps its own privileges in the permission model.
    const roles = rolePrivileges({ roles: new Map([[name, { roleid: name, privs: ["VM.Audit"], special: false }]]) } as never);
    expect(roles.get(name)).toEqual(["VM.Audit"]);
    expect(roles.get("Administrator")).toBe(BUILTIN_ROLES.Administrator);
  });
});

describe("Object.prototype names for realms, tenants and clusters", () => {
  // A tenant and a cluster cannot share a name, so the name is tried as each in turn.
  const variants = LETTERED.flatMap((name) => [{ name, cluster: name, tenant: "contoso" }, { name, cluster: "pve", tenant: name }]);
  it.each(variants)("$name as an OpenID realm and an Entra group, in cluster $cluster and tenant $tenant", ({ name, cluster, tenant }) => {
    const text = `${head(cluster)}tenants:
  ${tenant}:
    tenantId: 8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f
    credentials: { clientId: 2b0c6d1e-7f8a-4b9c-8d0e-1f2a3b4c5d6e, clientSecret: "\${env:S}" }
realms:
  ${name}: { tenant: ${tenant}, usernameClaim: upn }
groups:
  ${name}: { realm: ${name}, entraGroup: ${name} }
access:
  - { user: jane@contoso.com@${name}, role: PVEAuditor, path: / }
  - { group: ${name}, role: PVEAuditor, path: /vms }
`;
    const { config } = validateText(text);
    const d = buildDesired(config);
    expect(d.clusters.map((c) => c.name)).toEqual([cluster]);
    const c = d.clusters[0]!;
    expect(c.realms.map((r) => [r.realm, r.options["issuer-url"]])).toEqual([[name, "https://login.microsoftonline.com/8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f/v2.0"]]);
    expect(c.users.map((u) => u.userid)).toEqual([`jane@contoso.com@${name}`]);
    expect(c.groups.map((g) => g.groupid)).toEqual([{ tenant, displayName: name, realm: name }]);
    expect(c.managedRealms).toEqual([name]);
    expect(d.tenants.map((t) => t.name)).toEqual([tenant]);
    const app = d.tenants[0]!.applications[0]!;
    expect(app).toMatchObject({ address: `entra.application/${tenant}:${name}`, redirectUris: [`https://${cluster.toLowerCase()}.lan:8006`], optionalIdTokenClaims: ["upn"], assignedGroups: [name] });
  });

  it.each(LETTERED)("%s as a username claim of a realm without named users gives no optional claim", (name) => {
    const text = `${head()}tenants:
  contoso:
    tenantId: 8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f
    credentials: { clientId: 2b0c6d1e-7f8a-4b9c-8d0e-1f2a3b4c5d6e, clientSecret: "\${env:S}" }
realms:
  azure: { tenant: contoso, usernameClaim: ${name} }
`;
    const app = buildDesired(validateText(text).config).tenants[0]!.applications[0]!;
    expect(app.optionalIdTokenClaims).toEqual([]);
  });

  it.each(LETTERED)("a schema error inside a realm named %s has the same message and hint as elsewhere", (name) => {
    const text = (realm: string) => `${head()}realms:
  ${realm}:
    issuerUrl: https://auth.lan/
    clientId: proxmox
    clientKey: \${env:K}
    usernameClaim: "a b"
`;
    const strip = (ps: ReturnType<typeof problemsOf>) => ps.map(({ path, ...p }) => ({ ...p, path: path.replace(/^realms\.[^.]+/, "realms.X") }));
    const got = strip(problemsOf(text(name)));
    expect(got).toEqual(strip(problemsOf(text("sso"))));
    expect(got[0]!.hint).toMatch(/claim name/);
  });

  it("the typed config's sections have no prototype", () => {
    const { config } = validateText(`${head()}roles:\n  __proto__: { privs: [VM.Audit] }\n`);
    for (const s of [config.tenants, config.clusters, config.realms, config.roles, config.groups, config.users]) expect(Object.getPrototypeOf(s)).toBeNull();
    expect(Object.keys(config.roles)).toEqual(["__proto__"]);
    expect(config.roles.toString).toBeUndefined();
    expect("constructor" in config.tenants).toBe(false);
  });
});
