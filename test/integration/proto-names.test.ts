import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apply } from "../../src/index.js";
import { homelab } from "../helpers/cli.js";
import { pveLab, writes, type PveLab } from "../helpers/pve.js";
import { setProcessEnv } from "../helpers/config.js";

/**
 * Names that are members of Object.prototype (issue 10 item 6), through validate, plan and apply against the
 * Proxmox simulator: each either works end to end (created, then in sync) or is refused by validate with a
 * located message; none is accepted and then fails at apply.
 */

/** Valid Proxmox role, group and user names; the ones starting with a letter are also realm names. */
const NAMES = ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__"];
const REALMS = NAMES.filter((n) => /^[A-Za-z]/.test(n));

const realmBlock = REALMS.map((n) => `  ${n}:
    issuerUrl: https://auth.lan/${n}/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
`).join("");

const body = `realms:
${realmBlock}roles:
${NAMES.map((n) => `  ${n}: { privs: [VM.Audit, VM.Console] }\n`).join("")}groups:
${NAMES.map((n, i) => `  ${n}: { comment: group ${i}, members: [${n}@pve${REALMS.includes(n) ? `, ${n}@${n}` : ""}] }\n`).join("")}users:
${NAMES.map((n) => `  ${n}@pve: { comment: user ${n} }\n`).join("")}access:
${NAMES.map((n) => `  - { user: ${n}@pve, role: ${n}, path: /vms }\n  - { group: ${n}, role: ${n}, path: /storage }\n`).join("")}${REALMS.map((n) => `  - { user: ${n}@${n}, role: PVEAuditor, path: / }\n`).join("")}prune: { acl: true, users: true, groups: true, roles: true }
`;

describe("Object.prototype names against the Proxmox simulator", () => {
  let lab: PveLab;
  const run = (...args: string[]) => homelab(["-f", lab.file, ...args], { env: lab.env });

  let restoreEnv = () => {};
  beforeAll(async () => {
    lab = await pveLab(undefined, { SSO_SECRET: "sso-Secret-4711" });
    // The programmatic apply reads ${env:...} from this process.
    restoreEnv = setProcessEnv(lab.env);
  });
  afterAll(async () => {
    restoreEnv();
    await lab.close();
  });

  it("validate, plan and apply create every object; a second run is in sync and writes nothing", async () => {
    lab.write(body);
    const v = await run("validate");
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);

    // Apply through the programmatic API (src/index.ts): the result, not the output, is what this test is about.
    const a = await apply({ file: lab.file, lockDir: lab.dir });
    expect(a.outcomes.filter((o) => o.status !== "ok")).toEqual([]);
    expect(a.exitCode).toBe(0);
    // 4 realms, 5 roles, 5 groups, 5 @pve users + 4 realm users, 10 + 4 ACL entries.
    expect(a.counts).toMatchObject({ created: 37, updated: 0, replaced: 0, deleted: 0, failed: 0 });

    const s = lab.sim.state();
    expect(s.roles!.map((r) => r.roleid).sort()).toEqual([...NAMES].sort());
    expect(s.groups!.map((g) => g.groupid).sort()).toEqual([...NAMES].sort());
    expect(s.realms!.map((r) => r.realm).filter((r) => r !== "pam" && r !== "pve").sort()).toEqual([...REALMS].sort());
    for (const n of NAMES) {
      expect(s.users!.find((u) => u.userid === `${n}@pve`), n).toMatchObject({ comment: `user ${n}`, groups: [n] });
      const acl = s.acl!.filter((e) => e.roleid === n).map((e) => `${e.path} ${e.type} ${e.ugid}`).sort();
      expect(acl, n).toEqual([`/storage group ${n}`, `/vms user ${n}@pve`]);
    }
    for (const n of REALMS) expect(s.users!.find((u) => u.userid === `${n}@${n}`), n).toMatchObject({ groups: [n] });

    lab.sim.clearLog();
    const again = await apply({ file: lab.file, lockDir: lab.dir, detailedExitcode: true });
    expect(again.exitCode).toBe(0);
    expect(again.plan).toMatchObject({ changes: [], unchanged: 37 });
    expect(writes(lab.sim)).toEqual([]);
  });

  it("undeclared, as roles and groups, they are refused by validate and by apply, located, before any request", async () => {
    lab.write(`access:\n${NAMES.map((n) => `  - { user: bob@pve, role: ${n}, path: / }\n  - { group: ${n}, role: PVEAuditor, path: / }\n`).join("")}`);
    const file = lab.file.replace(/.*\//, "");
    const expected = NAMES.flatMap((n, i) => [
      `error ${file}:${8 + 2 * i}:28: access[${2 * i}].role: unknown role \`${n}\``,
      `error ${file}:${9 + 2 * i}:14: access[${2 * i + 1}].group: unknown group \`${n}\``,
    ]);
    const v = await run("validate");
    expect(v.code).toBe(3);
    expect(v.stderr.split("\n").filter((l) => l.startsWith("error ")).map((l) => l.replace(/^error .*\//, "error "))).toEqual(expected);
    lab.sim.clearLog();
    const a = await run("apply");
    expect(a.code).toBe(3);
    expect(a.stderr).toContain(`${NAMES.length * 2} problems found; nothing was changed.`);
    expect(lab.sim.requestLog).toEqual([]);
  });
});
