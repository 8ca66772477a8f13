import { describe, expect, it } from "vitest";
import { applySummary } from "../../src/cli/commands/apply.js";
import { failureMessage } from "../../src/cli/progress.js";

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
