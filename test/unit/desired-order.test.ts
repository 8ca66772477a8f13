// buildDesired places users and ACL entries on their clusters in one pass over ids sorted once (issue 12: a cold
// validate of 85,000 mappings sorted 255,000 addresses). Its output must stay what sorting every list by address
// gave: generated configs (seeded; the seed is in each test's name and every failure message) are checked against
// the generator's own model of which user and which mapping is on which cluster, for address order, and for
// independence from the order of the file's entries.
import { describe, expect, it } from "vitest";
import { buildDesired, desiredUserCount } from "../../src/config/desired.js";
import { readFileSync } from "node:fs";
import { validateText } from "../../src/config/resolve.js";
import type { DesiredState } from "../../src/core/desired.js";
import { mulberry32 } from "../../src/sim/rng.js";


interface Model {
  /** The file, as JSON (which is YAML). */
  text: string;
  /** What the generator meant: the user ids and the ACL addresses' tails (`path:principal:role`) on each cluster. */
  users: Map<string, Set<string>>;
  acl: Map<string, Set<string>>;
  /** The plain groups of a user on a cluster, sorted, keyed `<cluster> <userid>` (absent: none). */
  groupsOf: Map<string, string[]>;
  /** The parts of the config to shuffle for the order-independence check. */
  doc: Record<string, unknown> & { users: Record<string, unknown>; groups: Record<string, unknown>; access: unknown[] };
}

/**
 * A valid config of up to four clusters (named so that their order is not the file's), a tenant realm on all, an
 * external realm and the `pve` realm on some, custom roles (one limited to a cluster), plain groups with members
 * (some on fewer clusters), an Entra group, declared users with every optional field, and mappings with and
 * without `clusters:`. User ids and paths use characters that sort on either side of `:` and `/`, and paths that
 * are prefixes of others (`/vms`, `/vms/100`).
 */
