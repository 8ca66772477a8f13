import { describe, expect, it } from "vitest";
import { UserError } from "../../src/core/errors.js";
import type { Change } from "../../src/core/plan.js";
import { GraphRequestError } from "../../src/providers/entra/graph.js";
import { durationMs, explainSecretRefusal, governing, parsePolicy, policyProvider, type ObservedPolicies, type PolicyApp } from "../../src/providers/entra/policy.js";
import { emptyObservedTenant, type TenantTarget } from "../../src/providers/entra/target.js";

/** The pure parts of the app management policy provider: Graph shapes, precedence, the plan-time review, the apply-time message. */

const DAY = 86_400_000;
const ZERO = "00000000-0000-0000-0000-000000000000";

const tenantDefault = (passwordCredentials: unknown[], isEnabled = true) =>
  parsePolicy({ id: ZERO, displayName: "Default app management tenant policy", isEnabled, applicationRestrictions: { passwordCredentials, keyCredentials: [] } }, "default");
const appPolicy = (passwordCredentials: unknown[], isEnabled = true) =>
  parsePolicy({ id: "9d2624cb-b59a-459a-bb1a-000000000001", displayName: "Strict", isEnabled, restrictions: { passwordCredentials } }, "app");
const lifetime = (maxLifetime: string, extra: Record<string, unknown> = {}) => ({ restrictionType: "passwordLifetime", maxLifetime, restrictForAppsCreatedAfterDateTime: null, state: "enabled", ...extra });
const addition = (state = "enabled") => ({ restrictionType: "passwordAddition", maxLifetime: null, restrictForAppsCreatedAfterDateTime: null, state });

const secret = (realm: string, lifetimeDays: number, action: Change["action"] = "create"): Change => ({
  address: `entra.secret/contoso:${realm}:pve1`, kind: "entra.secret", target: "contoso", action, dependsOn: [], fields: [],
  data: { realm, cluster: "pve1", displayName: `homelab:${realm}:pve1`, lifetimeDays },
});
const target = { desired: { name: "contoso", applications: [] } } as unknown as TenantTarget;
const review = (p: ObservedPolicies, changes: Change[]) => policyProvider.review!(target, { ...emptyObservedTenant(), appPolicies: p } as never, changes);
const app = (extra: Partial<PolicyApp> = {}): PolicyApp => ({ id: "a1", appId: "c1", displayName: "Proxmox VE", createdDateTime: "2025-01-01T00:00:00Z", ...extra });

describe("durationMs: Edm.Duration as Graph sends maxLifetime", () => {
  it.each([
    ["P90D", 90 * DAY],
    ["P4DT12H30M5S", 4 * DAY + 12 * 3_600_000 + 30 * 60_000 + 5000],
    ["PT12H", 12 * 3_600_000],
    ["P2W", 14 * DAY],
  ])("%s", (s, ms) => expect(durationMs(s)).toBe(ms));
  it.each(["P", "PT", "90D", "P1Y", "P1M", "", "P90DT"])("%s is not a duration homelab reads", (s) => expect(durationMs(s)).toBeUndefined());
});

