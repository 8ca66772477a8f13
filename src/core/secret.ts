import { isAbsolute, resolve as resolvePath } from "node:path";
import { inspect } from "node:util";
import { SecretError, type ConfigProblem } from "./errors.js";
import { FileReadError, formatBytes, readBoundedText } from "./read-file.js";
import { registerSecret, SENSITIVE } from "../log/redact.js";
import type { Location } from "./errors.js";

/** `${env:NAME}` or `${file:PATH}`: the only forms a secret field accepts (the schema's `secretRef`). */
export const SECRET_REF = /^\$\{(env|file):([^}]+)\}$/;

/**
 * The most bytes a secret source (a `${file:...}` file or a `${env:...}` variable) may hold: 64 KiB. Real
 * secrets are far smaller (a Proxmox token secret is 36 characters, an Entra client secret 40, a PEM
 * private key a few KiB); a larger source is a mistake (the wrong file) or an attack (`/dev/zero`), and is
 * refused before it is read further (src/core/read-file.ts) or registered with the redactor.
 */
export const MAX_SECRET_BYTES = 64 * 1024;

/** What the receiving API accepts for a secret, checked when it is read (the value is not known before). */
export interface SecretLimits {
  /**
   * The most characters the receiving API stores (e.g. 256 for a Proxmox realm's `client-key`, access API
   * 3.1.5.1). Counted in UTF-16 code units, never fewer than the API's own count.
   */
  maxLength?: number;
  /** Who refuses a longer value, for the message, e.g. "Proxmox VE accepts for a realm's client-key". */
  receiver?: string;
  /**
   * The secret may span several lines (a PEM private key). Otherwise a line break or another control
   * character inside the value (after the one trailing newline that is always removed) is refused: it would
   * be sent as part of the secret and fail far from its cause (`ERR_INVALID_CHAR` in the Authorization
   * header, issue 10 item 8). Defaults to true for a field named `privateKey`, false for every other.
   */
  multiline?: boolean;
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
  /**
   * Where the reference is written in the config (file, line, column), when known: `check()` reports its
   * problems there. (`reveal()` messages start with the field, as every run-time error does; a source that
   * is there but unusable was already reported, located, when the config was loaded.)
   */
  readonly at: Location | undefined;

  constructor(ref: string, field: string, baseDir: string, limits: SecretLimits = {}, at?: Location) {
    const m = SECRET_REF.exec(ref);
    if (!m) throw new TypeError(`not a secret reference (${field})`);
    this.kind = m[1] as "env" | "file";
    this.name = m[2]!;
    this.field = field;
    this.baseDir = baseDir;
    this.limits = limits;
    this.at = at;
  }

