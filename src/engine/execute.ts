import { dependencyGraph } from "../core/graph.js";
import type { Change, Plan } from "../core/plan.js";

/**
 * What an apply may report besides success. `adopted`: the object a create was for already existed (made by an
 * interrupted earlier run, or by hand) and was taken over instead; the outcome says "adopted", not "created".
 */
export interface ApplyResult {
  adopted?: boolean;
}

/** What the executor needs of a provider: apply a group of changes of its kind. */
export interface Applier {
  kind: string;
  /**
   * Apply `changes` (one change, or a batch sharing a batch key) as one unit. Resolves when all are done;
   * a rejection marks every change of the unit failed. Failure semantics per provider: a failed create
   * leaves nothing; after a failed delete, assume the object still exists.
   */
  apply(changes: Change[]): Promise<void | ApplyResult>;
  /** Changes with the same key that are ready together are applied in one call (e.g. one ACL PUT). */
  batchKey?(change: Change): string | undefined;
}

export type Status = "ok" | "failed" | "skipped";

export interface Outcome {
  address: string;
  kind: string;
  target: string;
  action: Change["action"];
  status: Status;
  error?: unknown;
  /** For skipped changes: the failed change they depended on (or, when `halted`, the one that stopped its target). */
  because?: string;
  /** Skipped without being attempted because an earlier change on the same target failed with a halting error. */
  halted?: boolean;
  /** A create that found its object already there and took it over (see ApplyResult). */
  adopted?: boolean;
  /**
   * The run was interrupted (SIGINT/SIGTERM): skipped, never attempted; or, on a failed change, still in flight when
   * the wait for it ran out (`drainMs`), so whether it happened is unknown. A rerun picks either up.
   */
  interrupted?: boolean;
  ms?: number;
}

export interface ExecuteOptions {
  /** Units in flight at once, over all targets (default 4). */
  concurrency?: number;
  /**
   * Units in flight at once on one target (default: `concurrency`, so only the overall bound applies). Whatever
   * the limits, free slots go to the targets in turn (round robin), so that ten clusters progress side by side
   * instead of one after the other in plan order: a Proxmox cluster applies writes one at a time under its
   * config lock, so what shortens a multi-cluster run is clusters working in parallel, not one cluster's queue.
   */
  perTarget?: number;
  onStart?(changes: Change[]): void;
  onDone?(outcome: Outcome): void;
  /**
   * Whether a failure means the target itself is gone (connection refused, timeouts): then no further
   * change on that target is started; they settle as skipped with `halted`, and a rerun picks them up.
   */
  halts?(error: unknown): boolean;
  /**
   * Stop: once aborted, no further change is started (they settle as skipped with `interrupted`); the ones in flight
   * may finish for up to `drainMs` (default 10 s), after which they settle as failed with `interrupted` and the
   * executor returns without them.
   */
  signal?: AbortSignal;
  drainMs?: number;
}

/** The error of a change still in flight when an interrupted run stopped waiting for it. */
export class InFlightError extends Error {
  constructor(ms: number) {
    super(`still in flight ${Math.round(ms / 1000)} s after the interrupt; whether it was made is unknown (a rerun finds out)`);
    this.name = "InFlightError";
  }
}

interface Unit {
  kind: string;
  members: Change[];
  deps: Set<string>;
}

/** One target's units that are ready to start (FIFO), and how many of its units are in flight. */
interface TargetQueue {
  ready: Unit[];
  head: number;
  running: number;
}

/**
 * Run a plan over the dependency graph: a change starts when everything it depends on has settled;
 * independent units run concurrently up to `concurrency` (and `perTarget` on one target), the targets taking
 * turns; a failure skips only the changes that depend on it (transitively) while unrelated work carries on.
 * Changes that share a batch key are grouped into one unit up front, so they wait for each other's
 * dependencies and go out as one call. Scheduling costs O(1) per unit: a settled call wakes the loop once.
 */
