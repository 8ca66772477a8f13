import { printable } from "./printable.js";

/**
 * The error kinds of homelab. Deep code throws one of these; only the CLI turns them into output and an
 * exit code (STYLE.md section 4). Each class has a stable `code` string that JSON output and tests key on.
 */

/** Exit codes documented in the README (DESIGN.md "Exit codes"). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  changes: 2,
  invalid: 3,
  auth: 4,
  internal: 70,
} as const;

/** A place in a config file (1-based line and column). */
export interface Location {
  file: string;
  line: number;
  col: number;
}

/** One located problem in the configuration. `file`/`line`/`col` are absent when no node can be found. */
export interface ConfigProblem {
  file?: string;
  line?: number;
  col?: number;
  /** Dotted path into the merged config, e.g. `access[2].path` or `realms.azure.tenant`. */
  path: string;
  message: string;
  hint?: string;
}

/** Base class: a failure the user can act on, printed as message and hint without a stack trace. */
export class HomelabError extends Error {
  readonly code: string;
  readonly hint?: string;
  constructor(code: string, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options?.hint !== undefined) this.hint = options.hint;
  }
}

/** Bad input: a file, an argument, a missing credential. Exit code 3. */
export class UserError extends HomelabError {
  constructor(message: string, options?: { hint?: string; cause?: unknown; code?: string }) {
    super(options?.code ?? "E_USER", message, options);
  }
}

/** Every problem found in a configuration, sorted by position. Exit code 3. */
export class ConfigError extends UserError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    const n = problems.length;
    super(`${n} problem${n === 1 ? "" : "s"} in the configuration`, { code: "E_CONFIG" });
    this.problems = sortProblems(problems);
  }
}

/** A missing or unreadable secret reference. Exit code 3 (the user must fix the environment). */
export class SecretError extends UserError {
  constructor(message: string, hint: string) {
    super(message, { hint, code: "E_SECRET" });
  }
}

export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort(
    (a, b) =>
      cmp(a.file ?? "\uffff", b.file ?? "\uffff") ||
      (a.line ?? Infinity) - (b.line ?? Infinity) ||
      (a.col ?? Infinity) - (b.col ?? Infinity) ||
      cmp(a.path, b.path) ||
      cmp(a.message, b.message),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `FILE:LINE:COL: path: message` plus an indented hint line, the format every config problem is printed in.
 * Each part may quote the user's text (a key, an id, a file name): control characters are shown escaped
 * (src/core/printable.ts), so a message is one line that cannot recolour or rewrite the terminal.
 */
export function formatProblem(p: ConfigProblem): string {
  const where = p.file === undefined ? "" : `${printable(p.file)}${p.line === undefined ? "" : `:${p.line}:${p.col ?? 1}`}: `;
  const head = `${where}${p.path ? `${printable(p.path)}: ` : ""}${printable(p.message)}`;
  return p.hint ? `${head}\n  hint: ${printable(p.hint)}` : head;
}

/**
 * An API said no, or could not be reached. Carries what a person needs to find the request (service,
 * method, redacted URL, status, request id) and never a credential. Exit code 1.
 */
export class RemoteError extends HomelabError {
  readonly service: string;
  readonly method: string;
  readonly url: string;
  readonly status?: number;
  readonly requestId?: string;
  readonly exitCode: number = ExitCode.failure;
  constructor(opts: { service: string; method: string; url: string; status?: number; requestId?: string; message: string; hint?: string; cause?: unknown; code?: string }) {
    super(opts.code ?? "E_REMOTE", opts.message, { ...(opts.hint !== undefined ? { hint: opts.hint } : {}), cause: opts.cause });
    this.service = opts.service;
    this.method = opts.method;
    this.url = opts.url;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.requestId !== undefined) this.requestId = opts.requestId;
  }
}

/** Authentication or permission failure (401/403, invalid client secret, TLS pin mismatch). Exit code 4. */
export class AuthError extends RemoteError {
  override readonly exitCode: number = ExitCode.auth;
  constructor(opts: ConstructorParameters<typeof RemoteError>[0]) {
    super({ ...opts, code: opts.code ?? "E_AUTH" });
  }
}
