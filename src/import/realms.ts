/**
 * `homelab import`, openid realms: a realm's stored options as the schema's entry (server defaults left out, the client
 * key only as a reference), and whether it can be adopted as a tenant realm of the tenant read alongside.
 */
// Username claims whose value nobody knows before a first login: the rule validate applies.
import { UNKNOWABLE_CLAIMS } from "../config/check-claims.js";
import type { PveRealm } from "../providers/proxmox/types.js";
import { fits } from "./schema-fit.js";
import type { Adoption, LiveCluster, LiveTenant } from "./types.js";


/** The openid options homelab understands, Proxmox name → schema name, with the server's defaults. */
const OPENID_OPTIONS: readonly { pve: string; key: string; kind: "text" | "bool" | "list"; fallback?: string | boolean }[] = [
  { pve: "issuer-url", key: "issuerUrl", kind: "text" },
  { pve: "client-id", key: "clientId", kind: "text" },
  { pve: "username-claim", key: "usernameClaim", kind: "text" },
  { pve: "scopes", key: "scopes", kind: "list", fallback: "email profile" },
  { pve: "prompt", key: "prompt", kind: "text" },
  { pve: "acr-values", key: "acrValues", kind: "list" },
  { pve: "audiences", key: "audiences", kind: "list" },
  { pve: "autocreate", key: "autocreate", kind: "bool", fallback: false },
  { pve: "groups-claim", key: "groupsClaim", kind: "text" },
  { pve: "groups-autocreate", key: "groupsAutocreate", kind: "bool", fallback: false },
  { pve: "groups-overwrite", key: "groupsOverwrite", kind: "bool", fallback: false },
  { pve: "query-userinfo", key: "queryUserinfo", kind: "bool", fallback: true },
  { pve: "comment", key: "comment", kind: "text" },
  { pve: "default", key: "default", kind: "bool", fallback: false },
];
const HANDLED_OPTIONS = new Set([...OPENID_OPTIONS.map((o) => o.pve), "client-key"]);

export const trimSlash = (u: string): string => u.replace(/\/+$/, "");
const list = (v: unknown): string[] => String(v).split(/[,;\s]+/).filter(Boolean);

/** The default display name homelab gives a tenant realm's app (src/config/desired.ts). */
export const defaultAppName = (realm: string) => `Proxmox VE (${realm})`;

/** The schema-shaped entry of one openid realm (client key excluded), or undefined when it cannot be expressed. */
export function openidRealm(r: PveRealm, leftOut: string[]): { entry: Record<string, unknown>; key: string | undefined } | undefined {
  const o = r.options;
  const entry: Record<string, unknown> = {};
  for (const opt of OPENID_OPTIONS) {
    const v = o[opt.pve];
    if (v === undefined || v === "") continue;
    if (opt.kind === "bool") {
      const b = v === true || v === 1 || v === "1";
      if (b !== opt.fallback) entry[opt.key] = b;
    } else if (opt.kind === "list") {
      const items = [...new Set(list(v))];
      if (opt.fallback !== undefined && [...items].sort().join(" ") === list(opt.fallback).sort().join(" ")) continue;
      if (items.length > 0) entry[opt.key] = items;
    } else entry[opt.key] = String(v);
  }
  const other = Object.keys(o).filter((k) => !HANDLED_OPTIONS.has(k)).sort();
  const problems: string[] = [];
  if (other.length > 0) problems.push(`options homelab does not manage (${other.join(", ")})`);
  if (typeof entry.issuerUrl === "string" && !fits("httpsUrl", entry.issuerUrl)) problems.push("an issuer URL the schema refuses");
  if (problems.length > 0) {
    leftOut.push(`realm ${r.realm}: ${problems.join(" and ")}; the realm, its users and their ACL entries are left out`);
    return undefined;
  }
  const key = typeof o["client-key"] === "string" && o["client-key"] !== "" ? o["client-key"] : undefined;
  return { entry, key };
}

/**
 * Whether a realm is clearly homelab-manageable as a tenant realm: an app registration in the tenant has
 * the realm's client id as appId and the cluster URL among its redirect URIs, the realm's issuer is the
 * tenant's, no other app carries the realm's tag, and the schema's checks will accept it. Otherwise the
 * realm stays an external issuer, with a note saying why.
 */
export function adoptionOf(r: PveRealm, entry: Record<string, unknown>, live: LiveCluster, tenant: LiveTenant, namedUsers: boolean, notes: string[]): Adoption | undefined {
  const c = tenant.apps.get(r.realm);
  if (!c) return undefined;
  const { app } = c;
  const label = `realm ${r.realm}: app registration "${app.displayName}" (appId ${app.appId})`;
  const redirects = (app.web?.redirectUris ?? []).map(trimSlash);
  if (!redirects.includes(live.url)) {
    notes.push(`${label} has the realm's client id but not ${live.url} as redirect URI; not adopted (written as an external issuer)`);
    return undefined;
  }
  if (trimSlash(String(entry.issuerUrl ?? "")) !== trimSlash(tenant.issuerUrl)) {
    notes.push(`${label} matches, but the realm's issuer URL is not tenant ${tenant.name}'s (${tenant.issuerUrl}); not adopted`);
    return undefined;
  }
  if (c.otherTagged.length > 0) {
    notes.push(`${label} matches, but ${c.otherTagged.map((a) => `"${a.displayName}" (${a.appId})`).join(", ")} already carr${c.otherTagged.length === 1 ? "ies" : "y"} the tag homelab:realm=${r.realm}; not adopted`);
    return undefined;
  }
  const bad = redirects.filter((u) => u !== live.url && !/^https:\/\/[^\s/?#]+\/?$/.test(u));
  if (bad.length > 0) {
    notes.push(`${label} matches, but has redirect URIs the schema cannot express (${bad.join(", ")}); not adopted`);
    return undefined;
  }
  const claim = String(entry.usernameClaim ?? "subject");
  if (namedUsers && UNKNOWABLE_CLAIMS.has(claim)) {
    notes.push(`${label} matches, but the realm uses the pairwise \`sub\` claim and has users with rights: homelab refuses that for tenant realms; not adopted`);
    return undefined;
  }
  const tagged = (app.tags ?? []).includes(`homelab:realm=${r.realm}`) && (app.tags ?? []).includes("homelab");
  if (!tagged && !tenant.adopt) {
    notes.push(`${label} matches (redirect URI ${live.url}, client id): run again with --adopt to tag it homelab:realm=${r.realm} and manage it as a tenant realm; written as an external issuer meanwhile`);
    return undefined;
  }
  return { realm: r.realm, app, needsTag: !tagged };
}

const REALM_ORDER = ["type", "tenant", "app", "clusters", "issuerUrl", "clientId", "clientKey"];
export function orderRealm(e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of REALM_ORDER) if (k in e) out[k] = e[k];
  for (const [k, v] of Object.entries(e)) if (!(k in out)) out[k] = v;
  return out;
}
