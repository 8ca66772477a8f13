import { describe, expect, it } from "vitest";
import { diffFields, sameValue, type FieldDiff } from "../../src/core/plan.js";
import { rng } from "../helpers/rng.js";

/** The plain definition diffFields must keep: every key of either record, sorted, those whose values differ. */
function reference(before: Record<string, unknown>, after: Record<string, unknown>, sensitive: ReadonlySet<string>): FieldDiff[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const out: FieldDiff[] = [];
  for (const k of keys) {
    const b = before[k];
    const a = after[k];
    if (sameValue(b, a)) continue;
    if (sensitive.has(k)) out.push({ path: k, ...(b !== undefined ? { before: "(sensitive)" } : {}), ...(a !== undefined ? { after: "(sensitive)" } : {}), sensitive: true });
    else out.push({ path: k, ...(b !== undefined ? { before: b } : {}), ...(a !== undefined ? { after: a } : {}) });
  }
  return out;
}

const KEYS = ["comment", "email", "enable", "expire", "firstname", "groups", "keys", "lastname", "privs", "client-key", "toString", "__proto__"];
const VALUES: unknown[] = [undefined, "", "a", "b", 0, 1, true, false, [], ["x"], ["x", "y"], ["y", "x"]];

describe("diffFields", () => {
  it("equals the plain definition on generated records (seeded)", () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const record = () => {
        const o: Record<string, unknown> = r.int(4) === 0 ? Object.create(null) : {};
        for (const k of KEYS) if (r.int(3) > 0) Object.defineProperty(o, k, { value: r.pick(VALUES), enumerable: true, writable: true, configurable: true });
        return o;
      };
      const before = record();
      const after = r.int(3) === 0 ? { ...before } : record();
      const sensitive = new Set(KEYS.filter(() => r.int(5) === 0));
      expect(diffFields(before, after, sensitive), `seed ${seed}`).toEqual(reference(before, after, sensitive));
    }
  });

  it("reports a sensitive change without its values, and nothing for equal lists", () => {
    expect(diffFields({ "client-key": "old", groups: ["a"] }, { "client-key": "new", groups: ["a"] }, new Set(["client-key"]))).toEqual([
      { path: "client-key", before: "(sensitive)", after: "(sensitive)", sensitive: true },
    ]);
    expect(diffFields({ groups: ["a", "b"] }, { groups: ["a", "b"] })).toEqual([]);
    expect(diffFields({ a: 1 }, {})).toEqual([{ path: "a", before: 1 }]);
  });
});
