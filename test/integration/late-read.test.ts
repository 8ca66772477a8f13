import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apply, plan, type RunEvent, type RunResult } from "../../src/index.js";
import { DEFAULT_AUTOMATION_PERMISSIONS } from "../../src/sim/entra/index.js";
import { graphWrites, lab, pveWrites, TENANT_REALM_CONFIG, type Lab } from "../helpers/lab.js";
import { setProcessEnv } from "../helpers/config.js";

/**
 * The late reads of a run (issue 12; src/engine/run.ts planRead) through the programmatic API against both simulators:
 * the leavers read happens only once the clusters hold users of the realm, and when it fails, it is the tenant's read
 * failure (`read-failed`, then `failed`, the auth exit code), reported after the clusters' reads, with nothing written.
 * The automation app lacks User.Read.All (and User.ReadBasic.All), so Graph refuses `GET /users` (403).
 */

async function recorded(run: (onEvent: (e: RunEvent) => void) => Promise<RunResult>): Promise<{ result: RunResult; events: RunEvent[] }> {
  const events: RunEvent[] = [];
  const result = await run((e) => void events.push(structuredClone(e)));
  return { result, events };
}

const usersReads = (l: Lab) => l.entra.requestLog.filter((r) => r.api === "graph" && r.path === "/v1.0/users");

describe("late reads", () => {
  let l: Lab;
  let restoreEnv = () => {};

  beforeAll(async () => {
    l = await lab(["pve1"], { automation: { permissions: DEFAULT_AUTOMATION_PERMISSIONS.filter((p) => p !== "User.Read.All") } });
    l.write(TENANT_REALM_CONFIG);
    restoreEnv = setProcessEnv(l.env);
  });
  afterAll(async () => {
    restoreEnv();
    await l.close();
  });

  it("from empty no user of the realm is in Proxmox: no account is read, and the run converges without User.Read.All", async () => {
    const r = await apply({ file: l.file });
    expect(r.exitCode, JSON.stringify(r.failures)).toBe(0);
    expect(r.counts.created).toBeGreaterThan(0);
    expect(usersReads(l)).toEqual([]);
  });

  it("once jane is in Proxmox, the leavers read is made, and Graph's refusal is the tenant's read failure, after the cluster's read", async () => {
    l.entra.clearLog();
    l.pve.get("pve1")!.clearLog();
    const { result, events } = await recorded((onEvent) => plan({ file: l.file, onEvent }));
    expect(usersReads(l).map((r) => r.status)).toEqual([403]);
    expect(result.exitCode).toBe(4);
    expect(result.plan).toBeUndefined();
    expect(result.failures.map((f) => [f.target, f.error.message])).toEqual([["contoso", expect.stringMatching(/read whether the accounts of 1 user are enabled: HTTP 403/)]]);
    expect(result.failures[0]!.error.hint).toMatch(/User\.Read\.All/);
    const order = events.filter((e) => e.type.startsWith("read") || e.type === "failed" || e.type === "plan").map((e) => ("target" in e ? `${e.type} ${e.target}` : e.type));
    expect(order).toEqual(["read-started", "read-finished pve1", "read-failed contoso", "reads-done", "failed"]);
    expect(graphWrites(l)).toEqual([]);
    expect(pveWrites(l)).toEqual([]);
  });
});
