import { afterEach, describe, expect, it, vi } from "vitest";
import { bufferOutput, consoleIo, flushPending } from "../../src/cli/output.js";
import { runSteps, throttledView } from "../../src/cli/progress.js";

/** Captures what reaches process.stdout/stderr.write, one entry per write call, as if they were pipes (cron, CI). */
function capture() {
  const writes: Array<["out" | "err", string]> = [];
  const tty = [process.stdout.isTTY, process.stderr.isTTY];
  process.stdout.isTTY = false as never;
  process.stderr.isTTY = false as never;
  const out = vi.spyOn(process.stdout, "write").mockImplementation((s: unknown) => (writes.push(["out", String(s)]), true));
  const err = vi.spyOn(process.stderr, "write").mockImplementation((s: unknown) => (writes.push(["err", String(s)]), true));
  return {
    writes,
    restore: () => {
      out.mockRestore();
      err.mockRestore();
      [process.stdout.isTTY, process.stderr.isTTY] = tty as [true, true];
    },
  };
}

let cap: ReturnType<typeof capture> | undefined;
afterEach(() => {
  cap?.restore();
  cap = undefined;
  vi.useRealTimers();
});

describe("batched console output (issue 12)", () => {
  it("inside bufferOutput, 1,000 change lines are one write, in order; outside, one write per line", async () => {
    cap = capture();
    const io = consoleIo({ noColor: true });
    await bufferOutput(async () => {
      for (let i = 0; i < 1000; i++) io.err(`+ user u${i}@pve`);
    });
    expect(cap.writes).toHaveLength(1);
    expect(cap.writes[0]![1].split("\n").slice(0, 3)).toEqual(["+ user u0@pve", "+ user u1@pve", "+ user u2@pve"]);
    expect(cap.writes[0]![1].split("\n")).toHaveLength(1001);
    io.err("after");
    io.err("after 2");
    expect(cap.writes).toHaveLength(3);
  });

  it("keeps the order of stdout and stderr lines across both streams", async () => {
    cap = capture();
    const io = consoleIo({ noColor: true });
    await bufferOutput(async () => {
      io.out("plan 1");
      io.out("plan 2");
      io.err("❯ apply");
      io.out("summary");
    });
    expect(cap.writes).toEqual([["out", "plan 1\nplan 2\n"], ["err", "❯ apply\n"], ["out", "summary\n"]]);
  });

  it("hands lines over within the batch interval while the command still runs, and at once past 64 KB", async () => {
    vi.useFakeTimers();
    cap = capture();
    const io = consoleIo({ noColor: true });
    let release!: () => void;
    const running = bufferOutput(() => new Promise<void>((r) => (release = r)));
    io.err("first");
    expect(cap.writes).toHaveLength(0);
    vi.advanceTimersByTime(60);
    expect(cap.writes).toEqual([["err", "first\n"]]);
    const long = "x".repeat(1000);
    for (let i = 0; i < 70; i++) io.err(long);
    expect(cap.writes.length).toBe(2); // 65 lines made 64 KB: written without waiting
    release();
    await running;
    expect(cap.writes.map(([, s]) => s).join("")).toBe(`first\n${`${long}\n`.repeat(70)}`);
  });

  it("secrets are still redacted, line by line", async () => {
    const { registerSecret } = await import("../../src/log/redact.js");
    registerSecret("batch-Secret-0x5e1f");
    cap = capture();
    const io = consoleIo({ noColor: true });
    await bufferOutput(async () => io.err("token batch-Secret-0x5e1f used"));
    flushPending();
    expect(cap.writes.map(([, s]) => s).join("")).not.toContain("batch-Secret-0x5e1f");
  });
});

describe("the progress view", () => {
  it("plain lines (no terminal) as listr2's simple renderer wrote them (listr2 itself is loaded on a terminal only)", async () => {
    cap = capture();
    const io = consoleIo({ noColor: true });
    await runSteps(io, [
      { title: "read pve1", run: async (t) => t.setTitle("read pve1: 7 requests") },
      { title: "read pve2", run: async (t) => t.fail("the error is shown below") },
      { title: "read pve3", run: async (t) => t.report("one line") },
    ], { json: false, concurrent: true });
    expect(cap.writes.map(([, s]) => s).join("")).toBe(
      "❯ read pve1\n❯ read pve2\n❯ read pve3\n› one line\n✔ read pve1: 7 requests\n✖ read pve2 [FAILED: the error is shown below]\n✔ read pve3\n",
    );
    expect(cap.writes.every(([s]) => s === "err")).toBe(true);
  });

  it("with --json, nothing", async () => {
    cap = capture();
    await runSteps(consoleIo({}), [{ title: "read pve1", run: async (t) => t.report("x") }], { json: true });
    expect(cap.writes).toEqual([]);
  });

  it("on a terminal, 10,000 title and line changes reach listr2 a bounded number of times; the last values win", () => {
    vi.useFakeTimers();
    const sets = { title: 0, output: 0 };
    let title = "apply 10000 changes";
    let output = "";
    const task = {
      get title() {
        return title;
      },
      set title(t: string) {
        sets.title++;
        title = t;
      },
      get output() {
        return output;
      },
      set output(o: string) {
        sets.output++;
        output = o;
      },
    };
    const view = throttledView(task, 100);
    for (let i = 1; i <= 10_000; i++) {
      view.setTitle(`apply ${i}/10000`);
      view.output(`+ user u${i}@pve`);
      if (i % 1000 === 0) vi.advanceTimersByTime(50); // 500 ms in all
    }
    expect(view.title()).toBe("apply 10000/10000");
    view.end();
    expect(title).toBe("apply 10000/10000");
    expect(output).toBe("+ user u10000@pve");
    expect(sets.title).toBeLessThanOrEqual(7);
    expect(sets.output).toBeLessThanOrEqual(7);
  });
});
