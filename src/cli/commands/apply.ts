import { buildDesired } from "../../config/desired.js";
import { loadValidConfig } from "../../config/resolve.js";
import type { DesiredState } from "../../core/desired.js";
import { AuthError, ExitCode, HomelabError, RemoteError, UserError } from "../../core/errors.js";
import { countActions, type Change, type Plan } from "../../core/plan.js";
import { InFlightError, type Outcome } from "../../engine/execute.js";
import { createResolver, type Resolver } from "../../engine/resolver.js";
import { applyPlan, planAll, readAll, type TargetSpec } from "../../engine/run.js";
import { redact } from "../../log/redact.js";
import { secretExpiries, type SecretExpiry } from "../../providers/entra/secret.js";
import { emptyObservedTenant, type ObservedTenant, type TenantTarget } from "../../providers/entra/target.js";
import { connectCluster, connectTenant } from "../../providers/connect.js";
import { clusterProviders, tenantProviders } from "../../providers/index.js";
import { emptyObserved } from "../../providers/proxmox/observed.js";
import { acquireLocks, clusterSubject, tenantSubject, type LockSubject } from "../lock.js";
import { printConfigWarnings, reportError, type Io } from "../output.js";
import { exitSoon, installSignalHandlers, interrupted, onInterrupt, setInterruptNote, SIGNAL_EXIT_CODE, type StopSignal } from "../signals.js";
import { runSteps } from "../progress.js";
import { renderPlan, summaryLine } from "../render/diff.js";

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

interface Closable {
  close(): void;
  requestLog: { method: string; path: string; status?: number; ms: number }[];
  name: string;
}

/**
 * `homelab apply` (and `plan` = apply --check --diff): load → validate → read every API → plan (pure)
 * → print the diff → stop here with --check → apply the plan as a task graph → summary and exit code.
 */
export async function applyCommand(io: Io, opts: ApplyOptions): Promise<number> {
  const { config, loaded, warnings } = loadValidConfig(opts.file);
  // What validate warns about (a config that works but will not do what it seems to), on every run.
  printConfigWarnings(io, opts.json, warnings);
  return converge(io, buildDesired(config, loaded.baseDir([])), opts);
}

/**
 * What a run may write to, one lock each (lock.ts): every cluster and tenant of the config, taken before the reads
 * the plan is made from, so that no other run writes between the read and the apply.
 */
export function lockSubjects(desired: DesiredState): LockSubject[] {
  return [...desired.clusters.map((c) => clusterSubject(c.name, c.url)), ...desired.tenants.map((t) => tenantSubject(t.name, t.tenantId, t.graphUrl))];
}

