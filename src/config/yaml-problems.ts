import { resolve as resolvePath } from "node:path";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from "yaml";
import type { ConfigProblem, Location } from "../core/errors.js";
import { printable } from "../core/printable.js";
import { fastParse } from "./fast-yaml.js";
import { lazySource, PARSE_OPTIONS, type SourceFile } from "./locate.js";

/**
 * One config text to its value, with every YAML-level problem located (split out of load.ts, issue 12):
 * syntax errors, a second document, undefined aliases, duplicate keys, an empty file, a top level that is
 * not a mapping, alias bombs and flow collections nested too deep.
 */

/**
 * Alias expansion budget. The `yaml` library multiplies the number of alias uses by the size of what
 * they point at; an alias bomb ("billion laughs") grows exponentially and hits this at once, while a
 * legitimate file that reuses a few anchors stays far below it.
 */
const MAX_ALIAS_COUNT = 10_000;

/** Parse one file's text; on a problem, push it (or them) to `problems` and return undefined. */
export function parseText(display: string, raw: string, problems: ConfigProblem[]): { src: SourceFile; data: Record<string, unknown> } | undefined {
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
