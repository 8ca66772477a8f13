/**
 * Generators of the Proxmox property test (issue 8, "A generated-config test"): from one seed, a random but
 * valid homelab config, a random pre-existing cluster state (overlapping, conflicting and unmanaged
 * objects) and, later, random drift as a person in the web UI would make it.
 *
 * Everything is plain data and a pure function of the seed, so a failing case is reproduced by its seed
 * alone. Values homelab may legitimately refuse at `validate` or plan time (issue 8 items 3-6) are drawn
 * rarely and recorded as taints: the test accepts a located refusal of exactly those fields (exit 3,
 * nothing written) or a run that converges to what Proxmox stores; anything else is a failure.
 */
import { dotted } from "../../src/config/schema.js";
import { mulberry32, type Rng } from "../../src/sim/rng.js";
import { BUILTIN_ROLES, PRIVILEGES, type FixtureAcl, type FixtureRealm, type FixtureToken, type FixtureUser, type ProxmoxFixture } from "../../src/sim/proxmox/index.js";

// --- the config, as the YAML file says it ---------------------------------------------------------

export interface GenRealm {
  type?: "pam" | "pve";
  issuerUrl?: string;
  clientId?: string;
  clientKey?: string; // `${env:NAME}`
  usernameClaim?: string;
  scopes?: string[];
  prompt?: string;
  acrValues?: string[];
  audiences?: string[];
  autocreate?: boolean;
  groupsClaim?: string;
  groupsAutocreate?: boolean;
  groupsOverwrite?: boolean;
  queryUserinfo?: boolean;
  comment?: string;
  default?: boolean;
}

export interface GenUser {
  enable?: boolean;
  expire?: number | string;
  firstname?: string;
  lastname?: string;
  email?: string;
  comment?: string;
}

export interface GenGroup {
  comment?: string;
  members?: string[];
  membersExclusive?: boolean;
}

export interface GenAccess {
  user?: string;
  group?: string;
  role: string;
  path: string;
  propagate?: boolean;
}

export interface GenConfig {
  realms: Record<string, GenRealm>;
  roles: Record<string, { privs: string[] }>;
  groups: Record<string, GenGroup>;
  users: Record<string, GenUser>;
  access: GenAccess[];
  prune: { acl?: boolean; users?: boolean; groups?: boolean; roles?: boolean };
}

/** A value homelab may refuse (located, exit 3) instead of converging: the config path and why it is doubtful. */
export interface Taint {
  /** Dotted config path as validate reports it, e.g. `users.pat@pve.firstname`, `realms.sso.clientKey`. */
  path: string;
  why: "whitespace" | "linefeed" | "zero" | "userid-char" | "expire-before-1970" | "client-key-length" | "version";
  /** a value whose every mention may be refused (a user id is named in users, access and members) */
  value?: string;
  /** issue 8 item this exercises */
  issue: number;
}

/** Who homelab runs as: the simulator's root@pam!homelab, or a privilege-separated token of homelab@pve. */
export type TokenMode = "root" | "user";

export interface GenCase {
  seed: number;
  /** the Proxmox VE release the simulator plays (features of later releases are refused) */
  version: string;
  tokenMode: TokenMode;
  fixture: ProxmoxFixture;
  config: GenConfig;
  /** clientKey values by env variable name */
  env: Record<string, string>;
  taints: Taint[];
  /** Set when the model expects the plan to be refused (exit 3, nothing written), with the reason. */
  expectRefusal?: string;
}

export const TOKEN_USER = "homelab@pve";
export const TOKEN_NAME = "converge";
export const TOKEN_SECRET = "5f1f3c6e-1b7a-4c53-9d7e-0e6a2b1c9d88";
/** The custom role that gives homelab@pve its rights in token mode "user" (never declared, never drawn). */
export const TOKEN_ROLE = "HomelabAdmin";
/** An enabled administrator outside every managed scope, so no lockout guard can rightly trigger. */
export const BREAK_GLASS = "breakglass@pam";

