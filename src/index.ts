/**
 * homelab's programmatic API: `import { plan, apply } from "homelab"`. The same run as `homelab plan` / `homelab
 * apply` (src/engine/converge.ts), headless: it prints nothing, installs no process signal handler and never exits;
 * it reports as it goes through `onEvent` (typed events, src/engine/events.ts) and resolves to a typed result.
 * Secrets never appear in events or results: every message is redacted and sensitive plan fields read "(sensitive)".
 *
 * ```ts
 * import { apply, plan } from "homelab";
 * const p = await plan({ file: "homelab.yaml" });
 * console.log(p.plan?.summary);            // { create: 3, update: 0, replace: 0, delete: 0 }
 * const r = await apply({ file: "homelab.yaml", onEvent: (e) => { if (e.type === "change") console.log(e.status, e.address); } });
 * process.exitCode = r.exitCode;           // 0 ok, 1 a change failed, 4 authentication, 130 aborted, ...
 * ```
 */
import { buildDesired } from "./config/desired.js";
import { loadValidConfig, validateText } from "./config/resolve.js";
import type { DesiredState } from "./core/desired.js";
import { formatProblem, HomelabError, type ConfigProblem } from "./core/errors.js";
import { converge, type ConvergeResult, type EventSink } from "./engine/converge.js";
import type { RunEvent } from "./engine/events.js";
import { redact } from "./log/redact.js";

export type { ConvergeResult as RunResult, EventSink } from "./engine/converge.js";
export type {
  ApplyCounts, ApplyDoneEvent, ApplyStartedEvent, ChangeEvent, ChangeStartedEvent, DebugEvent, ExpiringSecret, FailedEvent, PlanEvent, ReadFailedEvent,
  ReadFinishedEvent, ReadStartedEvent, ReadsDoneEvent, RunEvent, StopInfo, SummaryEvent, TargetFailure, WaitEvent, WarningEvent,
} from "./engine/events.js";
export type { ErrorInfo } from "./engine/errors.js";
export type { Change, FieldDiff, PlanCounts, Action } from "./core/plan.js";
export type { DesiredState } from "./core/desired.js";
export type { ConfigProblem } from "./core/errors.js";
export { ExitCode, HomelabError, ConfigError, UserError, RemoteError, AuthError } from "./core/errors.js";

/** Where the configuration comes from: exactly one of these. */
export interface ConfigInput {
  /** A homelab.yaml, or a directory of YAML files (merged in name order), as `homelab -f`. */
  file?: string;
  /** The configuration as YAML text; relative `${file:...}` references resolve against the current directory. */
  text?: string;
  /** A desired state already built (src/config/desired.ts buildDesired), e.g. one pointed at simulators. */
  desired?: DesiredState;
}

export interface PlanOptions extends ConfigInput {
  /** Keep only the changes whose address equals or starts with one of these, plus what they depend on (`--target`). */
  targets?: readonly string[];
  /** Plan a renewal of every homelab client secret (`--rotate-secrets`). */
  rotateSecrets?: boolean;
  /** Every event of the run, in order (see RunEvent). May return a promise at phase boundaries: the run waits for it. */
  onEvent?: (event: RunEvent) => void | Promise<void>;
  /** `debug` events: retried requests, and every request made, at the end. */
  debug?: boolean;
  /** Exit code 2 instead of 0 when there are (or were) changes (`--detailed-exitcode`). */
  detailedExitcode?: boolean;
}

export interface ApplyOptions extends PlanOptions {
  /** Changes applied at once (default 4, as `--concurrency`). */
  concurrency?: number;
  /** How long to wait for another run's lock on a cluster or tenant (default 10 s); then the run rejects with E_LOCKED. */
  lockWaitMs?: number;
  /** Where the lock files live (default $HOMELAB_LOCK_DIR, else the temp directory): the same locks as the CLI's. */
  lockDir?: string;
  /**
   * Stop the apply: no new change starts, the ones in flight get `drainMs` (default 10 s), the rest are reported as not
   * attempted (`interrupted` outcomes, `result.notAttempted`), exit code 130 (143 when the reason is "SIGTERM").
   */
  signal?: AbortSignal;
  drainMs?: number;
}

