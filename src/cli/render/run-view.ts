import type { ErrorInfo } from "../../engine/errors.js";
import type { ChangeEvent, ExpiringSecret, PlanEvent, RunEvent, SummaryEvent, WaitEvent } from "../../engine/events.js";
import type { EventSink } from "../../engine/converge.js";
import { EXPIRY_WARNING_DAYS } from "../../engine/summary.js";
import { reportErrorInfo, type Io } from "../output.js";
import { runSteps, type StepTask } from "../progress.js";
import { renderPlan, summaryLine } from "./diff.js";

export interface RunViewOptions {
  /** JSON lines on stdout (`--json`): plan, change, summary and warning events; no progress. */
  json: boolean;
  /** No progress, and nothing at all when nothing changed (cron mails only what matters). */
  quiet: boolean;
  /** The run only plans: the diff is shown only with `diff` (else its summary line). */
  check: boolean;
  diff: boolean;
}

/** The apply step while it runs: its task, its end, the changes settled (`count`) and being made (`inFlight`). */
interface ApplyState {
  task?: StepTask;
  done: Deferred<void>;
  steps: Promise<void>;
  total: number;
  count: number;
  inFlight: number;
  outcomes: ChangeEvent[];
}

/** Told when the apply phase starts (after its step is on screen) and ends (after its step's last line). */
export interface RunViewHooks {
  onApplyStarted?(): void;
  onApplyDone?(): void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}

/** A promise and its resolve, made before whoever awaits it exists. */
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The CLI's view of a converge run, made only from its events (src/engine/events.ts): the progress steps on stderr
 * (listr2 on a terminal, plain `❯`/`✔`/`✖` lines otherwise, src/cli/progress.ts), one line per change, the diff and
 * the summary on stdout; or, with `json`, the JSON lines. `inFlight` is how many changes are being made now (for
 * the interrupt message).
 */
