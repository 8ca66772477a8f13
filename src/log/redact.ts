/**
 * One place that knows every secret value this process has seen, so that any text leaving the process
 * (log line, error message, diff, JSON event) can be scrubbed. Secret values are registered when they are
 * revealed (src/config/secret.ts) or received from an API (a new client secret, a token).
 */

const known = new Set<string>();
let pattern: RegExp | undefined;

/** The placeholder printed instead of a secret, everywhere. */
export const SENSITIVE = "(sensitive)";

/** Remember a secret value so that `redact` removes it. Values shorter than 4 characters are not registered (they would mangle ordinary text). */
export function registerSecret(value: string): void {
  if (value.length < 4 || known.has(value)) return;
  known.add(value);
  pattern = undefined;
}

/** Replace every registered secret, and credentials in well-known shapes, by `(sensitive)`. */
export function redact(text: string): string {
  let out = text;
  if (known.size > 0) {
    pattern ??= new RegExp([...known].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"), "g");
    out = out.replace(pattern, SENSITIVE);
  }
  return out
    .replace(/(PVEAPIToken[= ][^\s=!]+![^\s=]+[=\s])[^\s"',;]+/g, `$1${SENSITIVE}`)
    .replace(/(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}/g, `$1${SENSITIVE}`)
    .replace(/(\b(?:client_secret|client_assertion|secretText|access_token|refresh_token|client-key|password)["']?\s*[=:]\s*["']?)[^\s"'&,}]+/gi, `$1${SENSITIVE}`)
    .replace(/(\/\/)[^/\s:@]+:[^/\s@]+@/g, `$1${SENSITIVE}@`);
}

/** For tests: forget registered values. */
export function resetRedaction(): void {
  known.clear();
  pattern = undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
