import { randomBytes, randomUUID } from "node:crypto";

/** Fixed default tenant of the simulator (a made-up GUID; never a real directory). */
export const DEFAULT_TENANT_ID = "5e1f0c3a-7d2b-4c8e-9a6f-0b1d2c3e4f50";
/** Microsoft Graph's well-known appId (1.2). */
export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
/** First-party "Microsoft Graph Command Line Tools" public client, usable for device code (1.3). */
export const GRAPH_CLI_APP_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
/** Default-access app role id (3.9). */
export const DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000";

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

export function newGuid(): string {
  return randomUUID();
}

export function base64url(buf: Buffer | string): string {
  return Buffer.from(buf).toString("base64url");
}

const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-";

function randomChars(n: number): string {
  const bytes = randomBytes(n);
  let out = "";
  for (const b of bytes) out += SECRET_ALPHABET[b % SECRET_ALPHABET.length];
  return out;
}

/** A client secret shaped like Entra's current ones: 40 characters, "Q~" at positions 4-5 (3.7). */
export function newSecretText(): string {
  return `${randomChars(3)}${Math.floor(Math.random() * 10)}Q~${randomChars(34)}`;
}

/** Opaque token or code. Clients must not decode access tokens (1.1). */
export function newOpaque(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/** mulberry32, shared with the Proxmox simulator: a small deterministic PRNG for the `rate` knobs. */
export { mulberry32 as prng } from "../rng.js";

/** Graph date-time: ISO 8601 UTC without milliseconds, e.g. "2027-05-29T00:00:00Z" (3.7). */
export function graphDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `innerError.date` form: "2021-04-20T17:22:30" (4.1). */
export function innerErrorDate(d: Date): string {
  return d.toISOString().slice(0, 19);
}

/** Token-endpoint `timestamp` form: "2024-01-01 00:00:00Z" (1.1). */
export function aadTimestamp(d: Date): string {
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}Z`;
}
