/**
 * SIGINT and SIGTERM (issue 10 item 5). homelab exits 130 after SIGINT and 143 after SIGTERM (128 + the signal
 * number, what a shell reports for a process killed by it), with one line saying so and no stack trace. Lock files
 * are released on the way out: they are removed by a synchronous process "exit" listener (lock.ts), which
 * process.exit() runs.
 *
 * - By default (reading, planning, validate, verify, ...) the first signal prints `interrupted by SIGINT` (plus what
 *   the run says about its phase, see `setInterruptNote`) and exits at once.
 * - While a command handles interrupts itself (`onInterrupt`: apply's change phase, which stops starting changes and
 *   lets the ones in flight finish), the first signal goes to it instead.
 * - A second signal, whatever the phase, exits at once.
 */

export type StopSignal = "SIGINT" | "SIGTERM";

/** 128 + the signal number. */
export const SIGNAL_EXIT_CODE: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

type Handler = (signal: StopSignal) => void;

let installed = false;
let say: (line: string) => void = (line) => void process.stderr.write(`${line}\n`);
let received: StopSignal | undefined;
let note = "";
const handlers: Handler[] = [];

/** The first stop signal received, if any. */
export function interrupted(): StopSignal | undefined {
  return received;
}

/** What the one-line message adds after `interrupted by SIGINT` while no handler is set, e.g. `; nothing was changed`. */
export function setInterruptNote(text: string): void {
  note = text;
}

/** Take over SIGINT and SIGTERM for this process (idempotent). `out` prints one line on stderr. */
export function installSignalHandlers(out?: (line: string) => void): void {
  if (out) say = out;
  if (installed) return;
  installed = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => onSignal(sig));
}

function onSignal(sig: StopSignal): void {
  const first = received === undefined;
  received ??= sig;
  const handler = handlers.at(-1);
  if (first && handler) {
    handler(sig);
    return;
  }
  say(first ? `interrupted by ${sig}${note}` : `interrupted again (${sig}): exiting now; a change that was in flight may or may not have been made (run homelab again to converge)`);
  process.exit(SIGNAL_EXIT_CODE[sig]);
}

/**
 * Handle the first stop signal in `handler` until the returned function is called. Meanwhile, SIGINT/SIGTERM
 * listeners that others add are dropped: listr2's progress view (src/cli/progress.ts) adds one that exits 127 at
 * once, which would defeat the graceful stop. (Its option `registerSignalListeners: false` makes this moot.)
 */
export function onInterrupt(handler: Handler): () => void {
  handlers.push(handler);
  const guard = (event: string | symbol, listener: (...args: unknown[]) => void) => {
    if (event !== "SIGINT" && event !== "SIGTERM") return;
    // 'newListener' runs before the listener is added: drop it right after.
    queueMicrotask(() => process.removeListener(event, listener));
  };
  process.on("newListener", guard);
  return () => {
    const i = handlers.lastIndexOf(handler);
    if (i >= 0) handlers.splice(i, 1);
    process.removeListener("newListener", guard);
  };
}

/**
 * After an interrupted run has said what it did: make sure the process ends even if a request that was given up on
 * still holds a socket open. The timer does not itself keep the process alive.
 */
export function exitSoon(code: number, ms = 2000): void {
  setTimeout(() => process.exit(code), ms).unref();
}
