import { AuthError, ExitCode, RemoteError } from "../core/errors.js";
import { countActions, type Change, type Plan } from "../core/plan.js";
import type { SecretExpiry } from "../providers/entra/secret.js";
import { describeError } from "./errors.js";
import type { ApplyCounts, ChangeEvent, ExpiringSecret, StopInfo, SummaryEvent } from "./events.js";
import type { Outcome } from "./execute.js";

/** The run summary names the secrets that expire within this many days (a cron mail's reader should see them). */
export const EXPIRY_WARNING_DAYS = 30;

/** Failures that mean the cluster or tenant itself is unreachable: stop starting changes on it (issue 8 failure 12). */
const HALT_CODES = new Set(["E_NETWORK", "E_TIMEOUT", "E_TLS", "E_TLS_PIN"]);
export const halts = (err: unknown): boolean => err instanceof RemoteError && HALT_CODES.has(err.code);

/** How an aborted run exits: 128 + the signal number for SIGINT/SIGTERM (a shell's convention); any other abort as SIGINT. */
export function abortExitCode(reason: string): number {
  return reason === "SIGTERM" ? 143 : 130;
}

/** The name an abort is reported under: its reason when that is a string (the CLI aborts with "SIGINT"/"SIGTERM"), else "abort". */
export function abortName(signal: AbortSignal | undefined): string | undefined {
  if (!signal?.aborted) return undefined;
  return typeof signal.reason === "string" ? signal.reason : "abort";
}

/** An executor outcome as an event: the error described (redacted), and whether it stopped its target. */
export function changeEvent(o: Outcome, debug = false): ChangeEvent {
  return {
    type: "change",
    address: o.address,
    kind: o.kind,
    target: o.target,
    action: o.action,
    status: o.status,
    ...(o.ms !== undefined ? { ms: o.ms } : {}),
    ...(o.error !== undefined ? { error: describeError(o.error, debug) } : {}),
    ...(o.because ? { because: o.because } : {}),
    ...(o.halted ? { halted: true } : {}),
    ...(o.adopted ? { adopted: true } : {}),
    ...(o.interrupted ? { interrupted: true } : {}),
    ...(o.status === "failed" && halts(o.error) ? { stopsTarget: true } : {}),
  };
}

/** Each secret expiring soon, with what this run does about it (nothing, a planned renewal, done, failed). */
export function expiryReport(expiring: readonly SecretExpiry[], plan: Plan, outcomes: readonly Pick<Outcome, "address" | "status">[]): ExpiringSecret[] {
  return expiring.map((e) => {
    const change = plan.changes.find((c) => c.address === e.address && c.action !== "delete");
    const outcome = outcomes.find((o) => o.address === e.address);
    const renewal = !change ? "none" : !outcome ? "planned" : outcome.status === "ok" ? "done" : "failed";
    return { ...e, renewal };
  });
}

/** The summary of a run that applied its plan (`outcomes` in plan order, as the executor returns them). */
export function applySummaryEvent(outcomes: readonly Outcome[], events: readonly ChangeEvent[], opts: { detailedExitcode: boolean; interrupted?: string | undefined; expiringSecrets: ExpiringSecret[]; changes: number }): SummaryEvent {
  const ok = outcomes.filter((o) => o.status === "ok");
  const failed = outcomes.filter((o) => o.status === "failed");
  const n = countActions(ok as unknown as Change[]);
  const counts: ApplyCounts = {
    created: n.create,
    adopted: ok.filter((o) => o.adopted).length,
    updated: n.update,
    replaced: n.replace,
    deleted: n.delete,
    failed: failed.length,
    skipped: outcomes.filter((o) => o.status === "skipped" && !o.interrupted).length,
    notAttempted: outcomes.filter((o) => o.status === "skipped" && o.interrupted).length,
  };
  const auth = failed.some((o) => o.error instanceof AuthError);
  const exitCode =
    opts.interrupted !== undefined
      ? abortExitCode(opts.interrupted)
      : failed.length > 0
        ? auth
          ? ExitCode.auth
          : ExitCode.failure
        : opts.detailedExitcode && ok.length > 0
          ? ExitCode.changes
          : ExitCode.ok;
  return {
    type: "summary",
    check: false,
    applied: true,
    changes: opts.changes,
    counts,
    outcomes: [...events],
    stopped: stoppedTargets(events),
    ...(opts.interrupted !== undefined ? { interrupted: opts.interrupted } : {}),
    notAttempted: events.filter((o) => o.status === "skipped" && o.interrupted).map((o) => o.address),
    expiringSecrets: opts.expiringSecrets,
    exitCode,
  };
}

/** Targets that stopped: the first failure (in plan order) that meant each was unreachable, and how many of its changes were never attempted. */
function stoppedTargets(events: readonly ChangeEvent[]): StopInfo[] {
  const first = new Map<string, ChangeEvent>();
  for (const o of events) if (o.stopsTarget && !first.has(o.target)) first.set(o.target, o);
  return [...first].map(([target, o]) => ({ target, address: o.address, error: o.error!, notAttempted: events.filter((x) => x.target === target && x.status === "skipped").length }));
}
