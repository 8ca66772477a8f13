/**
 * ID token (and signed userinfo) verification as openidconnect 4's IdTokenVerifier does it for proxmox-openid:
 * header, issuer, audience, algorithm, the key by kid from the discovered JWKS, signature, then expiry (no leeway)
 * and nonce; failures worded as openidconnect words them.
 */
import { createHash, createHmac, createPublicKey, timingSafeEqual, verify as cryptoVerify, constants, type JsonWebKey as NodeJwk, type KeyObject } from "node:crypto";
import { OidcError, type Discovered } from "./openid-discovery.js";

/** The claims, as the JSON object OpenId.pm receives ($info). */
export type Claims = Record<string, unknown>;

/** openidconnect's key/alg compatibility (check_key_compatibility) and the verification itself. */
function keyFamily(alg: string): { kty: string; crv?: string } | undefined {
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return { kty: "RSA" };
  if (alg === "ES256") return { kty: "EC", crv: "P-256" };
  if (alg === "ES384") return { kty: "EC", crv: "P-384" };
  if (alg === "ES512") return { kty: "EC", crv: "P-521" };
  if (alg === "EdDSA") return { kty: "OKP", crv: "Ed25519" };
  if (/^HS(256|384|512)$/.test(alg)) return { kty: "oct" };
  return undefined;
}

function verifySignature(alg: string, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  const bits = alg.slice(2);
  const hash = `sha${bits}`;
  if (alg.startsWith("RS")) return cryptoVerify(hash, data, key, sig);
  if (alg.startsWith("PS")) {
    return cryptoVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
  }
  if (alg.startsWith("ES")) return cryptoVerify(alg === "ES512" ? "sha512" : hash, data, { key, dsaEncoding: "ieee-p1363" }, sig);
  if (alg === "EdDSA") return cryptoVerify(null, data, key, sig);
  return false;
}

interface VerifyInput {
  jwt: string;
  discovered: Discovered;
  clientId: string;
  clientKey: string | undefined;
  audiences: string[] | undefined;
  /** undefined for a signed userinfo response (no nonce or exp check) */
  nonce?: string;
  nowS: number;
}

/**
 * IdTokenVerifier::verified_claims: header, issuer, audience, alg, signature (steps 1–8), then exp,
 * nonce (steps 9–11). Returns the payload. Throws OidcError with openidconnect's wording.
 */
