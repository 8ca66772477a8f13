/**
 * Turning Proxmox answers and transport failures into homelab's typed errors (RemoteError / AuthError).
 *
 * Every message passes through `redact()`, and no error carries the got error, the request options or the
 * headers (they hold the token): the `cause` is a fresh, redacted Error with only the original code.
 */
import { AuthError, RemoteError } from "../../core/errors.js";
import { redact } from "../../log/redact.js";
import { timeoutHint } from "../timeouts.js";
import { formatFingerprint, PinMismatchError } from "./tls.js";

export const SERVICE = "proxmox";

/** What the server said, kept beside the error for callers that need it (race handling, tests). */
export interface ProxmoxErrorInfo {
  cluster: string;
  /** The `message` field (or reason phrase / plain-text body), trailing newlines trimmed, redacted. */
  serverMessage: string;
  /** The `errors` map of a 400, redacted. */
  errors?: Record<string, string>;
  /** Transport failure code (`ECONNREFUSED`, `ETIMEDOUT`, `DEPTH_ZERO_SELF_SIGNED_CERT`, ...). */
  networkCode?: string;
}

const infos = new WeakMap<Error, ProxmoxErrorInfo>();

/** The server message and `errors` of an error thrown by the Proxmox client, or undefined. */
export function proxmoxErrorInfo(err: unknown): ProxmoxErrorInfo | undefined {
  return err instanceof Error ? infos.get(err) : undefined;
}

const NOT_FOUND = /does not exist|no such (user|token)/;
const ALREADY_EXISTS = /already exists/;

/**
 * Spec 5.2: Proxmox answers 500 (never 404) for a missing object. Use only to recognise a race (an object
 * deleted between list and change); decide existence from list calls.
 */
export function isNotFound(err: unknown): boolean {
  const info = proxmoxErrorInfo(err);
  return info !== undefined && (err as RemoteError).status === 500 && NOT_FOUND.test(info.serverMessage);
}

/** Spec 5.2: "already exists" is a 500 (a 400 `errors.tokenid` for tokens). For races only. */
export function isAlreadyExists(err: unknown): boolean {
  const info = proxmoxErrorInfo(err);
  if (info === undefined) return false;
  const status = (err as RemoteError).status;
  if (status === 500) return ALREADY_EXISTS.test(info.serverMessage);
  return status === 400 && Object.values(info.errors ?? {}).some((t) => ALREADY_EXISTS.test(t));
}

export interface RequestDescription {
  cluster: string;
  method: string;
  /** Path relative to /api2/json, with query string, e.g. `/access/users?full=1`. */
  path: string;
  /** Full URL (no credentials). */
  url: string;
}

function trimMessage(s: string): string {
  return s.replace(/\s+$/, "");
}

/** Build the typed error for a non-2xx answer. */
export function httpError(req: RequestDescription, status: number, statusMessage: string | undefined, body: string): RemoteError {
  let message = "";
  let errors: Record<string, string> | undefined;
  if (body.trim() !== "") {
    try {
      const parsed = JSON.parse(body) as { message?: unknown; errors?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
      if (parsed.errors && typeof parsed.errors === "object") {
        errors = {};
        for (const [k, v] of Object.entries(parsed.errors as Record<string, unknown>)) errors[k] = redact(trimMessage(String(v)));
      }
    } catch {
      message = body; // errata 15: some 500s are plain text
    }
  }
  if (message.trim() === "") message = statusMessage ?? "";
  const serverMessage = redact(trimMessage(message)) || `HTTP ${status}`;
  const fieldLines = errors ? Object.keys(errors).sort().map((k) => `${k}: ${errors![k]}`) : [];
  const detail = fieldLines.length > 0 ? `${serverMessage} (${fieldLines.join("; ")})` : serverMessage;
  const head = `proxmox cluster '${req.cluster}': ${req.method} ${req.path} failed: ${status} ${detail}`;
  const base = { service: SERVICE, method: req.method, url: redact(req.url), status, message: redact(head) };
  let err: RemoteError;
  if (status === 401) {
    err = new AuthError({
      ...base,
      hint: `check clusters.${req.cluster}.token: the token id or secret is wrong, or the token or its user is disabled or expired`,
    });
  } else if (status === 403) {
    err = new AuthError({
      ...base,
      hint: `the API token of cluster '${req.cluster}' lacks a privilege: give it Administrator on / (privsep=0, or an ACL for the token and its user)`,
    });
  } else {
    const hint =
      status === 501 ? "the server does not know this call: is this Proxmox VE 8 or newer?"
      : status >= 595 ? "the Proxmox proxy could not reach its backend (pvedaemon); retry later"
      : status === 502 || status === 503 || status === 504 ? "the server is temporarily unavailable; retry later"
      : undefined;
    err = new RemoteError({ ...base, ...(hint !== undefined ? { hint } : {}) });
  }
  infos.set(err, { cluster: req.cluster, serverMessage, ...(errors ? { errors } : {}) });
  return err;
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "ERR_TLS_CERT_ALTNAME_INVALID", "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE", "CERT_REJECTED", "HOSTNAME_MISMATCH",
]);

