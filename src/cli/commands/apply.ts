import { buildDesired } from "../../config/desired.js";
import { loadValidConfig } from "../../config/resolve.js";
import type { DesiredState } from "../../core/desired.js";
import { converge as run } from "../../engine/converge.js";
import { printConfigWarnings, type Io } from "../output.js";
import { convergeWithView } from "../render/cli-run.js";

export interface ApplyOptions {
  file: string;
  rotateSecrets: boolean;
  check: boolean;
  diff: boolean;
  detailedExitcode: boolean;
  json: boolean;
  /** No progress, and no output at all when nothing changed (cron mails only what matters). */
  quiet?: boolean;
  targets: string[];
  concurrency: number;
  lockWaitMs: number;
}

/**
 * `homelab apply` (and `plan` = apply --check --diff): load → validate → the engine's converge run (read every API →
 * plan → unless --check, apply) → its events rendered (src/cli/render/run-view.ts) → exit code.
 */
export async function applyCommand(io: Io, opts: ApplyOptions): Promise<number> {
  const { config, loaded, warnings } = loadValidConfig(opts.file);
  // What validate warns about (a config that works but will not do what it seems to), on every run.
  printConfigWarnings(io, opts.json, warnings);
  return converge(io, buildDesired(config, loaded.baseDir([])), opts);
}

/**
 * Read, plan, print, and unless `check`, apply: the run behind `apply` and `plan` (and the tests that run it
 * in-process). The engine runs it (src/engine/converge.ts); convergeWithView renders its events and wires the signals.
 */
export async function converge(io: Io, desired: DesiredState, opts: ApplyOptions): Promise<number> {
  return convergeWithView(io, { json: opts.json, quiet: opts.quiet ?? false, check: opts.check, diff: opts.diff }, (onEvent, signal) =>
    run(
      desired,
      {
        check: opts.check,
        targets: opts.targets,
        rotateSecrets: opts.rotateSecrets,
        concurrency: opts.concurrency,
        detailedExitcode: opts.detailedExitcode,
        lockWaitMs: opts.lockWaitMs,
        lockFile: opts.file,
        signal,
        debug: io.debug,
      },
      onEvent,
    ),
  );
}
