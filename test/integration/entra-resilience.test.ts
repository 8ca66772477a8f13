import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Secret } from "../../src/core/secret.js";
import { UserError } from "../../src/core/errors.js";
import { createGraphClient, GraphRequestError, realmTag, waitBudgetMs, type GraphClient } from "../../src/providers/entra/graph.js";
import { createTokenSource, resetTokenSources, type TokenSource } from "../../src/providers/entra/token.js";
import type { RetryEvent } from "../../src/providers/entra/types.js";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";
import { homelab } from "../helpers/cli.js";
import { pveWrites, graphWrites, TENANT_REALM_CONFIG, homelabApps, lab, realmOn, type Lab } from "../helpers/lab.js";

/**
 * Issue 9 failures 1, 2, 3 and 9: the Entra side converges through 503s, 429s and replication lag, in one
 * run and fast, reports adoption as such, and never creates a look-alike app. CLI runs against both
 * simulators (HOMELAB_BIN picks the build), plus the graph client directly where a step needs a close look.
 */

const config = TENANT_REALM_CONFIG;


/** What must hold after a converging run: one app, one SP, one assignment, exactly homelab's secrets, working keys. */
function expectConverged(l: Lab): void {
  const apps = homelabApps(l.entra);
  expect(apps).toHaveLength(1);
  const app = apps[0]!;
  const state = l.entra.state() as any;
  const sps = state.servicePrincipals.filter((s: any) => s.appId === app.appId);
  expect(sps).toHaveLength(1);
  const admins = state.groups.find((g: any) => g.displayName === "Proxmox Admins");
  expect(state.appRoleAssignments.filter((a: any) => a.resourceId === sps[0].id).map((a: any) => a.principalId)).toEqual([admins.id]);
  // No leftover: one credential per cluster, each the one its realm holds.
  expect(app.passwordCredentials!.map((c) => c.displayName).sort()).toEqual([...l.pve.keys()].map((n) => `homelab:azure:${n}`).sort());
  for (const [name, sim] of l.pve) {
    const realm = realmOn(sim, "azure")!;
    expect(realm["client-id"]).toBe(app.appId);
    expect(l.entra.checkClientSecret(app.appId, String(realm["client-key"]))).toBe(true);
    const own = app.passwordCredentials!.find((c) => c.displayName === `homelab:azure:${name}`)!;
    expect(String(realm["client-key"]).startsWith(own.hint)).toBe(true);
  }
}

describe("failure 1: 503s and 429s on creating requests", () => {
  it("every 4th Graph request 503 plus 429s: one run converges, nothing duplicated, no leftover secret", async () => {
    const l = await lab(["pve1", "pve2"], { faults: { every: 4 }, throttle: { every: 7, retryAfterSeconds: 1 } });
    try {
      l.write(config);
      const r = await homelab(["-f", l.file, "apply", "--debug"], { env: l.env });
      expect(r.stderr).not.toMatch(/FAILED/);
      expect(r.code).toBe(0);
      // The faults did hit creating requests (a no-op reads a tenant in a handful of requests: the tag, the groups;
      // the app's create, PATCH /applications(uniqueName=...), comes soon after, and every 4th request fails), and
      // were retried.
      expect(l.entra.requestLog.filter((e) => e.api === "graph" && (e.method === "POST" || e.method === "PATCH") && e.status === 503).length).toBeGreaterThan(0);
      expect(r.stderr).toMatch(/^debug retry contoso (?:POST|PATCH) \/\S+ attempt 1 \(unavailable 503\)/m);
      expect(r.stderr).toMatch(/\(throttled 429\)/);
      expectConverged(l);
      // Converged: the next run, under the same faults, plans nothing and writes nothing.
      l.entra.clearLog();
      const again = await homelab(["-f", l.file, "apply", "--detailed-exitcode"], { env: l.env });
      expect(again.stdout).toMatch(/^No changes\./);
      expect(again.code).toBe(0);
      expect(graphWrites(l)).toEqual([]);
    } finally {
      await l.close();
    }
  }, 120_000);

  it("503s that land (the write happened, its answer was lost): found by tag, appId and principal, a lost secret removed", async () => {
    const l = await lab(["pve1", "pve2"], { faults: { every: 4, landed: 1 }, seed: 3 });
    try {
      l.write(config);
      const r = await homelab(["-f", l.file, "apply", "--debug"], { env: l.env });
      expect(r.stderr).not.toMatch(/FAILED/);
      expect(r.code).toBe(0);
      expect(l.entra.requestLog.filter((e) => e.api === "graph" && (e.method === "POST" || e.method === "PATCH") && e.status === 503).length).toBeGreaterThan(0);
      expectConverged(l);
      const again = await homelab(["-f", l.file, "apply", "--detailed-exitcode"], { env: l.env });
      expect(again.stdout).toMatch(/^No changes\./);
      expect(again.code).toBe(0);
    } finally {
      await l.close();
    }
  }, 120_000);
});

