import { readdirSync, statSync } from "node:fs";
import { dirname, join, resolve as resolvePath } from "node:path";
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from "yaml";
import { ConfigError, UserError, type ConfigProblem, type Location } from "../core/errors.js";
import { printable } from "../core/printable.js";
import { fastParse } from "./fast-yaml.js";
import { FileReadError, formatBytes, readBounded } from "../core/read-file.js";

/** One path segment into the config: a map key or an array index. */
export type Segment = string | number;

/**
 * Alias expansion budget. The `yaml` library multiplies the number of alias uses by the size of what
 * they point at; an alias bomb ("billion laughs") grows exponentially and hits this at once, while a
 * legitimate file that reuses a few anchors stays far below it.
 */
const MAX_ALIAS_COUNT = 10_000;

/**
 * The largest config file read: 16 MiB (each file of a directory). A large homelab's config is a few
 * hundred KiB; the limit only keeps `-f /dev/zero`-like inputs from filling memory (issue 10 item 3).
 * Only regular files are read (src/core/read-file.ts): a FIFO, a device or a socket, given with -f or as
 * an entry of a config directory, is refused.
 */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

export interface SourceFile {
  /** The path as shown to the user (as given on the command line, joined with the file name for directories). */
  display: string;
  /** Absolute path. */
  abs: string;
  /**
   * The document with source positions. A file read by the fast reader (fast-yaml.ts) is parsed again with
   * positions only when a place in it must be named (a problem, a warning), on the first call.
   */
  positions(): { doc: Document.Parsed; lines: LineCounter };
}

export type { Location } from "../core/errors.js";

/** The merged, still unvalidated content of one file or a directory of files, with a way back to the source. */
export interface LoadedConfig {
  data: Record<string, unknown>;
  sources: SourceFile[];
  /** Where `path` was written. `key` points at the map key instead of the value (for unknown or misnamed keys). */
  locate(path: readonly Segment[], key?: boolean): Location | undefined;
  /** The directory of the file that defined `path` (relative `${file:...}` secrets resolve against it). */
  baseDir(path: readonly Segment[]): string;
}

/**
 * Read `target` (a file, or a directory whose `*.yaml` / `*.yml` files are merged in name order).
 * Throws ConfigError with every syntax-level problem (YAML errors, duplicate keys, alias bombs, empty
 * files, non-mapping documents, keys defined in two files) at once; schema checks come after.
 */
export function loadConfig(target: string): LoadedConfig {
  return parseConfigFiles(readConfigFiles(target)).loaded;
}

/** One config file's bytes, as read (a file that could not be read is reported by parseConfigFiles). */
export interface ConfigFileBytes {
  display: string;
  bytes: Buffer | undefined;
  /** Why it could not be read. */
  problem?: ConfigProblem;
}

/** Read the files of `target` (one file, or a directory's `*.yaml` files in name order), not parsing them yet. */
export function readConfigFiles(target: string): ConfigFileBytes[] {
  return listFiles(target).map((display) => {
    try {
      return { display, bytes: readBounded(display, { limit: MAX_CONFIG_FILE_BYTES, what: "config file" }) };
    } catch (err) {
      if (!(err instanceof FileReadError)) throw err;
      return {
        display,
        bytes: undefined,
        problem: {
          file: display,
          path: "",
          message: err.why,
          ...(err.reason === "special" || err.reason === "too-large" || err.reason === "directory"
            ? { hint: `a config is a regular YAML file of at most ${formatBytes(MAX_CONFIG_FILE_BYTES)} (or a directory of them); pass it with -f PATH` }
            : {}),
        },
      };
    }
  });
}

/**
 * Parse and merge files read by readConfigFiles. Throws ConfigError with every syntax-level problem at once.
 * `perFile` is each file's own value before merging (what the config cache keeps, src/config/cache.ts).
 */
