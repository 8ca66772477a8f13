import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { homelab } from "../helpers/cli.js";
import { pveLab, type PveLab } from "../helpers/pve.js";

/**
 * The progress line of the apply step (issue 9 failure 10): `✔ apply 6/6` only when every change went through;
 * otherwise `✖` with how many were done, failed and skipped. Non-TTY (plain lines), as cron and CI see it.
 */
describe("apply progress line", () => {
  let lab: PveLab;
  const run = (args: string[]) => homelab(["-f", lab.file, ...args], { env: lab.env });

  beforeAll(async () => {
    lab = await pveLab();
    lab.write(`access:
  - { user: ann@pve, role: Administrator, path: / }
  - { user: kim@pve, role: PVEAuditor, path: / }
  - { user: lee@pve, role: PVEAuditor, path: /nodes }
`);
  });
  afterAll(() => lab.close());

  it("failed and skipped changes: ✖ and the counts, never ✔", async () => {
    // Every user create fails (500); the ACL entries on them are skipped.
    lab.sim.setFaults({ rate: 1, kinds: ["500"], methods: ["POST"] });
    try {
      const r = await run(["apply"]);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/✔ apply/);
      expect(r.stderr).toMatch(/^✖ apply 6 changes \[FAILED: 0 done, 3 failed, 3 skipped\]$/m);
    } finally {
      lab.sim.setFaults(undefined);
    }
  });

  it("some done, some failed: the counts add up to the plan", async () => {
    // Only the ACL writes fail now (PUT /access/acl): the users are created.
    lab.sim.setFaults({ rate: 1, kinds: ["500"], methods: ["PUT"] });
    try {
      const r = await run(["apply"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^✖ apply 6 changes \[FAILED: 3 done, 3 failed, 0 skipped\]$/m);
    } finally {
      lab.sim.setFaults(undefined);
    }
  });

  it("every change through: ✔ apply n/n", async () => {
    const r = await run(["apply"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^✔ apply 3\/3$/m);
    expect(r.stderr).not.toMatch(/✖/);
  });
});
