import { describe, expect, it } from "vitest";
import type { DesiredTenant } from "../../src/core/desired.js";
import { UserError } from "../../src/core/errors.js";
import type { Change } from "../../src/core/plan.js";
import type { Provider } from "../../src/engine/provider.js";
import { LateReadFailures, planAll, planRead, type TargetSpec } from "../../src/engine/run.js";
import { realmUsers } from "../../src/providers/entra/directory.js";
import { entraGroupProvider } from "../../src/providers/entra/group.js";
import { emptyObservedTenant, type TenantTarget } from "../../src/providers/entra/target.js";
import { emptyObserved } from "../../src/providers/proxmox/observed.js";

/**
 * The engine's late-read round (src/engine/run.ts planRead, Provider.readAfterPlan): a provider reads what the first
 * plan shows it needs, the engine plans once more with it, and only that plan is reviewed. And the leavers read of
 * entra.group, the round's first user: what it reads from the clusters' users.
 */

type Obs = { base?: string; extra?: string; other?: string };
const change = (address: string, target = "t1"): Change => ({ address, kind: "k", target, action: "create", fields: [], dependsOn: [] });

/** A provider planning `k/<extra>` once its late read found `extra`; it records what it was called with. */
function provider(late?: (o: Obs, changes: readonly Change[], world: ReadonlyMap<string, unknown>) => Promise<Partial<Obs> | undefined>) {
  const log = { plans: 0, lateCalls: [] as { seen: Obs; changes: string[] }[], reviewed: [] as string[][] };
  const p: Provider<unknown, Obs> = {
    kind: "k",
    read: async () => ({ base: "b" }),
    plan: (_t, o) => {
      log.plans++;
      return { changes: o.extra ? [change(`k/${o.extra}`)] : [], unchanged: 1 };
    },
    apply: async () => {},
    review: (_t, _o, changes) => void log.reviewed.push(changes.map((c) => c.address)),
    ...(late
      ? {
          readAfterPlan: async (_t: unknown, o: Obs, changes: readonly Change[], world: ReadonlyMap<string, unknown>) => {
            log.lateCalls.push({ seen: { ...o }, changes: changes.map((c) => c.address) });
            return late(o, changes, world);
          },
        }
      : {}),
  };
  return { p, log };
}

const spec = (name: string, ...providers: Provider<unknown, Obs>[]): TargetSpec => ({ name, target: {}, providers, empty: () => ({}) }) as TargetSpec;
const observed = (...entries: [string, Obs][]) => new Map<string, unknown>(entries.map(([n, o]) => [n, { ...o }]));

describe("planRead: the late-read round", () => {
  it("a late read that finds something: merged into its target's state, everything planned once more, only the final plan reviewed", async () => {
    const { p, log } = provider(async () => ({ extra: "found" }));
    const o = observed(["t1", { base: "b" }]);
    const plan = await planRead([spec("t1", p)], o);
    expect(plan.changes.map((c) => c.address)).toEqual(["k/found"]);
    expect(o.get("t1")).toEqual({ base: "b", extra: "found" });
    expect(log.plans).toBe(2);
    expect(log.lateCalls).toEqual([{ seen: { base: "b" }, changes: [] }]);
    // The review saw the plan with the late read's change, and no review saw the first plan.
    expect(log.reviewed).toEqual([["k/found"]]);
  });

  it("one round only: a late read is called once, even if what it found would make it want more", async () => {
    let n = 0;
    const { p, log } = provider(async () => ({ extra: `round${++n}` }));
    const plan = await planRead([spec("t1", p)], observed(["t1", {}]));
    expect(n).toBe(1);
    expect(log.plans).toBe(2);
    expect(plan.changes.map((c) => c.address)).toEqual(["k/round1"]);
  });

  it("nothing found (every late read returns undefined): no second plan, the first one is reviewed", async () => {
    const { p, log } = provider(async () => undefined);
    const plan = await planRead([spec("t1", p)], observed(["t1", { base: "b" }]));
    expect(log.plans).toBe(1);
    expect(log.lateCalls).toHaveLength(1);
    expect(log.reviewed).toEqual([[]]);
    expect(plan).toEqual({ changes: [], unchanged: 1, warnings: [] });
  });

  it("late reads see the first plan's changes of their target and every target's state; never another late read's result", async () => {
    const first = provider(async () => ({ extra: "x" }));
    // The cluster-like target plans a change from its first read, without any late read.
    const other: Provider<unknown, Obs> = { kind: "o", read: async () => ({}), plan: (_t, o) => ({ changes: o.other ? [change(`o/${o.other}`, "t2")] : [], unchanged: 0 }), apply: async () => {} };
    let sawWorld: unknown;
    const second = provider(async (_o, _c, world) => {
      sawWorld = world.get("t2");
      return { other: "late" };
    });
    const o = observed(["t1", {}], ["t2", { other: "first" }]);
    await planRead([spec("t1", first.p, second.p), spec("t2", other)], o);
    // Both saw t1 as first read (not the other's `extra`), and t1's first plan had no change.
    expect(first.log.lateCalls).toEqual([{ seen: {}, changes: [] }]);
    expect(second.log.lateCalls).toEqual([{ seen: {}, changes: [] }]);
    expect(sawWorld).toEqual({ other: "first" });
    expect(o.get("t1")).toEqual({ extra: "x", other: "late" });
  });

  it("a late read that fails: LateReadFailures naming its target, nothing planned further", async () => {
    const { p, log } = provider(async () => {
      throw new Error("graph down");
    });
    const ok = provider(async () => ({ extra: "y" }));
    const err = await planRead([spec("t1", p), spec("t2", ok.p)], observed(["t1", {}], ["t2", {}])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LateReadFailures);
    expect((err as LateReadFailures).failures.map((f) => [f.name, (f.error as Error).message])).toEqual([["t1", "graph down"]]);
    expect(log.reviewed).toEqual([]);
  });

  it("a review refuses the final plan, made with the late read (a secret the tenant's policy forbids)", async () => {
    const refusing: Provider<unknown, Obs> = {
      kind: "r",
      read: async () => ({}),
      plan: () => ({ changes: [], unchanged: 0 }),
      apply: async () => {},
      readAfterPlan: async () => ({ extra: "forbidden" }),
      review: (_t, o) => {
        if (o.extra === "forbidden") throw new UserError("refused");
      },
    };
    await expect(planRead([spec("t1", refusing)], observed(["t1", {}]))).rejects.toThrow(/refused/);
    // planAll makes no late read: the same plan is not refused there.
    expect(planAll([spec("t1", refusing)], observed(["t1", {}])).changes).toEqual([]);
  });

  it("`around` wraps each target's late reads (the run reports their slow requests under the target's name)", async () => {
    const { p } = provider(async () => undefined);
    const wrapped: string[] = [];
    await planRead([spec("t1", p), spec("t2")], observed(["t1", {}], ["t2", {}]), (t, read) => (wrapped.push(t.name), read()));
    expect(wrapped).toEqual(["t1"]);
  });
});