export async function execute(plan: Plan, appliers: ReadonlyMap<string, Applier>, opts: ExecuteOptions = {}): Promise<Outcome[]> {
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const perTarget = Math.max(1, opts.perTarget ?? concurrency);
  const deps = dependencyGraph(plan.changes);
  const outcomes = new Map<string, Outcome>();

  const units: Unit[] = [];
  const byKey = new Map<string, Unit>();
  for (const c of plan.changes) {
    const applier = appliers.get(c.kind);
    if (!applier) throw new Error(`no provider for kind ${c.kind} (${c.address})`);
    const key = applier.batchKey?.(c);
    const k = key === undefined ? undefined : `${c.kind}\0${key}`;
    let unit = k === undefined ? undefined : byKey.get(k);
    if (!unit) {
      unit = { kind: c.kind, members: [], deps: new Set() };
      units.push(unit);
      if (k !== undefined) byKey.set(k, unit);
    }
    unit.members.push(c);
  }
  for (const u of units) {
    const own = new Set(u.members.map((m) => m.address));
    for (const m of u.members) for (const d of deps.get(m.address)!) if (!own.has(d)) u.deps.add(d);
  }

  // Ready queues, one per target in the order targets first appear: each unit counts its unsettled
  // dependencies; settling a change makes the units waiting on it ready.
  const queues = new Map<string, TargetQueue>();
  for (const u of units) if (!queues.has(u.members[0]!.target)) queues.set(u.members[0]!.target, { ready: [], head: 0, running: 0 });
  const turns = [...queues.values()];
  let turn = 0;
  let readyCount = 0;
  const makeReady = (u: Unit) => {
    queues.get(u.members[0]!.target)!.ready.push(u);
    readyCount++;
  };
  const waiting = new Map<Unit, number>();
  const dependents = new Map<string, Unit[]>();
  for (const u of units) {
    waiting.set(u, u.deps.size);
    for (const d of u.deps) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(u);
    if (u.deps.size === 0) makeReady(u);
  }

  const settle = (c: Change, status: Status, extra?: Partial<Outcome>) => {
    if (outcomes.has(c.address)) return; // given up on after an interrupt, then finished: already reported
    const o: Outcome = { address: c.address, kind: c.kind, target: c.target, action: c.action, status };
    if (extra !== undefined) Object.assign(o, extra);
    outcomes.set(c.address, o);
    opts.onDone?.(o);
    for (const u of dependents.get(c.address) ?? []) {
      const left = waiting.get(u)! - 1;
      waiting.set(u, left);
      if (left === 0) makeReady(u);
    }
  };
  /** The failed or skipped dependency that blocks `c`, if any. */
  const blocker = (c: Change): string | undefined => {
    for (const d of deps.get(c.address)!) {
      const o = outcomes.get(d);
      if (o && o.status !== "ok") return o.status === "failed" ? d : (o.because ?? d);
    }
    return undefined;
  };

  let started = 0;
  const running = new Set<Promise<void>>();
  /** Resolves the loop's current wait: called when a call settles (one wake per settle, not one race per unit). */
  let wake: () => void = () => {};
  /** What each running call applies (to account for it if an interrupt stops waiting for it). */
  const inFlight = new Map<Promise<void>, Change[]>();
  /** Targets that stopped, with the address of the change whose failure stopped them. */
  const halted = new Map<string, string>();
  const start = (u: Unit) => {
    started++;
    const stop = halted.get(u.members[0]!.target);
    if (stop !== undefined) {
      for (const m of u.members) settle(m, "skipped", { because: stop, halted: true });
      return;
    }
    const runnable: Change[] = [];
    for (const m of u.members) {
      const b = blocker(m);
      if (b !== undefined) settle(m, "skipped", { because: b });
      else runnable.push(m);
    }
    if (runnable.length === 0) return;
    opts.onStart?.(runnable);
    const queue = queues.get(u.members[0]!.target)!;
    queue.running++;
    const t0 = performance.now();
    /** The unit has settled: its slot is free, and the loop wakes (in a `finally`, so a throwing `onDone` cannot leak the slot). */
    const free = () => {
      running.delete(p);
      inFlight.delete(p);
      queue.running--;
      wake();
    };
    // One reaction per unit (not then + finally: two more promises per change, issue 12).
    const p: Promise<void> = appliers.get(u.kind)!.apply(runnable).then(
      (result) => {
        try {
          const ms = Math.round(performance.now() - t0);
          const extra: Partial<Outcome> = result?.adopted ? { ms, adopted: true } : { ms };
          for (const m of runnable) settle(m, "ok", extra);
        } finally {
          free();
        }
      },
      (error: unknown) => {
        try {
          const ms = Math.round(performance.now() - t0);
          const target = runnable[0]!.target;
          if (!halted.has(target) && opts.halts?.(error) === true) halted.set(target, runnable[0]!.address);
          const extra: Partial<Outcome> = { error, ms };
          for (const m of runnable) settle(m, "failed", extra);
        } finally {
          free();
        }
      },
    );
    running.add(p);
    inFlight.set(p, runnable);
  };

  /**
   * Start ready units while slots are free, the targets taking turns: one unit of the next target that has one
   * ready and a free slot of its own. A start can settle units at once (skipped), making others ready: the scan
   * goes on until a whole round of targets starts nothing.
   */
  const pump = () => {
    for (let idle = 0; idle < turns.length && running.size < concurrency && readyCount > 0; ) {
      const q = turns[turn]!;
      turn = (turn + 1) % turns.length;
      if (q.head < q.ready.length && q.running < perTarget) {
        const u = q.ready[q.head]!;
        q.ready[q.head++] = undefined as unknown as Unit; // let the started unit go
        readyCount--;
        start(u);
        idle = 0;
      } else idle++;
    }
  };

  // An abort wakes the loop as a settled call does (no race per wait: a race against a promise that never settles
  // leaves one reaction on it per wait, thousands in a large apply, issue 12).
  const onAbort = () => wake();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    while (started < units.length || running.size > 0) {
      if (opts.signal?.aborted) break;
      pump();
      if (running.size > 0) await new Promise<void>((r) => (wake = r));
      else if (started < units.length) throw new Error("executor stalled: unsatisfiable dependencies"); // cannot happen for an acyclic graph
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    wake = () => {};
  }
  if (opts.signal?.aborted) {
    // Interrupted: let what is in flight finish (bounded), then account for everything else as not attempted.
    const drainMs = opts.drainMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), drainMs)));
    while (running.size > 0 && (await Promise.race([Promise.race(running).then(() => "done" as const), late])) !== "late");
    clearTimeout(timer);
    for (const [p, members] of inFlight) if (running.has(p)) for (const m of members) settle(m, "failed", { error: new InFlightError(drainMs), interrupted: true });
    for (const c of plan.changes) if (!outcomes.has(c.address)) settle(c, "skipped", { interrupted: true });
  }
  return plan.changes.map((c) => outcomes.get(c.address)!);
}