/** Read, plan, print, and unless `check`, apply: the run behind `apply`, `plan` and `demo`. */
export async function converge(io: Io, desired: DesiredState, opts: ApplyOptions): Promise<number> {
  const emit = (event: Record<string, unknown>) => io.out(JSON.stringify(event));
  installSignalHandlers((line) => io.err(line));
  setInterruptNote("; nothing was changed");
  // `--check`/`plan` write nothing, so they take no lock (and never wait for a running apply).
  const release = opts.check ? () => {} : await acquireLocks(lockSubjects(desired), { waitMs: opts.lockWaitMs, file: opts.file, onWarning: (m) => warn(io, opts.json, m, emit) });
  const clients: Closable[] = [];
  try {
    const resolver = createResolver();
    // Every target is connected even when one fails, so that all failures are reported in one run (issue 10 item 9).
    const connected = [
      await settle(() => tenantTargets(io, desired, clients, resolver, opts)),
      await settle(() => clusterTargets(io, desired, clients, resolver, !opts.check, opts.json ? emit : undefined)),
    ];
    const connectErrors = connected.flatMap((c) => c.failures);
    if (connectErrors.length > 0) throw new ReadFailures(connectErrors);
    const tenants = connected[0]!.value ?? [];
    const targets = connected.flatMap((c) => c.value ?? []);
    const observed = new Map<string, unknown>();
    const readErrors: NamedError[] = [];
    await runSteps(
      io,
      targets.map((t) => ({
        title: `read ${t.name}`,
        run: async (task) => {
          try {
            const o = await readAll([t]);
            observed.set(t.name, o.get(t.name));
            task.setTitle(`read ${t.name}: ${requestsOf(clients, t.name)} requests`);
          } catch (err) {
            readErrors.push({ name: t.name, error: err });
            // Marks the step failed in the progress view; the errors themselves are reported after it.
            throw new Error("the error is shown below");
          }
        },
      })),
      { json: opts.json || (opts.quiet ?? false), concurrent: true },
    );
    if (readErrors.length > 0) throw new ReadFailures(readErrors);

    const full = planAll(targets, observed);
    const plan = selectTargets(full, opts.targets);
    for (const w of plan.warnings) warn(io, opts.json, w);

    if (opts.json) emit({ event: "plan", changes: plan.changes, unchanged: plan.unchanged, summary: countActions(plan.changes) });
    else if (opts.quiet && plan.changes.length === 0) {
      // Nothing to say.
    } else if (opts.diff || !opts.check || plan.changes.length === 0) for (const l of renderPlan(plan, { color: io.color }, desired.clusters)) io.out(l);
    else io.out(summaryLine(plan));

    const expiring = tenants
      .flatMap((t) => secretExpiries(t.target as TenantTarget, observed.get(t.name) as ObservedTenant))
      .filter((e) => e.daysLeft <= EXPIRY_WARNING_DAYS);
    if (opts.check || plan.changes.length === 0) {
      const code = opts.detailedExitcode && plan.changes.length > 0 ? ExitCode.changes : ExitCode.ok;
      const secrets = expiryReport(expiring, plan, []);
      if (opts.json) emit({ event: "summary", check: opts.check, changes: plan.changes.length, expiringSecrets: secrets, exitCode: code });
      else printExpiring(io, secrets);
      return code;
    }

    const { outcomes, stopped } = await applyWithProgress(io, targets, plan, opts, emit);
    setInterruptNote("; the changes reported above were made");
    return summarise(io, opts, outcomes, emit, expiryReport(expiring, plan, outcomes), stopped);
  } catch (err) {
    if (err instanceof ReadFailures) return reportAll(io, err.failures);
    throw err;
  } finally {
    if (io.debug) for (const c of clients) for (const r of c.requestLog) io.err(`debug ${c.name} ${r.method} ${r.path} ${r.status ?? "-"} ${r.ms}ms`);
    for (const c of clients) c.close();
    release();
  }
}

/** The clock secret lifetimes are measured against; HOMELAB_NOW (an ISO date) pretends another time, to rehearse renewals. */
export function clock(): () => Date {
  const fixed = process.env.HOMELAB_NOW;
  if (!fixed) return () => new Date();
  const t = Date.parse(fixed);
  if (Number.isNaN(t)) throw new UserError(`HOMELAB_NOW is not a date: ${fixed}`, { code: "E_ARGS", hint: "use an ISO date such as 2027-05-01T00:00:00Z, or unset it" });
  const offset = t - Date.now();
  return () => new Date(Date.now() + offset);
}

