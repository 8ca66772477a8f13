/**
 * TLS for the Proxmox client: certificate pinning by SHA-256 fingerprint for self-signed clusters.
 *
 * Pinning replaces CA verification (`rejectUnauthorized: false`), so it must be checked BEFORE any request
 * byte is written: the agent's `createConnection` completes the handshake itself, compares the peer
 * certificate's fingerprint, and only then hands the socket to the HTTP layer. On a mismatch the socket is
 * destroyed and the request fails with a `PinMismatchError`: the server never sees the request line, the
 * Authorization header or the body.
 */
import { Agent, type AgentOptions, type RequestOptions } from "node:https";
import type { Duplex } from "node:stream";
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { UserError } from "../../core/errors.js";
import { FileReadError, formatBytes, readBoundedText } from "../../core/read-file.js";

/**
 * The largest CA file read (`clusters.<name>.tls.ca`): 1 MiB. A PEM bundle of every public root CA is about
 * 200 KiB; a larger file is the wrong file (or `/dev/zero`), and is refused before it fills memory.
 */
export const MAX_CA_BYTES = 1024 * 1024;

const CA_HINT = "point tls.ca at the PEM file of the CA that signed the cluster's certificate (on a node: /etc/pve/pve-root-ca.pem)";

/**
 * Read a cluster's CA file: a regular file of at most MAX_CA_BYTES (src/core/read-file.ts). `field` names
 * the setting (`clusters.pve.tls.ca`); `at` (`homelab.yaml:12:9`) where it is written, when known.
 * Throws UserError E_TLS_CA naming the file, what it is and the limit.
 */
export function readCaFile(path: string, field: string, at?: string): string {
  try {
    return readBoundedText(path, { limit: MAX_CA_BYTES, what: "CA file" });
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    throw new UserError(`${at ? `${at}: ` : ""}${field}: CA file ${err.message}`, { hint: caHint(err), code: "E_TLS_CA" });
  }
}

/**
 * For `homelab validate`: what reading the CA file would refuse (not a regular file, larger than the
 * limit), or undefined when it reads, or is not there (it may exist only where apply runs).
 */
export function caFileProblem(path: string): { message: string; hint: string } | undefined {
  try {
    readBoundedText(path, { limit: MAX_CA_BYTES, what: "CA file" });
    return undefined;
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    if (err.reason === "missing" || err.reason === "denied") return undefined;
    return { message: `CA file ${err.message}`, hint: caHint(err) };
  }
}

function caHint(err: FileReadError): string {
  return err.reason === "too-large" || err.reason === "special" || err.reason === "directory" ? `${CA_HINT}; it must be a regular file of at most ${formatBytes(MAX_CA_BYTES)}` : CA_HINT;
}

/** `AB:CD:...` / `abcd...` / `ab:cd...` → `ABCD...` (uppercase hex, no separators). */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[:\s]/g, "").toUpperCase();
}

/** `ABCD...` → `AB:CD:...`, the form `X509Certificate.fingerprint256` and the PVE GUI show. */
export function formatFingerprint(fp: string): string {
  return (normalizeFingerprint(fp).match(/.{1,2}/g) ?? []).join(":");
}

/** The server's certificate did not match the pin. Carries both fingerprints (not secrets). */
export class PinMismatchError extends Error {
  readonly code = "E_PIN_MISMATCH";
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`certificate fingerprint mismatch: expected ${formatFingerprint(expected)}, got ${actual ? formatFingerprint(actual) : "(no certificate)"}`);
    this.name = "PinMismatchError";
  }
}

export interface PinnedAgentOptions extends AgentOptions {
  /** SHA-256 fingerprint, any case, colons optional. */
  fingerprint: string;
  /** Time allowed for TCP connect plus TLS handshake, ms. */
  handshakeTimeoutMs: number;
}

/** An https.Agent that accepts exactly one server certificate, identified by its SHA-256 fingerprint. */
export class PinnedAgent extends Agent {
  readonly #expected: string;
  readonly #handshakeTimeoutMs: number;

  constructor(opts: PinnedAgentOptions) {
    const { fingerprint, handshakeTimeoutMs, ...agentOpts } = opts;
    super(agentOpts);
    this.#expected = normalizeFingerprint(fingerprint);
    this.#handshakeTimeoutMs = handshakeTimeoutMs;
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const cb = callback ?? (() => undefined);
    let done = false;
    const finish = (err: Error | null, socket?: TLSSocket): void => {
      if (done) return;
      done = true;
      tlsSocket.setTimeout(0);
      tlsSocket.off("error", onError);
      if (err) {
        tlsSocket.destroy();
        cb(err, tlsSocket);
      } else cb(null, socket!);
    };
    const onError = (err: Error): void => finish(err);
    const tlsSocket = connect({ ...(options as ConnectionOptions), rejectUnauthorized: false });
    tlsSocket.on("error", onError);
    tlsSocket.setTimeout(this.#handshakeTimeoutMs, () => {
      finish(Object.assign(new Error(`TLS handshake timed out after ${this.#handshakeTimeoutMs} ms`), { code: "ETIMEDOUT" }));
    });
    tlsSocket.once("secureConnect", () => {
      const actual = normalizeFingerprint(tlsSocket.getPeerCertificate()?.fingerprint256 ?? "");
      if (actual !== this.#expected) finish(new PinMismatchError(this.#expected, actual));
      else finish(null, tlsSocket);
    });
    // Asynchronous creation: the Agent waits for the callback (node:_http_agent createSocket).
    return undefined;
  }
}
