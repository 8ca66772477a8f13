import { isAbsolute, resolve as resolvePath } from "node:path";
import type { ConfigProblem } from "../core/errors.js";
import { Secret } from "../core/secret.js";
import { caFileProblem } from "../providers/proxmox/tls.js";
import type { LoadedConfig } from "./load.js";
import { dotted } from "./schema.js";
import type { HomelabConfig } from "./types.js";

/**
 * The files and variables a config points at, checked by `homelab validate` where they exist (issue 10
 * items 3 and 8): `${file:...}` and `${env:...}` secrets (a regular file, at most 64 KiB, not empty, one
 * line unless a private key: Secret.check) and `clusters.<name>.tls.ca` (a regular file of at most 1 MiB).
 * A source that is absent is no problem here (validate runs in CI without the secrets; plan and apply
 * report it), but one that is there and would fail later fails now, located at its reference.
 */
export function checkSources(config: HomelabConfig, loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): ConfigProblem[] {
  // Secrets live in these three sections only (resolve.ts toTyped): walking the access list too cost a
  // quarter of a cached validate at 85,000 mappings.
  const problems = checkSecrets({ tenants: config.tenants, clusters: config.clusters, realms: config.realms }, env);
  for (const [name, c] of Object.entries(config.clusters)) {
    const ca = c.tls?.ca;
    if (ca === undefined || c.tls?.fingerprint !== undefined) continue;
    const path = ["clusters", name, "tls", "ca"];
    const file = isAbsolute(ca) ? ca : resolvePath(loaded.baseDir(path), ca);
    const p = caFileProblem(file);
    if (p) problems.push({ ...(loaded.locate(path) ?? {}), path: dotted(path), ...p });
  }
  return problems;
}

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
