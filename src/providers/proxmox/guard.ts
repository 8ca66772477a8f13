/**
 * Not a resource: the rules that look at a cluster's whole plan before anything is printed or written
 * (issue 8, failures 6, 10 and 13). Registered last, its `review` sees every change of the cluster:
 *
 * 1. Version check: a feature newer than the cluster (`audiences`, `/sdn/route-maps` ...) is refused,
 *    naming the field, the release it needs and the release found. `GET /version` is read only when the
 *    file uses such a feature.
 * 2. Lockout guard: with Proxmox's own evaluation (privileges.ts) over the state the plan leads to,
 *    a plan is refused when it takes from homelab's token a privilege the run needs (what this plan's
 *    changes need, and `Sys.Audit` on `/access` for the reads of every later run), or when it leaves no
 *    enabled user other than root@pam (and homelab's own user) holding `Permissions.Modify` and
 *    `User.Modify` on `/` while one exists now. The refusal names the changes responsible.
 * 3. Write pre-flight: the token's current privileges must cover what each change needs (spec 3.0 and
 *    3.6); missing ones are listed with their paths: refused by a real apply, a warning otherwise.
 *
 * The state after the plan is derived from the changes (field `after` values, `data`, deletes), never
 * from the desired objects alone: pruning deletes and membership removals of undeclared users have none.
 */
import type { Change } from "../../core/plan.js";
import { realmOf, ROOT_USER } from "../../core/pve.js";
import { own } from "../../core/record.js";
import { UserError } from "../../core/errors.js";
import type { Provider } from "../../engine/provider.js";
import { byAddress, groupIdOf } from "./common.js";
import type { ObservedCluster } from "./observed.js";
import {
  canAuthenticate, describeRequirement, effectivePrivileges, missingFor, modelFromObserved, pathLevels, privilegesOn,
  type AccessModel, type ModelAcl, type ModelUser, type PrivilegeSet, type Requirement,
} from "./privileges.js";
import type { ClusterTarget } from "./target.js";
import { parseRelease, releaseAtLeast, showRelease, versionGatedUses } from "./versions.js";

export const GUARD_KIND = "proxmox.guard";

const REALM = "proxmox.realm";
const USER = "proxmox.user";
const GROUP = "proxmox.group";
const ROLE = "proxmox.role";
const ACL = "proxmox.acl";

/** The paths `GET /access/permissions` covers without a `path` (spec 3.7), besides every path with an ACL entry. */
const DEFAULT_PERMISSION_PATHS = ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"];

/** What every run needs to read a full view (access-check.ts). */
const READ_NEED: Requirement = { kind: "all", path: "/access", privs: ["Sys.Audit"] };

export const guardProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: GUARD_KIND,

  /** `GET /version`, only when the file uses a version-gated feature (a plain run keeps its request count). */
  async read(target) {
    if (versionGatedUses(target.desired).length === 0) return {};
    return { version: await target.api.version() };
  },

  plan() {
    return { changes: [], unchanged: 0 };
  },

  async apply() {
    // Never planned.
  },

  review(target, observed, changes) {
    refuseNewerFeatures(target, observed);
    if (changes.length === 0) return [];
    const now = Math.floor(Date.now() / 1000);
    const before = modelFromObserved(observed);
    refuseLockout(target, observed, before, changes, now);
    return writePreflight(target, observed, before, changes, now);
  },
};

// --- 1. version ----------------------------------------------------------------------------------------

function refuseNewerFeatures(target: ClusterTarget, observed: ObservedCluster): void {
  const uses = versionGatedUses(target.desired);
  if (uses.length === 0 || observed.version === undefined) return;
  const c = target.desired;
  const found = parseRelease(observed.version);
  if (found === undefined) {
    throw new UserError(`cluster ${c.name}: cannot tell the Proxmox VE release from GET /version (${JSON.stringify(observed.version.version)}), and the file uses features that need a given release: ${uses.map((u) => `${u.field} (${showRelease(u.needs)})`).join(", ")}`, {
      code: "E_PVE_VERSION",
      hint: "check that the cluster URL points at a Proxmox VE API",
    });
  }
  const tooNew = uses.filter((u) => !releaseAtLeast(found, u.needs));
  if (tooNew.length === 0) return;
  const lines = tooNew.map((u) => `  ${u.field}: ${u.feature} needs Proxmox VE ${showRelease(u.needs)} or later`);
  throw new UserError(`cluster ${c.name} runs Proxmox VE ${observed.version.version || showRelease(found)}, older than this file needs (nothing was changed):\n${lines.join("\n")}`, {
    code: "E_PVE_VERSION",
    hint: `upgrade the cluster, or remove ${tooNew.length === 1 ? "that field" : "those fields"} for this cluster (a realm or access entry can be limited to some clusters with \`clusters\`)`,
  });
}

