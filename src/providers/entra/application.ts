import type { DesiredApplication, DesiredAppRole } from "../../core/desired.js";
import { HomelabError, UserError } from "../../core/errors.js";
import { diffFields, type Change } from "../../core/plan.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import { realmTag } from "./graph.js";
import { appOf, type ObservedTenant, type TenantTarget } from "./target.js";
import type { ApplicationCreate, EntraApplication, OptionalClaim } from "./types.js";

export const APPLICATION_KIND = "entra.application";

/** Delegated Graph scopes the Proxmox login asks for: openid, profile, email (spec 3.3), declared for consent. */
const LOGIN_SCOPES = {
  resourceAppId: "00000003-0000-0000-c000-000000000000",
  resourceAccess: [
    { id: "37f7f235-527c-4136-accd-4a02d197296e", type: "Scope" as const },
    { id: "14dad69e-099b-42c9-810b-d002981feec1", type: "Scope" as const },
    { id: "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", type: "Scope" as const },
  ],
};

/**
 * Additional properties homelab asks for on an optional claim. A guest's `upn` (`jane_example.com#EXT#@tenant`) is
 * in the ID token only with `include_externally_authenticated_upn` (entra spec 3, `optionalClaims`), so a realm
 * whose username claim is `upn` would refuse guests without it.
 */
const CLAIM_PROPERTIES: Readonly<Record<string, readonly string[]>> = { upn: ["include_externally_authenticated_upn"] };

/** A claim as compared: its name, with its additional properties when it has some (`upn(include_...)`). */
const claimKey = (name: string, props: readonly string[] = []): string => (props.length ? `${name}(${[...props].sort().join(",")})` : name);
const desiredClaimKey = (name: string): string => claimKey(name, Object.hasOwn(CLAIM_PROPERTIES, name) ? CLAIM_PROPERTIES[name] : []);

