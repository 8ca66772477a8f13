import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../helpers/lab.js";
import { failing, find, useVerifyLab, type Issuer } from "../helpers/verify-lab.js";

/**
 * `homelab verify` (2 of 3; see verify.test.ts): client keys and secrets. The tenant realm's secret proven by a token
 * request (expired, within renewBeforeDays, wrong), a realm without a client key (issue 14), and the external issuer's
 * token endpoint with the realm's key.
 */

describe("homelab verify against both simulators: client keys and secrets", () => {
  const v = useVerifyLab();
  const { admins, verify, repair } = v;
  let l: Lab;
  let issuer: Issuer;
  beforeAll(() => {
    ({ l, issuer } = v);
  });

  it("an expired client secret fails the secret check of every cluster (Entra refuses the realm's credentials)", async () => {
    l.entra.setClock(() => new Date(Date.now() + 200 * 86_400_000));
    try {
      const r = await verify();
      expect(r.code).toBe(1);
      expect(failing(r.checks)).toEqual(["secret azure@pve1", "secret azure@pve2"]);
      const c = find(r.checks, "secret", "azure", "pve1")!;
      expect(c.detail).toMatch(/Entra ID refused the credentials of app .*expired/);
      expect(c.detail).toMatch(/homelab:azure:pve1 expires on/);
      expect(c.hint).toMatch(/^the realm's client secret has expired, so every login fails: run homelab apply/);

      // With this machine's clock moved as well, the detail says it expired, and when.
      const both = await verify({ HOMELAB_NOW: new Date(Date.now() + 200 * 86_400_000).toISOString() });
      expect(find(both.checks, "secret", "azure", "pve2")!.detail).toMatch(/homelab:azure:pve2 expired on \d{4}-\d\d-\d\d$/);
    } finally {
      l.entra.setClock(() => new Date());
    }
    const again = await verify();
    expect(failing(again.checks)).toEqual([]);
  });

  it("a secret within renewBeforeDays passes with a warning", async () => {
    const r = await verify({ HOMELAB_NOW: new Date(Date.now() + 160 * 86_400_000).toISOString() });
    expect(r.code).toBe(0);
    const c = find(r.checks, "secret", "azure", "pve1")!;
    expect(c).toMatchObject({ ok: true, warning: true });
    expect(c.detail).toMatch(/\(in (19|20) days\)$/);
    expect(c.hint).toMatch(/within renewBeforeDays \(30\): the next homelab apply renews it/);
  });

  it("a wrong client key in one realm fails its secret check, proven by a token request, and the key is never printed", async () => {
    const wrong = "not-the-secret-7d2c11";
    await admins.get("pve1")!.updateRealm("azure", { "client-key": wrong });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["secret azure@pve1"]);
    const c = find(r.checks, "secret", "azure", "pve1")!;
    expect(c.detail).toMatch(/Entra ID refused the credentials of app/);
    expect(c.hint).toMatch(/the realm's client key is not a valid secret of app .*: run homelab apply/);
    expect(r.stdout + r.stderr).not.toContain(wrong);
    await repair();
  });

  it("a realm without a client key fails (issue 14): the tenant realm and the external one, until apply sets them", async () => {
    await admins.get("pve1")!.updateRealm("lab", {}, { delete: ["client-key"] });
    await admins.get("pve2")!.updateRealm("azure", {}, { delete: ["client-key"] });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["client-key azure@pve2", "client-key lab@pve1", "secret azure@pve2", "secret lab@pve1"]);
    expect(find(r.checks, "client-key", "azure", "pve2")).toMatchObject({ detail: "the realm has no client key, so Entra ID refuses every sign-in through it", hint: expect.stringMatching(/run homelab apply/) });
    expect(find(r.checks, "client-key", "lab", "pve1")).toMatchObject({ detail: "the realm has no client key; the config gives ${env:LAB_KEY}" });
    await repair();
  });

  it("an external realm the config gives no key: fails when the issuer takes only client secrets, passes when it accepts public clients", async () => {
    l.write(readFileSync(l.file, "utf8").replace(/^version: 1\n[\s\S]*?realms:\n/, "realms:\n").replace('    clientKey: "${env:LAB_KEY}"\n', ""));
    await admins.get("pve1")!.updateRealm("lab", {}, { delete: ["client-key"] });
    try {
      const r = await verify();
      expect(failing(r.checks)).toEqual(["client-key lab@pve1"]);
      expect(find(r.checks, "client-key", "lab", "pve1")!.detail).toBe("the realm has no client key, but the issuer's token endpoint accepts only client_secret_basic, client_secret_post: every sign-in fails");
      issuer.setMethods(undefined); // OpenID Connect Discovery: absent means client_secret_basic
      expect(failing((await verify()).checks)).toEqual(["client-key lab@pve1"]);
      issuer.setMethods(["none"]);
      const ok = await verify();
      expect(failing(ok.checks)).toEqual([]);
      expect(find(ok.checks, "client-key", "lab", "pve1")!.detail).toBe("no client key; the issuer accepts clients without one");
    } finally {
      issuer.setMethods(["client_secret_basic", "client_secret_post"]);
      l.write(readFileSync(l.file, "utf8").replace(/^version: 1\n[\s\S]*?realms:\n/, "realms:\n").replace("    clientId: proxmox\n", '    clientId: proxmox\n    clientKey: "${env:LAB_KEY}"\n'));
      await repair();
    }
  });

  it("the external issuer's token endpoint: a key it refuses fails; a client not allowed the grant is a warning", async () => {
    await admins.get("pve1")!.updateRealm("lab", { "client-key": "not-the-issuers-key" });
    const wrong = await verify({ LAB_KEY: "not-the-issuers-key" });
    expect(failing(wrong.checks)).toEqual(["secret lab@pve1"]);
    expect(find(wrong.checks, "secret", "lab", "pve1")!.detail).toBe("the issuer refused the realm's client id and key (invalid_client)");
    expect(wrong.stdout).not.toContain("not-the-issuers-key");
    await repair();
    issuer.setGrant(false);
    try {
      const w = await verify();
      expect(w.code).toBe(0);
      expect(find(w.checks, "secret", "lab", "pve1")).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/not proven: the issuer answered unauthorized_client/) });
    } finally {
      issuer.setGrant(true);
    }
  });
});