function generate(seed: number, mappings: number): Model {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const subset = <T>(xs: readonly T[]): T[] => {
    const s = xs.filter(() => r() < 0.5);
    return s.length > 0 ? s : [pick(xs)];
  };
  const all = ["pve2", "Pve1", "alpha", "pve10", "pve-b"].slice(0, 1 + Math.floor(r() * 4));
  const ssoOn = subset(all);
  const pveOn = r() < 0.5 ? subset(all) : undefined;
  const realmOn: Record<string, string[]> = { entra: all, sso: ssoOn, pve: pveOn ?? all };
  const chars = "aZ09._-!#~+=@A";
  const name = () => Array.from({ length: 1 + Math.floor(r() * 5) }, () => pick([...chars])).join("");
  const pool: string[] = [];
  const seen = new Set<string>();
  while (pool.length < Math.max(8, Math.floor(mappings / 2))) {
    const realm = pick(["entra", "entra", "sso", "pve"]);
    const id = `${pick(["u", "U", "x.", "z-"])}${name()}${realm === "entra" ? "@contoso.com" : ""}@${realm}`;
    if (!seen.has(id)) pool.push(id), seen.add(id);
  }
  const users: Record<string, Record<string, unknown>> = {};
  const userOn = new Map<string, string[]>();
  for (const u of pool) userOn.set(u, realmOn[u.slice(u.lastIndexOf("@") + 1)]!);
  for (const u of pool.filter(() => r() < 0.3)) {
    const realmClusters = userOn.get(u)!;
    const decl: Record<string, unknown> = {};
    if (r() < 0.3) decl.clusters = subset(realmClusters);
    if (r() < 0.3) decl.enable = false;
    if (r() < 0.3) decl.expire = pick(["2027-06-30", 1900000000, "never", "2030-01-01T12:00:00Z"]);
    for (const f of ["firstname", "lastname", "comment"]) if (r() < 0.2) decl[f] = `${f} ${name()}`;
    if (r() < 0.2) decl.email = "someone@example.org";
    users[u] = decl;
    if (decl.clusters) userOn.set(u, decl.clusters as string[]);
  }
  const groups: Record<string, Record<string, unknown>> = { admins: { realm: "entra", entraGroup: "Proxmox Admins" } };
  const groupOn = new Map<string, string[]>([["admins", all]]);
  for (const g of ["team.a", "Team-B", "team_c", "t0"].slice(0, 1 + Math.floor(r() * 4))) {
    const decl: Record<string, unknown> = { members: [...new Set(pool.filter(() => r() < 0.2))] };
    if (r() < 0.4) decl.clusters = subset(all);
    groups[g] = decl;
    groupOn.set(g, (decl.clusters as string[] | undefined) ?? all);
    for (const m of decl.members as string[]) if (!userOn.has(m)) userOn.set(m, realmOn[m.slice(m.lastIndexOf("@") + 1)]!);
  }
  const limited = pick(all);
  const roles = { VMOperator: { privs: ["VM.Console", "VM.Audit"] }, Limited: { privs: ["Sys.Audit"], clusters: [limited] } };
  const paths = ["/", "/vms", "/vms/100", "/vms/1000", "/pool/a", "/pool/a.b", "/pool/a/b", "/storage/nas-1", "/nodes/pve1"];
  const access: Record<string, unknown>[] = [];
  const acl = new Map<string, Set<string>>(all.map((c) => [c, new Set()]));
  const taken = new Set<string>();
  while (access.length < mappings) {
    const isGroup = r() < 0.2;
    const principal = isGroup ? pick([...groupOn.keys()]) : pick(pool);
    const principalOn = isGroup ? groupOn.get(principal)! : userOn.get(principal)!;
    const role = pick(["Administrator", "PVEAuditor", "PVEVMUser", "VMOperator", "Limited"]);
    let on = principalOn;
    let clusters: string[] | undefined;
    if (role === "Limited") {
      if (!principalOn.includes(limited)) continue;
      clusters = [limited];
    } else if (r() < 0.2) clusters = subset(principalOn);
    on = clusters ?? on;
    const path = pick(paths);
    const tail = `${path}:${isGroup ? `@${principal}` : principal}:${role}`;
    if (taken.has(tail)) continue;
    taken.add(tail);
    access.push({ [isGroup ? "group" : "user"]: principal, role, path, ...(r() < 0.2 ? { propagate: false } : {}), ...(clusters ? { clusters } : {}) });
    for (const c of on) acl.get(c)!.add(tail);
  }
  const usersOn = new Map<string, Set<string>>(all.map((c) => [c, new Set()]));
  const named = new Set([...Object.keys(users), ...access.flatMap((a) => (typeof a.user === "string" ? [a.user] : [])), ...Object.values(groups).flatMap((g) => (Array.isArray(g.members) ? g.members : []))]);
  for (const u of named) for (const c of userOn.get(u)!) usersOn.get(c)!.add(u);
  const groupsOf = new Map<string, string[]>();
  for (const [g, decl] of Object.entries(groups).sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const u of Array.isArray(decl.members) ? (decl.members as string[]) : []) {
      for (const c of groupOn.get(g)!) groupsOf.set(`${c} ${u}`, [...(groupsOf.get(`${c} ${u}`) ?? []), g]);
    }
  }
  const doc = {
    version: 1,
    tenants: { contoso: { tenantId: "8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", credentials: { clientId: "2b0c6d1e-7f8a-4b9c-8d0e-1f2a3b4c5d6e", clientSecret: "${env:CONTOSO_SECRET}" } } },
    clusters: Object.fromEntries(all.map((c) => [c, { url: `https://${c.toLowerCase()}.lan:8006`, token: { id: "homelab@pve!converge", secret: "${env:PVE_TOKEN}" } }])),
    realms: {
      entra: { tenant: "contoso", usernameClaim: "upn" },
      sso: { issuerUrl: "https://auth.lan/application/o/proxmox/", clientId: "proxmox", clientKey: "${env:SSO_SECRET}", usernameClaim: "username", clusters: ssoOn },
      ...(pveOn ? { pve: { clusters: pveOn } } : {}),
    },
    roles, groups, users, access,
  };
  return { text: JSON.stringify(doc), users: usersOn, acl, groupsOf, doc };
}

const build = (text: string): DesiredState => buildDesired(validateText(text).config, "/etc/homelab");
/** The order every list had when it was sorted by address (the comparator buildDesired used for all of them). */
const byAddress = (a: { address: string }, b: { address: string }) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);

