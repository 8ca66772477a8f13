import { existsSync, readdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { playbook, problemsOf, root } from "../helpers/config.js";

const examples = readdirSync(`${root}playbooks`).filter((f) => f.endsWith(".yaml"));

describe("playbooks/", () => {
  it("has the tutorial scenario and a larger example", () => {
    expect(examples).toEqual(expect.arrayContaining(["homelab.yaml", "larger.yaml"]));
  });

  it.each(examples)("%s points editors at the schema and validates", (name) => {
    const text = playbook(name);
    const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text);
    expect(m, "missing the yaml-language-server $schema comment").not.toBeNull();
    expect(existsSync(resolve(dirname(`${root}playbooks/${name}`), m![1]!))).toBe(true);
    expect(problemsOf(text, name)).toEqual([]);
  });

  it("homelab.yaml is exactly the tutorial: one tenant, one cluster, realm azure (autocreate, default), one Administrator on /", async () => {
    const { validateText } = await import("../../src/config/resolve.js");
    const { config } = validateText(playbook("homelab.yaml"));
    expect(Object.keys(config.tenants)).toHaveLength(1);
    expect(Object.keys(config.clusters)).toHaveLength(1);
    expect(Object.keys(config.realms)).toEqual(["azure"]);
    expect(config.realms.azure).toMatchObject({ type: "openid", autocreate: true, default: true, tenant: "contoso" });
    expect(config.access).toEqual([{ user: "jane@contoso.com@azure", role: "Administrator", path: "/" }]);
  });
});
