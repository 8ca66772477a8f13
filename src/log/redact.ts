import { printable } from "../core/printable.js";

/**
 * One place that knows every secret value this process has seen, so that any text leaving the process
 * (log line, error message, diff, JSON event) can be scrubbed. Secret values are registered when they are
 * revealed (src/core/secret.ts) or received from an API (a new client secret, a token).
 *
 * Secrets are searched literally, one at a time, never through one pattern built from all of them: a
 * regular expression joined from the values fails to compile once they are large ("Regular expression too
 * large" for a 40 KB secret, issue 10 item 1), and its error message quoted every secret. Literal search
 * has no size limit and cannot throw: each secret costs one `indexOf` per text (native, fast) and, only
 * when it occurs, a scan for all its occurrences. Occurrences of all secrets are collected as spans of the
 * ORIGINAL text and merged, so overlapping secrets (or one secret overlapping itself, `abab` in `ababab`)
 * leave no fragment behind, whatever the order of registration.
 */

/** A registered value, with the data needed to find overlapping occurrences of it (only when it has a period shorter than itself). */
interface Entry {
  value: string;
  /** KMP failure function; present only for a value that can overlap itself (`abcab`, `aaaa`). */
  fail?: Int32Array;
}

const known = new Map<string, Entry>();
/** `known` longest first (a longer secret that contains a shorter one is then one span, not two). Rebuilt lazily. */
let ordered: Entry[] | undefined;

/** The placeholder printed instead of a secret, everywhere. */
export const SENSITIVE = "(sensitive)";

