/**
 * Text from the user's files (keys, ids, values, YAML messages quoting them) is echoed in error messages.
 * Raw control characters there could move the terminal's cursor, recolour or hide the rest of the line
 * (ESC sequences), or reorder it (bidirectional overrides): they are shown escaped instead, the way the plan
 * diff shows values (JSON escapes), issue 10 "Should fix". Printable text, including non-ASCII letters, is
 * left as it is.
 */

// C0 controls (tab included: it would misalign a located message), DEL, C1 controls, the bidirectional
// embeddings, overrides and isolates, line and paragraph separators, and lone UTF-16 surrogates.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `s` with every control, bidi-control or unpaired-surrogate character written as `\n`, `\r`, `\t` or `\uXXXX`. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