async function tenantTargets(io: Io, desired: DesiredState, clients: Closable[], resolver: Resolver, opts: ApplyOptions): Promise<TargetSpec[]> {
  if (desired.tenants.length === 0) return [];
  const { waitUntilUsable, createTokenSource } = await import("../../providers/entra/token.js");
  const { Secret } = await import("../../config/secret.js");
  const now = clock();
  const onRetry = (line: string) => {
    if (io.debug) io.err(`debug retry ${line}`);
  };
  return allOrFailures(
    desired.tenants,
    async (t) => {
      // A new secret is proven by a token request before a realm gets it (proveSecret below), the stronger
      // test; so two sightings in a row suffice here instead of terraform's five (spec 6 step 2), which
      // keeps the Proxmox side (realm → users → ACL) from idling four seconds behind every new secret.
      const { graph } = await connectTenant(t, { onRetry }, { visibility: { times: 2, attempts: 30, delayMs: 1000 } });
      clients.push({ name: t.name, requestLog: graph.requestLog, close: () => {} });
      const target: TenantTarget = {
        desired: t,
        graph,
        resolver,
        now,
        rotateSecrets: opts.rotateSecrets,
        proveSecret: async (appId, secret) => {
          const source = createTokenSource({ tenantId: t.tenantId, loginUrl: t.loginUrl, graphUrl: t.graphUrl, credentials: { clientId: appId, clientSecret: Secret.fromValue(secret, "new client secret") } });
          await waitUntilUsable(source, { attempts: 10, delayMs: 1000, onRetry: (e) => onRetry(`${t.name} ${e.method} ${e.path} attempt ${e.attempt} (${e.reason}), waiting ${e.waitMs} ms`) });
        },
        // Replaced by the progress view while changes are applied (it shows the message on the progress line).
        onWait: (message) => {
          if (io.debug) io.err(`debug wait ${t.name}: ${message}`);
        },
      };
      // The graph client's waits for new objects to show (replication lag) go to whatever target.onWait is now.
      graph.onWait = (message) => target.onWait?.(message);
      return { name: t.name, target, providers: tenantProviders, empty: emptyObservedTenant } satisfies TargetSpec as TargetSpec;
    },
  );
}

async function clusterTargets(io: Io, desired: DesiredState, clients: Closable[], resolver: Resolver, applying: boolean, emit?: (e: Record<string, unknown>) => void): Promise<TargetSpec[]> {
  return allOrFailures(
    desired.clusters,
    async (c) => {
      const client = await connectCluster(c, {
        onWarning: (w) => warn(io, emit !== undefined, w, emit),
        onRetry: (line) => {
          if (io.debug) io.err(`debug retry ${line}`);
        },
      });
      clients.push(client as unknown as Closable);
      return {
        name: c.name,
        target: { desired: c, api: client, resolver, runAs: { tokenId: c.token.id, userid: c.token.id.split("!")[0]! }, applying },
        providers: clusterProviders,
        empty: emptyObserved,
      } satisfies TargetSpec as TargetSpec;
    },
  );
}

/** A failure of one target (cluster or tenant) while connecting or reading. */
interface NamedError {
  name: string;
  error: unknown;
}

/** Several targets failed before planning; each is reported (reportAll). */
class ReadFailures extends Error {
  readonly failures: NamedError[];
  constructor(failures: NamedError[]) {
    super(`${failures.length} targets failed`);
    this.failures = failures;
  }
}

