import { explainSecretRefusal } from "./policy.js";
import type { DesiredApplication } from "../../core/desired.js";
import type { Change } from "../../core/plan.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import type { ObservedCluster } from "../proxmox/observed.js";
import { APPLICATION_KIND } from "./application.js";
import { spAddress } from "./service-principal.js";
import { appOf, type ObservedTenant, type TenantTarget } from "./target.js";
import type { PasswordCredential } from "./types.js";

export const SECRET_KIND = "entra.secret";
const DAY_MS = 86_400_000;
/** Every secret homelab creates is named `homelab:<realm>:<cluster>`; anything else is never touched. */
const OWN = /^homelab:[^:]+:[^:]+$/;

export interface SecretExpiry {
  address: string;
  endDateTime: string;
  daysLeft: number;
}

/** Whether a realm's stored client key is this credential (Entra keeps the first 3 characters as `hint`). */
const matches = (key: string, c: PasswordCredential) => c.hint !== null && c.hint !== "" && key.startsWith(c.hint);
const newest = (cs: PasswordCredential[]) => [...cs].sort((a, b) => (a.endDateTime < b.endDateTime ? 1 : -1))[0];

/**
 * One client secret per (realm, cluster), created by homelab and handed straight to that cluster's
 * realm. Entra never returns a secret's value after creation (spec 3.7), so a realm that is created,
 * or holds a key that is not homelab's current secret, gets a new one. Renewal (spec 6): add the new
 * secret, switch the realm (a Proxmox change that depends on this one), then remove the old secret (a
 * change that depends on the realm's). If the realm update fails, the new secret is removed again.
 */
