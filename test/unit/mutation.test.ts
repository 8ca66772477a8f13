import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import { Secret } from "../../src/core/secret.js";
import type { DesiredState } from "../../src/core/desired.js";
import { BUILTIN_ROLES, realmOf } from "../../src/core/pve.js";
import { ConfigError } from "../../src/core/errors.js";
import { playbook } from "../helpers/config.js";
import { rng, type R } from "../helpers/rng.js";


/** Members of Object.prototype: names that a plain-object lookup finds without their being declared (issue 10 item 6). */
const PROTO = ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__", "isPrototypeOf", "toLocaleString"];

const CHARS = [":", "-", " ", "  ", "{", "}", "[", "]", '"', "'", "&a", "*a", "\n", "#", "!", "!!binary ", "%", "@", "|", ">", "\t", "?", ",", "~", "0", "é", "${env:X}", "<<: *a", ...PROTO, ...PROTO.map((p) => ` ${p}`), "@__proto__", "__proto__: "];

function mutateText(text: string, r: R): string {
  const lines = text.split("\n");
  switch (r.int(6)) {
    case 0: {
      const i = r.int(text.length);
      return text.slice(0, i) + text.slice(i + 1 + r.int(3));
    }
    case 1: {
      const i = r.int(text.length + 1);
      return text.slice(0, i) + r.pick(CHARS) + text.slice(i);
    }
    case 2: {
      const i = r.int(lines.length);
      lines.splice(i, 0, lines[i] ?? "");
      return lines.join("\n");
    }
    case 3:
      lines.splice(r.int(lines.length), 1);
      return lines.join("\n");
    case 4: {
      const i = r.int(lines.length);
      lines[i] = (r.next() < 0.5 ? " " : "") + (lines[i] ?? "").replace(/^ /, r.next() < 0.5 ? "" : "   ");
      return lines.join("\n");
    }
    default: {
      const i = r.int(lines.length);
      const j = r.int(lines.length);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join("\n");
    }
  }
}

const VALUES: unknown[] = [null, 0, -1, 1.5, 2 ** 53, true, false, "", "x", "x".repeat(300), "/", "a@b", "root@pam", "${env:A}", "${file:/x}", [], [1], ["a"], {}, { a: 1 }, { user: "x@pve" }, "2027-02-30", "PVEx", "Administrator", "VM.Audit", "/vms/100", ...PROTO, ...PROTO.map((p) => `${p}@pve`), "jane@toString", [...PROTO]];

