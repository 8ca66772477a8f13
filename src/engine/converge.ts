import type { DesiredState } from "../core/desired.js";
import { ExitCode } from "../core/errors.js";
import { countActions, type Plan } from "../core/plan.js";
import { secretExpiries } from "../providers/entra/secret.js";
import type { ObservedTenant, TenantTarget } from "../providers/entra/target.js";
import { withWaitListener, type WaitListener } from "../providers/waits.js";
import { describeError } from "./errors.js";
import type { ApplyCounts, ChangeEvent, ExpiringSecret, PlanEvent, RunEvent, StopInfo, SummaryEvent, TargetFailure, WarningEvent } from "./events.js";
import type { Outcome } from "./execute.js";
import { acquireLocks } from "./lock.js";
import { createResolver } from "./resolver.js";
import { applyPlan, hasLateRead, LateReadFailures, planRead, readAll, type TargetSpec } from "./run.js";
import { abortName, applySummaryEvent, changeEvent, EXPIRY_WARNING_DAYS, expiryReport, halts } from "./summary.js";
import { connectAll, lockSubjects, ReadFailures, type Closable, type NamedError } from "./targets.js";

/**
 * Receives the run's events (events.ts). For the events that start or end a phase (`read-started`, `reads-done`,
 * `plan`, `apply-started`, `apply-done`, `summary`, `failed`) it may return a promise, and the run waits for it
 * before going on, so that a view can set up or finish drawing a phase. What it returns for other events is not
 * waited for (they come from deep inside the executor, one per change, and from timers).
 */
export type EventSink = (event: RunEvent) => void | Promise<void>;

export interface ConvergeOptions {
  /** Plan only: read and plan, write nothing, take no lock (and never wait for a running apply). */
  check?: boolean;
  /** Keep only the changes whose address equals or starts with one of these, plus what they depend on. */
  targets?: readonly string[];
  /** Renew every homelab client secret now. */
  rotateSecrets?: boolean;
  /** Changes applied at once (default 4). */
  concurrency?: number;
  /** Exit code 2 instead of 0 when the plan had changes (as `--detailed-exitcode`). */
  detailedExitcode?: boolean;
  /** How long to wait for another run's lock (default 10 s); the config file is named in the lock for the other run to see. */
  lockWaitMs?: number;
  lockFile?: string;
  /** Where lock files live (default $HOMELAB_LOCK_DIR, else the temp directory). */
  lockDir?: string;
  /**
   * Stop: no new change starts; the ones in flight get `drainMs` (default 10 s) to finish; the rest are reported not
   * attempted. The engine never handles process signals itself: the CLI aborts this on SIGINT/SIGTERM with the
   * signal's name as reason (which names the interruption and gives the exit code, 130 or 143).
   */
  signal?: AbortSignal;
  drainMs?: number;
  /** Emit `debug` events (retries, waits while reading, every request at the end) and stacks in errors. */
  debug?: boolean;
}

/** What a run ends with: the same facts as its last event, plus the plan and the warnings. */
export interface ConvergeResult {
  exitCode: number;
  /** Absent when a target could not be connected to or read. */
  plan?: Omit<PlanEvent, "type">;
  /** Changes were applied (not `check`, and the plan was not empty). */
  applied: boolean;
  outcomes: ChangeEvent[];
  /** What was done (all zero when nothing was applied). */
  counts: ApplyCounts;
  stopped: StopInfo[];
  interrupted?: string;
  notAttempted: string[];
  expiringSecrets: ExpiringSecret[];
  /** Every warning event's message, in order. */
  warnings: string[];
  /** Targets that could not be connected to or read (then nothing was planned). */
  failures: TargetFailure[];
}

/**
 * The converge run behind `apply`, `plan` and `demo`, headless: lock → connect → read → plan (pure) → unless `check`,
 * apply the plan as a task graph → summary. Everything it has to say goes to `emit` as events; it prints nothing,
 * handles no process signal, never exits. Throws (a HomelabError) when the run cannot start or is refused: a held lock
 * (E_LOCKED), a plan a review refuses (a UserError); a target that cannot be reached is a result, not a throw.
 */