export function parseConfigFiles(files: readonly ConfigFileBytes[]): { loaded: LoadedConfig; perFile: Record<string, unknown>[] } {
  const problems: ConfigProblem[] = [];
  const parsed: { src: SourceFile; data: Record<string, unknown> }[] = [];
  for (const f of files) {
    if (f.problem || !f.bytes) {
      if (f.problem) problems.push(f.problem);
      continue;
    }
    const decoded = decode(f.bytes);
    if ("problem" in decoded) {
      problems.push({ file: f.display, ...decoded.problem, path: "" });
      continue;
    }
    const r = parseText(f.display, decoded.text, problems);
    if (r) parsed.push(r);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { loaded: merge(parsed), perFile: parsed.map((p) => p.data) };
}

/**
 * A LoadedConfig from values known to be what these files parse to (a config cache hit): no parsing now;
 * positions, if a place must be named, come from parsing the same bytes on first need.
 */
export function loadedFromValues(files: readonly { display: string; bytes: Buffer }[], perFile: Record<string, unknown>[]): LoadedConfig {
  return merge(files.map((f, i) => ({ src: lazySource(f.display, () => textOf(f.bytes)), data: perFile[i]! })));
}

function textOf(bytes: Buffer): string {
  const d = decode(bytes);
  if ("problem" in d) throw new Error("internal error: a cached config file no longer decodes");
  return d.text.replace(/\r(?!\n)/g, "\n");
}

/** A source whose positions are parsed from `text()` on first need (memoized). */
function lazySource(display: string, text: () => string): SourceFile {
  let pos: { doc: Document.Parsed; lines: LineCounter } | undefined;
  return {
    display,
    abs: resolvePath(display),
    positions() {
      if (!pos) {
        const lines = new LineCounter();
        pos = { doc: parseDocument(text(), { lineCounter: lines, ...PARSE_OPTIONS }), lines };
      }
      return pos;
    },
  };
}

/** The yaml library's options (uniqueKeys is off because duplicates are reported by findDuplicateKeys with both places named). */
const PARSE_OPTIONS = { uniqueKeys: false, prettyErrors: false, version: "1.2", strict: true } as const;

function listFiles(target: string): string[] {
  let st;
  try {
    st = statSync(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${printable(target)}: ${code === "ENOENT" ? "no such file or directory" : `cannot be read (${code})`}`, {
      code: "E_NO_CONFIG",
      hint: "pass the config with -f PATH (a homelab.yaml or a directory of *.yaml files); the default is ./homelab.yaml",
    });
  }
  if (!st.isDirectory()) return [target];
  const names = readdirSync(target)
    .filter((n) => /\.ya?ml$/.test(n) && !n.startsWith("."))
    .sort();
  if (names.length === 0) {
    throw new UserError(`${printable(target)}: directory contains no *.yaml files`, { code: "E_NO_CONFIG", hint: "put homelab.yaml (or several *.yaml files that are merged) in it" });
  }
  return names.map((n) => join(target, n));
}

/** Like loadConfig for one in-memory document (tests, editors, stdin). `display` names it in messages. */
export function loadConfigText(text: string, display: string): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const r = parseText(display, text, problems);
  if (!r || problems.length > 0) throw new ConfigError(problems);
  return merge([r]);
}

function parseText(display: string, raw: string, problems: ConfigProblem[]): { src: SourceFile; data: Record<string, unknown> } | undefined {
  // YAML 1.2 counts a lone CR as a line break (spec 5.4, b-break), the yaml library does not: a file saved
  // with old Mac line endings would be one long line, all comment after a first `#` ("the file is empty").
  // One character for one character, so every offset (and line and column) stays the same.
  const text = raw.replace(/\r(?!\n)/g, "\n");
  // The fast path (issue 12): the plain YAML a config is written in is read without document nodes or
  // positions; whatever it does not take for certain is parsed below, where every problem is located.
  const fast = fastParse(text);
  if (fast !== undefined) return { src: lazySource(display, () => text), data: fast };
  const lines = new LineCounter();
  const deep = tooDeep(text);
  if (deep !== undefined) {
    // The yaml parser's cost grows steeply with flow nesting (20,000 levels take seconds; a million abort
    // the process in the regular-expression compiler): refuse before parsing.
    const p = { line: text.slice(0, deep).split("\n").length, col: deep - text.lastIndexOf("\n", deep - 1) };
    problems.push({ file: display, ...p, path: "", message: `flow collections (\`[...]\`, \`{...}\`) nested more than ${MAX_FLOW_DEPTH} levels deep`, hint: "write nested values as indented blocks; a homelab config needs a few levels at most" });
    return undefined;
  }
  const doc = parseDocument(text, { lineCounter: lines, ...PARSE_OPTIONS });
  const src: SourceFile = { display, abs: resolvePath(display), positions: () => ({ doc, lines }) };
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return { file: display, line: p.line, col: p.col };
  };
  const before = problems.length;
  for (const e of [...doc.errors, ...doc.warnings]) {
    if (e.code === "MULTIPLE_DOCS") {
      problems.push({
        ...at(e.pos[0]),
        path: "",
        message: "a second YAML document starts here: homelab reads one YAML document per file",
        hint: "remove this `---` line (and a `...` before it); to split the config, put each part in its own *.yaml file of a directory and pass the directory with -f",
      });
      continue;
    }
    problems.push({ ...at(e.pos[0]), path: "", message: yamlMessage(e.message, e.code) });
  }
  if (problems.length > before) return undefined;

  // An alias whose anchor is not defined before it: yaml's toJS would throw the same ReferenceError as
  // for an alias bomb, so these are found first, each at its own place.
  visit(doc, {
    Alias: (_k, n) => {
      if (n.resolve(doc) !== undefined) return;
      const name = printable(n.source);
      problems.push({
        ...at(n.range?.[0] ?? 0),
        path: "",
        message: `the alias \`*${name}\` refers to no anchor: no \`&${name}\` is defined before it`,
        hint: `an alias repeats a value marked earlier with &${name}; to write a text that starts with \`*\`, quote it: "*${name}"`,
      });
    },
  });
  if (problems.length > before) return undefined;

  findDuplicateKeys(doc, at, problems);
  if (problems.length > before) return undefined;

  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    problems.push({ file: display, line: 1, col: 1, path: "", message: "the file is empty", hint: "a homelab.yaml starts with `version: 1` followed by `clusters:`, `realms:` and `access:`; see playbooks/homelab.yaml" });
    return undefined;
  }
  if (!isMap(doc.contents)) {
    const kind = isSeq(doc.contents) ? "a list" : "a single value";
    problems.push({ ...at(doc.contents.range?.[0] ?? 0), path: "", message: `the top level is ${kind}, not a mapping`, hint: "the file must be a mapping of sections such as `version: 1`, `clusters:`, `realms:`, `access:`" });
    return undefined;
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml throws a ReferenceError for an excessive alias count (a resource exhaustion attack).
    let firstAlias = 0;
    visit(doc, { Alias: (_k, n) => { firstAlias = n.range?.[0] ?? 0; return visit.BREAK; } });
    problems.push({ ...at(firstAlias), path: "", message: `aliases expand to too much data (${(err as Error).message.split("\n")[0]})`, hint: "an alias bomb? use anchors and aliases sparingly, or write the values out" });
    return undefined;
  }
  return { src, data: data as Record<string, unknown> };
}

/** The deepest flow nesting (`[` and `{`) accepted before parsing. */
const MAX_FLOW_DEPTH = 100;

/**
 * The offset of the first `[` or `{` nested deeper than MAX_FLOW_DEPTH, or undefined. A light scan, not
 * a parser: quoted scalars (starting where a token may start) and comments are skipped, so brackets in
 * them do not count; a plain scalar's brackets (`a[b`) may count, which only matters past 100 levels.
 */
function tooDeep(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const prev = i === 0 ? "\n" : text[i - 1]!;
    const tokenStart = prev === " " || prev === "\t" || prev === "\n" || prev === "[" || prev === "{" || prev === "," || prev === ":" || prev === "-";
    if (c === "#" && (prev === " " || prev === "\t" || prev === "\n")) {
      const end = text.indexOf("\n", i);
      if (end < 0) return undefined;
      i = end;
    } else if ((c === "'" || c === '"') && tokenStart) {
      i = quotedEnd(text, i);
    } else if (c === "[" || c === "{") {
      if (++depth > MAX_FLOW_DEPTH) return i;
    } else if ((c === "]" || c === "}") && depth > 0) {
      depth--;
    }
  }
  return undefined;
}