/** Set a key as an own property: `obj["__proto__"] = v` would replace the prototype instead. */
function put(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Paths to every node of a plain JS value. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function mutateData(data: any, r: R): unknown {
  const all = paths(data).filter((p) => p.length > 0);
  const target = r.pick(all);
  const parentPath = target.slice(0, -1);
  let parent = data;
  for (const s of parentPath) parent = parent[s];
  const key = target[target.length - 1]!;
  switch (r.int(5)) {
    case 0:
      parent[key] = structuredClone(r.pick(VALUES));
      break;
    case 1:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 2:
      if (!Array.isArray(parent)) {
        const v = parent[key];
        delete parent[key];
        // Renamed: a near miss (`realmss`, `rea`) or a member of Object.prototype (`toString`, `__proto__`).
        const renamed = r.int(4) === 0 ? r.pick(PROTO) : `${String(key)}${r.pick(["s", "", "_", "X"])}`.slice(0, r.int(3) === 0 ? 3 : 100);
        put(parent, renamed, v);
      }
      break;
    case 3: {
      const v = parent[key];
      if (typeof v === "string") parent[key] = v.slice(0, r.int(v.length + 1)) + r.pick(["", "x", "@", "/", " ", ".", "-"]);
      else if (Array.isArray(v)) v.push(structuredClone(r.pick(VALUES)));
      else if (v && typeof v === "object") put(v, r.pick(["extra", "type", "tenant", "clusters", "members", "entraGroup", "usernameClaim", "default", ...PROTO]), structuredClone(r.pick(VALUES)));
      else parent[key] = String(v);
      break;
    }
    default: {
      // Copy a node over another: produces cross-section shapes such as a cluster where a realm belongs.
      const src = r.pick(all);
      let v = data;
      for (const s of src) v = v?.[s];
      parent[key] = structuredClone(v);
    }
  }
  return data;
}

/**
 * What validate accepts, plan and apply can use: every ACL names a role that exists (built in or declared on
 * that cluster) and a group the cluster gets, every membership a declared group, every user a realm that
 * exists, and no value is a function (an inherited `toString` taken for a declared name, issue 10 item 6).
 */
function checkDesired(d: DesiredState): void {
  const walk = (v: unknown, at: string): void => {
    if (typeof v === "function") throw new Error(`a function in the desired state at ${at}`);
    if (v instanceof Secret || v === null || typeof v !== "object") return;
    for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
  };
  walk(d, "desired");
  for (const c of d.clusters) {
    const roles = new Set([...Object.keys(BUILTIN_ROLES), ...c.roles.map((r) => r.roleid)]);
    const groups = new Set(c.groups.flatMap((g) => (typeof g.groupid === "string" ? [g.groupid] : [])));
    const realms = new Set(["pam", "pve", ...c.realms.map((r) => r.realm)]);
    for (const a of c.acl) {
      if (!roles.has(a.roleid)) throw new Error(`${a.address}: role ${a.roleid} does not exist on cluster ${c.name}`);
      if (a.type === "group" && typeof a.ugid === "string" && !groups.has(a.ugid)) throw new Error(`${a.address}: group ${a.ugid} is not created on cluster ${c.name}`);
    }
    for (const u of c.users) {
      if (!realms.has(realmOf(u.userid))) throw new Error(`${u.address}: realm ${realmOf(u.userid)} does not exist on cluster ${c.name}`);
      for (const g of u.groups) if (!groups.has(g)) throw new Error(`${u.address}: group ${g} is not created on cluster ${c.name}`);
    }
  }
}

/** Validate; on success also build and check the desired state. Returns "valid" or "invalid"; anything else throws. */
function outcome(text: string): "valid" | "invalid" {
  try {
    const { config } = validateText(text);
    checkDesired(buildDesired(config));
    return "valid";
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) {
        if (typeof p.message !== "string" || p.message.length === 0) throw new Error(`empty problem message in ${JSON.stringify(p)}`);
        if (p.file !== "homelab.yaml" || !(p.line! >= 1) || !(p.col! >= 1)) throw new Error(`problem without a location: ${JSON.stringify(p)}`);
      }
      return "invalid";
    }
    throw err;
  }
}

describe.each(["homelab.yaml", "larger.yaml"])("seeded mutations of playbooks/%s", (name) => {
  const original = playbook(name);
  const data = parse(original);

  it("text mutations end in success or a clean validation error", () => {
    const counts = { valid: 0, invalid: 0 };
    for (let seed = 1; seed <= 1000; seed++) {
      const r = rng(seed);
      let text = original;
      for (let k = 0, n = 1 + r.int(3); k < n; k++) text = mutateText(text, r);
      try {
        counts[outcome(text)]++;
      } catch (err) {
        throw new Error(`seed ${seed} (${name}, text): uncaught ${(err as Error).stack}\n--- input ---\n${text}`);
      }
    }
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(counts.invalid).toBeGreaterThan(100);
    expect(counts.valid).toBeGreaterThan(20);
  }, 120_000);

  it("structural mutations end in success or a clean validation error", () => {
    const counts = { valid: 0, invalid: 0 };
    for (let seed = 1; seed <= 1000; seed++) {
      const r = rng(seed * 7919);
      let d = structuredClone(data);
      for (let k = 0, n = 1 + r.int(3); k < n; k++) d = mutateData(d, r);
      const text = stringify(d);
      try {
        counts[outcome(text)]++;
      } catch (err) {
        throw new Error(`seed ${seed} (${name}, structure): uncaught ${(err as Error).stack}\n--- input ---\n${text}`);
      }
    }
    expect(counts.invalid).toBeGreaterThan(300);
    expect(counts.valid).toBeGreaterThan(10);
  }, 120_000);
});
