import { formatProblem, type ConfigProblem } from "../core/errors.js";
import { describeError, type ErrorInfo } from "../engine/errors.js";
import { redact } from "../log/redact.js";
import { beforeLastResort } from "../log/fatal.js";

/** Output settings shared by every command. Only src/cli writes to stdout/stderr. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  color: boolean;
  debug: boolean;
}

/** Set once the command has reported its result: later lines (a retry still under way) are dropped. */
let ended = false;

/**
 * Batched output (issue 12: one write per change line was 15 % of an apply from empty). Inside `bufferOutput`,
 * lines for a stream that is not a terminal (cron mail, CI log, a pipe) are queued, in order across both streams,
 * and written together: after BATCH_MS, once BATCH_BYTES are pending, when the scope ends, by `flushOutput`, and
 * on process exit. Terminals are written at once (a person is watching; listr2 keeps that view short).
 */
const BATCH_MS = 50;
const BATCH_BYTES = 64 * 1024;
let buffering = 0;
const queue: { stream: NodeJS.WriteStream; text: string }[] = [];
let pendingBytes = 0;
let timer: NodeJS.Timeout | undefined;
let exitHooked = false;

function write(stream: NodeJS.WriteStream, text: string): void {
  if (buffering === 0 || stream.isTTY === true) {
    if (queue.length > 0) flushPending();
    stream.write(text);
    return;
  }
  const last = queue.at(-1);
  if (last !== undefined && last.stream === stream) last.text += text;
  else queue.push({ stream, text });
  pendingBytes += text.length;
  if (pendingBytes >= BATCH_BYTES) flushPending();
  else timer ??= setTimeout(flushPending, BATCH_MS).unref();
}

/** Writes every queued line now (synchronously handed to the streams, in the order they were written). */
export function flushPending(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  pendingBytes = 0;
  for (const { stream, text } of queue.splice(0)) stream.write(text);
}

/**
 * Runs `fn` with the console output batched (see above). Commands that write to stdout behind the Io's back
 * (bootstrap's secret, sim's credentials) must not run inside: their direct writes would overtake queued lines.
 */
export async function bufferOutput<T>(fn: () => Promise<T>): Promise<T> {
  if (!exitHooked) {
    exitHooked = true;
    // process.exit() (a signal, the last-resort handler) must not lose queued lines: pipes and files are written
    // synchronously on Linux and macOS, so this still reaches them.
    process.on("exit", flushPending);
    // The last-resort handler's line (an internal error) must come after the lines queued before it.
    beforeLastResort(flushPending);
  }
  buffering++;
  try {
    return await fn();
  } finally {
    buffering--;
    flushPending();
  }
}

export function consoleIo(opts: { noColor?: boolean; debug?: boolean }): Io {
  const color = !opts.noColor && !process.env.NO_COLOR && process.stderr.isTTY === true && process.env.TERM !== "dumb";
  return {
    out: (line) => {
      if (!ended) write(process.stdout, `${redact(line)}\n`);
    },
    err: (line) => {
      if (!ended) write(process.stderr, `${redact(line)}\n`);
    },
    color,
    debug: opts.debug ?? false,
  };
}

/**
 * The run has said its last word (src/cli/main.ts, after the command returned and its error, if any, was
 * reported): every console Io drops further lines. What is still under way then (a request of another
 * cluster waiting to be retried) must not print after the final error.
 */
export function endOutput(): void {
  ended = true;
}

/** Resolves once everything written to stdout and stderr so far has been handed to the OS. */
export async function flushOutput(): Promise<void> {
  flushPending();
  const drained = Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => (s.writableLength === 0 || s.destroyed ? resolve() : s.write("", () => resolve())))));
  // A reader that never reads (a stuck pipe) must not keep the process forever.
  await Promise.race([drained, new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]);
}

export function paint(io: Io, code: number, s: string): string {
  return io.color ? `\u001b[${code}m${s}\u001b[0m` : s;
}

/**
 * The one top-level handler (STYLE.md section 4): user mistakes print message and hint (no stack) and
 * exit 3; remote failures 1; authentication 4; anything else is a bug: stack and exit 70.
 */
export function reportError(io: Io, err: unknown): number {
  return reportErrorInfo(io, describeError(err, io.debug));
}

/** An error as the engine describes it (src/engine/errors.ts), printed as reportError prints it; returns its exit code. */
export function reportErrorInfo(io: Io, e: ErrorInfo): number {
  if (e.problems) {
    for (const p of e.problems) {
      const [head, ...rest] = formatProblem(p).split("\n");
      io.err(`${paint(io, 31, "error")} ${head}`);
      for (const r of rest) io.err(paint(io, 2, r));
    }
    io.err(`${e.problems.length} problem${e.problems.length === 1 ? "" : "s"} found; nothing was changed.`);
    return e.exitCode;
  }
  if (!e.internal) {
    io.err(`${paint(io, 31, "error")} ${e.message}`);
    if (e.hint) io.err(paint(io, 2, `  hint: ${e.hint}`));
    if (io.debug && e.stack) io.err(e.stack);
    return e.exitCode;
  }
  io.err(`${paint(io, 31, "internal error")} ${e.message}`);
  io.err(e.stack ?? "");
  io.err("This is a bug in homelab. Please report it with the command you ran and the output above (secrets are redacted).");
  return e.exitCode;
}

/** validate's warnings (located, with a hint): `warning FILE:L:C: path: message` and the hint; a JSON event with --json. */
export function printConfigWarnings(io: Io, json: boolean, warnings: readonly ConfigProblem[]): void {
  for (const p of warnings) {
    if (json) {
      io.out(JSON.stringify({ event: "warning", message: formatProblem({ ...p, hint: undefined }), ...(p.hint ? { hint: p.hint } : {}) }));
      continue;
    }
    const [head, ...rest] = formatProblem(p).split("\n");
    io.err(`warning ${head}`);
    for (const r of rest) io.err(r);
  }
}
