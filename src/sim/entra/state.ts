import { normaliseKeyCredential } from "./client-assertion.js";
import { SigningKey } from "./signing.js";
import { GRAPH_APP_ID, graphDate, isGuid, newGuid, newOpaque, newSecretText } from "./ids.js";
import { GRAPH_APP_ROLES } from "./permissions.js";
import {
  applicationTemplate,
  graphServicePrincipal,
  groupTemplate,
  servicePrincipalTemplate,
  userTemplate,
  type Json,
} from "./shapes.js";
import type { EntraFixture, EntraFixtureGroup, EntraFixtureUser, EntraSimKnobs, EntraSimState } from "./types.js";

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

interface StoredSecret {
  appObjectId: string;
  secret: string;
  /** Token requests left that refuse this brand-new secret (secretActivationDelay knob). */
  pendingUses: number;
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

/**
 * The tenant's directory. All Graph reads go through `see()`, which implements the consistency knob: a fresh
 * object answers "not found" to its next N reads (4.4). The token endpoint reads `raw*` (no replication lag there).
 */
export class Directory {
  readonly collections: Record<CollectionName, Map<string, Entity>> = {
    applications: new Map(),
    servicePrincipals: new Map(),
    users: new Map(),
    groups: new Map(),
    appRoleAssignments: new Map(),
  };
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly credentialPending = new Map<string, number>();
  readonly accessTokens = new Map<string, AccessGrant>();
  readonly refreshTokens = new Map<string, RefreshGrant>();
  readonly deviceCodes = new Map<string, DeviceGrant>();
  /** Sign-in data by user object id (authorize endpoint). */
  readonly userSignIn = new Map<string, UserSignIn>();
  readonly authCodes = new Map<string, AuthCodeGrant>();
  readonly graphSpId = newGuid();
  knobs: EntraSimKnobs = {};
  /** Salt of pairwise subjects (5.2); set from options by startEntraSim. */
  pairwiseSalt = "";
  /** The tenant's token-signing key (jwks_uri). */
  readonly signing = new SigningKey();

  constructor(
    readonly tenantId: string,
    readonly domain: string,
    public now: () => Date,
  ) {
    this.collections.servicePrincipals.set(this.graphSpId, this.entity(graphServicePrincipal(this.graphSpId, tenantId, GRAPH_APP_ROLES)));
  }

  private entity(data: Json, pending = 0): Entity {
    return { data, pending, owners: [], members: [] };
  }

  /** A Graph read of `e`: false while it is still replicating (and counts the read). */
  see(e: Entity): boolean {
    if (e.pending > 0) {
      e.pending--;
      return false;
    }
    return true;
  }

  add(coll: CollectionName, data: Json, owners: string[] = []): Entity {
    const e = this.entity(data, this.knobs.consistencyDelay ?? 0);
    e.owners = owners;
    this.collections[coll].set(String(data.id), e);
    return e;
  }

  /** Visible objects of a collection; each one counts a read. */
  list(coll: CollectionName): Entity[] {
    return [...this.collections[coll].values()].filter((e) => this.see(e));
  }

  get(coll: CollectionName, id: string): Entity | undefined {
    // Object ids are GUIDs and compare case-insensitively; assignment ids are opaque and compare exactly.
    const e =
      this.collections[coll].get(id) ??
      (isGuid(id) ? this.findRaw(coll, (d) => typeof d.id === "string" && d.id.toLowerCase() === id.toLowerCase()) : undefined);
    return e && this.see(e) ? e : undefined;
  }

  findRaw(coll: CollectionName, pred: (d: Json) => boolean): Entity | undefined {
    for (const e of this.collections[coll].values()) if (pred(e.data)) return e;
    return undefined;
  }

  /** Graph read by a property value (alternate keys, appId references). */
  find(coll: CollectionName, pred: (d: Json) => boolean): Entity | undefined {
    const e = this.findRaw(coll, pred);
    return e && this.see(e) ? e : undefined;
  }

  rawAppByAppId(appId: string): Entity | undefined {
    return this.findRaw("applications", (d) => eqi(d.appId, appId));
  }

  rawSpByAppId(appId: string): Entity | undefined {
    return this.findRaw("servicePrincipals", (d) => eqi(d.appId, appId));
  }

