import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { GRAPH_APP_ID, GRAPH_APP_ROLES, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";
import { bin, homelab, simInfo } from "../helpers/cli.js";

/**
 * `homelab bootstrap` end to end: the built binary signs in with the device-code flow against the in-process Entra
 * simulator (Recipe A), creates the automation app, its service principal and the Graph permission grants, adds a
 * secret and proves it. Nothing is mocked; assertions are on the simulator's end state.
 */

const TAG = "homelab:automation";
const PERMISSIONS = ["AppRoleAssignment.ReadWrite.All", "Application.Read.All", "Application.ReadWrite.OwnedBy", "GroupMember.Read.All", "Policy.Read.All", "User.Read.All"];
const ADMIN = { displayName: "Ada Admin", userPrincipalName: "ada@homelabsim.onmicrosoft.com" };

type Json = Record<string, any>;

describe("homelab bootstrap against the Entra simulator", () => {
  let sim: EntraSim;
  let dir: string;
  let file: string;
  const run = (...args: string[]) => homelab(["-f", file, "bootstrap", "--tenant", "lab", ...args]);
  const automationApps = () => (sim.state().applications as Json[]).filter((a) => (a.tags ?? []).includes(TAG));
  const adminId = () => String((sim.state().users as Json[]).find((u) => u.userPrincipalName === ADMIN.userPrincipalName)!.id);
  const grantsOf = (spId: string): string[] => {
    const graphSp = (sim.state().servicePrincipals as Json[]).find((s) => s.appId === GRAPH_APP_ID)!;
    const names = Object.fromEntries(Object.entries(GRAPH_APP_ROLES).map(([n, id]) => [id, n]));
    return (sim.state().appRoleAssignments as Json[])
      .filter((a) => a.principalId === spId && a.resourceId === graphSp.id)
      .map((a) => names[a.appRoleId as string]!)
      .sort();
  };

  beforeAll(async () => {
    sim = await startEntraSim({ fixture: { users: [ADMIN] }, deviceUser: ADMIN.userPrincipalName, devicePendingPolls: 1, devicePollInterval: 1 });
    dir = mkdtempSync(join(tmpdir(), "homelab-bootstrap-"));
    file = join(dir, "homelab.yaml");
    // The placeholder client id is what a user writes before the automation app exists.
    writeFileSync(
      file,
      `version: 1
tenants:
  lab:
    tenantId: ${sim.tenantId}
    cloud: { loginUrl: ${sim.loginUrl}, graphUrl: ${sim.graphUrl} }
    credentials:
      clientId: 00000000-0000-0000-0000-000000000000
      clientSecret: \${env:LAB_AUTOMATION_SECRET}
`,
    );
  });
  afterAll(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let first: { clientId: string; secret: string; spId: string };

  it("without --secret-out, --yes or a terminal it refuses up front: no sign-in, nothing created, no secret anywhere", async () => {
    const before = sim.state();
    sim.clearLog();
    const r = await run();
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/refusing to print the new client secret/);
    expect(r.stderr).toMatch(/hint: use --secret-out FILE/);
    expect(r.stdout).toBe("");
    expect(sim.requestLog).toEqual([]);
    expect(sim.state()).toEqual(before);
  });

  it("creates the app, its service principal and the Graph grants, and writes a working secret to --secret-out (0600)", async () => {
    const out = join(dir, "first.secret");
    const r = await run("--secret-out", out);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    // The sign-in instructions go to stderr while msal polls.
    expect(r.stderr).toMatch(/open https:\/\/microsoft\.com\/devicelogin in a browser and enter the code [A-Z0-9]{9}/);
    expect(r.stderr).toMatch(/Signed in as ada@homelabsim\.onmicrosoft\.com/);

    const apps = automationApps();
    expect(apps).toHaveLength(1);
    const app = apps[0]!;
    expect(app).toMatchObject({ signInAudience: "AzureADMyOrg", tags: [TAG] });
    expect(app.passwordCredentials).toHaveLength(1);
    expect(sim.state().owners[app.id]).toEqual([adminId()]);
    // Configured permissions (portal view) list every granted role.
    expect(app.requiredResourceAccess).toEqual([
      { resourceAppId: GRAPH_APP_ID, resourceAccess: expect.arrayContaining(PERMISSIONS.map((p) => ({ id: GRAPH_APP_ROLES[p], type: "Role" }))) },
    ]);

    const sp = (sim.state().servicePrincipals as Json[]).find((s) => s.appId === app.appId);
    expect(sp).toBeDefined();
    expect(grantsOf(sp!.id)).toEqual(PERMISSIONS);

    const secret = readFileSync(out, "utf8").trim();
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(sim.checkClientSecret(app.appId, secret)).toBe(true);
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);

    // The config snippet and storage instructions.
    expect(r.stdout).toContain(`  tenant id:   ${sim.tenantId}`);
    expect(r.stdout).toContain(`  client id:   ${app.appId}`);
    expect(r.stdout).toContain(`    credentials:\n      clientId: ${app.appId}\n      clientSecret: \${env:LAB_AUTOMATION_SECRET}\n`);
    expect(r.stdout).toContain(`export LAB_AUTOMATION_SECRET="$(cat '${out}')"`);
    first = { clientId: app.appId, secret, spId: sp!.id };
  });

  it("refuses to overwrite an existing --secret-out file, before signing in", async () => {
    const out = join(dir, "first.secret");
    sim.clearLog();
    const r = await run("--secret-out", out);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/already exists; bootstrap never overwrites a file/);
    expect(readFileSync(out, "utf8").trim()).toBe(first.secret);
    expect(sim.requestLog).toEqual([]);
  });

  it("refuses a --secret-out that is a dangling symlink, before signing in: nothing is created, the link is left alone (issue 10 item 7)", async () => {
    const out = join(dir, "dangling.secret");
    const target = join(dir, "nowhere", "secret");
    symlinkSync(target, out);
    const before = automationApps()[0]!.passwordCredentials.length;
    sim.clearLog();
    const r = await run("--secret-out", out);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error --secret-out ${out} already exists as a symbolic link (to ${target}); bootstrap never overwrites a file nor follows a link`);
    expect(sim.requestLog).toEqual([]);
    expect(automationApps()[0]!.passwordCredentials).toHaveLength(before);
    expect(lstatSync(out).isSymbolicLink()).toBe(true);
    expect(existsSync(target)).toBe(false);
  });

  it("a failed sign-in leaves no empty --secret-out file behind", async () => {
    const out = join(dir, "never.secret");
    const bad = join(dir, "bad-login.yaml");
    writeFileSync(bad, labConfig(sim.tenantId, "http://127.0.0.1:1", sim.graphUrl));
    const r = await homelab(["-f", bad, "bootstrap", "--tenant", "lab", "--secret-out", out]);
    expect(r.code).not.toBe(0);
    expect(existsSync(out)).toBe(false);
  });

  it("a second bootstrap reuses the tagged app: no second app or service principal, grants repaired, one more secret", async () => {
    // Drift: someone revoked one grant by hand.
    const revoked = (sim.state().appRoleAssignments as Json[]).find((a) => a.principalId === first.spId && a.appRoleId === GRAPH_APP_ROLES["GroupMember.Read.All"]);
    expect(revoked).toBeDefined();
    // Remove it through Graph as an admin would (the simulator's own automation app holds AppRoleAssignment.ReadWrite.All).
    const tok = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: "https://graph.microsoft.com/.default" }),
    }).then((r) => r.json() as Promise<Json>);
    const del = await fetch(`${sim.graphUrl}/v1.0/servicePrincipals/${first.spId}/appRoleAssignments/${revoked!.id}`, { method: "DELETE", headers: { authorization: `Bearer ${tok.access_token}` } });
    expect(del.status).toBe(204);
    expect(grantsOf(first.spId)).not.toContain("GroupMember.Read.All");

    const out = join(dir, "second.secret");
    const r = await run("--secret-out", out);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/already exists: homelab automation \(client id [0-9a-f-]{36}\); a new client secret will be added/);
    expect(r.stdout).toMatch(/^Updated the automation app of tenant lab\./);

    const apps = automationApps();
    expect(apps).toHaveLength(1);
    expect(apps[0]!.appId).toBe(first.clientId);
    expect(apps[0]!.passwordCredentials).toHaveLength(2);
    expect((sim.state().servicePrincipals as Json[]).filter((s) => s.appId === first.clientId)).toHaveLength(1);
    expect(grantsOf(first.spId)).toEqual(PERMISSIONS);

    const second = readFileSync(out, "utf8").trim();
    expect(second).not.toBe(first.secret);
    expect(sim.checkClientSecret(first.clientId, second)).toBe(true);
    // The earlier secret is left alone (it may still be in use).
    expect(sim.checkClientSecret(first.clientId, first.secret)).toBe(true);
  });

  it("--json --secret-out: one JSON object, without the secret", async () => {
    const out = join(dir, "json.secret");
    const r = await run("--json", "--secret-out", out, "--lifetime-days", "30");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as Json;
    expect(j).toMatchObject({ tenant: "lab", tenantId: sim.tenantId, clientId: first.clientId, secretFile: out });
    expect(j.permissions.slice().sort()).toEqual(PERMISSIONS);
    expect(j).not.toHaveProperty("clientSecret");
    expect(j.secret.verified).toBe(true);
    // --lifetime-days 30
    const days = (Date.parse(j.secret.endDateTime) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThan(31);
    const secret = readFileSync(out, "utf8").trim();
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);
    expect(sim.checkClientSecret(first.clientId, secret)).toBe(true);
  });

  it("--json --yes: the JSON object carries the working secret as clientSecret; stderr never does", async () => {
    const r = await run("--json", "--yes");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Json;
    expect(j).toMatchObject({ tenantId: sim.tenantId, clientId: first.clientId });
    expect(j).not.toHaveProperty("secretFile");
    expect(typeof j.clientSecret).toBe("string");
    expect(sim.checkClientSecret(first.clientId, j.clientSecret)).toBe(true);
    expect(r.stderr).not.toContain(j.clientSecret);
  });

  it("--yes prints the secret once, on stdout, after the snippet", async () => {
    const before = automationApps()[0]!.passwordCredentials.length;
    const r = await run("--yes");
    expect(r.code).toBe(0);
    const m = /shown once.*\n {2}(\S+)\n/.exec(r.stdout);
    expect(m).not.toBeNull();
    const secret = m![1]!;
    expect(sim.checkClientSecret(first.clientId, secret)).toBe(true);
    expect(r.stdout.split(secret)).toHaveLength(2);
    expect(r.stderr).not.toContain(secret);
    expect(automationApps()[0]!.passwordCredentials).toHaveLength(before + 1);
  });

  it("waits until Entra accepts a brand-new secret (AADSTS7000215 for a while, spec 6 step 2)", async () => {
    sim.setKnobs({ secretActivationDelay: 1 });
    try {
      const out = join(dir, "delayed.secret");
      const r = await homelab(["-f", file, "--debug", "bootstrap", "--tenant", "lab", "--secret-out", out]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/retry POST \/[0-9a-f-]+\/oauth2\/v2\.0\/token \(not-visible, HTTP 401\)/);
      const secret = readFileSync(out, "utf8").trim();
      expect(sim.checkClientSecret(first.clientId, secret)).toBe(true);
      expect(r.stderr).not.toContain(secret);
      expect(r.stdout).not.toContain(secret);
    } finally {
      sim.setKnobs({ secretActivationDelay: 0 });
    }
  });

  it("--tenant is required and must name a tenant of the config", async () => {
    const none = await homelab(["-f", file, "bootstrap", "--yes"]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/bootstrap needs --tenant NAME/);
    const unknown = await homelab(["-f", file, "bootstrap", "--tenant", "nope", "--yes"]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/tenant `nope` is not in/);
    expect(unknown.stderr).toMatch(/hint: tenants in the config: lab/);
    expect(existsSync(join(dir, "nope"))).toBe(false);
  });
});

/** A config whose tenant `lab` signs in at `loginUrl` (graph at `graphUrl`), with the placeholder client id. */
function labConfig(tenantId: string, loginUrl: string, graphUrl: string): string {
  return `version: 1
tenants:
  lab:
    tenantId: ${tenantId}
    cloud: { loginUrl: ${loginUrl}, graphUrl: ${graphUrl} }
    credentials:
      clientId: 00000000-0000-0000-0000-000000000000
      clientSecret: \${env:LAB_AUTOMATION_SECRET}
`;
}

describe("homelab bootstrap: a refused device-code request (issue 9 failure 8)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "homelab-bootstrap-refused-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const bootstrap = (tenantId: string, loginUrl: string, graphUrl: string) => {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, labConfig(tenantId, loginUrl, graphUrl));
    return homelab(["-f", file, "bootstrap", "--tenant", "lab", "--secret-out", join(dir, "never.secret")]);
  };
  /** The sign-in stopped at the device-code request: nothing shown as a code, no poll, nothing created. */
  const stoppedEarly = (requests: string[], r: { stderr: string; stdout: string }) => {
    expect(r.stderr).not.toMatch(/undefined|NaN/);
    expect(r.stderr).not.toMatch(/in a browser and enter the code|Waiting for the sign-in/);
    expect(requests).toEqual([expect.stringMatching(/^POST \/[0-9a-f-]+\/oauth2\/v2\.0\/devicecode (401|404)$/)]);
    expect(r.stdout).toBe("");
    expect(existsSync(join(dir, "never.secret"))).toBe(false);
  };

  it("a login URL where nothing answers the device-code request (404): exit 4, the status and a hint about loginUrl", async () => {
    // Something that is not a login service (a web server, Graph itself) at the configured login URL.
    const seen: string[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        seen.push(`${req.method} ${req.url!.replace(/\?.*$/, "")} 404`);
        res.writeHead(404, { "content-type": "text/html" }).end("<h1>Not Found</h1>");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await bootstrap("5e1f0c3a-7d2b-4c8e-9a6f-0b1d2c3e4f50", base, base);
      expect(r.code).toBe(4);
      stoppedEarly(seen, r);
      expect(r.stderr).toMatch(/^error the device-code request was refused: the identity endpoint answered with a non-JSON body \(HTTP 404\)$/m);
      expect(r.stderr).toContain(`hint: nothing at ${base}/5e1f0c3a-7d2b-4c8e-9a6f-0b1d2c3e4f50/oauth2/v2.0/devicecode answers a device-code sign-in: check tenants.*.cloud.loginUrl`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("a tenant that refuses public client flows (AADSTS7000218): exit 4, the AADSTS code and what to allow", async () => {
    const sim = await startEntraSim({ fixture: { users: [ADMIN] }, publicClientFlows: false });
    try {
      const r = await bootstrap(sim.tenantId, sim.loginUrl, sim.graphUrl);
      expect(r.code).toBe(4);
      stoppedEarly(sim.requestLog.map((e) => `${e.method} ${e.path} ${e.status}`), r);
      expect(r.stderr).toMatch(/^error the device-code request was refused: AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'\. \(HTTP 401 invalid_client\)$/m);
      expect(r.stderr).toMatch(/hint: the tenant does not let the sign-in client 14d82eec-204b-4c2f-b7e8-296a70dab67e \(Microsoft Graph Command Line Tools\) use public client flows/);
      expect(sim.state().applications).toHaveLength(1); // only the simulator's own automation app
    } finally {
      await sim.close();
    }
  });
});

describe("homelab bootstrap: a refused poll keeps its AADSTS code", () => {
  it("the code expires before anyone signs in: exit 4, AADSTS70020 expired_token and what to do", async () => {
    const sim = await startEntraSim({ fixture: { users: [ADMIN] }, devicePendingPolls: 1000, devicePollInterval: 1 });
    const dir = mkdtempSync(join(tmpdir(), "homelab-bootstrap-expired-"));
    try {
      const file = join(dir, "homelab.yaml");
      writeFileSync(file, labConfig(sim.tenantId, sim.loginUrl, sim.graphUrl));
      const running = homelab(["-f", file, "bootstrap", "--tenant", "lab", "--secret-out", join(dir, "never.secret")]);
      // Once the code is out and polled for, the simulator's clock passes its 15 minutes.
      const deadline = Date.now() + 20_000;
      while (!sim.requestLog.some((e) => e.path.endsWith("/token")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      sim.setClock(() => new Date(Date.now() + 16 * 60_000));
      const r = await running;
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^error the device-code sign-in failed: AADSTS70020: The provided value for the input parameter 'device_code' is not valid\. This device code has expired\. \(HTTP 400 expired_token\)$/m);
      expect(r.stderr).toMatch(/hint: the code expired before anyone signed in; run bootstrap again/);
      expect(existsSync(join(dir, "never.secret"))).toBe(false);
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("homelab bootstrap against `homelab sim` (issue 9 failure 8)", () => {
  it("signs in as the simulated admin, creates the automation app and a secret that Entra accepts", async () => {
    const child = spawn(process.execPath, [bin, "sim"], { stdio: ["ignore", "pipe", "pipe"] });
    const dir = mkdtempSync(join(tmpdir(), "homelab-bootstrap-sim-"));
    try {
      const info = await simInfo(child);
      const file = join(dir, "homelab.yaml");
      writeFileSync(file, labConfig(info.entra.tenantId, info.entra.loginUrl, info.entra.graphUrl));
      const out = join(dir, "automation.secret");
      const r = await homelab(["-f", file, "bootstrap", "--tenant", "lab", "--secret-out", out]);
      expect(r.stderr).not.toMatch(/error|undefined/);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^Signed in as admin@homelabsim\.onmicrosoft\.com to tenant lab/m);
      const clientId = /^ {2}client id: {3}([0-9a-f-]{36})$/m.exec(r.stdout)?.[1];
      expect(clientId).toBeDefined();
      expect(clientId).not.toBe(info.entra.clientId);
      // The new credentials work at the served token endpoint, with the permissions bootstrap granted.
      const secret = readFileSync(out, "utf8").trim();
      const tok = await fetch(`${info.entra.loginUrl}/${info.entra.tenantId}/oauth2/v2.0/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId!, client_secret: secret, scope: "https://graph.microsoft.com/.default" }),
      });
      expect(tok.status).toBe(200);
      const { access_token } = (await tok.json()) as { access_token: string };
      const apps = await fetch(`${info.entra.graphUrl}/v1.0/applications?$filter=tags/any(t:t eq 'homelab:automation')`, { headers: { authorization: `Bearer ${access_token}` } });
      expect(apps.status).toBe(200);
      expect(((await apps.json()) as { value: { appId: string }[] }).value.map((a) => a.appId)).toEqual([clientId]);
    } finally {
      await new Promise<void>((resolve) => {
        child.on("close", () => resolve());
        child.kill("SIGTERM");
      });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("homelab bootstrap: the secret cannot be written after it was added (issue 10 item 7)", () => {
  it("removes the secret from the app again and says so; no file is left", async () => {
    const sim = await startEntraSim({ fixture: { users: [ADMIN] }, deviceUser: ADMIN.userPrincipalName, devicePendingPolls: 1, devicePollInterval: 1 });
    const dir = mkdtempSync(join(tmpdir(), "homelab-bootstrap-full-"));
    // The disk fills up between the sign-in and the write: every write to a file (not stdout/stderr) fails ENOSPC.
    vi.resetModules();
    vi.doMock("node:fs", async (importOriginal) => {
      const fs = await importOriginal<typeof import("node:fs")>();
      const writeSync = ((fd: number, ...rest: unknown[]) => {
        if (fd > 2) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        return (fs.writeSync as (...a: unknown[]) => number)(fd, ...rest);
      }) as typeof fs.writeSync;
      return { ...fs, writeSync, default: { ...fs, writeSync } };
    });
    try {
      const { bootstrapCommand } = await import("../../src/cli/commands/bootstrap.js");
      const file = join(dir, "homelab.yaml");
      writeFileSync(file, labConfig(sim.tenantId, sim.loginUrl, sim.graphUrl));
      const out = join(dir, "automation.secret");
      const lines: string[] = [];
      const io = { out: (l: string) => void lines.push(l), err: (l: string) => void lines.push(l), color: false, debug: false };
      const err = await bootstrapCommand(io, { file, tenant: "lab", json: false, yes: false, secretOut: out }).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string; hint?: string },
      );
      expect(err).toBeDefined();
      expect(err!.code).toBe("E_SECRET_OUT");
      expect(err!.message).toMatch(new RegExp(`^could not write the new client secret to ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(ENOSPC\\); it was removed from homelab automation again \\(key id [0-9a-f-]{36}\\), so no secret is left that nobody holds$`));
      // The app was created (the next bootstrap finds it), but holds no secret; no file with nothing in it is left.
      const apps = (sim.state().applications as Json[]).filter((a) => (a.tags ?? []).includes(TAG));
      expect(apps).toHaveLength(1);
      expect(apps[0]!.passwordCredentials).toEqual([]);
      expect(sim.requestLog.some((e) => e.method === "POST" && /\/removePassword$/.test(e.path) && e.status < 300)).toBe(true);
      expect(existsSync(out)).toBe(false);
    } finally {
      vi.doUnmock("node:fs");
      vi.resetModules();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
