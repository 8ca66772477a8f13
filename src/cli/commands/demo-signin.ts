/**
 * The end of `homelab demo` (issue 11 part 3): people sign in to the Proxmox VE simulator with their account at the
 * Entra ID simulator, the way the Proxmox GUI signs them in (spec proxmox 4.6), and what they get is compared with
 * what the file gives them.
 *
 * For each tenant realm on each cluster: every user named in `access` whom the simulated directory holds, and for
 * each mapped Entra group one member the file does not name. Each sign-in is
 * `POST /access/openid/auth-url` (the node fetches the issuer's discovery document), the sign-in at the returned
 * authorization URL (the simulator's form post), `POST /access/openid/login` with the code and state the browser is
 * sent back with, then `GET /access/permissions?path=/` with the ticket Proxmox answered.
 *
 * Loaded by demo.ts only, after the simulators are running (it imports them).
 */
import type { DesiredCluster, DesiredRealm, DesiredState, EntraGroupId } from "../../core/desired.js";
import { BUILTIN_ROLES, realmOf } from "../../core/pve.js";
import { groupIdOf } from "../../providers/proxmox/common.js";
import { DEFAULT_USER_PASSWORD, signIn, type EntraFixture, type EntraFixtureUser, type EntraSim } from "../../sim/entra/index.js";
import { RawClient, type ProxmoxSim } from "../../sim/proxmox/index.js";

/** Who signs in, and why the demo picked them. */
interface Person {
  user: EntraFixtureUser;
  /** The mapped Entra group they were picked for (a member the file does not name), or undefined for a named user. */
  viaGroup?: string;
}

/** What the file says a person gets on a cluster: user id (when the claim tells), Proxmox groups, privileges on `/`. */
interface Expected {
  userid?: string;
  groups: string[];
  /** group id → the file's key, for display. */
  groupKeys: Map<string, string>;
  roles: string[];
  privs: Set<string>;
}

/** What the sign-in produced. */
interface Outcome {
  userid: string;
  groups: string[];
  privs: Set<string>;
}

export interface SignInReport {
  /** Lines for stdout (the demo prints them unless --json). */
  lines: string[];
  /** Lines for stderr: why a sign-in failed or differs. */
  problems: string[];
  /** People signed in (each pair of person and realm counted once). */
  people: string[];
  ok: boolean;
}

/**
 * Test hook, for test/integration/demo.test.ts only: `HOMELAB_TEST_DEMO_FAULT` breaks the chain after the second run,
 * so the test can see that a broken sign-in fails the demo. `unreachable-issuer`: the simulated nodes cannot reach
 * the Entra simulator; `acl-drift`: the first named user's ACL entry on `/` is removed, so their rights differ from
 * the file's.
 */
export const DEMO_FAULT_VARIABLE = "HOMELAB_TEST_DEMO_FAULT";

export async function applyDemoFault(fault: string | undefined, desired: DesiredState, pve: Map<string, ProxmoxSim>, entra: Map<string, EntraSim>): Promise<void> {
  if (fault === undefined || fault === "") return;
  if (fault === "unreachable-issuer") {
    const hosts = [...entra.values()].map((s) => new URL(s.loginUrl).host);
    for (const sim of pve.values()) sim.setOpenIdBlockedHosts(hosts);
    return;
  }
  if (fault === "acl-drift") {
    for (const c of desired.clusters) {
      const entry = c.acl.find((a) => a.type === "user" && a.path === "/");
      if (!entry) continue;
      const sim = pve.get(c.name)!;
      const admin = new RawClient(sim.url, sim.certPem, { token: sim.adminToken });
      try {
        await admin.put("/access/acl", { path: "/", users: String(entry.ugid), roles: entry.roleid, delete: 1 });
      } finally {
        admin.close();
      }
    }
    return;
  }
  throw new Error(`${DEMO_FAULT_VARIABLE}: unknown fault '${fault}' (unreachable-issuer, acl-drift)`);
}

