import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { fastParse } from "../../src/config/fast-yaml.js";
import { convergeConfig, validateConfig } from "../../bench/scenarios.mjs";
import { CORPUS } from "../hostile/cases.js";
import { generate } from "../hostile/generate.js";
import { root } from "../helpers/config.js";
import { rng, type R } from "../helpers/rng.js";

/**
 * The fast reader (src/config/fast-yaml.ts) against the yaml library it stands in for: on every text it
 * accepts, the library (with load.ts's options) reports no error or warning and builds the same value, key
 * order and own-property layout included. What it gives up on is the library's to read.
 */
function reference(text: string): { ok: true; value: unknown } | { ok: false } {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, version: "1.2", strict: true });
  if (doc.errors.length > 0 || doc.warnings.length > 0) return { ok: false };
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 10_000 }) };
  } catch {
    return { ok: false };
  }
}

/** A value with its key order and own keys spelled out (toEqual alone ignores order and treats `__proto__` loosely). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v !== null && typeof v === "object") return Object.getOwnPropertyNames(v).map((k) => [k, shape((v as Record<string, unknown>)[k])]);
  return typeof v === "number" && Number.isNaN(v) ? "NaN" : v;
}

/** Checks one text; returns whether the fast reader took it. */
function agree(text: string, what: string): boolean {
  const fast = fastParse(text);
  if (fast === undefined) return false;
  const ref = reference(text);
  expect(ref.ok, `${what}: the fast reader accepted a text the yaml library refuses:\n${text}`).toBe(true);
  if (ref.ok) expect(shape(fast), `${what}: values differ for:\n${text}`).toEqual(shape(ref.value));
  return true;
}

const SCALARS = [
  "null", "Null", "NULL", "~", "nulL", "true", "True", "TRUE", "tRue", "false", "yes", "no", "on", "off", "y", "n",
  "0", "1", "-1", "+1", "007", "08", "0o17", "0o8", "0x1F", "0x", "0xg", "1.5", "1.", ".5", "1e3", "1E-3", "+.5e+2", "1_000", "1,000",
  ".inf", "-.Inf", "+.INF", ".NaN", ".nan", ".Nan", "12345678901234567890", "0.1.2", "2001-12-14", "1:2", "1:20:30",
  "a: b", "a:b", "a #b", "a#b", "a # b", "http://x:8006/y", "https://pve.lan:8006", "/vms/100", "user@pam", "jane@contoso.com@entra",
  "homelab@pve!converge", "-a", "- a", "-", "--", "---", "...", "?a", "? a", ":a", "@a", "`a", "%a", "&a", "*a", "!a", "!!str a", "|", ">",
  "a,b", "a, b", "a[b]", "a]", "{a}", "[a]", "a{", "'q'", '"dq"', "a'b", 'a"b', "é", "日本", "a\\b", "a\\nb", "", " ", "a ", " a",
  "${env:X}", "${file:./s}", "__proto__", "constructor", "toString", "<<", "#", "a: ", "a:", "key:value", "x\u0085y", "x\u00a0y",
];
const WORDS = ["version", "clusters", "pve", "url", "token", "id", "secret", "realms", "access", "user", "role", "path", "privs", "a", "b"];

/** A scalar written plain, single-quoted or double-quoted (the plain form may well be invalid or mean something else). */
function scalar(r: R, key = false): string {
  const s = r.int(3) === 0 ? r.pick(SCALARS) : r.pick(WORDS);
  const style = r.int(key ? 6 : 4);
  if (style === 1) return `'${s.replace(/'/g, "''")}'`;
  if (style === 2) return JSON.stringify(s);
  return s;
}

function flowText(r: R, depth: number): string {
  if (depth > 2 || r.int(3) === 0) return scalar(r);
  const n = r.int(4);
  const sp = r.pick(["", " ", "  "]);
  if (r.int(2) === 0) return `[${sp}${Array.from({ length: n }, () => flowText(r, depth + 1)).join(r.pick([", ", ",", " , "]))}${sp}]`;
  return `{${sp}${Array.from({ length: n }, () => `${scalar(r, true)}${r.pick([": ", ":", " : "])}${flowText(r, depth + 1)}`).join(r.pick([", ", ","]))}${sp}}`;
}

/** A block node at `indent`, as lines. */
function blockLines(r: R, indent: number, depth: number): string[] {
  const pad = " ".repeat(indent);
  const lines: string[] = [];
  const n = 1 + r.int(4);
  const seq = depth > 0 && r.int(3) === 0;
  const comment = () => (r.int(6) === 0 ? r.pick([" # c", " #c", "#c", "  # x: y"]) : "");
  for (let i = 0; i < n; i++) {
    if (r.int(8) === 0) lines.push(r.pick(["", `${pad}# comment`, "# top", "   "]));
    const head = seq ? `${pad}-${r.pick([" ", "  "])}` : `${pad}${scalar(r, true)}:${r.pick([" ", "  "])}`;
    const kind = depth > 3 ? 0 : r.int(5);
    if (kind === 0) lines.push(`${head}${scalar(r)}${comment()}`);
    else if (kind === 1) lines.push(`${head}${flowText(r, 0)}${comment()}`);
    else if (kind === 2 && seq) {
      // a compact mapping in a sequence entry
      const inner = blockLines(r, indent + 2, depth + 1);
      lines.push(`${head.trimEnd()} ${inner[0]!.trimStart()}`, ...inner.slice(1));
    } else {
      lines.push(`${head.trimEnd()}${comment()}`);
      const deeper = indent + (!seq && r.int(4) === 0 ? 0 : 1 + r.int(3));
      const sub = blockLines(r, deeper, depth + 1);
      // a sequence may sit at its key's indentation; anything else there is not nested
      if (deeper === indent && !sub[0]?.trimStart().startsWith("-")) lines.push(...blockLines(r, indent + 2, depth + 1));
      else lines.push(...sub);
    }
  }
  return lines;
}