  /** Any directory object by id (owners, assignment principals), as a Graph read. */
  directoryObject(id: string): { type: ODataType; entity: Entity } | undefined {
    const kinds: Array<[CollectionName, ODataType]> = [
      ["users", "user"],
      ["groups", "group"],
      ["servicePrincipals", "servicePrincipal"],
      ["applications", "application"],
    ];
    for (const [coll, type] of kinds) {
      const e = this.collections[coll].get(id.toLowerCase()) ?? this.collections[coll].get(id);
      if (e) return this.see(e) ? { type, entity: e } : undefined;
    }
    return undefined;
  }

  // ---- secrets ----------------------------------------------------------------------------------------------

  /** Stores a usable secret for a credential; Graph only ever shows the credential without `secretText` (3.2). */
  storeSecret(appObjectId: string, keyId: string, secret: string, fresh: boolean): void {
    this.secrets.set(keyId, { appObjectId, secret, pendingUses: fresh ? (this.knobs.secretActivationDelay ?? 0) : 0 });
    if (fresh && (this.knobs.credentialDelay ?? 0) > 0) this.credentialPending.set(keyId, this.knobs.credentialDelay ?? 0);
  }

  dropSecret(keyId: string): void {
    this.secrets.delete(keyId);
    this.credentialPending.delete(keyId);
  }

  /** Credential visibility in a Graph read of its application (credentialDelay knob; 3.7 "can take minutes"). */
  credentialVisible(keyId: string): boolean {
    const n = this.credentialPending.get(keyId) ?? 0;
    if (n <= 0) return true;
    this.credentialPending.set(keyId, n - 1);
    return false;
  }

  /**
   * What the token endpoint would say about (appId, secret) now. `consume` counts a token request against the
   * activation delay of a brand-new secret.
   */
  checkSecret(appId: string, secret: string, consume: boolean): SecretCheck {
    const app = this.rawAppByAppId(appId);
    if (!app) return "no-app";
    const creds = (app.data.passwordCredentials ?? []) as Json[];
    const now = this.now().getTime();
    let expired = false;
    for (const c of creds) {
      const stored = this.secrets.get(String(c.keyId));
      if (!stored || stored.secret !== secret) continue;
      const start = Date.parse(String(c.startDateTime));
      const end = Date.parse(String(c.endDateTime));
      if (now >= end) {
        expired = true;
        continue;
      }
      if (now < start) continue;
      if (stored.pendingUses > 0) {
        if (consume) stored.pendingUses--;
        continue;
      }
      // Errata 9.1: a secret only works once the app has a service principal in the tenant.
      const sp = this.rawSpByAppId(appId);
      if (!sp) return "no-sp";
      if (sp.data.accountEnabled === false) return "disabled";
      return "ok";
    }
    return expired ? "expired" : "wrong";
  }

  /** Application permissions granted to a service principal on Graph: its app-role assignments (1.2). */
  grantedGraphRoles(spId: string): string[] {
    const graphSp = this.collections.servicePrincipals.get(this.graphSpId);
    const roles = (graphSp?.data.appRoles ?? []) as Json[];
    const out: string[] = [];
    for (const a of this.collections.appRoleAssignments.values()) {
      if (a.data.principalId !== spId || a.data.resourceId !== this.graphSpId) continue;
      const role = roles.find((r) => r.id === a.data.appRoleId);
      if (role) out.push(String(role.value));
    }
    return out.sort();
  }

  issueAccessToken(grant: Omit<AccessGrant, "expiresAt">): string {
    const token = newOpaque(48);
    this.accessTokens.set(token, { ...grant, expiresAt: this.now().getTime() + ACCESS_TOKEN_SECONDS * 1000 });
    return token;
  }

  // ---- object creation shared by Graph handlers and seeding ---------------------------------------------------

  newApplication(props: Json, owners: string[]): Entity {
    const id = newGuid();
    const data = applicationTemplate(id, newGuid(), this.now(), this.domain);
    Object.assign(data, structuredClone(props));
    data.id = id;
    return this.add("applications", data, owners);
  }

  newServicePrincipal(app: Json, props: Json, owners: string[]): Entity {
    const data = servicePrincipalTemplate(newGuid(), app, this.tenantId, this.domain);
    const id = data.id;
    Object.assign(data, structuredClone(props));
    data.id = id;
    return this.add("servicePrincipals", data, owners);
  }

