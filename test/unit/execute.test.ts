import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { CycleError, topologicalOrder } from "../../src/core/graph.js";
import type { Change, Plan } from "../../src/core/plan.js";
import { execute, InFlightError, type Applier, type Outcome } from "../../src/engine/execute.js";
import { mulberry32 } from "../../src/sim/rng.js";

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

  describe("several targets (issue 12: 10 clusters side by side)", () => {
    /** An applier over every kind that tracks units in flight, overall and per target, and the order of starts. */
    function perTargetRecorder(kinds: string[], delayMs: (c: Change) => number, fail: ReadonlySet<string> = new Set()) {
      const starts: Change[] = [];
      const inFlight = new Map<string, number>();
      const peaks = new Map<string, number>();
      let running = 0;
      let peak = 0;
      const settled = new Set<string>();
      const violations: string[] = [];
      const appliers = new Map<string, Applier>(kinds.map((kind) => [kind, {
        kind,
        async apply(changes) {
          const t = changes[0]!.target;
          for (const c of changes) for (const d of c.dependsOn) if (!settled.has(d)) violations.push(`${c.address} started before ${d} settled`);
          starts.push(...changes);
          running++;
          peak = Math.max(peak, running);
          inFlight.set(t, (inFlight.get(t) ?? 0) + 1);
          peaks.set(t, Math.max(peaks.get(t) ?? 0, inFlight.get(t)!));
          await new Promise((r) => setTimeout(r, delayMs(changes[0]!)));
          running--;
          inFlight.set(t, inFlight.get(t)! - 1);
          for (const c of changes) settled.add(c.address);
          if (changes.some((c) => fail.has(c.address))) throw new Error(`boom ${changes[0]!.address}`);
        },
      }]));
      return { appliers, starts, peak: () => peak, peaks, violations };
    }

    it("gives free slots to the targets in turn, not to the first target's queue", async () => {
      // Plan order is target by target: all of t0's changes come first. Two slots: one for each target.
      const plan = planOf(...["t0", "t1"].flatMap((t) => Array.from({ length: 6 }, (_, i) => ch(`a/${t}-${i}`, [], { target: t }))));
      const r = perTargetRecorder(["a"], () => 2);
      await execute(plan, r.appliers, { concurrency: 2 });
      expect(r.starts.slice(0, 4).map((c) => c.target)).toEqual(["t0", "t1", "t0", "t1"]);
      expect(r.peaks.get("t0")).toBe(1);
      expect(r.peaks.get("t1")).toBe(1);
    });

    it("bounds each target by perTarget and all of them by concurrency", async () => {
      const plan = planOf(...["t0", "t1", "t2"].flatMap((t) => Array.from({ length: 8 }, (_, i) => ch(`a/${t}-${i}`, [], { target: t }))));
      const r = perTargetRecorder(["a"], () => 3);
      const out = await execute(plan, r.appliers, { concurrency: 5, perTarget: 2 });
      expect(out.every((o) => o.status === "ok")).toBe(true);
      expect(r.peak()).toBe(5);
      expect(Math.max(...r.peaks.values())).toBe(2);
      // One target alone: perTarget is its bound, whatever the overall one.
      const one = perTargetRecorder(["a"], () => 2);
      await execute(planOf(...Array.from({ length: 8 }, (_, i) => ch(`a/${i}`))), one.appliers, { concurrency: 8, perTarget: 3 });
      expect(one.peak()).toBe(3);
    });

    it("seeded: any DAG over several targets: dependencies first, both bounds kept, failures skip exactly their dependents", async () => {
      const seed = Number(process.env.SEED ?? Date.now() % 100000);
      const rnd = mulberry32(seed);
      const int = (n: number) => Math.floor(rnd() * n);
      for (let round = 0; round < 25; round++) {
        const targets = Array.from({ length: 1 + int(4) }, (_, i) => `t${i}`);
        const changes: Change[] = [];
        for (let i = 0; i < 5 + int(40); i++) {
          const target = targets[int(targets.length)]!;
          const same = changes.filter((c) => c.target === target);
          const deps = same.length && rnd() < 0.5 ? [...new Set(Array.from({ length: 1 + int(2) }, () => same[int(same.length)]!.address))] : [];
          changes.push(ch(`${["a", "b"][int(2)]}/${target}-${i}`, deps, { target }));
        }
        const fail = new Set(changes.filter(() => rnd() < 0.1).map((c) => c.address));
        const concurrency = 1 + int(6);
        const perTarget = rnd() < 0.3 ? undefined : 1 + int(4);
        const at = `seed ${seed} round ${round} (concurrency ${concurrency}, perTarget ${perTarget})`;
        const delay = new Map(changes.map((c) => [c.address, int(3)]));
        const r = perTargetRecorder(["a", "b"], (c) => delay.get(c.address)!, fail);
        const out = await execute(planOf(...changes), r.appliers, { concurrency, ...(perTarget !== undefined ? { perTarget } : {}) });
        expect(r.violations, at).toEqual([]);
        expect(r.peak(), at).toBeLessThanOrEqual(concurrency);
        for (const p of r.peaks.values()) expect(p, at).toBeLessThanOrEqual(perTarget ?? concurrency);
        // Expected outcome: failed if chosen to fail, skipped if a dependency did not succeed, else ok.
        const want = new Map<string, string>();
        for (const c of changes) {
          const blocked = c.dependsOn.some((d) => want.get(d) !== "ok");
          want.set(c.address, blocked ? "skipped" : fail.has(c.address) ? "failed" : "ok");
        }
        expect(Object.fromEntries(out.map((o) => [o.address, o.status])), at).toEqual(Object.fromEntries(want));
        expect(r.starts.map((c) => c.address).sort(), at).toEqual(changes.filter((c) => want.get(c.address) !== "skipped").map((c) => c.address).sort());
      }
    });
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

    it("listens to the signal with one listener while it runs, and leaves none behind", async () => {
      const abort = new AbortController();
      const r = recorder(["a"], { delayMs: 1 });
      let most = 0;
      const seen = () => (most = Math.max(most, getEventListeners(abort.signal, "abort").length));
      const out = await execute(planOf(...Array.from({ length: 30 }, (_, i) => ch(`a/${i}`))), r.appliers, { concurrency: 2, signal: abort.signal, onDone: seen });
      expect(out.every((o) => o.status === "ok")).toBe(true);
      expect(most).toBe(1);
      expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
    });
  });

  it("a throwing onDone still frees the unit's slot: the other units run", async () => {
    const r = recorder(["a"]);
    const errors: unknown[] = [];
    const onRejection = (e: unknown) => errors.push(e);
    process.on("unhandledRejection", onRejection);
    try {
      const out = await execute(planOf(ch("a/1"), ch("a/2"), ch("a/3")), r.appliers, { concurrency: 1, onDone: (o) => { if (o.address === "a/1") throw new Error("view broke"); } });
      expect(out.map((o) => o.status)).toEqual(["ok", "ok", "ok"]);
      expect(r.calls.flat()).toEqual(["a/1", "a/2", "a/3"]);
    } finally {
      await tick();
      process.off("unhandledRejection", onRejection);
    }
  });
});

const tick = () => new Promise((r) => setTimeout(r, 5));
