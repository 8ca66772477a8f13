import { resolve as resolvePath } from "node:path";
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { Location } from "../core/errors.js";

/**
 * Where a path of the config was written: the loaded config's shape (LoadedConfig, SourceFile) and the walk
 * from a path to a line and column (locateIn). Split out of load.ts (issue 12); load.ts re-exports these.
 */

/** One path segment into the config: a map key or an array index. */
export type Segment = string | number;

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

/** The merged, still unvalidated content of one file or a directory of files, with a way back to the source. */
export interface LoadedConfig {
  data: Record<string, unknown>;
  sources: SourceFile[];
  /** Where `path` was written. `key` points at the map key instead of the value (for unknown or misnamed keys). */
  locate(path: readonly Segment[], key?: boolean): Location | undefined;
  /** The directory of the file that defined `path` (relative `${file:...}` secrets resolve against it). */
  baseDir(path: readonly Segment[]): string;
}

/** The yaml library's options (uniqueKeys is off because duplicates are reported by findDuplicateKeys with both places named). */
export const PARSE_OPTIONS = { uniqueKeys: false, prettyErrors: false, version: "1.2", strict: true } as const;

/** A source whose positions are parsed from `text()` on first need (memoized). */
export function lazySource(display: string, text: () => string): SourceFile {
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

/** `file:line:col`, or "another file" when the place is not known. */
export function fmt(l: Location | undefined): string {
  return l ? `${l.file}:${l.line}:${l.col}` : "another file";
}