export function runView(io: Io, opts: RunViewOptions, hooks: RunViewHooks = {}): { onEvent: EventSink; inFlight(): number } {
  const emitJson = (event: Record<string, unknown>) => io.out(JSON.stringify(event));
  const quietSteps = opts.json || opts.quiet;
  const tty = () => process.stderr.isTTY === true;
  // Slow requests: the engine numbers them, the step's wait display keys them by object.
  const waitKeys = new Map<number, object>();
  const keyOf = (id: number) => waitKeys.get(id) ?? (waitKeys.set(id, {}), waitKeys.get(id)!);
  const forward = (task: StepTask | undefined, e: WaitEvent) => {
    if (!task || e.id === undefined) return;
    const key = keyOf(e.id);
    task.wait(e.message, key);
    if (e.message === undefined) waitKeys.delete(e.id);
  };

  // The read phase: one step per target, each finished by its read-finished or read-failed event.
  /** Per target: its step's task once it runs, when it began, and the read's end (its request count; undefined: failed). */
  const reads = new Map<string, { task?: StepTask; begun: Deferred<void>; done: Deferred<number | undefined> }>();
  let readSteps: Promise<void> = Promise.resolve();
  // The apply phase.
  let apply: ApplyState | undefined;
  const waitsShown = new Set<string>();
  /** Targets that stopped (in the order their first halting failure was reported), with that failure. */
  const stopped = new Map<string, ChangeEvent>();

  const onEvent: EventSink = (e: RunEvent) => {
    switch (e.type) {
      case "warning":
        // With --json every warning is an event (config, lock, connect and plan alike), so a CI job reads them all in one place.
        if (opts.json) emitJson({ event: "warning", message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
        else io.err(`warning: ${e.message}`);
        return;
      case "debug":
        io.err(`debug ${e.message}`);
        return;
      case "read-started": {
        for (const t of e.targets) reads.set(t, { begun: deferred(), done: deferred() });
        readSteps = runSteps(
          io,
          e.targets.map((t) => ({
            title: `read ${t}`,
            run: async (task) => {
              const read = reads.get(t)!;
              read.task = task;
              read.begun.resolve();
              const requests = await read.done.promise;
              // Marks the step failed in the progress view; the errors themselves are reported after it.
              if (requests === undefined) throw new Error("the error is shown below");
              task.setTitle(`read ${t}: ${requests} requests`);
            },
          })),
          { json: quietSteps, concurrent: true },
        );
        // The reads go on once every step is on screen (listr2 is loaded first on a terminal).
        return Promise.all([...reads.values()].map((r) => r.begun.promise)).then(() => undefined);
      }
      case "read-finished":
        reads.get(e.target)?.done.resolve(e.requests);
        return;
      case "read-failed":
        reads.get(e.target)?.done.resolve(undefined);
        return;
      case "reads-done":
        return readSteps;
      case "wait":
        if (e.kind === "request") forward(e.phase === "read" ? reads.get(e.target ?? "")?.task : apply?.task, e);
        else if (e.phase === "read") {
          if (io.debug) io.err(`debug wait ${e.target}: ${e.message}`);
        } else if (apply?.task && e.message !== undefined && !quietSteps) {
          // Waits for Entra to show a new object (replication lag) show on the progress line; plain output (cron, CI)
          // gets the first message of each wait only, not one every half second.
          if (tty()) apply.task.setTitle(`apply ${apply.count}/${apply.total}: ${e.message}`);
          else {
            const what = e.message.replace(/: \d+ s$/, "");
            if (!waitsShown.has(what)) io.err(e.message);
            waitsShown.add(what);
          }
        }
        return;
      case "plan":
        showPlan(io, opts, e);
        return;
      case "apply-started":
        return startApply(e.total);
      case "change-started":
        if (apply) apply.inFlight += e.addresses.length;
        return;
      case "change":
        if (apply) showChange(apply, e);
        return;
      case "apply-done":
        if (!apply) return;
        apply.done.resolve();
        return apply.steps.then(() => hooks.onApplyDone?.());
      case "summary":
        showSummary(e);
        return;
      case "failed":
        for (const f of e.failures) reportErrorInfo(io, f.error);
        return;
    }
  };

  function startApply(total: number): Promise<void> {
    const begun = deferred();
    const state: ApplyState = { done: deferred(), steps: Promise.resolve(), total, count: 0, inFlight: 0, outcomes: [] };
    apply = state;
    hooks.onApplyStarted?.();
    state.steps = runSteps(
      io,
      [
        {
          title: `apply ${total} change${total === 1 ? "" : "s"}`,
          run: async (task) => {
            state.task = task;
            begun.resolve();
            await state.done.promise;
            // Not "✔ apply 9/9" when some of the 9 failed or were skipped: ✖ and the counts.
            const summary = applySummary(state.outcomes, total);
            if (summary) {
              task.setTitle(`apply ${total} change${total === 1 ? "" : "s"}`);
              task.fail(summary);
            }
          },
        },
      ],
      { json: quietSteps },
    );
    return begun.promise;
  }

  function showChange(state: ApplyState, o: ChangeEvent): void {
    state.count++;
    if (o.status !== "skipped") state.inFlight--;
    state.outcomes.push(o);
    state.task?.setTitle(`apply ${state.count}/${state.total}`);
    if (opts.json) {
      emitJson({ event: "change", address: o.address, action: o.action, status: o.status, ...(o.ms !== undefined ? { ms: o.ms } : {}), ...(o.error ? { error: jsonError(o.error) } : {}), ...(o.because ? { because: o.because } : {}), ...(o.halted ? { halted: true } : {}), ...(o.adopted ? { adopted: true } : {}), ...(o.interrupted ? { interrupted: true } : {}) });
      return;
    }
    if (o.interrupted && o.status === "skipped") return; // listed in the summary
    // After a target stops, its failures and skips are counted in the summary, not listed: one cause, one count.
    if (stopped.has(o.target)) {
      if (o.status !== "ok") return;
    } else if (o.stopsTarget) stopped.set(o.target, o);
    const line = outcomeLine(o);
    if (tty()) state.task?.report(line);
    else io.err(line); // one plain line per change for cron mails and CI logs
  }

  function showSummary(s: SummaryEvent): void {
    if (!s.applied) {
      if (opts.json) emitJson({ event: "summary", check: s.check, changes: s.changes, expiringSecrets: s.expiringSecrets, exitCode: s.exitCode });
      else printExpiring(io, s.expiringSecrets);
      return;
    }
    const n = s.counts!;
    if (opts.json) {
      const stops = s.stopped.map((x) => ({ target: x.target, address: x.address, error: jsonError(x.error), notAttempted: x.notAttempted }));
      emitJson({
        event: "summary", created: n.created, adopted: n.adopted, updated: n.updated, replaced: n.replaced, deleted: n.deleted, failed: n.failed, skipped: n.skipped,
        ...(stops.length ? { stopped: stops } : {}),
        ...(s.interrupted !== undefined ? { interrupted: s.interrupted, notAttempted: s.notAttempted } : {}),
        expiringSecrets: s.expiringSecrets, exitCode: s.exitCode,
      });
      return;
    }
    const failed = s.outcomes.filter((o) => o.status === "failed");
    const notAttempted = (t: string) => s.outcomes.filter((o) => o.target === t && o.status === "skipped").length;
    if (failed.length > 0) {
      io.out("");
      for (const o of failed) {
        const first = stopped.get(o.target);
        if (first && first.address !== o.address && o.stopsTarget) continue; // reported once, below
        io.out(`FAILED ${o.address}: ${o.error!.message}`);
        if (o.error!.hint) io.out(`  hint: ${o.error!.hint}`);
      }
      for (const [target, first] of stopped) {
        const same = failed.filter((o) => o.target === target && o.address !== first.address && o.stopsTarget).length;
        const left = notAttempted(target);
        io.out(`${target}: stopped after this failure: ${left} change${left === 1 ? "" : "s"} not attempted${same ? `, ${same} more already under way failed the same way` : ""}; run homelab again once it is reachable`);
      }
    }
    io.out(`Apply: ${n.created} created${n.adopted ? ` (${n.adopted} of them adopted: found already there)` : ""}, ${n.updated} updated, ${n.replaced} replaced, ${n.deleted} deleted${n.failed ? `, ${n.failed} failed` : ""}${n.skipped ? `, ${n.skipped} skipped` : ""}${n.notAttempted ? `, ${n.notAttempted} not attempted` : ""}.`);
    if (s.interrupted !== undefined) {
      const ok = s.outcomes.filter((o) => o.status === "ok").length;
      const unknown = failed.filter((o) => o.interrupted).length;
      for (const line of interruptReport(s.interrupted, ok, unknown, s.outcomes.filter((o) => o.status === "skipped" && o.interrupted))) io.out(line);
    }
    printExpiring(io, s.expiringSecrets);
  }

  return { onEvent, inFlight: () => apply?.inFlight ?? 0 };
}

/** The plan: JSON; nothing (quiet, no changes); the diff (plan, apply, or no changes); or only its summary line (`--check`). */
function showPlan(io: Io, opts: RunViewOptions, e: PlanEvent): void {
  const plan = { changes: e.changes, unchanged: e.unchanged, warnings: [] };
  if (opts.json) io.out(JSON.stringify({ event: "plan", changes: e.changes, unchanged: e.unchanged, summary: e.summary }));
  else if (opts.quiet && e.changes.length === 0) {
    // Nothing to say.
  } else if (opts.diff || !opts.check || e.changes.length === 0) for (const l of renderPlan(plan, { color: io.color }, e.clusters)) io.out(l);
  else io.out(summaryLine(plan));
}

/** An error as the JSON events have always shown it: code, message and hint. */
function jsonError(e: ErrorInfo): { code: string; message: string; hint?: string } {
  return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
}

/** "7 done, 1 failed, 1 skipped" when a change did not go through (failed, skipped or never run); undefined when all did. */
export function applySummary(outcomes: Pick<ChangeEvent, "status" | "interrupted">[], total: number): string | undefined {
  const count = (s: ChangeEvent["status"]) => outcomes.filter((o) => o.status === s && !(s === "skipped" && o.interrupted)).length;
  const [done, failed, skipped] = [count("ok"), count("failed"), count("skipped")];
  const interrupted = outcomes.filter((o) => o.status === "skipped" && o.interrupted).length;
  const notRun = total - done - failed - skipped - interrupted;
  if (failed === 0 && skipped === 0 && interrupted === 0 && notRun <= 0) return undefined;
  return [`${done} done`, `${failed} failed`, `${skipped} skipped`, ...(interrupted > 0 ? [`${interrupted} not attempted (interrupted)`] : []), ...(notRun > 0 ? [`${notRun} not run`] : [])].join(", ");
}

function outcomeLine(o: ChangeEvent): string {
  const verb = { create: "created", update: "updated", replace: "replaced", delete: "deleted" }[o.action];
  if (o.status === "ok") return `${o.adopted ? "adopted" : verb} ${o.address}`;
  if (o.status === "skipped") return `skipped ${o.address} (depends on failed ${o.because})`;
  return `FAILED ${o.action} ${o.address}: ${o.error!.message}`;
}

function printExpiring(io: Io, secrets: readonly ExpiringSecret[]): void {
  if (secrets.length === 0) return;
  io.out(`Client secrets expiring within ${EXPIRY_WARNING_DAYS} days:`);
  const what = { none: "not renewed (it is renewed once within renewBeforeDays)", planned: "renewal planned", done: "renewed by this run", failed: "renewal FAILED" };
  for (const s of secrets) {
    const when = s.daysLeft < 0 ? `expired ${-s.daysLeft} days ago` : `${s.daysLeft} days left`;
    io.out(`  ${s.address}: ${s.endDateTime.slice(0, 10)} (${when}), ${what[s.renewal]}`);
  }
}

/** At most this many not-attempted changes are listed by address (the JSON summary lists all). */
const NOT_ATTEMPTED_SHOWN = 50;

/** What an interrupted apply says after its summary line: what was done, what is unknown, and which changes were not attempted. */
export function interruptReport(signal: string, done: number, unknown: number, notRun: readonly Pick<ChangeEvent, "address">[]): string[] {
  const s = (k: number) => (k === 1 ? "" : "s");
  const lines = [
    `Interrupted by ${signal}: ${done} change${s(done)} made${unknown ? `, ${unknown} still in flight when homelab stopped waiting (unknown whether made)` : ""}, ${notRun.length} not attempted${notRun.length ? ":" : "."}`,
  ];
  for (const o of notRun.slice(0, NOT_ATTEMPTED_SHOWN)) lines.push(`  ${o.address}`);
  if (notRun.length > NOT_ATTEMPTED_SHOWN) lines.push(`  ... and ${notRun.length - NOT_ATTEMPTED_SHOWN} more (--json lists them all)`);
  if (notRun.length || unknown) lines.push("Run homelab apply again to converge the rest.");
  return lines;
}
