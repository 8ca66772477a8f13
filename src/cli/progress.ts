import { Listr, ListrLogger, ProcessOutput } from "listr2";
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
 * Progress on stderr through listr2: the default renderer on a terminal, plain lines otherwise (cron,
 * CI), nothing with --json. listr2 is only the view: a failed step (task.fail, or a throw) is marked ✖
 * with a one-line summary, and the caller reports the failures themselves once, after it.
 */
export async function runSteps(io: Io, steps: Step[], opts: { json: boolean; concurrent?: boolean }): Promise<void> {
  const tty = process.stderr.isTTY === true && !process.env.CI;
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) });
  const list = new Listr(
    steps.map((s) => ({
      title: s.title,
      task: async (_ctx: unknown, task: { title: string; output: string }) => {
        let failed: string | undefined;
        try {
          await s.run({
            setTitle: (t) => {
              task.title = t;
            },
            report: (line) => {
              task.output = line;
            },
            fail: (summary) => {
              failed = summary;
            },
          });
        } catch (err) {
          failed = err instanceof Error ? err.message : String(err);
        }
        // listr2 marks a step failed only when it throws; the terminal view shows the error's message in place of
        // the title, the plain one appends it to the title.
        if (failed !== undefined) throw new Error(failureMessage(task.title, failed, tty));
      },
    })),
    {
      concurrent: opts.concurrent ?? false,
      exitOnError: false,
      renderer: opts.json ? "silent" : "default",
      fallbackRenderer: opts.json ? "silent" : "simple",
      fallbackRendererCondition: !tty,
      rendererOptions: { logger, collapseSubtasks: false, outputBar: 1, persistentOutput: false },
      fallbackRendererOptions: { logger, timestamp: undefined },
      collectErrors: false,
    } as never,
  );
  void io;
  await list.run();
}
