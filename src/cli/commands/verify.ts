import { buildDesired } from "../../config/desired.js";
import { loadValidConfig } from "../../config/resolve.js";
import { ExitCode } from "../../core/errors.js";
import type { Check } from "../../verify/checks.js";
import { verifyAll } from "../../verify/run.js";
import { paint, type Io } from "../output.js";
import { clock } from "../../engine/targets.js";

export interface VerifyCommandOptions {
  file: string;
  json: boolean;
}

/**
 * `homelab verify`: checks, without changing anything, what a person's login through each OpenID realm
 * needs (src/verify/checks.ts lists them). Prints a table on stdout (a hint under each failure and
 * warning), or with --json one object `{ checks: [{ id, realm, cluster?, ok, warning?, detail, hint? }], ok }`.
 *
 * Exit: 0 when every check passes (warnings included: a secret within renewBeforeDays, an http issuer),
 * 1 when one fails, 4 when homelab's own credentials are refused (a cluster token, the automation app),
 * 3 for an invalid config or a missing secret variable.
 */
export async function verifyCommand(io: Io, opts: VerifyCommandOptions): Promise<number> {
  const { config, loaded } = loadValidConfig(opts.file);
  const desired = buildDesired(config, loaded.baseDir([]));
  const checks = await verifyAll(desired, {
    now: clock(),
    onWarning: (m) => io.err(`warning: ${m}`),
    ...(io.debug ? { onDebug: (l: string) => io.err(`debug ${l}`) } : {}),
  });
  const ok = checks.every((c) => c.ok);
  if (opts.json) io.out(JSON.stringify({ checks, ok }));
  else for (const line of renderChecks(checks, io)) io.out(line);
  return ok ? ExitCode.ok : ExitCode.failure;
}

/** The table: check, realm@cluster, result, detail; a hint line under each failure and warning; a summary. */
export function renderChecks(checks: Check[], io: Io): string[] {
  if (checks.length === 0) return ["No OpenID realms to verify."];
  const where = (c: Check) => (c.cluster ? `${c.realm}@${c.cluster}` : c.realm);
  const result = (c: Check) => (!c.ok ? "FAIL" : c.warning ? "WARN" : "pass");
  const w1 = Math.max(5, ...checks.map((c) => c.id.length));
  const w2 = Math.max(13, ...checks.map((c) => where(c).length));
  const lines = [paint(io, 1, `${"CHECK".padEnd(w1)}  ${"REALM@CLUSTER".padEnd(w2)}  RESULT  DETAIL`)];
  for (const c of checks) {
    const r = result(c);
    const colored = paint(io, !c.ok ? 31 : c.warning ? 33 : 32, r);
    lines.push(`${c.id.padEnd(w1)}  ${where(c).padEnd(w2)}  ${colored}${" ".repeat(6 - r.length)}  ${c.detail}`);
    if (c.hint && (!c.ok || c.warning)) lines.push(paint(io, 2, `${" ".repeat(w1 + 2)}hint: ${c.hint}`));
  }
  const failed = checks.filter((c) => !c.ok).length;
  const warned = checks.filter((c) => c.ok && c.warning).length;
  const passed = checks.length - failed;
  lines.push("");
  lines.push(
    `Verify: ${checks.length} checks, ${passed} passed${warned ? ` (${warned} with a warning)` : ""}, ${failed} failed.${failed ? " A login through a failing realm will not work until it is fixed." : ""}`,
  );
  return lines;
}