function shuffled<T>(xs: T[], r: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("desired users and ACL entries on generated configs", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) {
    it(`are on the clusters the file puts them on, in address order (seed ${seed})`, () => {
      const m = generate(seed, 40 + seed * 15);
      const d = build(m.text);
      const why = `seed ${seed}`;
      expect(d.clusters.map((c) => c.name), why).toEqual([...m.acl.keys()].sort());
      for (const c of d.clusters) {
        expect(new Set(c.acl.map((a) => a.address.slice(`proxmox.acl/${c.name}:`.length))), `${why}, acl on ${c.name}`).toEqual(m.acl.get(c.name));
        expect(new Set(c.users.map((u) => u.userid)), `${why}, users on ${c.name}`).toEqual(m.users.get(c.name));
        // Strictly increasing: sorted as byAddress sorts, and no address twice.
        for (const list of [c.acl, c.users, c.realms, c.roles, c.groups] as { address: string }[][]) {
          list.forEach((x, i) => {
            if (i > 0) expect(byAddress(list[i - 1]!, x), `${why}: ${list[i - 1]!.address} before ${x.address}`).toBe(-1);
          });
        }
        for (const a of c.acl) {
          const principal = a.type === "user" ? (a.ugid as string) : `@${typeof a.ugid === "string" ? a.ugid : "admins"}`;
          expect(a.address, why).toBe(`proxmox.acl/${c.name}:${a.path}:${principal}:${a.roleid}`);
          expect(a.cluster, why).toBe(c.name);
        }
        for (const u of c.users) {
          expect(u.address, why).toBe(`proxmox.user/${c.name}:${u.userid}`);
          expect(u.cluster, why).toBe(c.name);
          expect(u.groups, `${why}, groups of ${u.userid} on ${c.name}`).toEqual(m.groupsOf.get(`${c.name} ${u.userid}`) ?? []);
        }
      }
    });
  }

  for (const seed of [21, 22, 23, 24, 25, 26]) {
    it(`do not depend on the order of users, groups and mappings in the file (seed ${seed})`, () => {
      const m = generate(seed, 60);
      const r = mulberry32(seed * 7919);
      const entries = (o: Record<string, unknown>) => Object.fromEntries(shuffled(Object.entries(o), r));
      const doc = {
        ...m.doc,
        users: entries(m.doc.users),
        groups: Object.fromEntries(shuffled(Object.entries(m.doc.groups), r).map(([k, g]) => [k, Array.isArray((g as { members?: unknown }).members) ? { ...(g as object), members: shuffled((g as { members: string[] }).members, r) } : g])),
        access: shuffled(m.doc.access, r),
      };
      const plain = (d: DesiredState) => JSON.stringify(d);
      expect(plain(build(JSON.stringify(doc))), `seed ${seed}`).toBe(plain(build(m.text)));
    });
  }

  it("gives each user its fields and its plain groups on that cluster, sorted, as fresh arrays", () => {
    const d = build(`version: 1
clusters:
  pve2: { url: "https://pve2.lan:8006", token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN}" } }
  pve1: { url: "https://pve1.lan:8006", token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN}" } }
groups:
  zeta: { members: [bob@pve, amy@pve] }
  alpha: { members: [bob@pve], clusters: [pve2] }
users:
  bob@pve: { firstname: Bob, comment: Ops, expire: 2027-06-30, enable: false }
access:
  - { user: carol@pve, role: PVEAuditor, path: /, clusters: [pve1] }
  - { group: zeta, role: PVEAuditor, path: /vms }
`);
    const [pve1, pve2] = d.clusters;
    expect(pve1!.users.map((u) => [u.userid, u.groups])).toEqual([["amy@pve", ["zeta"]], ["bob@pve", ["zeta"]], ["carol@pve", []]]);
    expect(pve2!.users.map((u) => [u.userid, u.groups])).toEqual([["amy@pve", ["zeta"]], ["bob@pve", ["alpha", "zeta"]], ["carol@pve", []]]);
    // Key order included: what the planner and `--json` print.
    expect(JSON.stringify(pve2!.users[1])).toBe(
      JSON.stringify({ address: "proxmox.user/pve2:bob@pve", cluster: "pve2", userid: "bob@pve", enable: false, expire: 1814313600, firstname: "Bob", comment: "Ops", groups: ["alpha", "zeta"] }),
    );
    expect(pve1!.users[1]!.groups).not.toBe(pve2!.users[1]!.groups);
    expect(pve1!.acl.map((a) => a.address)).toEqual(["proxmox.acl/pve1:/:carol@pve:PVEAuditor", "proxmox.acl/pve1:/vms:@zeta:PVEAuditor"]);
    expect(pve2!.acl.map((a) => a.address)).toEqual(["proxmox.acl/pve2:/vms:@zeta:PVEAuditor"]);
  });

  it("are counted by desiredUserCount as buildDesired places them (generated configs and the playbooks)", () => {
    const texts = [
      ...[31, 32, 33, 34, 35, 36, 37, 38].map((seed) => ({ why: `seed ${seed}`, text: generate(seed, 30 + seed).text })),
      ...["homelab.yaml", "larger.yaml", "demo.yaml"].map((f) => ({ why: f, text: readFileSync(new URL(`../../playbooks/${f}`, import.meta.url), "utf8") })),
      // Without clusters nobody is placed, though the user is named.
      { why: "no clusters", text: "version: 1\nusers:\n  jane@pve: {}\n" },
    ];
    for (const { why, text } of texts) {
      const cfg = validateText(text).config;
      const placed = new Set(buildDesired(cfg, "/etc/homelab").clusters.flatMap((c) => c.users.map((u) => u.userid)));
      expect(desiredUserCount(cfg), why).toBe(placed.size);
    }
  });
});