describe("failure 1, step by step: the graph client re-reads before it repeats a create", () => {
  let sim: EntraSim;
  let tokens: TokenSource;
  let graph: GraphClient;
  let retries: RetryEvent[];
  let ownerId: string;
  const landedOnce = () => sim.setKnobs({ faults: { count: 1, methods: ["POST"], landed: 1 } });
  const posts = () => sim.requestLog.filter((e) => e.api === "graph" && e.method === "POST").map((e) => `${e.path} ${e.status}`);

  beforeAll(async () => {
    sim = await startEntraSim({ fixture: { groups: [{ displayName: "Proxmox Admins" }] } });
    tokens = createTokenSource({ tenantId: sim.tenantId, loginUrl: sim.loginUrl, graphUrl: sim.graphUrl, credentials: { clientId: sim.automation.clientId, clientSecret: Secret.fromValue(sim.automation.clientSecret, "test") } });
    graph = createGraphClient({ graphUrl: sim.graphUrl, tokens, tenant: "contoso", retryDelayMs: 5, onRetry: (e) => retries.push(e) });
    ownerId = (await graph.servicePrincipalOfCaller()).id;
  });
  afterAll(async () => {
    await sim.close();
    resetTokenSources();
  });
  beforeEach(() => {
    retries = [];
    sim.setKnobs({ faults: undefined, consistencyDelay: 0, credentialDelay: 0 });
    sim.clearLog();
  });

  it("an app whose create landed is found by its tag and not created again", async () => {
    landedOnce();
    const tag = realmTag("landed-app");
    const app = await graph.createApplication({ displayName: "Landed app", tags: ["homelab", tag] }, ownerId);
    expect(posts()).toEqual(["/v1.0/applications 503"]);
    expect((await graph.listApplicationsByTag(tag)).map((a) => a.id)).toEqual([app.id]);
  });

  it("a service principal and an assignment whose creates landed are found by appId and by principal", async () => {
    const app = await graph.createApplication({ displayName: "Landed SP", tags: ["homelab", realmTag("landed-sp")] }, ownerId);
    sim.clearLog();
    landedOnce();
    const { servicePrincipal: sp, created } = await graph.createServicePrincipal(app.appId, { ownerId });
    expect(created).toBe(true);
    expect(posts()).toEqual(["/v1.0/servicePrincipals 503"]);
    expect(sim.state().servicePrincipals.filter((s: any) => s.appId === app.appId)).toHaveLength(1);
    const group = (await graph.findGroupsByDisplayName(["Proxmox Admins"])).get("Proxmox Admins")![0]!;
    sim.clearLog();
    landedOnce();
    const a = await graph.assignGroup(sp.id, group.id);
    expect(a.existed).toBeFalsy();
    expect(posts()).toEqual([`/v1.0/servicePrincipals/${sp.id}/appRoleAssignedTo 503`]);
    expect(sim.state().appRoleAssignments.filter((x: any) => x.resourceId === sp.id)).toHaveLength(1);
  });

  it("addPassword whose answer was lost: the credential it made is removed, one new secret is added, and it works", async () => {
    const app = await graph.createApplication({ displayName: "Landed secret", tags: ["homelab", realmTag("landed-pw")] }, ownerId);
    await graph.createServicePrincipal(app.appId, { ownerId });
    // Someone's own secret with the same name, made long before: never touched.
    const older = await graph.addPassword(app.id, { displayName: "homelab:landed-pw:pve1", endDateTime: new Date(Date.now() + 30 * 86_400_000).toISOString() });
    // Graph's times are whole seconds, so "during the attempt" is known to a second or so: older is older than that.
    await new Promise((r) => setTimeout(r, 3100));
    sim.clearLog();
    landedOnce();
    const pw = await graph.addPassword(app.id, { displayName: "homelab:landed-pw:pve1", endDateTime: new Date(Date.now() + 86_400_000).toISOString() });
    expect(posts()).toEqual([`/v1.0/applications/${app.id}/addPassword 503`, `/v1.0/applications/${app.id}/removePassword 204`, `/v1.0/applications/${app.id}/addPassword 200`]);
    const creds = (await graph.getApplication(app.id)).passwordCredentials!;
    expect(creds.map((c) => c.keyId).sort()).toEqual([older.keyId, pw.keyId].sort());
    expect(sim.checkClientSecret(app.appId, pw.secretText.reveal())).toBe(true);
  });

  it("addPassword refused by a 503 before it was carried out: nothing to remove, added once", async () => {
    const app = await graph.createApplication({ displayName: "Refused secret", tags: ["homelab", realmTag("refused-pw")] }, ownerId);
    sim.clearLog();
    sim.setKnobs({ faults: { count: 1, methods: ["POST"] } });
    const pw = await graph.addPassword(app.id, { displayName: "homelab:refused-pw:pve1", endDateTime: new Date(Date.now() + 86_400_000).toISOString() });
    expect(posts()).toEqual([`/v1.0/applications/${app.id}/addPassword 503`, `/v1.0/applications/${app.id}/addPassword 200`]);
    expect((await graph.getApplication(app.id)).passwordCredentials!.map((c) => c.keyId)).toEqual([pw.keyId]);
  });
});