const EXTERNAL_REALMS = ["authentik", "keycloak", "sso", "lab.id"];
const UNMANAGED_REALMS: FixtureRealm[] = [
  { realm: "ldap1", type: "ldap", server1: "ldap.lan", base_dn: "dc=lab,dc=lan", user_attr: "uid" },
  { realm: "ad1", type: "ad", server1: "dc1.lab.lan", domain: "lab.lan" },
  { realm: "oldsso", type: "openid", "issuer-url": "https://old.lan/oidc", "client-id": "legacy", "client-key": "old-key-123", autocreate: 1 },
];
const NAMES = ["alice", "bob", "carol", "dave", "erin", "jane@example.com", "pat.o", "zed"];
const PLAIN_GROUPS = ["ops", "devs", "admins", "auditors", "legacy", "team_x"];
const CUSTOM_ROLES = ["Ops", "Legacy", "Backup", "ReadOnly.x", "vm_ops", "Unused1"];
const ISSUERS = ["https://auth.lan/application/o/proxmox/", "https://kc.lan/realms/lab", "https://sso.example.org"];
const CLAIMS = ["username", "email", "preferred_username", "sub", "upn"];
export const ACL_PATHS = [
  "/", "/vms", "/vms/100", "/vms/4711", "/storage", "/storage/local", "/storage/nas-1", "/pool/media", "/pool/a/b",
  "/pool/a/b/c", "/access", "/access/groups/ops", "/access/realm/pve", "/sdn/zones/z1", "/sdn/zones/z1/vnet1",
  "/sdn/zones/z1/vnet1/100", "/sdn/controllers/c1", "/sdn/dns/d1", "/mapping/pci/gpu0", "/mapping/usb", "/nodes",
  "/nodes/pve1",
];
/** ACL paths Proxmox VE accepts only from 9.2 (issue 8 item 6). */
export const ACL_PATHS_92 = ["/sdn/prefix-lists/p1", "/sdn/route-maps/rm1"];
const TEXTS = ["Operators", "Lab users", "Keycloak (lab)", "Break-glass accounts", "über-team", "a, b; c", "x=y", "50% off", "#hash", "🙂 emoji", "quoted \"x\"", ""];
const FIRSTNAMES = ["Pat", "Jane", "Ö. Müller", "Li", "D'Arcy", ""];
const EMAILS = ["alice@example.org", "b.c+tag@lab.lan", "ops@corp-1.example"];
const BUILTIN_ROLE_IDS = [...BUILTIN_ROLES.keys()];

// --- random helpers --------------------------------------------------------------------------------

export class Gen {
  readonly rng: Rng;
  constructor(seed: number) {
    this.rng = mulberry32(seed);
  }
  chance(p: number): boolean {
    return this.rng() < p;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rng() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rng() * xs.length)]!;
  }
  subset<T>(xs: readonly T[], p: number): T[] {
    return xs.filter(() => this.chance(p));
  }
  nonEmptySubset<T>(xs: readonly T[], p: number): T[] {
    const s = this.subset(xs, p);
    return s.length > 0 ? s : [this.pick(xs)];
  }
  word(n: number): string {
    const a = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let s = "";
    for (let i = 0; i < n; i++) s += a[Math.floor(this.rng() * a.length)];
    return s;
  }
}

/** A free text; rarely with the whitespace or line feed Proxmox trims or refuses (issue 8 items 3, 4). */
function text(g: Gen, path: string, taints: Taint[], pool: readonly string[] = TEXTS): string {
  const t = g.pick(pool);
  const r = g.rng();
  if (r < 0.006 && t !== "") {
    taints.push({ path, why: "whitespace", issue: 3 });
    return g.chance(0.5) ? ` ${t}` : `${t} `;
  }
  if (r < 0.008 && t !== "") {
    taints.push({ path, why: "linefeed", issue: 4 });
    return `${t}\n`;
  }
  if (r < 0.01) {
    // Perl reads the text "0" as false: Proxmox drops it when it writes the file.
    taints.push({ path, why: "zero", issue: 3 });
    return "0";
  }
  return t;
}

// --- the case ----------------------------------------------------------------------------------------

