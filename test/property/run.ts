/**
 * One case of the Proxmox property test, end to end and in-process: start a simulator from the generated
 * fixture, validate the generated config, `converge` it as `homelab apply` would, check it against the
 * model, run again (nothing planned, no write), drift, and do it all again.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { converge, type ApplyOptions } from "../../src/cli/commands/apply.js";
import { reportError, type Io } from "../../src/cli/output.js";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { Secret } from "../../src/core/secret.js";
import { ConfigError } from "../../src/core/errors.js";
import { createProxmoxClient, type ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { startProxmoxSim, type ProxmoxFixture, type ProxmoxSim } from "../../src/sim/proxmox/index.js";
import { configText, generateCase, generateDrift, TOKEN_NAME, TOKEN_SECRET, TOKEN_USER, type DriftOp, type GenCase } from "./generate.js";
import { differences, expect as model, type Difference } from "./model.js";

export interface CaseResult {
  seed: number;
  /** "converged": every run passed; "refused": a located refusal (exit 3) that wrote nothing */
  outcome: "converged" | "refused" | "failed";
  failures: string[];
  /** the config text, for the failure report */
  config: string;
  /** which phase failed: first, noop, drift, noop-after-drift */
  phase?: string;
  /** set by the test when the failure is a KNOWN_OPEN one */
  known?: string;
  /** why a refused case was refused (the problems or the error line) */
  refusal?: string;
  ms: number;
}

interface RunOutput {
  code: number;
  /** the plan's change addresses with action */
  changes: string[];
  /** failed changes and errors, one line each */
  errors: string[];
  warnings: string[];
  writes: number;
  leaked: number;
}

const LOCK_DIR = mkdtempSync(join(tmpdir(), "hl-prop-"));

/** `homelab apply --json` in-process: the exit code, the plan, what failed, and the writes the simulator saw. */
/**
 * The `apply --json` events of a run, summarised: the plan's changes (`create <address> {fields}`), the changes
 * that did not go through (after the run's stderr lines), and the warnings.
 */
export function applyEvents(lines: readonly string[], errLines: readonly string[]): { changes: string[]; errors: string[]; warnings: string[] } {
  const changes: string[] = [];
  const errors: string[] = [...errLines];
  const warnings: string[] = [];
  for (const l of lines) {
    let e: Record<string, any>;
    try {
      e = JSON.parse(l);
    } catch {
      continue;
    }
    if (e.event === "plan") for (const ch of e.changes) changes.push(`${ch.action} ${ch.address}${ch.fields?.length ? ` {${ch.fields.map((f: any) => f.path).join(",")}}` : ""}`);
    if (e.event === "change" && e.status !== "ok") errors.push(`${e.status} ${e.action} ${e.address}: ${e.error?.message ?? `(depends on ${e.because})`}`);
    if (e.event === "warning") warnings.push(e.message);
  }
  return { changes, errors, warnings };
}

async function apply(sim: ProxmoxSim, text: string, lockFile: string, secrets: string[]): Promise<RunOutput> {
  const lines: string[] = [];
  const errLines: string[] = [];
  const io: Io = { out: (l) => lines.push(l), err: (l) => errLines.push(l), color: false, debug: false };
  const opts: ApplyOptions = { file: lockFile, rotateSecrets: false, check: false, diff: false, detailedExitcode: false, json: true, quiet: false, targets: [], concurrency: 4, lockWaitMs: 10_000 };
  sim.clearLog();
  let code: number;
  try {
    const { config, loaded } = validateText(text);
    code = await converge(io, buildDesired(config, loaded.baseDir([])), opts);
  } catch (err) {
    code = reportError(io, err);
  }
  const { changes, errors, warnings } = applyEvents(lines, errLines);
  // Secrets never appear in output (common rules): neither the token's secret nor a client key.
  const leaked = secrets.filter((v) => v.length >= 8 && [...lines, ...errLines].some((l) => l.includes(v)));
  if (leaked.length) errors.push(`LEAK: ${leaked.length} secret value(s) printed`);
  return { code, changes, errors, warnings, writes: sim.requestLog.filter((r) => r.method !== "GET").length, leaked: leaked.length };
}

