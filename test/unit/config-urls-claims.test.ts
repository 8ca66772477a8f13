import { describe, expect, it } from "vitest";
import { urlTrouble } from "../../src/config/check.js";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { minimal, playbook, problemsOf } from "../helpers/config.js";

/**
 * What validate must refuse because a URL parser, a TCP port, Entra ID's redirect matching or the login
 * itself would (issue 10 items 2 and 8), and the groups-overwrite warning (issue 11 test matrix).
 */

const tutorial = playbook("homelab.yaml");

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function at(text: string, needle: string): { line: number; col: number } {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`test bug: ${JSON.stringify(needle)} is not in the document`);
  const before = text.slice(0, i).split("\n");
  return { line: before.length, col: before.at(-1)!.length + 1 };
}

interface Case {
  name: string;
  text: string;
  /** Where the problem must point: the first occurrence of this text in the document. */
  where: string;
  path: string;
  message: RegExp;
  hint: RegExp;
}

const clusterUrl = (url: string) => minimal.replace("https://pve.lan:8006", url);
const tutorialUrl = (url: string) => tutorial.replace("https://pve.lan:8006", url);
const issuer = (url: string) => minimal.replace("https://auth.lan/application/o/proxmox/", url);
const cloud = (login: string) => tutorial.replace("    credentials:", `    cloud: { loginUrl: "${login}", graphUrl: "https://graph.lan" }\n    credentials:`);
const redirect = (uri: string) => tutorial.replace("      displayName: Proxmox VE\n", `      displayName: Proxmox VE\n      redirectUris: ["${uri}"]\n`);
const claim = (c: string, user = "jane@contoso.com@azure") => tutorial.replace("usernameClaim: upn ", `usernameClaim: ${c} `).replace("user: jane@contoso.com@azure", `user: ${user}`);
const entraOn = (realm: string, extra = "") => tutorial.replace("realms:\n", `realms:\n${extra}`) + `groups:\n  g: { realm: ${realm}, entraGroup: Admins }\n`;

const PORT = /a TCP port is a number from 1 to 65535/;
const ORIGIN = /browsers write the host in lower case.*Entra ID would compare the redirect URI/;

