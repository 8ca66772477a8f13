import { isScalar, Schema } from "yaml";

/**
 * A fast reader for the plain subset of YAML a homelab.yaml is written in (issue 12, "Parsing"): block
 * mappings and sequences indented with spaces, one-line flow collections (`{ user: a, role: b }`), plain,
 * single- and double-quoted one-line scalars, and comments. It builds the JavaScript value directly, with no
 * document nodes, source tokens or positions: about 30 times faster than the `yaml` library's parseDocument
 * on a large file, and a fraction of its memory.
 *
 * It never decides that a file is wrong. Whatever it does not take for certain (anchors, aliases, tags,
 * block scalars, multi-line scalars or flow collections, tabs, a duplicate key, an unusual escape, a
 * second document, anything that could be an error) makes it give up (`undefined`), and the caller parses
 * with the `yaml` library, positions and all, which then reports any problem exactly as before. So for every
 * text it accepts, the value is the one `parseDocument(text, { version: "1.2", strict: true }).toJS()`
 * gives (test/property/fast-yaml.test.ts compares the two on generated and hand-written texts).
 *
 * Scalars are resolved with the `yaml` library's own YAML 1.2 core schema tags (null, bool, int, float), the
 * same tests in the same order as its composer (compose-scalar.js findScalarTagByTest), so `0x1F`, `1e3`,
 * `~` or `NULL` mean what they mean there.
 */
