import { describe, expect, it } from "vitest";
import { BUILTIN_ROLES } from "../../src/core/pve.js";
import { homelab } from "../helpers/cli.js";

/** Breaks the demo's sign-in chain after the second run (src/cli/commands/demo-signin.ts, test-only). */
const FAULT = "HOMELAB_TEST_DEMO_FAULT";

describe("homelab demo (the README's quick start)", () => {
  it("converges playbooks/demo.yaml against both simulators, finds nothing to change, then signs jane and an unnamed group member in with the rights the file gives", async () => {
    const r = await homelab(["demo"], { env: { [FAULT]: undefined } });
    expect(r.stderr).not.toMatch(/FAILED|error|demo:/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("+ entra.application/contoso:azure");
    expect(r.stdout).toContain("+ entra.secret/contoso:azure:pve");
    expect(r.stdout).toContain("+ proxmox.realm/pve:azure");
    expect(r.stdout).toMatch(/^Apply: 9 created, 0 updated, 0 replaced, 0 deleted\.$/m);
    expect(r.stdout).toMatch(/^2\. Run again: nothing left to change\nNo changes\. 10 objects in sync\.$/m);
    expect(r.stdout).toMatch(/its client key is accepted by Entra ID\.$/m);

    // jane is named in the file (Administrator on /); she is also in the mapped Entra group, whose Proxmox group
    // is <object id>-azure. Her own ACL entry replaces her group's at the same path, as in Proxmox.
    const admin = BUILTIN_ROLES.Administrator!.length;
    const pveAdmin = BUILTIN_ROLES.PVEAdmin!.length;
    expect(pveAdmin).toBeLessThan(admin);
    const jane = new RegExp(`^   jane@contoso\\.com → jane@contoso\\.com@azure; groups: ([0-9a-f-]{36})-azure \\(admins\\); on /: ${admin} privileges, those of Administrator$`, "m").exec(r.stdout);
    expect(jane, r.stdout).not.toBeNull();
    // bob is not named anywhere in the file: autocreated at his first sign-in, with the group's rights only.
    const bob = new RegExp(`^   bob@contoso\\.com \\(in Proxmox Admins, not named in the file\\) → bob@contoso\\.com@azure; groups: ([0-9a-f-]{36})-azure \\(admins\\); on /: ${pveAdmin} privileges, those of PVEAdmin$`, "m").exec(r.stdout);
    expect(bob, r.stdout).not.toBeNull();
    expect(bob![1]).toBe(jane![1]);
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("Both sign-ins match the file: jane@contoso.com and bob@contoso.com got the user id, groups and privileges on / it gives them.");
  }, 90_000);

  it("a node that cannot reach the issuer: both sign-ins fail with Proxmox's message and the demo exits 1", async () => {
    const r = await homelab(["demo"], { env: { [FAULT]: "unreachable-issuer" } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^No changes\. 10 objects in sync\.$/m);
    expect(r.stdout).toMatch(/^   jane@contoso\.com: sign-in FAILED$/m);
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("The sign-ins do NOT match the file: 2 sign-ins failed (details on stderr).");
    expect(r.stderr).toContain("demo: sign-in of jane@contoso.com through realm azure on pve failed: POST /access/openid/auth-url answered 500: Request failed: ureq request failed - io: Connection timed out (os error 110)");
    expect(r.stdout).not.toMatch(/sign-ins? match/);
  }, 90_000);

  it("rights that differ from the file after the sign-in (jane's ACL entry removed behind homelab's back) exit 1, naming what differs", async () => {
    const r = await homelab(["demo"], { env: { [FAULT]: "acl-drift" } });
    expect(r.code).toBe(1);
    // Without her own entry, jane gets her group's PVEAdmin: less than the Administrator the file gives her.
    expect(r.stdout).toMatch(new RegExp(`^   jane@contoso\\.com → jane@contoso\\.com@azure; groups: .*; on /: ${BUILTIN_ROLES.PVEAdmin!.length} privileges \\(the file's Administrator gives ${BUILTIN_ROLES.Administrator!.length}\\)$`, "m"));
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("The sign-ins do NOT match the file: 1 person's rights differ (details on stderr).");
    expect(r.stderr).toMatch(/^demo: jane@contoso\.com on pve does not match the file: lacks .*Permissions\.Modify.* on \/ \(Administrator\)$/m);
  }, 90_000);
});
