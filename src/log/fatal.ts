import { writeSync } from "node:fs";
import { redact } from "./redact.js";

/**
 * The last resort (issue 10 item 1): whatever escapes the one top-level handler in src/cli/main.ts (an
 * error thrown while reporting an error, a rejected promise nobody awaited, an exception in a timer or an
 * event handler) must not reach Node's default printer, which prints the message and the stack verbatim,
 * secrets included, and exits 1 or 7. Instead: one redacted `internal error` line on stderr (the stack,
 * redacted, only with `--debug` or `HOMELAB_DEBUG=1`) and exit code 70 (ExitCode.internal).
 *
 * Everything here is defensive: the thrown value may be anything (a string, a Proxy, an object whose
 * `message` getter throws, an Error with a 1 MiB message), and redaction itself must not be trusted not
 * to throw. If anything goes wrong while describing the error, a fixed line is printed instead.
 */

/** Exit code of an internal error (ExitCode.internal in src/core/errors.ts; not imported so this module stays dependency-free). */
const INTERNAL = 70;

/** The longest message printed; longer ones are cut AFTER redaction, so a cut never exposes part of a secret that redaction would have replaced. */
const MAX_MESSAGE = 2_000;

let installed = false;
let handling = false;
/** Run before the last line is written: whoever holds output back (src/cli/output.ts's batching) hands it over first. */
const flushers: (() => void)[] = [];

/** Register a function that writes held-back output; lastResort calls it before its own line, so that line comes last. */
export function beforeLastResort(flush: () => void): void {
  flushers.push(flush);
}

/** Install the process-level handlers once (further calls do nothing). Call first thing at startup. */
export function installLastResort(): void {
  if (installed) return;
  installed = true;
  process.on("uncaughtException", (err) => lastResort(err));
  process.on("unhandledRejection", (reason) => lastResort(reason));
}

/** Print the one redacted line (and, when debugging, the redacted stack) and exit 70. Never throws, never returns. */
export function lastResort(err: unknown): never {
  if (handling) {
    // An error while handling an error: say nothing more that could carry data, and leave.
    process.exit(INTERNAL);
  }
  handling = true;
  let text: string;
  try {
    text = describe(err, debugging());
  } catch {
    text = "internal error (the error could not be described)";
  }
  for (const flush of flushers) {
    try {
      flush();
    } catch {
      // the output it held is lost; the error line still goes out
    }
  }
  try {
    // Synchronous: the process exits right after, and an asynchronous write could be lost.
    writeSync(2, `${text}\n`);
  } catch {
    // stderr closed: nothing else to do
  }
  process.exit(INTERNAL);
}

/** `--debug` on the command line or HOMELAB_DEBUG set to a non-empty value other than 0. */
function debugging(): boolean {
  const env = process.env.HOMELAB_DEBUG;
  return process.argv.includes("--debug") || (env !== undefined && env !== "" && env !== "0");
}

/** The text printed for `err`: `internal error <Name>: <message>` redacted, plus the redacted stack when debugging. Exported for tests. */
export function describe(err: unknown, debug: boolean): string {
  let name = "Error";
  let message: string;
  let stack: string | undefined;
  if (err instanceof Error) {
    name = safeString(() => err.name) ?? "Error";
    message = safeString(() => err.message) ?? "(no message)";
    stack = safeString(() => err.stack);
  } else {
    message = safeString(() => String(err)) ?? "(a value that cannot be printed)";
  }
  const head = oneLine(cut(redact(`${name}: ${message}`)));
  const lines = [`internal error ${head}`];
  if (debug && stack !== undefined) lines.push(cut(redact(stack), MAX_MESSAGE * 10));
  lines.push("This is a bug in homelab. Please report it with the command you ran and the output above (secrets are redacted).");
  return lines.join("\n");
}

function safeString(get: () => unknown): string | undefined {
  try {
    const v = get();
    return typeof v === "string" ? v : v === undefined ? undefined : String(v);
  } catch {
    return undefined;
  }
}

function cut(s: string, max = MAX_MESSAGE): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

/** Line breaks and other control characters shown escaped, so the line stays one line and cannot move the terminal's cursor. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
}