export const secretProvider: Provider<TenantTarget, ObservedTenant> = {
  kind: SECRET_KIND,
  async read() {
    return {};
  },

  plan(target, observed, world): PlanPart {
    const changes: Change[] = [];
    let unchanged = 0;
    const t = target.desired.name;
    const now = target.now().getTime();
    for (const d of target.desired.applications) {
      const app = appOf(observed, d.realm);
      const own = (app?.passwordCredentials ?? []).filter((c) => c.displayName !== null && OWN.test(c.displayName));
      for (const s of d.secrets) {
        const creds = own.filter((c) => c.displayName === s.displayName);
        const realm = (world.get(s.cluster) as ObservedCluster | undefined)?.realms.get(d.realm);
        const key = realm?.options?.["client-key"];
        const current = typeof key === "string" ? creds.find((c) => matches(key, c)) : newest(creds);
        // A realm that will be replaced (type or username claim differ) is created again and needs the value.
        const replaced = realm !== undefined && (realm.type !== "openid" || (realm.options?.["username-claim"] ?? undefined) !== d.usernameClaim);
        const reason = replaced ? "the realm is replaced (its username claim changes) and needs the secret's value" : renewalReason(d, current, creds, realm !== undefined, typeof key === "string", now, target.rotateSecrets);
        const realmAddress = `proxmox.realm/${s.cluster}:${d.realm}`;
        if (reason === undefined) {
          unchanged++;
          // Leftovers of an interrupted renewal: homelab's own, not the one in use.
          for (const c of creds) if (c !== current) changes.push(removal(t, s.address, d, c, [], "an older homelab secret for this cluster, not in use"));
          continue;
        }
        const ref = { ref: s.address, field: "secretText" };
        target.resolver.markPending(ref);
        // A new secret's lifetime counts from the real now, whatever HOMELAB_NOW pretends (issue 9 failure 4):
        // the pretended clock only decides whether renewal is due.
        const end = new Date(Date.now() + d.secretLifetimeDays * DAY_MS).toISOString();
        changes.push({
          address: s.address, kind: SECRET_KIND, target: t, action: creds.length === 0 ? "create" : "replace",
          ...(creds.length === 0 ? {} : { reason }),
          dependsOn: [d.address, spAddress(t, d.realm)],
          fields: [
            { path: "displayName", after: s.displayName },
            { path: "endDateTime", ...(current ? { before: current.endDateTime } : {}), after: `${end.slice(0, 10)} (in ${d.secretLifetimeDays} days)` },
            { path: "secretText", after: "(sensitive)", sensitive: true },
          ],
          data: {
            realm: d.realm, cluster: s.cluster, displayName: s.displayName, lifetimeDays: d.secretLifetimeDays,
            // For the sweep after the new secret shows: the credentials of this name the plan saw, and whether the
            // realm's key is known to be one of them (or there is none), so that no unseen one can be in use.
            known: creds.map((c) => c.keyId),
            sweep: realm === undefined || typeof key !== "string" || current !== undefined,
          },
        });
        for (const c of creds) changes.push(removal(t, s.address, d, c, [s.address, realmAddress], "replaced: removed once the realm uses the new secret"));
      }
      // Secrets homelab made for clusters this realm is no longer on.
      const wanted = new Set(d.secrets.map((s) => s.displayName));
      for (const c of own) {
        if (c.displayName!.startsWith(`homelab:${d.realm}:`) && !wanted.has(c.displayName!)) changes.push(removal(t, `${SECRET_KIND}/${t}:${d.realm}:${c.displayName!.split(":")[2]}`, d, c, [], "the realm is no longer on this cluster"));
      }
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    const c = change!;
    const data = c.data as { realm: string; appObjectId?: string; keyId?: string; displayName?: string; lifetimeDays?: number; cluster?: string; known?: string[]; sweep?: boolean };
    const appAddress = `${APPLICATION_KIND}/${target.desired.name}:${data.realm}`;
    const appObjectId = target.resolver.value({ ref: appAddress, field: "id" });
    if (!appObjectId) throw new Error(`${c.address}: the app's object id is not known`);
    if (c.action === "delete") {
      await target.graph.removePassword(appObjectId, data.keyId!);
      return;
    }
    const endDateTime = new Date(Date.now() + data.lifetimeDays! * DAY_MS).toISOString(); // real time, never HOMELAB_NOW
    const created = await target.graph.addPassword(appObjectId, { displayName: data.displayName!, endDateTime }).catch((err: unknown) => {
      // A tenant lifetime policy the plan could not see (no Policy.Read.All): name it, with the right hint.
      throw explainSecretRefusal(err, { tenant: target.desired.name, realm: data.realm, lifetimeDays: data.lifetimeDays! });
    });
    const discard = () => target.graph.removePassword(appObjectId, created.keyId);
    try {
      // Hand the realm a secret only once Entra accepts it everywhere (spec 6 step 2).
      const shown = await target.graph.waitForPassword(appObjectId, created.keyId, true);
      const appId = target.resolver.value({ ref: appAddress, field: "appId" })!;
      await target.proveSecret?.(appId, created.secretText.reveal());
      // Best effort: a leftover it cannot remove now is planned for removal by the next run.
      await sweepLost(target, appObjectId, shown, created.keyId, data).catch(() => undefined);
    } catch (err) {
      await discard().catch(() => undefined);
      throw err;
    }
    target.resolver.record({ ref: c.address, field: "secretText" }, created.secretText.reveal(), discard);
  },
};

/**
 * Removes the secrets of this name that earlier attempts added but nobody holds: an addPassword whose answer was
 * lost while the credential was still replicating (the re-list before the repeat could not see it), or one a
 * killed run added and the plan's read could not see yet (chain soak C1b). Once the new secret shows, those
 * older ones show too (credentials replicate in order), so the read that confirmed it lists them. Only when
 * the plan knew which credential the realm uses (or that it uses none): an unseen one can then not be in use.
 */
async function sweepLost(
  target: TenantTarget,
  appObjectId: string,
  shown: { passwordCredentials?: PasswordCredential[] | null } | undefined,
  keep: string,
  data: { displayName?: string; known?: string[]; sweep?: boolean },
): Promise<void> {
  if (!data.sweep || !shown) return;
  const known = new Set((data.known ?? []).map((k) => k.toLowerCase()));
  for (const c of shown.passwordCredentials ?? [])
    if (c.displayName === data.displayName && c.keyId.toLowerCase() !== keep.toLowerCase() && !known.has(c.keyId.toLowerCase()))
      await target.graph.removePassword(appObjectId, c.keyId);
}

function renewalReason(d: DesiredApplication, current: PasswordCredential | undefined, creds: PasswordCredential[], realmExists: boolean, keyReadable: boolean, now: number, rotate: boolean): string | undefined {
  if (creds.length === 0) return "no homelab secret for this cluster yet";
  if (!realmExists) return "the realm is created and needs the secret's value, which Entra never returns after creation";
  // GET /access/domains/{realm} returns client-key in every version (spec 3.1.3): absent means none.
  if (!keyReadable) return "the realm has no client key, and Entra never returns an existing secret's value";
  if (!current) return "the realm's client key is not homelab's current secret";
  const left = (Date.parse(current.endDateTime) - now) / DAY_MS;
  if (left <= d.renewBeforeDays) return left <= 0 ? `the secret expired on ${current.endDateTime.slice(0, 10)}` : `the secret expires on ${current.endDateTime.slice(0, 10)}, within renewBeforeDays (${d.renewBeforeDays})`;
  if (rotate) return "--rotate-secrets";
  return undefined;
}

function removal(tenant: string, secretAddress: string, d: DesiredApplication, c: PasswordCredential, dependsOn: string[], reason: string): Change {
  return {
    address: `${secretAddress}/${c.keyId}`, kind: SECRET_KIND, target: tenant, action: "delete", reason, dependsOn,
    fields: [{ path: "displayName", before: c.displayName }, { path: "endDateTime", before: c.endDateTime }],
    data: { realm: d.realm, keyId: c.keyId },
  };
}

/** Homelab secrets of every realm and how many days they have left (for the run summary). */
export function secretExpiries(target: TenantTarget, observed: ObservedTenant): SecretExpiry[] {
  const out: SecretExpiry[] = [];
  for (const d of target.desired.applications) {
    const app = appOf(observed, d.realm);
    for (const s of d.secrets) {
      const c = newest((app?.passwordCredentials ?? []).filter((x) => x.displayName === s.displayName));
      if (c) out.push({ address: s.address, endDateTime: c.endDateTime, daysLeft: Math.floor((Date.parse(c.endDateTime) - target.now().getTime()) / DAY_MS) });
    }
  }
  return out;
}