describe("failure 1 under lag: a secret an earlier attempt added, not visible to the plan, does not stay", () => {
  it("a killed run's addPassword, still replicating when the next run reads: that run removes it once its own secret shows", async () => {
    const l = await lab(["pve1"]);
    try {
      l.write(config);
      expect((await homelab(["-f", l.file, "apply"], { env: l.env })).code).toBe(0);
      const app = homelabApps(l.entra)[0]!;
      // What a run killed after its addPassword answered leaves: a homelab secret nobody holds, replicating
      // (invisible to the next 2 reads of the app, so the next plan cannot see it).
      const tokens = createTokenSource({ tenantId: l.entra.tenantId, loginUrl: l.entra.loginUrl, graphUrl: l.entra.graphUrl, credentials: { clientId: l.entra.automation.clientId, clientSecret: Secret.fromValue(l.entra.automation.clientSecret, "test") } });
      const graph = createGraphClient({ graphUrl: l.entra.graphUrl, tokens, tenant: "contoso", retryDelayMs: 5 });
      l.entra.setKnobs({ credentialDelay: 2 });
      const orphan = await graph.addPassword(app.id, { displayName: "homelab:azure:pve1", endDateTime: new Date(Date.now() + 86_400_000).toISOString() });
      const r = await homelab(["-f", l.file, "apply", "--rotate-secrets"], { env: l.env });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain(orphan.keyId);
      l.entra.setKnobs({ credentialDelay: 0 });
      expect(homelabApps(l.entra)[0]!.passwordCredentials!.map((c) => c.keyId)).not.toContain(orphan.keyId);
      expectConverged(l);
      l.entra.clearLog();
      const again = await homelab(["-f", l.file, "apply", "--detailed-exitcode"], { env: l.env });
      expect(again.stdout).toMatch(/^No changes\./);
      expect(graphWrites(l)).toEqual([]);
    } finally {
      await l.close();
      resetTokenSources();
    }
  }, 120_000);
});

