import { createHash, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateSelfSignedCert } from "../../src/sim/tls.js";

/**
 * A throwaway RSA certificate for Entra certificate credentials, made with the project's own X.509
 * encoder (src/sim/tls.ts) rather than the openssl binary: PEMs, DER, SHA-1 thumbprint, and the key
 * written to `<dir>/<name>.key` for `${file:...}` references.
 */
export function makeCert(dir: string, name: string): { certPem: string; keyPem: string; keyPath: string; der: Buffer; sha1: string } {
  const { certPem, keyPem } = generateSelfSignedCert({ commonName: name, keyType: "rsa", days: 30 });
  const keyPath = join(dir, `${name}.key`);
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  const der = Buffer.from(new X509Certificate(certPem).raw);
  return { certPem, keyPem, keyPath, der, sha1: createHash("sha1").update(der).digest("hex").toUpperCase() };
}
