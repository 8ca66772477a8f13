import { describe, expect, it } from "vitest";
import type { DesiredTenant } from "../../src/core/desired.js";
import { directoryRead } from "../../src/providers/entra/directory.js";

/** directoryRead: what the leavers check reads, from the realms' username claims and their users in Proxmox. */

const tenant = (...apps: Array<[realm: string, claim: string]>) => ({ name: "contoso", applications: apps.map(([realm, usernameClaim]) => ({ realm, usernameClaim })) }) as unknown as DesiredTenant;
const users = (n: number, domain = "contoso.com") => Array.from({ length: n }, (_, i) => `User${i}@${domain}`);

describe("directoryRead", () => {
  it("nothing when no realm can name its users from Graph (sub), or no realm has a user in Proxmox", () => {
    expect(directoryRead(tenant(["azure", "sub"]), new Map([["azure", users(3)]]))).toEqual({ kind: "none" });
    expect(directoryRead(tenant(["azure", "upn"]), new Map())).toEqual({ kind: "none" });
    expect(directoryRead(tenant(["azure", "upn"]), new Map([["other", users(3)]]))).toEqual({ kind: "none" });
  });

  it("up to 15 names of one claim key: one filtered read of exactly them (case folded, each once, sorted)", () => {
    expect(directoryRead(tenant(["azure", "upn"]), new Map([["azure", ["b@x", "A@x", "a@X"]]]))).toEqual({ kind: "some", key: "userPrincipalName", names: ["a@x", "b@x"] });
    const two = directoryRead(tenant(["a", "email"], ["b", "email"]), new Map([["a", users(8)], ["b", users(7, "b.org")]]));
    expect(two).toMatchObject({ kind: "some", key: "mail" });
    expect(two.kind === "some" && two.names).toHaveLength(15);
  });

  it("more names than one filtered request holds, or two claim keys: the whole directory", () => {
    expect(directoryRead(tenant(["azure", "upn"]), new Map([["azure", users(16)]]))).toEqual({ kind: "all" });
    expect(directoryRead(tenant(["a", "upn"], ["b", "oid"]), new Map([["a", users(1)], ["b", ["0f0f0f0f-0000-4000-8000-000000000001"]]]))).toEqual({ kind: "all" });
  });
});