/** The offset of the quote that closes the scalar opened at `start` (the end of the text when none does). */
function quotedEnd(text: string, start: number): number {
  const q = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (q === '"' && text[i] === "\\") i++;
    else if (text[i] === q) {
      if (q === "'" && text[i + 1] === "'") i++;
      else return i;
    }
  }
  return text.length;
}

/**
 * The file's text. YAML 1.2 (5.2) allows UTF-8, UTF-16 and UTF-32, told apart by a byte order mark or by
 * where the NUL bytes of the first character are: UTF-16 is read, UTF-32 (which Node cannot decode) and
 * bytes that are not valid UTF-8 are refused with the place of the first bad byte, instead of being read
 * as replacement characters.
 */
function decode(b: Buffer): { text: string } | { problem: { line?: number; col?: number; message: string; hint: string } } {
  const saveAsUtf8 = "save the file as UTF-8 (any editor can; `iconv -t UTF-8` does too)";
  if ((b[0] === 0 && b[1] === 0) || (b.length >= 4 && b[2] === 0 && b[3] === 0 && (b[1] === 0 || (b[0] === 0xff && b[1] === 0xfe)))) {
    return { problem: { message: "is UTF-32, which homelab does not read", hint: saveAsUtf8 } };
  }
  if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0 && b.length > 1)) return { text: new TextDecoder("utf-16be").decode(b) };
  if ((b[0] === 0xff && b[1] === 0xfe) || (b.length > 1 && b[1] === 0)) return { text: new TextDecoder("utf-16le").decode(b) };
  const bad = firstInvalidUtf8(b);
  if (bad === undefined) return { text: b.toString("utf8") };
  const before = b.subarray(0, bad);
  const lineStart = before.lastIndexOf(0x0a) + 1;
  return {
    problem: {
      line: before.filter((x) => x === 0x0a).length + 1,
      col: before.subarray(lineStart).toString("utf8").length + 1,
      message: `is not UTF-8: byte 0x${b[bad]!.toString(16).padStart(2, "0")} here does not belong to a UTF-8 character`,
      hint: `${saveAsUtf8}; Latin-1 or Windows-1252 text looks like this`,
    },
  };
}

