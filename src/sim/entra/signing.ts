import { createHash, createPrivateKey, sign, X509Certificate, type KeyObject } from "node:crypto";
import { generateSelfSignedCert } from "../tls.js";
import { base64url } from "./ids.js";
import type { Json } from "./shapes.js";

/**
 * The tenant's token-signing key (5.1 `jwks_uri`, 5.2): RSA 2048 with a self-signed certificate, published as
 * Entra publishes its keys at `/{tid}/discovery/v2.0/keys` — `kty`, `use`, `kid` (= `x5t`, the base64url SHA-1 of
 * the certificate), `x5t`, `n`, `e`, `x5c` and `issuer`. ID tokens are RS256 with `kid` in the header.
 * Made on first use, so simulators that never sign anyone in do not pay for an RSA key.
 */
export class SigningKey {
  private material?: { key: KeyObject; jwk: Json; kid: string };

  private get(): { key: KeyObject; jwk: Json; kid: string } {
    if (this.material) return this.material;
    const { certPem, keyPem } = generateSelfSignedCert({ commonName: "homelab-sim token signing", keyType: "rsa", days: 825 });
    const key = createPrivateKey(keyPem);
    const cert = new X509Certificate(certPem);
    const der = Buffer.from(cert.raw);
    const kid = base64url(createHash("sha1").update(der).digest());
    const pub = cert.publicKey.export({ format: "jwk" }) as { n: string; e: string };
    const jwk: Json = { kty: "RSA", use: "sig", kid, x5t: kid, n: pub.n, e: pub.e, x5c: [der.toString("base64")] };
    this.material = { key, jwk, kid };
    return this.material;
  }

  /** The JWKS document; each key names the tenant's issuer, as Entra's do. */
  jwks(issuer: string): Json {
    return { keys: [{ ...this.get().jwk, issuer }] };
  }

  /** A compact JWS, RS256, header `{typ, alg, kid}`. */
  signJwt(claims: Json): string {
    const { key, kid } = this.get();
    const head = base64url(JSON.stringify({ typ: "JWT", alg: "RS256", kid }));
    const body = base64url(JSON.stringify(claims));
    const sig = sign("sha256", Buffer.from(`${head}.${body}`), key);
    return `${head}.${body}.${base64url(sig)}`;
  }
}
