import { describe, expect, it } from "vitest";
import { claimShape, daysUntil, fail, groupClaimsEmit, namePart, pass, sameIssuer, sortChecks, warnCheck } from "../../src/verify/checks.js";

describe("verify: the pure rules", () => {
  it.each([
    ["https://login.microsoftonline.com/t/v2.0", "https://login.microsoftonline.com/t/v2.0/", true],
    ["https://auth.lan/application/o/proxmox/", "https://auth.lan/application/o/proxmox", true],
    ["https://auth.lan/a", "https://auth.lan/b", false],
    ["https://Auth.lan/a", "https://auth.lan/a", false], // issuers compare exactly (OIDC discovery)
    ["http://auth.lan/a", "https://auth.lan/a", false],
  ])("sameIssuer(%s, %s) is %s", (a, b, want) => expect(sameIssuer(a, b)).toBe(want));

  it.each([
    ["2027-01-11T00:00:00Z", "2027-01-01T00:00:00Z", 10],
    ["2027-01-01T12:00:00Z", "2027-01-01T00:00:00Z", 0],
    ["2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z", -1],
  ])("daysUntil(%s) from %s is %d", (end, now, want) => expect(daysUntil(end, new Date(now))).toBe(want));

  it.each([
    ["upn", true, "jane@contoso.com", true],
    ["upn", true, "jane", false],
    ["email", false, "jane@contoso.com", true],
    ["username", true, "jane@contoso.com", true],
    ["oid", true, "8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", true],
    ["oid", true, "jane", false],
  ])("claim %s (tenant realm: %s) accepts %s: %s", (claim, tenant, name, ok) => {
    const shape = claimShape(claim, tenant);
    expect(shape).toBeTypeOf("object");
    expect((shape as { test(n: string): boolean }).test(name)).toBe(ok);
  });

  it("knows that Entra's sub (the default) cannot be known in advance, and says nothing of other issuers' claims", () => {
    expect(claimShape(undefined, true)).toBe("unknowable");
    expect(claimShape("sub", true)).toBe("unknowable");
    expect(claimShape(undefined, false)).toBeUndefined();
    expect(claimShape("username", false)).toBeUndefined();
  });

  it("takes the claim value from a user id whose name contains @", () => {
    expect(namePart("jane@contoso.com@azure")).toBe("jane@contoso.com");
    expect(namePart("bob@pve")).toBe("bob");
  });

  it.each([
    ["ApplicationGroup", "assigned"],
    ["SecurityGroup, ApplicationGroup", "assigned"],
    ["SecurityGroup", "all"],
    ["All", "all"], // All does not include ApplicationGroup (Entra ID)
    ["DirectoryRole", "none"],
    ["None", "none"],
    [null, "none"],
    [undefined, "none"],
  ])("groupMembershipClaims %s puts %s groups in the token", (value, want) => expect(groupClaimsEmit(value)).toBe(want));

  it("sorts rows by realm, realm-wide checks first, then cluster, then check order", () => {
    const rows = sortChecks([
      fail("secret", "b", "pve2", "x", "h"),
      pass("users", "a", "pve1", "x"),
      pass("realm", "a", "pve1", "x"),
      warnCheck("discovery", "a", "pve1", "x", "h"),
      pass("app", "a", undefined, "x"),
      fail("group-assignment", "a", undefined, "x", "h"),
      pass("group-claims", "a", undefined, "x"),
      pass("realm", "b", "pve1", "x"),
    ]);
    expect(rows.map((r) => `${r.realm}/${r.cluster ?? "-"}/${r.id}`)).toEqual(["a/-/app", "a/-/group-claims", "a/-/group-assignment", "a/pve1/realm", "a/pve1/discovery", "a/pve1/users", "b/pve1/realm", "b/pve2/secret"]);
    expect(rows.find((r) => r.id === "discovery")).toMatchObject({ ok: true, warning: true, hint: "h" });
  });
});
