/**
 * Fixed data of a Proxmox VE 9.2 server (access-control 9.1.1): privileges (spec 4.3), built-in
 * roles (4.4), realm plugin option sets (3.1.5) and the ACL path whitelist (4.2).
 */

/** The 47 privileges of access-control 9.1.1 (spec 4.3). `VM.Monitor` is gone since 9.0.2. */
export const PRIVILEGES: readonly string[] = [
  "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU",
  "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory",
  "VM.Config.Network", "VM.Config.Options", "VM.Console", "VM.GuestAgent.Audit",
  "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite",
  "VM.GuestAgent.Unrestricted", "VM.Migrate", "VM.PowerMgmt", "VM.Replicate", "VM.Snapshot",
  "VM.Snapshot.Rollback",
  "Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt",
  "Sys.Syslog",
  "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
  "SDN.Allocate", "SDN.Audit", "SDN.Use",
  "Group.Allocate", "Realm.Allocate", "Realm.AllocateUser", "User.Modify",
  "Pool.Allocate", "Pool.Audit",
  "Mapping.Audit", "Mapping.Modify", "Mapping.Use",
  "Permissions.Modify",
];
export const PRIVILEGE_SET: ReadonlySet<string> = new Set(PRIVILEGES);

const PVE_ADMIN_EXCLUDED = new Set([
  "Permissions.Modify", "Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork",
  "Realm.Allocate", "Mapping.Modify",
]);

/** Built-in ("special") roles with their exact privilege lists (spec 4.4). */
export const BUILTIN_ROLES: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ["Administrator", PRIVILEGES],
  ["NoAccess", []],
  ["PVEAdmin", PRIVILEGES.filter((p) => !PVE_ADMIN_EXCLUDED.has(p))],
  ["PVEAuditor", ["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit", "VM.GuestAgent.Audit"]],
  ["PVEDatastoreAdmin", ["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"]],
  ["PVEDatastoreUser", ["Datastore.AllocateSpace", "Datastore.Audit"]],
  ["PVEMappingAdmin", ["Mapping.Audit", "Mapping.Modify", "Mapping.Use"]],
  ["PVEMappingUser", ["Mapping.Audit", "Mapping.Use"]],
  ["PVEPoolAdmin", ["Pool.Allocate", "Pool.Audit"]],
  ["PVEPoolUser", ["Pool.Audit"]],
  ["PVESDNAdmin", ["SDN.Allocate", "SDN.Audit", "SDN.Use"]],
  ["PVESDNUser", ["SDN.Audit", "SDN.Use"]],
  ["PVESysAdmin", ["Sys.Audit", "Sys.Console", "Sys.Syslog"]],
  ["PVETemplateUser", ["VM.Audit", "VM.Clone"]],
  ["PVEUserAdmin", ["Group.Allocate", "Realm.AllocateUser", "User.Modify"]],
  ["PVEVMAdmin", PRIVILEGES.filter((p) => p.startsWith("VM."))],
  ["PVEVMUser", [
    "VM.Audit", "VM.Backup", "VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console",
    "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite", "VM.PowerMgmt",
  ]],
]);

export type RealmType = "pam" | "pve" | "ldap" | "ad" | "openid";
export const REALM_TYPES: readonly RealmType[] = ["pam", "pve", "ldap", "ad", "openid"];

interface PluginOptions {
  /** option name → required at creation */
  options: ReadonlyMap<string, boolean>;
  /** options that can only be set at creation (spec 3.1.4: only openid `username-claim`) */
  fixed: ReadonlySet<string>;
}

const LDAP_COMMON = [
  "server2", "port", "mode", "secure", "sslversion", "verify", "capath", "cert", "certkey",
  "bind_dn", "password", "filter", "sync_attributes", "user_classes", "group_dn",
  "group_name_attr", "group_filter", "group_classes", "sync-defaults-options", "case-sensitive",
  "comment", "default", "tfa",
];

function plugin(required: string[], optional: string[], fixed: string[] = []): PluginOptions {
  const options = new Map<string, boolean>();
  for (const o of optional) options.set(o, false);
  for (const o of required) options.set(o, true);
  return { options, fixed: new Set(fixed) };
}

/** Options each realm type accepts (spec 3.1.5, 3.1.5.1; `tfa` is never valid for openid). */
export const REALM_PLUGINS: Readonly<Record<RealmType, PluginOptions>> = {
  pam: plugin([], ["comment", "default", "tfa"]),
  pve: plugin([], ["comment", "default", "tfa"]),
  ldap: plugin(["server1", "base_dn", "user_attr"], LDAP_COMMON),
  ad: plugin(["server1", "domain"], [...LDAP_COMMON, "base_dn", "user_attr"]),
  openid: plugin(
    ["issuer-url", "client-id"],
    [
      "client-key", "autocreate", "username-claim", "scopes", "prompt", "acr-values",
      "groups-claim", "groups-autocreate", "groups-overwrite", "query-userinfo", "audiences",
      "default", "comment",
    ],
    ["username-claim"],
  ),
};

export const BUILTIN_REALM_COMMENTS: Readonly<Record<"pam" | "pve", string>> = {
  pam: "Linux PAM standard authentication",
  pve: "Proxmox VE authentication server",
};

// --- ACL paths (spec 4.2, check_path of access-control 9.1.1) -----------------------------

const ID = "[A-Za-z0-9._-]+";
const ALNUM = "[A-Za-z0-9]+";
const POOL = `${ID}(?:/${ID}){0,2}`;
const ACL_PATH_PATTERNS: readonly RegExp[] = [
  "/",
  "/access",
  "/access/groups",
  `/access/groups/${ID}`,
  "/access/realm",
  `/access/realm/${ID}`,
  "/nodes",
  `/nodes/${ID}`,
  "/pool",
  `/pool/${POOL}`,
  "/storage",
  `/storage/${ID}`,
  "/vms",
  "/vms/[1-9][0-9]{2,}",
  "/sdn",
  "/sdn/zones",
  `/sdn/zones/${ID}`,
  `/sdn/zones/${ID}/${ID}`,
  `/sdn/zones/${ID}/${ID}/[1-9][0-9]{0,3}`,
  "/sdn/controllers",
  "/sdn/controllers/[A-Za-z0-9_-]+",
  "/sdn/dns",
  `/sdn/dns/${ALNUM}`,
  "/sdn/ipams",
  `/sdn/ipams/${ALNUM}`,
  "/sdn/fabrics",
  `/sdn/fabrics/${ALNUM}`,
  "/sdn/prefix-lists",
  `/sdn/prefix-lists/${ALNUM}`,
  "/sdn/route-maps",
  `/sdn/route-maps/${ALNUM}`,
  "/mapping",
  `/mapping/${ID}`,
  `/mapping/${ID}/${ID}`,
].map((p) => new RegExp(`^${p}$`));

/** access-control `check_path`: may an entry be *added* on this (normalized) path? */
export function isValidAclPath(path: string): boolean {
  return ACL_PATH_PATTERNS.some((re) => re.test(path));
}

/**
 * access-control `normalize_path`: collapse repeated "/", drop a trailing "/", add a leading one;
 * undefined when empty or when it contains characters outside [A-Za-z0-9._/-].
 */
export function normalizeAclPath(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let path = `/${raw}`.replace(/\/+/g, "/").replace(/\/$/, "");
  if (path === "") path = "/";
  if (!/^[A-Za-z0-9._\-/]+$/.test(path)) return undefined;
  return path;
}
