import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_USER_PASSWORD, signIn } from "../../src/sim/entra/index.js";
import { RawClient } from "../../src/sim/proxmox/index.js";
import { homelab } from "../helpers/cli.js";
import { expectNoop, lab, type Lab } from "../helpers/lab.js";

/**
 * Issue 13, the whole story against both simulators with the built CLI: `members: sync` creates a member's
 * Proxmox user before their first sign-in and puts it in the mapped group; the member signs in and makes an API
 * token; removed from the Entra group, the next run removes the membership; disabled in Entra, the next run
 * (`leavers: disable`) disables the user and deletes the token, which stops authenticating. Each second run is a
 * no-op.
 */

const CONFIG = `realms:
  azure:
    tenant: contoso
    app: { displayName: Proxmox VE }
    usernameClaim: upn
    autocreate: true
    leavers: disable
groups:
  admins: { realm: azure, entraGroup: Proxmox Admins, members: sync }
access:
  - { group: admins, role: PVEAuditor, path: / }
`;

const CAROL = "carol@contoso.com";
const DAVE = "dave@contoso.com";

describe("members: sync and leavers: disable, end to end", () => {
  let l: Lab;
  let raw: RawClient;
  let gid: string;
  let token: { id: string; secret: string };
  const run = (args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });
  const pve = () => l.pve.get("pve1")!;
  const user = (id: string) => pve().state().users!.find((u) => u.userid === id) as Record<string, any> | undefined;
  /** A no-op run: exit 0, "No changes", not one write on either side. */
  const noop = () => expectNoop(l);
  type Row = { id: string; realm: string; cluster?: string; ok: boolean; warning?: boolean; detail: string };
  const verifyRow = async (id: string) => {
    const r = await run(["verify", "--json"]);
    const rows = (JSON.parse(r.stdout) as { checks: Row[] }).checks;
    return { code: r.code, row: rows.find((c) => c.id === id && c.realm === "azure" && c.cluster === "pve1") };
  };
  const works = async (t: { id: string; secret: string }) => {
    const r = await raw.withAuth({ token: t }).get("/access/permissions");
    expect([200, 401]).toContain(r.status);
    return r.status === 200;
  };

  beforeAll(async () => {
    l = await lab(["pve1"]);
    l.write(CONFIG);
    raw = new RawClient(pve().url, pve().certPem);
  });
  afterAll(async () => {
    raw.close();
    await l.close();
  });

  it("the first run creates the group with the Entra members it already has (jane), before any sign-in", async () => {
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const admins = (l.entra.state() as any).groups.find((g: any) => g.displayName === "Proxmox Admins");
    gid = `${admins.id}-azure`;
    expect(user("jane@contoso.com@azure")?.groups).toEqual([gid]);
    // bob is not a member: no user.
    expect(user("bob@contoso.com@azure")).toBeUndefined();
    await noop();
  });

  it("a member added in Entra (directly, and through a nested group) gets a user in the group at the next run, with names and email from Graph", async () => {
    l.entra.directory.addUser({ displayName: "Carol Chen", userPrincipalName: CAROL, mail: CAROL, givenName: "Carol", surname: "Chen" });
    l.entra.directory.addUser({ displayName: "Dave Doe", userPrincipalName: DAVE, givenName: "Dave" });
    l.entra.directory.addMember("Proxmox Admins", CAROL);
    l.entra.directory.addGroup({ displayName: "Night Shift" });
    l.entra.directory.addMember("Night Shift", DAVE);
    l.entra.directory.addMember("Proxmox Admins", "Night Shift");

    // verify sees the drift before the run: the new members are not in the Proxmox group yet.
    const before = await verifyRow("members");
    expect(before.row).toMatchObject({ ok: false });
    expect(before.row!.detail).toMatch(/"Proxmox Admins": 2 members not in /);
    expect(before.code).not.toBe(0);

    const plan = await run(["plan"]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`+ proxmox.user/pve1:${CAROL}@azure`);
    expect(plan.stdout).toContain(`+ proxmox.user/pve1:${DAVE}@azure`);
    // Each membership change names the Entra group.
    expect(plan.stdout).toContain('member of Entra group "Proxmox Admins" (members: sync)');

    l.entra.clearLog();
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(user(`${CAROL}@azure`)).toMatchObject({ groups: [gid], email: CAROL, firstname: "Carol", lastname: "Chen" });
    expect(user(`${DAVE}@azure`)).toMatchObject({ groups: [gid], firstname: "Dave" });
    expect(user(`${DAVE}@azure`)!.email).toBeUndefined();
    // Reads: one paged members read of the group, one of the directory; no per-user request.
    const gets = l.entra.requestLog.filter((x) => x.api === "graph" && x.method === "GET").map((x) => x.path);
    expect(gets.filter((p) => p.includes("/transitiveMembers/microsoft.graph.user"))).toHaveLength(1);
    expect(gets.filter((p) => p.replace(/\?.*/, "") === "/v1.0/users")).toHaveLength(1);
    expect(gets.filter((p) => /^\/v1\.0\/users\/./.test(p))).toEqual([]);
    await noop();
    expect((await verifyRow("members")).row).toMatchObject({ ok: true, detail: "1 synced group match Entra ID (3 members)" });
  });

  it("the member signs in through Entra and creates an API token", async () => {
    const url = await raw.post("/access/openid/auth-url", { realm: "azure", "redirect-url": pve().url });
    expect(url.status, url.text).toBe(200);
    const signed = await signIn({ authorizeUrl: url.json.data, username: CAROL, password: DEFAULT_USER_PASSWORD });
    expect(signed.ok).toBe(true);
    const back = await raw.post("/access/openid/login", { state: signed.state!, code: signed.code, "redirect-url": pve().url });
    expect(back.status, back.text).toBe(200);
    expect(back.json.data.username).toBe(`${CAROL}@azure`);
    const carol = raw.withAuth({ ticket: back.json.data.ticket, csrf: back.json.data.CSRFPreventionToken });
    const made = await carol.post(`/access/users/${CAROL}@azure/token/laptop`, { privsep: 0 });
    expect(made.status, made.text).toBe(200);
    token = { id: `${CAROL}@azure!laptop`, secret: made.json.data.value };
    expect(await works(token)).toBe(true);
    // The login's groups claim agrees with the sync: still exactly the mapped group, and nothing to do.
    expect(user(`${CAROL}@azure`)!.groups).toEqual([gid]);
    await noop();
  });

  it("removed from the Entra group: the next run removes the Proxmox membership (the plan names the group)", async () => {
    l.entra.directory.removeMember("Proxmox Admins", CAROL);
    const plan = await run(["plan"]);
    expect(plan.stdout).toContain(`~ proxmox.user/pve1:${CAROL}@azure`);
    expect(plan.stdout).toContain('no longer a member of Entra group "Proxmox Admins" (members: sync)');
    expect(plan.stdout).toMatch(/Plan: 0 to create, 1 to update, 0 to replace, 0 to delete/);
    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(user(`${CAROL}@azure`)!.groups).toEqual([]);
    // Still enabled in Entra: not a leaver, the token still works.
    expect(user(`${CAROL}@azure`)!.enable).not.toBe(0);
    expect(await works(token)).toBe(true);
    await noop();
  });

  it("disabled in Entra: the plan lists the leaver with the token; the run disables the user and deletes the token, which stops authenticating", async () => {
    l.entra.directory.setAccountEnabled(CAROL, false);
    expect(await works(token)).toBe(true); // Proxmox never hears of Entra by itself

    const v = await verifyRow("leavers");
    expect(v.row).toMatchObject({ ok: false });
    expect(v.row!.detail).toBe(`1 leaver can still get in: ${CAROL}@azure (disabled in Entra; enabled, tokens: laptop)`);

    const plan = await run(["plan"]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toMatch(new RegExp(`warning: leaver ${CAROL}@azure on pve1: Entra account disabled; enabled in Proxmox; API tokens: laptop;`));
    expect(plan.stdout).toContain(`~ proxmox.user/pve1:${CAROL}@azure`);
    expect(plan.stdout).toMatch(/enable: +true → false/);
    expect(plan.stdout).toMatch(/tokens: +\["laptop"\] → \[\]/);

    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(user(`${CAROL}@azure`)!.enable).toBe(0);
    expect(user(`${CAROL}@azure`)!.tokens ?? []).toEqual([]);
    expect(await works(token)).toBe(false);
    // Re-enabled by hand in Proxmox, the token stays dead: it was deleted, not just suspended.
    const admin = raw.withAuth({ token: pve().adminToken });
    expect((await admin.put(`/access/users/${CAROL}@azure`, { enable: 1 })).status).toBe(200);
    expect(await works(token)).toBe(false);
    expect((await admin.put(`/access/users/${CAROL}@azure`, { enable: 0 })).status).toBe(200);

    expect((await verifyRow("leavers")).row).toMatchObject({ ok: true, detail: "1 leaver, all disabled and without API tokens" });
    // Still listed (the plan always lists leavers), with nothing left to do.
    const again = await noop();
    expect(again.stderr).toContain(`leaver ${CAROL}@azure on pve1: Entra account disabled; disabled in Proxmox; no API tokens`);
  });

  it("others are untouched: jane and dave stay enabled in the group; root@pam and homelab's token user are never leavers", async () => {
    expect(user("jane@contoso.com@azure")).toMatchObject({ groups: [gid] });
    expect(user("jane@contoso.com@azure")!.enable).not.toBe(0);
    expect(user(`${DAVE}@azure`)!.enable).not.toBe(0);
    expect(user("root@pam")!.enable).not.toBe(0);
  });
});