  /** A secret given directly (a value just created by an API). It is registered for redaction at once. */
  static fromValue(value: string, field: string): Secret {
    const s = Object.create(Secret.prototype) as Secret;
    Object.assign(s, { kind: "env", name: "(generated)", field, baseDir: "", limits: {}, at: undefined });
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
   * the value, also when the value breaks `limits` or the shape every secret has (at most
   * MAX_SECRET_BYTES, one line unless `multiline`). The value is registered with the redactor before it
   * is returned (or refused).
   */
  reveal(env: NodeJS.ProcessEnv = process.env): string {
    const cached = values.get(this);
    if (cached !== undefined) return cached;
    const r = this.#read(env);
    if ("problem" in r) throw new SecretError(r.problem.message, r.problem.hint);
    values.set(this, r.value);
    return r.value;
  }

  /**
   * When the config is loaded (validate, and every other command before it reads anything): read the
   * source if it is there and report what `reveal()` would refuse, as a config problem located at the
   * reference. A source that is not there (a variable not set, a file not created yet on the machine that
   * validates) is no problem here: `reveal()` reports it when the value is needed. The value is never
   * printed, nor cached (`reveal()` reads it again, with its own environment); it is registered with the
   * redactor like any value read.
   */
  check(env: NodeJS.ProcessEnv = process.env): ConfigProblem | undefined {
    if (values.has(this)) return undefined;
    const r = this.#read(env);
    if ("value" in r || r.absent) return undefined;
    return { ...(this.at ?? {}), path: this.field, message: r.problem.message.slice(this.field.length + 2), hint: r.problem.hint };
  }

  /** The value, or why it cannot be used (`absent`: the variable is not set or empty, or the file does not exist or may not be read by this user). */
  #read(env: NodeJS.ProcessEnv): { value: string } | { problem: { message: string; hint: string }; absent?: boolean } {
    const fail = (message: string, hint: string, absent = false) => ({ problem: { message: `${this.field}: ${message}`, hint }, absent });
    const source = this.kind === "env" ? `environment variable ${this.name}` : `file ${this.path}`;
    const tooLarge = () =>
      fail(
        `${this.kind === "env" ? source : `secret file ${this.path}`} is larger than ${formatBytes(MAX_SECRET_BYTES)}, the limit for a secret`,
        `point ${this.ref} at the secret only (at most ${formatBytes(MAX_SECRET_BYTES)}${this.kind === "file" ? ", in a regular file" : ""})`,
      );
    let value: string;
    if (this.kind === "env") {
      const v = env[this.name];
      if (v === undefined || v === "") {
        return fail(
          `environment variable ${this.name} is ${v === undefined ? "not set" : "empty"}`,
          `export ${this.name}=... before running homelab, or change ${this.field} to \${file:PATH}`,
          // An empty variable is how CI says "no secret here": absent too, for check().
          true,
        );
      }
      value = v;
    } else {
      try {
        // Two bytes of room for the final line break, which is not part of the secret.
        value = readBoundedText(this.path, { limit: MAX_SECRET_BYTES + 2, what: "secret file" }).replace(/\r?\n$/, "");
      } catch (err) {
        if (!(err instanceof FileReadError)) throw err;
        if (err.reason === "too-large") return tooLarge();
        const hint =
          err.reason === "special"
            ? `point ${this.ref} at a regular file that holds only the secret (at most ${formatBytes(MAX_SECRET_BYTES)})`
            : `create the file with the secret as its only content, readable by the user homelab runs as (chmod 600)`;
        // Missing or unreadable here may be fine where apply runs (validate in CI, apply on the admin host): `absent`.
        return fail(`secret file ${err.message}`, hint, err.reason === "missing" || err.reason === "denied");
      }
      if (value === "") return fail(`secret file ${this.path} is empty`, `write the secret into the file`);
    }
    if (Buffer.byteLength(value, "utf8") > MAX_SECRET_BYTES) return tooLarge();
    registerSecret(value);
    const multiline = this.limits.multiline ?? /(^|\.)privateKey$/.test(this.field);
    if (!multiline) {
      // eslint-disable-next-line no-control-regex
      const bad = /[\u0000-\u0008\u000a-\u001f\u007f]/.exec(value);
      if (bad) {
        const lineBreak = bad[0] === "\n" || bad[0] === "\r";
        return fail(
          `the secret in ${source} ${lineBreak ? "has more than one line" : "contains a control character"}; it would be sent as part of the secret`,
          this.kind === "file"
            ? `the file must hold only the secret, on one line (one final newline is fine): ${lineBreak ? "remove the other lines or the blank line" : "remove the control character"} from ${this.path}`
            : `set ${this.name} to the secret only, on one line`,
        );
      }
    }
    const max = this.limits.maxLength;
    if (max !== undefined && value.length > max) {
      // The length is not printed either: only the limit, which is public.
      return fail(
        `the secret in ${source} is longer than ${max} characters, the most ${this.limits.receiver ?? "its receiver accepts"}`,
        `check that ${this.ref} holds only the secret itself, and that the secret is the one meant for this field`,
      );
    }
    return { value };
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
