import type { Change } from "../core/plan.js";
import type { ApplyResult } from "./execute.js";

/**
 * One resource kind (STYLE.md section 3): how to read it in bulk, how to compare it (pure), how to
 * apply a change. `Target` is what the provider acts on (a cluster with its client, a tenant with its
 * Graph client); `Observed` is the merged result of every provider's read for that target, so a planner
 * can look at other kinds (the ACL planner needs the users of managed realms, for instance).
 *
 * Adding a kind is one file implementing this, registered in src/providers/index.ts: no engine change.
 */
export interface Provider<Target, Observed> {
  kind: string;
  /** One bulk read per target (a constant number of requests, whatever the number of objects). */
  read(target: Target): Promise<Partial<Observed>>;
  /**
   * Pure: desired (inside target) × observed → changes, in a deterministic order. No I/O. `world` holds
   * every target's observed state by target name, for kinds that span targets (an Entra secret checks
   * the client key a Proxmox realm holds).
   */
  plan(target: Target, observed: Observed, world: ReadonlyMap<string, unknown>): PlanPart;
  /** Apply one change, or a batch of changes sharing `batchKey`; may report that a create adopted its object. */
  apply(changes: Change[], target: Target): Promise<void | ApplyResult>;
  batchKey?(change: Change): string | undefined;
  /**
   * Optional, pure: look at every change planned for this target (all kinds) once planning is done, before
   * anything is printed or applied. Throw a UserError to refuse the plan (nothing is written), or return
   * warnings. For rules that span kinds: the lockout guard, the write-privilege and version pre-flights.
   */
  review?(target: Target, observed: Observed, changes: readonly Change[]): string[] | void;
}

export interface PlanPart {
  changes: Change[];
  /** Desired objects found in sync. */
  unchanged: number;
  warnings?: string[];
}
