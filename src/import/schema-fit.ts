/**
 * The schema's patterns as the one source of truth for `homelab import`: a value read from a cluster is written only
 * when schemas/homelab.schema.json accepts it (read once, on first use).
 */
import { readFileSync } from "node:fs";

interface SchemaDefs {
  $defs: Record<string, { pattern?: string; maxLength?: number; minLength?: number; enum?: string[]; properties?: Record<string, { pattern?: string; maxLength?: number }> }>;
}
let defs: SchemaDefs["$defs"] | undefined;
function schemaDefs(): SchemaDefs["$defs"] {
  defs ??= (JSON.parse(readFileSync(new URL("../../schemas/homelab.schema.json", import.meta.url), "utf8")) as SchemaDefs).$defs;
  return defs;
}
export function fits(def: string, value: string): boolean {
  const d = schemaDefs()[def]!;
  if (d.pattern !== undefined && !new RegExp(d.pattern, "u").test(value)) return false;
  if (d.maxLength !== undefined && [...value].length > d.maxLength) return false;
  if (d.minLength !== undefined && [...value].length < d.minLength) return false;
  return true;
}
export const privilegeSet = (): Set<string> => new Set(schemaDefs().privilege!.enum);
export function propertyFits(def: string, prop: string, value: string): boolean {
  const p = schemaDefs()[def]!.properties?.[prop];
  if (!p) return true;
  if (p.pattern !== undefined && !new RegExp(p.pattern, "u").test(value)) return false;
  return p.maxLength === undefined || [...value].length <= p.maxLength;
}