// --- the state after the plan ----------------------------------------------------------------------------

const idOf = (address: string) => address.slice(address.indexOf(":") + 1);
const field = (c: Change, path: string) => c.fields.find((f) => f.path === path);
const aclKey = (e: Pick<ModelAcl, "path" | "type" | "ugid" | "roleid">) => `${e.path}\0${e.type}\0${e.ugid}\0${e.roleid}`;

/** The principal of an ACL change: `data.ugid`, else the desired entry's (resolved) id, else the created field. */
function aclPrincipal(c: Change, target: ClusterTarget): { type: ModelAcl["type"]; ugid: string } | undefined {
  const d = (c.data ?? {}) as { type?: ModelAcl["type"]; ugid?: string };
  const desired = byAddress(target.desired.acl, c.address);
  const type = d.type ?? desired?.type;
  if (type === undefined) return undefined;
  if (typeof d.ugid === "string") return { type, ugid: d.ugid };
  if (desired) {
    const ugid = typeof desired.ugid === "string" ? desired.ugid : groupIdOf(desired.ugid, target.resolver);
    return ugid === undefined ? undefined : { type, ugid }; // an Entra group not created yet: no member holds it
  }
  const shown = field(c, type)?.after;
  return typeof shown === "string" ? { type, ugid: shown } : undefined;
}

/** The role privileges a change sets, or undefined when it does not say (then the desired role's). */
function rolePrivsOf(c: Change, target: ClusterTarget): readonly string[] | undefined {
  const after = field(c, "privs")?.after;
  if (Array.isArray(after)) return after.map(String);
  return byAddress(target.desired.roles, c.address)?.privs;
}

/**
 * The access model once every change has been applied, with Proxmox's cascades (spec 5.3): a deleted user
 * takes its memberships, tokens and ACL entries with it; a deleted group its memberships and entries; a
 * deleted role its entries. Realm changes do not change anyone's privileges (a deleted realm keeps its users).
 */
export function modelAfter(before: AccessModel, changes: readonly Change[], target: ClusterTarget): AccessModel {
  const users = new Map<string, ModelUser>(before.users);
  const roles = new Map(before.roles);
  const acl = new Map(before.acl.map((e) => [aclKey(e), e]));
  const dropAcl = (match: (e: ModelAcl) => boolean) => {
    for (const [k, e] of acl) if (match(e)) acl.delete(k);
  };
  for (const c of changes) {
    switch (c.kind) {
      case ROLE: {
        const id = idOf(c.address);
        if (c.action === "delete") {
          roles.delete(id);
          dropAcl((e) => e.roleid === id);
        } else roles.set(id, rolePrivsOf(c, target) ?? roles.get(id) ?? []);
        break;
      }
      case GROUP: {
        // A changed app role value (rename.ts): the replace adds the old group's members to the new group (its ACL
        // entries come as ACL changes, the synced members' moves as user changes).
        const rename = c.data?.rename as { to: string; members: string[] } | undefined;
        if (rename) {
          for (const uid of rename.members) {
            const u = users.get(uid);
            if (u) users.set(uid, { ...u, groups: new Set([...u.groups, rename.to]) });
          }
          break;
        }
        if (c.action !== "delete") break; // a new group has no members and no entries yet
        const id = String(c.data?.groupid ?? field(c, "groupid")?.before ?? idOf(c.address));
        for (const [uid, u] of users) {
          if (u.groups.has(id)) users.set(uid, { ...u, groups: new Set([...u.groups].filter((g) => g !== id)) });
        }
        dropAcl((e) => e.type === "group" && e.ugid === id);
        break;
      }
      case USER: {
        const id = idOf(c.address);
        if (c.action === "delete") {
          users.delete(id);
          dropAcl((e) => (e.type === "user" && e.ugid === id) || (e.type === "token" && e.ugid.startsWith(`${id}!`)));
          break;
        }
        const have = c.action === "create" ? undefined : users.get(id);
        const next: ModelUser = have ? { ...have } : { enable: true, expire: 0, groups: new Set(), tokens: new Map() };
        for (const f of c.fields) {
          if (f.path === "enable") next.enable = f.after === undefined ? true : f.after === true;
          else if (f.path === "expire") next.expire = typeof f.after === "number" ? f.after : 0;
          else if (f.path === "groups") next.groups = new Set(Array.isArray(f.after) ? f.after.map(String) : []);
        }
        users.set(id, next);
        break;
      }
      case ACL: {
        const p = aclPrincipal(c, target);
        const d = (c.data ?? {}) as { path?: string; roleid?: string; propagate?: boolean };
        if (!p || d.path === undefined || d.roleid === undefined) break;
        const entry: ModelAcl = { path: d.path, type: p.type, ugid: p.ugid, roleid: d.roleid, propagate: d.propagate !== false };
        if (c.action === "delete") acl.delete(aclKey(entry));
        else acl.set(aclKey(entry), entry);
        break;
      }
      default:
        break; // realms, and kinds that do not touch privileges
    }
  }
  return { users, roles, acl: [...acl.values()] };
}

