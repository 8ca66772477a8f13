import { desiredUserCount } from "../../config/desired.js";
import { loadValidConfig } from "../../config/resolve.js";
import { ConfigError, ExitCode, UserError } from "../../core/errors.js";
import { printConfigWarnings, type Io } from "../output.js";

/**
 * `homelab validate`: schema and reference checks, no network, no secrets read. Exit 0 valid, 3 invalid.
 * With --json, stdout holds one JSON object either way: the summary, or `{valid: false, problems: [...]}`
 * (each problem: file, line, column, path, message, hint, as far as known); stderr has the usual lines.
 */
export function validateCommand(io: Io, opts: { file: string; json: boolean }): number {
  try {
    return validate(io, opts);
  } catch (err) {
    if (opts.json && err instanceof UserError) io.out(JSON.stringify({ valid: false, problems: jsonProblems(err) }));
    throw err;
  }
}

/** The problems of a refused config as JSON objects: located ones from a ConfigError, else the one error (a missing file, ...). */
export function jsonProblems(err: UserError): Array<{ file?: string; line?: number; column?: number; path?: string; message: string; hint?: string }> {
  if (err instanceof ConfigError) {
    return err.problems.map((p) => ({
      ...(p.file !== undefined ? { file: p.file } : {}),
      ...(p.line !== undefined ? { line: p.line, column: p.col ?? 1 } : {}),
      ...(p.path !== "" ? { path: p.path } : {}),
      message: p.message,
      ...(p.hint !== undefined ? { hint: p.hint } : {}),
    }));
  }
  return [{ message: err.message, ...(err.hint !== undefined ? { hint: err.hint } : {}) }];
}

function validate(io: Io, opts: { file: string; json: boolean }): number {
  // The distinct Proxmox users the config puts on any cluster, counted as buildDesired places them without building
  // the desired state (test/unit/desired-order.test.ts holds the two equal; what could make building fail, a date that
  // is no date, the checks refuse first). A pure function of the config, so kept in the config cache with it.
  const { config, loaded, warnings, extra } = loadValidConfig(opts.file, {
    extra: (v) => ({ users: desiredUserCount(v.config) }),
  });
  if (!opts.json) printConfigWarnings(io, false, warnings);
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const summary = {
    files: loaded.sources.map((s) => s.display),
    tenants: Object.keys(config.tenants).length,
    clusters: Object.keys(config.clusters).length,
    realms: Object.keys(config.realms).length,
    roles: Object.keys(config.roles).length,
    groups: Object.keys(config.groups).length,
    users: typeof extra?.users === "number" ? extra.users : desiredUserCount(config),
    access: config.access.length,
  };
  if (opts.json) {
    io.out(JSON.stringify({ valid: true, ...summary, warnings: jsonProblems(new ConfigError(warnings)) }));
  } else {
    io.out(
      `${summary.files.join(", ")}: valid (${[
        count(summary.tenants, "tenant"), count(summary.clusters, "cluster"), count(summary.realms, "realm"),
        count(summary.roles, "custom role"), count(summary.groups, "group"), count(summary.users, "user"),
        count(summary.access, "access mapping"),
      ].join(", ")})`,
    );
  }
  return ExitCode.ok;
}
