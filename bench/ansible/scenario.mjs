// The state both tools converge to in bench/ansible.mjs, from one model: N `pve` users (email, first name)
// and ACL entries (built-in roles, mixed paths, every 11th not propagated), written once as a homelab.yaml
// and once as the Ansible variables bench/ansible/site.yml reads. Built-in roles only, so that the playbook
// has nothing to do but users and ACL entries, as in issue 12's comparison.

const ROLES = ["PVEAuditor", "PVEVMUser", "PVEVMAdmin", "PVEDatastoreUser", "Administrator"];
const path = (i) => ["/", `/vms/${100 + (i % 997)}`, `/pool/pool${i % 20}`, `/storage/store${i % 5}`, `/vms/${1000 + (i % 991)}`][i % 5];

/**
 * N users u<i>@pve, each with `aclPerUser` ACL entries (another role and path for each further one). Entries
 * are unique by (path, user, role): Proxmox keeps one propagate flag per (path, user, role).
 */
export function model(n, { aclPerUser = 1 } = {}) {
  const users = [];
  const acl = [];
  const seen = new Set();
  for (let i = 0; i < n; i++) {
    const userid = `u${i}@pve`;
    users.push({ userid, email: `u${i}@example.org`, firstname: `User${i}` });
    for (let k = 0; k < aclPerUser; k++) {
      const entry = { path: path(i + 2 * k), ugid: userid, roleid: ROLES[(i + 3 * k) % ROLES.length], propagate: i % 11 === 0 ? 0 : 1 };
      const key = `${entry.path}|${entry.ugid}|${entry.roleid}`;
      if (seen.has(key)) continue;
      seen.add(key);
      acl.push(entry);
    }
  }
  return { users, acl };
}

/** The model as a homelab.yaml, under `cluster` (the `clusters:` section, its secret from an environment variable). */
export function homelabConfig(m, cluster) {
  const lines = ["version: 1", cluster.trimEnd(), "users:"];
  for (const u of m.users) lines.push(`  ${u.userid}: { email: ${u.email}, firstname: ${u.firstname} }`);
  lines.push("access:");
  for (const a of m.acl) lines.push(`  - { user: ${a.ugid}, role: ${a.roleid}, path: ${a.path}${a.propagate ? "" : ", propagate: false"} }`);
  return `${lines.join("\n")}\n`;
}

/**
 * The model as the playbook's variables (`-e @vars.json`): the API URL and token id; the token's secret is not
 * here, the playbook reads it from PVE_TOKEN_SECRET.
 */
export function ansibleVars(m, { url, tokenId }) {
  return {
    pve_url: url,
    pve_token_id: tokenId,
    pve_validate_certs: false,
    homelab_users: m.users,
    homelab_acl: m.acl.map((a) => ({ path: a.path, user: a.ugid, role: a.roleid, propagate: a.propagate === 1 })),
  };
}

/**
 * What the comparison covers of a simulator's state(), as sorted lines: every user but root@pam (userid, enable,
 * email, first name, last name, comment, expire, groups), every ACL entry, and the groups and custom roles (none
 * on either side: a tool that made some would show here).
 */
export function comparable(state) {
  const users = (state.users ?? [])
    .filter((u) => u.userid !== "root@pam")
    .map((u) => JSON.stringify([u.userid, u.enable ?? 1, u.email ?? "", u.firstname ?? "", u.lastname ?? "", u.comment ?? "", u.expire ?? 0, [...(u.groups ?? [])].sort()]));
  const acl = (state.acl ?? []).map((a) => JSON.stringify([a.path, a.type, a.ugid, a.roleid, a.propagate ?? 1]));
  const groups = (state.groups ?? []).map((g) => JSON.stringify([g.groupid, g.comment ?? ""]));
  const roles = (state.roles ?? []).map((r) => JSON.stringify([r.roleid, [...r.privs].sort()]));
  return { users: users.sort(), acl: acl.sort(), groups: groups.sort(), roles: roles.sort() };
}

/** The lines one side has and the other lacks (at most `max` of each), or undefined when both are equal. */
export function difference(a, b, max = 5) {
  const out = [];
  for (const kind of ["users", "acl", "groups", "roles"]) {
    const sa = new Set(a[kind]);
    const sb = new Set(b[kind]);
    const onlyA = a[kind].filter((x) => !sb.has(x));
    const onlyB = b[kind].filter((x) => !sa.has(x));
    if (onlyA.length) out.push(`${kind} only after homelab (${onlyA.length}): ${onlyA.slice(0, max).join(" ")}`);
    if (onlyB.length) out.push(`${kind} only after ansible (${onlyB.length}): ${onlyB.slice(0, max).join(" ")}`);
  }
  return out.length ? out.join("\n") : undefined;
}
