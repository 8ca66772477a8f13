import type { Change } from "./plan.js";

/** A dependency cycle in a plan; names the loop. A bug in a provider, never a user mistake. */
export class CycleError extends Error {
  constructor(readonly cycle: string[]) {
    super(`dependency cycle: ${cycle.join(" → ")}`);
    this.name = "CycleError";
  }
}

/**
 * Check the plan's dependency graph: every dependency that is itself in the plan, and no cycle. Returns
 * the dependencies restricted to changes in the plan (a dependency on an object that needs no change is
 * already satisfied). Throws CycleError naming the loop.
 */
export function dependencyGraph(changes: readonly Change[]): Map<string, string[]> {
  const present = new Set(changes.map((c) => c.address));
  const deps = new Map<string, string[]>();
  for (const c of changes) deps.set(c.address, [...new Set(c.dependsOn.filter((d) => present.has(d) && d !== c.address))]);
  const state = new Map<string, 1 | 2>(); // 1 visiting, 2 done
  const stack: string[] = [];
  const visit = (a: string) => {
    const s = state.get(a);
    if (s === 2) return;
    if (s === 1) throw new CycleError([...stack.slice(stack.indexOf(a)), a]);
    state.set(a, 1);
    stack.push(a);
    for (const d of deps.get(a)!) visit(d);
    stack.pop();
    state.set(a, 2);
  };
  for (const c of changes) visit(c.address);
  return deps;
}

/** Addresses in an order where every change comes after its dependencies (stable for ties). */
export function topologicalOrder(changes: readonly Change[]): string[] {
  const deps = dependencyGraph(changes);
  const out: string[] = [];
  const done = new Set<string>();
  const visit = (a: string) => {
    if (done.has(a)) return;
    done.add(a);
    for (const d of deps.get(a)!) visit(d);
    out.push(a);
  };
  for (const c of changes) visit(c.address);
  return out;
}
