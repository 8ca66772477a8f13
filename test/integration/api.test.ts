import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLocks, clusterSubject } from "../../src/engine/lock.js";
import { apply, plan, type ChangeEvent, type RunEvent, type RunResult } from "../../src/index.js";
import { graphWrites, lab, pveWrites, realmOn, TENANT_REALM_CONFIG, type Lab } from "../helpers/lab.js";
import { setProcessEnv } from "../helpers/config.js";

/**
 * The programmatic API (src/index.ts) against both simulators: plan → apply → a second apply that is a no-op, the
 * event stream checked against the result, no secret in any event or result, an aborted apply, and the CLI's locks.
 */

/** A run through the API with every event it emitted. */
async function recorded(run: (onEvent: (e: RunEvent) => void) => Promise<RunResult>): Promise<{ result: RunResult; events: RunEvent[] }> {
  const events: RunEvent[] = [];
  const result = await run((e) => void events.push(structuredClone(e)));
  return { result, events };
}

const ofType = <T extends RunEvent["type"]>(events: RunEvent[], type: T) => events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);

describe("programmatic API", () => {
  let l: Lab;
  let lockDir: string;
  let restoreEnv = () => {};
  /** Every event and result of every run of this file, for the secret search. */
  const seen: unknown[] = [];

  beforeAll(async () => {
    l = await lab(["pve1", "pve2"]);
    l.write(TENANT_REALM_CONFIG);
    // The config reads its credentials with ${env:...}, from this process's environment.
    restoreEnv = setProcessEnv(l.env);
    lockDir = mkdtempSync(join(tmpdir(), "hl-api-lock-"));
  });
  afterAll(async () => {
    restoreEnv();
    await l.close();
  });

  it("plan: the changes from empty, nothing written, no lock taken; its events are the result's", async () => {
    const { result, events } = await recorded((onEvent) => plan({ file: l.file, onEvent }));
    seen.push(result, events);
    expect(result.exitCode).toBe(0);
    expect(result.applied).toBe(false);
    expect(result.failures).toEqual([]);
    const planEvent = ofType(events, "plan");
    expect(planEvent).toHaveLength(1);
    expect(planEvent[0]!.changes.map((c) => c.address)).toEqual(result.plan!.changes.map((c) => c.address));
    expect(result.plan!.summary.create).toBeGreaterThan(5);
    expect(result.plan!.changes.every((c) => c.action === "create")).toBe(true);
    expect(graphWrites(l)).toEqual([]);
    expect(pveWrites(l)).toEqual([]);
    // Reads: one started event naming every target, one finished event per target, then the plan and the summary.
    expect(ofType(events, "read-started")[0]!.targets.sort()).toEqual(["contoso", "pve1", "pve2"]);
    expect(ofType(events, "read-finished").map((e) => e.target).sort()).toEqual(["contoso", "pve1", "pve2"]);
    expect(events.map((e) => e.type).filter((t) => t !== "warning" && t !== "wait" && t !== "read-finished")).toEqual(["read-started", "reads-done", "plan", "summary"]);
    const summary = ofType(events, "summary")[0]!;
    expect(summary).toMatchObject({ check: true, applied: false, changes: result.plan!.changes.length, exitCode: 0 });
    expect(ofType(events, "change")).toEqual([]);
  });

  it("apply: every planned change done once; each change event is the outcome of that change, the summary counts them", async () => {
    const { result, events } = await recorded((onEvent) => apply({ file: l.file, onEvent, lockDir }));
    seen.push(result, events);
    expect(result.exitCode, JSON.stringify(result.outcomes.filter((o) => o.status !== "ok"))).toBe(0);
    expect(result.applied).toBe(true);
    const planned = result.plan!.changes.map((c) => c.address);
    const changes = ofType(events, "change");
    // One change event per planned change, and the result's outcomes are those events, in plan order.
    expect(changes.map((c) => c.address).sort()).toEqual([...planned].sort());
    expect(result.outcomes.map((o) => o.address)).toEqual(planned);
    const byAddress = new Map(changes.map((c) => [c.address, c]));
    for (const o of result.outcomes) expect(o).toEqual(byAddress.get(o.address));
    // Every change was started before it settled.
    const started = new Set<string>();
    for (const e of events) {
      if (e.type === "change-started") for (const a of e.addresses) started.add(a);
      if (e.type === "change") expect(started.has(e.address), e.address).toBe(true);
    }
    // The summary is the last event and counts exactly the outcomes.
    const summary = events.at(-1)!;
    expect(summary.type).toBe("summary");
    const ok = (action: ChangeEvent["action"]) => changes.filter((c) => c.status === "ok" && c.action === action).length;
    expect((summary as Extract<RunEvent, { type: "summary" }>).counts).toEqual({ created: ok("create"), adopted: 0, updated: ok("update"), replaced: ok("replace"), deleted: ok("delete"), failed: 0, skipped: 0, notAttempted: 0 });
    expect(result.counts).toEqual((summary as Extract<RunEvent, { type: "summary" }>).counts);
    expect(result.counts.created).toBe(planned.length);
    // Phases in order.
    const order = events.map((e) => e.type);
    expect(order.indexOf("plan")).toBeLessThan(order.indexOf("apply-started"));
    expect(order.indexOf("apply-started")).toBeLessThan(order.indexOf("change-started"));
    expect(order.lastIndexOf("change")).toBeLessThan(order.indexOf("apply-done"));
    // The chain is really there: the realm holds a secret Entra accepts.
    const realm = realmOn(l.pve.get("pve1")!, "azure")!;
    expect(l.entra.checkClientSecret(String(realm["client-id"]), String(realm["client-key"]))).toBe(true);
  });

  it("a second apply is a no-op: nothing planned, nothing written, exit 0 (2 with detailedExitcode only when something changed)", async () => {
    l.entra.clearLog();
    for (const s of l.pve.values()) s.clearLog();
    const { result, events } = await recorded((onEvent) => apply({ file: l.file, onEvent, lockDir, detailedExitcode: true }));
    seen.push(result, events);
    expect(result.exitCode).toBe(0);
    expect(result.plan!.changes).toEqual([]);
    expect(result.applied).toBe(false);
    expect(result.outcomes).toEqual([]);
    expect(result.counts).toEqual({ created: 0, adopted: 0, updated: 0, replaced: 0, deleted: 0, failed: 0, skipped: 0, notAttempted: 0 });
    expect(ofType(events, "apply-started")).toEqual([]);
    expect(graphWrites(l)).toEqual([]);
    expect(pveWrites(l)).toEqual([]);
  });

  it("an aborted apply starts no new change and reports the rest as not attempted; exit 130, or 143 for SIGTERM", async () => {
    const users = ["ann", "bob", "cid", "dan", "eve", "fay"].map((u) => `${u}@pve`);
    l.write(`${TENANT_REALM_CONFIG}users:\n${users.map((u) => `  ${u}: {}`).join("\n")}\n`);
    const abort = new AbortController();
    const { result, events } = await recorded((onEvent) =>
      apply({
        file: l.file,
        lockDir,
        concurrency: 1,
        signal: abort.signal,
        onEvent: (e) => {
          onEvent(e);
          if (e.type === "change-started") abort.abort("SIGTERM");
        },
      }),
    );
    seen.push(result, events);
    expect(result.interrupted).toBe("SIGTERM");
    expect(result.exitCode).toBe(143);
    // Every user on both clusters; concurrency 1: the change in flight finishes, none of the others is attempted.
    const planned = result.plan!.changes.length;
    expect(planned).toBe(users.length * l.pve.size);
    const done = result.outcomes.filter((o) => o.status === "ok").map((o) => o.address);
    expect(done).toHaveLength(1);
    expect(result.notAttempted).toHaveLength(planned - 1);
    expect(result.outcomes.filter((o) => o.status === "skipped" && o.interrupted).map((o) => o.address)).toEqual(result.notAttempted);
    expect(result.counts).toMatchObject({ created: 1, notAttempted: planned - 1, failed: 0 });
    const summary = ofType(events, "summary")[0]!;
    expect(summary.notAttempted).toEqual(result.notAttempted);
    for (const o of result.outcomes) {
      const made = l.pve.get(o.target)!.state().users!.some((u) => u.userid === o.address.split(":").at(-1));
      expect(made, o.address).toBe(o.status === "ok");
    }

    // A plain abort() (no reason string): "abort", exit 130; and the next run converges what was left.
    const again = new AbortController();
    again.abort();
    const aborted = await apply({ file: l.file, lockDir, signal: again.signal });
    seen.push(aborted);
    expect(aborted).toMatchObject({ interrupted: "abort", exitCode: 130 });
    expect(aborted.outcomes.every((o) => o.status === "skipped" && o.interrupted)).toBe(true);
    const rest = await apply({ file: l.file, lockDir });
    seen.push(rest);
    expect(rest.exitCode).toBe(0);
    expect(rest.outcomes.map((o) => o.address).sort()).toEqual([...result.notAttempted].sort());
  });

  it("takes the CLI's locks: while another run holds a cluster's lock, apply waits, then rejects with E_LOCKED; plan takes none", async () => {
    const sim = l.pve.get("pve1")!;
    const release = await acquireLocks([clusterSubject("pve1", sim.url)], { waitMs: 0, file: "other.yaml", dir: lockDir });
    try {
      await expect(apply({ file: l.file, lockDir, lockWaitMs: 300 })).rejects.toMatchObject({ code: "E_LOCKED" });
      const planned = await plan({ file: l.file });
      expect(planned.exitCode).toBe(0);
    } finally {
      release();
    }
  });

  it("no client secret, API token or realm client key in any event or result", () => {
    const text = JSON.stringify(seen);
    const secrets = [
      l.entra.automation.clientSecret,
      ...[...l.pve.values()].map((s) => s.adminToken.secret),
      ...[...l.pve.values()].map((s) => String(realmOn(s, "azure")!["client-key"])),
    ];
    expect(text.length).toBeGreaterThan(1000);
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(8);
      expect(text.includes(s), `a secret (${s.slice(0, 3)}…) appears`).toBe(false);
    }
    // And the plan marked them: the secret and the realm's client key are there, as (sensitive).
    expect(text).toContain('"path":"client-key","after":"(sensitive)","sensitive":true');
  });
});