  newAssignment(principal: { type: ODataType; entity: Entity }, resource: Entity, appRoleId: string): Entity {
    const data: Json = {
      id: newOpaque(32),
      deletedDateTime: null,
      appRoleId,
      createdDateTime: graphDate(this.now()),
      principalDisplayName: principal.entity.data.displayName ?? null,
      principalId: principal.entity.data.id,
      principalType: principal.type === "user" ? "User" : principal.type === "group" ? "Group" : "ServicePrincipal",
      resourceDisplayName: resource.data.displayName ?? null,
      resourceId: resource.data.id,
    };
    return this.add("appRoleAssignments", data);
  }

  /** Deleting an application also removes its service principal and their assignments (3.6). */
  deleteApplication(e: Entity): void {
    this.collections.applications.delete(String(e.data.id));
    for (const c of (e.data.passwordCredentials ?? []) as Json[]) this.dropSecret(String(c.keyId));
    const sp = this.rawSpByAppId(String(e.data.appId));
    if (sp) this.deleteServicePrincipal(sp);
  }

  deleteServicePrincipal(sp: Entity): void {
    const spId = String(sp.data.id);
    this.collections.servicePrincipals.delete(spId);
    for (const [id, a] of this.collections.appRoleAssignments)
      if (a.data.principalId === spId || a.data.resourceId === spId) this.collections.appRoleAssignments.delete(id);
  }

  // ---- seeding -------------------------------------------------------------------------------------------------

  seed(
    fixture: EntraFixture,
    automation: { clientId: string; clientSecret: string; permissions: string[]; displayName: string },
  ): { objectId: string; servicePrincipalId: string } {
    const now = this.now();
    const generated: Array<[string, number]> = [];
    for (const u of fixture.users ?? []) {
      const id = (u.id ?? newGuid()).toLowerCase();
      const { password, accountEnabled, userType, generatedGroups, ...props } = u;
      this.collections.users.set(id, this.entity(userTemplate({ ...props, id })));
      this.userSignIn.set(id, {
        password: password ?? DEFAULT_USER_PASSWORD,
        accountEnabled: accountEnabled ?? true,
        userType: userType ?? (u.userPrincipalName.includes("#EXT#") ? "Guest" : "Member"),
      });
      if (generatedGroups) generated.push([id, generatedGroups]);
    }
    // A map, not a scan per member: fixtures with thousands of members (issue 13's benchmark) seed in linear time.
    const byUpn = new Map<string, string>();
    for (const u of this.collections.users.values()) byUpn.set(String(u.data.userPrincipalName).toLowerCase(), String(u.data.id));
    const upnToId = (upn: string): string => {
      const id = byUpn.get(upn.toLowerCase());
      if (!id) throw new Error(`entra sim fixture: unknown user '${upn}'`);
      return id;
    };
    for (const g of fixture.groups ?? []) {
      const id = (g.id ?? newGuid()).toLowerCase();
      const e = this.entity(groupTemplate({ ...g, id }, now));
      if (g.securityEnabled === false) e.data.securityEnabled = false;
      e.members = (g.members ?? []).map(upnToId);
      this.collections.groups.set(id, e);
    }
    // Nested groups, once every group exists. Entra refuses a membership that would close a cycle, so does the fixture.
    for (const g of fixture.groups ?? []) {
      if (!g.memberGroups?.length) continue;
      const parent = this.findRaw("groups", (d) => d.displayName === g.displayName);
      for (const name of g.memberGroups) {
        const child = this.findRaw("groups", (d) => d.displayName === name);
        if (!child) throw new Error(`entra sim fixture: unknown member group '${name}'`);
        if (parent && this.reaches(String(child.data.id), String(parent.data.id)))
          throw new Error(`entra sim fixture: group '${name}' in '${g.displayName}' would make a membership cycle`);
        parent?.members.push(String(child.data.id));
      }
    }
    let n = 0;
    for (const [userId, count] of generated)
      for (let i = 1; i <= count; i++) {
        const id = newGuid();
        const e = this.entity(groupTemplate({ id, displayName: `Generated group ${String(++n).padStart(3, "0")}` }, now));
        e.members = [userId];
        this.collections.groups.set(id, e);
      }

    // The automation app: an application, its service principal, one secret, and Graph app-role assignments.
    const autoApp = this.entity(applicationTemplate(newGuid(), automation.clientId, now, this.domain));
    autoApp.data.displayName = automation.displayName;
    autoApp.data.requiredResourceAccess = [
      {
        resourceAppId: GRAPH_APP_ID,
        resourceAccess: automation.permissions.map((p) => ({ id: roleId(p), type: "Role" })),
      },
    ];
    this.collections.applications.set(String(autoApp.data.id), autoApp);
    this.seedCredential(autoApp, { displayName: "homelab-sim bootstrap", secretText: automation.clientSecret }, now);
    const autoSp = this.entity(servicePrincipalTemplate(newGuid(), autoApp.data, this.tenantId, this.domain));
    this.collections.servicePrincipals.set(String(autoSp.data.id), autoSp);
    const graphSp = this.collections.servicePrincipals.get(this.graphSpId);
    if (!graphSp) throw new Error("unreachable: graph service principal");
    for (const p of automation.permissions) {
      const a = this.newAssignment({ type: "servicePrincipal", entity: autoSp }, graphSp, roleId(p));
      a.pending = 0;
    }

    const pendingOwners: Array<[Entity, unknown]> = [];
    for (const raw of fixture.applications ?? []) {
      const { owners, passwordCredentials, ...props } = raw;
      const id = typeof props.id === "string" ? props.id.toLowerCase() : newGuid();
      const appId = typeof props.appId === "string" ? props.appId : newGuid();
      const e = this.entity({ ...applicationTemplate(id, appId, now, this.domain), ...structuredClone(props), id, appId });
      e.data.passwordCredentials = [];
      e.data.keyCredentials = ((props.keyCredentials ?? []) as Json[]).map(normaliseKeyCredential);
      this.collections.applications.set(id, e);
      for (const c of (passwordCredentials ?? []) as Json[]) this.seedCredential(e, c, now);
      pendingOwners.push([e, owners]);
    }
    for (const raw of fixture.servicePrincipals ?? []) {
      const { owners, ...props } = raw;
      const app = this.rawAppByAppId(String(props.appId));
      if (!app) throw new Error(`entra sim fixture: service principal for unknown appId '${String(props.appId)}'`);
      const id = typeof props.id === "string" ? props.id.toLowerCase() : newGuid();
      const e = this.entity({ ...servicePrincipalTemplate(id, app.data, this.tenantId, this.domain), ...structuredClone(props), id });
      this.collections.servicePrincipals.set(id, e);
      pendingOwners.push([e, owners]);
    }
    for (const [e, owners] of pendingOwners) {
      e.owners = ((owners ?? []) as string[]).map((o) => this.resolveFixtureOwner(o));
    }
    return { objectId: String(autoApp.data.id), servicePrincipalId: String(autoSp.data.id) };
  }

