import { readFileSync } from "node:fs";
import { isAbsolute, resolve as resolvePath } from "node:path";
import { inspect } from "node:util";
import { SecretError } from "../core/errors.js";
import { registerSecret, SENSITIVE } from "../log/redact.js";

/** `${env:NAME}` or `${file:PATH}`: the only forms a secret field accepts (the schema's `secretRef`). */
export const SECRET_REF = /^\$\{(env|file):([^}]+)\}$/;

/** What the receiving API accepts for a secret, checked when it is read (the value is not known before). */
export interface SecretLimits {
  /**
   * The most characters the receiving API stores (e.g. 256 for a Proxmox realm's `client-key`, access API
   * 3.1.5.1). Counted in UTF-16 code units, never fewer than the API's own count.
   */
  maxLength?: number;
  /** Who refuses a longer value, for the message, e.g. "Proxmox VE accepts for a realm's client-key". */
  receiver?: string;
}

/** The value is kept outside the object, so no enumeration, spread or structured clone can reach it. */
const values = new WeakMap<Secret, string>();

/**
 * A reference to a secret that resolves lazily: the environment variable or file is read only when a run
 * needs the value (`reveal()`), so `homelab validate` works without credentials. Every printable form of
 * the object (`String()`, template strings, `JSON.stringify`, `util.inspect`, `console.log`) is redacted.
 */
export class Secret {
  /** `env` or `file`. */
  readonly kind: "env" | "file";
  /** The variable name, or the file path as written. */
  readonly name: string;
  /** Where the reference was written, e.g. `clusters.pve1.token.secret`, for error messages. */
  readonly field: string;
  /** Directory that relative file paths resolve against (the config file's directory). */
  readonly baseDir: string;
  /** Checked by `reveal()`: a secret the receiving API would refuse fails before any write, with a clean message. */
  readonly limits: SecretLimits;

  constructor(ref: string, field: string, baseDir: string, limits: SecretLimits = {}) {
    const m = SECRET_REF.exec(ref);
    if (!m) throw new TypeError(`not a secret reference (${field})`);
    this.kind = m[1] as "env" | "file";
    this.name = m[2]!;
    this.field = field;
    this.baseDir = baseDir;
    this.limits = limits;
  }

  /** A secret given directly (a value just created by an API). It is registered for redaction at once. */
  static fromValue(value: string, field: string): Secret {
    const s = Object.create(Secret.prototype) as Secret;
    Object.assign(s, { kind: "env", name: "(generated)", field, baseDir: "", limits: {} });
    values.set(s, value);
    registerSecret(value);
    return s;
  }

  /** The reference as written in the file, safe to print: `${env:NAME}`. */
  get ref(): string {
    return `\${${this.kind}:${this.name}}`;
  }

  /** The path a `${file:...}` reference reads. */
  get path(): string {
    return isAbsolute(this.name) ? this.name : resolvePath(this.baseDir, this.name);
  }

  /**
   * Read the value (once; cached). Throws SecretError naming the variable or file and the field, never
   * the value, also when the value breaks `limits`. The value is registered with the redactor before it is
   * returned (or refused).
   */
  reveal(env: NodeJS.ProcessEnv = process.env): string {
    const cached = values.get(this);
    if (cached !== undefined) return cached;
    let value: string;
    if (this.kind === "env") {
      const v = env[this.name];
      if (v === undefined || v === "") {
        throw new SecretError(
          `${this.field}: environment variable ${this.name} is ${v === undefined ? "not set" : "empty"}`,
          `export ${this.name}=... before running homelab, or change ${this.field} to \${file:PATH}`,
        );
      }
      value = v;
    } else {
      try {
        value = readFileSync(this.path, "utf8").replace(/\r?\n$/, "");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? "EIO";
        const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable (permission denied)" : code === "EISDIR" ? "is a directory" : `cannot be read (${code})`;
        throw new SecretError(`${this.field}: secret file ${this.path} ${why}`, `create the file with the secret as its only content, readable by the user homelab runs as (chmod 600)`);
      }
      if (value === "") {
        throw new SecretError(`${this.field}: secret file ${this.path} is empty`, `write the secret into the file`);
      }
    }
    registerSecret(value);
    const max = this.limits.maxLength;
    if (max !== undefined && value.length > max) {
      // The length is not printed either: only the limit, which is public.
      throw new SecretError(
        `${this.field}: the secret in ${this.kind === "env" ? `environment variable ${this.name}` : `file ${this.path}`} is longer than ${max} characters, the most ${this.limits.receiver ?? "its receiver accepts"}`,
        `check that ${this.ref} holds only the secret itself, and that the secret is the one meant for this field`,
      );
    }
    values.set(this, value);
    return value;
  }

  toString(): string {
    return SENSITIVE;
  }
  toJSON(): string {
    return SENSITIVE;
  }
  [inspect.custom](): string {
    return `Secret(${this.ref})`;
  }
}
