import { describe, expect, it } from "vitest";
import { CycleError, topologicalOrder } from "../../src/core/graph.js";
import type { Change, Plan } from "../../src/core/plan.js";
import { execute, InFlightError, type Applier, type Outcome } from "../../src/engine/execute.js";

const ch = (address: string, dependsOn: string[] = [], extra: Partial<Change> = {}): Change => ({ address, kind: address.split("/")[0]!, target: "t", action: "create", fields: [], dependsOn, ...extra });
const planOf = (...changes: Change[]): Plan => ({ changes, unchanged: 0, warnings: [] });

/** An applier that records calls, can fail chosen addresses, and tracks how many run at once. */
function recorder(kinds: string[], opts: { fail?: string[]; batch?: (c: Change) => string | undefined; delayMs?: number } = {}) {
  const calls: string[][] = [];
  let running = 0;
  let peak = 0;
  const appliers = new Map<string, Applier>(
    kinds.map((kind) => [kind, {
      kind,
      async apply(changes) {
        running++;
        peak = Math.max(peak, running);
        calls.push(changes.map((c) => c.address));
        await new Promise((r) => setTimeout(r, opts.delayMs ?? 1));
        running--;
        if (changes.some((c) => opts.fail?.includes(c.address))) throw new Error(`boom ${changes[0]!.address}`);
      },
      ...(opts.batch ? { batchKey: opts.batch } : {}),
    }]),
  );
  return { appliers, calls, peak: () => peak };
}