// --- what each change needs (spec 3.0, 3.6) -------------------------------------------------------------

/** The privileges the API calls of one change need, per spec 3.0 (user and group calls as their plain form). */
export function requirementsOf(c: Change, target: ClusterTarget, roles: AccessModel["roles"]): Requirement[] {
  switch (c.kind) {
    case REALM:
      return [{ kind: "all", path: "/access/realm", privs: ["Realm.Allocate"] }];
    case USER: {
      const groups: Requirement = { kind: "all", path: "/access/groups", privs: ["User.Modify"] };
      if (c.action === "update") return [groups];
      return [{ kind: "all", path: `/access/realm/${realmOf(idOf(c.address))}`, privs: ["Realm.AllocateUser"] }, groups];
    }
    case GROUP: {
      const group: Requirement = { kind: "all", path: "/access/groups", privs: ["Group.Allocate"] };
      // A rename's replace also adds members to the new group (PUT /access/users/{id} with append, as a user update).
      const members = (c.data?.rename as { members?: string[] } | undefined)?.members ?? [];
      return members.length > 0 ? [group, { kind: "all", path: "/access/groups", privs: ["User.Modify"] }] : [group];
    }
    case ROLE:
      return [{ kind: "all", path: "/access", privs: ["Sys.Modify"] }];
    case ACL: {
      const d = (c.data ?? {}) as { path?: string; roleid?: string; propagate?: boolean };
      if (d.path === undefined || d.roleid === undefined) return [];
      return [{ kind: "perm-modify", path: d.path, roleid: d.roleid, rolePrivs: roles.get(d.roleid) ?? [], propagate: d.propagate !== false }];
    }
    default:
      return [];
  }
}

const reqKey = (r: Requirement) => (r.kind === "all" ? `all\0${r.path}\0${r.privs.join(",")}` : `pm\0${r.path}\0${r.roleid}\0${r.propagate}`);

/** The distinct requirements of a plan, each with the changes that need it. */
function planRequirements(changes: readonly Change[], target: ClusterTarget, roles: AccessModel["roles"]): { req: Requirement; by: string[] }[] {
  const out = new Map<string, { req: Requirement; by: string[] }>();
  for (const c of changes) {
    for (const req of requirementsOf(c, target, roles)) {
      const k = reqKey(req);
      const have = out.get(k);
      if (have) have.by.push(c.address);
      else out.set(k, { req, by: [c.address] });
    }
  }
  return [...out.values()];
}

// --- 2. lockout ----------------------------------------------------------------------------------------------

/**
 * The people who can administer the cluster: users other than root@pam and homelab's own user (a service
 * account, protected by the token rule) who can log in and hold Permissions.Modify and User.Modify on `/`.
 */
function administrators(model: AccessModel, target: ClusterTarget, now: number): string[] {
  const out: string[] = [];
  for (const id of model.users.keys()) {
    if (id === ROOT_USER || id === target.runAs.userid || !canAuthenticate(model, id, now)) continue;
    const privs = privilegesOn(model, id, "/");
    if (privs.has("Permissions.Modify") && privs.has("User.Modify")) out.push(id);
  }
  return out.sort();
}

/**
 * The changes responsible for a failed check: those whose removal alone makes it pass; else a minimal set
 * of candidates whose removal does (each dropped in turn if the rest still suffice); else all candidates.
 */
export function responsibleChanges(changes: readonly Change[], candidates: readonly Change[], passes: (plan: readonly Change[]) => boolean): Change[] {
  const without = (drop: ReadonlySet<Change>) => changes.filter((c) => !drop.has(c));
  const singles = candidates.filter((c) => passes(without(new Set([c]))));
  if (singles.length > 0) return singles;
  const removed = new Set(candidates);
  if (!passes(without(removed))) return [...candidates];
  for (const c of candidates) {
    removed.delete(c);
    if (!passes(without(removed))) removed.add(c);
  }
  return candidates.filter((c) => removed.has(c));
}

/** Changes that can change privileges at all (realm changes cannot). */
const touchesPrivileges = (c: Change) => c.kind === USER || c.kind === GROUP || c.kind === ROLE || c.kind === ACL;