describe("leavers: delete, end to end: an account deleted in Entra", () => {
  let l: Lab;
  let raw: RawClient;
  const run = (args: string[]) => homelab(["-f", l.file, ...args], { env: l.env });
  const pve = () => l.pve.get("pve1")!;
  const user = (id: string) => pve().state().users!.find((u) => u.userid === id) as Record<string, any> | undefined;
  const works = async (t: { id: string; secret: string }) => (await raw.withAuth({ token: t }).get("/access/permissions")).status === 200;

  beforeAll(async () => {
    l = await lab(["pve1"]);
    l.write(CONFIG.replace("leavers: disable", "leavers: delete"));
    raw = new RawClient(pve().url, pve().certPem);
  });
  afterAll(async () => {
    raw.close();
    await l.close();
  });

  it("the user goes with its ACL entries and API token; the next run is a no-op; nobody else is touched", async () => {
    l.entra.directory.addUser({ displayName: "Carol Chen", userPrincipalName: CAROL, mail: CAROL });
    l.entra.directory.addMember("Proxmox Admins", CAROL);
    expect((await run(["apply"])).code).toBe(0);
    expect(user(`${CAROL}@azure`)).toBeDefined();
    // Given rights and a token by hand in Proxmox, outside the file.
    const admin = raw.withAuth({ token: pve().adminToken });
    expect((await admin.put("/access/acl", { path: "/vms", roles: "PVEVMUser", users: `${CAROL}@azure` })).status).toBe(200);
    const made = await admin.post(`/access/users/${CAROL}@azure/token/ci`, { privsep: 0 });
    expect(made.status, made.text).toBe(200);
    const token = { id: `${CAROL}@azure!ci`, secret: made.json.data.value as string };
    expect(await works(token)).toBe(true);

    l.entra.directory.deleteUser(CAROL);
    const plan = await run(["plan"]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toMatch(new RegExp(`warning: leaver ${CAROL}@azure on pve1: no Entra account any more; enabled in Proxmox; API tokens: ci; ACL entries: /vms PVEVMUser;`));
    expect(plan.stdout).toContain(`- proxmox.user/pve1:${CAROL}@azure`);

    const r = await run(["apply"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(user(`${CAROL}@azure`)).toBeUndefined();
    expect((pve().state().acl ?? []).filter((e: any) => e.ugid === `${CAROL}@azure`)).toEqual([]);
    expect(await works(token)).toBe(false);
    expect(user("jane@contoso.com@azure")).toBeDefined();
    expect(user("root@pam")).toBeDefined();

    await expectNoop(l);
  });
});
