import { X509Certificate, constants, createHash, verify } from "node:crypto";
import { TokenError } from "./errors.js";
import { graphDate, newGuid } from "./ids.js";
import type { Json } from "./shapes.js";
import type { Entity } from "./entities.js";

/**
 * Certificate credentials: `keyCredentials` of type AsymmetricX509Cert (base64 DER in `key`) and the RFC 7523
 * client assertion msal-node builds from them (RS256 with `x5t`, or PS256 with `x5t#S256`).
 */

export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Fills what Graph derives from the certificate: keyId, thumbprint (customKeyIdentifier) and validity. */
export function normaliseKeyCredential(k: Json): Json {
  const out: Json = { customKeyIdentifier: null, displayName: null, endDateTime: null, key: null, keyId: newGuid(), startDateTime: null, type: "AsymmetricX509Cert", usage: "Verify", ...k };
  if (typeof k.key === "string" && out.type === "AsymmetricX509Cert") {
    const cert = certificate(k.key);
    if (cert) {
      out.customKeyIdentifier = cert.fingerprint.replace(/:/g, "");
      out.startDateTime ??= graphDate(new Date(cert.validFrom));
      out.endDateTime ??= graphDate(new Date(cert.validTo));
    }
  }
  return out;
}

function certificate(b64: string): X509Certificate | undefined {
  try {
    return new X509Certificate(Buffer.from(b64, "base64"));
  } catch {
    return undefined;
  }
}

function decodePart(s: string | undefined): Json {
  try {
    const v: unknown = JSON.parse(Buffer.from(s ?? "", "base64url").toString("utf8"));
    return typeof v === "object" && v !== null ? (v as Json) : {};
  } catch {
    return {};
  }
}

const failed = (): TokenError => new TokenError(401, "invalid_client", 700027, "Client assertion failed signature validation.");

/**
 * Verifies `assertion` for `clientId` against the app's certificates valid at `now` (simulator clock). The
 * assertion's own `exp`/`nbf` are checked against real time: msal stamps them from the machine clock.
 */
export function verifyClientAssertion(app: Entity, clientId: string, assertion: string, now: Date): void {
  const parts = assertion.split(".");
  if (parts.length !== 3) throw new TokenError(400, "invalid_request", 50027, "JWT token is invalid or malformed.");
  const header = decodePart(parts[0]);
  const payload = decodePart(parts[1]);
  if (payload.iss !== clientId || payload.sub !== clientId)
    throw new TokenError(401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
  const t = Date.now() / 1000;
  if (typeof payload.exp !== "number" || payload.exp < t - 300 || (typeof payload.nbf === "number" && payload.nbf > t + 300))
    throw new TokenError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.");
  if (typeof payload.aud !== "string" || !/\/oauth2\/v2\.0\/token$/.test(payload.aud))
    throw new TokenError(401, "invalid_client", 700016, `Client assertion audience claim does not match Realm issuer.`);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2] ?? "", "base64url");
  for (const k of (app.data.keyCredentials ?? []) as Json[]) {
    if (k.type !== "AsymmetricX509Cert" || k.usage !== "Verify" || typeof k.key !== "string") continue;
    const start = Date.parse(String(k.startDateTime));
    const end = Date.parse(String(k.endDateTime));
    if (now.getTime() < start || now.getTime() >= end) continue;
    const cert = certificate(k.key);
    if (!cert) continue;
    const der = cert.raw;
    const x5t = createHash("sha1").update(der).digest("base64url");
    const x5tS256 = createHash("sha256").update(der).digest("base64url");
    if (header["x5t#S256"] !== x5tS256 && header.x5t !== x5t) continue;
    const ok =
      header.alg === "PS256"
        ? verify("sha256", signed, { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
        : header.alg === "RS256" && verify("sha256", signed, cert.publicKey, signature);
    if (ok) return;
  }
  throw failed();
}