  private resolveFixtureOwner(ref: string): string {
    const byId = this.directoryObject(ref);
    if (byId) return String(byId.entity.data.id);
    const sp = this.rawSpByAppId(ref);
    if (sp) return String(sp.data.id);
    const user = this.findRaw("users", (d) => eqi(d.userPrincipalName, ref));
    if (user) return String(user.data.id);
    throw new Error(`entra sim fixture: unknown owner '${ref}'`);
  }

  private seedCredential(app: Entity, c: Json, now: Date): void {
    const secret = typeof c.secretText === "string" ? c.secretText : newSecretText();
    const keyId = typeof c.keyId === "string" ? c.keyId : newGuid();
    const start = typeof c.startDateTime === "string" ? new Date(c.startDateTime) : new Date(now.getTime() - 86_400_000);
    const end = typeof c.endDateTime === "string" ? new Date(c.endDateTime) : new Date(start.getTime() + 2 * 365.25 * 86_400_000);
    const cred: Json = {
      customKeyIdentifier: null,
      displayName: c.displayName ?? null,
      endDateTime: graphDate(end),
      hint: secret.slice(0, 3),
      keyId,
      secretText: null,
      startDateTime: graphDate(start),
    };
    (app.data.passwordCredentials as Json[]).push(cred);
    this.storeSecret(String(app.data.id), keyId, secret, false);
  }

  // ---- directory changes at run time (EntraSim.directory) ---------------------------------------------------------

  /** Whether `fromGroupId` reaches `toId` through group memberships (itself included). */
  reaches(fromGroupId: string, toId: string): boolean {
    const seen = new Set<string>();
    const stack = [fromGroupId.toLowerCase()];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (id === toId.toLowerCase()) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      const g = this.collections.groups.get(id);
      if (g) stack.push(...g.members.map((m) => m.toLowerCase()));
    }
    return false;
  }