/** The Graph form of a compared claim key. */
function claim(key: string): OptionalClaim {
  const m = /^([^(]+)\((.*)\)$/.exec(key);
  return { name: m ? m[1]! : key, source: null, essential: false, additionalProperties: m ? m[2]!.split(",") : [] };
}

/** An app role as Graph stores it (application `appRoles`, spec 3.3). */
export interface AppRole {
  id: string;
  value: string | null;
  displayName: string | null;
  description: string | null;
  allowedMemberTypes: string[];
  isEnabled: boolean;
  origin?: string;
}

/**
 * The description marks the roles homelab defines (issue 13 part 3): only those are changed or removed; roles
 * made by hand on the app are sent back unchanged in every PATCH (Graph replaces the whole list).
 */
const ROLE_MARK = "homelab:";
export const isHomelabRole = (r: AppRole): boolean => typeof r.description === "string" && r.description.startsWith(ROLE_MARK);

/** The Graph form of a desired role. */
export function graphRole(r: DesiredAppRole, realm: string): AppRole {
  return {
    id: r.id,
    value: r.value,
    displayName: r.group,
    description: `${ROLE_MARK} members of the Entra group "${r.group}" get the Proxmox group ${r.value}-${realm}`,
    allowedMemberTypes: ["User"],
    isEnabled: true,
    origin: "Application",
  };
}

/** A role as the plan shows and compares it: `value (display name)`, with `, disabled` when it is. */
const shownRole = (r: AppRole): string => `${r.value ?? "(no value)"} (${r.displayName ?? ""}${r.isEnabled === false ? ", disabled" : ""})`;

/** The app roles an app has, as read (none when Graph gave no list). */
export const observedRoles = (a: EntraApplication): AppRole[] => (Array.isArray(a.appRoles) ? (a.appRoles as AppRole[]) : []);

function sameRole(a: AppRole, b: AppRole): boolean {
  return (
    a.id.toLowerCase() === b.id.toLowerCase() && a.value === b.value && a.displayName === b.displayName && a.description === b.description &&
    [...a.allowedMemberTypes].sort().join() === [...b.allowedMemberTypes].sort().join() && (a.isEnabled !== false) === (b.isEnabled !== false)
  );
}

/**
 * Sets the app's roles to `wanted` (homelab's) next to the roles made by hand, in the PATCHes Graph requires: an
 * enabled role cannot be removed or changed (400 CannotDeleteOrUpdateEnabledEntitlement, spec 3.5), so one PATCH
 * first disables each homelab role that goes or changes (nothing else about it changed), then the next sets the
 * final list, with `rest` (the app's other changed fields). Every PATCH carries the whole list.
 */
async function setRoles(target: TenantTarget, id: string, have: AppRole[], wanted: AppRole[], rest: ApplicationCreate | Record<string, unknown>): Promise<void> {
  const byId = new Map(wanted.map((r) => [r.id.toLowerCase(), r]));
  const stale = (r: AppRole) => isHomelabRole(r) && r.isEnabled !== false && !(byId.has(r.id.toLowerCase()) && sameRole(r, byId.get(r.id.toLowerCase())!));
  if (have.some(stale)) await target.graph.updateApplication(id, { appRoles: have.map((r) => (stale(r) ? { ...r, isEnabled: false } : r)) });
  await target.graph.updateApplication(id, { ...rest, appRoles: rolesAfter(have, wanted) });
}

/** The app's role list once homelab's roles are `wanted`: the roles made by hand as they are, then homelab's. */
function rolesAfter(have: AppRole[], wanted: AppRole[]): AppRole[] {
  const wantedIds = new Set(wanted.map((r) => r.id.toLowerCase()));
  return [...have.filter((r) => !isHomelabRole(r) && !wantedIds.has(r.id.toLowerCase())), ...wanted];
}

/**
 * A role whose value the file changes (a mapped group's key renamed, issue 13 part 3): the app still has the role
 * under its id (derived from the Entra group, config/desired.ts appRoleId) with the old value. The Proxmox group
 * `<from>-<realm>` is replaced by `<to>-<realm>` with its members and ACL entries first (providers/proxmox/rename.ts),
 * then the value is PATCHed in place: same id, so the group's assignment, and the members' access, stay.
 */
export interface RoleRename {
  id: string;
  /** The Entra group's display name. */
  group: string;
  from: string;
  to: string;
}

/**
 * The renames between the app as read and the file. A changed value that collides with a value the file gives
 * another role (two keys swapped, or a new group taking the old key) is not one: the Proxmox groups cannot be
 * moved one onto the other, so the role's value is simply changed with the others (and the file's access applies).
 */
export function roleRenames(d: DesiredApplication, app: EntraApplication | undefined): RoleRename[] {
  if (!app || !d.appRoles) return [];
  const have = new Map(observedRoles(app).filter(isHomelabRole).map((r) => [r.id.toLowerCase(), r]));
  const values = new Set(d.appRoles.map((r) => r.value.toLowerCase()));
  const out: RoleRename[] = [];
  for (const r of d.appRoles) {
    const o = have.get(r.id.toLowerCase());
    if (o && typeof o.value === "string" && o.value !== r.value && !values.has(o.value.toLowerCase())) out.push({ id: r.id, group: r.group, from: o.value, to: r.value });
  }
  return out;
}

/**
 * Where the application planner leaves a renamed role's old value for the Proxmox planners, which are planned after
 * the tenants (providers/index.ts) and find it through the resolver, keyed by the realm and the new value.
 */
export function renamedRoleRef(tenant: string, realm: string, value: string): { ref: string; field: string } {
  return { ref: `${APPLICATION_KIND}/${tenant}:${realm}`, field: `appRole:${value}:was` };
}

/** The address of the change that renames a realm app's roles (one per app: one PATCH pair renames them all). */
export const roleRenameAddress = (d: DesiredApplication): string => `${d.address}/appRoles`;

/** The file's roles with the renamed ones still under their old values: what the app update sets before the rename. */
function beforeRenames(d: DesiredApplication, renames: readonly RoleRename[]): DesiredApplication {
  if (renames.length === 0 || !d.appRoles) return d;
  const was = new Map(renames.map((r) => [r.id, r.from]));
  return { ...d, appRoles: d.appRoles.map((r) => (was.has(r.id) ? { ...r, value: was.get(r.id)! } : r)) };
}

/** The comparable shape of an app: what homelab manages, normalised (lists sorted). */
function managed(a: { displayName: string; signInAudience?: string; redirectUris: string[]; idTokenClaims: string[]; groupMembershipClaims: string; tags: string[]; appRoles: string[] }) {
  return {
    appRoles: [...a.appRoles].sort(),
    displayName: a.displayName,
    signInAudience: a.signInAudience ?? "AzureADMyOrg",
    redirectUris: [...a.redirectUris].sort(),
    idTokenClaims: [...a.idTokenClaims].sort(),
    groupMembershipClaims: a.groupMembershipClaims,
    tags: [...a.tags].sort(),
  };
}

function desiredShape(d: DesiredApplication) {
  return managed({
    displayName: d.displayName,
    signInAudience: d.signInAudience,
    redirectUris: d.redirectUris,
    idTokenClaims: [...d.optionalIdTokenClaims, ...(d.groupMembershipClaims === "ApplicationGroup" ? ["groups"] : [])].map(desiredClaimKey),
    groupMembershipClaims: d.groupMembershipClaims,
    tags: ["homelab", realmTag(d.realm)],
    appRoles: (d.appRoles ?? []).map((r) => shownRole(graphRole(r, d.realm))),
  });
}

function observedShape(a: EntraApplication) {
  return managed({
    displayName: a.displayName,
    ...(a.signInAudience ? { signInAudience: a.signInAudience } : {}),
    redirectUris: a.web?.redirectUris ?? [],
    idTokenClaims: (a.optionalClaims?.idToken ?? []).map((c) => claimKey(c.name, c.additionalProperties ?? [])),
    groupMembershipClaims: a.groupMembershipClaims ?? "None",
    tags: a.tags ?? [],
    appRoles: observedRoles(a).filter(isHomelabRole).map(shownRole),
  });
}

/** The Graph body for a desired app (create, or the changed parts for PATCH: collections are replaced whole). */
function body(d: DesiredApplication, fields?: Set<string>): ApplicationCreate {
  const s = desiredShape(d);
  const all: ApplicationCreate = {
    displayName: s.displayName,
    signInAudience: s.signInAudience,
    tags: s.tags,
    notes: "Managed by homelab (homelab.yaml). Changes made here are reverted on the next run.",
    web: { redirectUris: s.redirectUris, implicitGrantSettings: { enableIdTokenIssuance: false, enableAccessTokenIssuance: false } },
    groupMembershipClaims: s.groupMembershipClaims,
    optionalClaims: { idToken: s.idTokenClaims.map(claim), accessToken: [], saml2Token: [] },
    requiredResourceAccess: [LOGIN_SCOPES],
    ...(d.appRoles?.length ? { appRoles: d.appRoles.map((r) => graphRole(r, d.realm)) } : {}),
  };
  if (!fields) return all;
  const patch: Record<string, unknown> = {};
  if (fields.has("displayName")) patch.displayName = all.displayName;
  if (fields.has("signInAudience")) patch.signInAudience = all.signInAudience;
  if (fields.has("tags")) patch.tags = all.tags;
  if (fields.has("redirectUris")) patch.web = all.web;
  if (fields.has("groupMembershipClaims")) patch.groupMembershipClaims = all.groupMembershipClaims;
  if (fields.has("idTokenClaims")) patch.optionalClaims = all.optionalClaims;
  return patch as ApplicationCreate;
}

/**
 * The key a realm's app is created by (spec 3.4 `uniqueName`): Graph refuses a second app with it, even while
 * the first is not visible yet, so a create is never made twice (issue 9 failure 1 under replication lag).
 * Set only at creation (it is immutable); an app found by its tag is never asked for one.
 */
export function appUniqueName(realm: string): string {
  return `homelab-realm-${realm}`;
}

/** A redirect URI as Entra matches it: scheme and host case-insensitive, no trailing slash. */
function normalUri(u: string): string {
  try {
    const url = new URL(u);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}${url.search}`.toLowerCase();
  } catch {
    return u.replace(/\/+$/, "").toLowerCase();
  }
}

/**
 * An app that is probably the realm's own with its tag removed in the portal: no `homelab:realm=` tag (an app
 * tagged for another realm is that realm's), the realm's display name, and a redirect URI of the realm's.
 */
function isLookalike(a: EntraApplication, d: DesiredApplication): boolean {
  if ((a.tags ?? []).some((t) => t.startsWith("homelab:realm="))) return false;
  if (a.displayName !== d.displayName) return false;
  const ours = new Set(d.redirectUris.map(normalUri));
  return (a.web?.redirectUris ?? []).some((u) => ours.has(normalUri(u)));
}

/**
 * Refuses to plan a second app next to a look-alike (issue 9 failure 9): creating one would move the realm to
 * it and leave the old app, with its live secrets, behind. The fix is to tag the old app again.
 */
function refuseLookalike(tenant: string, d: DesiredApplication, same: EntraApplication[]): void {
  if (same.length === 0) return;
  const ours = new Set(d.redirectUris.map(normalUri));
  const shown = same
    .map((a) => `"${a.displayName}" (client id ${a.appId}, redirect URI ${(a.web?.redirectUris ?? []).filter((u) => ours.has(normalUri(u))).join(", ")})`)
    .join("; ");
  throw new UserError(
    `tenant ${tenant}: realm ${d.realm} has no app registration tagged ${realmTag(d.realm)}, but ${same.length === 1 ? "an untagged app registration looks like its app" : `${same.length} untagged app registrations look like its app`}: ${shown}. homelab will not create a second app next to it: that would move the realm to the new app and leave the old one with its secrets still valid`,
    {
      code: "E_APP_UNTAGGED",
      hint: `if it is this realm's app (its tags were removed in Entra), let homelab take it over again: homelab import --tenant ${tenant} --adopt (it tags the app; or add the tags "homelab" and "${realmTag(d.realm)}" to it in the Entra admin center); if it is not, rename it or remove these redirect URIs from it`,
    },
  );
}

