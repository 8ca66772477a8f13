import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { describe as describeFatal } from "../../src/log/fatal.js";
import { MIN_REDACTED_LENGTH, redact, registerSecret, resetRedaction, SENSITIVE } from "../../src/log/redact.js";
import { mulberry32 } from "../../src/sim/rng.js";

afterEach(() => resetRedaction());

/** A random printable secret of `n` characters (base64url, so no character needs escaping anywhere). */
function secret(n: number): string {
  return randomBytes(Math.ceil((n * 3) / 4) + 3).toString("base64url").slice(0, n);
}

const SIZES: [string, number][] = [
  ["1 B", 1],
  ["100 B", 100],
  ["40 KB", 40_000],
  ["64 KiB", 64 * 1024],
  ["1 MiB", 1024 * 1024],
];

describe("redact: secrets of every size", () => {
  it.each(SIZES)("a %s secret is replaced wherever it occurs (or, below the minimum, left alone without error)", (_label, n) => {
    const s = secret(n);
    registerSecret(s);
    const text = `start ${s} middle ${s}${s} end`;
    const out = redact(text);
    if (n < MIN_REDACTED_LENGTH) {
      // Too short to hide without mangling ordinary text; src/core/secret.ts refuses such secrets.
      expect(out).toBe(text);
      return;
    }
    expect(out).toBe(`start ${SENSITIVE} middle ${SENSITIVE}${SENSITIVE} end`);
  });

  it("a 1 MiB secret costs linear time, also in a long text that contains it many times", () => {
    const s = secret(1024 * 1024);
    registerSecret(s);
    const text = Array.from({ length: 8 }, (_, i) => `line ${i}: ${s}`).join("\n");
    const t0 = performance.now();
    const out = redact(text);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(out.split("\n")).toEqual(Array.from({ length: 8 }, (_, i) => `line ${i}: ${SENSITIVE}`));
  });

  it("many secrets at once (2,000 of 40 to 4,000 characters) are all replaced", () => {
    const rnd = mulberry32(20261208);
    const secrets = Array.from({ length: 2_000 }, () => secret(40 + Math.floor(rnd() * 4_000)));
    for (const s of secrets) registerSecret(s);
    const picked = secrets.filter((_, i) => i % 7 === 0);
    const text = picked.map((s, i) => `#${i}=${s}`).join(";");
    const t0 = performance.now();
    const out = redact(text);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(out).toBe(picked.map((_, i) => `#${i}=${SENSITIVE}`).join(";"));
  });

  it("overlapping secrets leave no fragment of either, whatever the order they were registered in", () => {
    for (const order of [["abcdEFGH", "EFGHijkl"], ["EFGHijkl", "abcdEFGH"]]) {
      resetRedaction();
      for (const s of order) registerSecret(s);
      expect(redact("x abcdEFGHijkl y")).toBe(`x ${SENSITIVE} y`);
    }
  });

  it("a secret inside a longer secret, and a secret that overlaps itself", () => {
    registerSecret("innerSECRET");
    registerSecret("outer-innerSECRET-outer");
    expect(redact("a outer-innerSECRET-outer b innerSECRET c")).toBe(`a ${SENSITIVE} b ${SENSITIVE} c`);
    resetRedaction();
    registerSecret("abab");
    // Occurrences at 0, 2 and 4 overlap: one span, nothing of the secret left.
    expect(redact("ababab|abab")).toBe(`${SENSITIVE}|${SENSITIVE}`);
    resetRedaction();
    registerSecret("aabaa");
    // Occurrences at 0 and 4 overlap in one character ("aabaaabaa"); no shorter period finds the second.
    expect(redact("aabaaabaa!")).toBe(`${SENSITIVE}!`);
  });

  it("a periodic secret in a long run costs linear time and leaves nothing", () => {
    registerSecret("a".repeat(64 * 1024));
    const t0 = performance.now();
    const out = redact(`<${"a".repeat(3 * 1024 * 1024)}>`);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(out).toBe(`<${SENSITIVE}>`);
  });

  it("seeded: random overlapping secrets leave no character of any occurrence of any secret", () => {
    const seed = Number(process.env.SEED ?? 4242);
    const rnd = mulberry32(seed);
    for (let round = 0; round < 300; round++) {
      resetRedaction();
      const alphabet = "ab";
      const word = (n: number) => Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("");
      const secrets = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => word(4 + Math.floor(rnd() * 6)));
      for (const s of secrets) registerSecret(s);
      const text = word(40);
      const out = redact(text);
      // Every character of the text that lies inside some occurrence of some secret must be gone.
      const covered = new Array<boolean>(text.length).fill(false);
      for (const s of secrets) for (let i = text.indexOf(s); i >= 0; i = text.indexOf(s, i + 1)) for (let k = i; k < i + s.length; k++) covered[k] = true;
      const expected = text.replace(/./g, (c, i: number) => (covered[i] ? "\u0000" : c)).replace(/\u0000+/g, SENSITIVE);
      // Two secrets side by side print as two placeholders; compare with runs of placeholders as one.
      expect(out.replace(/(\(sensitive\))+/g, SENSITIVE), `seed ${seed} round ${round}: secrets ${JSON.stringify(secrets)} text ${text}`).toBe(expected);
    }
  });

  it("a secret is also found JSON-quoted and URL-encoded", () => {
    const s = 'pa"ss\\word+&/é';
    registerSecret(s);
    expect(redact(JSON.stringify({ v: s }))).toBe(`{"v":"${SENSITIVE}"}`);
    expect(redact(`https://x/?k=${encodeURIComponent(s)}`)).toBe(`https://x/?k=${SENSITIVE}`);
    expect(redact(new URLSearchParams({ k: s }).toString())).toBe(`k=${SENSITIVE}`);
  });
});