export function generateCase(seed: number): GenCase {
  const g = new Gen(seed);
  const taints: Taint[] = [];
  const env: Record<string, string> = {};
  const tokenMode: TokenMode = g.chance(0.3) ? "user" : "root";

  // Realms of the file: external-issuer OpenID realms, and the built-in ones with and without comments.
  const realms: Record<string, GenRealm> = {};
  const declaredExternal = g.subset(EXTERNAL_REALMS, 0.4);
  declaredExternal.forEach((id, i) => {
    const r: GenRealm = { issuerUrl: g.pick(ISSUERS), clientId: g.pick(["proxmox", "pve", "pve-lab"]) };
    if (g.chance(0.8)) {
      const name = `PROP_KEY_${i}`;
      r.clientKey = `\${env:${name}}`;
      if (g.chance(0.01)) {
        env[name] = g.word(257 + g.int(0, 40));
        taints.push({ path: dotted(["realms", id, "clientKey"]), why: "client-key-length", issue: 5 });
      } else env[name] = g.word(g.int(12, 48));
    }
    if (g.chance(0.6)) r.usernameClaim = g.pick(CLAIMS);
    if (g.chance(0.4)) r.scopes = g.nonEmptySubset(["openid", "email", "profile", "groups", "offline_access"], 0.5);
    if (g.chance(0.2)) r.prompt = g.pick(["login", "consent", "select_account", "none"]);
    if (g.chance(0.2)) r.acrValues = g.nonEmptySubset(["urn:mace:incommon:iap:silver", "phr", "mfa"], 0.5);
    if (g.chance(0.08)) {
      r.audiences = g.nonEmptySubset(["pve", "api://pve-lab"], 0.5);
      taints.push({ path: dotted(["realms", id, "audiences"]), why: "version", issue: 6 });
    }
    if (g.chance(0.5)) r.autocreate = g.chance(0.5);
    if (g.chance(0.3)) r.groupsClaim = g.pick(["groups", "roles"]);
    if (g.chance(0.3)) r.groupsAutocreate = g.chance(0.5);
    if (g.chance(0.2)) r.groupsOverwrite = g.chance(0.5);
    if (g.chance(0.3)) r.queryUserinfo = g.chance(0.5);
    if (g.chance(0.5)) r.comment = text(g, dotted(["realms", id, "comment"]), taints);
    realms[id] = r;
  });
  for (const b of ["pam", "pve"] as const) {
    if (!g.chance(0.35)) continue;
    const r: GenRealm = g.chance(0.2) ? { type: b } : {};
    if (g.chance(0.5)) r.comment = text(g, dotted(["realms", b, "comment"]), taints);
    if (g.chance(0.4)) r.default = g.chance(0.5);
    realms[b] = r;
  }
  // Only one realm may be the default.
  const defaults = Object.keys(realms).filter((r) => realms[r]!.default === true);
  for (const r of defaults.slice(1)) realms[r]!.default = false;
  if (defaults.length === 0 && Object.keys(realms).length > 0 && g.chance(0.3)) realms[g.pick(Object.keys(realms))]!.default = true;

  // User ids of the file: names in declared realms and the built-in ones (never root@pam, the token's user or break-glass).
  const userRealms = [...Object.keys(realms).filter((r) => r !== "pam" && r !== "pve"), "pve", "pam"];
  const userPool = [...new Set(NAMES.flatMap((n) => userRealms.filter(() => g.chance(0.35)).map((r) => `${n}@${r}`)))];
  if (g.chance(0.015)) {
    const bad = `${g.pick(["a,b", "x;y", "c:d", "e/f"])}@pve`;
    userPool.push(bad);
    taints.push({ path: dotted(["users", bad]), why: "userid-char", issue: 5, value: bad });
  }

  const roles: Record<string, { privs: string[] }> = {};
  for (const r of g.subset(CUSTOM_ROLES, 0.3)) roles[r] = { privs: g.chance(0.05) ? [] : g.nonEmptySubset(PRIVILEGES, 0.1).sort() };

  const groupPool = [...PLAIN_GROUPS, ...declaredExternal.map((r) => `staff-${r}`)];
  const groups: Record<string, GenGroup> = {};
  for (const key of g.subset(groupPool, 0.35)) {
    const gr: GenGroup = {};
    if (g.chance(0.5)) gr.comment = text(g, dotted(["groups", key, "comment"]), taints);
    if (g.chance(0.7) && userPool.length > 0) gr.members = g.subset(userPool, 0.3);
    if (g.chance(0.35)) gr.membersExclusive = g.chance(0.5);
    groups[key] = gr;
  }

  const users: Record<string, GenUser> = {};
  for (const u of userPool) {
    const tainted = taints.some((t) => t.path === dotted(["users", u]));
    if (!tainted && !g.chance(0.35)) continue;
    const a: GenUser = {};
    if (g.chance(0.4)) a.enable = g.chance(0.6);
    if (g.chance(0.4)) {
      if (g.chance(0.01)) {
        a.expire = "1969-12-31";
        taints.push({ path: dotted(["users", u, "expire"]), why: "expire-before-1970", issue: 5 });
      } else a.expire = g.pick([0, "never", "2031-06-30", 1924992000, "2030-01-01T12:00:00Z", "2029-12-31T23:00:00+02:00", "2001-01-01", 1700000000]);
    }
    if (g.chance(0.4)) a.firstname = text(g, dotted(["users", u, "firstname"]), taints, FIRSTNAMES);
    if (g.chance(0.3)) a.lastname = text(g, dotted(["users", u, "lastname"]), taints, ["Smith", "van der Berg", "O'Neil", "Ünal", ""]);
    if (g.chance(0.3)) a.email = g.pick(EMAILS);
    if (g.chance(0.3)) a.comment = text(g, dotted(["users", u, "comment"]), taints);
    users[u] = a;
  }

  const access: GenAccess[] = [];
  const seen = new Set<string>();
  const roleIds = [...BUILTIN_ROLE_IDS, ...Object.keys(roles)];
  const groupKeys = Object.keys(groups);
  for (let i = g.int(0, 10); i > 0; i--) {
    const useGroup = groupKeys.length > 0 && (userPool.length === 0 || g.chance(0.4));
    if (!useGroup && userPool.length === 0) break;
    let path = g.pick(ACL_PATHS);
    if (g.chance(0.03)) path = g.pick(ACL_PATHS_92);
    const e: GenAccess = { ...(useGroup ? { group: g.pick(groupKeys) } : { user: g.pick(userPool) }), role: g.pick(roleIds), path };
    if (g.chance(0.5)) e.propagate = g.chance(0.5);
    const k = `${e.path}\0${e.user ?? `@${e.group}`}\0${e.role}`;
    if (seen.has(k)) continue;
    seen.add(k);
    if (ACL_PATHS_92.includes(path)) taints.push({ path: dotted(["access", access.length, "path"]), why: "version", issue: 6 });
    access.push(e);
  }

  const prune: GenConfig["prune"] = {};
  for (const k of ["acl", "users", "groups", "roles"] as const) if (g.chance(0.45)) prune[k] = g.chance(0.7);

  const config: GenConfig = { realms, roles, groups, users, access, prune };
  let expectRefusal: string | undefined;
  if (tokenMode === "user" && g.chance(0.15)) {
    // Issue 8 item 10: disabling the user homelab's own token belongs to locks homelab out.
    config.users[TOKEN_USER] = { enable: false };
    expectRefusal = `disables ${TOKEN_USER}, the user of homelab's own token`;
  }

  const fixture = generateFixture(g, config, tokenMode);
  // Client keys (issue 14): declared realms that exist start without a key, with another key, or with the
  // right one. Drawn from their own stream, so adding them changed no other value of any seed.
  const kg = new Gen(seed ^ 0xc1e4);
  for (const r of fixture.realms ?? []) {
    const want = config.realms[r.realm]?.clientKey;
    if (r.type !== "openid" || want === undefined) continue;
    const k = kg.int(0, 2);
    if (k === 0) delete r["client-key"];
    else if (k === 1) r["client-key"] = env[/\$\{env:(\w+)\}/.exec(want)![1]!]!;
  }
  // Drawn from its own stream, so adding it changed no other value of any seed.
  const version = new Gen(seed ^ 0x5eed).pick(["9.0.5", "9.1.2", "9.2.1", "9.2.1", "9.2.1"]);
  if (!expectRefusal && versionBelow(version, "9.2") && taints.some((t) => t.why === "version")) {
    expectRefusal = `uses a Proxmox VE 9.2 feature (${taints.filter((t) => t.why === "version").map((t) => t.path).join(", ")}) on ${version}`;
  }
  return { seed, version, tokenMode, fixture, config, env, taints, ...(expectRefusal ? { expectRefusal } : {}) };
}

