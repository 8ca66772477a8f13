import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ErrorObject } from "ajv/dist/2020.js";
import type { ConfigProblem } from "../core/errors.js";
import type { LoadedConfig, Segment } from "./load.js";
import { addAnnotationKeywords, ajvOptions } from "./schema-options.js";
import { closest } from "./suggest.js";

/** The schema ships beside `src/` and `dist/` (package.json "files"), so this resolves from both. */
const SCHEMA_URL = new URL("../../schemas/homelab.schema.json", import.meta.url);
/** Written by scripts/after-build.mjs next to this module in dist/; absent when running from src. */
const PRECOMPILED_URL = new URL("./homelab-schema.validate.js", import.meta.url);

type Validate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

let compiled: Validate | undefined;
let schemaJson: Schema | undefined;

function schemaDocument(): Schema {
  schemaJson ??= JSON.parse(readFileSync(SCHEMA_URL, "utf8")) as Schema;
  return schemaJson;
}

/**
 * The validator: the one compiled at build time when present (saves ajv's import and compile on every
 * run), else compiled here from the schema file.
 */
export async function loadSchemaValidator(): Promise<Validate> {
  if (compiled) return compiled;
  if (existsSync(fileURLToPath(PRECOMPILED_URL))) {
    compiled = ((await import(PRECOMPILED_URL.href)) as { default: Validate }).default;
  } else {
    const { Ajv2020 } = await import("ajv/dist/2020.js");
    const ajv = new Ajv2020({ ...ajvOptions });
    addAnnotationKeywords(ajv);
    compiled = ajv.compile(schemaDocument()) as Validate;
  }
  return compiled;
}

// Loaded once when this module is first imported, so that validation itself stays synchronous.
await loadSchemaValidator();

export function schemaValidator(): Validate {
  return compiled!;
}

type Schema = Record<string, unknown>;

/** Validate the merged data against schemas/homelab.schema.json; every error becomes a located problem. */
export function checkSchema(loaded: LoadedConfig): ConfigProblem[] {
  const validate = schemaValidator();
  if (validate(loaded.data)) return [];
  const errors = prune(validate.errors ?? []);
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const p = toProblem(e, loaded);
    const k = `${p.line}:${p.col}:${p.path}:${p.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      problems.push(p);
    }
  }
  return problems;
}

/**
 * ajv reports the failure of a combinator (`oneOf`, `anyOf`, `if`) together with the errors of every branch.
 * Keep what a person needs: for `anyOf`, the branch errors of the branch whose type fits the data; for
 * `oneOf` of alternatives (exactly one of two keys) the combinator error with its hint; drop `if`.
 */
function prune(errors: ErrorObject[]): ErrorObject[] {
  const out: ErrorObject[] = [];
  const combinators = errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf");
  for (const e of errors) {
    // `if` only says "must match then"; `propertyNames` is repeated by its inner error, which names the key.
    if (e.keyword === "if" || e.keyword === "propertyNames") continue;
    const owner = combinators.find((c) => c !== e && c.instancePath.length <= e.instancePath.length && e.instancePath.startsWith(c.instancePath) && e.schemaPath.startsWith(`${c.schemaPath}/`));
    if (owner) {
      if (owner.keyword === "oneOf") continue; // replaced by the oneOf error and its hint
      if (e.keyword === "type" && e.instancePath === owner.instancePath) continue; // a branch of the wrong type
      out.push(e);
      continue;
    }
    if (e.keyword === "anyOf") {
      const branchErrors = errors.filter((b) => b !== e && b.schemaPath.startsWith(`${e.schemaPath}/`));
      const relevant = branchErrors.filter((b) => !(b.keyword === "type" && b.instancePath === e.instancePath));
      if (relevant.length > 0) continue; // the branch errors say it better
    }
    out.push(e);
  }
  return out;
}

function toProblem(e: ErrorObject, loaded: LoadedConfig): ConfigProblem {
  const path: Segment[] = e.instancePath === "" ? [] : e.instancePath.slice(1).split("/").map(unescapePointer);
  // The error's schema and data are looked up here rather than carried by ajv (`verbose`), which the
  // build-time compiled validator does not support; only failing runs pay for it.
  const parent = parentSchemaOf(e, path);
  const hint = typeof parent["x-hint"] === "string" ? (parent["x-hint"] as string) : undefined;
  const sensitive = parent["x-sensitive"] === true;
  const data = valueAt(loaded.data, path);
  const problem = (at: Segment[], key: boolean, message: string, h: string | null | undefined = hint): ConfigProblem => ({
    ...(loaded.locate(at, key) ?? {}),
    path: dotted(at),
    message,
    ...(h ? { hint: h } : {}),
  });

  if (e.propertyName !== undefined) {
    // propertyNames: the key itself is malformed.
    const at = [...path, e.propertyName];
    const what = describe(parent);
    return problem(at, true, `\`${e.propertyName}\` is not a valid ${what}`, hint ?? (typeof parent.description === "string" ? (parent.description as string) : undefined));
  }

  switch (e.keyword) {
    case "additionalProperties": {
      const name = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as Schema);
      const guess = closest(name, known);
      return problem([...path, name], true, `unknown key \`${name}\`${guess ? `; did you mean \`${guess}\`?` : ""}`, guess ? null : known.length ? `allowed keys here: ${known.join(", ")}` : undefined);
    }
    case "required": {
      const name = (e.params as { missingProperty: string }).missingProperty;
      return problem(path, true, `missing required key \`${name}\``);
    }
    case "type": {
      const want = String((e.params as { type: string | string[] }).type).replace(",", " or ");
      return problem(path, false, `must be ${article(want)}, not ${typeName(data)}`);
    }
    case "enum": {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const guess = typeof data === "string" ? closest(data, allowed) : undefined;
      const shown = allowed.length > 8 ? `${allowed.slice(0, 8).join(", ")}, ... (${allowed.length} in all)` : allowed.join(", ");
      const what = describe(parent);
      return problem(path, false, `${quote(data)} is not a valid ${what}${guess ? `; did you mean \`${guess}\`?` : ""}`, guess ? hint : hint ?? `allowed: ${shown}`);
    }
    case "const":
      return problem(path, false, `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, not ${sensitive ? "this value" : quote(data)}`);
    case "pattern": {
      if (sensitive) {
        return problem(path, false, "an inline secret is not allowed; write a `${env:NAME}` or `${file:PATH}` reference");
      }
      return problem(path, false, `${quote(data)} is not a valid ${describe(parent)}`);
    }
    case "not":
      return problem(path, true, `\`${String(path[path.length - 1])}\` is not allowed here`);
    case "oneOf":
      return problem(path, true, hint ? hint.replace(/^give/, "must give") : "must match exactly one of the allowed forms", null);
    case "anyOf":
      return problem(path, false, `must be ${describeAnyOf(parent)}, not ${typeName(data)}`);
    case "maxProperties":
      return problem(path, true, hint ? hint.replace(/^give/, "must give") : e.message ?? "too many keys", null);
    case "uniqueItems": {
      const { i, j } = e.params as { i: number; j: number };
      return problem([...path, i], false, `duplicate list item (same as item ${j + 1})`);
    }
    default:
      return problem(path, false, e.message ?? `fails ${e.keyword}`);
  }
}