async function applyDrift(admin: ProxmoxClient, ops: DriftOp[]): Promise<string[]> {
  const done: string[] = [];
  for (const op of ops) {
    try {
      switch (op.kind) {
        case "user-update":
          await admin.updateUser(op.userid, op.params as never);
          break;
        case "user-groups":
          await admin.updateUser(op.userid, { groups: op.groups });
          break;
        case "user-create":
          await admin.createUser({ userid: op.userid });
          break;
        case "user-delete":
          await admin.deleteUser(op.userid);
          break;
        case "acl": {
          const e = op.entry;
          await admin.putAcl({ path: e.path, roles: [e.roleid], ...(e.type === "user" ? { users: [e.ugid] } : { groups: [e.ugid] }), propagate: e.propagate !== 0, ...(op.delete ? { delete: true } : {}) });
          break;
        }
        case "realm-update":
          await admin.updateRealm(op.realm, op.params, op.delete ? { delete: op.delete } : {});
          break;
        case "realm-delete":
          await admin.deleteRealm(op.realm);
          break;
        case "role-create":
          await admin.createRole({ roleid: op.roleid, privs: op.privs });
          break;
        case "role-update":
          await admin.updateRole(op.roleid, op.privs);
          break;
        case "role-delete":
          await admin.deleteRole(op.roleid);
          break;
        case "group-create":
          await admin.createGroup({ groupid: op.groupid });
          break;
        case "group-comment":
          await admin.updateGroup(op.groupid, { comment: op.comment });
          break;
        case "group-delete":
          await admin.deleteGroup(op.groupid);
          break;
      }
      done.push(JSON.stringify(op));
    } catch {
      // A drift step that Proxmox refuses (its target went away in an earlier step) is simply not made.
    }
  }
  return done;
}

const show = (d: Difference) => `  ${d.managed ? "managed  " : "UNMANAGED"} ${d.key}\n      expected ${d.expected ?? "(absent)"}\n      actual   ${d.actual ?? "(absent)"}`;

/**
 * Whether a validate refusal is legitimate: every problem sits on (or under) a field the generator drew
 * as doubtful. Anything else refused is a generator bug or a validate bug: reported as a failure.
 */
function refusalIsLegit(kase: GenCase, err: ConfigError): string[] {
  const tainted = kase.taints.filter((t) => t.why !== "version");
  const covers = (t: GenCase["taints"][number], p: ConfigError["problems"][number]) =>
    p.path === t.path || p.path.startsWith(`${t.path}.`) || p.path.startsWith(`${t.path}[`) || (t.value !== undefined && p.message.includes(t.value));
  return err.problems.filter((p) => !tainted.some((t) => covers(t, p))).map((p) => `${p.path}: ${p.message}`);
}

