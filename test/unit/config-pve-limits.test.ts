import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { Secret } from "../../src/core/secret.js";
import { SecretError } from "../../src/core/errors.js";
import { homelab } from "../helpers/cli.js";
import { minimal, playbook, problemsOf } from "../helpers/config.js";
import { pveLab, writes } from "../helpers/pve.js";

/**
 * Values Proxmox VE refuses or silently rewrites are refused by `validate` (issue 8 failures 3, 4, 5), each
 * with a located problem. The rules come from the Proxmox source (see src/config/check-values.ts textTrouble).
 */

const tutorial = playbook("homelab.yaml");

/** 1-based line and column of the first occurrence of `needle` in `text` (plus `offset` characters). */
function at(text: string, needle: string, offset = 0): { line: number; col: number } {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`test bug: ${JSON.stringify(needle)} is not in the document`);
  const before = text.slice(0, i + offset).split("\n");
  return { line: before.length, col: before.at(-1)!.length + 1 };
}

interface Case {
  name: string;
  text: string;
  /** Where the problem must point: the first occurrence of this text in the document. */
  where: string;
  path: string;
  message: RegExp;
  hint?: RegExp;
}

const sso = (extra: string) => minimal.replace("    usernameClaim: username\n", `    usernameClaim: username\n${extra}`);
const withUsers = (body: string) => `${minimal}users:\n${body}`;
const withGroups = (body: string) => `${minimal}groups:\n${body}`;
const entra = (body: string) => `${tutorial}groups:\n${body}`;

const TRIM = /Proxmox trims spaces at either end.*remove the spaces/;
const LF = /refuses line breaks.*`property contains a line feed`.*one line/;

