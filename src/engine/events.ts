import type { Action, Change, PlanCounts } from "../core/plan.js";
import type { ErrorInfo } from "./errors.js";

/**
 * What a converge run (src/engine/converge.ts) tells whoever watches it, in order. The CLI renders these and
 * nothing else (src/cli/render/run-view.ts: listr2 on a terminal, plain lines for cron and CI, JSON lines for
 * `--json`), so every view of a run is made from the same facts; a program embedding homelab gets the same
 * events through `onEvent`. Events are plain data: no Error objects, no secret (every message is redacted), safe to
 * JSON.stringify and log.
 *
 * Order: `warning`s and `debug` lines may come at any point. Then either `failed` (a cluster or tenant could not
 * be connected to or read; nothing was planned), or `read-started`, one `read-finished`/`read-failed` per target,
 * `reads-done`, then (all reads succeeded) `plan`, and unless the run only plans or the plan is empty,
 * `apply-started`, `change-started`/`change`/`wait` as changes go, `apply-done`; last `summary`.
 */
export type RunEvent =
  | WarningEvent
  | DebugEvent
  | ReadStartedEvent
  | ReadFinishedEvent
  | ReadFailedEvent
  | ReadsDoneEvent
  | PlanEvent
  | ApplyStartedEvent
  | ChangeStartedEvent
  | ChangeEvent
  | WaitEvent
  | ApplyDoneEvent
  | SummaryEvent
  | FailedEvent;

/** Something that works but deserves attention (a stale lock taken over, `insecure: true`, a planner's advice). */
export interface WarningEvent {
  type: "warning";
  message: string;
  hint?: string;
  /** Where it comes from: the config (programmatic runs; the CLI prints those itself), a lock, connecting to a target, or the plan. */
  source: "config" | "lock" | "connect" | "plan";
}

/** Only when the run was started with `debug`: a retried request, a replication wait while reading, the request log. */
export interface DebugEvent {
  type: "debug";
  message: string;
}

/** Every target (cluster or tenant, by name) starts being read, all at once. */
export interface ReadStartedEvent {
  type: "read-started";
  targets: string[];
}

export interface ReadFinishedEvent {
  type: "read-finished";
  target: string;
  /** Requests made to this target so far (connecting and reading). */
  requests: number;
}

/** One target's read failed; the others go on, and the run ends with `failed` once all have settled. */
export interface ReadFailedEvent {
  type: "read-failed";
  target: string;
  error: ErrorInfo;
}

/** Every read has settled. */
export interface ReadsDoneEvent {
  type: "reads-done";
  failed: number;
}

/** The plan (pure, made from what was read): every change, in the order they are listed and applied. */
export interface PlanEvent {
  type: "plan";
  /** The changes (after `targets` selection), by target, then provider order, then address. No secret: sensitive fields read "(sensitive)". */
  changes: Change[];
  /** Objects found in sync. */
  unchanged: number;
  summary: PlanCounts;
  /** Where each cluster is (the diff heads each cluster's changes with its URL). */
  clusters: { name: string; url: string }[];
}

/** Changes start being applied (not with `check`, nor when there are none). */
export interface ApplyStartedEvent {
  type: "apply-started";
  total: number;
}

/** One call to an API starts, making these changes (one, or a batch such as one ACL write). */
export interface ChangeStartedEvent {
  type: "change-started";
  addresses: string[];
}

/** How one change of the plan ended: done (`ok`), `failed`, or `skipped` (never attempted). One per change, as they settle. */
export interface ChangeEvent {
  type: "change";
  address: string;
  kind: string;
  target: string;
  action: Action;
  status: "ok" | "failed" | "skipped";
  ms?: number;
  error?: ErrorInfo;
  /** Skipped: the failed change it depended on (or, when `halted`, the one that stopped its target). */
  because?: string;
  /** Skipped because its target stopped (unreachable) after an earlier failure. */
  halted?: boolean;
  /** A create that found its object already there and took it over. */
  adopted?: boolean;
  /** The run was aborted: skipped = not attempted; failed = still in flight when the run stopped waiting (made or not: unknown). */
  interrupted?: boolean;
  /** Failed in a way that means its target is unreachable (network, timeout, TLS): no further change was started there. */
  stopsTarget?: boolean;
}

/** A step waits: a slow request (`request`), or Entra not yet showing a new object (`replication`). */
export interface WaitEvent {
  type: "wait";
  kind: "request" | "replication";
  /** During the reads or the apply. */
  phase: "read" | "apply";
  /** The target the wait is for (requests: the target being read; absent for requests of the apply). */
  target?: string;
  /** Requests: which wait this is (a later event with the same id and no message says it is over). */
  id?: number;
  /** e.g. `waiting for pve1 (https://pve1.lan:8006): 7 s`; absent when the request that waited has finished. */
  message?: string;
}

export interface ApplyDoneEvent {
  type: "apply-done";
  total: number;
}

/** A target that stopped after a failure meaning it is unreachable: the first such failure (in plan order). */
export interface StopInfo {
  target: string;
  address: string;
  error: ErrorInfo;
  /** Changes of that target never attempted (skipped, for whatever reason). */
  notAttempted: number;
}

/** A client secret that expires soon (within EXPIRY_WARNING_DAYS), and what the run does about it. */
export interface ExpiringSecret {
  address: string;
  endDateTime: string;
  daysLeft: number;
  renewal: "none" | "planned" | "done" | "failed";
}

export interface ApplyCounts {
  created: number;
  /** Of the created: found already there and taken over. */
  adopted: number;
  updated: number;
  replaced: number;
  deleted: number;
  failed: number;
  /** Skipped because something they depend on failed, or their target stopped. */
  skipped: number;
  /** Never attempted because the run was aborted. */
  notAttempted: number;
}

/** The last event of a run that planned. */
export interface SummaryEvent {
  type: "summary";
  /** The run only planned (`check`). */
  check: boolean;
  /** Changes were applied (false with `check`, and when the plan was empty). */
  applied: boolean;
  /** Changes in the plan. */
  changes: number;
  /** Only when `applied`. */
  counts?: ApplyCounts;
  /** Every change's outcome, in plan order (empty unless `applied`). */
  outcomes: ChangeEvent[];
  stopped: StopInfo[];
  /** Aborted (the AbortSignal's reason when it is a string, such as "SIGINT"; otherwise "abort"). */
  interrupted?: string;
  /** Aborted: the changes never attempted, in plan order. */
  notAttempted: string[];
  expiringSecrets: ExpiringSecret[];
  exitCode: number;
}

/** A target that could not be connected to or read (`target` is empty for a failure before any target). */
export interface TargetFailure {
  target: string;
  error: ErrorInfo;
}

/** The last event of a run that could not read everything: nothing was planned, nothing written. */
export interface FailedEvent {
  type: "failed";
  /** Sorted by target, then message. */
  failures: TargetFailure[];
  /** The highest of the failures' exit codes (70 bug > 4 authentication > 3 configuration > 1 remote). */
  exitCode: number;
}