/** Build the typed error for a request that got no HTTP answer (network, timeout, TLS, pin mismatch). */
export function transportError(req: RequestDescription, error: unknown, _timeouts: { connectMs: number; responseMs: number }): RemoteError {
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
  const original = e.cause instanceof Error ? (e.cause as Error & { code?: unknown }) : undefined;
  const code = typeof e.code === "string" ? e.code : typeof original?.code === "string" ? original.code : "ERR_UNKNOWN";
  const rawText = typeof e.message === "string" ? e.message : String(error);
  const where = `proxmox cluster '${req.cluster}': ${req.method} ${req.path}`;
  const cfg = `clusters.${req.cluster}`;
  const base = { service: SERVICE, method: req.method, url: redact(req.url) };

  const pin = original instanceof PinMismatchError ? original : error instanceof PinMismatchError ? error : undefined;
  let err: RemoteError;
  if (pin || code === "E_PIN_MISMATCH") {
    const expected = pin ? formatFingerprint(pin.expected) : "(configured)";
    const actual = pin ? (pin.actual ? formatFingerprint(pin.actual) : "(no certificate)") : "(unknown)";
    err = new AuthError({
      ...base,
      code: "E_TLS_PIN",
      message: redact(`${where}: the server certificate does not match the pinned fingerprint; expected ${expected}, got ${actual}. No request was sent`),
      hint: `if the cluster's certificate was renewed, check the new fingerprint on the node (pvenode cert info, or the GUI: System > Certificates) and update ${cfg}.tls.fingerprint; otherwise something is intercepting the connection`,
    });
  } else if (TLS_CODES.has(code)) {
    err = new RemoteError({
      ...base,
      code: "E_TLS",
      message: redact(`${where}: certificate verification failed (${code}: ${rawText})`),
      hint: `for a self-signed certificate set ${cfg}.tls.fingerprint to its SHA-256 fingerprint (pvenode cert info), or ${cfg}.tls.ca to the CA's PEM file (/etc/pve/pve-root-ca.pem); tls.insecure: true skips verification (not recommended)`,
    });
  } else if (code === "ETIMEDOUT" || e.name === "TimeoutError") {
    err = new RemoteError({
      ...base,
      code: "E_TIMEOUT",
      message: redact(`${where}: timed out (${rawText})`),
      hint: timeoutHint(req.url.replace(/\/api2\/json\/.*$/, "")),
    });
  } else {
    const why =
      code === "ECONNREFUSED" ? "connection refused"
      : code === "ENOTFOUND" || code === "EAI_AGAIN" ? "host name not found"
      : code === "ECONNRESET" || code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE" ? "connection reset by the server"
      : code === "EHOSTUNREACH" || code === "ENETUNREACH" ? "host unreachable"
      : "request failed";
    err = new RemoteError({
      ...base,
      code: "E_NETWORK",
      message: redact(`${where}: ${why} (${code}: ${rawText})`),
      hint: `check ${cfg}.url (the origin, e.g. https://pve.lan:8006) and that pveproxy is running and reachable from here`,
    });
  }
  // A sanitized cause: the original code and a redacted message, none of got's request/options objects.
  Object.defineProperty(err, "cause", { value: Object.assign(new Error(redact(rawText)), { code }), enumerable: false, configurable: true, writable: true });
  infos.set(err, { cluster: req.cluster, serverMessage: "", networkCode: code });
  return err;
}
