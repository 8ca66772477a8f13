import { afterEach, describe, expect, it } from "vitest";
import { redact, resetRedaction, SENSITIVE } from "../../src/log/redact.js";
import { mulberry32 } from "../../src/sim/rng.js";

afterEach(() => resetRedaction());

/** The four shape replacements as redact.ts has always applied them, to every text (no quick test first). */
function reference(text: string): string {
  return text
    .replace(/(PVEAPIToken[= ][^\s=!]+![^\s=]+[=\s])[^\s"',;]+/g, `$1${SENSITIVE}`)
    .replace(/(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}/g, `$1${SENSITIVE}`)
    .replace(/(\b(?:client_secret|client_assertion|secretText|access_token|refresh_token|client-key|password)["']?\s*[=:]\s*["']?)[^\s"'&,}]+/gi, `$1${SENSITIVE}`)
    .replace(/(\/\/)[^/\s:@]+:[^/\s@]+@/g, `$1${SENSITIVE}@`);
}

/** Pieces of the shapes (in odd cases too) and of ordinary lines, joined at random. */
const PIECES = [
  "PVEAPIToken=", "PVEAPIToken ", "pveapitoken=", "root@pam!homelab", "=", "!", " ", "Bearer ", "bearer ", "Basic ", "BASIC ",
  "eyJhbGciOiJSUzI1NiJ9.abc", "dXNlcjpwYXNz", "client_secret", "CLIENT_SECRET", "client_assertion", "secretText", "SecretText", "access_token",
  "refresh_token", "client-key", "Client-Key", "password", "PassWord", ": ", "=", "\"", "'", "&", ",", "}", "https://", "//", "user", ":", "pw",
  "@", "host.lan", "/", "created proxmox.user/pve:u1@pve", "proxmox.acl/pve:/vms/100:u2@pve:PVEVMAdmin", "\n", "s3cr3t-value-1234", "é", "\t",
];

describe("redact: credential shapes", () => {
  it("redacts exactly what the four shape replacements redact, on every generated text (seeded)", () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    const rnd = mulberry32(seed);
    for (let i = 0; i < 5000; i++) {
      let text = "";
      const n = 1 + Math.floor(rnd() * 10);
      for (let k = 0; k < n; k++) text += PIECES[Math.floor(rnd() * PIECES.length)];
      expect(redact(text), `seed ${seed}, text ${JSON.stringify(text)}`).toBe(reference(text));
    }
  });

  it("still redacts each shape, and leaves an ordinary change line as it is", () => {
    expect(redact("Authorization: PVEAPIToken=root@pam!ci=0f1e2d3c-aaaa")).toBe(`Authorization: PVEAPIToken=root@pam!ci=${SENSITIVE}`);
    expect(redact("Authorization: Bearer abcdefgh12345")).toBe(`Authorization: Bearer ${SENSITIVE}`);
    expect(redact('{"CLIENT_SECRET": "x1y2z3"}')).toBe(`{"CLIENT_SECRET": "${SENSITIVE}"}`);
    expect(redact("GET https://admin:hunter22@pve.lan:8006/")).toBe(`GET https://${SENSITIVE}@pve.lan:8006/`);
    const line = "created proxmox.acl/pve:/vms/100:u2@pve:PVEVMAdmin";
    expect(redact(line)).toBe(line);
  });
});
