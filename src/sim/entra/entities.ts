/**
 * The Entra simulator's stored objects and grants as plain data: what state.ts and store.ts keep, and what the
 * Graph, token and sign-in handlers read. No behaviour here beyond a case-insensitive compare.
 */
import type { Json } from "./shapes.js";

/** What `EntraSim.directory.updateUser` may change. */
export interface UserProfileChange {
  displayName?: string;
  userPrincipalName?: string;
  mail?: string | null;
  givenName?: string | null;
  surname?: string | null;
}

/** One stored directory object. `pending` = reads left during which it stays invisible (4.4). */
export interface Entity {
  data: Json;
  pending: number;
  owners: string[];
  members: string[];
}

export type CollectionName = "applications" | "servicePrincipals" | "users" | "groups" | "appRoleAssignments";

export type ODataType = "application" | "servicePrincipal" | "user" | "group";

export interface AccessGrant {
  kind: "app" | "user";
  appId: string;
  principalId: string;
  permissions: string[];
  expiresAt: number;
}

export interface DeviceGrant {
  clientId: string;
  scopes: string[];
  pendingPolls: number;
  expiresAt: number;
  userId: string;
}

export interface RefreshGrant {
  clientId: string;
  scopes: string[];
  userId: string;
}
/** What the sign-in page checks for a user; not Graph properties (Graph never returns passwords). */
export interface UserSignIn {
  password: string;
  accountEnabled: boolean;
  userType: "Member" | "Guest";
}

/** An authorization code (v2-oauth2-auth-code-flow): single use, short-lived, bound to client and redirect URI. */
export interface AuthCodeGrant {
  clientId: string;
  redirectUri: string;
  userId: string;
  scopes: string[];
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: "plain" | "S256";
  authTime: number;
  expiresAt: number;
  redeemed: boolean;
}

/** Default password of fixture users that name none (documented in the README; a local simulator only). */
export const DEFAULT_USER_PASSWORD = "homelab-sim-password";

export type SecretCheck = "ok" | "no-app" | "wrong" | "expired" | "no-sp" | "disabled";

export const ACCESS_TOKEN_SECONDS = 3599;

/** A stored object as a fresh entity (no owners, no members), invisible to its next `pending` Graph reads. */
export function newEntity(data: Json, pending = 0): Entity {
  return { data, pending, owners: [], members: [] };
}

export function eqi(a: unknown, b: unknown): boolean {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}
