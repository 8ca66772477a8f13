/**
 * The plan is data (STYLE.md section 3): every change has an address, an action, field-level
 * before/after (sensitive fields marked, their values never stored) and the addresses it depends on. It
 * is deterministic, serialisable and built without I/O. Apply executes exactly this; it never re-decides.
 */

export type Action = "create" | "update" | "replace" | "delete";

export interface FieldDiff {
  path: string;
  before?: unknown;
  after?: unknown;
  /** A secret: before/after hold only "(sensitive)" and the renderer never shows more. */
  sensitive?: boolean;
}

export interface Change {
  /** e.g. `proxmox.acl/pve1:/:alice@contoso.com@entra:Administrator`. */
  address: string;
  /** The provider kind that plans and applies it, e.g. `proxmox.acl`. */
  kind: string;
  /** The cluster or tenant it acts on. */
  target: string;
  action: Action;
  fields: FieldDiff[];
  dependsOn: string[];
  /** Why a replace or delete happens (shown in the diff). */
  reason?: string;
  /** What apply needs beyond the desired object, e.g. the realm `digest` or the ACL batch parameters. No secrets. */
  data?: Record<string, unknown>;
}

export interface Plan {
  /** Sorted: by target, then the provider order, then address. */
  changes: Change[];
  /** Objects compared and found in sync. */
  unchanged: number;
  warnings: string[];
}

export interface PlanCounts {
  create: number;
  update: number;
  replace: number;
  delete: number;
}

export function countActions(changes: readonly Change[]): PlanCounts {
  const c: PlanCounts = { create: 0, update: 0, replace: 0, delete: 0 };
  for (const ch of changes) c[ch.action]++;
  return c;
}

/** The value shown for a secret in every plan, diff, log and JSON report. */
export const SENSITIVE_VALUE = "(sensitive)";

const NO_KEYS: ReadonlySet<string> = new Set();

/**
 * Field diffs between two flat records: keys whose normalised values differ, in key order.
 * `sensitive` keys are compared but recorded as "(sensitive)". Called for every object of every plan (a no-op at
 * 1,000 users: thousands of times, almost always finding nothing), so it only sorts the keys that differ.
 */
export function diffFields(before: Record<string, unknown>, after: Record<string, unknown>, sensitive: ReadonlySet<string> = NO_KEYS): FieldDiff[] {
  let changed: string[] | undefined;
  for (const k of Object.keys(after)) if (!sameValue(before[k], after[k])) (changed ??= []).push(k);
  for (const k of Object.keys(before)) if (!Object.hasOwn(after, k) && !sameValue(before[k], after[k])) (changed ??= []).push(k);
  if (changed === undefined) return [];
  const out: FieldDiff[] = [];
  for (const k of changed.sort()) {
    const b = before[k];
    const a = after[k];
    if (sensitive.has(k)) {
      out.push({ path: k, ...(b !== undefined ? { before: SENSITIVE_VALUE } : {}), ...(a !== undefined ? { after: SENSITIVE_VALUE } : {}), sensitive: true });
    } else {
      out.push({ path: k, ...(b !== undefined ? { before: b } : {}), ...(a !== undefined ? { after: a } : {}) });
    }
  }
  return out;
}

export function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}
