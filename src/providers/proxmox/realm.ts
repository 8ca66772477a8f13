import { own } from "../../core/record.js";
import type { DesiredRealm, Ref } from "../../core/desired.js";
import { diffFields, sameValue, type Change, type FieldDiff } from "../../core/plan.js";
import { HomelabError, UserError } from "../../core/errors.js";
import { Secret } from "../../core/secret.js";
import type { PlanPart, Provider } from "../../engine/provider.js";
import { KNOWN_AFTER_APPLY } from "../../engine/resolver.js";
import type { ObservedCluster, ObservedRealm } from "./observed.js";
import type { ClusterTarget } from "./target.js";
import { byAddress } from "./common.js";

export const REALM_KIND = "proxmox.realm";

/** OpenID options homelab manages, with the server's defaults (access API spec 3.1.5.1 and 5.1). */
const OPENID_DEFAULTS: Record<string, string | boolean | undefined> = {
  "issuer-url": undefined,
  "client-id": undefined,
  "client-key": undefined,
  "username-claim": undefined,
  scopes: "email profile",
  prompt: undefined,
  "acr-values": undefined,
  audiences: undefined,
  autocreate: false,
  "groups-claim": undefined,
  "groups-autocreate": false,
  "groups-overwrite": false,
  "query-userinfo": true,
  comment: undefined,
  default: false,
};
/**
 * The built-in realms: Proxmox puts their default comments back whenever it reads domains.cfg (spec 3.1.1,
 * 3.1.6), so the default comment IS the unset value: a file without `comment` plans nothing for it, and
 * going back to it is `delete=comment`.
 */
const BUILTIN_DEFAULTS: Record<string, Record<string, string | boolean | undefined>> = {
  pam: { comment: "Linux PAM standard authentication", default: false },
  pve: { comment: "Proxmox VE authentication server", default: false },
};
const defaultsOf = (r: { type: string; realm: string }): Record<string, string | boolean | undefined> =>
  r.type === "openid" ? OPENID_DEFAULTS : (own(BUILTIN_DEFAULTS, r.realm) ?? { comment: undefined, default: false });
const BOOLEAN_OPTIONS = new Set(["autocreate", "groups-autocreate", "groups-overwrite", "query-userinfo", "default"]);
/** Options whose value is a list: compared as sets (the server splits them on commas, semicolons, spaces). */
const LIST_OPTIONS: Record<string, string> = { scopes: " ", "acr-values": ",", audiences: "," };
/** Fixed at creation: Proxmox refuses them on update (errata 2), so a change is a replace. */
const FIXED_OPTIONS = ["username-claim"];

const isRef = (v: unknown): v is Ref => typeof v === "object" && v !== null && "ref" in v;

/** Normalise one option value as the server would store and return it. */
function norm(key: string, v: unknown): string | boolean | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (BOOLEAN_OPTIONS.has(key)) return v === true || v === 1 || v === "1";
  const sep = own(LIST_OPTIONS, key);
  if (sep !== undefined) return String(v).split(/[,;\s]+/).filter(Boolean).sort().join(sep);
  return String(v);
}

/** A realm read's options as the planner compares them (booleans coerced, lists sorted, `""` dropped). */
function normalisedRead(raw: Record<string, unknown>): Record<string, string | boolean> {
  const options: Record<string, string | boolean> = {};
  for (const [k, v] of Object.entries(raw)) {
    const n = norm(k, v);
    if (n !== undefined) options[k] = n;
  }
  return options;
}

function normalised(defaults: Record<string, unknown>, values: Record<string, unknown>): Record<string, string | boolean | undefined> {
  const out: Record<string, string | boolean | undefined> = {};
  for (const key of Object.keys(defaults)) {
    const v = norm(key, values[key]);
    out[key] = v ?? (defaults[key] as string | boolean | undefined);
  }
  return out;
}

/**
 * The desired options as plain values. Secrets and references are not put into the result: the
 * client key is compared separately (`clientKeyState`), references resolve through the resolver.
 */
function desiredOptions(r: DesiredRealm, target: ClusterTarget): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.options)) out[k] = isRef(v) ? (target.resolver.value(v) ?? KNOWN_AFTER_APPLY) : v;
  return out;
}

