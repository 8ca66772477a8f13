/**
 * Proxmox answers → homelab's normalised shapes (access API spec section 5.1): booleans as booleans (PVE sends
 * 0/1, sometimes strings), lists sorted, server defaults filled in, empty optional strings absent.
 */
import type { PveAclEntry, PveGroup, PveRealm, PveRealmOptionValue, PveRealmSummary, PveRole, PveTokenInfo, PveUser } from "./types.js";

/** Boolean realm options (spec 3.1.5) that come back as 0/1. */
const REALM_BOOLEANS = new Set(["default", "autocreate", "groups-autocreate", "groups-overwrite", "query-userinfo", "secure", "verify", "case-sensitive"]);

export function bool(v: unknown, missing: boolean): boolean {
  if (v === undefined || v === null || v === "") return missing;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  const s = String(v).toLowerCase();
  return !(s === "0" || s === "false" || s === "no" || s === "off");
}

function int(v: unknown, missing: number): number {
  if (v === undefined || v === null || v === "") return missing;
  const n = Number(v);
  return Number.isFinite(n) ? n : missing;
}

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v);
  return s === "" ? undefined : s;
}

/** A PVE list given as a comma-joined string (or, leniently, an array) → sorted array without empties. */
function list(v: unknown): string[] {
  const items = Array.isArray(v) ? v.map(String) : typeof v === "string" ? v.split(/[,;\s]+/) : [];
  return items.filter((s) => s !== "").sort(cmp);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Put optional text fields on `out` only when present and non-empty. */
function optional<T extends object>(out: T, src: Record<string, unknown>, keys: readonly string[]): T {
  for (const k of keys) {
    const t = text(src[k]);
    if (t !== undefined) (out as Record<string, unknown>)[k] = t;
  }
  return out;
}

export function asRecords(data: unknown): Record<string, unknown>[] {
  return Array.isArray(data) ? (data.filter((x) => x !== null && typeof x === "object") as Record<string, unknown>[]) : [];
}

export function normalizeRealmSummary(r: Record<string, unknown>): PveRealmSummary {
  return optional({ realm: String(r.realm), type: String(r.type), default: bool(r.default, false) } as PveRealmSummary, r, ["comment", "tfa"]);
}

export function normalizeRealm(realm: string, r: Record<string, unknown>): PveRealm {
  const options: Record<string, PveRealmOptionValue> = {};
  for (const [k, v] of Object.entries(r)) {
    if (k === "type" || k === "digest" || k === "plugin" || k === "realm" || v === null || v === undefined || v === "") continue;
    options[k] = REALM_BOOLEANS.has(k) ? bool(v, false) : typeof v === "number" || typeof v === "boolean" ? v : String(v);
  }
  return { realm, type: String(r.type), digest: String(r.digest ?? ""), options };
}

function normToken(t: Record<string, unknown>): PveTokenInfo {
  return optional({ tokenid: String(t.tokenid), privsep: bool(t.privsep, true), expire: int(t.expire, 0) } as PveTokenInfo, t, ["comment"]);
}

export function normalizeUser(u: Record<string, unknown>): PveUser {
  const out = optional(
    { userid: String(u.userid), enable: bool(u.enable, true), expire: int(u.expire, 0) } as PveUser,
    u,
    ["firstname", "lastname", "email", "comment", "keys"],
  );
  const realmType = text(u["realm-type"]);
  if (realmType !== undefined) out.realmType = realmType;
  out.groups = list(u.groups);
  out.tokens = asRecords(u.tokens).map(normToken).sort((a, b) => cmp(a.tokenid, b.tokenid));
  return out;
}

export function normalizeGroup(g: Record<string, unknown>): PveGroup {
  const out = optional({ groupid: String(g.groupid) } as PveGroup, g, ["comment"]);
  out.users = list(g.users ?? g.members);
  return out;
}

export function normalizeRole(r: Record<string, unknown>): PveRole {
  return { roleid: String(r.roleid), privs: list(r.privs), special: bool(r.special, false) };
}

export function normalizeAclEntry(a: Record<string, unknown>): PveAclEntry {
  return {
    path: String(a.path),
    type: String(a.type) as PveAclEntry["type"],
    ugid: String(a.ugid),
    roleid: String(a.roleid),
    propagate: bool(a.propagate, true),
  };
}

export function aclKey(a: PveAclEntry): string {
  return `${a.path}\0${a.type}\0${a.ugid}\0${a.roleid}`;
}
