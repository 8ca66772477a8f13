import { beforeAll, describe, expect, it } from "vitest";
import { homelab } from "../helpers/cli.js";
import { homelabApps, realmOn, type Lab } from "../helpers/lab.js";
import { failing, find, LAB_KEY, useVerifyLab, type Issuer } from "../helpers/verify-lab.js";

/**
 * `homelab verify` (1 of 2, split by subject so that vitest runs them side by side; the lab both start is
 * test/helpers/verify-lab.ts): the whole result after apply (table and JSON) and the tenant realm: its app registration
 * (redirect URIs, client id, mapped groups and the groups claim), its secret proven by a token request, the users named
 * in access, and the exit codes for homelab's own credentials. verify-issuer.test.ts: issuers, discovery, the node's
 * view and the external issuer's realm.
 */

describe("homelab verify against both simulators", () => {
  const v = useVerifyLab();
  const { admins, run, verify, repair, automationGraph } = v;
  let l: Lab;
  let issuer: Issuer;
  beforeAll(() => {
    ({ l, issuer } = v);
  });

  it("after apply every check passes (exit 0), in a table with a summary, and no secret is printed", async () => {
    const r = await run(["verify"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^CHECK\s+REALM@CLUSTER\s+RESULT\s+DETAIL$/m);
    expect(r.stdout).not.toMatch(/\bFAIL\b/);
    expect(r.stdout).toMatch(/^secret\s+azure@pve1\s+pass\s+accepted by Entra ID; homelab:azure:pve1 expires on \d{4}-\d\d-\d\d \(in 17\d days\)$/m);
    expect(r.stdout).toMatch(/^redirect-uri\s+azure@pve2\s+pass\s+the app accepts https:\/\/127\.0\.0\.1:\d+$/m);
    // The http discovery documents (simulator, local issuer) pass with a warning and a hint.
    expect(r.stdout).toMatch(/^discovery\s+lab@pve1\s+WARN\s+reachable over plain http/m);
    expect(r.stdout).toMatch(/^\s+hint: use https/m);
    expect(r.stdout).toMatch(/^Verify: \d+ checks, \d+ passed \(\d+ with a warning\), 0 failed\.$/m);
    for (const sim of l.pve.values()) {
      const key = String(realmOn(sim, "azure")!["client-key"]);
      expect(r.stdout + r.stderr).not.toContain(key);
    }
    expect(r.stdout + r.stderr).not.toContain(LAB_KEY);
    expect(r.stdout + r.stderr).not.toContain(l.env.CONTOSO_SECRET!);
  });

  it("--json: one object with every check of both realms, ok: true", async () => {
    const r = await verify();
    expect(r.code).toBe(0);
    expect(r.ok).toBe(true);
    const ids = (realm: string, cluster?: string) => r.checks.filter((c) => c.realm === realm && c.cluster === cluster).map((c) => c.id);
    expect(ids("azure")).toEqual(["app", "directory", "group-claims", "group-assignment"]);
    expect(find(r.checks, "group-assignment", "azure")!.detail).toBe("the mapped group is assigned to the app: Proxmox Admins");
    expect(find(r.checks, "group-claims", "azure")!.detail).toBe("ID tokens carry the groups assigned to the app (groupMembershipClaims ApplicationGroup, groups optional claim)");
    expect(ids("azure", "pve1")).toEqual(["realm", "issuer", "discovery", "node-discovery", "client-id", "client-key", "redirect-uri", "authorize", "secret", "username-claim", "users", "leavers"]);
    expect(ids("azure", "pve2")).toEqual(["realm", "issuer", "discovery", "node-discovery", "client-id", "client-key", "redirect-uri", "authorize", "secret", "username-claim", "users", "leavers"]);
    expect(ids("lab", "pve1")).toEqual(["realm", "issuer", "discovery", "node-discovery", "client-id", "client-key", "authorize", "secret", "username-claim", "users"]);
    // From the node: Proxmox fetched the discovery document itself; the provider shows its sign-in page for the URL it built.
    expect(find(r.checks, "node-discovery", "azure", "pve1")!.detail).toBe(`the node fetched the issuer's discovery document; sign-in starts at ${l.entra.loginUrl}/${l.entra.tenantId}/oauth2/v2.0/authorize`);
    const appId = homelabApps(l.entra)[0]!.appId;
    expect(find(r.checks, "authorize", "azure", "pve2")!.detail).toBe(`the identity provider shows its sign-in page for client ${appId} and redirect URI ${l.pve.get("pve2")!.url}`);
    expect(find(r.checks, "node-discovery", "lab", "pve1")!.detail).toBe(`the node fetched the issuer's discovery document; sign-in starts at ${issuer.base}/realms/lab/auth`);
    expect(find(r.checks, "authorize", "lab", "pve1")!.detail).toBe(`the identity provider shows its sign-in page for client proxmox and redirect URI ${l.pve.get("pve1")!.url}`);
    expect(find(r.checks, "secret", "lab", "pve1")!.detail).toBe("the realm's client key is ${env:LAB_KEY}; the issuer's token endpoint accepts it");
    expect(ids("lab", "pve2")).toEqual([]);
    expect(find(r.checks, "directory", "azure")!.detail).toBe("2 named users exist in tenant contoso");
    expect(find(r.checks, "username-claim", "azure", "pve2")!.detail).toBe("upn; 2 named users have the form <email address>@azure");
    expect(find(r.checks, "users", "azure", "pve1")!.detail).toBe("1 user named in access exists");
    // The simulator's document names the issuer at its own login URL, as Entra ID's does: the realm's issuer-url.
    expect(find(r.checks, "discovery", "azure", "pve1")!).toMatchObject({ ok: true, detail: `reachable over plain http; it names the issuer ${l.entra.loginUrl}/${l.entra.tenantId}/v2.0` });
    expect(find(r.checks, "secret", "lab", "pve1")!).toMatchObject({ ok: true, detail: "the realm's client key is ${env:LAB_KEY}; the issuer's token endpoint accepts it" });
    for (const c of r.checks) expect(Object.keys(c).every((k) => ["id", "realm", "cluster", "ok", "warning", "detail", "hint"].includes(k))).toBe(true);
  });

  it("a redirect URI removed from the app fails redirect-uri on that cluster only", async () => {
    const app = homelabApps(l.entra)[0]!;
    const graph = automationGraph();
    await graph.updateApplication(app.id, { web: { redirectUris: [l.pve.get("pve1")!.url, "https://pve2.wrong:8006"] } });

    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.ok).toBe(false);
    // Seen twice: in the app's registration, and as the error page Entra ID shows at the node's authorization URL.
    expect(failing(r.checks)).toEqual(["authorize azure@pve2", "redirect-uri azure@pve2"]);
    expect(find(r.checks, "authorize", "azure", "pve2")).toMatchObject({
      detail: expect.stringMatching(new RegExp(`^the identity provider shows an error before sign-in: AADSTS50011: The redirect URI '${l.pve.get("pve2")!.url.replace(/\./g, "\\.")}' specified in the request does not match`)),
      hint: `the app's redirect URIs do not contain ${l.pve.get("pve2")!.url} (Entra ID compares them exactly): run homelab apply to restore them`,
    });
    const c = find(r.checks, "redirect-uri", "azure", "pve2")!;
    expect(c.detail).toContain(`do not contain ${l.pve.get("pve2")!.url}`);
    expect(c.hint).toMatch(/run homelab apply to restore them; Entra ID compares redirect URIs exactly/);

    // The table shows the failure with its hint on the next line.
    const table = await run(["verify"]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^redirect-uri\s+azure@pve2\s+FAIL\s+the app's redirect URIs .*\n\s+hint: run homelab apply to restore them/m);
    expect(table.stdout).toMatch(/^Verify: \d+ checks, \d+ passed.*, 2 failed\. A login through a failing realm will not work until it is fixed\.$/m);
    await repair();
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

  it("a user named in access deleted on one cluster fails users there", async () => {
    await admins.get("pve1")!.deleteUser("jane@contoso.com@azure");
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["users azure@pve1"]);
    expect(find(r.checks, "users", "azure", "pve1")!).toMatchObject({ detail: "missing on pve1: jane@contoso.com@azure", hint: expect.stringMatching(/^run homelab apply to create or enable them/) });
    await repair();
  });

  it("a client-id that is not the app's fails client-id (and the token request with it)", async () => {
    const other = "11111111-2222-4333-8444-555555555555";
    await admins.get("pve1")!.updateRealm("azure", { "client-id": other });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["authorize azure@pve1", "client-id azure@pve1", "secret azure@pve1"]);
    expect(find(r.checks, "authorize", "azure", "pve1")).toMatchObject({
      detail: expect.stringMatching(new RegExp(`^the identity provider shows an error before sign-in: AADSTS700016: Application with identifier '${other}' was not found in the directory`)),
      hint: `no app with client id ${other} in the tenant: the realm's client-id is wrong or the app was deleted; run homelab apply`,
    });
    const c = find(r.checks, "client-id", "azure", "pve1")!;
    expect(c.detail).toBe(`the realm's client-id is ${other}, the app's is ${homelabApps(l.entra)[0]!.appId}`);
    expect(c.hint).toMatch(/^run homelab apply to set it: it must be the client id of the app tagged homelab:realm=azure$/);
    expect(find(r.checks, "secret", "azure", "pve1")!.hint).toMatch(/no app with client id 1111/);
    await repair();
  });

  it("a mapped group whose assignment to the app was deleted by hand fails group-assignment (issue 9 failure 6)", async () => {
    const graph = automationGraph();
    const app = homelabApps(l.entra)[0]!;
    const sp = (await graph.findServicePrincipal(app.appId))!;
    const groupId = String((l.entra.state().groups as { id: string; displayName: string }[]).find((g) => g.displayName === "Proxmox Admins")!.id);
    const assignment = (await graph.listAppRoleAssignedTo(sp.id)).find((a) => a.principalId === groupId)!;
    expect(assignment).toBeDefined();
    await graph.removeAssignment(sp.id, assignment.id);

    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["group-assignment azure"]);
    const c = find(r.checks, "group-assignment", "azure")!;
    expect(c.detail).toBe("not assigned to the app: Proxmox Admins, so Entra ID leaves it out of the groups claim and its members get no rights through it");
    expect(c.hint).toMatch(/^run homelab apply to assign them/);
    const table = await run(["verify"]);
    expect(table.stdout).toMatch(/^group-assignment\s+azure\s+FAIL\s+not assigned to the app: Proxmox Admins/m);
    await repair();
  });

  it("the groups optional claim removed, then groupMembershipClaims None: group-claims fails; SecurityGroup is a warning (issue 9 failure 6)", async () => {
    const graph = automationGraph();
    const app = homelabApps(l.entra)[0]!;
    const full = (l.entra.state().applications as { id: string; optionalClaims: { idToken: { name: string }[] } }[]).find((a) => a.id === app.id)!;
    const idToken = full.optionalClaims.idToken.filter((x) => x.name !== "groups");
    expect(idToken.map((x) => x.name)).toEqual(["upn"]);
    await graph.updateApplication(app.id, { optionalClaims: { ...full.optionalClaims, idToken } as never });

    const r = await verify();
    expect(r.code).toBe(1);
    expect(failing(r.checks)).toEqual(["group-claims azure"]);
    expect(find(r.checks, "group-claims", "azure")!).toMatchObject({ detail: "the app's ID token has no groups optional claim", hint: expect.stringMatching(/^run homelab apply to restore them/) });

    await graph.updateApplication(app.id, { groupMembershipClaims: "None" });
    const none = await verify();
    expect(failing(none.checks)).toEqual(["group-claims azure"]);
    expect(find(none.checks, "group-claims", "azure")!.detail).toBe("the app's groupMembershipClaims is None, so ID tokens carry no groups; the app's ID token has no groups optional claim");
    await repair();

    await graph.updateApplication(app.id, { groupMembershipClaims: "SecurityGroup" });
    const all = await verify();
    expect(all.code).toBe(0);
    expect(find(all.checks, "group-claims", "azure")!).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/every group of the user, and none at all for a user in more than 200 groups/) });
    await repair();
  });

  it("homelab's own credentials refused: exit 4, no table", async () => {
    const r = await run(["verify"], { CONTOSO_SECRET: "wrong-automation-secret" });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/Entra ID refused the credentials/);
    const p = await run(["verify"], { PVE_TOKEN_PVE1: "00000000-0000-4000-8000-000000000000" });
    expect(p.code).toBe(4);
  });

  it("a missing secret variable is exit 3", async () => {
    const r = await homelab(["-f", l.file, "verify"], { env: { ...l.env, LAB_KEY: undefined } });
    expect(r.code).toBe(3);
  });
});
