import { describe, expect, it } from "vitest";
import { minimal, playbook, problemsOf } from "../helpers/config.js";

const tutorial = playbook("homelab.yaml");

interface Case {
  name: string;
  text: string;
  line: number;
  col: number;
  path?: string;
  message: RegExp;
  hint?: RegExp;
}

// Each case: a document, and the first problem validate must report (position, field, message, hint).
const cases: Case[] = [
  { name: "YAML syntax error", text: "version: 1\nclusters:\n  pve: {url: x\n", line: 4, col: 1, message: /^YAML (syntax )?error: .*Flow map/ },
  { name: "bad indentation", text: "version: 1\nclusters:\n  pve:\n    url: https://pve.lan:8006\n   token: x\n", line: 5, col: 1, message: /^YAML syntax error/ },
  { name: "duplicate key", text: minimal.replace("realms:\n", "realms:\n  sso: {}\n"), line: 8, col: 3, message: /^duplicate key `sso` \(first defined at line 7, column 3\)/, hint: /only once/ },
  { name: "duplicate top-level key", text: `${minimal}version: 1\n`, line: 14, col: 1, message: /^duplicate key `version` \(first defined at line 1, column 1\)/ },
  { name: "empty file", text: "", line: 1, col: 1, message: /^the file is empty$/, hint: /version: 1/ },
  { name: "only comments", text: "# nothing yet\n", line: 1, col: 1, message: /^the file is empty$/ },
  { name: "a list, not a mapping", text: "- version: 1\n", line: 1, col: 1, message: /top level is a list, not a mapping/ },
  { name: "a scalar, not a mapping", text: "hello\n", line: 1, col: 1, message: /top level is a single value, not a mapping/ },
  { name: "unknown key with suggestion", text: minimal.replace("clientId: proxmox", "clientId: proxmox\n    autocreat: true"), line: 10, col: 5, path: "realms.sso.autocreat", message: /unknown key `autocreat`; did you mean `autocreate`\?/ },
  { name: "unknown top-level key", text: `${minimal}prunes: { acl: true }\n`, line: 14, col: 1, path: "prunes", message: /unknown key `prunes`; did you mean `prune`\?/ },
  { name: "unknown key without a close match", text: minimal.replace("  pve:\n", "  pve:\n    zzzzzz: 1\n"), line: 4, col: 5, message: /unknown key `zzzzzz`$/, hint: /allowed keys here: url, token, tls, comment/ },
  { name: "wrong type", text: minimal.replace("path: / }", "path: /, propagate: yes }"), line: 13, col: 64, path: "access[0].propagate", message: /must be a boolean, not a string/ },
  { name: "wrong version", text: minimal.replace("version: 1", "version: 2"), line: 1, col: 10, path: "version", message: /must be 1, not 2/ },
  { name: "missing version", text: minimal.replace("version: 1\n", ""), line: 1, col: 1, message: /missing required key `version`/ },
  { name: "dangling realm reference", text: minimal.replace("user: jane@sso", "user: jane@ssoo"), line: 13, col: 13, path: "access[0].user", message: /realm `ssoo`, which is not declared; did you mean `@sso`\?/ },
  { name: "dangling role reference", text: minimal.replace("role: Administrator", "role: Adminstrator"), line: 13, col: 29, path: "access[0].role", message: /unknown role `Adminstrator`; did you mean `Administrator`\?/ },
  { name: "dangling group reference", text: `${minimal}  - { group: ops, role: PVEAuditor, path: / }\n`, line: 14, col: 14, path: "access[1].group", message: /unknown group `ops`/, hint: /declare it under `groups:`/ },
  { name: "dangling tenant reference", text: tutorial.replace("tenant: contoso ", "tenant: contsoo "), line: 28, col: 13, path: "realms.azure.tenant", message: /unknown tenant `contsoo`; did you mean `contoso`\?/ },
  { name: "dangling cluster reference", text: minimal.replace("usernameClaim: username", "usernameClaim: username\n    clusters: [pve2]"), line: 12, col: 16, path: "realms.sso.clusters[0]", message: /unknown cluster `pve2`/ },
  { name: "inline secret", text: minimal.replace("clientKey: ${env:SSO_SECRET}", "clientKey: s3cr3t-value"), line: 10, col: 16, path: "realms.sso.clientKey", message: /inline secret is not allowed/, hint: /\$\{env:NAME\}/ },
  { name: "inline token secret", text: minimal.replace('secret: "${env:PVE_TOKEN}"', "secret: 0b1c2d3e-aaaa-bbbb-cccc-000000000000"), line: 5, col: 48, path: "clusters.pve.token.secret", message: /inline secret is not allowed/ },
  { name: "bad ACL path", text: minimal.replace("path: / }", "path: /vm/101 }"), line: 13, col: 50, path: "access[0].path", message: /`\/vm\/101` is not a valid ACL path/, hint: /\/vms\/VMID/ },
  { name: "ACL path with trailing slash", text: minimal.replace("path: / }", "path: /vms/ }"), line: 13, col: 50, message: /`\/vms\/` is not a valid ACL path/, hint: /no trailing slash/ },
  { name: "VMID below 100", text: minimal.replace("path: / }", "path: /vms/99 }"), line: 13, col: 50, message: /`\/vms\/99` is not a valid ACL path/ },
  { name: "bad privilege", text: `${minimal}roles:\n  Ops: { privs: [VM.Audit, VM.Monitor] }\n`, line: 15, col: 28, path: "roles.Ops.privs[1]", message: /`VM.Monitor` is not a valid privilege/ },
  { name: "misspelt privilege", text: `${minimal}roles:\n  Ops: { privs: [Sys.Adit] }\n`, line: 15, col: 18, message: /`Sys.Adit` is not a valid privilege; did you mean `Sys.Audit`\?/ },
  { name: "custom role in the PVE namespace", text: `${minimal}roles:\n  pveOps: { privs: [VM.Audit] }\n`, line: 15, col: 3, path: "roles.pveOps", message: /`pveOps` is not a valid custom role id/, hint: /reserves role ids starting with `PVE`/ },
  { name: "redefined built-in role", text: `${minimal}roles:\n  Administrator: { privs: [VM.Audit] }\n`, line: 15, col: 3, message: /`Administrator` is a built-in role/ },
  { name: "user and group in one mapping", text: minimal.replace("{ user: jane@sso,", "{ user: jane@sso, group: x,"), line: 13, col: 5, path: "access[0]", message: /must give exactly one of `user` or `group`/ },
  { name: "user id too long", text: minimal.replace("user: jane@sso", `user: ${"j".repeat(61)}@sso`), line: 13, col: 13, message: /must NOT have more than 64 characters/ },
  { name: "user id with a space", text: minimal.replace("user: jane@sso", '"user": "jane doe@sso"'), line: 13, col: 15, message: /`jane doe@sso` is not a valid user id/ },
  { name: "root@pam is never managed", text: minimal.replace("user: jane@sso", "user: root@pam"), line: 13, col: 13, message: /`root@pam` cannot be managed/ },
  { name: "duplicate mapping", text: `${minimal}  - { user: jane@sso, role: Administrator, path: /, propagate: false }\n`, line: 14, col: 5, path: "access[1]", message: /duplicate mapping: jane@sso already has Administrator on \/ \(access\[0\] at homelab.yaml:13:5\)/ },
  { name: "tenant realm with the sub claim", text: tutorial.replace("    usernameClaim: upn ", "    usernameClaim: sub "), line: 32, col: 5, path: "realms.azure.usernameClaim", message: /uses the `sub` claim, but `jane@contoso.com@azure` \(access\[0\].user\) is named before its first login/, hint: /pairwise.*usernameClaim: upn/ },
  { name: "tenant realm without a username claim", text: tutorial.replace(/    usernameClaim: upn .*\n/, ""), line: 26, col: 3, path: "realms.azure", message: /uses the `sub` claim \(the default\)/ },
  { name: "tenant realm with an issuer", text: tutorial.replace("    autocreate: true", "    autocreate: true\n    issuerUrl: https://x.lan/"), line: 34, col: 5, path: "realms.azure.issuerUrl", message: /`issuerUrl` is not allowed here/, hint: /gets its issuer URL from the tenant/ },
  { name: "external realm without issuer", text: minimal.replace("    issuerUrl: https://auth.lan/application/o/proxmox/\n", ""), line: 7, col: 3, path: "realms.sso", message: /missing required key `issuerUrl`/, hint: /either `tenant`/ },
  { name: "bad TLS fingerprint", text: minimal.replace("  pve:\n", '  pve:\n    tls: { fingerprint: "AB:CD" }\n'), line: 4, col: 25, message: /`AB:CD` is not a valid SHA-256 fingerprint/ },
  { name: "two TLS settings", text: minimal.replace("  pve:\n", "  pve:\n    tls: { ca: ca.pem, insecure: true }\n"), line: 4, col: 5, message: /must give only one of `fingerprint`, `ca` or `insecure`/ },
  { name: "cluster URL with a path", text: minimal.replace("https://pve.lan:8006", "https://pve.lan:8006/api2/json"), line: 4, col: 10, message: /is not a valid cluster URL/, hint: /without a path/ },
  { name: "invalid calendar date", text: `${minimal}users:\n  jane@sso: { expire: 2027-02-30 }\n`, line: 15, col: 23, path: 'users["jane@sso"].expire', message: /`2027-02-30` is not a valid date/ },
  { name: "two default realms", text: minimal.replace("usernameClaim: username", "usernameClaim: username\n    default: true").replace("realms:\n", "realms:\n  pve: { type: pve, default: true }\n"), line: 13, col: 5, message: /only one realm can be the default \(`pve` already is\)/ },
  { name: "built-in realm with the wrong type", text: minimal.replace("realms:\n", "realms:\n  pam: { type: pve }\n"), line: 7, col: 16, path: "realms.pam.type", message: /`pam` is a built-in realm of type pam/ },
  { name: "built-in realm with OpenID options", text: minimal.replace("realms:\n", "realms:\n  pve: { autocreate: true }\n"), line: 7, col: 10, path: "realms.pve.autocreate", message: /unknown key `autocreate`/, hint: /allowed keys here: type, clusters, comment, default/ },
  { name: "non-OpenID type on another realm", text: minimal.replace("    clientId: proxmox", "    clientId: proxmox\n    type: pve"), line: 10, col: 11, path: "realms.sso.type", message: /`pve` is not a valid realm type/, hint: /built-in realms `pam` and `pve`/ },
  { name: "entra group on an external realm", text: `${minimal}groups:\n  ops: { realm: sso, entraGroup: Ops }\n`, line: 15, col: 17, path: "groups.ops.realm", message: /not provisioned in a tenant, so it cannot map Entra groups/ },
  { name: "a tenant and a cluster with the same name", text: tutorial.replace("  pve:\n    url:", "  contoso:\n    url:"), line: 10, col: 3, path: "tenants.contoso", message: /`contoso` names both a tenant and a cluster/ },
  { name: "a tenant that provisions realms named by domain", text: tutorial.replace("tenantId: 8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", "tenantId: contoso.onmicrosoft.com"), line: 11, col: 15, path: "tenants.contoso.tenantId", message: /must be the directory's GUID, not a domain/, hint: /issuer/ },
  { name: "cloud typo", text: tutorial.replace("    credentials:", "    cloud: pubic\n    credentials:"), line: 12, col: 12, message: /`pubic` is not a valid cloud; did you mean `public`\?/ },
];

describe("validate reports located problems", () => {
  it.each(cases)("$name", (c) => {
    const problems = problemsOf(c.text);
    expect(problems.length, "expected at least one problem").toBeGreaterThan(0);
    const p = problems[0]!;
    expect(p.file).toBe("homelab.yaml");
    expect({ line: p.line, col: p.col }).toEqual({ line: c.line, col: c.col });
    if (c.path) expect(p.path).toBe(c.path);
    expect(p.message).toMatch(c.message);
    if (c.hint) expect(p.hint).toMatch(c.hint);
  });
});

describe("validate reports everything at once", () => {
  it("lists schema and reference problems together, sorted by position", () => {
    const text = minimal
      .replace("role: Administrator", "role: Adminstrator")
      .replace("clientId: proxmox", "clientId: proxmox\n    autocreat: true")
      .replace("https://pve.lan:8006", "pve.lan");
    const problems = problemsOf(text);
    expect(problems.map((p) => `${p.line}:${p.col} ${p.path}`)).toEqual([
      "4:10 clusters.pve.url",
      "10:5 realms.sso.autocreat",
      "14:29 access[0].role",
    ]);
  });

  it("never echoes an inline secret", () => {
    const problems = problemsOf(minimal.replace("clientKey: ${env:SSO_SECRET}", "clientKey: Tr0ub4dor-and-3"));
    expect(JSON.stringify(problems)).not.toContain("Tr0ub4dor");
  });

  it("never echoes source lines of a YAML error (they may hold a secret)", () => {
    const problems = problemsOf(minimal.replace("clientKey: ${env:SSO_SECRET}", 'clientKey: "Tr0ub4dor-and-3'));
    expect(problems.length).toBeGreaterThan(0);
    expect(JSON.stringify(problems)).not.toContain("Tr0ub4dor");
  });
});

describe("alias bombs", () => {
  it("fail fast with a located problem", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    const text = `version: 1\n${levels.join("\n")}\n`;
    const started = performance.now();
    const problems = problemsOf(text);
    const ms = performance.now() - started;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 3, message: expect.stringMatching(/aliases expand to too much data/) });
    // 9^12 nodes if expanded; the cap stops it long before. Generous bound: this only catches a missing cap.
    expect(ms).toBeLessThan(1000);
  });

  it("allow ordinary reuse of anchors", () => {
    const text = `${minimal}  - &m { user: bob@sso, role: PVEAuditor, path: /vms }\n${Array.from({ length: 50 }, (_, i) => `  - { user: u${i}@sso, role: PVEAuditor, path: /vms }`).join("\n")}\n`;
    expect(problemsOf(text)).toEqual([]);
  });
});