describe("execute", () => {
  it("runs dependencies first", async () => {
    const r = recorder(["a", "b", "c"]);
    const out = await execute(planOf(ch("c/1", ["b/1"]), ch("b/1", ["a/1"]), ch("a/1")), r.appliers, { concurrency: 4 });
    expect(r.calls.flat()).toEqual(["a/1", "b/1", "c/1"]);
    expect(out.map((o) => `${o.address}:${o.status}`)).toEqual(["c/1:ok", "b/1:ok", "a/1:ok"]);
  });

  it("skips only what depends on a failure; unrelated work carries on", async () => {
    const r = recorder(["a", "b", "c"], { fail: ["a/1"] });
    const out = await execute(planOf(ch("a/1"), ch("b/1", ["a/1"]), ch("c/1", ["b/1"]), ch("a/2"), ch("b/2", ["a/2"])), r.appliers);
    const status = Object.fromEntries(out.map((o) => [o.address, o.status]));
    expect(status).toEqual({ "a/1": "failed", "b/1": "skipped", "c/1": "skipped", "a/2": "ok", "b/2": "ok" });
    expect(out.find((o) => o.address === "c/1")!.because).toBe("a/1");
    expect(r.calls.flat()).not.toContain("b/1");
  });

  it("never runs more than --concurrency units at once", async () => {
    const r = recorder(["a"], { delayMs: 5 });
    await execute(planOf(...Array.from({ length: 12 }, (_, i) => ch(`a/${i}`))), r.appliers, { concurrency: 3 });
    expect(r.peak()).toBe(3);
    const r1 = recorder(["a"], { delayMs: 2 });
    await execute(planOf(...Array.from({ length: 5 }, (_, i) => ch(`a/${i}`))), r1.appliers, { concurrency: 1 });
    expect(r1.peak()).toBe(1);
  });

  it("applies changes sharing a batch key in one call, after all their dependencies", async () => {
    const batch = (c: Change) => (c.kind === "acl" ? String(c.data!.key) : undefined);
    const r = recorder(["user", "acl"], { batch });
    const users = ["user/a", "user/b", "user/c"].map((a) => ch(a));
    const acls = [
      ch("acl/1", ["user/a"], { data: { key: "/:Admin" } }),
      ch("acl/2", ["user/b"], { data: { key: "/:Admin" } }),
      ch("acl/3", ["user/c"], { data: { key: "/vms:Audit" } }),
    ];
    await execute(planOf(...users, ...acls), r.appliers, { concurrency: 8 });
    const aclCalls = r.calls.filter((c) => c[0]!.startsWith("acl/"));
    expect(aclCalls).toEqual([["acl/1", "acl/2"], ["acl/3"]]);
  });

  it("drops from a batch only the members whose dependency failed", async () => {
    const batch = (c: Change) => (c.kind === "acl" ? "same" : undefined);
    const r = recorder(["user", "acl"], { batch, fail: ["user/b"] });
    const out = await execute(planOf(ch("user/a"), ch("user/b"), ch("acl/1", ["user/a"]), ch("acl/2", ["user/b"])), r.appliers);
    expect(r.calls.filter((c) => c[0]!.startsWith("acl/"))).toEqual([["acl/1"]]);
    expect(out.find((o) => o.address === "acl/2")).toMatchObject({ status: "skipped", because: "user/b" });
  });

  it("names the loop of a dependency cycle", () => {
    expect(() => topologicalOrder([ch("a/1", ["b/1"]), ch("b/1", ["c/1"]), ch("c/1", ["a/1"])])).toThrow(CycleError);
    expect(() => topologicalOrder([ch("a/1", ["b/1"]), ch("b/1", ["a/1"])])).toThrow("dependency cycle: a/1 → b/1 → a/1");
  });

  it("ignores dependencies on objects that need no change", async () => {
    const r = recorder(["a"]);
    const out = await execute(planOf(ch("a/1", ["x/unchanged"])), r.appliers);
    expect(out[0]!.status).toBe("ok");
  });

  describe("an abort signal (SIGINT/SIGTERM, issue 10 item 5)", () => {
    it("starts nothing after the abort; what was in flight finishes; the rest settles as skipped and interrupted", async () => {
      const abort = new AbortController();
      const started: string[] = [];
      const finish = new Map<string, () => void>();
      const appliers = new Map<string, Applier>([["a", { kind: "a", apply: (changes) => {
        started.push(changes[0]!.address);
        return new Promise<void>((r) => finish.set(changes[0]!.address, r));
      } }]]);
      const done: Outcome[] = [];
      const run = execute(planOf(...Array.from({ length: 8 }, (_, i) => ch(`a/${i}`)), ch("b/x", ["a/7"], { kind: "a" })), appliers, { concurrency: 2, signal: abort.signal, onDone: (o) => done.push(o) });
      await tick();
      finish.get("a/0")!();
      await tick();
      expect(started).toEqual(["a/0", "a/1", "a/2"]);
      abort.abort();
      await tick();
      expect(started).toHaveLength(3); // nothing new after the abort
      finish.get("a/1")!();
      finish.get("a/2")!();
      const out = await run;
      const status = Object.fromEntries(out.map((o) => [o.address, `${o.status}${o.interrupted ? " interrupted" : ""}`]));
      expect(status).toEqual({
        "a/0": "ok", "a/1": "ok", "a/2": "ok",
        "a/3": "skipped interrupted", "a/4": "skipped interrupted", "a/5": "skipped interrupted", "a/6": "skipped interrupted", "a/7": "skipped interrupted", "b/x": "skipped interrupted",
      });
      expect(done).toHaveLength(9); // every change reported once
      expect(started).toHaveLength(3);
    });

    it("stops waiting for the changes in flight after drainMs: they fail as interrupted with an unknown outcome, and a late answer changes nothing", async () => {
      const abort = new AbortController();
      let finishLate = () => {};
      const appliers = new Map<string, Applier>([["a", { kind: "a", apply: () => new Promise<void>((r) => (finishLate = r)) }]]);
      const done: Outcome[] = [];
      const run = execute(planOf(ch("a/1"), ch("a/2", ["a/1"])), appliers, { signal: abort.signal, drainMs: 50, onDone: (o) => done.push(o) });
      await tick();
      const t0 = Date.now();
      abort.abort();
      const out = await run;
      expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
      expect(out[0]).toMatchObject({ address: "a/1", status: "failed", interrupted: true });
      expect(out[0]!.error).toBeInstanceOf(InFlightError);
      expect(String((out[0]!.error as Error).message)).toMatch(/whether it was made is unknown/);
      expect(out[1]).toMatchObject({ address: "a/2", status: "skipped", interrupted: true });
      finishLate();
      await tick();
      expect(done.map((o) => `${o.address} ${o.status}`)).toEqual(["a/1 failed", "a/2 skipped"]);
    });

    it("an abort before the start runs nothing", async () => {
      const abort = new AbortController();
      abort.abort();
      const r = recorder(["a"]);
      const out = await execute(planOf(ch("a/1"), ch("a/2")), r.appliers, { signal: abort.signal });
      expect(r.calls).toEqual([]);
      expect(out.every((o) => o.status === "skipped" && o.interrupted)).toBe(true);
    });
  });
});

const tick = () => new Promise((r) => setTimeout(r, 5));