describe("failure 2: replication lag", () => {
  it("lag 8 on every new object: the demo-like run (tenant realm + mapped group, 2 clusters) converges in one run, showing the wait", async () => {
    const l = await lab(["pve1", "pve2"], { consistencyDelay: 8 });
    try {
      l.write(config);
      const t0 = Date.now();
      const r = await homelab(["-f", l.file, "apply", "--debug"], { env: l.env });
      const seconds = (Date.now() - t0) / 1000;
      // The measured time goes to the report (the target is under 30 s; no timing assertion on shared CI).
      console.log(`lag 8, 2 clusters: apply took ${seconds.toFixed(1)} s`);
      expect(r.stderr).not.toMatch(/FAILED/);
      expect(r.code).toBe(0);
      // The lag did bite (403 on the service principal), and the waits were reported. The new service principal
      // is waited for until the list by appId shows it (chain soak C3), so the assignment then lands at once.
      const graphLog = l.entra.requestLog.filter((e) => e.api === "graph");
      expect(graphLog.filter((e) => e.method === "POST" && e.path === "/v1.0/servicePrincipals" && e.status === 403)).toHaveLength(8);
      expect(graphLog.filter((e) => e.method === "GET" && e.path === "/v1.0/servicePrincipals" && e.status === 200).length).toBeGreaterThanOrEqual(2);
      expect(graphLog.filter((e) => e.method === "POST" && e.path.endsWith("/appRoleAssignedTo")).map((e) => e.status)).toEqual([201]);
      expect(r.stderr).toMatch(/^waiting for Entra to show the new app: \d+ s$/m);
      expect(r.stderr).toMatch(/^waiting for Entra to show the new service principal: \d+ s$/m);
      expectConverged(l);
    } finally {
      await l.close();
    }
  }, 90_000);

  // Chain soak C3: run 1 converged under lag, but the service principal (by appId) or the group assignment it
  // created did not show in run 2's read yet, so run 2 POSTed it again (answered 409 / "already exists"): a
  // Graph write in a run that should change nothing. Run 1 now waits until its reads show them.
  const noGroups = config.replace(/^groups:\n.*\n/m, "").replace(/^  - \{ group: admins.*\n/m, "");
  it.each([
    ["service principal + group assignment", config],
    ["service principal alone (no mapped group)", noGroups],
  ])("lag 8: the run after a converging run sends 0 Graph writes (%s)", async (_what, text) => {
    const l = await lab(["pve1"], { consistencyDelay: 8 });
    try {
      l.write(text);
      const r = await homelab(["-f", l.file, "apply"], { env: l.env });
      expect(r.stderr).not.toMatch(/FAILED/);
      expect(r.code).toBe(0);
      expect(l.entra.requestLog.filter((e) => e.api === "graph" && e.method === "POST" && e.path === "/v1.0/servicePrincipals" && e.status === 201)).toHaveLength(1);
      l.entra.clearLog();
      const pveBefore = pveWrites(l).length;
      const again = await homelab(["-f", l.file, "apply", "--detailed-exitcode"], { env: l.env });
      expect(graphWrites(l).map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([]);
      expect(pveWrites(l)).toHaveLength(pveBefore);
      expect(again.stdout).toMatch(/^No changes\./);
      expect(again.code).toBe(0);
    } finally {
      await l.close();
    }
  }, 90_000);

  it("the wait is bounded per object (HOMELAB_ENTRA_WAIT_S), and says how to allow more", async () => {
    const l = await lab(["pve1"], { consistencyDelay: 1000 });
    try {
      l.write(config);
      const t0 = Date.now();
      const r = await homelab(["-f", l.file, "apply"], { env: { ...l.env, HOMELAB_ENTRA_WAIT_S: "2" } });
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^FAILED entra\.servicePrincipal\/contoso:azure: /m);
      expect(r.stdout).toMatch(/hint: Entra did not show the new app after \d+ retries \(replication lag\); run again, or allow a longer wait with HOMELAB_ENTRA_WAIT_S/);
      const bad = await homelab(["-f", l.file, "apply"], { env: { ...l.env, HOMELAB_ENTRA_WAIT_S: "soon" } });
      expect(bad.code).toBe(3);
      expect(bad.stderr).toMatch(/HOMELAB_ENTRA_WAIT_S is not a number of seconds: soon/);
    } finally {
      await l.close();
    }
  }, 60_000);

  it("HOMELAB_ENTRA_WAIT_S: seconds, default 120", () => {
    expect(waitBudgetMs({})).toBe(120_000);
    expect(waitBudgetMs({ HOMELAB_ENTRA_WAIT_S: "45" })).toBe(45_000);
    expect(waitBudgetMs({ HOMELAB_ENTRA_WAIT_S: "0.5" })).toBe(500);
    expect(() => waitBudgetMs({ HOMELAB_ENTRA_WAIT_S: "-1" })).toThrow(UserError);
  });
});

describe("failure 3: an interrupted run's service principal is adopted, and said so", () => {
  it("409 on creating the service principal: the next run reports `adopted`, not `created`", async () => {
    const l = await lab(["pve1"]);
    try {
      l.write(config);
      // An earlier run made the app, then the service principal, and was killed; the SP does not show in
      // the next run's read yet (replication lag), so that run plans to create it and gets 409.
      const first = await homelab(["-f", l.file, "apply", "--target", "entra.application/contoso:azure"], { env: l.env });
      expect(first.code).toBe(0);
      const app = homelabApps(l.entra)[0]!;
      const tokens = createTokenSource({ tenantId: l.entra.tenantId, loginUrl: l.entra.loginUrl, graphUrl: l.entra.graphUrl, credentials: { clientId: l.entra.automation.clientId, clientSecret: Secret.fromValue(l.entra.automation.clientSecret, "test") } });
      // consistency.attempts 0: the killed run never waited for its new service principal to show in lists.
      const graph = createGraphClient({ graphUrl: l.entra.graphUrl, tokens, tenant: "contoso", consistency: { attempts: 0 } });
      l.entra.setKnobs({ consistencyDelay: 2 });
      await graph.createServicePrincipal(app.appId, { ownerId: l.entra.automation.servicePrincipalId, tags: ["homelab", realmTag("azure")] });
      l.entra.setKnobs({ consistencyDelay: 0 });

      const r = await homelab(["-f", l.file, "apply"], { env: l.env });
      expect(r.stderr).not.toMatch(/FAILED/);
      expect(r.code).toBe(0);
      expect(l.entra.requestLog.filter((e) => e.method === "POST" && e.path === "/v1.0/servicePrincipals" && e.status === 409)).toHaveLength(1);
      expect(r.stderr).toMatch(/^adopted entra\.servicePrincipal\/contoso:azure$/m);
      expect(r.stderr).not.toMatch(/^created entra\.servicePrincipal\//m);
      // What the run did create is still reported as created.
      expect(r.stderr).toMatch(/^created entra\.secret\/contoso:azure:pve1$/m);
      expect((l.entra.state() as any).servicePrincipals.filter((s: any) => s.appId === app.appId)).toHaveLength(1);
      resetTokenSources();
    } finally {
      await l.close();
    }
  }, 60_000);
});

describe("failure 9: an app whose tag was removed is never doubled", () => {
  let l: Lab;
  let graph: GraphClient;
  beforeAll(async () => {
    l = await lab(["pve1", "pve2"]);
    l.write(config);
    const tokens = createTokenSource({ tenantId: l.entra.tenantId, loginUrl: l.entra.loginUrl, graphUrl: l.entra.graphUrl, credentials: { clientId: l.entra.automation.clientId, clientSecret: Secret.fromValue(l.entra.automation.clientSecret, "test") } });
    graph = createGraphClient({ graphUrl: l.entra.graphUrl, tokens, tenant: "contoso" });
  });
  afterAll(async () => {
    await l.close();
    resetTokenSources();
  });

  it("tags removed in the portal: plan and apply refuse (exit 3) before any write, naming the app and `homelab import --adopt`", async () => {
    expect((await homelab(["-f", l.file, "apply"], { env: l.env })).code).toBe(0);
    const app = homelabApps(l.entra)[0]!;
    await graph.updateApplication(app.id, { tags: [] });
    l.entra.clearLog();
    for (const s of l.pve.values()) s.clearLog();
    for (const args of [["plan"], ["apply"]]) {
      const r = await homelab(["-f", l.file, ...args], { env: l.env });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`realm azure has no app registration tagged homelab:realm=azure, but an untagged app registration looks like its app: "Proxmox VE" \\(client id ${app.appId}, redirect URI`));
      expect(r.stderr).toMatch(/hint: .*homelab import --tenant contoso .*--adopt/);
      expect(r.stdout).not.toContain("entra.application/contoso:azure");
    }
    expect(graphWrites(l)).toEqual([]);
    expect(pveWrites(l)).toEqual([]);
    // One bounded read for it: a single display-name query.
    expect(l.entra.requestLog.filter((e) => e.method === "GET" && e.path === "/v1.0/applications").length).toBe(4); // (tag + name) × 2 runs: the refusal comes before any late read (no policy read)
    expect((l.entra.state() as any).applications.filter((a: any) => a.displayName === "Proxmox VE")).toHaveLength(1);
  });

  it("tagged again, the run converges with the same app; a same-named app elsewhere, or another realm's, does not block", async () => {
    const app = (l.entra.state() as any).applications.find((a: any) => a.displayName === "Proxmox VE");
    await graph.updateApplication(app.id, { tags: ["homelab", realmTag("azure")] });
    // Same name, but its redirect URIs are not this realm's: not a look-alike.
    await graph.createApplication({ displayName: "Proxmox VE", web: { redirectUris: ["https://elsewhere.example:8006"] } }, l.entra.automation.servicePrincipalId);
    const r = await homelab(["-f", l.file, "apply", "--detailed-exitcode"], { env: l.env });
    expect(r.code).toBe(0);
    expect(homelabApps(l.entra).map((a) => a.id)).toEqual([app.id]);
    // Its tag changed to another realm's: the app still carries the realm's uniqueName (set at creation, immutable),
    // so the create finds it and takes it back (spec 3.4 upsert), reported as adopted: never a second app.
    await graph.updateApplication(app.id, { tags: ["homelab", realmTag("other")] });
    const b = await homelab(["-f", l.file, "apply"], { env: l.env });
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/^adopted entra\.application\/contoso:azure$/m);
    expect(homelabApps(l.entra).map((a) => [a.id, a.tags])).toEqual([[app.id, ["homelab", realmTag("azure")]]]);
    // A realm whose app is gone and whose name is shared only with an unrelated app: created.
    await graph.deleteApplication(app.id);
    const c = await homelab(["-f", l.file, "apply"], { env: l.env });
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/^created entra\.application\/contoso:azure$/m);
    expect(homelabApps(l.entra).map((a) => a.id)).not.toContain(app.id);
  });
});
