import { waitSubject, withWaitListener, type WaitListener } from "../providers/waits.js";
import type { Io } from "./output.js";

export interface StepTask {
  setTitle(t: string): void;
  /** Prints one progress line (one per change in a non-TTY run, for cron mails). */
  report(line: string): void;
  /**
   * Marks the step failed when it returns: ✖ instead of ✔, with `summary` (e.g. "7 done, 1 failed, 1 skipped")
   * after the title. The failures themselves are reported by the caller.
   */
  fail(summary: string): void;
  /** A slow request of this step (src/providers/waits.ts), for requests whose wait listener is not this step's (the engine's). */
  wait: WaitListener;
}

export interface Step {
  title: string;
  run(task: StepTask): Promise<void>;
}

/** How a failed step's line reads: `✖ <title>: <summary>` on a terminal, `✖ <title> [FAILED: <summary>]` in plain lines. */
export function failureMessage(title: string, summary: string, tty: boolean): string {
  return tty ? `${title}: ${summary}` : summary;
}

/**
 * How a step shows the requests it is waiting for (src/providers/waits.ts: `waiting for pve1 (https://…): 7 s`).
 * On a terminal the newest wait follows the step's title (`read pve1: waiting for pve1 (…): 7 s`) and goes
 * once no request waits any more; in plain lines (cron, CI) each wait is printed once, when it starts
 * being slow, not once a second: the same rule as the Entra lag waits of the apply step.
 */
export function waitDisplay(view: { tty: boolean; title: string; setTitle(t: string): void; print(line: string): void }): { listener: WaitListener; setTitle(t: string): void; end(): void } {
  let base = view.title;
  let ended = false;
  const waiting = new Map<object, string>();
  const printed = new Set<string>();
  const show = () => {
    const latest = [...waiting.values()].at(-1);
    view.setTitle(latest === undefined ? base : `${base}: ${latest}`);
  };
  return {
    listener: (message, key) => {
      if (ended) return;
      if (message === undefined) waiting.delete(key);
      else {
        // Re-inserted, so the wait that spoke last is the one shown.
        waiting.delete(key);
        waiting.set(key, message);
      }
      if (view.tty) show();
      else if (message !== undefined && !printed.has(waitSubject(message))) {
        printed.add(waitSubject(message));
        view.print(message);
      }
    },
    setTitle: (t) => {
      base = t;
      if (view.tty && !ended) show();
      else view.setTitle(t);
    },
    // The step is over: requests it left behind (one failed, its siblings are abandoned) no longer show.
    end: () => {
      if (ended) return;
      ended = true;
      waiting.clear();
      if (view.tty) view.setTitle(base);
    },
  };
}

/** One step's run, whatever shows it: its title (which the step may change), and why it failed, if it did. */
async function runStep(step: Step, view: { tty: boolean; json: boolean; title(): string; setTitle(t: string): void; print(line: string): void; output(line: string): void }): Promise<string | undefined> {
  let failed: string | undefined;
  const waits = waitDisplay({ tty: view.tty, title: view.title(), setTitle: view.setTitle, print: (line) => {
    if (!view.json) view.print(line);
  } });
  try {
    // Slow requests of this step (any depth) report to its line (src/providers/waits.ts).
    await withWaitListener(view.json ? () => {} : waits.listener, () => step.run({
      setTitle: waits.setTitle,
      report: view.output,
      fail: (summary) => {
        failed = summary;
      },
      wait: view.json ? () => {} : waits.listener,
    }));
  } catch (err) {
    failed = err instanceof Error ? err.message : String(err);
  }
  waits.end();
  return failed;
}

/**
 * Progress on stderr: listr2's default renderer on a terminal; otherwise (cron, CI) plain lines written here,
 * the same lines listr2's "simple" renderer wrote (`❯ title` when a step starts, `✔ title` when it is done,
 * `✖ title [FAILED: summary]`, `› line` for a step's output), so that listr2 is loaded only for a terminal
 * (issue 12: about 10 modules and their load time saved on every cron run); nothing with --json. listr2 is only
 * the view: a failed step (task.fail, or a throw) is marked ✖ with a one-line summary, and the caller reports
 * the failures themselves once, after it.
 */
export async function runSteps(io: Io, steps: Step[], opts: { json: boolean; concurrent?: boolean }): Promise<void> {
  const tty = process.stderr.isTTY === true && !process.env.CI;
  if (tty && !opts.json) return runListr(io, steps, opts.concurrent ?? false);
  const one = async (s: Step) => {
    let title = s.title;
    if (!opts.json) io.err(`❯ ${title}`);
    const failed = await runStep(s, {
      tty: false,
      json: opts.json,
      title: () => title,
      setTitle: (t) => {
        title = t;
      },
      print: (line) => io.err(line),
      output: (line) => {
        if (!opts.json) for (const l of line.split("\n")) if (l.trim() !== "") io.err(`› ${l}`);
      },
    });
    if (opts.json) return;
    io.err(failed === undefined ? `✔ ${title}` : `✖ ${title} [FAILED: ${failureMessage(title, failed, false)}]`);
  };
  if (opts.concurrent) await Promise.all(steps.map(one));
  else for (const s of steps) await one(s);
}

/** How often at most a step's title and output line reach listr2 on a terminal. */
export const VIEW_EVERY_MS = 100;

/**
 * A listr2 task's title and output line, handed to listr2 at most once per VIEW_EVERY_MS: listr2 redraws the
 * whole view on every change of either (about 1.4 ms each), which at 10,000 changes (two per change: the
 * `apply n/N` title and the change's line) was 28 s of a run. The newest values win; `end` hands over the last.
 */
export function throttledView(task: { title: string; output: string }, everyMs = VIEW_EVERY_MS): { title(): string; setTitle(t: string): void; output(line: string): void; end(): void } {
  let title: string | undefined;
  let output: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const push = () => {
    timer = undefined;
    if (title !== undefined && title !== task.title) task.title = title;
    if (output !== undefined) task.output = output;
    title = undefined;
    output = undefined;
  };
  const later = () => {
    timer ??= setTimeout(push, everyMs);
  };
  return {
    title: () => title ?? task.title,
    setTitle: (t) => {
      title = t;
      later();
    },
    output: (line) => {
      output = line;
      later();
    },
    end: () => {
      if (timer !== undefined) clearTimeout(timer);
      push();
    },
  };
}

/** The terminal view: listr2's default renderer, its output bar one line high whatever the number of changes. */
async function runListr(io: Io, steps: Step[], concurrent: boolean): Promise<void> {
  const { Listr, ListrLogger, ProcessOutput } = await import("listr2");
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) });
  const list = new Listr(
    steps.map((s) => ({
      title: s.title,
      task: async (_ctx: unknown, task: { title: string; output: string }) => {
        const view = throttledView(task);
        const failed = await runStep(s, {
          tty: true,
          json: false,
          title: view.title,
          setTitle: view.setTitle,
          print: (line) => io.err(line),
          output: view.output,
        });
        view.end();
        // listr2 marks a step failed only when it throws; the terminal view shows the error's message in place of
        // the title.
        if (failed !== undefined) throw new Error(failureMessage(task.title, failed, true));
      },
    })),
    {
      concurrent,
      exitOnError: false,
      renderer: "default",
      rendererOptions: { logger, collapseSubtasks: false, outputBar: 1, persistentOutput: false },
      collectErrors: false,
      // SIGINT/SIGTERM belong to src/cli/signals.ts (issue 10 item 5): listr2's own listener exits 127 at once.
      registerSignalListeners: false,
    } as never,
  );
  await list.run();
}