/**
 * Whether the client key must be (re)written. `GET /access/domains/{realm}` returns `client-key` in every
 * Proxmox VE version from 7.0-4 to 9.1.1 (spec 3.1.3), so a realm read without one HAS none: when the file
 * gives a key, that is drift (issue 14), not "unknown". A key homelab provisions in Entra differs exactly
 * when the plan creates a new secret for it: the Entra secret planner matched the realm's stored key against
 * the current secret already (and plans a new one for a realm without a key). A realm that has a key the
 * file does not give is left alone.
 */
function clientKeyState(r: DesiredRealm, observed: ObservedRealm | undefined, target: ClusterTarget): "same" | "differs" {
  if (r.type !== "openid" || r.clientKey === undefined) return "same";
  const have = observed?.options?.["client-key"];
  if (!(r.clientKey instanceof Secret)) return target.resolver.isPending(r.clientKey) || have === undefined ? "differs" : "same";
  return have === r.clientKey.reveal() ? "same" : "differs";
}

function wantedClientKey(r: DesiredRealm, target: ClusterTarget): string | undefined {
  if (r.clientKey === undefined) return undefined;
  return r.clientKey instanceof Secret ? r.clientKey.reveal() : target.resolver.value(r.clientKey);
}

export const realmProvider: Provider<ClusterTarget, ObservedCluster> = {
  kind: REALM_KIND,

  /** GET /access/domains, then one GET per declared realm that exists (constant in the number of users). */
  async read(target) {
    const realms = new Map<string, ObservedRealm>();
    for (const r of await target.api.listRealms()) realms.set(r.realm, { type: r.type });
    await Promise.all(
      target.desired.realms
        .filter((r) => realms.has(r.realm))
        .map(async (r) => {
          const { digest, type, options: rest } = await target.api.getRealm(r.realm);
          const options = normalisedRead(rest);
          realms.set(r.realm, { type, options, ...(digest ? { digest } : {}) });
        }),
    );
    return { realms };
  },

  plan(target, observed): PlanPart {
    const changes: Change[] = [];
    let unchanged = 0;
    for (const r of target.desired.realms) {
      const have = observed.realms.get(r.realm);
      const defaults = defaultsOf(r);
      const want = normalised(defaults, desiredOptions(r, target));
      delete want["client-key"];
      const key = clientKeyState(r, have, target);
      const keyField: FieldDiff[] = key === "differs"
        ? [{ path: "client-key", ...(have?.options?.["client-key"] !== undefined ? { before: "(sensitive)" } : {}), ...(r.clientKey !== undefined ? { after: "(sensitive)" } : {}), sensitive: true }]
        : [];
      const base = { address: r.address, kind: REALM_KIND, target: r.cluster, dependsOn: dependencies(r) };

      if (!have) {
        if (r.type !== "openid") continue; // built-in realms always exist
        changes.push({ ...base, action: "create", fields: [{ path: "type", after: r.type }, ...diffFields({}, dropUndefined(want, defaults)), ...keyField] });
        continue;
      }
      const before = normalised(defaults, have.options ?? {});
      delete before["client-key"];
      if (have.type !== r.type) {
        changes.push({ ...base, action: "replace", data: { ...(have.digest ? { digest: have.digest } : {}) }, reason: `the realm's type is ${have.type}, not ${r.type}: Proxmox cannot change a realm's type`, fields: [{ path: "type", before: have.type, after: r.type }, ...diffFields(before, want), ...keyField] });
        continue;
      }
      const fixed = FIXED_OPTIONS.find((k) => (before[k] ?? "") !== (want[k] ?? ""));
      if (fixed) {
        changes.push({ ...base, action: "replace", data: { ...(have.digest ? { digest: have.digest } : {}) }, reason: `\`${fixed}\` cannot be changed on an existing realm (Proxmox fixes it at creation); the realm is deleted and created again (its users and ACL entries stay)`, fields: [...diffFields(before, want), ...keyField] });
        continue;
      }
      const fields = [...diffFields(before, want), ...keyField];
      if (fields.length === 0) {
        unchanged++;
        continue;
      }
      changes.push({ ...base, action: "update", fields, data: { ...(have.digest ? { digest: have.digest } : {}) } });
    }
    return { changes, unchanged };
  },

  async apply([change], target) {
    const r = byAddress(target.desired.realms, change!.address)!;
    /** One option's value as Proxmox wants it; references are resolved now (after the steps that produce them). */
    const valueOf = (k: string): string | boolean | undefined => {
      if (k === "client-key") {
        const key = wantedClientKey(r, target);
        if (r.clientKey !== undefined && key === undefined) throw new Error(`${r.address}: the client key is not known yet`);
        return key;
      }
      const v = r.options[k];
      const value = isRef(v) ? target.resolver.value(v) : v;
      if (isRef(v) && value === undefined) throw new Error(`${r.address}: ${k} is not known yet (${v.ref})`);
      if (value === undefined) return undefined;
      return own(LIST_OPTIONS, k) !== undefined ? String(value).split(/[,;\s]+/).filter(Boolean).join(",") : (value as string | boolean);
    };
    const all = () => {
      const p: Record<string, string | boolean> = {};
      for (const k of [...Object.keys(r.options), "client-key"]) {
        const v = valueOf(k);
        if (v !== undefined) p[k] = v;
      }
      return p;
    };
    try {
      // domains.cfg is one file with one digest (spec 1.6): realm writes on a cluster go one at a time.
      await withDomainsFile(target, async (file) => {
        switch (change!.action) {
          case "create":
            file.written = true;
            await target.api.createRealm({ realm: r.realm, type: "openid", ...all() });
            return;
          case "replace":
            await replaceRealm(target, r, change!, all(), file);
            return;
          case "update": {
            const defaults = defaultsOf(r);
            const set: Record<string, string | boolean> = {};
            const unset: string[] = [];
            for (const f of change!.fields) {
              if (FIXED_OPTIONS.includes(f.path)) continue; // never sent on update (errata 2)
              const v = valueOf(f.path);
              if (v === undefined) {
                // Back to the server default: unset it, unless the default must be written explicitly.
                if (defaults[f.path] === undefined || typeof defaults[f.path] === "string") unset.push(f.path);
                else set[f.path] = defaults[f.path] as string | boolean;
              } else set[f.path] = v;
            }
            const { digest, settled } = await currentDigest(target, r, change!, file);
            for (const k of settled) {
              delete set[k];
              const i = unset.indexOf(k);
              if (i >= 0) unset.splice(i, 1);
            }
            if (Object.keys(set).length === 0 && unset.length === 0) return; // an earlier write of this run did it
            file.written = true;
            await target.api.updateRealm(r.realm, set, { ...(unset.length ? { delete: unset } : {}), ...(digest !== undefined ? { digest } : {}) });
            return;
          }
          case "delete":
            file.written = true;
            await target.api.deleteRealm(r.realm);
        }
      });
    } catch (err) {
      // A client secret created for this realm in this run must not outlive the failed switch (spec 6).
      if (r.clientKey !== undefined && !(r.clientKey instanceof Secret)) await target.resolver.discard(r.clientKey);
      throw err;
    }
  },
};

