import type { DesiredRealm, Ref } from "../../core/desired.js";
import { diffFields, type Change, type FieldDiff } from "../../core/plan.js";
import { Secret } from "../../config/secret.js";
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
const BUILTIN_DEFAULTS: Record<string, string | boolean | undefined> = { comment: undefined, default: false };
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
  const sep = LIST_OPTIONS[key];
  if (sep !== undefined) return String(v).split(/[,;\s]+/).filter(Boolean).sort().join(sep);
  return String(v);
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
 * Whether the client key must be (re)written: "differs", "same", or "unknown" (the server does not
 * return it). A key homelab provisions in Entra differs exactly when the plan creates a new secret for
 * it: the Entra secret planner matched the realm's stored key against the current secret already.
 */
function clientKeyState(r: DesiredRealm, observed: ObservedRealm | undefined, target: ClusterTarget): "same" | "differs" | "unknown" {
  if (r.type !== "openid") return "same";
  if (r.clientKey !== undefined && !(r.clientKey instanceof Secret)) return target.resolver.isPending(r.clientKey) || !observed ? "differs" : "same";
  const have = observed?.options?.["client-key"];
  if (r.clientKey === undefined) return have === undefined ? "same" : "differs";
  if (have === undefined) return observed?.options?.["client-key-omitted"] === true ? "unknown" : "differs";
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
          const options: Record<string, string | boolean> = {};
          for (const [k, v] of Object.entries(rest)) {
            const n = norm(k, v);
            if (n !== undefined) options[k] = n;
          }
          // Tolerate servers that do not return client-key (spec 3.1.3): remember that it was not readable.
          if (!("client-key" in rest) && (realms.get(r.realm)!.type === "openid")) options["client-key-omitted"] = true;
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
      const defaults = r.type === "openid" ? OPENID_DEFAULTS : BUILTIN_DEFAULTS;
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
        changes.push({ ...base, action: "replace", reason: `the realm's type is ${have.type}, not ${r.type}: Proxmox cannot change a realm's type`, fields: [{ path: "type", before: have.type, after: r.type }, ...diffFields(before, want), ...keyField] });
        continue;
      }
      const fixed = FIXED_OPTIONS.find((k) => (before[k] ?? "") !== (want[k] ?? ""));
      if (fixed) {
        changes.push({ ...base, action: "replace", reason: `\`${fixed}\` cannot be changed on an existing realm (Proxmox fixes it at creation); the realm is deleted and created again (its users and ACL entries stay)`, fields: [...diffFields(before, want), ...keyField] });
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
      return LIST_OPTIONS[k] !== undefined ? String(value).split(/[,;\s]+/).filter(Boolean).join(",") : (value as string | boolean);
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
      switch (change!.action) {
        case "create":
          await target.api.createRealm({ realm: r.realm, type: "openid", ...all() });
          return;
        case "replace":
          await target.api.deleteRealm(r.realm);
          await target.api.createRealm({ realm: r.realm, type: "openid", ...all() });
          return;
        case "update": {
          const defaults = r.type === "openid" ? OPENID_DEFAULTS : BUILTIN_DEFAULTS;
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
          await target.api.updateRealm(r.realm, set, { ...(unset.length ? { delete: unset } : {}), ...(typeof change!.data?.digest === "string" ? { digest: change!.data.digest } : {}) });
          return;
        }
        case "delete":
          await target.api.deleteRealm(r.realm);
      }
    } catch (err) {
      // A client secret created for this realm in this run must not outlive the failed switch (spec 6).
      if (r.clientKey !== undefined && !(r.clientKey instanceof Secret)) await target.resolver.discard(r.clientKey);
      throw err;
    }
  },
};

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
