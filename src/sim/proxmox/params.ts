/**
 * Request parameter decoding and schema-driven validation, following pve-common JSONSchema.pm as
 * described in spec 1.2, 1.3, 1.5, 4.1 and errata 7, 9.
 */
import { isIP } from "node:net";
import type { MethodInfo, PropSchema } from "./apidoc.js";
import { PRIVILEGE_SET } from "./constants.js";

/** A raw parameter value: strings from forms and queries, anything from a JSON body. */
export type RawValue = unknown;

/** Validated parameters: strings (booleans as "1"/"0", integers as decimal), or null if JSON null was sent (errata 6). */
export type Params = Record<string, string | null>;

export const USER_REGEX_SRC = "[^\\s:/]+";
export const REALM_REGEX_SRC = "[A-Za-z][A-Za-z0-9.\\-_]+";
export const TOKEN_SUBID_REGEX_SRC = "[A-Za-z][A-Za-z0-9.\\-_]+";
const REALM_RE = new RegExp(`^${REALM_REGEX_SRC}$`);
const USERID_RE = new RegExp(`^(${USER_REGEX_SRC})@(${REALM_REGEX_SRC})$`);
const TOKENID_RE = new RegExp(`^(${USER_REGEX_SRC}@${REALM_REGEX_SRC})!(${TOKEN_SUBID_REGEX_SRC})$`);
const GROUPID_RE = /^[A-Za-z0-9.\-_]+$/;
const ROLEID_RE = /^[A-Za-z0-9.\-_]+$/;
const CONFIGID_RE = /^[a-z][a-z0-9_-]+$/i;
const EMAIL_RE = /^[\w+\-~]+(\.[\w+\-~]+)*@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$/;
const DNS_RE = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)$/;

/**
 * PVE::Tools::split_list: split on runs of commas, semicolons and whitespace; a value containing a
 * NUL is split on NUL only (spec 1.3). Empty items vanish.
 */
export function splitList(value: string | null | undefined): string[] {
  if (!value) return [];
  if (value.includes("\0")) return value.split("\0").filter((v) => v !== "");
  return value
    .replace(/[,;]/g, " ")
    .trim()
    .split(/\s+/)
    .filter((v) => v !== "");
}

/** Perl truthiness of a parameter string: undefined, "" and "0" are false. */
export function truthy(v: string | null | undefined): v is string {
  return v !== undefined && v !== null && v !== "" && v !== "0";
}

// --- identifier checks (die texts of Auth/Plugin.pm, AccessControl.pm, JSONSchema.pm) ------

export class FormatError extends Error {
  constructor(
    message: string,
    readonly subErrors?: Record<string, string>,
  ) {
    super(message);
  }
}

/** verify_username: length 3..64, then `^[^\s:/]+@<realm>$` (the realm is after the last "@"). */
export function verifyUsername(userid: string): { name: string; realm: string } {
  const len = userid.length;
  if (len < 3) throw new FormatError(`user name '${userid}' is too short\n`);
  if (len > 64) throw new FormatError(`user name '${userid}' is too long (${len} > 64)\n`);
  const m = USERID_RE.exec(userid);
  if (!m) throw new FormatError(`value '${userid}' does not look like a valid user name\n`);
  return { name: m[1]!, realm: m[2]! };
}

export function parseTokenId(full: string): { userid: string; tokenid: string } | undefined {
  const m = TOKENID_RE.exec(full);
  return m ? { userid: m[1]!, tokenid: m[2]! } : undefined;
}

type Checker = (value: string) => void;

const FORMATS: Record<string, Checker> = {
  "pve-userid": (v) => void verifyUsername(v),
  "pve-realm": (v) => {
    if (!REALM_RE.test(v)) throw new FormatError("value does not look like a valid realm\n");
  },
  "pve-groupid": (v) => {
    if (!GROUPID_RE.test(v)) throw new FormatError(`group name '${v}' contains invalid characters\n`);
  },
  "pve-roleid": (v) => {
    if (!ROLEID_RE.test(v)) throw new FormatError(`role name '${v}' contains invalid characters\n`);
  },
  "pve-priv": (v) => {
    if (!PRIVILEGE_SET.has(v)) throw new FormatError(`invalid privilege '${v}'\n`);
  },
  "pve-tokenid": (v) => {
    if (!parseTokenId(v)) throw new FormatError(`value '${v}' does not look like a valid token ID\n`);
  },
  "pve-configid": (v) => {
    if (!CONFIGID_RE.test(v)) throw new FormatError(`invalid configuration ID '${v}'\n`);
  },
  "email-opt": (v) => {
    if (v !== "" && !EMAIL_RE.test(v)) throw new FormatError("value does not look like a valid email address\n");
  },
  address: (v) => {
    if (!isIP(v) && !DNS_RE.test(v)) throw new FormatError(`value does not look like a valid address: ${v}\n`);
  },
  "ldap-simple-attr": (v) => {
    if (!/^[a-zA-Z0-9-]+$/.test(v)) throw new FormatError(`value '${v}' does not look like a simple ldap attribute name\n`);
  },
  "pve-tfa-config": (v) =>
    checkPropertyString("tfa", v, "type", {
      type: { type: "string", enum: ["oath", "yubico"] },
      digits: { type: "integer", optional: 1, minimum: 6, maximum: 8 },
      step: { type: "integer", optional: 1, minimum: 10 },
      id: { type: "string", optional: 1 },
      key: { type: "string", optional: 1 },
      url: { type: "string", optional: 1 },
    }),
  "realm-sync-options": (v) =>
    checkPropertyString("sync-defaults-options", v, undefined, {
      "enable-new": { type: "boolean", optional: 1 },
      full: { type: "boolean", optional: 1 },
      purge: { type: "boolean", optional: 1 },
      "remove-vanished": {
        type: "string",
        optional: 1,
        pattern: "(?:(?:(?:acl|properties|entry);)*(?:acl|properties|entry))|none",
      },
      scope: { type: "string", optional: 1, enum: ["users", "groups", "both"] },
    }),
};