/** The offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629), or undefined. */
function firstInvalidUtf8(b: Buffer): number | undefined {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    const c1 = b[i + 1];
    if (c1 === undefined) return i;
    // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k <= n; k++) {
      const ck = b[i + k];
      if (ck === undefined || ck < 0x80 || ck > 0xbf) return i;
    }
    i += n + 1;
  }
  return undefined;
}

/** yaml's messages may quote a source line (which could hold a secret): keep only the first sentence. */
function yamlMessage(message: string, code: string): string {
  const first = printable(message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "").trim());
  return `YAML ${code === "BAD_INDENT" || code === "MISSING_CHAR" || code === "UNEXPECTED_TOKEN" || code === "BLOCK_AS_IMPLICIT_KEY" ? "syntax error" : "error"}: ${first}`;
}

function findDuplicateKeys(doc: Document.Parsed, at: (o: number) => Omit<Location, never>, problems: ConfigProblem[]): void {
  visit(doc, {
    Map(_k, map) {
      const seen = new Map<string, Node>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        // An alias as a key (`*k: 2`) stands for its anchor's value: `&k a: 1` and `*k: 2` repeat the key `a`.
        const named = isAlias(key) ? (key.resolve(doc) ?? key) : key;
        const name = isScalar(named) ? String(named.value) : named === null ? "" : String(named);
        const first = seen.get(name);
        if (first) {
          const f = at(first.range?.[0] ?? 0);
          problems.push({ ...at(key?.range?.[0] ?? 0), path: "", message: `duplicate key \`${printable(name)}\` (first defined at line ${f.line}, column ${f.col})`, hint: "a key may appear only once in a mapping: merge the two entries or rename one" });
        } else if (key) {
          seen.set(name, key);
        }
      }
    },
  });
}

interface Origin {
  file: number;
  /** For `access`: the index inside that file's list. */
  index?: number;
}

