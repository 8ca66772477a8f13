import { DRAIN_MS, type ConvergeResult, type EventSink } from "../../engine/converge.js";
import type { Io } from "../output.js";
import { exitSoon, installSignalHandlers, onInterrupt, setInterruptNote } from "../signals.js";
import { runView, type RunViewOptions } from "./run-view.js";

/**
 * A converge run as the CLI shows it (`apply`, `plan`, `demo`): `start` runs it through the engine (directly, or the
 * programmatic API) with the view's event sink and an AbortSignal; this renders its events (run-view.ts) and wires
 * the process signals to the run, the engine itself handling none:
 * - before the changes are applied, SIGINT/SIGTERM exit at once with `interrupted by SIGINT; nothing was changed`
 *   (src/cli/signals.ts);
 * - while they are applied, the first signal aborts the run (reason: the signal's name): no new change starts, the
 *   ones in flight get DRAIN_MS, the summary says what was not attempted, exit 130/143; a second one exits at once;
 * - afterwards, a signal exits at once, saying the changes reported were made.
 * Returns the run's exit code.
 */
export async function convergeWithView(io: Io, opts: RunViewOptions, start: (onEvent: EventSink, signal: AbortSignal) => Promise<ConvergeResult>): Promise<number> {
  installSignalHandlers((line) => io.err(line));
  setInterruptNote("; nothing was changed");
  const abort = new AbortController();
  let off = () => {};
  const view = runView(io, opts, {
    onApplyStarted: () => {
      off = onInterrupt((sig) => {
        io.err(`interrupted by ${sig}: starting no new changes; waiting up to ${DRAIN_MS / 1000} s for the ${view.inFlight()} in flight (press Ctrl-C again to stop at once)`);
        abort.abort(sig);
      });
    },
    onApplyDone: () => {
      off();
      setInterruptNote("; the changes reported above were made");
    },
  });
  try {
    const result = await start(view.onEvent, abort.signal);
    // An interrupted run ends even if a request it stopped waiting for still holds a connection open.
    if (result.interrupted !== undefined) exitSoon(result.exitCode);
    return result.exitCode;
  } finally {
    off();
  }
}