/**
 * Read every cluster and tenant and plan, writing nothing and taking no lock (`homelab plan`). Resolves to the plan
 * (`result.plan`), or, when a target could not be reached, `result.failures`. Rejects with a HomelabError when the
 * run cannot start: a ConfigError (every problem, located), a plan a safety review refuses (UserError).
 */
export async function plan(opts: PlanOptions): Promise<ConvergeResult> {
  return run(opts, true);
}

/**
 * Plan, then apply the plan (`homelab apply`): every change as a task graph, under the same per-cluster and per-tenant
 * locks as the CLI. Resolves to the outcomes (`result.outcomes`, `result.counts`) and an exit code as the CLI's;
 * rejects as `plan` does, and with E_LOCKED when another run holds a lock past `lockWaitMs`.
 */
export async function apply(opts: ApplyOptions): Promise<ConvergeResult> {
  return run(opts, false);
}

async function run(opts: ApplyOptions, check: boolean): Promise<ConvergeResult> {
  const emit: EventSink = opts.onEvent ?? (() => {});
  try {
    const { desired, warnings, file } = load(opts);
    for (const w of warnings) void emit({ type: "warning", message: formatProblem({ ...w, hint: undefined }), ...(w.hint ? { hint: w.hint } : {}), source: "config" });
    const result = await converge(
      desired,
      {
        check,
        ...(opts.targets ? { targets: opts.targets } : {}),
        ...(opts.rotateSecrets !== undefined ? { rotateSecrets: opts.rotateSecrets } : {}),
        ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        ...(opts.detailedExitcode !== undefined ? { detailedExitcode: opts.detailedExitcode } : {}),
        ...(opts.lockWaitMs !== undefined ? { lockWaitMs: opts.lockWaitMs } : {}),
        ...(opts.lockDir !== undefined ? { lockDir: opts.lockDir } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.drainMs !== undefined ? { drainMs: opts.drainMs } : {}),
        ...(opts.debug !== undefined ? { debug: opts.debug } : {}),
        lockFile: file,
      },
      emit,
    );
    return { ...result, warnings: [...warnings.map((w) => formatProblem({ ...w, hint: undefined })), ...result.warnings] };
  } catch (err) {
    throw scrubbed(err);
  }
}

/** The desired state, the config's warnings, and the name the locks show for it. */
function load(opts: ConfigInput): { desired: DesiredState; warnings: ConfigProblem[]; file: string } {
  const given = [opts.file, opts.text, opts.desired].filter((x) => x !== undefined).length;
  if (given !== 1) throw new HomelabError("E_ARGS", "give exactly one of file, text or desired", { hint: "plan({ file: 'homelab.yaml' })" });
  if (opts.desired) return { desired: opts.desired, warnings: [], file: "(programmatic)" };
  const { config, loaded, warnings } = opts.file !== undefined ? loadValidConfig(opts.file) : validateText(opts.text!);
  return { desired: buildDesired(config, loaded.baseDir([])), warnings: warnings.map(redactProblem), file: opts.file ?? "(text)" };
}

function redactProblem(p: ConfigProblem): ConfigProblem {
  return { ...p, message: redact(p.message), ...(p.hint !== undefined ? { hint: redact(p.hint) } : {}) };
}

/** A rejection's message and hint, redacted like everything else that leaves homelab (the CLI redacts when it prints). */
function scrubbed(err: unknown): unknown {
  if (err instanceof Error) {
    Object.defineProperty(err, "message", { value: redact(err.message), configurable: true, writable: true });
    if (err instanceof HomelabError && err.hint !== undefined) Object.defineProperty(err, "hint", { value: redact(err.hint), configurable: true, writable: true });
  }
  return err;
}