const cases: Case[] = [
  // Failure 3: Proxmox trims every field when it parses user.cfg and domains.cfg.
  { name: "realm comment with a trailing space", text: sso('    comment: "Keycloak (lab) "\n'), where: '"Keycloak', path: "realms.sso.comment", message: /^`Keycloak \(lab\) ` ends with a space$/, hint: TRIM },
  { name: "built-in realm comment with a leading space", text: minimal.replace("realms:\n", 'realms:\n  pve: { comment: " Local accounts" }\n'), where: '" Local', path: "realms.pve.comment", message: /starts with a space/, hint: TRIM },
  { name: "group comment with a leading space", text: withGroups('  ops: { comment: " x" }\n'), where: '" x"', path: "groups.ops.comment", message: /^` x` starts with a space$/, hint: TRIM },
  { name: "user firstname with a trailing space", text: withUsers('  jane@sso: { firstname: "Pat " }\n'), where: '"Pat ', path: 'users["jane@sso"].firstname', message: /^`Pat ` ends with a space$/, hint: TRIM },
  { name: "user lastname with a trailing tab", text: withUsers('  jane@sso: { lastname: "Lee\\t" }\n'), where: '"Lee', path: 'users["jane@sso"].lastname', message: /ends with whitespace/, hint: TRIM },
  { name: "user comment that is only a space", text: withUsers('  jane@sso: { comment: " " }\n'), where: '" "', path: 'users["jane@sso"].comment', message: /starts with a space/ },
  { name: "Entra group display name used as the comment", text: entra("  ops: { realm: azure, entraGroup: 'Ops ' }\n"), where: "'Ops ", path: "groups.ops.entraGroup", message: /ends with a space \(it becomes the Proxmox group's comment\)/, hint: TRIM },
  { name: "external client id with a trailing space", text: minimal.replace("clientId: proxmox", 'clientId: "proxmox "'), where: '"proxmox ', path: "realms.sso.clientId", message: /is not a valid client id/, hint: /no spaces at either end \(Proxmox trims them/ },
  // Failure 4: line feeds.
  { name: "folded scalar comment (ends in a line feed)", text: sso("    comment: >\n      Keycloak in the lab\n"), where: ">\n      Keycloak", path: "realms.sso.comment", message: /^contains a line feed$/, hint: LF },
  { name: "literal block comment on a group", text: withGroups("  ops:\n    comment: |-\n      line one\n      line two\n"), where: "|-", path: "groups.ops.comment", message: /^contains a line feed$/, hint: /`\|` keeps every line break/ },
  { name: "carriage return in a user comment", text: withUsers('  jane@sso: { comment: "a\\rb" }\n'), where: '"a\\rb"', path: 'users["jane@sso"].comment', message: /^contains a carriage return$/ },
  { name: "line feed in a built-in realm comment", text: minimal.replace("realms:\n", 'realms:\n  pam: { comment: "a\\nb" }\n'), where: '"a\\nb"', path: "realms.pam.comment", message: /^contains a line feed$/ },
  // Fields Proxmox only stores `if $value`: the text 0 is dropped.
  { name: "user firstname 0", text: withUsers('  jane@sso: { firstname: "0" }\n'), where: '"0"', path: 'users["jane@sso"].firstname', message: /^`0` is not kept by Proxmox$/, hint: /reads the text `0` as false and does not store it/ },
  { name: "group comment 0", text: withGroups('  ops: { comment: "0" }\n'), where: '"0"', path: "groups.ops.comment", message: /`0` is not kept/ },
  { name: "OpenID realm comment 0 (SectionConfig writes a comment only if true)", text: sso('    comment: "0"\n'), where: '"0"', path: "realms.sso.comment", message: /`0` is not kept/, hint: /does not store it/ },
  { name: "built-in realm comment 0", text: minimal.replace("realms:\n", 'realms:\n  pve: { comment: "0" }\n'), where: '"0"', path: "realms.pve.comment", message: /`0` is not kept/, hint: /puts the realm's default comment back/ },
  { name: "a group named 0", text: withGroups('  "0": { comment: zero }\n'), where: '"0"', path: 'groups["0"]', message: /`0` is not a valid group name/, hint: /silently drops it/ },
  { name: "a role named 0", text: `${minimal}roles:\n  "0": { privs: [VM.Audit] }\n`, where: '"0"', path: 'roles["0"]', message: /`0` is not a valid custom role id/, hint: /drops a role named `0`/ },
  // Failure 5: user ids.
  { name: "user id with a comma (splits the ACL user list)", text: minimal.replace("user: jane@sso", '"user": "jane,bob@sso"'), where: '"jane,bob', path: "access[0].user", message: /`jane,bob@sso` is not a valid user id/, hint: /without spaces, `:`, `\/`, `,` or `;`/ },
  { name: "user id with a semicolon, as a users key", text: withUsers('  "a;b@sso": { comment: x }\n'), where: '"a;b@sso"', path: 'users["a;b@sso"]', message: /`a;b@sso` is not a valid user id/ },
  { name: "user id with a colon, as a group member", text: withGroups('  ops: { members: ["a:b@sso"] }\n'), where: '"a:b@sso"', path: "groups.ops.members[0]", message: /`a:b@sso` is not a valid user id/ },
  { name: "user id with a slash", text: minimal.replace("user: jane@sso", '"user": "a/b@sso"'), where: '"a/b', path: "access[0].user", message: /is not a valid user id/ },
  { name: "user id with non-ASCII (errata 12)", text: minimal.replace("user: jane@sso", '"user": "zoë@sso"'), where: '"zo', path: "access[0].user", message: /`zoë@sso` is not a valid user id/ },
  { name: "expire before 1970 (a date)", text: withUsers("  jane@sso: { expire: 1969-12-31 }\n"), where: "1969", path: 'users["jane@sso"].expire', message: /^`1969-12-31` is before 1970$/, hint: /refuses a negative value/ },
  { name: "expire before 1970 (a date-time east of UTC)", text: withUsers('  jane@sso: { expire: "1970-01-01T00:30:00+01:00" }\n'), where: '"1970', path: 'users["jane@sso"].expire', message: /is before 1970/ },
  { name: "expire at the epoch itself (Proxmox: never)", text: withUsers("  jane@sso: { expire: 1970-01-01 }\n"), where: "1970", path: 'users["jane@sso"].expire', message: /reads as "never expires"/, hint: /enable: false/ },
  { name: "expire as a negative number", text: withUsers("  jane@sso: { expire: -1 }\n"), where: "-1", path: 'users["jane@sso"].expire', message: /must be >= 0/, hint: /refuses negative values/ },
  { name: "expire beyond what Proxmox stores as a plain integer", text: withUsers("  jane@sso: { expire: 100000000000000000000 }\n"), where: "1000", path: 'users["jane@sso"].expire', message: /must be <= 253402300799/, hint: /end of 9999/ },
  // Realm options Proxmox splits into lists, or stores in domains.cfg as written.
  { name: "scope with a comma", text: sso("    scopes: [openid, 'email,profile']\n"), where: "'email,", path: "realms.sso.scopes[1]", message: /is not a valid scope/, hint: /splits the list on spaces, `,` and `;`/ },
  { name: "ACR value with a semicolon", text: sso("    acrValues: ['a;b']\n"), where: "'a;b'", path: "realms.sso.acrValues[0]", message: /is not a valid ACR value/ },
  { name: "audience with a space", text: sso("    audiences: ['api one']\n"), where: "'api one'", path: "realms.sso.audiences[0]", message: /is not a valid audience/ },
  { name: "non-ASCII username claim", text: minimal.replace("usernameClaim: username", "usernameClaim: nämn"), where: "nämn", path: "realms.sso.usernameClaim", message: /is not a valid claim name/ },
  { name: "non-ASCII issuer URL", text: minimal.replace("https://auth.lan/", "https://äuth.lan/"), where: "https://äuth", path: "realms.sso.issuerUrl", message: /is not a valid URL/ },
  // Found by test/unit/schema-apidoc.test.ts: values homelab could not send, or Proxmox would refuse.
  { name: "an unpaired surrogate in a user comment (no UTF-8 form)", text: withUsers('  jane@sso: { comment: "a\\uD800b" }\n'), where: '"a\\uD800b"', path: 'users["jane@sso"].comment', message: /unpaired surrogate/ },
  { name: "a tenant login URL that makes the issuer URL longer than 256", text: tutorial.replace("    credentials:", `    cloud: { loginUrl: "https://login.lan/${"p".repeat(200)}", graphUrl: https://graph.lan }\n    credentials:`), where: '"https://login.lan/p', path: "tenants.contoso.cloud.loginUrl", message: /^realm `azure` would get an issuer URL of 260 characters .*Proxmox allows at most 256$/, hint: /at most 214 characters/ },
  // Small extras (issue 8, issue 10 item 2).
  { name: "membersExclusive on an Entra group", text: entra("  ops: { realm: azure, entraGroup: Ops, membersExclusive: false }\n"), where: "membersExclusive", path: "groups.ops.membersExclusive", message: /only applies to plain groups/, hint: /groups claim/ },
  { name: "Entra group on the built-in pve realm", text: entra("  g: { realm: pve, entraGroup: X }\n"), where: "pve, entraGroup: X", path: "groups.g.realm", message: /^Entra groups only on tenant realms: `pve` is a built-in realm$/, hint: /tenant:/ },
];

describe("validate refuses what Proxmox would refuse or rewrite, with a located problem", () => {
  it.each(cases)("$name", (c) => {
    const problems = problemsOf(c.text);
    const p = problems.find((x) => x.path === c.path);
    expect(p, `no problem at ${c.path}; got ${JSON.stringify(problems)}`).toBeDefined();
    expect(p!.file).toBe("homelab.yaml");
    const where = at(c.text, c.where);
    // A problem about a map key points at the key (`where` names the key then), one about a value at the value.
    expect({ line: p!.line, col: p!.col }).toEqual(where);
    expect(p!.message).toMatch(c.message);
    if (c.hint) expect(p!.hint).toMatch(c.hint);
    // Nothing else: one bad value, one problem.
    expect(problems, JSON.stringify(problems)).toHaveLength(1);
  });
});

describe("validate still accepts what Proxmox keeps as written", () => {
  it.each([
    ["inner spaces and non-ASCII in a realm comment", sso('    comment: "Keycloak (lab) – Zürich"\n')],
    ["a folded scalar without its final line feed", sso("    comment: >-\n      Keycloak in\n      the lab\n")],
    ["a tab inside a user comment", withUsers('  jane@sso: { comment: "a\\tb", firstname: Zoë, lastname: "0x" }\n')],
    ["an empty comment (clears it)", withGroups('  ops: { comment: "" }\n')],
    ["a user id with @ and other ASCII punctuation in the name", minimal.replace("user: jane@sso", '"user": "jane.o\'neil+pve@contoso.com@sso"')],
    ["expire on the day after the epoch", withUsers("  jane@sso: { expire: 1970-01-02 }\n")],
    ["expire: never and expire: 0 (property test seed 8143)", withUsers("  jane@sso: { expire: never }\n  bob@sso: { expire: 0 }\n")],
    ["expire at the largest date", withUsers("  jane@sso: { expire: 9999-12-31 }\n")],
    ["expire as the largest epoch", withUsers("  jane@sso: { expire: 253402300799 }\n")],
    ["scopes, ACR values and audiences as list items", sso("    scopes: [openid, email, 'urn:x:y']\n    acrValues: ['urn:mace:incommon:iap:silver', 'phr']\n    audiences: [api://x, 'https://api.lan/']\n")],
    ["an Entra group whose comment is given (the display name is not sent)", entra("  ops: { realm: azure, entraGroup: 'Ops ', comment: Operators }\n")],
    ["membersExclusive on a plain group", withGroups("  ops: { members: [jane@sso], membersExclusive: false }\n")],
  ])("%s", (_name, text) => {
    expect(problemsOf(text)).toEqual([]);
  });

  it("an Entra group on a tenant realm builds its desired state (no crash for the refused pve case either)", () => {
    const { config } = validateText(entra("  ops: { realm: azure, entraGroup: Ops }\n"));
    expect(buildDesired(config).clusters[0]!.groups.map((g) => g.key)).toEqual(["ops"]);
    expect(() => problemsOf(entra("  g: { realm: pam, entraGroup: X }\n"))).not.toThrow();
  });
});

describe("a realm's clientKey is limited to what Proxmox stores (256 characters, spec 3.1.5.1)", () => {
  const secret = () => validateText(minimal).config.realms.sso!.clientKey as Secret;

  it("is read lazily: validate accepts any reference", () => {
    expect(secret()).toBeInstanceOf(Secret);
    expect(secret().limits.maxLength).toBe(256);
  });

  it("accepts 256 characters and refuses 257, naming the field and the limit but not the value", () => {
    const ok = "k".repeat(256);
    expect(secret().reveal({ SSO_SECRET: ok })).toBe(ok);
    const long = `${"Q".repeat(250)}-s3cr3t`;
    let err: unknown;
    try {
      secret().reveal({ SSO_SECRET: long });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SecretError);
    const e = err as SecretError;
    expect(e.message).toMatch(/^realms\.sso\.clientKey: the secret in environment variable SSO_SECRET is longer than 256 characters, the most Proxmox VE accepts for a realm's client-key$/);
    expect(`${e.message} ${e.hint}`).not.toContain("s3cr3t");
    expect(`${e.message} ${e.hint}`).not.toContain(String(long.length));
  });

  it("an API token secret (a UUID) is limited to 256 characters when read; other secrets have no such limit", () => {
    const token = () => validateText(minimal).config.clusters.pve!.token.secret;
    expect(token().reveal({ PVE_TOKEN: "t".repeat(256) })).toHaveLength(256);
    expect(() => token().reveal({ PVE_TOKEN: "t".repeat(257) })).toThrow(/longer than 256 characters, the most a Proxmox VE API token secret has/);
    const tenant = validateText(playbook("homelab.yaml")).config.tenants.contoso!.credentials.clientSecret!;
    expect(tenant.reveal({ CONTOSO_AUTOMATION_SECRET: "s".repeat(1000) })).toHaveLength(1000);
  });
});

describe("apply with a clientKey Proxmox would refuse (built CLI against the simulator)", () => {
  // The minimal config's realm and access, on the simulator's cluster.
  const body = minimal.slice(minimal.indexOf("realms:"));

  it("exits 3 with a clean message before any write; the same config with 256 characters applies", async () => {
    const lab = await pveLab();
    try {
      lab.write(body);
      const marker = "n0t-f0r-y0ur-eyes";
      const long = `${"x".repeat(300)}${marker}`;
      const r = await homelab(["apply", "-f", lab.file], { env: { ...lab.env, SSO_SECRET: long } });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.code, out).toBe(3);
      expect(out).toMatch(/realms\.sso\.clientKey: the secret in environment variable SSO_SECRET is longer than 256 characters/);
      expect(out).not.toContain(marker);
      expect(out).not.toMatch(/may only be/);
      expect(writes(lab.sim)).toEqual([]);

      // Control: the path is real, and a key of the largest allowed length goes through.
      const ok = await homelab(["apply", "-f", lab.file], { env: { ...lab.env, SSO_SECRET: "y".repeat(256) } });
      expect(ok.code, `${ok.stdout}\n${ok.stderr}`).toBe(0);
      expect(writes(lab.sim).length).toBeGreaterThan(0);
    } finally {
      await lab.close();
    }
  });
});