export async function demoSignIns(desired: DesiredState, pve: Map<string, ProxmoxSim>, entra: Map<string, EntraSim>, directory: EntraFixture): Promise<SignInReport> {
  const report: SignInReport = { lines: [], problems: [], people: [], ok: true };
  for (const c of desired.clusters) {
    for (const r of c.realms.filter((x) => x.provisioned)) {
      const tenant = entra.get(r.provisioned!.tenant)!;
      const sim = pve.get(c.name)!;
      const people = pick(c, r, directory);
      report.lines.push(`4. Sign in to Proxmox VE ${c.name} through realm ${r.realm} with Entra ID accounts`);
      if (people.length === 0) {
        report.lines.push("   nobody to sign in: no user named in access and no member of a mapped group is in the simulated directory");
        continue;
      }
      for (const p of people) {
        const upn = p.user.userPrincipalName;
        const who = p.viaGroup ? `${upn} (in ${p.viaGroup}, not named in the file)` : upn;
        const expected = expectedFor(c, r, p.user, tenant, directory);
        let got: Outcome;
        try {
          got = await signInOnce(sim, c.url, r.realm, upn, p.user.password ?? DEFAULT_USER_PASSWORD);
        } catch (err) {
          report.ok = false;
          report.lines.push(`   ${who}: sign-in FAILED`);
          report.problems.push(`sign-in of ${upn} through realm ${r.realm} on ${c.name} failed: ${(err as Error).message}`);
          continue;
        }
        report.people.push(upn);
        const shownGroups = got.groups.map((g) => (expected.groupKeys.has(g) ? `${g} (${expected.groupKeys.get(g)})` : g)).join(", ") || "none";
        report.lines.push(`   ${who} → ${got.userid}; groups: ${shownGroups}; on /: ${describePrivs(got.privs, expected)}`);
        const diffs = compare(expected, got);
        if (diffs.length > 0) {
          report.ok = false;
          report.problems.push(`${upn} on ${c.name} does not match the file: ${diffs.join("; ")}`);
        }
      }
    }
  }
  const names = [...new Set(report.people)];
  const list = names.length <= 2 ? names.join(" and ") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  if (report.ok && names.length > 0) report.lines.push(`${names.length === 2 ? "Both sign-ins match" : names.length === 1 ? "The sign-in matches" : "All sign-ins match"} the file: ${list} got the user id, groups and privileges on / it gives them.`);
  else if (report.ok) report.lines.push("No sign-in was tried.");
  else {
    const failed = report.lines.filter((l) => l.endsWith(": sign-in FAILED")).length;
    const differ = report.problems.length - failed;
    const parts = [...(failed > 0 ? [`${failed} sign-in${failed === 1 ? "" : "s"} failed`] : []), ...(differ > 0 ? [`${differ} ${differ === 1 ? "person's" : "people's"} rights differ`] : [])];
    report.lines.push(`The sign-ins do NOT match the file: ${parts.join(", ")} (details on stderr).`);
  }
  return report;
}

/** Named users of the realm that the directory holds, then one unnamed member of each mapped Entra group. */
function pick(c: DesiredCluster, r: DesiredRealm, directory: EntraFixture): Person[] {
  const users = directory.users ?? [];
  const claim = claimOf(r);
  const named = new Set(c.acl.filter((a) => a.type === "user" && typeof a.ugid === "string" && realmOf(a.ugid) === r.realm).map((a) => String(a.ugid)));
  for (const u of c.users) if (realmOf(u.userid) === r.realm) named.add(u.userid);
  const out: Person[] = [];
  const isNamed = (u: EntraFixtureUser) => {
    const v = claimValue(claim, u);
    return v !== undefined && named.has(`${v}@${r.realm}`);
  };
  for (const u of users) if (isNamed(u)) out.push({ user: u });
  for (const g of mappedGroups(c, r)) {
    const members = directory.groups?.find((x) => x.displayName.toLowerCase() === g.displayName.toLowerCase())?.members ?? [];
    const other = users.find((u) => members.some((m) => m.toLowerCase() === u.userPrincipalName.toLowerCase()) && !isNamed(u) && !out.some((p) => p.user === u));
    if (other) out.push({ user: other, viaGroup: g.displayName });
  }
  return out;
}

