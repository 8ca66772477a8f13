import { describe, expect, it } from "vitest";
import { homelab } from "../helpers/cli.js";

describe("homelab demo (the README's quick start)", () => {
  it("converges playbooks/demo.yaml against both simulators, then finds nothing to change", async () => {
    const r = await homelab(["demo"]);
    expect(r.stderr).not.toMatch(/FAILED|error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("+ entra.application/contoso:azure");
    expect(r.stdout).toContain("+ entra.secret/contoso:azure:pve");
    expect(r.stdout).toContain("+ proxmox.realm/pve:azure");
    expect(r.stdout).toMatch(/^Apply: 9 created, 0 updated, 0 replaced, 0 deleted\.$/m);
    expect(r.stdout).toMatch(/^2\. Run again: nothing left to change\nNo changes\. 10 objects in sync\.$/m);
    expect(r.stdout).toMatch(/its client key is accepted by Entra ID\.$/m);
  });
});
