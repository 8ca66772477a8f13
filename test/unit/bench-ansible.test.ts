// bench/ansible.mjs and its playbook: the skip note without Ansible, the playbook's YAML and the variables it
// reads (the ones the benchmark writes), the scenario both tools converge to. Where ansible-playbook is
// installed: its syntax check; with HOMELAB_TEST_ANSIBLE=1 also one small run of the playbook against the
// simulator (from empty to the scenario's state, then a run that changes nothing: two playbook runs, 10-40 s on
// a 2-core machine, so not by default; bench/ansible.mjs checks the same at scale). No timing here.
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { ansibleVars, comparable, difference, homelabConfig, model } from "../../bench/ansible/scenario.mjs";
import { run } from "../../bench/lib.mjs";
import { startProxmoxSim } from "../../src/sim/proxmox/index.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = join(root, "bench/ansible");
const read = (name: string) => readFileSync(join(dir, name), "utf8");

function onPath(name: string): string | undefined {
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      // not here
    }
  }
  return undefined;
}
const playbookBin = onPath("ansible-playbook");

interface Task {
  name?: string;
  when?: string;
  register?: string;
  changed_when?: unknown;
  loop?: string;
  [module: string]: unknown;
}
const plays = parse(read("site.yml")) as Array<{ hosts: string; tasks: Task[]; vars?: Record<string, unknown> }>;
const tasks = plays[0]!.tasks;
const uri = (t: Task) => t["ansible.builtin.uri"] as { url: string; method?: string; body?: Record<string, string> } | undefined;

