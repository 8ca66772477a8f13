/**
 * The wire encoding of Proxmox API parameters (shared/spec/proxmox-access-api.md, errata 6 and 9): form bodies and
 * query strings, and path parameters.
 */
import type { PveParams, PveParamValue } from "./types.js";

function encodeValue(v: Exclude<PveParamValue, null | undefined>): string {
  if (typeof v === "boolean") return v ? "1" : "0";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return v;
  return v.join(",");
}

/**
 * `application/x-www-form-urlencoded` (also used for query strings): every key and value percent-encoded
 * with encodeURIComponent, so `;`, `=`, `&`, `+`, `%`, spaces and non-ASCII survive (errata 9: PVE also splits
 * pairs on a raw `;`). undefined and null are omitted (errata 6).
 */
export function encodeForm(params: PveParams): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(encodeValue(v))}`);
  }
  return parts.join("&");
}

/** A path with each interpolated parameter encodeURIComponent'd: path`/access/users/${userid}`. */
export function path(strings: TemplateStringsArray, ...values: string[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]!) : ""), "");
}