  /**
   * Every member reachable from a group through nested groups, each once, nearest first (breadth first): what
   * `/groups/{id}/transitiveMembers` lists. Nested groups themselves are included; cycles cannot occur (Entra refuses
   * them, and so do `seed` and `addMember`), but the walk would stop on one anyway.
   */
  transitiveMemberIds(groupId: string): string[] {
    const out: string[] = [];
    const seen = new Set<string>([groupId.toLowerCase()]);
    let frontier = [groupId.toLowerCase()];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const gid of frontier)
        for (const m of this.collections.groups.get(gid)?.members ?? []) {
          const id = m.toLowerCase();
          if (seen.has(id)) continue;
          seen.add(id);
          out.push(m);
          if (this.collections.groups.has(id)) next.push(id);
        }
      frontier = next;
    }
    return out;
  }

  /** A user by object id or userPrincipalName (raw: no replication lag). */
  rawUser(ref: string): Entity | undefined {
    return isGuid(ref) ? this.collections.users.get(ref.toLowerCase()) : this.findRaw("users", (d) => eqi(d.userPrincipalName, ref));
  }

  /** A group by object id or (unique) display name (raw). */
  rawGroup(ref: string): Entity | undefined {
    if (isGuid(ref)) return this.collections.groups.get(ref.toLowerCase());
    const all = [...this.collections.groups.values()].filter((g) => eqi(g.data.displayName, ref));
    if (all.length > 1) throw new Error(`entra sim: ${all.length} groups are named '${ref}'; use the object id`);
    return all[0];
  }

  /** Adds a user as the fixture would (sign-in data included) and returns its object id. */
  addUser(u: EntraFixtureUser): string {
    if (this.findRaw("users", (d) => eqi(d.userPrincipalName, u.userPrincipalName)))
      throw new Error(`entra sim: a user '${u.userPrincipalName}' exists already`);
    const id = (u.id ?? newGuid()).toLowerCase();
    if (this.directoryObjectRaw(id)) throw new Error(`entra sim: object id '${id}' is taken`);
    const { password, accountEnabled, userType, generatedGroups: _g, ...props } = u;
    this.collections.users.set(id, this.entity(userTemplate({ ...props, id })));
    this.userSignIn.set(id, {
      password: password ?? DEFAULT_USER_PASSWORD,
      accountEnabled: accountEnabled ?? true,
      userType: userType ?? (u.userPrincipalName.includes("#EXT#") ? "Guest" : "Member"),
    });
    return id;
  }

  /** Changes profile properties of a user (`mail: null` clears it). */
  updateUser(ref: string, props: UserProfileChange): void {
    const u = this.rawUser(ref);
    if (!u) throw new Error(`entra sim: no user '${ref}'`);
    for (const [k, v] of Object.entries(props)) {
      if (!["displayName", "userPrincipalName", "mail", "givenName", "surname"].includes(k)) throw new Error(`entra sim: cannot change '${k}'`);
      if (v !== undefined) u.data[k] = v;
    }
  }

  /** `accountEnabled` (sign-in refused with AADSTS50057 while false; Graph shows it on $select). */
  setAccountEnabled(ref: string, enabled: boolean): void {
    const u = this.rawUser(ref);
    if (!u) throw new Error(`entra sim: no user '${ref}'`);
    const s = this.userSignIn.get(String(u.data.id));
    if (s) s.accountEnabled = enabled;
  }

  accountEnabled(userId: string): boolean {
    return this.userSignIn.get(userId.toLowerCase())?.accountEnabled ?? true;
  }

  /**
   * Deletes a user: gone from `/users` (404), from every group, from app role assignments, and their tokens stop
   * working (a deleted user is not restored here: Entra's 30-day recycle bin is out of scope).
   */
  deleteUser(ref: string): void {
    const u = this.rawUser(ref);
    if (!u) throw new Error(`entra sim: no user '${ref}'`);
    this.removeObject(String(u.data.id));
    this.collections.users.delete(String(u.data.id));
    this.userSignIn.delete(String(u.data.id));
  }

  addGroup(g: Omit<EntraFixtureGroup, "members" | "memberGroups">): string {
    const id = (g.id ?? newGuid()).toLowerCase();
    if (this.directoryObjectRaw(id)) throw new Error(`entra sim: object id '${id}' is taken`);
    const e = this.entity(groupTemplate({ ...g, id }, this.now()));
    if (g.securityEnabled === false) e.data.securityEnabled = false;
    this.collections.groups.set(id, e);
    return id;
  }

  deleteGroup(ref: string): void {
    const g = this.rawGroup(ref);
    if (!g) throw new Error(`entra sim: no group '${ref}'`);
    this.removeObject(String(g.data.id));
    this.collections.groups.delete(String(g.data.id));
  }

  /**
   * Makes `member` (a user by id or UPN, or a group by id or display name) a direct member of `group`. Refuses a
   * duplicate and a membership that would close a cycle, as Entra does [U: Entra's exact refusal; the simulator
   * throws]. Returns the member's object id.
   */
  addMember(group: string, member: string): string {
    const g = this.rawGroup(group);
    if (!g) throw new Error(`entra sim: no group '${group}'`);
    const m = this.memberRef(member);
    const mid = String(m.data.id);
    if (g.members.some((x) => x.toLowerCase() === mid.toLowerCase())) throw new Error(`entra sim: '${member}' is a member of '${group}' already`);
    if (this.collections.groups.has(mid.toLowerCase()) && this.reaches(mid, String(g.data.id)))
      throw new Error(`entra sim: adding group '${member}' to '${group}' would make a membership cycle`);
    g.members.push(mid);
    return mid;
  }

  removeMember(group: string, member: string): void {
    const g = this.rawGroup(group);
    if (!g) throw new Error(`entra sim: no group '${group}'`);
    const mid = String(this.memberRef(member).data.id).toLowerCase();
    const before = g.members.length;
    g.members = g.members.filter((x) => x.toLowerCase() !== mid);
    if (g.members.length === before) throw new Error(`entra sim: '${member}' is not a direct member of '${group}'`);
  }

  private memberRef(ref: string): Entity {
    const m = isGuid(ref)
      ? (this.collections.users.get(ref.toLowerCase()) ?? this.collections.groups.get(ref.toLowerCase()))
      : ref.includes("@")
        ? this.rawUser(ref)
        : this.rawGroup(ref);
    if (!m) throw new Error(`entra sim: no user or group '${ref}'`);
    return m;
  }

  private directoryObjectRaw(id: string): boolean {
    return (["users", "groups", "servicePrincipals", "applications"] as const).some((c) => this.collections[c].has(id));
  }

  /** Drops every reference to a deleted user or group: memberships, app role assignments, its tokens and codes. */
  private removeObject(id: string): void {
    const lid = id.toLowerCase();
    for (const g of this.collections.groups.values()) g.members = g.members.filter((m) => m.toLowerCase() !== lid);
    for (const [aid, a] of this.collections.appRoleAssignments)
      if (String(a.data.principalId).toLowerCase() === lid) this.collections.appRoleAssignments.delete(aid);
    for (const [t, grant] of this.accessTokens) if (grant.principalId.toLowerCase() === lid) this.accessTokens.delete(t);
    for (const [t, grant] of this.refreshTokens) if (grant.userId.toLowerCase() === lid) this.refreshTokens.delete(t);
    for (const [c, grant] of this.authCodes) if (grant.userId.toLowerCase() === lid) this.authCodes.delete(c);
  }

  // ---- inspector -----------------------------------------------------------------------------------------------

  snapshot(): EntraSimState {
    const data = (coll: CollectionName): Json[] => [...this.collections[coll].values()].map((e) => structuredClone(e.data));
    const applications = data("applications");
    for (const a of applications) for (const c of (a.passwordCredentials ?? []) as Json[]) delete c.secretText;
    const owners: Record<string, string[]> = {};
    for (const coll of ["applications", "servicePrincipals"] as const)
      for (const [id, e] of this.collections[coll]) owners[id] = [...e.owners];
    const groupMembers: Record<string, string[]> = {};
    for (const [id, e] of this.collections.groups) groupMembers[id] = [...e.members];
    return {
      applications,
      servicePrincipals: data("servicePrincipals"),
      groups: data("groups"),
      users: data("users").map((u) => ({ ...u, accountEnabled: this.accountEnabled(String(u.id)) })),
      appRoleAssignments: data("appRoleAssignments"),
      owners,
      groupMembers,
    };
  }
}

export function eqi(a: unknown, b: unknown): boolean {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}

function roleId(permission: string): string {
  const id = GRAPH_APP_ROLES[permission];
  if (!id) throw new Error(`entra sim: unknown Graph application permission '${permission}'`);
  return id;
}

