import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_AUTOMATION_PERMISSIONS } from "../../src/sim/entra/index.js";
import { homelab } from "../helpers/cli.js";
import { graphWrites, pveWrites, homelabApps, lab, realmOn, type Lab } from "../helpers/lab.js";

/**
 * Issue 9 failure 5: the tenant's app management policies (a secret lifetime limit, or no secrets at all) are found
 * at plan time when the automation app holds Policy.Read.All, and a plan that breaks them is refused (exit 3) before
 * any write on either side. Without the permission, Graph's apply-time refusal becomes a clear error naming the policy.
 * The built CLI against both simulators.
 */

const DEFAULT_POLICY = "00000000-0000-0000-0000-000000000000";
const DAY = 86_400_000;

const config = (realm: string, lifetimeDays: number) => `realms:
  ${realm}:
    tenant: contoso
    app: { displayName: Proxmox VE ${realm}, secret: { lifetimeDays: ${lifetimeDays}, renewBeforeDays: 10 } }
    usernameClaim: upn
    autocreate: true
access:
  - { user: jane@contoso.com@${realm}, role: PVEAuditor, path: / }
`;

const clearLogs = (l: Lab) => {
  l.entra.clearLog();
  for (const s of l.pve.values()) s.clearLog();
};

describe("tenant app management policies with Policy.Read.All: refused at plan time", () => {
  let l: Lab;
  const run = (args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });

  beforeAll(async () => {
    l = await lab(["pve1"], {
      automation: { permissions: DEFAULT_AUTOMATION_PERMISSIONS },
      appManagementPolicies: { tenantDefault: { passwordLifetime: "P90D" } },
    });
  });
  afterAll(() => l.close());

  it("a 90-day tenant policy and lifetimeDays 180: plan and apply exit 3 naming the policy and its limit, nothing written", async () => {
    l.write(config("azure", 180));
    clearLogs(l);
    for (const args of [["plan"], ["apply"]]) {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(3);
      const out = r.stdout + r.stderr;
      expect(out).toContain('app management policy "Default app management tenant policy" (the tenant default');
      expect(out).toContain(DEFAULT_POLICY);
      expect(out).toContain("90 days (passwordLifetime P90D)");
      expect(out).toContain("realm azure asks for 180 days");
      expect(out).toMatch(/hint: .*lower realms\.azure\.app\.secret\.lifetimeDays to at most 90/);
      expect(out).not.toMatch(/FAILED/);
    }
    expect(graphWrites(l)).toEqual([]);
    expect(pveWrites(l)).toEqual([]);
    expect(homelabApps(l.entra)).toEqual([]);
    // It was read, not guessed: the policy was asked for.
    expect(l.entra.requestLog.some((r) => r.path === "/v1.0/policies/defaultAppManagementPolicy" && r.status === 200)).toBe(true);
  });

  it("lifetimeDays 60 converges, with secrets that really live 60 days, then a run with no writes", async () => {
    l.write(config("azure", 60));
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const [app] = homelabApps(l.entra);
    const cred = app!.passwordCredentials!.find((c) => c.displayName === "homelab:azure:pve1")!;
    expect(Math.abs(Date.parse(cred.endDateTime) - (Date.now() + 60 * DAY))).toBeLessThan(5 * 60_000);
    expect(l.entra.checkClientSecret(app!.appId, String(realmOn(l.pve.get("pve1")!, "azure")!["client-key"]))).toBe(true);
    clearLogs(l);
    const again = await run(["apply", "--detailed-exitcode"]);
    expect(again.code).toBe(0);
    expect(graphWrites(l)).toEqual([]);
    expect(pveWrites(l)).toEqual([]);
    // A no-op adds no secret, so it reads no policy (issue 12): the apps once (the application provider's read), no
    // default policy, no app's policy. The refusals above and below show they are read when a secret is added.
    expect(l.entra.requestLog.filter((x) => x.method === "GET" && x.path === "/v1.0/applications" && x.status === 200)).toHaveLength(1);
    expect(l.entra.requestLog.filter((x) => /polic/i.test(x.path)).map((x) => x.path)).toEqual([]);
  });

  it("a stricter policy applied to the existing app wins over the tenant default: a renewal is refused naming it", async () => {
    const [app] = homelabApps(l.entra);
    l.entra.setKnobs({
      appManagementPolicies: { tenantDefault: { passwordLifetime: "P90D" }, policies: [{ displayName: "Proxmox apps: 30 days", passwordLifetime: "P30D", appliesTo: [app!.appId] }] },
    });
    try {
      const before = JSON.stringify(homelabApps(l.entra));
      clearLogs(l);
      const r = await run(["apply", "--rotate-secrets"]);
      expect(r.code, r.stderr).toBe(3);
      const out = r.stdout + r.stderr;
      expect(out).toContain(`app management policy "Proxmox apps: 30 days" (applied to app Proxmox VE azure (${app!.appId})`);
      expect(out).toContain("30 days (passwordLifetime P30D)");
      expect(out).toMatch(/lower realms\.azure\.app\.secret\.lifetimeDays to at most 30/);
      expect(graphWrites(l)).toEqual([]);
      expect(pveWrites(l)).toEqual([]);
      expect(JSON.stringify(homelabApps(l.entra))).toBe(before);
      // Read once the plan showed a renewal: the default policy, and the app with its policy ($expand), one request each.
      expect(l.entra.requestLog.filter((x) => x.path === "/v1.0/policies/defaultAppManagementPolicy")).toHaveLength(1);
      expect(l.entra.requestLog.filter((x) => x.path === `/v1.0/applications/${app!.id}/appManagementPolicies`)).toEqual([]);
    } finally {
      l.entra.setKnobs({ appManagementPolicies: { tenantDefault: { passwordLifetime: "P90D" } } });
    }
  });

  it("a tenant that blocks passwordAddition: exit 3 before any write, and the hint says lifetimeDays is not the fix", async () => {
    l.entra.setKnobs({ appManagementPolicies: { tenantDefault: { passwordAddition: true } } });
    try {
      // A second realm, whose app homelab has yet to create: the tenant default governs it.
      l.write(config("azure", 60).replace("access:", `  lab:
    tenant: contoso
    app: { displayName: Proxmox VE lab, secret: { lifetimeDays: 60 } }
    usernameClaim: upn
access:`));
      clearLogs(l);
      const r = await run(["apply"]);
      expect(r.code, r.stderr).toBe(3);
      const out = r.stdout + r.stderr;
      expect(out).toContain("blocks new client secrets (passwordAddition)");
      expect(out).toContain("realm lab needs one per cluster (entra.secret/contoso:lab:pve1)");
      expect(out).toMatch(/hint: .*lowering lifetimeDays does not help/);
      expect(graphWrites(l)).toEqual([]);
      expect(pveWrites(l)).toEqual([]);
    } finally {
      l.entra.setKnobs({ appManagementPolicies: { tenantDefault: { passwordLifetime: "P90D" } } });
      l.write(config("azure", 60));
    }
  });
});