/** A desired app's roles in their Graph form. */
const rolesOf = (d: DesiredApplication): AppRole[] => (d.appRoles ?? []).map((r) => graphRole(r, d.realm));

/**
 * The change that gives renamed roles their new values (one per app). It waits for the app update (both PATCH the
 * whole list) and for every cluster the realm is on to have moved the old Proxmox group's members and ACL entries to
 * the new group and deleted the old one: until this PATCH lands the old value is Graph's record of the rename, so a
 * run that fails before it is taken up again by the next run (providers/proxmox/rename.ts). `appRoles` is the list
 * as the app update leaves it (or as read when there is none).
 */
function renameChange(tenant: string, d: DesiredApplication, app: EntraApplication, renames: readonly RoleRename[], appRoles: AppRole[]): Change {
  const clusters = [...new Set(d.secrets.map((s) => s.cluster))].sort();
  const proxmox = clusters.flatMap((c) => renames.flatMap((r) => [`proxmox.group/${c}:${r.to}`, `proxmox.group/${c}:${r.from}-${d.realm}`]));
  const moves = renames.map((r) => `${r.from}-${d.realm} → ${r.to}-${d.realm}`).join(", ");
  return {
    address: roleRenameAddress(d), kind: APPLICATION_KIND, target: tenant, action: "update",
    reason: `app role value${renames.length === 1 ? "" : "s"} changed in place (same id: the group assignment${renames.length === 1 ? " stays" : "s stay"}), after the Proxmox group${renames.length === 1 ? " is" : "s are"} replaced with members and ACL entries carried over (${moves})`,
    dependsOn: [d.address, ...proxmox],
    fields: renames.map((r) => ({ path: `appRoles["${r.group}"].value`, before: r.from, after: r.to })),
    data: { id: app.id, application: d.address, renames: renames.map((r) => ({ id: r.id, from: r.from, to: r.to })), appRoles },
  };
}