function claimOf(r: DesiredRealm): string | undefined {
  const v = r.options["username-claim"];
  return typeof v === "string" ? v : undefined;
}

/** The claim value Entra ID puts in the token for the claims homelab can predict (upn, email, username). */
function claimValue(claim: string | undefined, u: EntraFixtureUser): string | undefined {
  if (claim === "upn" || claim === "username" || claim === "preferred_username") return u.userPrincipalName;
  if (claim === "email") return u.mail;
  return undefined;
}

/** The Entra groups mapped on this realm (groups with `entraGroup`). */
function mappedGroups(c: DesiredCluster, r: DesiredRealm): EntraGroupId[] {
  return c.groups.map((g) => g.groupid).filter((id): id is EntraGroupId => typeof id !== "string" && id.realm === r.realm);
}

function expectedFor(c: DesiredCluster, r: DesiredRealm, user: EntraFixtureUser, tenant: EntraSim, directory: EntraFixture): Expected {
  const v = claimValue(claimOf(r), user);
  const userid = v !== undefined ? `${v}@${r.realm}` : undefined;
  const objectIds = new Map((tenant.state().groups as { id: string; displayName: string }[]).map((g) => [g.displayName.toLowerCase(), g.id]));
  // The planners' own rule (`<objectid>-<realm>`, or `<value>-<realm>` with app roles), over the simulator's group ids.
  const objectIdsAsResolver = { groupId: (g: EntraGroupId) => { const oid = objectIds.get(g.displayName.toLowerCase()); return oid === undefined ? undefined : `${oid}-${g.realm}`; } };
  const idOf = (gid: string | EntraGroupId): string => groupIdOf(gid, objectIdsAsResolver) ?? `?-${typeof gid === "string" ? "" : gid.realm}`;
  const memberOf = (displayName: string) =>
    (directory.groups?.find((x) => x.displayName.toLowerCase() === displayName.toLowerCase())?.members ?? []).some((m) => m.toLowerCase() === user.userPrincipalName.toLowerCase());
  const groupKeys = new Map<string, string>();
  for (const g of c.groups) {
    const inIt = typeof g.groupid === "string" ? c.users.some((u) => u.userid === userid && u.groups.includes(g.key)) : g.groupid.realm === r.realm && memberOf(g.groupid.displayName);
    if (inIt) groupKeys.set(idOf(g.groupid), g.key);
  }
  const groups = [...groupKeys.keys()].sort();
  // Proxmox's rule at one path (PVE::AccessControl::roles): the user's own entries there replace their groups' entries.
  const atRoot = c.acl.filter((a) => a.path === "/");
  const own = atRoot.filter((a) => a.type === "user" && a.ugid === userid);
  const fromGroups = atRoot.filter((a) => a.type === "group" && groupKeys.has(idOf(a.ugid)));
  const roles = [...new Set((own.length > 0 ? own : fromGroups).map((a) => a.roleid))].sort();
  const privs = new Set(roles.flatMap((role) => c.roles.find((x) => x.roleid === role)?.privs ?? BUILTIN_ROLES[role] ?? []));
  return { ...(userid !== undefined ? { userid } : {}), groups, groupKeys, roles, privs };
}

