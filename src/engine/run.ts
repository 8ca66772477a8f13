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

/** Plan every target (pure). Changes are ordered by target, then provider order, then address. */
export function planAll(targets: readonly TargetSpec[], observed: ReadonlyMap<string, unknown>): Plan {
  const changes: Change[] = [];
  const warnings: string[] = [];
  let unchanged = 0;
  for (const t of targets) {
    const own: Change[] = [];
    for (const p of t.providers) {
      const part = p.plan(t.target, observed.get(t.name), observed);
      own.push(...[...part.changes].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)));
      unchanged += part.unchanged;
      warnings.push(...(part.warnings ?? []));
    }
    // Reviews see the whole plan of their target; a refusal throws before anything is applied.
    for (const p of t.providers) warnings.push(...(p.review?.(t.target, observed.get(t.name), own) ?? []));
    changes.push(...own);
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