describe("entra.group's late read: the leavers' accounts, from the clusters' users", () => {
  const tenant = (...apps: Array<[realm: string, claim: string, clusters: string[]]>) =>
    ({ name: "contoso", groups: [], applications: apps.map(([realm, usernameClaim, clusters]) => ({ realm, usernameClaim, secrets: clusters.map((cluster) => ({ cluster })) })) }) as unknown as DesiredTenant;
  const cluster = (...userids: string[]) => {
    const o = emptyObserved();
    for (const u of userids) o.users.set(u, { userid: u } as never);
    return o;
  };
  const late = async (desired: DesiredTenant, world: Map<string, unknown>) => {
    const calls: string[] = [];
    const graph = {
      findUserStatuses: async (key: string, names: string[]) => (calls.push(`find ${key} ${names.join(",")}`), [{ id: "u1", userPrincipalName: names[0], accountEnabled: false }]),
      listUserStatuses: async () => (calls.push("all"), []),
    };
    const target = { desired, graph } as unknown as TenantTarget;
    const part = await entraGroupProvider.readAfterPlan!(target, emptyObservedTenant(), [], world);
    return { calls, part };
  };

  it("realmUsers: the users of each realm on the clusters it is on, without @realm, each once; other realms and clusters left out", () => {
    const world = new Map<string, unknown>([
      ["pve1", cluster("root@pam", "jane@contoso.com@azure", "bob@contoso.com@azure", "x@other")],
      ["pve2", cluster("jane@contoso.com@azure", "ann@contoso.com@azure")],
      ["pve3", cluster("eve@contoso.com@azure")],
    ]);
    const users = realmUsers(tenant(["azure", "upn", ["pve1", "pve2"]], ["lab", "upn", ["pve1"]]), (c) => (world.get(c) as ReturnType<typeof cluster> | undefined)?.users.keys());
    expect(new Map([...users].map(([r, n]) => [r, [...n].sort()]))).toEqual(new Map([["azure", ["ann@contoso.com", "bob@contoso.com", "jane@contoso.com"]]]));
  });

  it("no user of a realm in Proxmox: nothing read, so the first plan stands", async () => {
    const { calls, part } = await late(tenant(["azure", "upn", ["pve1"]]), new Map([["pve1", cluster("root@pam")]]));
    expect(part).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it("a few users: one filtered read of exactly them; many: the whole directory; sub: nothing", async () => {
    const few = await late(tenant(["azure", "upn", ["pve1"]]), new Map([["pve1", cluster("Jane@contoso.com@azure")]]));
    expect(few.calls).toEqual(["find userPrincipalName jane@contoso.com"]);
    expect(few.part).toEqual({ directory: [{ id: "u1", userPrincipalName: "jane@contoso.com", accountEnabled: false }] });
    const many = Array.from({ length: 16 }, (_, i) => `u${i}@contoso.com@azure`);
    expect((await late(tenant(["azure", "upn", ["pve1"]]), new Map([["pve1", cluster(...many)]]))).calls).toEqual(["all"]);
    expect((await late(tenant(["azure", "sub", ["pve1"]]), new Map([["pve1", cluster(...many)]]))).calls).toEqual([]);
  });
});
