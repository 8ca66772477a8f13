import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { playbook, problemsOf, root } from "../helpers/config.js";

/**
 * README.md shows playbooks/homelab.yaml in full (section "The config"). A hand-made copy drifted once (no
 * comments, an abbreviated fingerprint that does not validate: issue 10, "Should fix"), so the copy must be the
 * file, byte for byte; a reader who pastes it gets a config that validates.
 */

const INTRO = "This is [`playbooks/homelab.yaml`](playbooks/homelab.yaml), the usual tutorial as one file:";

/** The body of the first ```yaml block after `intro` in `markdown`, or undefined when there is none. */
function fencedAfter(markdown: string, intro: string): string | undefined {
  const at = markdown.indexOf(intro);
  if (at < 0) return undefined;
  const m = /^```ya?ml\n([\s\S]*?)^```$/m.exec(markdown.slice(at + intro.length));
  return m?.[1];
}

describe("README.md's copy of playbooks/homelab.yaml", () => {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const copy = fencedAfter(readme, INTRO);

  it("is there, introduced as the file", () => {
    expect(copy, `README.md has no \`\`\`yaml block after "${INTRO}"`).toBeDefined();
  });

  it("equals the file byte for byte", () => {
    expect(copy).toBe(playbook("homelab.yaml"));
  });

  it("validates as it stands", () => {
    expect(problemsOf(copy ?? "", "README.md")).toEqual([]);
  });

  it("the extraction can fail: a changed or abbreviated copy is told apart", () => {
    const file = playbook("homelab.yaml");
    const wrapped = (body: string) => `${INTRO}\n\n\`\`\`yaml\n${body}\`\`\`\n\nmore text\n\`\`\`yaml\nother: 1\n\`\`\`\n`;
    expect(fencedAfter(wrapped(file), INTRO)).toBe(file);
    expect(fencedAfter("no intro here\n```yaml\nversion: 1\n```\n", INTRO)).toBeUndefined();
    const abbreviated = file.replace(/fingerprint: "([0-9A-F]{2}:){3}[^"]*"/, 'fingerprint: "3A:91:0C:...:93:57"');
    expect(abbreviated).not.toBe(file);
    expect(fencedAfter(wrapped(abbreviated), INTRO)).not.toBe(file);
    expect(problemsOf(abbreviated, "README.md")).not.toEqual([]);
  });
});