export async function converge(desired: DesiredState, opts: ConvergeOptions, emit: EventSink = () => {}): Promise<ConvergeResult> {
  const debug = opts.debug ?? false;
  const warnings: string[] = [];
  const warn = (source: WarningEvent["source"]) => (message: string) => {
    warnings.push(message);
    void emit({ type: "warning", message, source });
  };
  let applying = false;
  const release = opts.check
    ? () => {}
    : await acquireLocks(lockSubjects(desired), { waitMs: opts.lockWaitMs ?? 10_000, file: opts.lockFile ?? "homelab.yaml", onWarning: warn("lock"), ...(opts.lockDir !== undefined ? { dir: opts.lockDir } : {}) });
  const clients: Closable[] = [];
  try {
    const { tenants, targets } = await connectAll(desired, {
      clients,
      resolver: createResolver(),
      rotateSecrets: opts.rotateSecrets ?? false,
      applying: !opts.check,
      warn: warn("connect"),
      retry: (line) => {
        if (debug) void emit({ type: "debug", message: `retry ${line}` });
      },
      wait: (target, message) => void emit({ type: "wait", kind: "replication", phase: applying ? "apply" : "read", target, message }),
    });
    const observed = await readTargets(targets, clients, emit);
    if (observed.failures.length > 0 || !observed.plan) throw new ReadFailures(observed.failures);

    const plan = selectTargets(observed.plan, opts.targets ?? []);
    for (const w of plan.warnings) warn("plan")(w);
    const planned: Omit<PlanEvent, "type"> = { changes: plan.changes, unchanged: plan.unchanged, summary: countActions(plan.changes), clusters: desired.clusters.map((c) => ({ name: c.name, url: c.url })) };
    await emit({ type: "plan", ...planned });

    const expiring = tenants
      .flatMap((t) => secretExpiries(t.target as TenantTarget, observed.values.get(t.name) as ObservedTenant))
      .filter((e) => e.daysLeft <= EXPIRY_WARNING_DAYS);
    if (opts.check || plan.changes.length === 0) {
      const exitCode = opts.detailedExitcode && plan.changes.length > 0 ? ExitCode.changes : ExitCode.ok;
      const summary: SummaryEvent = { type: "summary", check: opts.check ?? false, applied: false, changes: plan.changes.length, outcomes: [], stopped: [], notAttempted: [], expiringSecrets: expiryReport(expiring, plan, []), exitCode };
      await emit(summary);
      return result(summary, planned, warnings);
    }

    applying = true;
    const { outcomes, events } = await applyAll(targets, plan, opts, emit);
    const summary = applySummaryEvent(outcomes, events, {
      detailedExitcode: opts.detailedExitcode ?? false,
      interrupted: abortName(opts.signal),
      expiringSecrets: expiryReport(expiring, plan, outcomes),
      changes: plan.changes.length,
    });
    await emit(summary);
    return result(summary, planned, warnings);
  } catch (err) {
    if (!(err instanceof ReadFailures)) throw err;
    const failures = sortFailures(err.failures, debug);
    const exitCode = failures.reduce((code, f) => Math.max(code, f.error.exitCode), 0);
    await emit({ type: "failed", failures, exitCode });
    return { exitCode, applied: false, outcomes: [], counts: NO_COUNTS, stopped: [], notAttempted: [], expiringSecrets: [], warnings, failures };
  } finally {
    if (debug) for (const c of clients) for (const r of c.requestLog) void emit({ type: "debug", message: `${c.name} ${r.method} ${r.path} ${r.status ?? "-"} ${r.ms}ms` });
    for (const c of clients) c.close();
    release();
  }
}

const NO_COUNTS: ApplyCounts = Object.freeze({ created: 0, adopted: 0, updated: 0, replaced: 0, deleted: 0, failed: 0, skipped: 0, notAttempted: 0 });

function result(summary: SummaryEvent, plan: Omit<PlanEvent, "type">, warnings: string[]): ConvergeResult {
  const { exitCode, applied, outcomes, counts, stopped, interrupted, notAttempted, expiringSecrets } = summary;
  return { exitCode, plan, applied, outcomes, counts: counts ?? NO_COUNTS, stopped, ...(interrupted !== undefined ? { interrupted } : {}), notAttempted, expiringSecrets, warnings, failures: [] };
}

/**
 * Every target read at once; each read reports its slow requests as `wait` events under its name. Once all are read,
 * the plan is made (planRead): a provider may read more for what the first plan shows it needs (`readAfterPlan`: the
 * tenant's secret policies when a secret is added, its leavers' accounts once the clusters' users are known), so the
 * read of a target with such a provider finishes (`read-finished`, its request count including those reads, or
 * `read-failed`) only after that round. A plan that refuses is thrown once the read phase is closed (`reads-done`).
 */