describe("governing: which restriction holds for an app", () => {
  it("the tenant default holds only when enabled, and only for apps created on or after restrictForAppsCreatedAfterDateTime", () => {
    expect(governing({ tenantDefault: tenantDefault([lifetime("P90D")], false) }, app(), "passwordLifetime")).toBeUndefined();
    expect(governing({ tenantDefault: tenantDefault([lifetime("P90D")]) }, app(), "passwordLifetime")?.restriction.maxMs).toBe(90 * DAY);
    const since = tenantDefault([lifetime("P90D", { restrictForAppsCreatedAfterDateTime: "2025-06-01T00:00:00Z" })]);
    expect(governing({ tenantDefault: since }, app(), "passwordLifetime")).toBeUndefined();
    expect(governing({ tenantDefault: since }, app({ createdDateTime: "2025-06-01T00:00:00Z" }), "passwordLifetime")).toBeDefined();
    // An app about to be created is created now.
    expect(governing({ tenantDefault: since }, undefined, "passwordLifetime", Date.parse("2026-01-01T00:00:00Z"))).toBeDefined();
    expect(governing({ tenantDefault: since }, undefined, "passwordLifetime", Date.parse("2025-01-01T00:00:00Z"))).toBeUndefined();
  });

  it("the app's own policy wins per restriction; a restriction it lacks falls back; a disabled policy is ignored", () => {
    const def = tenantDefault([lifetime("P180D"), addition()]);
    const own = appPolicy([lifetime("P30D"), addition("disabled")]);
    expect(governing({ tenantDefault: def }, app({ policy: own }), "passwordLifetime")?.policy.scope).toBe("app");
    expect(governing({ tenantDefault: def }, app({ policy: own }), "passwordAddition")).toBeUndefined(); // exempt
    const lifetimeOnly = appPolicy([lifetime("P30D")]);
    expect(governing({ tenantDefault: def }, app({ policy: lifetimeOnly }), "passwordAddition")?.policy.scope).toBe("default");
    expect(governing({ tenantDefault: def }, app({ policy: appPolicy([lifetime("P30D")], false) }), "passwordLifetime")?.restriction.maxMs).toBe(180 * DAY);
  });
});