/**
 * The schema object holding the failed keyword. ajv's `schemaPath` is relative to the schema its code
 * was generated for: the root, or a `$ref`'d definition (`#/properties/url/pattern` inside `$defs/cluster`).
 * So resolve it against the schema at each prefix of the instance path, nearest first, then the root.
 */
function parentSchemaOf(e: ErrorObject, path: readonly Segment[]): Schema {
  const pointer = e.schemaPath.split("/").slice(1, -1);
  const root = schemaDocument();
  const bases: Schema[] = [];
  let node: Schema | undefined = root;
  const chain: Schema[] = [root];
  for (const seg of path) {
    node = node ? childSchema(node, seg) : undefined;
    if (!node) break;
    chain.push(node);
  }
  bases.push(...chain.reverse());
  for (const base of bases) {
    const found = pointerIn(base, pointer);
    if (found && e.keyword in found) return found;
  }
  return {};
}

function deref(s: Schema): Schema {
  const ref = s.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return s;
  return pointerIn(schemaDocument(), ref.split("/").slice(1)) ?? s;
}

/** The schema that applies to `seg` inside data validated by `s`, following $ref and combinator branches. */
function childSchema(s: Schema, seg: Segment): Schema | undefined {
  const d = deref(s);
  const props = d.properties as Record<string, Schema> | undefined;
  // Own keys only: a realm named `constructor` must not find Object.prototype.constructor (issue 10 item 6).
  if (typeof seg === "string" && props !== undefined && Object.hasOwn(props, seg)) return deref(props[seg]!);
  if (typeof seg === "number" && d.items && typeof d.items === "object") return deref(d.items as Schema);
  if (typeof seg === "string" && d.additionalProperties && typeof d.additionalProperties === "object") return deref(d.additionalProperties as Schema);
  for (const k of ["anyOf", "oneOf", "allOf"]) {
    for (const b of (d[k] as Schema[] | undefined) ?? []) {
      const c = childSchema(b, seg);
      if (c) return c;
    }
  }
  return undefined;
}

function pointerIn(base: Schema, pointer: string[]): Schema | undefined {
  let node: unknown = base;
  for (const raw of pointer) {
    if (node === null || typeof node !== "object") return undefined;
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    node = Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node !== null && typeof node === "object" ? (node as Schema) : undefined;
}

function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let v = data;
  for (const s of path) v = v !== null && typeof v === "object" && Object.hasOwn(v, String(s)) ? (v as Record<string, unknown>)[String(s)] : undefined;
  return v;
}

function describe(schema: Schema): string {
  if (typeof schema.title === "string") return schema.title as string;
  const d = typeof schema.description === "string" ? (schema.description as string) : "";
  // First clause of the description, lower-cased: "A Proxmox VE ACL path: ..." → "Proxmox VE ACL path".
  const head = d.split(/[:.(]/)[0]!.replace(/^(A|An|The)\s+/i, "").trim();
  return head ? head.charAt(0).toLowerCase() + head.slice(1) : "value";
}

function describeAnyOf(schema: Schema): string {
  const branches = (schema.anyOf as Schema[] | undefined) ?? [];
  return branches.map((b) => (typeof b.description === "string" ? (b.description as string).replace(/\.$/, "").toLowerCase() : String(b.type))).join(", or ");
}

function quote(v: unknown): string {
  if (typeof v === "string") return `\`${v.length > 80 ? `${v.slice(0, 77)}...` : v}\``;
  return JSON.stringify(v) ?? String(v);
}

function typeName(v: unknown): string {
  if (v === null) return "empty (null)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a number";
  return `a ${typeof v}`;
}

function article(type: string): string {
  const t = type === "object" ? "mapping" : type === "array" ? "list" : type;
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function unescapePointer(s: string): Segment {
  const v = s.replace(/~1/g, "/").replace(/~0/g, "~");
  return /^\d+$/.test(v) ? Number(v) : v;
}

/** `access[2].path`, `realms.azure.tenant`: the dotted form used in every message. */
export function dotted(path: readonly Segment[]): string {
  let out = "";
  for (const s of path) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? s : /^[A-Za-z_][A-Za-z0-9_-]*$/.test(s) ? `.${s}` : `["${s}"]`;
  }
  return out;
}
