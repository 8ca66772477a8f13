import type { ConfigProblem } from "../core/errors.js";
import { Secret } from "../core/secret.js";

// The Secret type lives in core (core imports nothing from config); config keeps the walk over a typed config.
export { MAX_SECRET_BYTES, Secret, SECRET_REF, type SecretLimits } from "../core/secret.js";

/**
 * Every Secret in a typed config, checked as `homelab validate` does (Secret.check): located problems for
 * sources that are there but unusable (too large, not a regular file, several lines, empty).
 */
export function checkSecrets(config: unknown, env: NodeJS.ProcessEnv = process.env): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (typeof v !== "object" || v === null || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Secret) {
      const p = v.check(env);
      if (p) problems.push(p);
      return;
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) walk(child);
  };
  walk(config);
  return problems;
}