describe("tenant app management policies without Policy.Read.All: found at apply time, explained", () => {
  let l: Lab;
  const run = (args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });

  beforeAll(async () => {
    // An automation app bootstrapped before Policy.Read.All was granted.
    l = await lab(["pve1"], { appManagementPolicies: { tenantDefault: { passwordLifetime: "P90D" } }, automation: { permissions: DEFAULT_AUTOMATION_PERMISSIONS.filter((p) => p !== "Policy.Read.All") } });
    l.write(config("azure", 180));
  });
  afterAll(() => l.close());

  it("plan warns that the limit cannot be checked; apply fails at addPassword naming the policy, hint: lower lifetimeDays", async () => {
    const plan = await run(["plan"]);
    expect(plan.code).toBe(0);
    expect(plan.stderr).toMatch(/warning: tenant contoso: the automation app may not read app management policies \(Policy\.Read\.All\)/);
    expect(plan.stderr).toContain("homelab bootstrap --tenant contoso");

    const r = await run(["apply"]);
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/FAILED entra\.secret\/contoso:azure:pve1: tenant contoso refuses a 180-day client secret for realm azure/);
    expect(out).toContain(`app management policy ${DEFAULT_POLICY} limits secret lifetime to less than 180 days`);
    expect(out).toContain("CredentialInvalidLifetimeAsPerAppPolicy");
    expect(out).toMatch(/hint: lower realms\.azure\.app\.secret\.lifetimeDays below 180/);
    expect(out).toContain("Policy.Read.All");
    // Nothing half-done on the Proxmox side: the realm waits for its secret.
    expect(realmOn(l.pve.get("pve1")!, "azure")).toBeUndefined();
    expect(homelabApps(l.entra)[0]!.passwordCredentials).toEqual([]);
  });
});