export const applicationProvider: Provider<TenantTarget, ObservedTenant> = {
  kind: APPLICATION_KIND,

  /**
   * The tenant's bulk read: each realm's app by its tag, the apps' service principals and their assignments. A
   * few calls per realm. The caller's own service principal (the owner of what homelab creates) is not read here:
   * only a create needs it, and reads it then (issue 12: a no-op reads no more than it uses). For a realm
   * without a tagged app (a create will be planned), one more query: the apps with its display name, to
   * find a look-alike whose tag was removed (issue 9 failure 9).
   */
  async read(target) {
    const apps = new Map<string, EntraApplication[]>();
    const lookalikes = new Map<string, EntraApplication[]>();
    const sps = new Map<string, Awaited<ReturnType<TenantTarget["graph"]["findServicePrincipal"]>>>();
    const assignments = new Map<string, Awaited<ReturnType<TenantTarget["graph"]["listAppRoleAssignedTo"]>>>();
    await Promise.all(
      target.desired.applications.map(async (d) => {
        const found = await target.graph.listApplicationsByTag(realmTag(d.realm));
        apps.set(d.realm, found);
        if (found.length === 0) {
          const named = await target.graph.findApplicationsByDisplayName(d.displayName);
          const same = named.filter((a) => isLookalike(a, d));
          if (same.length > 0) lookalikes.set(d.realm, same);
        }
        for (const app of found) {
          const sp = await target.graph.findServicePrincipal(app.appId);
          sps.set(app.appId, sp);
          if (sp && d.assignedGroups.length > 0) assignments.set(sp.id, await target.graph.listAppRoleAssignedTo(sp.id));
        }
      }),
    );
    return { apps, sps, assignments, lookalikes };
  },

  plan(target, observed): PlanPart {
    const changes: Change[] = [];
    let unchanged = 0;
    for (const d of target.desired.applications) {
      const found = observed.apps.get(d.realm) ?? [];
      if (found.length > 1) {
        throw new HomelabError("E_AMBIGUOUS_APP", `tenant ${target.desired.name}: ${found.length} app registrations carry the tag ${realmTag(d.realm)} (${found.map((a) => a.appId).join(", ")})`, {
          hint: "homelab identifies the app of a realm by this tag and never creates two: delete the extra app registration in Entra ID",
        });
      }
      const app = found[0];
      const want = desiredShape(d);
      if (!app) {
        refuseLookalike(target.desired.name, d, observed.lookalikes?.get(d.realm) ?? []);
        target.resolver.markPending({ ref: d.address, field: "appId" });
        changes.push({ address: d.address, kind: APPLICATION_KIND, target: target.desired.name, action: "create", dependsOn: [], fields: diffFields({}, want) });
        continue;
      }
      target.resolver.record({ ref: d.address, field: "appId" }, app.appId);
      target.resolver.record({ ref: d.address, field: "id" }, app.id);
      const renames = roleRenames(d, app);
      // Renamed roles keep their old value in this update: the rename below changes it once Proxmox is ready.
      const before = beforeRenames(d, renames);
      const fields = diffFields(observedShape(app), desiredShape(before));
      const rolesChange = fields.some((f) => f.path === "appRoles");
      if (fields.length) {
        // The roles as read: the apply sends them back (PATCH replaces the list) and disables the stale ones first.
        const roles = rolesChange ? { appRoles: observedRoles(app) } : {};
        const was = renames.length ? { renamedFrom: Object.fromEntries(renames.map((r) => [r.id, r.from])) } : {};
        changes.push({ address: d.address, kind: APPLICATION_KIND, target: target.desired.name, action: "update", dependsOn: [], fields, data: { id: app.id, ...roles, ...was } });
      }
      else unchanged++;
      if (renames.length) changes.push(renameChange(target.desired.name, d, app, renames, rolesChange ? rolesAfter(observedRoles(app), rolesOf(before)) : observedRoles(app)));
      for (const r of renames) target.resolver.record(renamedRoleRef(target.desired.name, d.realm, r.to), r.from);
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    const address = change!.data?.renames ? String(change!.data.application) : change!.address;
    const d = target.desired.applications.find((a) => a.address === address)!;
    if (change!.action === "create") {
      const owner = (await target.graph.servicePrincipalOfCaller()).id;
      const app = await target.graph.createApplication(body(d), owner, appUniqueName(d.realm));
      target.resolver.record({ ref: d.address, field: "appId" }, app.appId);
      target.resolver.record({ ref: d.address, field: "id" }, app.id);
      return app.adopted ? { adopted: true } : undefined;
    }
    const fields = new Set(change!.fields.map((f) => f.path));
    const id = String(change!.data!.id);
    if (change!.data!.renames) {
      // The renamed roles' new values, on the list as the app update before it left it (disable, then change).
      await setRoles(target, id, change!.data!.appRoles as AppRole[], rolesOf(d), {});
      return;
    }
    if (fields.has("appRoles")) {
      const was = (change!.data!.renamedFrom ?? {}) as Record<string, string>;
      const renames = Object.entries(was).map(([rid, from]) => ({ id: rid, group: "", from, to: "" }));
      await setRoles(target, id, (change!.data!.appRoles ?? []) as AppRole[], rolesOf(beforeRenames(d, renames)), body(d, fields));
      return;
    }
    await target.graph.updateApplication(id, body(d, fields));
  },
};