/**
 * parse_property_string: "k=v,k=v" with an optional default key for a bare value. Errors are
 * reported as "format error" plus "<param>.<key>: <problem>" lines (errata 7).
 */
function checkPropertyString(
  param: string,
  value: string,
  defaultKey: string | undefined,
  schema: Record<string, PropSchema>,
): void {
  const data: Record<string, string> = {};
  const errors: Record<string, string> = {};
  for (const part of value.split(",")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    let key: string;
    let val: string;
    if (eq < 0) {
      if (!defaultKey) throw new FormatError(`value without key, but schema does not define a default key\n`);
      key = defaultKey;
      val = part;
    } else {
      key = part.slice(0, eq);
      val = part.slice(eq + 1);
    }
    if (key in data) throw new FormatError(`duplicate key in comma-separated list property: ${key}\n`);
    data[key] = val;
  }
  validateObject(schema, data, errors, `${param}.`);
  if (Object.keys(errors).length > 0) {
    throw new FormatError("format error\n", errors);
  }
}

function checkFormat(format: string, value: string): void {
  const list = /^(.*)-a?list$/.exec(format);
  if (list) {
    const base = FORMATS[list[1]!];
    if (!base) return;
    for (const item of splitList(value)) base(item);
    return;
  }
  FORMATS[format]?.(value);
}

function perlPattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern.replace(/\(\?\^:/g, "(?:")})$`);
}
const patternCache = new Map<string, RegExp>();
function compiled(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    re = perlPattern(pattern);
    patternCache.set(pattern, re);
  }
  return re;
}

/**
 * JSONSchema check_prop matches `m/^$pattern$/`, and Perl's `$` (any `$` in the pattern too) also
 * matches before one final "\n": a value with a trailing line feed passes a pattern its body passes
 * (realm options then meet SectionConfig's "property contains a line feed").
 */
function perlMatch(re: RegExp, value: string): boolean {
  return re.test(value) || (value.endsWith("\n") && re.test(value.slice(0, -1)));
}

function perlRef(value: unknown): string {
  if (Array.isArray(value)) return "ARRAY";
  if (typeof value === "boolean") return "JSON::PP::Boolean";
  return "HASH";
}

/** Check one value; returns the normalised string or undefined after recording an error. */
function checkProp(name: string, schema: PropSchema, value: unknown, errors: Record<string, string>): string | undefined {
  let s: string;
  switch (schema.type) {
    case "boolean": {
      // Spec 1.3: 0/1 (numbers or strings) and JSON true/false; "true"/"yes"/"on" are refused.
      if (value === true || value === 1 || value === "1") s = "1";
      else if (value === false || value === 0 || value === "0") s = "0";
      else {
        const shown = typeof value === "object" ? perlRef(value) : String(value);
        errors[name] = `type check ('boolean') failed - got '${shown}'`;
        return undefined;
      }
      return s;
    }
    case "integer":
    case "number": {
      const ok =
        (typeof value === "number" && Number.isFinite(value) && (schema.type === "number" || Number.isInteger(value))) ||
        (typeof value === "string" &&
          (schema.type === "integer" ? /^[+-]?\d+$/ : /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/).test(value));
      if (!ok) {
        const shown = typeof value === "object" || typeof value === "boolean" ? perlRef(value) : String(value);
        errors[name] = `type check ('${schema.type}') failed - got '${shown}'`;
        return undefined;
      }
      s = typeof value === "number" ? String(value) : String(Number(value));
      const n = Number(s);
      if (schema.minimum !== undefined && n < schema.minimum) {
        errors[name] = `value must have a minimum value of ${schema.minimum}`;
        return undefined;
      }
      if (schema.maximum !== undefined && n > schema.maximum) {
        errors[name] = `value must have a maximum value of ${schema.maximum}`;
        return undefined;
      }
      break;
    }
    default: {
      if (typeof value === "object" || typeof value === "boolean") {
        errors[name] = `type check ('${schema.type}') failed - got ${perlRef(value)}`;
        return undefined;
      }
      s = String(value);
      if (schema.format) {
        try {
          checkFormat(schema.format, s);
        } catch (err) {
          if (!(err instanceof FormatError)) throw err;
          let msg = `invalid format - ${err.message}`;
          if (err.subErrors) {
            for (const [k, v] of Object.entries(err.subErrors)) msg += `${k}: ${v}\n`;
          }
          errors[name] = msg;
          return undefined;
        }
      }
      if (schema.pattern && !perlMatch(compiled(schema.pattern), s)) {
        errors[name] = "value does not match the regex pattern";
        return undefined;
      }
      if (schema.maxLength !== undefined && s.length > schema.maxLength) {
        errors[name] = `value may only be ${schema.maxLength} characters long`;
        return undefined;
      }
      if (schema.minLength !== undefined && s.length < schema.minLength) {
        errors[name] = `value must be at least ${schema.minLength} characters long`;
        return undefined;
      }
    }
  }
  if (schema.enum && !schema.enum.includes(s)) {
    errors[name] = `value '${s}' does not have a value in the enumeration '${schema.enum.join(", ")}'`;
    return undefined;
  }
  return s;
}

/** check_object: every schema property, then the keys the schema does not define. */
function validateObject(
  schema: Record<string, PropSchema>,
  data: Record<string, unknown>,
  errors: Record<string, string>,
  prefix = "",
): Params {
  const out: Params = {};
  for (const [name, prop] of Object.entries(schema)) {
    const value = data[name];
    if (value === undefined || value === null) {
      if (!prop.optional) errors[prefix + name] = "property is missing and it is not optional";
      else if (value === null) out[name] = null;
      continue;
    }
    const s = checkProp(prefix + name, prop, value, errors);
    if (s !== undefined) out[name] = s;
    if (prop.requires && (data[prop.requires] === undefined || data[prop.requires] === null)) {
      errors[prefix + prop.requires] = `missing property required by '${name}'`;
    }
  }
  for (const key of Object.keys(data)) {
    if (!(key in schema)) {
      errors[prefix + key] = "property is not defined in schema and the schema does not allow additional properties";
    }
  }
  return out;
}

/** Validate the merged request parameters of one API method. */
export function validateParams(
  info: MethodInfo,
  data: Record<string, unknown>,
): { params: Params; errors?: Record<string, string> } {
  const errors: Record<string, string> = {};
  const params = validateObject(info.properties, data, errors);
  return Object.keys(errors).length > 0 ? { params, errors } : { params };
}

/** Is this parameter a "-list" format (arrays and repeated keys are joined with "," for these, spec 1.3)? */
export function isListParam(info: MethodInfo | undefined, name: string): boolean {
  const f = info?.properties[name]?.format;
  return typeof f === "string" && /-a?list$/.test(f);
}

// --- decoding ------------------------------------------------------------------------------

/** Percent-decode to bytes, then read them as UTF-8 (body and query values). Bad escapes stay literal. */
export function decodeUtf8Component(s: string): string {
  if (!s.includes("%")) return s;
  return Buffer.from(percentBytes(s)).toString("utf8");
}

/** Percent-decode path parameters to raw bytes read as Latin-1: never UTF-8 decoded (errata 12). */
export function decodePathComponent(s: string): string {
  if (!s.includes("%")) return s;
  return Buffer.from(percentBytes(s)).toString("latin1");
}

function percentBytes(s: string): number[] {
  const bytes: number[] = [];
  const raw = Buffer.from(s, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x25 && i + 2 < raw.length + 0 && /^[0-9a-fA-F]{2}$/.test(String.fromCharCode(raw[i + 1]!, raw[i + 2]!))) {
      bytes.push(parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16));
      i += 2;
    } else bytes.push(c);
  }
  return bytes;
}

/**
 * Parse an x-www-form-urlencoded string the way pve-http-server does (errata 9): pairs are split on
 * "&" and ";", "+" is a space, and a value is cut at a second raw "=". Repeated keys are returned
 * as arrays and joined by the caller.
 */
export function parseForm(s: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pair of s.split(/[&;]/)) {
    if (pair === "") continue;
    const parts = pair.split("=");
    const key = decodeUtf8Component(parts[0]!.replace(/\+/g, " "));
    const value = decodeUtf8Component((parts[1] ?? "").replace(/\+/g, " "));
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}
