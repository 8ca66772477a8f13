import { denied } from "./errors.js";

/** Graph application permissions (app-role ids) from section 1.2. */
export const GRAPH_APP_ROLES: Record<string, string> = {
  "Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
  "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
  "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
  "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
  "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
  "Group.Read.All": "5b567255-7703-4780-807c-7be8301ae99b",
  "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
  "User.ReadBasic.All": "97235f07-e226-4f63-ace3-39588e11d3a1",
  "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
  "DelegatedPermissionGrant.ReadWrite.All": "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
  // Read app management policies (secret lifetime limits); the id is Graph's in every tenant.
  "Policy.Read.All": "246dd0d5-5bd0-4def-940b-0421030a5b68",
};

export const DEFAULT_AUTOMATION_PERMISSIONS = [
  "Application.ReadWrite.OwnedBy",
  "AppRoleAssignment.ReadWrite.All",
  "Group.Read.All",
  "User.Read.All",
  "Policy.Read.All", // what bootstrap grants too: lifetime policies are read at plan time
];

/** Who is calling Graph, as recorded when the token was issued. */
export interface Caller {
  kind: "app" | "user";
  appId: string;
  /** Object id acting as owner: the caller's service principal (app) or the signed-in user (delegated). */
  principalId: string;
  /** Application permissions (roles) or delegated scopes, by name. */
  permissions: ReadonlySet<string>;
}

export const READ_APPS = [
  "Application.Read.All",
  "Application.ReadWrite.All",
  // 1.2: OwnedBy may list and read every application and service principal in the tenant.
  "Application.ReadWrite.OwnedBy",
  "Directory.Read.All",
];
export const READ_GROUPS = ["GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"];
export const READ_USERS = ["User.Read.All", "User.ReadBasic.All", "Directory.Read.All"];
export const READ_ASSIGNMENTS = [...READ_APPS, "AppRoleAssignment.ReadWrite.All"];

export function hasAny(caller: Caller, perms: readonly string[]): boolean {
  return perms.some((p) => caller.permissions.has(p));
}

export function requireAny(caller: Caller, perms: readonly string[]): void {
  if (!hasAny(caller, perms)) throw denied();
}

/**
 * Write access to an application or service principal: `Application.ReadWrite.All`, or
 * `Application.ReadWrite.OwnedBy` on an object the caller owns (1.2, errata 9.2).
 */
export function requireWrite(caller: Caller, owners: readonly string[]): void {
  if (caller.permissions.has("Application.ReadWrite.All")) return;
  if (caller.permissions.has("Application.ReadWrite.OwnedBy") && owners.includes(caller.principalId)) return;
  throw denied();
}

/** Creating applications and service principals: All or OwnedBy (1.2). */
export function requireCreate(caller: Caller): void {
  requireAny(caller, ["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]);
}

/**
 * Adding or removing owners through `$ref`: Application.ReadWrite.All, or an owning OwnedBy caller that also holds
 * Directory.Read.All (errata 9.2 overrides 3.10's "OwnedBy is not sufficient").
 */
export function requireOwnerChange(caller: Caller, owners: readonly string[]): void {
  if (caller.permissions.has("Application.ReadWrite.All")) return;
  if (
    caller.permissions.has("Application.ReadWrite.OwnedBy") &&
    caller.permissions.has("Directory.Read.All") &&
    owners.includes(caller.principalId)
  )
    return;
  throw denied();
}

/**
 * Writing app role assignments: AppRoleAssignment.ReadWrite.All plus a read permission on applications, or
 * Application.ReadWrite.All (errata 9.2). OwnedBy counts as the read permission: it reads every application and
 * service principal (1.2), and homelab's default grant relies on that.
 */
export function requireAssignmentWrite(caller: Caller): void {
  if (caller.permissions.has("Application.ReadWrite.All")) return;
  if (caller.permissions.has("AppRoleAssignment.ReadWrite.All") && hasAny(caller, READ_APPS)) return;
  throw denied();
}
