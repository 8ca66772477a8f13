import { normaliseKeyCredential } from "./client-assertion.js";
import { DEFAULT_USER_PASSWORD, eqi, newEntity, type CollectionName, type Entity, type UserProfileChange } from "./entities.js";
import { GRAPH_APP_ID, graphDate, isGuid, newGuid, newSecretText } from "./ids.js";
import { GRAPH_APP_ROLES } from "./permissions.js";
import { applicationTemplate, groupTemplate, servicePrincipalTemplate, userTemplate, type Json } from "./shapes.js";
import { DirectoryStore } from "./store.js";
import type { EntraFixture, EntraFixtureGroup, EntraFixtureUser, EntraSimState } from "./types.js";

export * from "./entities.js";

/**
 * The tenant's directory as the simulator exposes it (EntraSim.directory): the store (store.ts: objects, reads,
 * secrets, tokens), seeded from a fixture, changed at run time by tests (users, groups, memberships) and shown by
 * the inspector.
 */
export class Directory extends DirectoryStore {
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
      this.collections.users.set(id, newEntity(userTemplate({ ...props, id })));
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
      const e = newEntity(groupTemplate({ ...g, id }, now));
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
        const e = newEntity(groupTemplate({ id, displayName: `Generated group ${String(++n).padStart(3, "0")}` }, now));
        e.members = [userId];
        this.collections.groups.set(id, e);
      }

    // The automation app: an application, its service principal, one secret, and Graph app-role assignments.
    const autoApp = newEntity(applicationTemplate(newGuid(), automation.clientId, now, this.domain));
    autoApp.data.displayName = automation.displayName;
    autoApp.data.requiredResourceAccess = [
      {
        resourceAppId: GRAPH_APP_ID,
        resourceAccess: automation.permissions.map((p) => ({ id: roleId(p), type: "Role" })),
      },
    ];
    this.collections.applications.set(String(autoApp.data.id), autoApp);
    this.seedCredential(autoApp, { displayName: "homelab-sim bootstrap", secretText: automation.clientSecret }, now);
    const autoSp = newEntity(servicePrincipalTemplate(newGuid(), autoApp.data, this.tenantId, this.domain));
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
      const e = newEntity({ ...applicationTemplate(id, appId, now, this.domain), ...structuredClone(props), id, appId });
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
      const e = newEntity({ ...servicePrincipalTemplate(id, app.data, this.tenantId, this.domain), ...structuredClone(props), id });
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
    this.collections.users.set(id, newEntity(userTemplate({ ...props, id })));
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
    const e = newEntity(groupTemplate({ ...g, id }, this.now()));
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

function roleId(permission: string): string {
  const id = GRAPH_APP_ROLES[permission];
  if (!id) throw new Error(`entra sim: unknown Graph application permission '${permission}'`);
  return id;
}
