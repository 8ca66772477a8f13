import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, UserError, type ConfigProblem } from "../core/errors.js";
import { printable } from "../core/printable.js";
import { FileReadError, formatBytes, readBounded } from "../core/read-file.js";
import { decode } from "./decode.js";
import { lazySource, type LoadedConfig, type SourceFile } from "./locate.js";
import { merge } from "./merge.js";
import { parseText } from "./yaml-problems.js";

// The entry for reading a config: files are read here; bytes become text in decode.ts, text becomes a value
// (with every YAML-level problem) in yaml-problems.ts, files merge in merge.ts, and paths are located in
// locate.ts. What other modules import from this file is re-exported so that they need not know the split.
export type { LoadedConfig, Segment, SourceFile } from "./locate.js";
export { locateIn } from "./locate.js";
export { isPlainObject } from "./merge.js";
export type { Location } from "../core/errors.js";

/**
 * The largest config file read: 16 MiB (each file of a directory). A large homelab's config is a few
 * hundred KiB; the limit only keeps `-f /dev/zero`-like inputs from filling memory (issue 10 item 3).
 * Only regular files are read (src/core/read-file.ts): a FIFO, a device or a socket, given with -f or as
 * an entry of a config directory, is refused.
 */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

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