function refuseLockout(target: ClusterTarget, observed: ObservedCluster, before: AccessModel, changes: readonly Change[], now: number): void {
  const c = target.desired;
  const token = target.runAs.tokenId;
  const afterOf = (plan: readonly Change[]) => modelAfter(before, plan, target);
  const after = afterOf(changes);

  // a. The token keeps every privilege the run needs that it holds now.
  const needs = [...planRequirements(changes, target, after.roles), { req: READ_NEED, by: [] }];
  const held = (model: AccessModel, req: Requirement) => missingFor(req, effectivePrivileges(model, token, req.path, now)).length === 0;
  const takenIn = (model: AccessModel) => needs.filter((n) => held(before, n.req) && !held(model, n.req));
  const taken = takenIn(after);
  if (taken.length > 0) {
    const walk = new Set(needs.flatMap((n) => pathLevels(n.req.path)));
    const candidates = changes.filter((ch) => touchesPrivileges(ch) && (ch.kind !== ACL || walk.has(String(ch.data?.path))));
    const blame = responsibleChanges(changes, candidates, (plan) => takenIn(afterOf(plan)).length === 0);
    const lost = [...new Set(taken.map((n) => describeRequirement(n.req, missingFor(n.req, effectivePrivileges(after, token, n.req.path, now)))))];
    const why = canAuthenticate(after, token, now) ? "" : ` (after it, ${token} could not even log in: its user would be ${after.users.has(target.runAs.userid) ? "disabled or expired" : "gone"})`;
    throw new UserError(
      `cluster ${c.name}: this plan would take from homelab's own token ${token} privileges it needs${why}; nothing was changed:\n${lost.map((l) => `  ${l}`).join("\n")}\nResponsible:\n${blame.map((ch) => `  ${ch.action} ${ch.address}`).join("\n")}`,
      { code: "E_LOCKOUT", hint: `keep the token's user enabled and its roles and ACL entries declared (or turn off the prune flag that removes them); homelab never prunes ${target.runAs.userid} itself, but its groups, roles and entries are only safe when the file keeps them` },
    );
  }

  // b. Someone other than root@pam can still administer the cluster, if someone can now.
  const adminsBefore = administrators(before, target, now);
  if (adminsBefore.length === 0 || administrators(after, target, now).length > 0) return;
  const candidates = changes.filter((ch) => touchesPrivileges(ch) && (ch.kind !== ACL || ch.data?.path === "/"));
  const blame = responsibleChanges(changes, candidates, (plan) => administrators(afterOf(plan), target, now).length > 0);
  throw new UserError(
    `cluster ${c.name}: this plan would leave no enabled user other than root@pam (and homelab's own ${target.runAs.userid}) holding Permissions.Modify and User.Modify on / (today: ${adminsBefore.join(", ")}); nothing was changed.\nResponsible:\n${blame.map((ch) => `  ${ch.action} ${ch.address}`).join("\n")}`,
    { code: "E_LAST_ADMIN", hint: "declare at least one enabled user (or a group with an enabled member) with Administrator on / in `access`, or turn off the prune flag that removes it" },
  );
}

// --- 3. write pre-flight -----------------------------------------------------------------------------

/**
 * The token's privileges on a path now: Proxmox's own answer (`GET /access/permissions`, pools included)
 * where it covers the path (the default paths and every path with an ACL entry: a covered path it leaves
 * out holds nothing), else the evaluation of the observed state.
 */
function currentPrivileges(target: ClusterTarget, observed: ObservedCluster, before: AccessModel, now: number): (path: string) => PrivilegeSet {
  const answer = observed.permissions;
  const covered = new Set([...DEFAULT_PERMISSION_PATHS, ...observed.acl.map((e) => e.path)]);
  return (path) => {
    if (answer !== undefined && (Object.hasOwn(answer, path) || covered.has(path))) return new Map(Object.entries(own(answer, path) ?? {}));
    return effectivePrivileges(before, target.runAs.tokenId, path, now);
  };
}

function writePreflight(target: ClusterTarget, observed: ObservedCluster, before: AccessModel, changes: readonly Change[], now: number): string[] {
  const c = target.desired;
  const have = currentPrivileges(target, observed, before, now);
  const roles = modelAfter(before, changes, target).roles; // an ACL write happens after its role's change
  const missing: string[] = [];
  for (const { req, by } of planRequirements(changes, target, roles)) {
    const lack = missingFor(req, have(req.path));
    if (lack.length === 0) continue;
    const shown = by.slice(0, 3).join(", ") + (by.length > 3 ? `, and ${by.length - 3} more` : "");
    missing.push(`${describeRequirement(req, lack)} (for ${shown})`);
  }
  if (missing.length === 0) return [];
  const message = `cluster ${c.name}: token ${target.runAs.tokenId} lacks privileges this plan needs`;
  const list = missing.map((m) => `  ${m}`).join("\n");
  const hint = "give the token Administrator on / (with privilege separation, its user needs it too), or at least the privileges listed; a read-only token can still run `homelab plan`";
  if (target.applying === true) throw new UserError(`${message}; nothing was changed:\n${list}`, { code: "E_PRIVILEGES", hint });
  return [`${message} (\`apply\` will refuse this plan; ${hint}):\n${list}`];
}
