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
  /**
   * Optional: read more once a first plan shows what is needed (issue 12: a no-op reads only what it uses). Called
   * after every target was read and planned, with this target's planned changes (all kinds) and `world` (every
   * target's observed state by name, e.g. the clusters' users for the tenant's leavers read). Return what to merge
   * into this target's observed state, or undefined when nothing more is needed. If any provider returns something,
   * the engine plans everything once more from the merged state (planning is pure), and only that plan is reviewed.
   *
   * One round only: a late read sees the first plan, which was made without any late read's result, so a late read
   * must not depend on another late read (nor on its own). `plan` must work without the late part (absent: "not
   * read, nothing to conclude"), since the first plan is made without it.
   */
  readAfterPlan?(target: Target, observed: Observed, changes: readonly Change[], world: ReadonlyMap<string, unknown>): Promise<Partial<Observed> | undefined>;
}

export interface PlanPart {
  changes: Change[];
  /** Desired objects found in sync. */
  unchanged: number;
  warnings?: string[];
}
