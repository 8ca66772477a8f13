import { Listr, ListrLogger, ProcessOutput } from "listr2";
import type { Io } from "./output.js";

export interface Step {
  title: string;
  /** `report(line)` prints one progress line (one per change in a non-TTY run, for cron mails). */
  run(task: { setTitle(t: string): void; report(line: string): void }): Promise<void>;
}

/**
 * Progress on stderr through listr2: the default renderer on a terminal, plain lines otherwise (cron,
 * CI), nothing with --json. listr2 is only the view: steps never throw into it (failures are reported
 * by the caller), so it never prints an error of its own.
 */
export async function runSteps(io: Io, steps: Step[], opts: { json: boolean; concurrent?: boolean }): Promise<void> {
  const tty = process.stderr.isTTY === true && !process.env.CI;
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) });
  const list = new Listr(
    steps.map((s) => ({
      title: s.title,
      task: async (_ctx: unknown, task: { title: string; output: string }) => {
        await s.run({
          setTitle: (t) => {
            task.title = t;
          },
          report: (line) => {
            task.output = line;
          },
        });
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