export function fastParse(text: string): Record<string, unknown> | undefined {
  // Characters the reader leaves to the yaml library: tabs, control characters (a CR only before LF), C1
  // controls, line and paragraph separators, a byte order mark, non-characters and surrogates (valid pairs
  // too: rare in a config, and the yaml library knows what to make of them).
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]|\r(?!\n)/.test(text)) return undefined;
  try {
    return new Reader(text).document();
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

/** Thrown inside the reader when the text goes beyond its subset; caught in fastParse. */
const GIVE_UP = Symbol("give up");
function giveUp(): never {
  throw GIVE_UP;
}

/** The deepest nesting the reader follows (blocks and flow collections together); deeper is left to the yaml library. */
const MAX_DEPTH = 64;

/** The core schema's scalar tags that are tried on a plain scalar, in the library's order. */
const TAGS = new Schema({ schema: "core" }).tags
  .filter((t) => t.default === true && !t.collection && t.test !== undefined)
  .map((t) => ({ test: t.test!, resolve: t.resolve as unknown as (s: string, onError: (m: string) => void, o: { intAsBigInt: boolean }) => unknown }));
const RESOLVE_OPTIONS = { intAsBigInt: false };

/** A plain scalar's value, as the yaml library's core schema resolves it. */
function plainValue(s: string): unknown {
  const c = s.charCodeAt(0);
  // Only null, booleans and numbers may be other than strings: they start with one of `~nNtTfF+-.0-9`, and
  // the words are at most 5 characters long.
  const digitLike = (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
  const wordLike = s.length <= 5 && (c === 126 || c === 110 || c === 78 || c === 116 || c === 84 || c === 102 || c === 70);
  if (!digitLike && !wordLike) return s;
  for (const tag of TAGS) {
    if (!tag.test.test(s)) continue;
    const r = tag.resolve(s, giveUp, RESOLVE_OPTIONS);
    return isScalar(r) ? r.value : r;
  }
  return s;
}

/** Characters that may not start a plain scalar (YAML 1.2 c-indicator), `-`, `?` and `:` included (a plain `-1` is handled apart). */
const INDICATORS = new Set(["-", "?", ":", ",", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">", "'", '"', "%", "@", "`"]);

class Reader {
  private readonly lines: string[];
  private pos = 0;

  constructor(text: string) {
    this.lines = text.split("\n");
    for (let i = 0; i < this.lines.length; i++) {
      const l = this.lines[i]!;
      if (l.endsWith("\r")) this.lines[i] = l.slice(0, -1);
    }
  }

  document(): Record<string, unknown> {
    const first = this.nextContent();
    if (first < 0 || indentOf(this.lines[first]!) !== 0) giveUp(); // empty, or an indented top level
    const value = this.block(0, 0);
    if (this.nextContent() >= 0 || value === null || typeof value !== "object" || Array.isArray(value)) giveUp();
    return value as Record<string, unknown>;
  }

  /** The index of the next line with content (not blank, not only a comment) from `pos`, or -1; moves `pos` there. */
  private nextContent(): number {
    while (this.pos < this.lines.length) {
      const l = this.lines[this.pos]!;
      const i = indentOf(l);
      if (i < l.length && l.charCodeAt(i) !== 35 /* # */) {
        // A document marker or a directive at the start of a line: another document, left to the library.
        if (i === 0 && (l.startsWith("---") || l.startsWith("...") || l.startsWith("%"))) giveUp();
        return this.pos;
      }
      this.pos++;
    }
    return -1;
  }

  /** The indentation of the next content line, or -1 at the end. */
  private nextIndent(): number {
    const n = this.nextContent();
    return n < 0 ? -1 : indentOf(this.lines[n]!);
  }

  /** A block node whose first content line is the current one, at indentation `indent`. */
  private block(indent: number, depth: number): unknown {
    if (depth > MAX_DEPTH) giveUp();
    const line = this.lines[this.pos]!;
    if (isSeqEntry(line, indent)) return this.sequence(indent, depth);
    return this.mapping(indent, indent, depth);
  }

  /** Block sequence entries at `indent`. */
  private sequence(indent: number, depth: number): unknown[] {
    const out: unknown[] = [];
    for (;;) {
      const line = this.lines[this.pos]!;
      let c = indent + 1;
      while (line.charCodeAt(c) === 32) c++;
      if (c >= line.length || line.charCodeAt(c) === 35) {
        // `-` alone (or with a comment): the item is the block below it, or null.
        this.pos++;
        out.push(this.nestedOrNull(indent, depth, false));
      } else if (isSeqEntry(line, c)) {
        giveUp(); // `- - a`: a compact nested sequence
      } else if (startsMappingEntry(line, c)) {
        out.push(this.mapping(c, c, depth + 1));
      } else {
        out.push(this.inline(line, c, depth));
        this.pos++;
      }
      const next = this.nextIndent();
      if (next < indent) return out;
      if (next > indent || !isSeqEntry(this.lines[this.pos]!, indent)) {
        if (next > indent) giveUp();
        return out;
      }
    }
  }

  /**
   * Block mapping entries at `indent`; the first one starts at column `firstCol` of the current line (the
   * column after `- ` for a mapping inside a sequence entry, else `indent`).
   */
  private mapping(indent: number, firstCol: number, depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) giveUp();
    const out: Record<string, unknown> = {};
    let col = firstCol;
    for (;;) {
      const line = this.lines[this.pos]!;
      const { key, valueAt } = blockKey(line, col);
      let value: unknown;
      if (valueAt >= line.length || line.charCodeAt(valueAt) === 35) {
        this.pos++;
        value = this.nestedOrNull(indent, depth, true);
      } else {
        value = this.inline(line, valueAt, depth);
        this.pos++;
      }
      setKey(out, key, value);
      const next = this.nextIndent();
      if (next < indent) return out;
      if (next > indent || isSeqEntry(this.lines[this.pos]!, indent)) giveUp();
      col = indent;
    }
  }

  /**
   * The value of a key or `-` with nothing after it on its line: a block indented deeper, a sequence at the
   * key's own indentation (`key:` then `- a` below it, allowed for mapping values only), or null.
   */
  private nestedOrNull(indent: number, depth: number, mappingValue: boolean): unknown {
    const next = this.nextIndent();
    if (next > indent) return this.block(next, depth + 1);
    if (mappingValue && next === indent && isSeqEntry(this.lines[this.pos]!, indent)) return this.sequence(indent, depth + 1);
    return null;
  }

  /** A value that starts at `at` and ends on this line: a flow collection, a quoted or a plain scalar. */
  private inline(line: string, at: number, depth: number): unknown {
    const c = line[at]!;
    let value: unknown;
    let end: number;
    if (c === "[" || c === "{") {
      [value, end] = flow(line, at, depth + 1);
    } else if (c === '"' || c === "'") {
      [value, end] = quoted(line, at);
    } else {
      if (INDICATORS.has(c) && !(c === "-" && plainSafe(line.charCodeAt(at + 1)))) giveUp();
      let stop = line.length;
      const hash = line.indexOf(" #", at);
      if (hash >= 0) stop = hash;
      const text = line.slice(at, stop).trimEnd();
      // `a: b: c` (a mapping on the line of a key) is an error for the library; `a:` at the end too.
      if (text.includes(": ") || text.endsWith(":")) giveUp();
      return plainValue(text);
    }
    afterValue(line, end);
    return value;
  }
}

/** Only spaces (then a comment or nothing) may follow a value that ended at `end`. */
function afterValue(line: string, end: number): void {
  let i = end;
  while (line.charCodeAt(i) === 32) i++;
  if (i === line.length) return;
  // A comment must be separated from the value by a space.
  if (line.charCodeAt(i) === 35 && i > end) return;
  giveUp();
}

function indentOf(line: string): number {
  let i = 0;
  while (line.charCodeAt(i) === 32) i++;
  return i;
}

/** A character that may follow `-` in a plain scalar (not a space, the end, or a flow indicator). */
function plainSafe(code: number): boolean {
  return !Number.isNaN(code) && code !== 32 && code !== 44 && code !== 91 && code !== 93 && code !== 123 && code !== 125;
}

/** Whether `line` has a block sequence entry (`-` then a space or the end) at column `at`. */
function isSeqEntry(line: string, at: number): boolean {
  return line.charCodeAt(at) === 45 && (at + 1 === line.length || line.charCodeAt(at + 1) === 32);
}

/** Whether a mapping entry (`key: ...`) starts at column `at` (quoted keys included). */
function startsMappingEntry(line: string, at: number): boolean {
  const c = line[at]!;
  if (c === "[" || c === "{") return false; // a flow collection (as a key, it is left to the library by afterValue)
  if (c === '"' || c === "'") {
    const [, end] = quoted(line, at);
    return line[end] === ":";
  }
  const colon = keyColon(line, at);
  return colon >= 0;
}

/** The offset of the `:` ending a plain implicit key that starts at `at` (`: ` or `:` at the end), or -1. */
function keyColon(line: string, at: number): number {
  for (let i = line.indexOf(":", at); i >= 0; i = line.indexOf(":", i + 1)) {
    if (i + 1 === line.length || line.charCodeAt(i + 1) === 32) {
      const hash = line.indexOf(" #", at);
      return hash >= 0 && hash < i ? -1 : i;
    }
  }
  return -1;
}

/** The key of a block mapping entry starting at `col`, and where its value starts. */
function blockKey(line: string, col: number): { key: string; valueAt: number } {
  const c = line[col]!;
  let key: unknown;
  let colon: number;
  if (c === '"' || c === "'") {
    const [k, end] = quoted(line, col);
    if (line[end] !== ":") giveUp();
    key = k;
    colon = end;
  } else {
    if (INDICATORS.has(c) && !(c === "-" && plainSafe(line.charCodeAt(col + 1)))) giveUp();
    colon = keyColon(line, col);
    if (colon < 0) giveUp();
    key = plainValue(line.slice(col, colon).trimEnd());
  }
  // Implicit keys are limited to 1024 characters; keys that resolve to other than a string are left to the library.
  if (typeof key !== "string" || colon - col > 1000) giveUp();
  let v = colon + 1;
  if (v < line.length && line.charCodeAt(v) !== 32) giveUp();
  while (line.charCodeAt(v) === 32) v++;
  return { key, valueAt: v };
}

/**
 * Add `key` as the library's toJS does (addPairToJSMap): an ordinary property, or, for a name that
 * Object.prototype has (`toString`, `__proto__`), an own property defined over it. A repeated key is left to
 * the library's path, which reports it with both places.
 */
function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key in out) {
    if (Object.hasOwn(out, key) || key === "<<") giveUp();
    Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    if (key === "<<") giveUp();
    out[key] = value;
  }
}