/** Merge the files' top-level sections: mappings merge by key (a key in two files is an error), lists concatenate. */
function merge(parsed: { src: SourceFile; data: Record<string, unknown> }[]): LoadedConfig {
  // Keyed by names from the files: without a prototype, `toString` or `constructor` is not found in it
  // before it is defined, and `__proto__` is an ordinary key (assigning it to a plain object would replace
  // the prototype instead), issue 10 item 6. Sections that are mappings are copied the same way.
  const data: Record<string, unknown> = Object.create(null);
  const origins = new Map<string, Origin>(); // "section" or "section\0key" → origin
  const listOrigins = new Map<string, Origin[]>(); // list sections: index → origin
  const problems: ConfigProblem[] = [];
  const sources = parsed.map((p) => p.src);

  const where = (o: Origin, path: Segment[]) => locateIn(sources[o.file]!, path, true);

  parsed.forEach(({ data: fileData }, file) => {
    for (const [section, value] of Object.entries(fileData)) {
      const existing = data[section];
      if (!Object.hasOwn(data, section)) {
        data[section] = isPlainObject(value) ? nullRecord(value) : Array.isArray(value) ? [...value] : value;
        origins.set(section, { file });
        if (isPlainObject(value)) for (const k of Object.keys(value)) origins.set(`${section}\0${k}`, { file });
        if (Array.isArray(value)) listOrigins.set(section, value.map((_, index) => ({ file, index })));
        continue;
      }
      if (isPlainObject(existing) && isPlainObject(value)) {
        for (const [k, v] of Object.entries(value)) {
          const prev = origins.get(`${section}\0${k}`);
          if (prev) {
            const first = where(prev, [section, k]);
            problems.push({ ...locateIn(sources[file]!, [section, k], true)!, path: `${section}.${k}`, message: `defined twice (also at ${fmt(first)})`, hint: "each tenant, cluster, realm, role, group and user may be defined in one file only" });
            continue;
          }
          existing[k] = v;
          origins.set(`${section}\0${k}`, { file });
        }
      } else if (Array.isArray(existing) && Array.isArray(value)) {
        const list = listOrigins.get(section)!;
        value.forEach((v, index) => {
          existing.push(v);
          list.push({ file, index });
        });
      } else if (!(isScalarValue(existing) && existing === value)) {
        const first = where(origins.get(section)!, [section]);
        problems.push({ ...locateIn(sources[file]!, [section], true)!, path: section, message: `\`${section}\` is defined twice with different values (also at ${fmt(first)})`, hint: "define it in one file only" });
      }
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);

  const route = (path: readonly Segment[]): { file: number; path: Segment[] } | undefined => {
    if (path.length === 0) return sources.length === 1 ? { file: 0, path: [] } : undefined;
    const [section, second, ...rest] = path;
    const list = listOrigins.get(String(section));
    if (list && typeof second === "number") {
      const o = list[second];
      return o ? { file: o.file, path: [section!, o.index!, ...rest] } : undefined;
    }
    const o = (second !== undefined ? origins.get(`${String(section)}\0${String(second)}`) : undefined) ?? origins.get(String(section));
    return o ? { file: o.file, path: [...path] } : undefined;
  };

  return {
    data,
    sources,
    locate(path, key = false) {
      const r = route(path);
      return r ? locateIn(sources[r.file]!, r.path, key) : undefined;
    },
    baseDir(path) {
      const r = route(path);
      return dirname(sources[r?.file ?? 0]!.abs);
    },
  };
}

/** Walk the YAML nodes along `path`; return the position of the deepest node reached. */
export function locateIn(src: SourceFile, path: readonly Segment[], key: boolean): Location {
  const { display } = src;
  const { doc, lines } = src.positions();
  let node: unknown = doc.contents;
  let pos = node && (node as Node).range ? (node as Node).range![0] : 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      const valueNode = pair.value as Node | null;
      if ((last && key) || !valueNode?.range) {
        pos = keyNode?.range?.[0] ?? pos;
        if (!valueNode?.range) break;
      } else {
        pos = valueNode.range[0];
      }
      if (last && key) break;
      node = valueNode;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item?.range) break;
      pos = item.range[0];
      node = item;
    } else {
      break;
    }
  }
  const p = lines.linePos(pos);
  return { file: display, line: p.line, col: p.col };
}

function fmt(l: Location | undefined): string {
  return l ? `${l.file}:${l.line}:${l.col}` : "another file";
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A copy of `from` without a prototype (its `__proto__` key, if any, copied as a plain key). */
function nullRecord(from: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(from)) out[k] = v;
  return out;
}

function isScalarValue(v: unknown): boolean {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

