import { afterEach, describe, expect, it, vi } from "vitest";
import { applySummary } from "../../src/cli/render/run-view.js";
import { failureMessage, waitDisplay } from "../../src/cli/progress.js";
import { SLOW_AFTER_MS, watchRequest, withWaitListener } from "../../src/providers/waits.js";

describe("the apply step's summary (issue 9 failure 10)", () => {
  const of = (...statuses: ("ok" | "failed" | "skipped")[]) => statuses.map((status) => ({ status }));

  it("is nothing when every change went through", () => {
    expect(applySummary(of("ok", "ok", "ok"), 3)).toBeUndefined();
  });

  it.each([
    [of("ok", "failed", "skipped"), 3, "1 done, 1 failed, 1 skipped"],
    [of("failed", "failed"), 2, "0 done, 2 failed, 0 skipped"],
    [of("ok", "skipped"), 2, "1 done, 0 failed, 1 skipped"],
    [of("ok"), 3, "1 done, 0 failed, 0 skipped, 2 not run"],
  ])("%j of %d: %s", (outcomes, total, want) => expect(applySummary(outcomes, total)).toBe(want));

  it("reads `title: summary` on a terminal (listr shows the message there), the summary alone in plain lines (appended to the title)", () => {
    expect(failureMessage("apply 3 changes", "1 done, 1 failed, 1 skipped", true)).toBe("apply 3 changes: 1 done, 1 failed, 1 skipped");
    expect(failureMessage("apply 3 changes", "1 done, 1 failed, 1 skipped", false)).toBe("1 done, 1 failed, 1 skipped");
  });
});

describe("slow requests on the progress line (issue 10 item 10)", () => {
  afterEach(() => vi.useRealTimers());

  it("a request is announced after SLOW_AFTER_MS, once a second, to the listener of the context that started it; then cleared", async () => {
    vi.useFakeTimers();
    const heard: Array<[string | undefined, object]> = [];
    const other: string[] = [];
    let stopA!: () => void;
    let stopB!: () => void;
    withWaitListener((m, k) => heard.push([m, k]), () => {
      stopA = watchRequest("pve1 (https://pve1.lan:8006)");
    });
    withWaitListener((m) => other.push(String(m)), () => {
      stopB = watchRequest("Entra ID (https://login.microsoftonline.com)");
    });
    vi.advanceTimersByTime(SLOW_AFTER_MS - 1);
    expect(heard).toEqual([]);
    vi.advanceTimersByTime(1);
    vi.advanceTimersByTime(2000);
    expect(heard.map(([m]) => m)).toEqual([
      "waiting for pve1 (https://pve1.lan:8006): 3 s",
      "waiting for pve1 (https://pve1.lan:8006): 4 s",
      "waiting for pve1 (https://pve1.lan:8006): 5 s",
    ]);
    expect(new Set(heard.map(([, k]) => k)).size).toBe(1);
    stopA();
    expect(heard.at(-1)).toEqual([undefined, heard[0]![1]]);
    vi.advanceTimersByTime(5000);
    expect(heard).toHaveLength(4); // nothing after it finished
    expect(other[0]).toBe("waiting for Entra ID (https://login.microsoftonline.com): 3 s"); // its own context's listener only
    stopB();
  });

  it("a fast request says nothing, not even the end; outside any step nothing listens", () => {
    vi.useFakeTimers();
    const heard: unknown[] = [];
    withWaitListener((m) => heard.push(m), () => watchRequest("pve1 (x)"))();
    vi.advanceTimersByTime(10_000);
    expect(heard).toEqual([]);
    const stop = watchRequest("pve1 (x)");
    vi.advanceTimersByTime(10_000);
    stop();
  });

  it("on a terminal the newest wait follows the step title and goes when no request waits; setTitle keeps it", () => {
    const titles: string[] = [];
    const d = waitDisplay({ tty: true, title: "read pve1", setTitle: (t) => titles.push(t), print: () => expect.unreachable() });
    const a = {};
    const b = {};
    d.listener("waiting for pve1 (u): 3 s", a);
    d.listener("waiting for pve1 (u): 3 s", b);
    d.listener("waiting for pve1 (u): 4 s", a);
    d.setTitle("read pve1: 2 requests");
    d.listener(undefined, a);
    d.listener(undefined, b);
    expect(titles).toEqual([
      "read pve1: waiting for pve1 (u): 3 s",
      "read pve1: waiting for pve1 (u): 3 s",
      "read pve1: waiting for pve1 (u): 4 s",
      "read pve1: 2 requests: waiting for pve1 (u): 4 s",
      "read pve1: 2 requests: waiting for pve1 (u): 3 s",
      "read pve1: 2 requests",
    ]);
  });

  it("once the step is over, requests it left in flight no longer show: the title is the step's again", () => {
    const titles: string[] = [];
    const d = waitDisplay({ tty: true, title: "read pve1", setTitle: (t) => titles.push(t), print: () => expect.unreachable() });
    const [a, b] = [{}, {}];
    d.listener("waiting for pve1 (u): 3 s", a);
    d.listener("waiting for pve1 (u): 3 s", b);
    d.listener(undefined, a); // the one that failed; b is abandoned, still in flight
    d.end();
    d.listener("waiting for pve1 (u): 4 s", b);
    expect(titles.at(-1)).toBe("read pve1");
    expect(titles).toHaveLength(4);
  });

  it("in plain lines each wait is printed once, when it becomes slow", () => {
    const printed: string[] = [];
    const titles: string[] = [];
    const d = waitDisplay({ tty: false, title: "read pve1", setTitle: (t) => titles.push(t), print: (l) => printed.push(l) });
    const a = {};
    const b = {};
    d.listener("waiting for pve1 (u): 3 s", a);
    d.listener("waiting for pve1 (u): 4 s", a);
    d.listener("waiting for pve1 (u): 3 s", b);
    d.listener("waiting for Entra ID (v): 3 s", b);
    d.listener(undefined, a);
    d.setTitle("read pve1: 7 requests");
    expect(printed).toEqual(["waiting for pve1 (u): 3 s", "waiting for Entra ID (v): 3 s"]);
    expect(titles).toEqual(["read pve1: 7 requests"]);
  });
});