const cases: Case[] = [
  // Item 8: ports and URLs.
  { name: "cluster port 0", text: clusterUrl("https://pve.lan:0"), where: "https://pve.lan:0", path: "clusters.pve.url", message: /^`https:\/\/pve\.lan:0` has port 0, outside 1-65535$/, hint: PORT },
  { name: "cluster port 99999", text: clusterUrl("https://pve.lan:99999"), where: "https://pve.lan:99999", path: "clusters.pve.url", message: /has port 99999, outside 1-65535/, hint: PORT },
  { name: "cluster port 65536", text: tutorialUrl("https://pve.lan:65536"), where: "https://pve.lan:65536", path: "clusters.pve.url", message: /has port 65536, outside 1-65535/, hint: PORT },
  { name: "cluster IPv6 address with port 0", text: clusterUrl("https://[fd00::1]:0"), where: "https://[fd00", path: "clusters.pve.url", message: /has port 0/, hint: PORT },
  { name: "cluster host read as a bad IPv4 address", text: clusterUrl("https://10.0.0.256:8006"), where: "https://10.0.0.256", path: "clusters.pve.url", message: /is not a valid URL$/, hint: /IPv4 address/ },
  { name: "cluster URL with the default port written", text: clusterUrl("https://pve.lan:443"), where: "https://pve.lan:443", path: "clusters.pve.url", message: /is written differently from its origin `https:\/\/pve\.lan`$/, hint: ORIGIN },
  { name: "cluster URL with a port with a leading zero", text: clusterUrl("https://pve.lan:08006"), where: "https://pve.lan:08006", path: "clusters.pve.url", message: /origin `https:\/\/pve\.lan:8006`/, hint: ORIGIN },
  { name: "cluster URL with capitals in the host", text: clusterUrl("https://PVE.lan:8006"), where: "https://PVE", path: "clusters.pve.url", message: /origin `https:\/\/pve\.lan:8006`/, hint: /write `https:\/\/pve\.lan:8006`/ },
  { name: "issuer URL with port 0", text: issuer("https://auth.lan:0/application/o/proxmox/"), where: "https://auth.lan:0", path: "realms.sso.issuerUrl", message: /has port 0/, hint: PORT },
  { name: "issuer URL with an empty port", text: issuer("https://auth.lan:/o/"), where: "https://auth.lan:/", path: "realms.sso.issuerUrl", message: /has `:` but no port after it/, hint: PORT },
  { name: "issuer URL with a port that is not a number", text: issuer("https://auth.lan:http/o/"), where: "https://auth.lan:http", path: "realms.sso.issuerUrl", message: /has port `http`, which is not a number/, hint: PORT },
  { name: "issuer URL with a forbidden host character", text: issuer("https://auth<lan/o/"), where: "https://auth<lan", path: "realms.sso.issuerUrl", message: /is not a valid URL/, hint: /host name/ },
  { name: "tenant login URL with port 70000", text: cloud("https://login.lan:70000"), where: '"https://login.lan:70000', path: "tenants.contoso.cloud.loginUrl", message: /has port 70000/, hint: PORT },
  { name: "redirect URI with port 99999", text: redirect("https://lb.lan:99999"), where: '"https://lb.lan:99999', path: "realms.azure.app.redirectUris[0]", message: /has port 99999/, hint: PORT },
  { name: "redirect URI that is not ASCII", text: redirect("https://bücher.lan"), where: '"https://bücher', path: "realms.azure.app.redirectUris[0]", message: /origin `https:\/\/xn--bcher-kva\.lan`/, hint: ORIGIN },

  // Item 8: a tenant realm with named users needs a username claim whose value the file can name.
  { name: "oid claim and a user named by UPN", text: claim("oid"), where: "usernameClaim: oid", path: "realms.azure.usernameClaim", message: /^realm `azure` uses the `oid` claim, but `jane@contoso\.com@azure` \(access\[0\]\.user\) is named before its first login, and is not named by an Entra object id$/, hint: /Object ID shown in the Entra admin center.*usernameClaim: upn/ },
  { name: "oid claim and an object id in capitals", text: claim("oid", "0A1B2C3D-4E5F-4A7B-8C9D-0E1F2A3B4C5D@azure"), where: "usernameClaim: oid", path: "realms.azure.usernameClaim", message: /written in capitals$/, hint: /lower case/ },
  { name: "a made-up claim", text: claim("login_name"), where: "usernameClaim: login_name", path: "realms.azure.usernameClaim", message: /uses the `login_name` claim, .* homelab cannot know that claim's value in advance$/, hint: /`login_name` claim in their Entra ID token.*usernameClaim: upn/ },
  { name: "a misspelt claim", text: claim("upm"), where: "usernameClaim: upm", path: "realms.azure.usernameClaim", message: /\(did you mean `upn`\?\)$/, hint: /usernameClaim: upn/ },
  { name: "a claim in the wrong case", text: claim("UPN"), where: "usernameClaim: UPN", path: "realms.azure.usernameClaim", message: /uses the `UPN` claim.*did you mean `upn`/, hint: /usernameClaim: upn/ },
  { name: "the subject claim written out", text: claim("subject"), where: "usernameClaim: subject", path: "realms.azure.usernameClaim", message: /uses the `sub` claim, but/, hint: /pairwise/ },

  // Item 2: Entra groups only on tenant realms, whether the built-in realm is declared or not.
  { name: "Entra group on the pam realm", text: entraOn("pam"), where: "pam, entraGroup", path: "groups.g.realm", message: /^Entra groups only on tenant realms: `pam` is a built-in realm$/, hint: /tenant:/ },
  { name: "Entra group on a declared pve realm", text: entraOn("pve", "  pve: { comment: Local accounts }\n"), where: "pve, entraGroup", path: "groups.g.realm", message: /^Entra groups only on tenant realms: `pve` is a built-in realm$/, hint: /tenant:/ },
  { name: "Entra group on an external realm", text: `${minimal}groups:\n  g: { realm: sso, entraGroup: Admins }\n`, where: "sso, entraGroup", path: "groups.g.realm", message: /^Entra groups only on tenant realms: realm `sso` is not provisioned in a tenant/, hint: /without `entraGroup`/ },
];

describe("validate refuses what a URL parser, a port or the first login would refuse", () => {
  it.each(cases)("$name", (c) => {
    const problems = problemsOf(c.text);
    const p = problems.find((x) => x.path === c.path);
    expect(p, `no problem at ${c.path}; got ${JSON.stringify(problems)}`).toBeDefined();
    expect(p!.file).toBe("homelab.yaml");
    expect({ line: p!.line, col: p!.col }).toEqual(at(c.text, c.where));
    expect(p!.message).toMatch(c.message);
    expect(p!.hint).toMatch(c.hint);
  });
});

describe("what stays valid", () => {
  const valid: [string, string][] = [
    ["cluster port 1", clusterUrl("https://pve.lan:1")],
    ["cluster port 65535", clusterUrl("https://pve.lan:65535")],
    ["cluster without a port", clusterUrl("https://pve.lan")],
    ["cluster URL with a trailing slash", clusterUrl("https://pve.lan:8006/")],
    ["cluster IPv6 address", clusterUrl("https://[fd00::1]:8006")],
    ["issuer URL with user info and a port", issuer("https://a:b@auth.lan:8443/o/")],
    ["upn claim", tutorial],
    ["email claim", claim("email")],
    ["preferred_username claim", claim("preferred_username")],
    ["username claim (Proxmox falls back to preferred_username)", claim("username")],
    ["oid claim and a user named by object id", claim("oid", "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d@azure")],
    ["a made-up claim without named users", tutorial.replace("usernameClaim: upn ", "usernameClaim: login_name ").replace(/access:[\s\S]*$/, "")],
  ];
  it.each(valid)("%s", (_, text) => {
    expect(problemsOf(text)).toEqual([]);
  });

  it("the URL checks agree with the WHATWG parser on what it refuses", () => {
    for (const u of ["https://pve.lan:65536", "https://pve.lan:99999", "https://a b", "https://[::1", "https://:8006", "https://1.2.3.999"]) {
      expect(() => new URL(u), u).toThrow();
      expect(urlTrouble(u), u).toBeDefined();
    }
    // Port 0 passes the parser (so this check is needed on top of it); 1 and 65535 pass both.
    expect(new URL("https://pve.lan:0").port).toBe("0");
    expect(urlTrouble("https://pve.lan:0")?.message).toMatch(/port 0/);
    expect(urlTrouble("https://pve.lan:1")).toBeUndefined();
    expect(urlTrouble("https://pve.lan:65535")).toBeUndefined();
    expect(urlTrouble("https://[fd00::1]:65535/x")).toBeUndefined();
  });
});

describe("groupsOverwrite with homelab-managed memberships (issue 11)", () => {
  const overwrite = (realmExtra: string, groups: string) =>
    tutorial.replace("    comment: Microsoft Entra ID\n", `    comment: Microsoft Entra ID\n${realmExtra}`) + `groups:\n${groups}`;
  const warningsOf = (text: string) => validateText(text).warnings;

  it("warns, located at groupsOverwrite, naming each membership Proxmox removes at login", () => {
    const text = overwrite("    groupsOverwrite: true\n", "  admins: { realm: azure, entraGroup: Proxmox Admins }\n  ops: { members: [jane@contoso.com@azure, bob@pve] }\n");
    const w = warningsOf(text);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ file: "homelab.yaml", ...at(text, "groupsOverwrite: true"), path: "realms.azure.groupsOverwrite" });
    expect(w[0]!.message).toBe("realm `azure` has `groupsOverwrite: true`, so each login removes `jane@contoso.com@azure` from `ops` (groups.ops.members[0]); homelab adds it back on its next run, and the memberships come and go");
    expect(w[0]!.hint).toMatch(/removes every group membership not in the login's groups claim.*drop `groupsOverwrite`/);
    // Still valid: a warning, not an error, and the desired state keeps the membership.
    const u = buildDesired(validateText(text).config).clusters[0]!.users.find((x) => x.userid === "jane@contoso.com@azure");
    expect(u?.groups).toEqual(["ops"]);
  });

  it("warns for an external realm with a groups claim, listing at most three memberships", () => {
    const users = ["a@sso", "b@sso", "c@sso", "d@sso"];
    const text = `${minimal.replace("    usernameClaim: username\n", "    usernameClaim: username\n    groupsClaim: groups\n    groupsOverwrite: true\n")}groups:\n  ops: { members: [${users.join(", ")}] }\n`;
    const w = warningsOf(text);
    expect(w).toHaveLength(1);
    expect(w[0]!.message).toMatch(/removes `a@sso` from `ops` \(groups\.ops\.members\[0\]\), `b@sso` .*`c@sso` .* and 1 more; homelab adds them back/);
  });

  it("does not warn when nothing would be removed", () => {
    // No groups claim: Proxmox maps and overwrites groups only when the realm has one.
    expect(warningsOf(overwrite("    groupsOverwrite: true\n", "  ops: { members: [jane@contoso.com@azure] }\n"))).toEqual([]);
    // Members of another realm are not touched by this realm's logins.
    expect(warningsOf(overwrite("    groupsOverwrite: true\n", "  admins: { realm: azure, entraGroup: Proxmox Admins }\n  ops: { members: [bob@pve] }\n"))).toEqual([]);
    // Overwrite off.
    expect(warningsOf(overwrite("    groupsOverwrite: false\n", "  admins: { realm: azure, entraGroup: Proxmox Admins }\n  ops: { members: [jane@contoso.com@azure] }\n"))).toEqual([]);
  });
});
