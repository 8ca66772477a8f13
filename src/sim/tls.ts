/**
 * Self-signed TLS material for the simulators, built with node:crypto only (no openssl CLI, no
 * npm package): an EC P-256 key pair and a hand-encoded X.509 v3 certificate (DER/ASN.1) for
 * CN=homelab-sim with subjectAltName IP:127.0.0.1 and DNS:localhost.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

export interface SelfSignedCert {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the DER certificate, uppercase hex pairs joined by ":" (as X509Certificate.fingerprint256). */
  fingerprint256: string;
}

export interface SelfSignedOptions {
  commonName?: string;
  /** Validity in days from now (notBefore is one day in the past to tolerate clock skew). */
  days?: number;
  ipAddresses?: string[];
  dnsNames?: string[];
  /** EC P-256 (default, for TLS) or RSA 2048 (what Entra certificate credentials use: RS256/PS256 assertions). */
  keyType?: "ec" | "rsa";
}

// --- minimal DER encoder -------------------------------------------------------------------

function derLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  let n = len;
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));

function derInteger(value: Buffer): Buffer {
  let v = value;
  while (v.length > 1 && v[0] === 0 && (v[1]! & 0x80) === 0) v = v.subarray(1);
  if ((v[0]! & 0x80) !== 0) v = Buffer.concat([Buffer.from([0]), v]);
  return tlv(0x02, v);
}

function derOid(oid: string): Buffer {
  const parts = oid.split(".").map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const stack: number[] = [part & 0x7f];
    let n = Math.floor(part / 128);
    while (n > 0) {
      stack.unshift((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

const derUtf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, "utf8"));
const derOctets = (b: Buffer): Buffer => tlv(0x04, b);
const derBitString = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const derBoolean = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);

function derTime(date: Date): Buffer {
  const pad = (n: number): string => String(n).padStart(2, "0");
  const y = date.getUTCFullYear();
  const rest =
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    "Z";
  // RFC 5280 4.1.2.5: UTCTime up to 2049, GeneralizedTime from 2050 on.
  if (y < 2050) return tlv(0x17, Buffer.from(pad(y % 100) + rest, "ascii"));
  return tlv(0x18, Buffer.from(String(y) + rest, "ascii"));
}

function ipBytes(ip: string): Buffer {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`only IPv4 addresses are supported in subjectAltName, got '${ip}'`);
  }
  return Buffer.from(parts);
}

const OID_CN = "2.5.4.3";
const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const OID_RSA_SHA256 = "1.2.840.113549.1.1.11";
const OID_SAN = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_KEY_USAGE = "2.5.29.15";
const OID_EXT_KEY_USAGE = "2.5.29.37";
const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
void OID_EC_PUBLIC_KEY; // the SPKI comes ready-made from node:crypto

function toPem(label: string, der: Buffer): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The uppercase, colon-separated SHA-256 of a DER blob ("AB:CD:..."). */
export function fingerprint256(der: Buffer): string {
  return createHash("sha256")
    .update(der)
    .digest("hex")
    .toUpperCase()
    .replace(/(..)(?!$)/g, "$1:");
}

/** Generate a fresh key pair and a self-signed certificate (synchronous, a few milliseconds). */
export function generateSelfSignedCert(opts: SelfSignedOptions = {}): SelfSignedCert {
  const cn = opts.commonName ?? "homelab-sim";
  const days = opts.days ?? 825;
  const ips = opts.ipAddresses ?? ["127.0.0.1"];
  const dns = opts.dnsNames ?? ["localhost"];

  const rsa = opts.keyType === "rsa";
  const { privateKey, publicKey } = rsa ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  // sha256WithRSAEncryption carries explicit NULL parameters (RFC 4055); ecdsa-with-SHA256 carries none.
  const sigAlg = rsa ? seq(derOid(OID_RSA_SHA256), tlv(0x05, Buffer.alloc(0))) : seq(derOid(OID_ECDSA_SHA256));
  const name = seq(set(seq(derOid(OID_CN), derUtf8(cn))));
  const now = Date.now();
  const validity = seq(derTime(new Date(now - 86_400_000)), derTime(new Date(now + days * 86_400_000)));

  const sanNames = Buffer.concat([
    ...ips.map((ip) => tlv(0x87, ipBytes(ip))), // [7] iPAddress
    ...dns.map((d) => tlv(0x82, Buffer.from(d, "ascii"))), // [2] dNSName
  ]);
  const extensions = seq(
    seq(derOid(OID_BASIC_CONSTRAINTS), derBoolean(true), derOctets(seq(derBoolean(true)))),
    // digitalSignature (bit 0) + keyCertSign (bit 5): 0b10000100, 2 unused bits
    seq(derOid(OID_KEY_USAGE), derBoolean(true), derOctets(tlv(0x03, Buffer.from([0x02, 0x84])))),
    seq(derOid(OID_EXT_KEY_USAGE), derOctets(seq(derOid(OID_SERVER_AUTH)))),
    seq(derOid(OID_SAN), derOctets(seq(sanNames))),
  );

  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const tbs = seq(
    explicit(0, derInteger(Buffer.from([2]))), // v3
    derInteger(serial),
    sigAlg,
    name,
    validity,
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = sign("sha256", tbs, privateKey); // ECDSA: a DER ECDSA-Sig-Value; RSA: PKCS#1 v1.5
  const cert = seq(tbs, sigAlg, derBitString(signature));

  return {
    certPem: toPem("CERTIFICATE", cert),
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    fingerprint256: fingerprint256(cert),
  };
}