/** A quoted scalar starting at `at` (on this line): its value and the offset after the closing quote. */
function quoted(line: string, at: number): [string, number] {
  const q = line[at];
  if (q === "'") {
    let out = "";
    let from = at + 1;
    for (;;) {
      const i = line.indexOf("'", from);
      if (i < 0) giveUp(); // a multi-line scalar
      out += line.slice(from, i);
      if (line[i + 1] === "'") {
        out += "'";
        from = i + 2;
      } else {
        return [out, i + 1];
      }
    }
  }
  let out = "";
  let from = at + 1;
  for (let i = from; i < line.length; i++) {
    const ch = line.charCodeAt(i);
    if (ch === 34) return [out + line.slice(from, i), i + 1];
    if (ch !== 92) continue;
    out += line.slice(from, i);
    const e = line[i + 1];
    const simple = e === "\\" ? "\\" : e === '"' ? '"' : e === "/" ? "/" : e === "n" ? "\n" : e === "t" ? "\t" : e === "r" ? "\r" : e === "0" ? "\0" : undefined;
    if (simple !== undefined) {
      out += simple;
      i += 1;
    } else if (e === "x" || e === "u") {
      const n = e === "x" ? 2 : 4;
      const hex = line.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) giveUp();
      const code = parseInt(hex, 16);
      if (code >= 0xd800 && code <= 0xdfff) giveUp();
      out += String.fromCharCode(code);
      i += 1 + n;
    } else {
      giveUp();
    }
    from = i + 1;
  }
  return giveUp(); // no closing quote on this line
}