/** The whole sign-in, as the Proxmox GUI does it, then the user's groups and privileges on `/`. Throws with the step that failed. */
async function signInOnce(sim: ProxmoxSim, redirectUrl: string, realm: string, username: string, password: string): Promise<Outcome> {
  const anon = new RawClient(sim.url, sim.certPem);
  const admin = anon.withAuth({ token: sim.adminToken });
  try {
    const start = await anon.post("/access/openid/auth-url", { realm, "redirect-url": redirectUrl });
    if (start.status !== 200 || typeof start.json?.data !== "string") throw new Error(`POST /access/openid/auth-url answered ${start.status}: ${messageOf(start.json, start.text)}`);
    const signed = await signIn({ authorizeUrl: start.json.data as string, username, password });
    if (!signed.ok) throw new Error(`Entra ID ${signed.shown === "page" ? "showed" : "sent back"} ${signed.aadsts !== undefined ? `AADSTS${signed.aadsts}: ` : ""}${signed.message.replace(/^AADSTS\d+: /, "")}`);
    const login = await anon.post("/access/openid/login", { code: signed.code, state: signed.state ?? "", "redirect-url": redirectUrl });
    if (login.status !== 200) {
      const reason = sim.syslog.filter((e) => e.message.startsWith("openid authentication failure")).at(-1)?.message.replace(/^.*msg=/, "").trim();
      throw new Error(`POST /access/openid/login answered ${login.status}: ${messageOf(login.json, login.text)}${reason ? ` (the node's log: ${reason})` : ""}`);
    }
    const data = login.json.data as { username: string; ticket: string; CSRFPreventionToken: string };
    const asUser = anon.withAuth({ ticket: data.ticket, csrf: data.CSRFPreventionToken });
    const perms = await asUser.get("/access/permissions", { path: "/" });
    if (perms.status !== 200) throw new Error(`GET /access/permissions with the ticket answered ${perms.status}: ${messageOf(perms.json, perms.text)}`);
    const user = await admin.get(`/access/users/${encodeURIComponent(data.username)}`);
    if (user.status !== 200) throw new Error(`GET /access/users/${data.username} answered ${user.status}: ${messageOf(user.json, user.text)}`);
    const atRoot = ((perms.json.data ?? {}) as Record<string, Record<string, number>>)["/"] ?? {};
    return { userid: data.username, groups: [...((user.json.data?.groups ?? []) as string[])].sort(), privs: new Set(Object.keys(atRoot)) };
  } finally {
    anon.close();
  }
}

function messageOf(json: unknown, text: string): string {
  const m = (json as { message?: unknown } | undefined)?.message;
  return (typeof m === "string" ? m : text).trim() || "(no message)";
}

function compare(want: Expected, got: Outcome): string[] {
  const out: string[] = [];
  if (want.userid !== undefined && got.userid !== want.userid) out.push(`user id ${got.userid}, the file names ${want.userid}`);
  const missingGroups = want.groups.filter((g) => !got.groups.includes(g));
  const extraGroups = got.groups.filter((g) => !want.groups.includes(g));
  if (missingGroups.length > 0) out.push(`not in group ${missingGroups.join(", ")}`);
  if (extraGroups.length > 0) out.push(`in group ${extraGroups.join(", ")}, which the file does not give`);
  const missing = [...want.privs].filter((p) => !got.privs.has(p)).sort();
  const extra = [...got.privs].filter((p) => !want.privs.has(p)).sort();
  if (missing.length > 0) out.push(`lacks ${missing.join(", ")} on / (${want.roles.join(" + ") || "no role"})`);
  if (extra.length > 0) out.push(`has ${extra.join(", ")} on /, more than ${want.roles.join(" + ") || "no role"} gives`);
  return out;
}

/** `all 42 privileges of Administrator`, or the count and the roles they should come from. */
function describePrivs(got: Set<string>, want: Expected): string {
  const roles = want.roles.join(" + ") || "no role";
  const same = got.size === want.privs.size && [...got].every((p) => want.privs.has(p));
  return same ? `${got.size} privileges, those of ${roles}` : `${got.size} privileges (the file's ${roles} gives ${want.privs.size})`;
}