describe("the last-resort description of an uncaught error", () => {
  it.each(SIZES.filter(([, n]) => n >= MIN_REDACTED_LENGTH))("prints no %s secret from message or stack, and stays one short line", (_label, n) => {
    const s = secret(n);
    registerSecret(s);
    // The shape of issue 10 item 1: an engine error that quotes every secret in its message.
    const err = new SyntaxError(`Invalid regular expression: /${s}|other/g: Regular expression too large`);
    for (const debug of [false, true]) {
      const text = describeFatal(err, debug);
      expect(text).not.toContain(s);
      expect(text).not.toContain(s.slice(0, 64));
      const [head] = text.split("\n");
      expect(head).toMatch(/^internal error SyntaxError: Invalid regular expression: \/\(sensitive\)\|other\/g/);
      expect(head!.length).toBeLessThan(2_200);
      expect(text.includes("    at "), `stack only with debug=${debug}`).toBe(debug);
    }
  });

  it("describes any thrown value, even one whose message getter throws, without throwing", () => {
    const hostile = new Error("x");
    Object.defineProperty(hostile, "message", { get: () => { throw new Error("no"); } });
    expect(describeFatal(hostile, true)).toMatch(/^internal error Error: \(no message\)/);
    expect(describeFatal(Object.create(null), false)).toMatch(/^internal error Error: \(a value that cannot be printed\)/);
    expect(describeFatal("plain \u001b[31mstring\n", false)).toMatch(/^internal error Error: plain \\u001b\[31mstring\\n$/m);
  });
});

describe("multi-line secrets", () => {
  it("each line of a PEM-like secret is redacted on its own, and the whole as escaped in a message", () => {
    const body = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNb"];
    const pem = `-----BEGIN PRIVATE KEY-----\n${body.join("\n")}\n-----END PRIVATE KEY-----`;
    registerSecret(pem);
    for (const line of body) expect(redact(`key line: ${line}`)).toBe(`key line: ${SENSITIVE}`);
    expect(redact(`value "${pem.replace(/\n/g, "\\n")}"`)).toBe(`value "${SENSITIVE}"`);
  });
});
