import { describe, expect, it } from "vitest";
import { toEpoch } from "../../src/config/desired.js";
import { clientKeyVariable, expireText } from "../../src/import/build.js";

describe("import: the pure helpers", () => {
  it.each([
    ["authentik", [], "AUTHENTIK_CLIENT_KEY"],
    ["my-sso.lan", [], "MY_SSO_LAN_CLIENT_KEY"],
    ["sso", ["SSO_CLIENT_KEY"], "SSO_CLIENT_KEY_2"],
    ["sso", ["SSO_CLIENT_KEY", "SSO_CLIENT_KEY_2"], "SSO_CLIENT_KEY_3"],
  ])("realm %s (taken %j) reads its key from %s", (realm, taken, want) => {
    expect(clientKeyVariable(realm, new Set(taken))).toBe(want);
  });

  it.each([
    [1814313600, "2027-06-30"],
    [1814378400, "2027-06-30T18:00:00Z"],
    [1814378401, "2027-06-30T18:00:01Z"],
  ])("expire %d is written as %s, which the config reads back as the same instant", (epoch, text) => {
    expect(expireText(epoch)).toBe(text);
    expect(toEpoch(text)).toBe(epoch);
  });
});
