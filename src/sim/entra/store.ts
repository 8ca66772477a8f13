/**
 * The tenant's objects and credentials, and the rules every read and token request goes through: replication lag on
 * Graph reads (4.4), secrets with their activation and visibility delays, access tokens, and the creation and
 * deletion of objects the Graph handlers share with seeding. state.ts builds the simulator's Directory on it.
 */
import { ACCESS_TOKEN_SECONDS, eqi, newEntity, type AccessGrant, type AuthCodeGrant, type CollectionName, type DeviceGrant, type Entity, type ODataType, type RefreshGrant, type SecretCheck, type UserSignIn } from "./entities.js";
import { graphDate, isGuid, newGuid, newOpaque } from "./ids.js";
import { GRAPH_APP_ROLES } from "./permissions.js";
import { applicationTemplate, graphServicePrincipal, servicePrincipalTemplate, type Json } from "./shapes.js";
import { SigningKey } from "./signing.js";
import type { EntraSimKnobs } from "./types.js";

interface StoredSecret {
  appObjectId: string;
  secret: string;
  /** Token requests left that refuse this brand-new secret (secretActivationDelay knob). */
  pendingUses: number;
}

/**
 * The tenant's directory. All Graph reads go through `see()`, which implements the consistency knob: a fresh
 * object answers "not found" to its next N reads (4.4). The token endpoint reads `raw*` (no replication lag there).
 */
export class DirectoryStore {
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
    this.collections.servicePrincipals.set(this.graphSpId, newEntity(graphServicePrincipal(this.graphSpId, tenantId, GRAPH_APP_ROLES)));
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
    const e = newEntity(data, this.knobs.consistencyDelay ?? 0);
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
}
