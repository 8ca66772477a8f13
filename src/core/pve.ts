/**
 * Facts about Proxmox VE access control that the config checks, the planner and the simulator share.
 * Source: shared/spec/proxmox-access-api.md section 4 (access-control 9.1.1, PVE 9.2).
 */
import { nullRecord } from "./record.js";

/** The 47 privileges of section 4.3. */
export const PRIVILEGES: readonly string[] = [
  "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
  "Group.Allocate", "Mapping.Audit", "Mapping.Modify", "Mapping.Use", "Permissions.Modify",
  "Pool.Allocate", "Pool.Audit", "Realm.Allocate", "Realm.AllocateUser",
  "SDN.Allocate", "SDN.Audit", "SDN.Use",
  "Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog",
  "User.Modify",
  "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Cloudinit",
  "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options", "VM.Console",
  "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite",
  "VM.GuestAgent.Unrestricted", "VM.Migrate", "VM.PowerMgmt", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback",
];

const vm = PRIVILEGES.filter((p) => p.startsWith("VM."));
const pveAdminExcluded = new Set(["Permissions.Modify", "Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork", "Realm.Allocate", "Mapping.Modify"]);

/**
 * The 17 built-in ("special") roles of section 4.4 and their privileges. They cannot be created, changed or
 * deleted. A record without a prototype, so that `"toString" in BUILTIN_ROLES` is false (issue 10 item 6);
 * test a name with `isBuiltinRole`.
 */
export const BUILTIN_ROLES: Readonly<Record<string, readonly string[]>> = nullRecord<readonly string[]>({
  Administrator: PRIVILEGES,
  NoAccess: [],
  PVEAdmin: PRIVILEGES.filter((p) => !pveAdminExcluded.has(p)),
  PVEAuditor: ["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit", "VM.GuestAgent.Audit"],
  PVEDatastoreAdmin: ["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"],
  PVEDatastoreUser: ["Datastore.AllocateSpace", "Datastore.Audit"],
  PVEMappingAdmin: ["Mapping.Audit", "Mapping.Modify", "Mapping.Use"],
  PVEMappingUser: ["Mapping.Audit", "Mapping.Use"],
  PVEPoolAdmin: ["Pool.Allocate", "Pool.Audit"],
  PVEPoolUser: ["Pool.Audit"],
  PVESDNAdmin: ["SDN.Allocate", "SDN.Audit", "SDN.Use"],
  PVESDNUser: ["SDN.Audit", "SDN.Use"],
  PVESysAdmin: ["Sys.Audit", "Sys.Console", "Sys.Syslog"],
  PVETemplateUser: ["VM.Audit", "VM.Clone"],
  PVEUserAdmin: ["Group.Allocate", "Realm.AllocateUser", "User.Modify"],
  PVEVMAdmin: vm,
  PVEVMUser: ["VM.Audit", "VM.Backup", "VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.PowerMgmt"],
});
Object.freeze(BUILTIN_ROLES);

/** Whether `roleid` is one of the built-in roles (never a member of Object.prototype). */
export function isBuiltinRole(roleid: string): boolean {
  return Object.hasOwn(BUILTIN_ROLES, roleid);
}

/** The realms every installation has (section 4.5). */
export const BUILTIN_REALMS: readonly string[] = ["pam", "pve"];

/** The superuser: always exists, always has every privilege, its ACL entries are never stored (4.5). */
export const ROOT_USER = "root@pam";

/** The realm of a user id is the part after the LAST `@` (section 4.1: names may contain `@`). */
export function realmOf(userid: string): string {
  return userid.slice(userid.lastIndexOf("@") + 1);
}
