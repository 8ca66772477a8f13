import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { format, inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { Secret } from "../../src/core/secret.js";
import { SecretError } from "../../src/core/errors.js";
import { redact, resetRedaction } from "../../src/log/redact.js";

const VALUE = "s3cr3t-Value-9f8e7d";

afterEach(() => resetRedaction());

describe("Secret", () => {
  it("reads an environment variable only when revealed", () => {
    const env: NodeJS.ProcessEnv = {};
    const s = new Secret("${env:HL_TEST}", "realms.sso.clientKey", "/");
    env.HL_TEST = VALUE;
    expect(s.reveal(env)).toBe(VALUE);
  });

  it("reads a file relative to the config's directory, without the trailing newline", () => {
    const dir = mkdtempSync(join(tmpdir(), "hl-secret-"));
    writeFileSync(join(dir, "pve.token"), `${VALUE}\n`);
    expect(new Secret("${file:pve.token}", "clusters.pve.token.secret", dir).reveal()).toBe(VALUE);
  });

  it.each([
    ["${env:HL_MISSING}", /clusters.pve.token.secret: environment variable HL_MISSING is not set/, /export HL_MISSING=/],
    ["${file:/nonexistent/hl/pve.token}", /clusters.pve.token.secret: secret file \/nonexistent\/hl\/pve.token does not exist/, /chmod 600/],
  ])("names the variable or file and the field when %s is missing", (ref, message, hint) => {
    const s = new Secret(ref, "clusters.pve.token.secret", "/");
    let err: unknown;
    try {
      s.reveal({});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SecretError);
    expect((err as SecretError).message).toMatch(message);
    expect((err as SecretError).hint).toMatch(hint);
  });

  it("reports an empty variable and an unreadable file", () => {
    expect(() => new Secret("${env:E}", "f", "/").reveal({ E: "" })).toThrow(/environment variable E is empty/);
    const dir = mkdtempSync(join(tmpdir(), "hl-secret-"));
    expect(() => new Secret(`\${file:${dir}}`, "f", "/").reveal()).toThrow(/is a directory/);
    const f = join(dir, "empty");
    writeFileSync(f, "");
    expect(() => new Secret(`\${file:${f}}`, "f", "/").reveal()).toThrow(/is empty/);
    if (process.getuid?.() !== 0) {
      const g = join(dir, "locked");
      writeFileSync(g, VALUE);
      chmodSync(g, 0);
      expect(() => new Secret(`\${file:${g}}`, "f", "/").reveal()).toThrow(/not readable/);
    }
  });

  it("never prints its value, in any form", () => {
    const s = new Secret("${env:HL_TEST}", "realms.sso.clientKey", "/");
    s.reveal({ HL_TEST: VALUE });
    const holder = { nested: { s }, list: [s] };
    const forms = [
      String(s), `${s}`, JSON.stringify(holder), inspect(holder, { showHidden: true, depth: 10 }), format("%s %o %O %j", s, s, holder, holder),
      JSON.stringify({ ...s }), Object.values(s).join(","), JSON.stringify(structuredClone({ ...s })),
    ];
    for (const f of forms) expect(f).not.toContain(VALUE);
    expect(String(s)).toBe("(sensitive)");
    expect(inspect(s)).toBe("Secret(${env:HL_TEST})");
  });

  it("registers revealed values with the redactor", () => {
    const s = new Secret("${env:HL_TEST}", "f", "/");
    expect(redact(`token is ${VALUE}!`)).toBe(`token is ${VALUE}!`);
    s.reveal({ HL_TEST: VALUE });
    expect(redact(`token is ${VALUE}!`)).toBe("token is (sensitive)!");
  });

  it("fromValue keeps a generated secret just as hidden", () => {
    const s = Secret.fromValue(VALUE, "entra.secret/contoso:azure:pve");
    expect(JSON.stringify({ s })).not.toContain(VALUE);
    expect(s.reveal()).toBe(VALUE);
    expect(redact(VALUE)).toBe("(sensitive)");
  });
});

describe("redact", () => {
  it.each([
    ["Authorization: PVEAPIToken=homelab@pve!converge=0b1c2d3e-1111-2222-3333-444455556666", "0b1c2d3e-1111"],
    ["Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.abc.def", "eyJ0eXAiOiJKV1Qi"],
    ["client_id=x&client_secret=abc~DEF.123&grant_type=client_credentials", "abc~DEF.123"],
    ['{"secretText":"Q~abcdefghijklmnop"}', "Q~abcdefghij"],
    ["https://user:pa55word@example.com/x", "pa55word"],
    ["client-key=hunter22&comment=x", "hunter22"],
  ])("removes the credential from %s", (text, secret) => {
    const out = redact(text);
    expect(out).not.toContain(secret);
    expect(out).toContain("(sensitive)");
  });
});