/** `run` for every item, all of them even when some fail; the failures are thrown together as ReadFailures. */
async function allOrFailures<I extends { name: string }, T>(items: readonly I[], run: (item: I) => Promise<T>): Promise<T[]> {
  const results = await Promise.allSettled(items.map(run));
  const failures = results.flatMap((r, i) => (r.status === "rejected" ? [{ name: items[i]!.name, error: r.reason as unknown }] : []));
  if (failures.length > 0) throw new ReadFailures(failures);
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

async function settle<T>(run: () => Promise<T>): Promise<{ value?: T; failures: NamedError[] }> {
  try {
    return { value: await run(), failures: [] };
  } catch (err) {
    return { failures: err instanceof ReadFailures ? err.failures : [{ name: "", error: err }] };
  }
}

/**
 * Every failure, in the order of the target's name (then message), each as the top-level handler prints one; the exit
 * code is the highest of theirs (70 internal > 4 authentication > 3 configuration > 1 remote).
 */
function reportAll(io: Io, failures: NamedError[]): number {
  const text = (e: unknown) => (e instanceof Error ? e.message : String(e));
  const sorted = [...failures].sort((a, b) => cmp(a.name, b.name) || cmp(text(a.error), text(b.error)));
  let code = 0;
  for (const f of sorted) code = Math.max(code, reportError(io, f.error));
  return code;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function requestsOf(clients: Closable[], name: string): number {
  return clients.find((c) => c.name === name)?.requestLog.length ?? 0;
}

function warn(io: Io, json: boolean, message: string, emit?: (e: Record<string, unknown>) => void): void {
  if (json && emit) emit({ event: "warning", message });
  else io.err(`warning: ${message}`);
}

/**
 * --target ADDRESS (repeatable): keep the changes whose address equals or starts with one of them, plus
 * everything they depend on.
 */
export function selectTargets(plan: Plan, targets: string[]): Plan {
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

/** Failures that mean the cluster or tenant itself is unreachable: stop starting changes on it (issue 8 failure 12). */
const HALT_CODES = new Set(["E_NETWORK", "E_TIMEOUT", "E_TLS", "E_TLS_PIN"]);
const halts = (err: unknown) => err instanceof RemoteError && HALT_CODES.has(err.code);

/** A target that stopped: the failure that stopped it, and what was not reported line by line after it. */
interface Stopped {
  first: Outcome;
  /** Changes already in flight that failed the same way. */
  failed: number;
  /** Changes never attempted. */
  skipped: number;
}

async function applyWithProgress(io: Io, targets: TargetSpec[], plan: Plan, opts: ApplyOptions, emit: (e: Record<string, unknown>) => void): Promise<{ outcomes: Outcome[]; stopped: Map<string, Stopped> }> {
  let outcomes: Outcome[] = [];
  const stopped = new Map<string, Stopped>();
  const total = plan.changes.length;
  // SIGINT/SIGTERM (signals.ts): start no new change, let the ones in flight finish (at most DRAIN_MS), then
  // the summary says what was done and what was not. A second signal exits at once.
  const abort = new AbortController();
  let inFlight = 0;
  const off = onInterrupt((sig) => {
    io.err(`interrupted by ${sig}: starting no new changes; waiting up to ${DRAIN_MS / 1000} s for the ${inFlight} in flight (press Ctrl-C again to stop at once)`);
    abort.abort();
  });
  try {
    await runSteps(
      io,
      [
        {
          title: `apply ${total} change${total === 1 ? "" : "s"}`,
          run: async (task) => {
            let done = 0;
            // Waits for Entra to show a new object (replication lag) show on the progress line; plain output
            // (cron, CI) gets the first message of each wait only, not one every half second.
            const waitsShown = new Set<string>();
            for (const t of targets) {
              const tt = t.target as Partial<TenantTarget>;
              if (!("onWait" in tt)) continue;
              tt.onWait = (m: string) => {
                if (opts.json || opts.quiet) return;
                if (process.stderr.isTTY === true) task.setTitle(`apply ${done}/${total}: ${m}`);
                else {
                  const what = m.replace(/: \d+ s$/, "");
                  if (!waitsShown.has(what)) io.err(m);
                  waitsShown.add(what);
                }
              };
            }
            outcomes = await applyPlan(targets, plan, {
              concurrency: opts.concurrency,
              halts,
              signal: abort.signal,
              drainMs: DRAIN_MS,
              onStart: (changes) => {
                inFlight += changes.length;
              },
              onDone: (o) => {
                done++;
                if (o.status !== "skipped") inFlight--;
                task.setTitle(`apply ${done}/${total}`);
                if (opts.json) {
                  emit({ event: "change", address: o.address, action: o.action, status: o.status, ...(o.ms !== undefined ? { ms: o.ms } : {}), ...(o.error ? { error: errorInfo(o.error) } : {}), ...(o.because ? { because: o.because } : {}), ...(o.halted ? { halted: true } : {}), ...(o.adopted ? { adopted: true } : {}), ...(o.interrupted ? { interrupted: true } : {}) });
                  return;
                }
                if (o.interrupted && o.status === "skipped") return; // listed in the summary
                // After a target stops, its failures and skips are counted, not listed: one cause, one count.
                const stop = stopped.get(o.target);
                if (stop) {
                  if (o.status === "failed") stop.failed++;
                  else if (o.status === "skipped") stop.skipped++;
                  if (o.status !== "ok") return;
                } else if (o.status === "failed" && halts(o.error)) stopped.set(o.target, { first: o, failed: 0, skipped: 0 });
                const line = outcomeLine(o);
                if (process.stderr.isTTY === true) task.report(line);
                else io.err(line); // one plain line per change for cron mails and CI logs
              },
            });
            if (opts.json) for (const o of outcomes) if (o.status === "failed" && halts(o.error) && !stopped.has(o.target)) stopped.set(o.target, { first: o, failed: 0, skipped: 0 });
            // Not "✔ apply 9/9" when some of the 9 failed or were skipped: ✖ and the counts.
            const summary = applySummary(outcomes, total);
            if (summary) {
              task.setTitle(`apply ${total} change${total === 1 ? "" : "s"}`);
              task.fail(summary);
            }
          },
        },
      ],
      { json: opts.json || (opts.quiet ?? false) },
    );
  } finally {
    off();
  }
  return { outcomes, stopped };
}

/** How long an interrupted apply waits for the changes in flight before it stops waiting (their outcome is then unknown). */
const DRAIN_MS = 10_000;

/** "7 done, 1 failed, 1 skipped" when a change did not go through (failed, skipped or never run); undefined when all did. */
export function applySummary(outcomes: Pick<Outcome, "status" | "interrupted">[], total: number): string | undefined {
  const count = (s: Outcome["status"]) => outcomes.filter((o) => o.status === s && !(s === "skipped" && o.interrupted)).length;
  const [done, failed, skipped] = [count("ok"), count("failed"), count("skipped")];
  const interrupted = outcomes.filter((o) => o.status === "skipped" && o.interrupted).length;
  const notRun = total - done - failed - skipped - interrupted;
  if (failed === 0 && skipped === 0 && interrupted === 0 && notRun <= 0) return undefined;
  return [`${done} done`, `${failed} failed`, `${skipped} skipped`, ...(interrupted > 0 ? [`${interrupted} not attempted (interrupted)`] : []), ...(notRun > 0 ? [`${notRun} not run`] : [])].join(", ");
}

function outcomeLine(o: Outcome): string {
  const verb = { create: "created", update: "updated", replace: "replaced", delete: "deleted" }[o.action];
  if (o.status === "ok") return `${o.adopted ? "adopted" : verb} ${o.address}`;
  if (o.status === "skipped") return `skipped ${o.address} (depends on failed ${o.because})`;
  return `FAILED ${o.action} ${o.address}: ${errorInfo(o.error).message}`;
}

function errorInfo(err: unknown): { code: string; message: string; hint?: string } {
  if (err instanceof HomelabError) return { code: err.code, message: redact(err.message), ...(err.hint ? { hint: redact(err.hint) } : {}) };
  return { code: "E_INTERNAL", message: redact(err instanceof Error ? err.message : String(err)) };
}

/** The run summary names the secrets that expire within this many days (a cron mail's reader should see them). */
const EXPIRY_WARNING_DAYS = 30;

interface ExpiringSecret {
  address: string;
  endDateTime: string;
  daysLeft: number;
  /** What this run does about it. */
  renewal: "none" | "planned" | "done" | "failed";
}

function expiryReport(expiring: SecretExpiry[], plan: Plan, outcomes: Outcome[]): ExpiringSecret[] {
  return expiring.map((e) => {
    const change = plan.changes.find((c) => c.address === e.address && c.action !== "delete");
    const outcome = outcomes.find((o) => o.address === e.address);
    const renewal = !change ? "none" : !outcome ? "planned" : outcome.status === "ok" ? "done" : "failed";
    return { ...e, renewal };
  });
}

function printExpiring(io: Io, secrets: ExpiringSecret[]): void {
  if (secrets.length === 0) return;
  io.out(`Client secrets expiring within ${EXPIRY_WARNING_DAYS} days:`);
  const what = { none: "not renewed (it is renewed once within renewBeforeDays)", planned: "renewal planned", done: "renewed by this run", failed: "renewal FAILED" };
  for (const s of secrets) {
    const when = s.daysLeft < 0 ? `expired ${-s.daysLeft} days ago` : `${s.daysLeft} days left`;
    io.out(`  ${s.address}: ${s.endDateTime.slice(0, 10)} (${when}), ${what[s.renewal]}`);
  }
}

function summarise(io: Io, opts: ApplyOptions, outcomes: Outcome[], emit: (e: Record<string, unknown>) => void, secrets: ExpiringSecret[], stopped: ReadonlyMap<string, Stopped>): number {
  const ok = outcomes.filter((o) => o.status === "ok");
  const failed = outcomes.filter((o) => o.status === "failed");
  // Skipped because of a failure, or never started because the run was interrupted.
  const skipped = outcomes.filter((o) => o.status === "skipped" && !o.interrupted);
  const notRun = outcomes.filter((o) => o.status === "skipped" && o.interrupted);
  const signal = interrupted();
  const n = countActions(ok as unknown as Change[]);
  const auth = failed.some((o) => o.error instanceof AuthError);
  const code = signal
    ? SIGNAL_EXIT_CODE[signal]
    : failed.length > 0
      ? auth
        ? ExitCode.auth
        : ExitCode.failure
      : opts.detailedExitcode && ok.length > 0
        ? ExitCode.changes
        : ExitCode.ok;
  // An interrupted run ends even if a request it stopped waiting for still holds a connection open.
  if (signal) exitSoon(code);
  const notAttempted = (t: string) => outcomes.filter((o) => o.target === t && o.status === "skipped").length;
  if (opts.json) {
    const stops = [...stopped].map(([target, s]) => ({ target, address: s.first.address, error: errorInfo(s.first.error), notAttempted: notAttempted(target) }));
    emit({
      event: "summary", created: n.create, adopted: ok.filter((o) => o.adopted).length, updated: n.update, replaced: n.replace, deleted: n.delete, failed: failed.length, skipped: skipped.length,
      ...(stops.length ? { stopped: stops } : {}),
      ...(signal ? { interrupted: signal, notAttempted: notRun.map((o) => o.address) } : {}),
      expiringSecrets: secrets, exitCode: code,
    });
    return code;
  }
  if (failed.length > 0) {
    io.out("");
    for (const o of failed) {
      const stop = stopped.get(o.target);
      if (stop && stop.first !== o && halts(o.error)) continue; // reported once, below
      const e = errorInfo(o.error);
      io.out(`FAILED ${o.address}: ${e.message}`);
      if (e.hint) io.out(`  hint: ${e.hint}`);
    }
    for (const [target, s] of stopped) {
      const same = failed.filter((o) => o.target === target && o !== s.first && halts(o.error)).length;
      const left = notAttempted(target);
      io.out(`${target}: stopped after this failure: ${left} change${left === 1 ? "" : "s"} not attempted${same ? `, ${same} more already under way failed the same way` : ""}; run homelab again once it is reachable`);
    }
  }
  const adopted = ok.filter((o) => o.adopted).length;
  io.out(`Apply: ${n.create} created${adopted ? ` (${adopted} of them adopted: found already there)` : ""}, ${n.update} updated, ${n.replace} replaced, ${n.delete} deleted${failed.length ? `, ${failed.length} failed` : ""}${skipped.length ? `, ${skipped.length} skipped` : ""}${notRun.length ? `, ${notRun.length} not attempted` : ""}.`);
  if (signal) for (const line of interruptReport(signal, ok.length, failed.filter((o) => o.error instanceof InFlightError).length, notRun)) io.out(line);
  printExpiring(io, secrets);
  return code;
}

/** At most this many not-attempted changes are listed by address (the JSON summary lists all). */
const NOT_ATTEMPTED_SHOWN = 50;

/** What an interrupted apply says after its summary line: what was done, what is unknown, and which changes were not attempted. */
export function interruptReport(signal: StopSignal, done: number, unknown: number, notRun: readonly Pick<Outcome, "address">[]): string[] {
  const s = (k: number) => (k === 1 ? "" : "s");
  const lines = [
    `Interrupted by ${signal}: ${done} change${s(done)} made${unknown ? `, ${unknown} still in flight when homelab stopped waiting (unknown whether made)` : ""}, ${notRun.length} not attempted${notRun.length ? ":" : "."}`,
  ];
  for (const o of notRun.slice(0, NOT_ATTEMPTED_SHOWN)) lines.push(`  ${o.address}`);
  if (notRun.length > NOT_ATTEMPTED_SHOWN) lines.push(`  ... and ${notRun.length - NOT_ATTEMPTED_SHOWN} more (--json lists them all)`);
  if (notRun.length || unknown) lines.push("Run homelab apply again to converge the rest.");
  return lines;
}
