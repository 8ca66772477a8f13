import { countActions, type Change, type FieldDiff, type Plan } from "../../core/plan.js";

export interface DiffStyle {
  color: boolean;
}

const SYMBOL: Record<Change["action"], string> = { create: "+", update: "~", replace: "-/+", delete: "-" };
const COLOR: Record<Change["action"], number> = { create: 32, update: 33, replace: 35, delete: 31 };

function paint(style: DiffStyle, code: number, s: string): string {
  return style.color ? `\u001b[${code}m${s}\u001b[0m` : s;
}

/** A value as shown in the diff: strings quoted, lists in brackets, secrets as (sensitive). */
export function showValue(v: unknown, sensitive = false): string {
  if (sensitive) return "(sensitive)";
  if (v === undefined) return "(unset)";
  if (typeof v === "string") return v.startsWith("(known after apply)") ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => showValue(x)).join(", ")}]`;
  return JSON.stringify(v);
}

function fieldLine(f: FieldDiff, action: Change["action"], width: number): string {
  const name = `${f.path}:`.padEnd(width + 2);
  if (action === "create") return `${name}${showValue(f.after, f.sensitive)}`;
  if (action === "delete") return `${name}${showValue(f.before, f.sensitive)}`;
  if (!("before" in f)) return `${name}${showValue(f.after, f.sensitive)}`;
  if (!("after" in f)) return `${name}${showValue(f.before, f.sensitive)} → (unset)`;
  return `${name}${showValue(f.before, f.sensitive)} → ${showValue(f.after, f.sensitive)}`;
}

/**
 * The plan as people read it, like Terraform's: `+` create, `~` update with before → after per field,
 * `-/+` replace with the reason, `-` delete; secrets as (sensitive); a summary line with counts.
 */
export function renderPlan(plan: Plan, style: DiffStyle, targets: { name: string; url: string }[] = []): string[] {
  const lines: string[] = [];
  if (plan.changes.length === 0) {
    lines.push(`No changes. ${plan.unchanged} object${plan.unchanged === 1 ? "" : "s"} in sync.`);
    return lines;
  }
  let current: string | undefined;
  for (const c of plan.changes) {
    if (c.target !== current) {
      current = c.target;
      const t = targets.find((x) => x.name === c.target);
      if (lines.length > 0) lines.push("");
      lines.push(t ? `${c.target} (${t.url})` : c.target);
    }
    const head = `  ${paint(style, COLOR[c.action], `${SYMBOL[c.action]} ${c.address}`)}`;
    lines.push(c.reason ? `${head}\n      ${paint(style, 2, `# ${c.reason}`)}` : head);
    const width = Math.max(0, ...c.fields.map((f) => f.path.length));
    for (const f of c.fields) lines.push(`      ${fieldLine(f, c.action, width)}`);
  }
  lines.push("");
  lines.push(summaryLine(plan));
  return lines.flatMap((l) => l.split("\n"));
}

export function summaryLine(plan: Plan): string {
  const n = countActions(plan.changes);
  return `Plan: ${n.create} to create, ${n.update} to update, ${n.replace} to replace, ${n.delete} to delete; ${plan.unchanged} unchanged.`;
}