export function verifyJwt(input: VerifyInput): Claims {
  const parts = input.jwt.split(".");
  if (parts.length !== 3) throw new OidcError("Failed to parse server response: id_token: invalid JSON Web Token: expected 3 parts");
  let header: Record<string, unknown>;
  let claims: Claims;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Claims;
  } catch {
    throw new OidcError("Failed to parse server response: id_token: invalid JSON Web Token");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new OidcError("Failed to parse server response: id_token: invalid type, expected a map");
  }
  for (const f of input.nonce !== undefined ? ["iss", "sub", "aud", "exp", "iat"] : ["sub"]) {
    if (claims[f] === undefined || claims[f] === null) throw new OidcError(`Failed to parse server response: id_token: missing field \`${f}\``);
  }
  const v = (msg: string): never => {
    throw new OidcError(input.nonce !== undefined ? `Failed to verify ID token: ${msg}` : msg);
  };
  // JOSE header: typ, when present, normalises to application/jwt or application/jose; no cty, no crit.
  if (typeof header.typ === "string") {
    const t = header.typ.toLowerCase();
    const norm = t.includes("/") ? t : `application/${t}`;
    if (norm !== "application/jwt" && norm !== "application/jose") v(`Unsupported: unexpected or unsupported JWT type \`${header.typ}\``);
  }
  if (header.cty !== undefined) v("Unsupported: nested JWT's are not currently supported");
  if (header.crit !== undefined) v("Unsupported: critical JWT header fields are unsupported");
  // Issuer: exactly the discovered issuer, which discovery made sure is the realm's issuer-url.
  if (input.nonce !== undefined || claims.iss !== undefined) {
    if (typeof claims.iss !== "string") v("Invalid issuer: missing issuer claim");
    if (claims.iss !== input.discovered.issuer) v(`Invalid issuer: expected \`${input.discovered.issuer}\` (found \`${String(claims.iss)}\`)`);
  }
  // Audience: must contain the client id; with several, each other one must be trusted (`audiences`).
  if (input.nonce !== undefined || claims.aud !== undefined) {
    const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.map(String) : undefined;
    if (!aud) v("Invalid audiences: missing audiences claim");
    if (!aud!.includes(input.clientId)) {
      v(`Invalid audiences: must contain \`${input.clientId}\` (found audiences: ${aud!.map((a) => `\`${a}\``).join(", ")})`);
    }
    if (aud!.length > 1) {
      const untrusted = aud!.find((a) => a !== input.clientId && !(input.audiences ?? []).includes(a));
      if (untrusted !== undefined) v(`Invalid audiences: \`${untrusted}\` is not a trusted audience`);
    }
  }
  // Algorithm: one of the provider's id_token_signing_alg_values_supported.
  const alg = header.alg;
  if (typeof alg !== "string" || alg === "none") v("Signature verification failed");
  if (!input.discovered.algs.includes(alg as string)) {
    v(`Signature verification failed: Disallowed signature algorithm: algorithm \`${String(alg)}\` is not one of: ${input.discovered.algs.join(", ")}`);
  }
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2]!, "base64url");
  if (/^HS/.test(alg as string)) {
    if (input.clientKey === undefined) v("Signature verification failed: Disallowed signature algorithm: symmetric signatures are disallowed for public clients");
    const mac = createHmac(`sha${(alg as string).slice(2)}`, input.clientKey!).update(data).digest();
    if (mac.length !== sig.length || !timingSafeEqual(mac, sig)) v("Signature verification failed: Crypto error: bad HMAC");
  } else {
    const fam = keyFamily(alg as string);
    if (!fam) v(`Signature verification failed: Unsupported signature algorithm: ${String(alg)}`);
    const kid = typeof header.kid === "string" ? header.kid : undefined;
    const eligible = input.discovered.keys.filter(
      (k) =>
        (kid === undefined || k.kid === kid) &&
        k.kty === fam!.kty &&
        (fam!.crv === undefined || k.crv === fam!.crv) &&
        (k.use === undefined || k.use === "sig") &&
        (k.alg === undefined || k.alg === alg),
    );
    if (eligible.length === 0) v("Signature verification failed: No matching key found");
    if (eligible.length > 1) {
      v(`Signature verification failed: Ambiguous key identification: JWK set must only contain one eligible public key, but found ${eligible.length} eligible keys`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: eligible[0] as NodeJwk, format: "jwk" });
    } catch (e) {
      return v(`Signature verification failed: Invalid cryptographic key: ${(e as Error).message}`);
    }
    if (!verifySignature(alg as string, key, data, sig)) v("Signature verification failed: Crypto error: bad signature");
  }
  if (input.nonce === undefined) return claims;
  // Step 9: no leeway ("cur_time >= expiration" is expired).
  const exp = Number(claims.exp);
  if (!Number.isFinite(exp)) v("Failed to parse server response: exp: invalid type");
  if (input.nowS >= exp) {
    v(`Expired: ID token expired at ${new Date(exp * 1000).toISOString()} (current time is ${new Date(input.nowS * 1000).toISOString()})`);
  }
  // Step 11: compared by SHA-256 digest (constant time).
  if (claims.nonce === undefined || claims.nonce === null) v("Invalid nonce: missing nonce claim");
  const a = createHash("sha256").update(String(claims.nonce)).digest();
  const b = createHash("sha256").update(input.nonce).digest();
  if (!timingSafeEqual(a, b)) v("Invalid nonce: nonce mismatch");
  return claims;
}