/** A flow collection starting at `at` and closing on the same line: its value and the offset after it. */
function flow(line: string, at: number, depth: number): [unknown, number] {
  if (depth > MAX_DEPTH) giveUp();
  const seq = line[at] === "[";
  const close = seq ? "]" : "}";
  const out: unknown = seq ? [] : {};
  let i = skipSpaces(line, at + 1);
  if (line[i] === close) return [out, i + 1];
  for (;;) {
    if (seq) {
      const [v, end] = flowNode(line, i, depth);
      (out as unknown[]).push(v);
      i = skipSpaces(line, end);
    } else {
      const [k, kEnd] = flowNode(line, i, depth, true);
      if (typeof k !== "string") giveUp();
      i = skipSpaces(line, kEnd);
      if (line[i] !== ":" || line.charCodeAt(i + 1) !== 32) giveUp();
      i = skipSpaces(line, i + 1);
      const [v, end] = flowNode(line, i, depth);
      setKey(out as Record<string, unknown>, k, v);
      i = skipSpaces(line, end);
    }
    if (line[i] === close) return [out, i + 1];
    if (line[i] !== ",") giveUp();
    i = skipSpaces(line, i + 1);
    if (line[i] === close || line[i] === ",") giveUp(); // a trailing or empty entry
  }
}

/** A node inside a flow collection at `at`: a nested collection, a quoted or a plain scalar. */
function flowNode(line: string, at: number, depth: number, key = false): [unknown, number] {
  const c = line[at];
  if (c === undefined) giveUp();
  if (c === "[" || c === "{") {
    if (key) giveUp();
    return flow(line, at, depth + 1);
  }
  if (c === '"' || c === "'") return quoted(line, at);
  if (INDICATORS.has(c) && !(c === "-" && plainSafe(line.charCodeAt(at + 1)))) giveUp();
  let i = at;
  for (; i < line.length; i++) {
    const ch = line.charCodeAt(i);
    if (ch === 44 || ch === 91 || ch === 93 || ch === 123 || ch === 125) break;
    if (ch === 58 /* : */) {
      const n = line.charCodeAt(i + 1);
      if (Number.isNaN(n) || n === 32 || n === 44 || n === 91 || n === 93 || n === 123 || n === 125) break;
    }
    if (ch === 35 /* # */ && line.charCodeAt(i - 1) === 32) giveUp(); // a comment inside a flow collection
  }
  const text = line.slice(at, i).trimEnd();
  return [plainValue(text), i];
}

function skipSpaces(line: string, i: number): number {
  while (line.charCodeAt(i) === 32) i++;
  return i;
}