function versionBelow(v: string, than: string): boolean {
  const [a, b] = v.split(".").map(Number);
  const [x, y] = than.split(".").map(Number);
  return a! < x! || (a === x && b! < y!);
}

/** Every user id named in the file (users, access, members): the users homelab declares. */
export function declaredUsers(c: GenConfig): Set<string> {
  const out = new Set(Object.keys(c.users));
  for (const a of c.access) if (a.user !== undefined) out.add(a.user);
  for (const gr of Object.values(c.groups)) for (const m of gr.members ?? []) out.add(m);
  return out;
}

// --- the cluster before the first run ----------------------------------------------------------------

/**
 * A random pre-existing cluster: the file's objects with other attributes (overlap, conflict), objects of
 * realms and groups the file does not declare (unmanaged), tokens, and the break-glass administrator.
 */
function generateFixture(g: Gen, c: GenConfig, mode: TokenMode): ProxmoxFixture {
  const realms: FixtureRealm[] = [];
  for (const r of UNMANAGED_REALMS) if (g.chance(0.5)) realms.push({ ...r, ...(g.chance(0.3) ? { comment: g.pick(TEXTS.filter(Boolean)) } : {}) });
  for (const id of Object.keys(c.realms)) {
    if (id === "pam" || id === "pve" || !g.chance(0.45)) continue;
    if (g.chance(0.08)) {
      realms.push({ realm: id, type: "ldap", server1: "old-ldap.lan", base_dn: "dc=old", user_attr: "uid" }); // a conflicting type: replace
      continue;
    }
    const want = c.realms[id]!;
    const r: FixtureRealm = { realm: id, type: "openid", "issuer-url": g.chance(0.7) ? want.issuerUrl! : g.pick(ISSUERS), "client-id": g.chance(0.7) ? want.clientId! : "other-client" };
    if (g.chance(0.6)) r["client-key"] = g.word(20);
    const claim = g.chance(0.7) ? want.usernameClaim : g.pick([...CLAIMS, undefined]);
    if (claim !== undefined) r["username-claim"] = claim;
    if (g.chance(0.3)) r.scopes = g.pick(["openid email profile", "email profile", "openid,groups"]);
    if (g.chance(0.3)) r.autocreate = g.chance(0.5) ? 1 : 0;
    if (g.chance(0.2)) r["query-userinfo"] = g.chance(0.5) ? 1 : 0;
    if (g.chance(0.2)) r["groups-claim"] = "roles";
    if (g.chance(0.2)) r.prompt = "login";
    if (g.chance(0.3)) r.comment = g.pick(TEXTS.filter(Boolean));
    realms.push(r);
  }
  for (const b of ["pam", "pve"] as const) {
    if (g.chance(0.25)) realms.push({ realm: b, type: b, comment: g.pick(TEXTS.filter(Boolean)) });
    if (b === "pam" && g.chance(0.2)) realms.push({ realm: b, type: b, tfa: "type=oath" });
  }
  // At most one default, set last (the simulator clears the flag on the others as Proxmox does).
  if (realms.length > 0 && g.chance(0.3)) realms.push({ ...g.pick(realms), default: 1 });

  const fileGroups = Object.keys(c.groups);
  const groupIds = new Set<string>();
  for (const id of fileGroups) if (g.chance(0.4)) groupIds.add(id);
  for (const id of PLAIN_GROUPS) if (g.chance(0.15)) groupIds.add(id);
  for (const r of [...Object.keys(c.realms), "ldap1", "oldsso"]) if (r !== "pam" && r !== "pve" && g.chance(0.3)) groupIds.add(`${g.pick(["staff", "old", "x"])}-${r}`);
  const groups = [...groupIds].sort().map((groupid) => (g.chance(0.4) ? { groupid, comment: g.pick(TEXTS.filter(Boolean)) } : { groupid }));

  // Users: some of the file's (other attributes), some of managed realms the file does not name, of pam/pve,
  // of unmanaged and of vanished realms.
  const declared = [...declaredUsers(c)].filter((u) => u !== TOKEN_USER && !/[,;:/]/.test(u.slice(0, u.lastIndexOf("@"))));
  const realmIds = [...Object.keys(c.realms), "pve", "pam", "ldap1", "ad1", "oldsso", "gone"];
  const candidates = new Set<string>(declared.filter(() => g.chance(0.5)));
  for (const n of NAMES) for (const r of realmIds) if (g.chance(0.06)) candidates.add(`${n}@${r}`);
  candidates.delete(TOKEN_USER);
  candidates.delete(BREAK_GLASS);
  const users: FixtureUser[] = [{ userid: BREAK_GLASS, enable: 1, firstname: "Break", comment: "emergency admin" }];
  for (const userid of [...candidates].sort()) {
    const u: FixtureUser = { userid };
    if (g.chance(0.3)) u.enable = g.chance(0.5) ? 1 : 0;
    if (g.chance(0.3)) u.expire = g.pick([0, 1700000000, 1924992000, 2000000000]);
    if (g.chance(0.3)) u.firstname = g.pick(FIRSTNAMES.filter(Boolean));
    if (g.chance(0.3)) u.lastname = "Old";
    if (g.chance(0.3)) u.email = g.pick(EMAILS);
    if (g.chance(0.3)) u.comment = g.pick(TEXTS.filter(Boolean));
    if (g.chance(0.1)) u.keys = "x!AAAAB3NzaC1yc2E=";
    if (groups.length > 0 && g.chance(0.5)) u.groups = g.subset(groups.map((x) => x.groupid), 0.3);
    users.push(u);
  }

  const roles = CUSTOM_ROLES.filter(() => g.chance(0.3)).map((roleid) => ({ roleid, privs: g.nonEmptySubset(PRIVILEGES, 0.1).sort() }));

  const tokens: FixtureToken[] = [];
  for (const u of users) if (u.userid !== BREAK_GLASS && g.chance(0.1)) tokens.push({ userid: u.userid, tokenid: g.pick(["ci", "backup", "monitor"]), privsep: g.chance(0.5) ? 1 : 0 });

  const acl: FixtureAcl[] = [{ path: "/", type: "user", ugid: BREAK_GLASS, roleid: "Administrator", propagate: 1 }];
  const roleIds = [...BUILTIN_ROLE_IDS, ...roles.map((r) => r.roleid)];
  const principals: Array<Pick<FixtureAcl, "type" | "ugid">> = [
    ...users.filter((u) => u.userid !== BREAK_GLASS).map((u) => ({ type: "user" as const, ugid: u.userid })),
    ...groups.map((x) => ({ type: "group" as const, ugid: x.groupid })),
    ...tokens.map((t) => ({ type: "token" as const, ugid: `${t.userid}!${t.tokenid}` })),
  ];
  // Entries of the file's own mappings with another propagate, and random ones.
  for (const a of c.access) {
    const p = a.user !== undefined ? principals.find((x) => x.type === "user" && x.ugid === a.user) : principals.find((x) => x.type === "group" && x.ugid === a.group);
    if (p && !ACL_PATHS_92.includes(a.path) && roleIds.includes(a.role) && g.chance(0.3)) acl.push({ ...p, path: a.path, roleid: a.role, propagate: g.chance(0.5) ? 1 : 0 });
  }
  if (principals.length > 0) {
    for (let i = g.int(0, 10); i > 0; i--) acl.push({ ...g.pick(principals), path: g.pick(ACL_PATHS), roleid: g.pick(roleIds), propagate: g.chance(0.7) ? 1 : 0 });
  }

  if (mode === "user") {
    users.push({ userid: TOKEN_USER, enable: 1, comment: "homelab automation" });
    roles.push({ roleid: TOKEN_ROLE, privs: [...PRIVILEGES].sort() });
    tokens.push({ userid: TOKEN_USER, tokenid: TOKEN_NAME, privsep: 1, secret: TOKEN_SECRET });
    acl.push({ path: "/", type: "user", ugid: TOKEN_USER, roleid: TOKEN_ROLE, propagate: 1 });
    acl.push({ path: "/", type: "token", ugid: `${TOKEN_USER}!${TOKEN_NAME}`, roleid: TOKEN_ROLE, propagate: 1 });
  }
  return { realms, users, groups, roles, acl, tokens };
}

