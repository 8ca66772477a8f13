// The generated configurations the benchmarks share (converge, demo, validate, floor): one definition each, so
// that every benchmark measures the same files.

const ROLES = ["Administrator", "PVEAuditor", "PVEVMUser", "PVEVMAdmin", "PVEDatastoreUser", "VMOperator", "Backup"];
const GROUPS = 5;
const path = (i) => ["/", `/vms/${100 + (i % 997)}`, `/pool/pool${i % 20}`, `/storage/store${i % 5}`, `/vms/${1000 + (i % 991)}`][i % 5];

/**
 * N users u<i>@pve, each with `aclPerUser` ACL mappings (default 1; other roles and paths for the further ones);
 * ~10% group mappings; an external OpenID realm, 2 custom roles, 5 groups.
 */
export function convergeConfig(n, cluster, { aclPerUser = 1 } = {}) {
  const lines = [
    "version: 1",
    cluster.trimEnd(),
    "realms:",
    "  sso:",
    "    issuerUrl: https://auth.lan/application/o/proxmox/",
    "    clientId: proxmox",
    '    clientKey: "${env:SSO_SECRET}"',
    "    usernameClaim: username",
    "    autocreate: true",
    "roles:",
    "  VMOperator: { privs: [VM.Audit, VM.Console, VM.PowerMgmt] }",
    "  Backup: { privs: [VM.Backup, Datastore.AllocateSpace, Datastore.Audit] }",
    "groups:",
  ];
  for (let g = 0; g < GROUPS; g++) {
    // Some members: every 25th user, spread over the groups (4% of users are in a group).
    const members = [];
    for (let i = g * 5; i < n; i += 25 * GROUPS) members.push(`u${i}@pve`);
    lines.push(`  team${g}: { comment: Team ${g}${members.length ? `, members: [${members.join(", ")}]` : ""} }`);
  }
  lines.push("users:");
  // Some users carry attributes; the rest are named only in access.
  for (let i = 0; i < n; i += 7) lines.push(`  u${i}@pve: { email: u${i}@example.org, firstname: User${i}${i % 14 === 0 ? ", comment: bench" : ""} }`);
  lines.push("access:");
  const seen = new Set();
  const add = (principal, role, p, propagate) => {
    const key = `${principal}|${role}|${p}`;
    if (seen.has(key)) return false;
    seen.add(key);
    lines.push(`  - { ${principal}, role: ${role}, path: ${p}${propagate ? "" : ", propagate: false"} }`);
    return true;
  };
  for (let k = 0; k < aclPerUser; k++) for (let i = 0; i < n; i++) add(`user: u${i}@pve`, ROLES[(i + 3 * k) % ROLES.length], path(i + 2 * k), i % 11 !== 0);
  const groupMappings = Math.max(1, Math.round(n / 10));
  for (let k = 0, made = 0; made < groupMappings; k++) {
    if (add(`group: team${k % GROUPS}`, ROLES[(k * 3) % ROLES.length], path(k * 7 + 3), true)) made++;
  }
  return `${lines.join("\n")}\n`;
}

const upn = (i) => `user${i}@contoso.com`;
/** Every 10th directory user is in "Proxmox Admins" (at least one). */
const ADMIN_EVERY = 10;

/** The Entra directory: N users and the group "Proxmox Admins" with some of them as members. */
export function demoDirectory(n) {
  const users = [];
  for (let i = 0; i < n; i++) users.push({ displayName: `User ${i}`, userPrincipalName: upn(i) });
  const members = [];
  for (let i = 0; i < n; i += ADMIN_EVERY) members.push(upn(i));
  return { users, groups: [{ displayName: "Proxmox Admins", members }] };
}