export async function runCase(seed: number): Promise<CaseResult> {
  const t0 = Date.now();
  const kase = generateCase(seed);
  const failures: string[] = [];
  const sim = await startProxmoxSim({ fixture: kase.fixture, unauthorizedDelayMs: 0, seed, version: kase.version });
  const token = kase.tokenMode === "root" ? sim.adminToken : { id: `${TOKEN_USER}!${TOKEN_NAME}`, secret: TOKEN_SECRET };
  const tokenUser = token.id.slice(0, token.id.indexOf("!"));
  const text = configText(kase.config, { url: sim.url, tokenId: token.id, fingerprint: sim.fingerprint });
  const lockFile = join(LOCK_DIR, `case-${seed}.yaml`);
  process.env.PROP_PVE_TOKEN = token.secret;
  for (const [k, v] of Object.entries(kase.env)) process.env[k] = v;
  const client = (t: { id: string; secret: string }) => createProxmoxClient({ name: "pve", url: sim.url, token: { id: t.id, secret: Secret.fromValue(t.secret, "test") }, tls: { fingerprint: sim.fingerprint } });
  const admin = client(sim.adminToken);
  const secrets = [token.secret, sim.adminToken.secret, ...Object.values(kase.env)];
  const own = client(token);
  let refusal: string | undefined;
  const result = (outcome: CaseResult["outcome"], phase?: string): CaseResult => ({ seed, outcome, failures, config: text, ...(phase ? { phase } : {}), ...(refusal ? { refusal } : {}), ms: Date.now() - t0 });
  try {
    // Validate: only the doubtful fields may be refused.
    try {
      validateText(text);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const bad = refusalIsLegit(kase, err);
      refusal = err.problems.map((p) => `${p.path}: ${p.message}`).join("; ");
      if (bad.length > 0) failures.push(`validate refused a valid config:\n  ${bad.join("\n  ")}`);
      return result(bad.length ? "failed" : "refused", "validate");
    }

    /** One converging run and the no-op after it; false when the case ends here. */
    const phase = async (name: string): Promise<"ok" | "refused" | "failed"> => {
      const prior = sim.state();
      const x = model(kase.config, prior, { tokenUser, env: kase.env });
      const run = await apply(sim, text, lockFile, secrets);
      const context = () => `plan:\n  ${run.changes.join("\n  ") || "(none)"}${run.errors.length ? `\nerrors:\n  ${run.errors.join("\n  ")}` : ""}`;
      const tainted = kase.taints.filter((t) => t.why !== "version");
      if (kase.expectRefusal || (run.code === 3 && tainted.length > 0)) {
        // A refused plan writes nothing (issue 8: "a refused plan wrote nothing").
        refusal = run.errors.join("; ");
        if (run.code !== 3) failures.push(`${name}: expected a refusal (exit 3) because the config ${kase.expectRefusal ?? "has doubtful values"}, got exit ${run.code}\n${context()}`);
        if (run.writes > 0) failures.push(`${name}: the run was refused (exit ${run.code}) but sent ${run.writes} writes\n${context()}`);
        const after = differences({ ...x, state: prior }, sim.state());
        if (after.length) failures.push(`${name}: a refused run changed the cluster:\n${after.map(show).join("\n")}`);
        return failures.length ? "failed" : "refused";
      }
      if (run.leaked) failures.push(`${name}: ${run.leaked} secret value(s) appeared in the output`);
      if (run.code !== 0) failures.push(`${name}: apply exited ${run.code}, not 0\n${context()}`);
      const diff = differences(x, sim.state());
      if (diff.length) failures.push(`${name}: the cluster differs from the model (${diff.filter((d) => d.managed).length} managed, ${diff.filter((d) => !d.managed).length} outside the managed scope):\n${diff.map(show).join("\n")}\n${context()}`);
      if (failures.length) return "failed";

      const again = await apply(sim, text, lockFile, secrets);
      if (again.code !== 0 || again.changes.length > 0 || again.writes > 0) {
        failures.push(`${name}: the next run is not a no-op: exit ${again.code}, ${again.changes.length} changes, ${again.writes} writes\n  ${again.changes.join("\n  ")}${again.errors.length ? `\nerrors:\n  ${again.errors.join("\n  ")}` : ""}`);
      }
      // The token homelab runs as still works.
      try {
        await own.listRealms();
      } catch (err) {
        failures.push(`${name}: homelab's token ${token.id} no longer works: ${(err as Error).message}`);
      }
      return failures.length ? "failed" : "ok";
    };

    const first = await phase("first apply");
    if (first !== "ok") return result(first === "refused" ? "refused" : "failed", "first apply");
    const drift = generateDrift(seed, kase.config, sim.state(), tokenUser);
    const made = await applyDrift(admin, drift);
    const second = await phase(`apply after drift [${made.join(", ")}]`);
    if (second === "failed") return result("failed", "after drift");
    return result(second === "refused" ? "refused" : "converged");
  } catch (err) {
    failures.push(`internal: ${(err as Error).stack ?? String(err)}`);
    return result("failed", "internal");
  } finally {
    admin.close();
    own.close();
    for (const k of Object.keys(kase.env)) delete process.env[k];
    await sim.close();
  }
}

/** The failure report of one case: seed, the command that reproduces it, what failed, and the config. */
export function report(r: CaseResult): string {
  return [
    `seed ${r.seed} failed (${r.phase}); reproduce with:`,
    `  HOMELAB_PROPERTY_SEED=${r.seed} HOMELAB_PROPERTY_CASES=1 npx vitest run test/property/proxmox.test.ts`,
    ...r.failures,
    "config:",
    r.config.replace(/"url": "[^"]*"|"fingerprint": "[^"]*"/g, (m) => m.replace(/: ".*"/, ': "…"')),
  ].join("\n");
}

export type { ProxmoxFixture };