// --- the config file ----------------------------------------------------------------------------------

/** The config as homelab.yaml text (JSON is YAML), with the cluster block pointing at the simulator. */
export function configText(c: GenConfig, cluster: { url: string; tokenId: string; fingerprint: string }): string {
  const doc: Record<string, unknown> = {
    version: 1,
    clusters: { pve: { url: cluster.url, token: { id: cluster.tokenId, secret: "${env:PROP_PVE_TOKEN}" }, tls: { fingerprint: cluster.fingerprint } } },
  };
  if (Object.keys(c.realms).length) doc.realms = c.realms;
  if (Object.keys(c.roles).length) doc.roles = c.roles;
  if (Object.keys(c.groups).length) doc.groups = c.groups;
  if (Object.keys(c.users).length) doc.users = c.users;
  if (c.access.length) doc.access = c.access;
  if (Object.keys(c.prune).length) doc.prune = c.prune;
  return `${JSON.stringify(doc, null, 1)}\n`;
}

// --- drift between runs ------------------------------------------------------------------------------

/** One change a person makes in the web UI between two runs (applied with an admin token). */
export type DriftOp =
  | { kind: "user-update"; userid: string; params: Record<string, string | number | boolean> }
  | { kind: "user-groups"; userid: string; groups: string[] }
  | { kind: "user-create"; userid: string }
  | { kind: "user-delete"; userid: string }
  | { kind: "acl"; entry: FixtureAcl; delete: boolean }
  | { kind: "realm-update"; realm: string; params: Record<string, string | number>; delete?: string[] }
  | { kind: "realm-delete"; realm: string }
  | { kind: "role-create"; roleid: string; privs: string[] }
  | { kind: "role-update"; roleid: string; privs: string[] }
  | { kind: "role-delete"; roleid: string }
  | { kind: "group-create"; groupid: string }
  | { kind: "group-comment"; groupid: string; comment: string }
  | { kind: "group-delete"; groupid: string };