describe("bench/ansible.mjs", () => {
  it("without ansible-playbook on PATH prints one line and exits 0, before needing a build", async () => {
    const empty = mkdtempSync(join(tmpdir(), "hl-noansible-"));
    try {
      const env = { ...process.env, PATH: empty, ANSIBLE_PLAYBOOK: "", HOMELAB_BIN: join(empty, "no-build/cli/main.js") };
      const r = await run(process.execPath, [join(root, "bench/ansible.mjs"), "--sizes", "1"], env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stdout).toMatch(/^bench\/ansible\.mjs: skipped, ansible-playbook is not on PATH/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("bench/ansible/site.yml", () => {
  it("is valid YAML: one document, no duplicate keys, one play on the inventory's group", () => {
    for (const name of ["site.yml", "example-vars.yml"]) {
      const docs = parseAllDocuments(read(name), { uniqueKeys: true });
      expect(docs, name).toHaveLength(1);
      expect(docs[0]!.errors, name).toEqual([]);
      expect(docs[0]!.warnings, name).toEqual([]);
    }
    expect(plays).toHaveLength(1);
    expect(read("inventory.ini")).toMatch(new RegExp(`^\\[${plays[0]!.hosts}\\]$`, "m"));
  });

  it("each task runs one ansible.builtin module; every write checks first (when) and reports itself changed", () => {
    for (const t of tasks) {
      const modules = Object.keys(t).filter((k) => k.includes("."));
      expect(modules, t.name).toHaveLength(1);
      expect(["ansible.builtin.uri", "ansible.builtin.set_fact"], t.name).toContain(modules[0]);
      const u = uri(t);
      if (u === undefined) continue;
      expect(u.url, t.name).toMatch(/^\{\{ pve_api \}\}\/access\//);
      if ((u.method ?? "GET") === "GET") expect(t.register, t.name).toBeTruthy();
      else {
        expect(t.when, t.name).toMatch(/not in existing_|in existing_users and/);
        expect(t.changed_when, t.name).toBe(true);
      }
    }
    const writes = tasks.filter((t) => (uri(t)?.method ?? "GET") !== "GET").map((t) => `${uri(t)!.method} ${uri(t)!.url.replace(/\{\{ pve_api \}\}/, "")}`);
    expect(writes).toEqual(["POST /access/users", "PUT /access/users/{{ item.userid | urlencode }}", "PUT /access/acl"]);
  });

  it("reads exactly the variables the benchmark writes, and the item fields it gives", () => {
    const text = read("site.yml").replace(/^\s*#.*$/gm, "");
    const vars = ansibleVars(model(3), { url: "https://127.0.0.1:1", tokenId: "root@pam!homelab" }) as Record<string, unknown>;
    const used = new Set([...text.matchAll(/\b(pve_[a-z_]+|homelab_[a-z_]+)\b/g)].map((m) => m[1]!));
    // The play's own variables and the tasks' results are not inputs.
    for (const own of [...Object.keys(plays[0]!.vars ?? {}), ...tasks.map((t) => t.register)]) used.delete(own!);
    expect([...used].sort()).toEqual(Object.keys(vars).sort());
    const fields = new Set([...text.matchAll(/\bitem\.([a-z_]+)/g)].map((m) => m[1]!));
    const given = new Set([...(vars.homelab_users as object[]), ...(vars.homelab_acl as object[])].flatMap((o) => Object.keys(o)));
    expect([...fields].filter((f) => !given.has(f))).toEqual([]);
    // The secret is read from the environment, never written into the variables.
    expect(JSON.stringify(vars)).not.toMatch(/secret/i);
    expect(text).toContain("lookup('ansible.builtin.env', 'PVE_TOKEN_SECRET')");
    const example = parse(read("example-vars.yml")) as Record<string, unknown>;
    for (const k of Object.keys(example)) expect(Object.keys(vars)).toContain(k);
  });

  it.skipIf(playbookBin === undefined)("passes ansible-playbook --syntax-check", async () => {
    const r = await run(playbookBin!, ["--syntax-check", "-i", join(dir, "inventory.ini"), join(dir, "site.yml")], { ...process.env, ANSIBLE_CONFIG: join(dir, "ansible.cfg") });
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
  });

  it.skipIf(playbookBin === undefined || process.env.HOMELAB_TEST_ANSIBLE !== "1")(
    "converges the simulator from empty to the scenario's users and ACL entries, then changes nothing",
    async () => {
      const m = model(1, { aclPerUser: 2 });
      const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
      const tmp = mkdtempSync(join(tmpdir(), "hl-ansible-test-"));
      try {
        const varsFile = join(tmp, "vars.json");
        writeFileSync(varsFile, JSON.stringify(ansibleVars(m, { url: sim.url, tokenId: sim.adminToken.id })));
        const env = { ...process.env, ANSIBLE_CONFIG: join(dir, "ansible.cfg"), PVE_TOKEN_SECRET: sim.adminToken.secret };
        const args = ["-i", join(dir, "inventory.ini"), join(dir, "site.yml"), "-e", `@${varsFile}`];
        const first = await run(playbookBin!, args, env);
        expect(first.code, first.stdout + first.stderr).toBe(0);
        const expected = {
          users: m.users.map((u: { userid: string; email: string; firstname: string }) => ({ userid: u.userid, enable: 1, email: u.email, firstname: u.firstname, groups: [] })),
          acl: m.acl.map((a: object) => ({ type: "user", ...a })),
          groups: [],
          roles: [],
        };
        expect(difference(comparable(expected), comparable(sim.state()))).toBeUndefined();
        expect(first.stdout).not.toContain(sim.adminToken.secret);
        sim.clearLog();
        const second = await run(playbookBin!, args, env);
        expect(second.code, second.stdout + second.stderr).toBe(0);
        expect(sim.requestLog.filter((r) => r.method !== "GET")).toEqual([]);
        expect(second.stdout).toMatch(/changed=0\b/);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
        await sim.close();
      }
    },
    90_000,
  );
});

describe("bench/ansible/scenario.mjs", () => {
  it("writes the same users and ACL entries as a homelab.yaml and as the playbook's variables", async () => {
    const { validateText } = await import("../../src/config/resolve.js");
    const m = model(40, { aclPerUser: 2 });
    const cluster = 'clusters:\n  pve:\n    url: https://127.0.0.1:8006\n    token: { id: "root@pam!homelab", secret: "${env:PVE_TOKEN}" }\n';
    const { config } = validateText(homelabConfig(m, cluster));
    expect(Object.keys(config.users).sort()).toEqual(m.users.map((u: { userid: string }) => u.userid).sort());
    const fromConfig = config.access.map((a: { user?: string; role: string; path: string; propagate?: boolean }) => `${a.path}|${a.user}|${a.role}|${a.propagate === false ? 0 : 1}`);
    const fromModel = m.acl.map((a: { path: string; ugid: string; roleid: string; propagate: number }) => `${a.path}|${a.ugid}|${a.roleid}|${a.propagate}`);
    expect(fromConfig.sort()).toEqual(fromModel.sort());
    const vars = ansibleVars(m, { url: "u", tokenId: "t" });
    const fromVars = vars.homelab_acl.map((a: { path: string; user: string; role: string; propagate: boolean }) => `${a.path}|${a.user}|${a.role}|${a.propagate ? 1 : 0}`);
    expect(fromVars.sort()).toEqual(fromModel.sort());
    expect(new Set(fromModel).size).toBe(fromModel.length);
    expect(fromModel.some((k: string) => k.endsWith("|0"))).toBe(true);
  });

  it("comparable/difference see a differing propagate flag, a missing user and an extra group", () => {
    const state = { users: [{ userid: "root@pam", enable: 1 }, { userid: "a@pve", enable: 1, email: "a@x" }], acl: [{ path: "/", type: "user", ugid: "a@pve", roleid: "PVEAuditor", propagate: 1 }], groups: [], roles: [] };
    const same = structuredClone(state);
    expect(difference(comparable(state), comparable(same))).toBeUndefined();
    const flag = structuredClone(state);
    flag.acl[0]!.propagate = 0;
    expect(difference(comparable(state), comparable(flag))).toMatch(/acl only after ansible \(1\)/);
    const noUser = { ...structuredClone(state), users: [state.users[0]!] };
    expect(difference(comparable(state), comparable(noUser))).toMatch(/users only after homelab \(1\).*a@pve/);
    const group = { ...structuredClone(state), groups: [{ groupid: "g" }] };
    expect(difference(comparable(state), comparable(group))).toMatch(/groups only after ansible/);
  });
});
