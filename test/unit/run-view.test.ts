import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../../src/cli/output.js";
import { runView, type RunViewOptions } from "../../src/cli/render/run-view.js";
import { applySummaryEvent, changeEvent } from "../../src/engine/summary.js";
import type { ChangeEvent, RunEvent } from "../../src/engine/events.js";
import type { Outcome } from "../../src/engine/execute.js";
import { RemoteError } from "../../src/core/errors.js";
import type { Change } from "../../src/core/plan.js";

/**
 * The CLI's view of a run (src/cli/render/run-view.ts) from a scripted event stream, as cron sees it (plain lines,
 * not a terminal): the same events give the text lines and the JSON lines.
 */

function capture(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l), color: false, debug: false }, out, err };
}

const change = (address: string, target: string, action: Change["action"] = "create"): Change => ({ address, kind: "proxmox.user", target, action, fields: [], dependsOn: [] });
const unreachable = () => new RemoteError({ service: "proxmox", method: "POST", url: "https://pve2/api2/json/access/users", message: "proxmox cluster 'pve2': connection refused", code: "E_NETWORK", hint: "is it up?" });

/** A run on two clusters: pve1's two users are created; pve2's first create finds it unreachable, its other two are skipped. */
function script(): RunEvent[] {
  const changes = [change("proxmox.user/pve1:a@pve", "pve1"), change("proxmox.user/pve1:b@pve", "pve1"), change("proxmox.user/pve2:a@pve", "pve2"), change("proxmox.user/pve2:b@pve", "pve2"), change("proxmox.user/pve2:c@pve", "pve2")];
  const outcomes: Outcome[] = [
    { address: changes[0]!.address, kind: "proxmox.user", target: "pve1", action: "create", status: "ok", ms: 5 },
    { address: changes[1]!.address, kind: "proxmox.user", target: "pve1", action: "create", status: "ok", ms: 6 },
    { address: changes[2]!.address, kind: "proxmox.user", target: "pve2", action: "create", status: "failed", error: unreachable(), ms: 7 },
    { address: changes[3]!.address, kind: "proxmox.user", target: "pve2", action: "create", status: "skipped", because: changes[2]!.address, halted: true },
    { address: changes[4]!.address, kind: "proxmox.user", target: "pve2", action: "create", status: "skipped", because: changes[2]!.address, halted: true },
  ];
  const events: ChangeEvent[] = outcomes.map((o) => changeEvent(o));
  return [
    { type: "read-started", targets: ["pve1", "pve2"] },
    { type: "read-finished", target: "pve2", requests: 7 },
    { type: "read-finished", target: "pve1", requests: 6 },
    { type: "reads-done", failed: 0 },
    { type: "warning", message: "a plan warning", source: "plan" },
    { type: "warning", message: "a connect warning", source: "connect" },
    { type: "plan", changes, unchanged: 3, summary: { create: 5, update: 0, replace: 0, delete: 0 }, clusters: [{ name: "pve1", url: "https://pve1:8006" }, { name: "pve2", url: "https://pve2:8006" }] },
    { type: "apply-started", total: 5 },
    { type: "change-started", addresses: [changes[0]!.address] },
    ...events,
    { type: "apply-done", total: 5 },
    applySummaryEvent(outcomes, events, { detailedExitcode: false, expiringSecrets: [], changes: 5 }),
  ];
}

async function render(opts: Partial<RunViewOptions>): Promise<{ out: string[]; err: string[] }> {
  const c = capture();
  const view = runView(c.io, { json: false, quiet: false, check: false, diff: false, ...opts });
  for (const e of script()) await view.onEvent(e);
  return c;
}

describe("the CLI's run view", () => {
  // Plain lines whatever runs the tests (a terminal would get listr2).
  const tty = process.stderr.isTTY;
  beforeAll(() => void Object.defineProperty(process.stderr, "isTTY", { value: false, configurable: true }));
  afterAll(() => void Object.defineProperty(process.stderr, "isTTY", { value: tty, configurable: true }));

  it("plain lines: steps, one line per change, the stopped target counted once, the summary", async () => {
    const { out, err } = await render({});
    expect(err).toEqual([
      "❯ read pve1",
      "❯ read pve2",
      "✔ read pve2: 7 requests",
      "✔ read pve1: 6 requests",
      "warning: a plan warning",
      "warning: a connect warning",
      "❯ apply 5 changes",
      "created proxmox.user/pve1:a@pve",
      "created proxmox.user/pve1:b@pve",
      "FAILED create proxmox.user/pve2:a@pve: proxmox cluster 'pve2': connection refused",
      "✖ apply 5 changes [FAILED: 2 done, 1 failed, 2 skipped]",
    ]);
    expect(out.slice(-5)).toEqual([
      "",
      "FAILED proxmox.user/pve2:a@pve: proxmox cluster 'pve2': connection refused",
      "  hint: is it up?",
      "pve2: stopped after this failure: 2 changes not attempted; run homelab again once it is reachable",
      "Apply: 2 created, 0 updated, 0 replaced, 0 deleted, 1 failed, 2 skipped.",
    ]);
    // The diff came first, headed by each cluster's URL.
    expect(out[0]).toBe("pve1 (https://pve1:8006)");
  });

  it("JSON lines from the same events: plan, each change, the summary with the stopped target; every warning an event, nothing on stderr", async () => {
    const { out, err } = await render({ json: true });
    expect(err).toEqual([]);
    const events = out.map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(["warning", "warning", "plan", "change", "change", "change", "change", "change", "summary"]);
    expect(events.slice(0, 2)).toEqual([
      { event: "warning", message: "a plan warning" },
      { event: "warning", message: "a connect warning" },
    ]);
    expect(events[5]).toEqual({ event: "change", address: "proxmox.user/pve2:a@pve", action: "create", status: "failed", ms: 7, error: { code: "E_NETWORK", message: "proxmox cluster 'pve2': connection refused", hint: "is it up?" } });
    expect(events[6]).toEqual({ event: "change", address: "proxmox.user/pve2:b@pve", action: "create", status: "skipped", because: "proxmox.user/pve2:a@pve", halted: true });
    expect(events.at(-1)).toEqual({
      event: "summary", created: 2, adopted: 0, updated: 0, replaced: 0, deleted: 0, failed: 1, skipped: 2,
      stopped: [{ target: "pve2", address: "proxmox.user/pve2:a@pve", error: { code: "E_NETWORK", message: "proxmox cluster 'pve2': connection refused", hint: "is it up?" }, notAttempted: 2 }],
      expiringSecrets: [], exitCode: 1,
    });
  });

  it("quiet: no steps, but the change lines and the summary (cron mails what changed)", async () => {
    const { out, err } = await render({ quiet: true });
    expect(err.filter((l) => /^[❯✔✖]/.test(l))).toEqual([]);
    expect(err).toContain("created proxmox.user/pve1:a@pve");
    expect(out.at(-1)).toMatch(/^Apply: 2 created/);
  });
});
