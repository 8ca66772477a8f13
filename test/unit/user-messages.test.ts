import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { transformWithEsbuild } from "vite";
import { describe, expect, it } from "vitest";
import { root } from "../helpers/config.js";

/**
 * What homelab says to a person (messages, hints) speaks of Entra ID and Proxmox VE, never of homelab's own
 * reference documents (issue 9 failure 10: "(errata 9.2)" in a hint). Each source in src/ is compiled to
 * JavaScript with esbuild, which drops the comments (where such references belong), and what is left (the code and
 * its string and template literals) is searched for them. The simulators (src/sim) are left out: their texts are
 * Entra's and Proxmox's own.
 */
const INTERNAL = /\berrata\b|\bspec\b\s*\d|\(spec\b|\bspec\)|\bsection \d|\bissue \d+\b|\b[A-Z]+\.md\b/i;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return p === join(root, "src", "sim") ? [] : tsFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

/** The code without comments: esbuild keeps some comments unless it minifies whitespace (identifiers and strings stay). */
async function withoutComments(code: string, file: string): Promise<string> {
  return (await transformWithEsbuild(code, file, { loader: "ts", minifyWhitespace: true, legalComments: "none" })).code;
}

/** Each citation of an internal reference in a file's code, with the text around it. */
async function citations(file: string): Promise<string[]> {
  const code = await withoutComments(readFileSync(file, "utf8"), file);
  const all = new RegExp(INTERNAL.source, "gi");
  return [...code.matchAll(all)].map((m) => `${relative(root, file)}: …${code.slice(Math.max(0, m.index - 80), m.index + 40)}…`);
}

describe("user-facing texts", () => {
  const files = tsFiles(join(root, "src"));

  it("the scan sees the sources, skips comments, and would catch a reference", async () => {
    expect(files.length).toBeGreaterThan(30);
    expect(files.some((f) => f.startsWith(join(root, "src", "sim")))).toBe(false);
    for (const bad of ["(errata 9.2)", "replication lag, spec 4.4", "Entra spec 5.1", "see STYLE.md", "(issue 9)", "section 4"]) expect(bad).toMatch(INTERNAL);
    for (const fine of ["spec.target", "Specify the tenant", "AADSTS7000218", "run homelab apply", "inspect"]) expect(fine).not.toMatch(INTERNAL);
    const code = await withoutComments('// errata 1\n/** spec 2.3 */\nexport const hint = { /* section 4 */ text: `lower it (errata 9.2)` };\n', "x.ts");
    expect(code.match(new RegExp(INTERNAL.source, "gi"))).toEqual(["errata"]);
    expect(code).toContain("lower it (errata 9.2)");
  });

  it("no message or hint in src/ cites homelab's specs, errata, issues or design notes", async () => {
    const found = (await Promise.all(files.map(citations))).flat();
    expect(found).toEqual([]);
  });
});