async function readTargets(targets: readonly TargetSpec[], clients: readonly Closable[], emit: EventSink): Promise<{ values: Map<string, unknown>; failures: NamedError[]; plan?: Plan }> {
  const values = new Map<string, unknown>();
  const failures: NamedError[] = [];
  const finished = (t: TargetSpec) => void emit({ type: "read-finished", target: t.name, requests: clients.find((c) => c.name === t.name)?.requestLog.length ?? 0 });
  const failed = (t: string, err: unknown) => {
    failures.push({ name: t, error: err });
    void emit({ type: "read-failed", target: t, error: describeError(err) });
  };
  await emit({ type: "read-started", targets: targets.map((t) => t.name) });
  await Promise.all(
    targets.map(async (t) => {
      try {
        const o = await withWaitListener(waitEvents(emit, "read", t.name), () => readAll([t]));
        values.set(t.name, o.get(t.name));
        if (!hasLateRead(t)) finished(t);
      } catch (err) {
        failed(t.name, err);
      }
    }),
  );
  let plan: Plan | undefined;
  let refused: { error: unknown } | undefined;
  if (failures.length === 0) {
    try {
      plan = await planRead(targets, values, (t, read) => withWaitListener(waitEvents(emit, "read", t.name), read));
    } catch (err) {
      if (err instanceof LateReadFailures) for (const f of err.failures) failed(f.name, f.error);
      else refused = { error: err };
    }
  }
  for (const t of targets) if (hasLateRead(t) && values.has(t.name) && !failures.some((f) => f.name === t.name)) finished(t);
  await emit({ type: "reads-done", failed: failures.length });
  if (refused) throw refused.error;
  return { values, failures, ...(plan ? { plan } : {}) };
}

/** Slow requests (src/providers/waits.ts) as `wait` events; each request's key object becomes a number. */
function waitEvents(emit: EventSink, phase: "read" | "apply", target?: string): WaitListener {
  const ids = new WeakMap<object, number>();
  let next = 0;
  return (message, key) => {
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ++next));
    void emit({ type: "wait", kind: "request", phase, ...(target !== undefined ? { target } : {}), id, ...(message !== undefined ? { message } : {}) });
  };
}

async function applyAll(targets: readonly TargetSpec[], plan: Plan, opts: ConvergeOptions, emit: EventSink): Promise<{ outcomes: Outcome[]; events: ChangeEvent[] }> {
  const total = plan.changes.length;
  const byAddress = new Map<string, ChangeEvent>();
  await emit({ type: "apply-started", total });
  const outcomes = await withWaitListener(waitEvents(emit, "apply"), () =>
    applyPlan(targets, plan, {
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      halts,
      ...(opts.signal ? { signal: opts.signal } : {}),
      drainMs: opts.drainMs ?? DRAIN_MS,
      onStart: (changes) => void emit({ type: "change-started", addresses: changes.map((c) => c.address) }),
      onDone: (o) => {
        const e = changeEvent(o, opts.debug);
        byAddress.set(o.address, e);
        void emit(e);
      },
    }),
  );
  await emit({ type: "apply-done", total });
  return { outcomes, events: outcomes.map((o) => byAddress.get(o.address) ?? changeEvent(o, opts.debug)) };
}

/** How long an aborted apply waits for the changes in flight before it stops waiting (their outcome is then unknown). */
export const DRAIN_MS = 10_000;

/** Failures by target name, then message; each described (redacted). */
function sortFailures(failures: readonly NamedError[], debug: boolean): TargetFailure[] {
  const described = failures.map((f) => ({ target: f.name, error: describeError(f.error, debug) }));
  return described.sort((a, b) => cmp(a.target, b.target) || cmp(a.error.message, b.error.message));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `targets` (--target ADDRESS, repeatable): keep the changes whose address equals or starts with one of them, plus
 * everything they depend on.
 */
export function selectTargets(plan: Plan, targets: readonly string[]): Plan {
  if (targets.length === 0) return plan;
  const byAddress = new Map(plan.changes.map((c) => [c.address, c]));
  const keep = new Set<string>();
  const add = (a: string) => {
    if (keep.has(a) || !byAddress.has(a)) return;
    keep.add(a);
    for (const d of byAddress.get(a)!.dependsOn) add(d);
  };
  for (const c of plan.changes) if (targets.some((t) => c.address === t || c.address.startsWith(t))) add(c.address);
  return { ...plan, changes: plan.changes.filter((c) => keep.has(c.address)) };
}