/** The demo scenario with N access mappings `user<i>@contoso.com@azure`, roles and paths mixed as in bench/converge.mjs. */
export function demoConfig(n, header) {
  const lines = [
    "version: 1",
    header.trimEnd(),
    "realms:",
    "  azure:",
    "    tenant: contoso",
    "    app:",
    "      displayName: Proxmox VE",
    "      secret: { lifetimeDays: 180, renewBeforeDays: 30 }",
    "    usernameClaim: upn",
    "    autocreate: true",
    "    default: true",
    "    comment: Microsoft Entra ID",
    "roles:",
    "  VMOperator: { privs: [VM.Audit, VM.Console, VM.PowerMgmt] }",
    "  Backup: { privs: [VM.Backup, Datastore.AllocateSpace, Datastore.Audit] }",
    "groups:",
    "  admins:",
    "    realm: azure",
    "    entraGroup: Proxmox Admins",
    "access:",
    "  - { group: admins, role: PVEAdmin, path: / }",
  ];
  for (let i = 0; i < n; i++) {
    lines.push(`  - { user: ${upn(i)}@azure, role: ${ROLES[i % ROLES.length]}, path: ${path(i)}${i % 11 === 0 ? ", propagate: false" : ""} }`);
  }
  return `${lines.join("\n")}\n`;
}

/** A realistic big homelab: 3 clusters, an Entra realm and an external one, custom roles, groups, N mappings. */
export function validateConfig(n) {
  const roles = ["Administrator", "PVEAuditor", "PVEVMUser", "PVEVMAdmin", "PVEDatastoreUser", "VMOperator", "Backup"];
  const paths = (i) => ["/", "/vms", `/vms/${100 + (i % 900)}`, `/pool/team${i % 40}`, `/storage/nas${i % 5}`, `/nodes/pve${i % 3}`][i % 6];
  const lines = [
    "# yaml-language-server: $schema=../schemas/homelab.schema.json",
    "version: 1",
    "tenants:",
    "  contoso:",
    "    tenantId: 8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
    "    credentials: { clientId: 2b0c6d1e-7f8a-4b9c-8d0e-1f2a3b4c5d6e, clientSecret: \"${env:CONTOSO_SECRET}\" }",
    "clusters:",
    ...[1, 2, 3].flatMap((c) => [`  pve${c}:`, `    url: https://pve${c}.lan:8006`, `    token: { id: homelab@pve!converge, secret: "\${env:PVE${c}_TOKEN}" }`]),
    "realms:",
    "  entra: { tenant: contoso, usernameClaim: upn, autocreate: true, default: true }",
    "  sso: { issuerUrl: https://auth.lan/application/o/proxmox/, clientId: proxmox, clientKey: \"${env:SSO_SECRET}\", usernameClaim: username }",
    "roles:",
    "  VMOperator: { privs: [VM.Audit, VM.Console, VM.PowerMgmt] }",
    "  Backup: { privs: [VM.Backup, Datastore.AllocateSpace, Datastore.Audit] }",
    "groups:",
    ...Array.from({ length: 20 }, (_, g) => `  team${g}: { comment: Team ${g} }`),
    "  admins: { realm: entra, entraGroup: Proxmox Admins }",
    "access:",
  ];
  const seen = new Set();
  for (let i = 0; lines.length < 1e9 && seen.size < n; i++) {
    const group = i % 10 === 0;
    const principal = group ? `group: team${i % 20}` : i % 3 === 0 ? `user: user${i}@auth.lan@sso` : `user: user${i}@contoso.com@entra`;
    const role = roles[i % roles.length];
    const path = paths(i);
    const key = `${principal}|${role}|${path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`  - { ${principal}, role: ${role}, path: ${path}${i % 7 === 0 ? ", propagate: false" : ""} }`);
  }
  return `${lines.join("\n")}\n`;
}

/** The demo's tenant and cluster, pointed at running simulators (secrets from CONTOSO_SECRET and PVE_TOKEN). */
export function demoHeader(entra, pve) {
  return [
    "tenants:",
    "  contoso:",
    `    tenantId: ${entra.tenantId}`,
    `    cloud: { loginUrl: "${entra.loginUrl}", graphUrl: "${entra.graphUrl}" }`,
    `    credentials: { clientId: ${entra.automation.clientId}, clientSecret: "\${env:CONTOSO_SECRET}" }`,
    "clusters:",
    "  pve:",
    `    url: ${pve.url}`,
    `    token: { id: "${pve.adminToken.id}", secret: "\${env:PVE_TOKEN}" }`,
    `    tls: { fingerprint: "${pve.fingerprint}" }`,
  ].join("\n");
}