/** Small damage of the kinds an editor causes: a character in, a character out, a line indented differently, a line twice. */
function mutate(r: R, text: string): string {
  const lines = text.split("\n");
  const i = r.int(lines.length);
  const l = lines[i]!;
  switch (r.int(6)) {
    case 0: {
      const at = r.int(l.length + 1);
      lines[i] = l.slice(0, at) + r.pick([" ", ":", "-", "#", "'", '"', "[", "]", "{", "}", ",", "&", "*", "!", "|", "\t", "\r", "\\", "?", "%"]) + l.slice(at);
      break;
    }
    case 1: {
      const at = r.int(Math.max(l.length, 1));
      lines[i] = l.slice(0, at) + l.slice(at + 1);
      break;
    }
    case 2:
      lines[i] = ` ${l}`;
      break;
    case 3:
      lines[i] = l.replace(/^ /, "");
      break;
    case 4:
      lines.splice(i, 0, l);
      break;
    default:
      lines.splice(i, 0, r.pick(["---", "...", "%YAML 1.2", "? complex", "key: |", "  folded", "k: &a 1", "l: *a", "m: !!str 1"]));
  }
  return lines.join("\n");
}

describe("fast YAML reader", () => {
  it("reads the playbooks, the benchmark configs and every YAML text of the hostile corpus as the yaml library does", () => {
    const texts: [string, string][] = [
      ...["homelab.yaml", "demo.yaml", "larger.yaml"].map((p): [string, string] => [p, readFileSync(`${root}playbooks/${p}`, "utf8")]),
      ["validateConfig(300)", validateConfig(300)],
      ["convergeConfig(50)", convergeConfig(50, "clusters:\n  pve:\n    url: https://127.0.0.1:1\n    token: { id: a@pve!b, secret: \"${env:T}\" }\n")],
    ];
    for (const c of CORPUS) for (const [name, e] of Object.entries(c.files)) if (typeof e === "string" && e.length < 20_000) texts.push([`${c.name}/${name}`, e]);
    for (let seed = 10_000; seed < 10_100; seed++) {
      let g;
      try {
        g = generate(seed).hostile;
      } catch {
        continue; // a seed the hostile generator cannot use (not this test's business)
      }
      // Small texts only: the huge and deeply nested ones test the library's limits, not the reader.
      for (const [name, e] of Object.entries(g.files)) if (typeof e === "string" && e.length < 20_000) texts.push([`hostile seed ${seed}/${name}`, e]);
    }
    let taken = 0;
    for (const [what, text] of texts) if (agree(text, what)) taken++;
    // Not a vacuous pass: the playbooks and the benchmark configs (and most of the corpus) take the fast path.
    for (const [what, text] of texts.slice(0, 5)) expect(fastParse(text), what).toBeDefined();
    expect(taken).toBeGreaterThan(texts.length / 3);
  }, 60_000);

  it("agrees with the yaml library on generated texts and on damaged ones (seeded)", () => {
    let taken = 0;
    let total = 0;
    let valid = 0;
    for (let seed = 1; seed <= 1000; seed++) {
      const r = rng(seed);
      const text = blockLines(r, 0, 0).join("\n") + r.pick(["\n", "", "\n\n", "\r\n"]);
      const damaged = r.int(2) === 0 ? mutate(r, text) : text;
      try {
        for (const t of damaged === text ? [text] : [text, damaged]) {
          total++;
          if (reference(t).ok) valid++;
          if (agree(t, `seed ${seed}`)) taken++;
        }
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`);
      }
    }
    // Not a vacuous pass: most texts the library reads are read by the fast path too.
    expect(taken, `${taken} of ${valid} valid texts (${total} in all)`).toBeGreaterThan(valid / 2);
  }, 60_000);

  it("gives up on what only the library may judge", () => {
    for (const text of [
      "", "# only a comment\n", "- a\n", "a: 1\na: 2\n", "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  text\n", "a: [1,\n  2]\n",
      "a: 'multi\n  line'\n", "a: b\n  c\n", "a:\tb\n", "---\na: 1\n", "a: 1\n---\nb: 2\n", "? a\n: b\n", "a: b: c\n", "a: \"\\q\"\n",
      "a:\n - b\n c: d\n", "  a: 1\n", "a: 1\n b: 2\n", "1: a\n", "true: a\n", "a: {b: 1, b: 2}\n", "a: [b, ]\n", "a: \"x\"#c\n",
    ]) {
      expect(fastParse(text), JSON.stringify(text)).toBeUndefined();
    }
  });
});
