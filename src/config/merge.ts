import { dirname } from "node:path";
import { ConfigError, type ConfigProblem } from "../core/errors.js";
import { nullRecord } from "../core/record.js";
import { fmt, locateIn, type LoadedConfig, type Segment, type SourceFile } from "./locate.js";

/**
 * Merging the files of a config directory into one LoadedConfig (split out of load.ts, issue 12): a key
 * defined in two files is an error located in both, and every path keeps its way back to its own file.
 */

interface Origin {
  file: number;
  /** For `access`: the index inside that file's list. */
  index?: number;
}

/** Merge the files' top-level sections: mappings merge by key (a key in two files is an error), lists concatenate. */
export function merge(parsed: { src: SourceFile; data: Record<string, unknown> }[]): LoadedConfig {
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
        // Object.entries: a YAML !!set is a Set, which nullRecord would take for a list of [key, value] pairs.
        data[section] = isPlainObject(value) ? nullRecord(Object.entries(value)) : Array.isArray(value) ? [...value] : value;
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isScalarValue(v: unknown): boolean {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