/** Per cluster: the queue of realm writes, and whether this run has written domains.cfg already. */
interface DomainsFile {
  queue: Promise<unknown>;
  written: boolean;
}
const domainsFiles = new WeakMap<ClusterTarget, DomainsFile>();

function withDomainsFile<T>(target: ClusterTarget, fn: (file: DomainsFile) => Promise<T>): Promise<T> {
  let file = domainsFiles.get(target);
  if (!file) {
    file = { queue: Promise.resolve(), written: false };
    domainsFiles.set(target, file);
  }
  const f = file;
  const run = f.queue.then(() => fn(f));
  f.queue = run.catch(() => undefined);
  return run;
}

/**
 * The digest to send with a realm update. Never a stale one (issue 8 failure 1): the digest read before the
 * run is the file's digest only until this run writes any realm on the cluster. After that, the realm is read
 * again, the fields this change overwrites are compared with what the plan saw (someone else may have
 * changed them since), and the fresh digest is sent.
 */
async function currentDigest(target: ClusterTarget, r: DesiredRealm, change: Change, file: DomainsFile): Promise<{ digest: string | undefined; settled: Set<string> }> {
  const planned = typeof change.data?.digest === "string" ? change.data.digest : undefined;
  const settled = new Set<string>();
  if (!file.written) return { digest: planned, settled };
  const fresh = await target.api.getRealm(r.realm);
  const now = normalised(defaultsOf(r), normalisedRead(fresh.options));
  for (const f of change.fields) {
    if (f.sensitive || FIXED_OPTIONS.includes(f.path)) continue;
    // Already as wanted: an earlier write of this run did it (`default=1` on one realm clears it on the
    // others, spec 3.1.2), so there is nothing to overwrite and nothing to send.
    if (sameValue(now[f.path], f.after)) {
      settled.add(f.path);
      continue;
    }
    if (!sameValue(now[f.path], f.before)) {
      throw new UserError(`${r.address}: \`${f.path}\` was changed on the cluster after the plan was made (the plan saw ${show(f.before)}, the cluster now has ${show(now[f.path])}); this realm was not written`, {
        code: "E_CHANGED",
        hint: "someone else is editing this realm: run homelab again to plan from the current state",
      });
    }
  }
  return { digest: fresh.digest || undefined, settled };
}