/**
 * Values shorter than this are not registered: replacing every `a` or `ok` would mangle ordinary text
 * (and hide nothing worth hiding). src/core/secret.ts refuses shorter secrets in the config for this reason.
 */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Remember a secret value so that `redact` removes it, together with the forms it takes when quoted in
 * JSON or encoded into a URL or a form body (a secret with `"`, `\`, `+`, `&` or non-ASCII characters
 * looks different there).
 */
export function registerSecret(value: string): void {
  if (typeof value !== "string" || value.length < MIN_REDACTED_LENGTH) return;
  for (const form of forms(value)) {
    if (form.length < MIN_REDACTED_LENGTH || known.has(form)) continue;
    known.set(form, entry(form));
    ordered = undefined;
  }
}

/** Replace every registered secret, and credentials in well-known shapes, by `(sensitive)`. Never throws on a string. */
export function redact(text: string): string {
  return redactShapes(known.size > 0 ? redactKnown(String(text)) : String(text));
}

/** For tests: forget registered values. */
export function resetRedaction(): void {
  known.clear();
  ordered = undefined;
}

/** For tests and the last-resort handler: how many values (forms included) are registered. */
export function registeredCount(): number {
  return known.size;
}

/** The registered values only (no shapes). */
function redactKnown(text: string): string {
  ordered ??= [...known.values()].sort((a, b) => b.value.length - a.value.length);
  const starts: number[] = [];
  const ends: number[] = [];
  for (const e of ordered) {
    if (e.value.length > text.length) continue;
    const first = text.indexOf(e.value);
    if (first < 0) continue;
    if (e.fail === undefined) occurrencesDisjoint(text, e.value, first, starts, ends);
    else occurrencesOverlapping(text, e.value, e.fail, first, starts, ends);
  }
  if (starts.length === 0) return text;
  // Merge overlapping spans (touching ones stay apart: two secrets side by side print as two placeholders).
  const order = starts.map((_, i) => i).sort((a, b) => starts[a]! - starts[b]! || ends[b]! - ends[a]!);
  let out = "";
  let pos = 0;
  let curStart = -1;
  let curEnd = -1;
  for (const i of order) {
    const s = starts[i]!;
    const t = ends[i]!;
    if (curStart >= 0 && s < curEnd) {
      if (t > curEnd) curEnd = t;
      continue;
    }
    if (curStart >= 0) {
      out += text.slice(pos, curStart) + SENSITIVE;
      pos = curEnd;
    }
    curStart = s;
    curEnd = t;
  }
  out += text.slice(pos, curStart) + SENSITIVE + text.slice(curEnd);
  return out;
}

/** A value that cannot overlap itself: its occurrences are disjoint, and `indexOf` past each one finds them all. */
function occurrencesDisjoint(text: string, value: string, first: number, starts: number[], ends: number[]): void {
  for (let i = first; i >= 0; i = text.indexOf(value, i + value.length)) {
    starts.push(i);
    ends.push(i + value.length);
  }
}

/** A value with a proper period (`abab`): Knuth-Morris-Pratt finds every occurrence, overlapping ones included, in linear time. */
function occurrencesOverlapping(text: string, value: string, fail: Int32Array, first: number, starts: number[], ends: number[]): void {
  const m = value.length;
  let q = 0;
  for (let k = first; k < text.length; k++) {
    const c = text.charCodeAt(k);
    while (q > 0 && value.charCodeAt(q) !== c) q = fail[q - 1]!;
    if (value.charCodeAt(q) === c) q++;
    if (q === m) {
      const end = k + 1;
      // Occurrences come in order: one that overlaps the previous extends its span (`aaaa…` is one span, not one per character).
      if (ends.length > 0 && ends[ends.length - 1]! > end - m && starts[starts.length - 1]! <= end - m) ends[ends.length - 1] = end;
      else {
        starts.push(end - m);
        ends.push(end);
      }
      q = fail[m - 1]!;
    }
  }
}

function entry(value: string): Entry {
  const fail = failure(value);
  // The value overlaps itself exactly when its longest proper border is not empty.
  return fail[value.length - 1]! > 0 ? { value, fail } : { value };
}

/** KMP failure function: fail[i] = length of the longest proper prefix of value[0..i] that is also its suffix. */
function failure(value: string): Int32Array {
  const fail = new Int32Array(value.length);
  let k = 0;
  for (let i = 1; i < value.length; i++) {
    const c = value.charCodeAt(i);
    while (k > 0 && value.charCodeAt(k) !== c) k = fail[k - 1]!;
    if (value.charCodeAt(k) === c) k++;
    fail[i] = k;
  }
  return fail;
}

/**
 * The value as written, as quoted inside a JSON string, as escaped in a config problem (printable), as
 * percent- and form-encoded; and, for a value of several lines (a PEM private key), each line of at least
 * 16 characters: output is redacted line by line, so a line of the value must be found on its own.
 */
function forms(value: string): Set<string> {
  const out = new Set<string>([value]);
  out.add(JSON.stringify(value).slice(1, -1));
  out.add(printable(value));
  for (const line of value.split(/\r?\n|\r/)) if (line.length >= 16 && line !== value) out.add(line);
  try {
    out.add(encodeURIComponent(value));
    out.add(new URLSearchParams({ v: value }).toString().slice(2));
  } catch {
    // a lone surrogate cannot be percent-encoded, so it is never sent that way either
  }
  return out;
}

/**
 * What every shape below needs somewhere in the text (its literal word, or the `//` of a URL with credentials),
 * case-insensitively: a superset of what they match. Most lines (one per change: `created proxmox.user/pve:u1@pve`)
 * hold none of these, and one test of this pattern costs a tenth of the four replacements it spares (issue 12).
 */
const SHAPE_HINT = /PVEAPIToken|Bearer|Basic|client_secret|client_assertion|secretText|access_token|refresh_token|client-key|password|\/\//i;

/** Credentials recognised by their shape, registered or not. */
function redactShapes(text: string): string {
  if (!SHAPE_HINT.test(text)) return text;
  return text
    .replace(/(PVEAPIToken[= ][^\s=!]+![^\s=]+[=\s])[^\s"',;]+/g, `$1${SENSITIVE}`)
    .replace(/(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}/g, `$1${SENSITIVE}`)
    .replace(/(\b(?:client_secret|client_assertion|secretText|access_token|refresh_token|client-key|password)["']?\s*[=:]\s*["']?)[^\s"'&,}]+/gi, `$1${SENSITIVE}`)
    .replace(/(\/\/)[^/\s:@]+:[^/\s@]+@/g, `$1${SENSITIVE}@`);
}
