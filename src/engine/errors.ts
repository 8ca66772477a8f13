import { ConfigError, ExitCode, HomelabError, UserError, type ConfigProblem } from "../core/errors.js";
import { redact } from "../log/redact.js";

/**
 * An error as the engine hands it out, in events and results: plain data, secrets already removed (src/log/redact.ts),
 * with everything a renderer needs to print it the way the CLI's top-level handler does (src/cli/output.ts
 * reportError, which is built on this). Error objects themselves never leave the engine: their messages are
 * redacted only when printed, and a caller's JSON.stringify of an event must not be able to leak a secret.
 */
export interface ErrorInfo {
  /** Stable code tests and scripts key on (`E_NETWORK`, `E_AUTH`, `E_CONFIG`, ...); `E_INTERNAL` for a bug. */
  code: string;
  message: string;
  hint?: string;
  /** The exit code this error alone would give: 1 remote, 3 configuration or usage, 4 authentication, 70 a bug. */
  exitCode: number;
  /** A configuration error: every located problem. */
  problems?: ConfigProblem[];
  /** A bug (not a HomelabError): always; otherwise only when the run was asked for debug output. */
  stack?: string;
  /** Not a HomelabError: a bug in homelab. */
  internal?: true;
}

/** `err` as ErrorInfo. `debug` adds the stack of a HomelabError (a bug's stack is always there). */
export function describeError(err: unknown, debug = false): ErrorInfo {
  if (err instanceof HomelabError) {
    const exitCode = err instanceof UserError ? ExitCode.invalid : ((err as { exitCode?: number }).exitCode ?? ExitCode.failure);
    return {
      code: err.code,
      message: redact(err.message),
      ...(err.hint ? { hint: redact(err.hint) } : {}),
      exitCode,
      ...(err instanceof ConfigError ? { problems: err.problems.map(redactProblem) } : {}),
      ...(debug && err.stack ? { stack: redact(err.stack) } : {}),
    };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { code: "E_INTERNAL", message: redact(e.message), exitCode: ExitCode.internal, stack: redact(e.stack ?? ""), internal: true };
}

function redactProblem(p: ConfigProblem): ConfigProblem {
  return { ...p, path: redact(p.path), message: redact(p.message), ...(p.hint !== undefined ? { hint: redact(p.hint) } : {}) };
}