/**
 * One to four random changes to the live state `s`, of the kinds issue 8 names (a user's attributes, a
 * hand-added member of a declared group, a deleted ACL entry, a realm option, a deleted role, ...). Never
 * touches root@pam, the token's user or the break-glass administrator.
 */
export function generateDrift(seed: number, c: GenConfig, s: ProxmoxFixture, tokenUser: string): DriftOp[] {
  const g = new Gen(seed ^ 0x9e3779b9);
  const protectedUsers = new Set(["root@pam", tokenUser, BREAK_GLASS]);
  const users = (s.users ?? []).map((u) => u.userid).filter((u) => !protectedUsers.has(u));
  const declared = [...declaredUsers(c)].filter((u) => users.includes(u));
  const groupIds = (s.groups ?? []).map((x) => x.groupid);
  const declaredGroups = Object.keys(c.groups).filter((x) => groupIds.includes(x));
  const customRoles = (s.roles ?? []).map((r) => r.roleid).filter((r) => r !== TOKEN_ROLE);
  const acl = (s.acl ?? []).filter((e) => e.type !== "token" && !protectedUsers.has(e.ugid));
  const realms = (s.realms ?? []).map((r) => r.realm);
  const declaredRealms = Object.keys(c.realms).filter((r) => realms.includes(r));
  const managed = Object.keys(c.realms).filter((r) => r !== "pam" && r !== "pve");
  const ops: DriftOp[] = [];
  for (let n = g.int(1, 4); n > 0; n--) {
    const k = g.int(0, 13);
    if (k === 0 && declared.length) {
      const field = g.pick(["firstname", "lastname", "email", "comment", "enable", "expire"]);
      const v = field === "enable" ? g.chance(0.5) : field === "expire" ? g.pick([0, 1900000000]) : field === "email" ? "hand@edit.lan" : g.pick(["Hand-edited", ""]);
      ops.push({ kind: "user-update", userid: g.pick(declared), params: { [field]: v } });
    } else if (k === 1 && declaredGroups.length && users.length) {
      // Issue 8 item 11: someone adds a member to a declared group by hand.
      const userid = g.pick(users);
      const u = s.users!.find((x) => x.userid === userid)!;
      ops.push({ kind: "user-groups", userid, groups: [...new Set([...(u.groups ?? []), g.pick(declaredGroups)])].sort() });
    } else if (k === 2 && declared.length) {
      const userid = g.pick(declared);
      const u = s.users!.find((x) => x.userid === userid)!;
      if ((u.groups ?? []).length) ops.push({ kind: "user-groups", userid, groups: (u.groups ?? []).slice(1) });
    } else if (k === 3 && acl.length) {
      ops.push({ kind: "acl", entry: g.pick(acl), delete: true });
    } else if (k === 4 && acl.length) {
      const e = g.pick(acl);
      ops.push({ kind: "acl", entry: { ...e, propagate: e.propagate === 0 ? 1 : 0 }, delete: false });
    } else if (k === 5 && users.length) {
      const roles = [...customRoles, "PVEAuditor", "PVEVMUser"];
      ops.push({ kind: "acl", entry: { path: g.pick(ACL_PATHS), type: "user", ugid: g.pick(users), roleid: g.pick(roles), propagate: 1 }, delete: false });
    } else if (k === 6 && declaredRealms.length) {
      const realm = g.pick(declaredRealms);
      const type = s.realms!.find((r) => r.realm === realm)!.type;
      if (type === "openid") {
        const opt = g.pick(["autocreate", "comment", "scopes", "query-userinfo", "prompt", "client-id"]);
        const v = opt === "autocreate" || opt === "query-userinfo" ? g.int(0, 1) : opt === "scopes" ? "openid email" : opt === "prompt" ? "consent" : g.pick(["hand edit", "other"]);
        ops.push(g.chance(0.3) && opt !== "client-id" ? { kind: "realm-update", realm, params: {}, delete: [opt] } : { kind: "realm-update", realm, params: { [opt]: v } });
      } else if (type === "pam" || type === "pve") {
        ops.push(g.chance(0.5) ? { kind: "realm-update", realm, params: { comment: "hand edit" } } : { kind: "realm-update", realm, params: {}, delete: ["comment"] });
      }
    } else if (k === 7 && realms.length) {
      // Another realm becomes the default by hand (the previous default loses the flag).
      ops.push({ kind: "realm-update", realm: g.pick(realms), params: { default: 1 } });
    } else if (k === 8 && customRoles.length) {
      ops.push({ kind: "role-delete", roleid: g.pick(customRoles) });
    } else if (k === 9) {
      const roleid = g.pick(CUSTOM_ROLES);
      const privs = g.nonEmptySubset(PRIVILEGES, 0.1).sort();
      ops.push(customRoles.includes(roleid) ? { kind: "role-update", roleid, privs } : { kind: "role-create", roleid, privs });
    } else if (k === 10 && managed.length) {
      const userid = `hand${g.int(1, 3)}@${g.pick(managed)}`;
      if (!users.includes(userid)) ops.push({ kind: "user-create", userid });
    } else if (k === 11 && declared.length) {
      ops.push({ kind: "user-delete", userid: g.pick(declared) });
    } else if (k === 12 && declaredGroups.length) {
      ops.push(g.chance(0.5) ? { kind: "group-comment", groupid: g.pick(declaredGroups), comment: g.pick(["hand edit", ""]) } : { kind: "group-delete", groupid: g.pick(declaredGroups) });
    } else if (k === 13) {
      const groupid = managed.length && g.chance(0.6) ? `hand-${g.pick(managed)}` : "hand_plain";
      if (!groupIds.includes(groupid)) ops.push({ kind: "group-create", groupid });
    }
  }
  // A realm's client key deleted or replaced by hand (issue 14), from a stream of its own.
  const kg = new Gen(seed ^ 0x6b3d);
  const keyed = (s.realms ?? []).filter((r) => r.type === "openid" && c.realms[r.realm] !== undefined).map((r) => r.realm);
  if (keyed.length && kg.chance(0.3)) {
    const realm = kg.pick(keyed);
    ops.push(kg.chance(0.6) ? { kind: "realm-update", realm, params: {}, delete: ["client-key"] } : { kind: "realm-update", realm, params: { "client-key": "changed-by-hand" } });
  }
  return ops;
}
