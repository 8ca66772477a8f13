import { countActions, type Change, type Plan } from "../core/plan.js";
import { execute, type Applier, type ExecuteOptions, type Outcome } from "./execute.js";
import type { Provider } from "./provider.js";

/** One target (a cluster or a tenant) with the providers that act on it. */
export interface TargetSpec<T = unknown, O = unknown> {
  name: string;
  target: T;
  providers: readonly Provider<T, O>[];
  /** A fresh observed-state object for this target, filled by the providers' reads. */
  empty(): O;
}

/** Read every target: each provider's bulk read, all concurrently. */
export async function readAll(targets: readonly TargetSpec[], onRead?: (target: string, kind: string) => void): Promise<Map<string, unknown>> {
  const observed = new Map<string, unknown>();
  await Promise.all(
    targets.map(async (t) => {
      const o = t.empty() as Record<string, unknown>;
      const parts = await Promise.all(
        t.providers.map(async (p) => {
          const part = await p.read(t.target);
          onRead?.(t.name, p.kind);
          return part;
        }),
      );
      for (const part of parts) Object.assign(o, part);
      observed.set(t.name, o);
    }),
  );
  return observed;
}

/**
 * Plan every target (pure) and review the plan. Changes are ordered by target, then provider order, then address.
 * Makes no late read (providers' `readAfterPlan`): a run reads through `planRead`, which does.
 */
export function planAll(targets: readonly TargetSpec[], observed: ReadonlyMap<string, unknown>): Plan {
  return finishPlan(planEach(targets, observed), observed);
}

/**
 * The plan of a run: plan every target, let the providers that ask read what that plan shows they need
 * (`readAfterPlan`, all at once), and if any read something, merge it into its target's observed state (`observed` is
 * updated in place) and plan everything once more. One round only (provider.ts says why). Only the final plan is
 * reviewed, so a refusal sees what the late reads found (a secret the tenant's policy forbids) and comes before any
 * write. `around` wraps each target's late reads (the run reports their slow requests under the target's name). A late
 * read that fails rejects with LateReadFailures, naming each target whose late read failed.
 */
export async function planRead(targets: readonly TargetSpec[], observed: Map<string, unknown>, around: <R>(t: TargetSpec, read: () => Promise<R>) => Promise<R> = (_t, read) => read()): Promise<Plan> {
  let parts = planEach(targets, observed);
  if (await readAfterPlan(parts, observed, around)) parts = planEach(targets, observed);
  return finishPlan(parts, observed);
}

/** Whether any provider of `t` may read after the first plan (its read is not over before the plan is made). */
export function hasLateRead(t: TargetSpec): boolean {
  return t.providers.some((p) => p.readAfterPlan !== undefined);
}

/** Late reads that failed, by target name (the run reports each as that target's read failure). */
export class LateReadFailures extends Error {
  readonly failures: { name: string; error: unknown }[];
  constructor(failures: { name: string; error: unknown }[]) {
    super(`${failures.length} late reads failed`);
    this.failures = failures;
  }
}

/** One target's part of a plan, before reviews and the dependency filter. */
interface TargetPlan {
  spec: TargetSpec;
  changes: Change[];
  unchanged: number;
  warnings: string[];
}

function planEach(targets: readonly TargetSpec[], observed: ReadonlyMap<string, unknown>): TargetPlan[] {
  return targets.map((t) => {
    const own: TargetPlan = { spec: t, changes: [], unchanged: 0, warnings: [] };
    for (const p of t.providers) {
      const part = p.plan(t.target, observed.get(t.name), observed);
      own.changes.push(...[...part.changes].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)));
      own.unchanged += part.unchanged;
      own.warnings.push(...(part.warnings ?? []));
    }
    return own;
  });
}

/**
 * Every provider's late read at once, each seeing the first plan and the state as first read; then their results
 * are merged (a late read never sees another's result). Whether anything was merged.
 */
async function readAfterPlan(parts: readonly TargetPlan[], observed: Map<string, unknown>, around: <R>(t: TargetSpec, read: () => Promise<R>) => Promise<R>): Promise<boolean> {
  const failures: { name: string; error: unknown }[] = [];
  const results = await Promise.all(
    parts.map(async ({ spec: t, changes }) => {
      const late = t.providers.filter((p) => p.readAfterPlan);
      if (late.length === 0) return [];
      try {
        return await around(t, () => Promise.all(late.map((p) => p.readAfterPlan!(t.target, observed.get(t.name), changes, observed))));
      } catch (error) {
        failures.push({ name: t.name, error });
        return [];
      }
    }),
  );
  if (failures.length > 0) throw new LateReadFailures(failures);
  let merged = false;
  results.forEach((found, i) => {
    for (const part of found) {
      if (part === undefined) continue;
      Object.assign(observed.get(parts[i]!.spec.name) as object, part);
      merged = true;
    }
  });
  return merged;
}

/** Reviews (each sees the whole plan of its target; a refusal throws before anything is applied), then the dependency filter. */
function finishPlan(parts: readonly TargetPlan[], observed: ReadonlyMap<string, unknown>): Plan {
  const changes: Change[] = [];
  const warnings: string[] = [];
  let unchanged = 0;
  for (const { spec: t, changes: own, unchanged: n, warnings: w } of parts) {
    warnings.push(...w);
    for (const p of t.providers) warnings.push(...(p.review?.(t.target, observed.get(t.name), own) ?? []));
    changes.push(...own);
    unchanged += n;
  }
  // A dependency on an object that needs no change is already satisfied: keep only those in the plan.
  const present = new Set(changes.map((c) => c.address));
  for (const c of changes) c.dependsOn = c.dependsOn.filter((d) => present.has(d));
  return { changes, unchanged, warnings };
}

/** Apply a plan through the providers that made it. */
export async function applyPlan(targets: readonly TargetSpec[], plan: Plan, opts: ExecuteOptions = {}): Promise<Outcome[]> {
  const byName = new Map(targets.map((t) => [t.name, t]));
  const appliers = new Map<string, Applier>();
  for (const t of targets) {
    for (const p of t.providers) {
      if (appliers.has(p.kind)) continue;
      appliers.set(p.kind, {
        kind: p.kind,
        apply: (changes) => {
          const spec = byName.get(changes[0]!.target)!;
          const provider = spec.providers.find((x) => x.kind === p.kind)!;
          return provider.apply(changes, spec.target);
        },
        ...(p.batchKey ? { batchKey: (c: Change) => { const k = p.batchKey!(c); return k === undefined ? undefined : `${c.target}\0${k}`; } } : {}),
      });
    }
  }
  return execute(plan, appliers, opts);
}

export { countActions };