const show = (v: unknown) => (v === undefined ? "(unset)" : JSON.stringify(v));

/**
 * Replace = delete + create (a fixed option or the type changes). Everything that can be checked is checked
 * before the delete (the new options are all computed, references resolved); the realm is read in full
 * right before it is deleted (client key included), and if the create then fails, it is created again
 * exactly as it was, so nobody loses the login through it (issue 8 failure 9).
 */
async function replaceRealm(target: ClusterTarget, r: DesiredRealm, change: Change, params: Record<string, string | boolean>, file: DomainsFile): Promise<void> {
  const old = await target.api.getRealm(r.realm);
  const planned = change.data?.digest;
  if (!file.written && typeof planned === "string" && old.digest && old.digest !== planned) {
    throw new UserError(`${r.address}: the realm configuration changed after the plan was made; the realm was not replaced`, {
      code: "E_CHANGED",
      hint: "someone else is editing the realms: run homelab again to plan from the current state",
    });
  }
  file.written = true;
  await target.api.deleteRealm(r.realm);
  try {
    await target.api.createRealm({ realm: r.realm, type: "openid", ...params });
  } catch (err) {
    const restore: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(old.options)) restore[k] = v;
    try {
      await target.api.createRealm({ ...restore, realm: r.realm, type: old.type as "openid" });
    } catch (again) {
      throw new RealmReplaceError(r.address, err, again);
    }
    throw new RealmReplaceError(r.address, err);
  }
}

/** A replace whose create failed: the realm was put back as it was (or, worse, could not be). */
export class RealmReplaceError extends HomelabError {
  constructor(address: string, cause: unknown, restoreFailed?: unknown) {
    const why = (e: unknown) => (e instanceof Error ? e.message : String(e));
    super(
      restoreFailed === undefined ? "E_REPLACE_RESTORED" : "E_REPLACE_LOST",
      restoreFailed === undefined
        ? `${address}: the new realm could not be created (${why(cause)}); the old realm was recreated exactly as it was, so logins through it keep working`
        : `${address}: the new realm could not be created (${why(cause)}) and recreating the old one failed too (${why(restoreFailed)}): the realm is gone`,
      { cause, hint: restoreFailed === undefined ? "fix the realm's settings in the file and run again" : "nobody can log in through this realm until it exists again: fix the cause and run homelab again (it will create the realm)" },
    );
  }
}

function dependencies(r: DesiredRealm): string[] {
  if (!r.provisioned) return [];
  // The client id comes from the app, the client key from this cluster's secret.
  return [r.provisioned.application, `entra.secret/${r.provisioned.tenant}:${r.realm}:${r.cluster}`];
}

function dropUndefined(values: Record<string, unknown>, defaults: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== defaults[k]) out[k] = v;
  return out;
}