describe("policyProvider.review", () => {
  const readable = (p: Partial<ObservedPolicies>): ObservedPolicies => ({ readable: true, apps: new Map(), ...p });

  it("refuses a lifetime over the limit with exit code 3's error, naming the policy and the limit; the limit itself passes", () => {
    const p = readable({ tenantDefault: tenantDefault([lifetime("P90D")]) });
    expect(review(p, [secret("azure", 90)])).toEqual([]);
    let err: unknown;
    try {
      review(p, [secret("azure", 91, "replace")]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("E_SECRET_POLICY");
    expect((err as UserError).message).toContain(`"Default app management tenant policy" (the tenant default, id ${ZERO}) limits client secrets to 90 days (passwordLifetime P90D); realm azure asks for 91 days`);
    expect((err as UserError).hint).toBe("lower realms.azure.app.secret.lifetimeDays to at most 90");
  });

  it("a limit that is not whole days is shown as Graph states it; under a day, lowering lifetimeDays cannot help", () => {
    expect(() => review(readable({ tenantDefault: tenantDefault([lifetime("P4DT12H")]) }), [secret("azure", 5)])).toThrow(/P4DT12H \(4\.50 days\)/);
    try {
      review(readable({ tenantDefault: tenantDefault([lifetime("PT12H")]) }), [secret("azure", 1)]);
      expect.unreachable();
    } catch (e) {
      expect((e as UserError).hint).toMatch(/less than a day/);
    }
  });

  it("looks only at secrets being added, and at nothing when it could not read the policies (a warning instead)", () => {
    const p = readable({ tenantDefault: tenantDefault([addition()]) });
    expect(review(p, [{ ...secret("azure", 60, "delete") }])).toBeUndefined();
    expect(() => review(p, [secret("azure", 60)])).toThrow(/blocks new client secrets \(passwordAddition\)/);
    const denied = review({ readable: false, denied: "403", apps: new Map() }, [secret("azure", 60)]);
    expect(denied).toEqual([expect.stringMatching(/may not read app management policies \(Policy\.Read\.All\).*homelab bootstrap --tenant contoso/)]);
  });

  it("an app whose own policy could not be read is not judged by the default alone (it may be exempt): a warning", () => {
    const p = readable({ tenantDefault: tenantDefault([lifetime("P30D")]), apps: new Map([["azure", [app({ unreadable: "HTTP 403" })]]]) });
    expect(review(p, [secret("azure", 60)])).toEqual([expect.stringContaining("could not read the app management policy applied to app Proxmox VE (c1)")]);
  });

  it("several realms: one error listing each, with each realm's fix", () => {
    const p = readable({ tenantDefault: tenantDefault([lifetime("P90D")]), apps: new Map([["lab", [app({ policy: appPolicy([lifetime("P30D")]) })]]]) });
    try {
      review(p, [secret("azure", 180), secret("lab", 60)]);
      expect.unreachable();
    } catch (e) {
      expect((e as UserError).message).toMatch(/2 realms break its app management policies/);
      expect((e as UserError).message).toContain('"Strict" (applied to app Proxmox VE (c1), id 9d2624cb-b59a-459a-bb1a-000000000001) limits client secrets to 30 days');
      expect((e as UserError).hint).toBe("lower realms.azure.app.secret.lifetimeDays to at most 90; lower realms.lab.app.secret.lifetimeDays to at most 30");
    }
  });
});

describe("explainSecretRefusal: Graph's apply-time refusal in homelab's terms", () => {
  const graphError = (code: string, message: string) =>
    new GraphRequestError({ service: "graph", method: "POST", url: "https://graph/v1.0/applications/x/addPassword", status: 400, graphCode: code, message: `Graph (tenant contoso): add a client secret 'homelab:azure:pve1' to application x: HTTP 400 ${code}: ${message}` });
  const at = { tenant: "contoso", realm: "azure", lifetimeDays: 180 };

  it("names the policy Graph names; the limit is only 'less than' what was asked, and the hint points at the realm's lifetimeDays", () => {
    const e = explainSecretRefusal(graphError("CredentialInvalidLifetimeAsPerAppPolicy", "Credential lifetime exceeds the max value allowed as per assigned policy '9d2624cb-b59a-459a-bb1a-000000000001'."), at) as UserError;
    expect(e).toBeInstanceOf(UserError);
    expect(e.code).toBe("E_SECRET_POLICY");
    expect(e.message).toBe(
      "tenant contoso refuses a 180-day client secret for realm azure: app management policy 9d2624cb-b59a-459a-bb1a-000000000001 limits secret lifetime to less than 180 days (passwordLifetime). Graph: CredentialInvalidLifetimeAsPerAppPolicy: Credential lifetime exceeds the max value allowed as per assigned policy '9d2624cb-b59a-459a-bb1a-000000000001'.",
    );
    expect(e.hint).toMatch(/^lower realms\.azure\.app\.secret\.lifetimeDays below 180 .*Policy\.Read\.All/);
  });

  it("a limit stated in Graph's message is named, and the hint gives the number; graph.ts's wrapping is unwrapped", () => {
    const inner = graphError("CredentialInvalidLifetimeAsPerAppPolicy", "Credential lifetime exceeds the max value P90D allowed as per assigned policy 'p1'.");
    const wrapped = new UserError("tenant contoso refuses a client secret valid until …", { code: "E_SECRET_POLICY", cause: inner });
    const e = explainSecretRefusal(wrapped, at) as UserError;
    expect(e.message).toContain("limits secret lifetime to P90D (90 days)");
    expect(e.hint).toBe("lower realms.azure.app.secret.lifetimeDays to at most 90");
  });

  it("passwordAddition: says lifetimeDays is not the fix; other errors pass through untouched", () => {
    const e = explainSecretRefusal(graphError("CredentialTypeNotAllowedAsPerAppPolicy", "Credential type not allowed as per assigned policy 'p1'."), at) as UserError;
    expect(e.message).toContain("refuses new client secrets for realm azure: app management policy p1 blocks them (passwordAddition)");
    expect(e.hint).toMatch(/lowering lifetimeDays does not help/);
    const other = graphError("Request_BadRequest", "nope");
    expect(explainSecretRefusal(other, at)).toBe(other);
    const plain = new Error("boom");
    expect(explainSecretRefusal(plain, at)).toBe(plain);
  });
});

describe("policyProvider.readAfterPlan: only when the plan adds a secret; one read per realm, the reads it replaces where Graph refuses the expansion", () => {
  const raw = { id: "9d2624cb-b59a-459a-bb1a-000000000001", displayName: "Strict", isEnabled: true, restrictions: { passwordCredentials: [lifetime("P30D")] } };
  const realm = { desired: { name: "contoso", applications: [{ realm: "azure" }] } };
  const reads = (expanded: () => Promise<unknown>) => {
    const calls: string[] = [];
    const graph = {
      getDefaultAppManagementPolicy: async () => (calls.push("default"), { id: ZERO, isEnabled: false, applicationRestrictions: { passwordCredentials: [] } }),
      listApplicationPolicies: async (tag: string) => (calls.push(`expanded ${tag}`), expanded()),
      listApplicationCreationTimes: async (tag: string) => (calls.push(`apps ${tag}`), [{ id: "a1", appId: "c1", displayName: "Proxmox VE", createdDateTime: "2025-01-01T00:00:00Z" }]),
      listAppManagementPoliciesOf: async (id: string) => (calls.push(`policy ${id}`), [raw]),
    };
    return { calls, target: { ...realm, graph } as unknown as TenantTarget };
  };
  const late = (t: TenantTarget, changes: Change[]) => policyProvider.readAfterPlan!(t, emptyObservedTenant(), changes, new Map());
  const appsOf = async (t: TenantTarget) => ((await late(t, [secret("azure", 90)])) as { appPolicies: ObservedPolicies }).appPolicies.apps.get("azure");

  it("reads nothing up front, nor after a plan that adds no secret (a no-op, a secret deleted, other kinds)", async () => {
    const { calls, target: t } = reads(async () => []);
    expect(await policyProvider.read(t)).toEqual({});
    expect(await late(t, [])).toBeUndefined();
    expect(await late(t, [secret("azure", 90, "delete"), secret("azure", 90, "update"), { ...secret("azure", 90), kind: "entra.application" }])).toBeUndefined();
    expect(calls).toEqual([]);
    // A replace (a renewal, --rotate-secrets) adds a secret too.
    expect(await late(t, [secret("azure", 90, "replace")])).toHaveProperty("appPolicies.readable", true);
    expect(calls).toEqual(["default", "expanded homelab:realm=azure"]);
  });

  it("the apps of a realm with the policy applied to each, in one request", async () => {
    const { calls, target: t } = reads(async () => [{ id: "a1", appId: "c1", displayName: "Proxmox VE", createdDateTime: "2025-01-01T00:00:00Z", appManagementPolicies: [raw] }]);
    const apps = await appsOf(t);
    expect(calls).toEqual(["default", "expanded homelab:realm=azure"]);
    expect(apps).toEqual([{ id: "a1", appId: "c1", displayName: "Proxmox VE", createdDateTime: "2025-01-01T00:00:00Z", policy: parsePolicy(raw, "app") }]);
  });

  it("a 400 on $expand: the apps, then the policy of each, with the same result", async () => {
    const { calls, target: t } = reads(async () => {
      throw new GraphRequestError({ service: "graph", method: "GET", url: "/applications", status: 400, message: "expand not supported", graphCode: "Request_BadRequest" });
    });
    const apps = await appsOf(t);
    expect(calls).toEqual(["default", "expanded homelab:realm=azure", "apps homelab:realm=azure", "policy a1"]);
    expect(apps?.[0]?.policy).toEqual(parsePolicy(raw, "app"));
  });

  it("any other failure is not hidden", async () => {
    const { target: t } = reads(async () => {
      throw new GraphRequestError({ service: "graph", method: "GET", url: "/applications", status: 500, message: "boom" });
    });
    await expect(late(t, [secret("azure", 90)])).rejects.toThrow(/boom/);
  });
});
