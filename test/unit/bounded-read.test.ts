import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, loadConfigText, MAX_CONFIG_FILE_BYTES } from "../../src/config/load.js";
import { checkSecrets } from "../../src/config/sources.js";
import { MAX_SECRET_BYTES, Secret } from "../../src/core/secret.js";
import { ConfigError, formatProblem, SecretError, type ConfigProblem } from "../../src/core/errors.js";
import { printable } from "../../src/core/printable.js";
import { FileReadError, formatBytes, readBounded } from "../../src/core/read-file.js";
import { redact, resetRedaction } from "../../src/log/redact.js";
import { caFileProblem, MAX_CA_BYTES, readCaFile } from "../../src/providers/proxmox/tls.js";
import { minimal } from "../helpers/config.js";

const dir = mkdtempSync(join(tmpdir(), "hl-bounded-"));
const at = (name: string) => join(dir, name);
let socketServer: Server;

beforeAll(async () => {
  execFileSync("mkfifo", [at("fifo")]);
  symlinkSync("/dev/zero", at("zero-link"));
  symlinkSync(at("nowhere"), at("dangling"));
  symlinkSync(at("loop-b"), at("loop-a"));
  symlinkSync(at("loop-a"), at("loop-b"));
  mkdirSync(at("a-dir"));
  socketServer = createServer();
  await new Promise<void>((r) => socketServer.listen(at("sock"), r));
});
afterAll(() => socketServer.close());
afterEach(() => resetRedaction());

/** The FileReadError `fn` throws (fails the test when it returns or throws something else). */
function readError(fn: () => unknown): FileReadError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FileReadError) return err;
    throw err;
  }
  throw new Error("expected a FileReadError");
}

describe("readBounded: regular files only, at most the limit", () => {
  const opts = { limit: 1000, what: "test file" };

  it("reads a regular file up to exactly the limit, and through a symlink", () => {
    writeFileSync(at("exact"), "x".repeat(1000));
    symlinkSync(at("exact"), at("exact-link"));
    expect(readBounded(at("exact"), opts).length).toBe(1000);
    expect(readBounded(at("exact-link"), opts).toString()).toBe("x".repeat(1000));
  });

  it("refuses one byte over the limit, naming the file, what it is and the limit", () => {
    writeFileSync(at("over"), "x".repeat(1001));
    const e = readError(() => readBounded(at("over"), opts));
    expect(e.reason).toBe("too-large");
    expect(e.message).toBe(`${at("over")} is larger than 1000 bytes, the limit for a test file`);
  });

  it("reads a file whose size stat does not know (/proc) and still stops at the limit", () => {
    expect(readBounded("/proc/self/status", { limit: 1 << 20, what: "x" }).toString()).toMatch(/^Name:/m);
    expect(readError(() => readBounded("/proc/self/status", { limit: 10, what: "x" })).reason).toBe("too-large");
  });

  it.each([
    ["/dev/zero", "a character device"],
    ["/dev/urandom", "a character device"],
    ["zero-link", "a character device"],
    ["fifo", "a FIFO (named pipe)"],
    ["sock", "a socket"],
  ])("refuses %s (%s) at once, without reading it", (name, kind) => {
    const path = name.startsWith("/") ? name : at(name);
    const t0 = performance.now();
    const e = readError(() => readBounded(path, opts));
    expect(performance.now() - t0).toBeLessThan(500);
    expect(e.reason).toBe("special");
    expect(e.message).toBe(`${path} is ${kind}, not a regular file`);
  });

  it("refuses a directory, and says what is wrong with a missing file, a dangling or looping link", () => {
    expect(readError(() => readBounded(at("a-dir"), opts))).toMatchObject({ reason: "directory", why: "is a directory, not a regular file" });
    expect(readError(() => readBounded(at("missing"), opts))).toMatchObject({ reason: "missing", why: "does not exist (ENOENT)" });
    expect(readError(() => readBounded(at("dangling"), opts))).toMatchObject({ reason: "missing" });
    expect(readError(() => readBounded(at("loop-a"), opts))).toMatchObject({ reason: "io", errno: "ELOOP" });
  });

  it("a 200 MB (sparse) file is refused from its size, in no time and without reading it", () => {
    writeFileSync(at("huge"), "");
    truncateSync(at("huge"), 200_000_000);
    const t0 = performance.now();
    expect(readError(() => readBounded(at("huge"), { limit: MAX_SECRET_BYTES, what: "secret file" })).message).toMatch(/is larger than 64 KiB, the limit for a secret file$/);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it("prints limits in the unit they are set in", () => {
    expect([formatBytes(MAX_CONFIG_FILE_BYTES), formatBytes(MAX_SECRET_BYTES), formatBytes(MAX_CA_BYTES), formatBytes(1000)]).toEqual(["16 MiB", "64 KiB", "1 MiB", "1000 bytes"]);
  });
});

/** The problems loadConfig reports for `target`, or [] when it loads. */
function loadProblems(target: string): ConfigProblem[] {
  try {
    loadConfig(target);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

describe("config files", () => {
  it.each([
    ["/dev/zero", "/dev/zero", "is a character device, not a regular file"],
    ["a FIFO", "fifo", "is a FIFO (named pipe), not a regular file"],
  ])("-f %s is one problem naming the file, with a hint", (_label, name, why) => {
    const path = name.startsWith("/") ? name : at(name);
    expect(loadProblems(path)).toEqual([{ file: path, path: "", message: why, hint: expect.stringMatching(/regular YAML file of at most 16 MiB/) }]);
  });

  it("a directory entry z.yaml -> /dev/zero is a problem of that entry; the other files still load", () => {
    const d = at("confdir");
    mkdirSync(d);
    writeFileSync(join(d, "a.yaml"), "version: 1\n");
    writeFileSync(join(d, "b.yaml"), "version: [\n");
    symlinkSync("/dev/zero", join(d, "z.yaml"));
    const problems = loadProblems(d);
    expect(problems.map((p) => [p.file, p.message])).toEqual([
      [join(d, "b.yaml"), expect.stringMatching(/^YAML/)],
      [join(d, "z.yaml"), "is a character device, not a regular file"],
    ]);
  });

  it("a file over 16 MiB is refused", () => {
    writeFileSync(at("big.yaml"), "");
    truncateSync(at("big.yaml"), MAX_CONFIG_FILE_BYTES + 1);
    expect(loadProblems(at("big.yaml"))).toMatchObject([{ message: `is larger than 16 MiB, the limit for a config file` }]);
  });
});

/** The one problem loadConfigText reports for `text`. */
function oneProblem(text: string, display = "homelab.yaml"): ConfigProblem {
  let problems: readonly ConfigProblem[] = [];
  try {
    loadConfigText(text, display);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  expect(problems).toHaveLength(1);
  return problems[0]!;
}

describe("config messages (issue 10, should fix)", () => {
  it("an undefined alias is located at the alias and named, not called an alias bomb", () => {
    const p = oneProblem(minimal.replace("role: Administrator", "role: *admin"));
    expect(p).toMatchObject({ line: 13, col: 29, message: "the alias `*admin` refers to no anchor: no `&admin` is defined before it" });
    expect(p.hint).toContain('"*admin"');
  });

  it("a second YAML document is located at its `---` and says one document per file", () => {
    const p = oneProblem(`${minimal}---\nversion: 1\n`);
    expect(p).toMatchObject({ line: 14, col: 1, message: expect.stringContaining("one YAML document per file") });
    expect(p.message).not.toMatch(/parseAllDocuments/);
  });

  it("a file with CR line endings (old Mac) loads as the same file with LF, with the same positions", () => {
    const cr = `# homelab\r${minimal.replace(/\n/g, "\r")}`;
    const loaded = loadConfigText(cr, "cr.yaml");
    expect(loaded.data).toEqual(loadConfigText(`# homelab\n${minimal}`, "lf.yaml").data);
    expect(loaded.locate(["realms", "sso", "clientId"])).toEqual({ file: "cr.yaml", line: 10, col: 15 });
    // A syntax error on the second CR-separated line is reported on line 2, not line 1.
    expect(() => loadConfigText("version: 1\rclusters: [\r", "cr.yaml")).toThrow(ConfigError);
    try {
      loadConfigText("version: 1\rclusters: [\r", "cr.yaml");
    } catch (err) {
      expect((err as ConfigError).problems[0]!.line).toBeGreaterThanOrEqual(2);
    }
  });

  it("a CR-only file is empty only when it has no content", () => {
    expect(oneProblem("\r\r\r").message).toBe("the file is empty");
  });

  it("control characters in a key are escaped in the message, in the file name too", () => {
    const p = oneProblem('version: 1\n"a\\e[2Jb": 1\n"a\\e[2Jb": 2\n', "evil\u001b]0;x\u0007.yaml");
    const text = formatProblem(p);
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(text).toContain("duplicate key `a\\u001b[2Jb`");
    expect(text.startsWith("evil\\u001b]0;x\\u0007.yaml:3:1: ")).toBe(true);
  });

  it("printable escapes controls, bidi overrides and lone surrogates, and leaves letters alone", () => {
    expect(printable("é 日本 😀 \u001b[31m \u202e \u0085 \ud800 \t\n\r")).toBe("é 日本 😀 \\u001b[31m \\u202e \\u0085 \\ud800 \\t\\n\\r");
  });
});

describe("names from the files are plain keys (issue 10 item 6)", () => {
  it("a top-level __proto__ key is one ordinary key of the data, and the rest stays intact", () => {
    const loaded = loadConfigText(`${minimal}__proto__:\n  clusters: 1\n`, "homelab.yaml");
    expect(Object.keys(loaded.data)).toEqual(["version", "clusters", "realms", "access", "__proto__"]);
    expect(Object.getPrototypeOf(loaded.data)).toBe(null);
    expect(Object.keys(loaded.data.clusters as object)).toEqual(["pve"]);
    expect(loaded.locate(["__proto__"], true)).toEqual({ file: "homelab.yaml", line: 14, col: 1 });
  });

  it("toString and constructor as top-level keys are not found before they are defined", () => {
    const loaded = loadConfigText("version: 1\ntoString: 1\nconstructor: 2\n", "h.yaml");
    expect(Object.keys(loaded.data)).toEqual(["version", "toString", "constructor"]);
  });

  it("in a directory, realms.__proto__ in b.yaml is b.yaml's, and a second one is `defined twice` at b.yaml", () => {
    const d = at("protodir");
    mkdirSync(d);
    writeFileSync(join(d, "a.yaml"), "version: 1\nrealms:\n  sso: { issuerUrl: https://a/, clientId: a }\n");
    writeFileSync(join(d, "b.yaml"), "realms:\n  __proto__: { issuerUrl: https://b/, clientId: b }\n");
    const loaded = loadConfig(d);
    const realms = loaded.data.realms as Record<string, unknown>;
    expect(Object.keys(realms)).toEqual(["sso", "__proto__"]);
    expect(Object.hasOwn(realms, "__proto__")).toBe(true);
    expect(loaded.locate(["realms", "__proto__", "issuerUrl"])).toEqual({ file: join(d, "b.yaml"), line: 2, col: 27 });
    writeFileSync(join(d, "c.yaml"), "realms:\n  __proto__: { issuerUrl: https://c/, clientId: c }\n");
    expect(loadProblems(d)).toMatchObject([{ file: join(d, "c.yaml"), line: 2, path: "realms.__proto__", message: expect.stringMatching(new RegExp(`^defined twice \\(also at ${join(d, "b.yaml")}:2:3\\)$`)) }]);
  });
});

describe("secret sources", () => {
  const where = { file: "homelab.yaml", line: 5, col: 48 };
  const secretIn = (name: string, content: string | Buffer) => {
    writeFileSync(at(name), content);
    return new Secret(`\${file:${name}}`, "clusters.pve.token.secret", dir, {}, where);
  };
  const revealError = (s: Secret, env: NodeJS.ProcessEnv = {}): SecretError => {
    try {
      s.reveal(env);
    } catch (err) {
      if (err instanceof SecretError) return err;
      throw err;
    }
    throw new Error("expected a SecretError");
  };

  it("a value of exactly 64 KiB is read (with its final CRLF); one byte more is refused, located, and never printed", () => {
    const ok = "k".repeat(MAX_SECRET_BYTES);
    expect(secretIn("s64", `${ok}\r\n`).reveal()).toBe(ok);
    for (const [name, big] of [["s65", `${"v".repeat(MAX_SECRET_BYTES)}w`], ["s65nl", `${"v".repeat(MAX_SECRET_BYTES)}w\n`], ["s66", "v".repeat(MAX_SECRET_BYTES + 3)]]) {
      const e = revealError(secretIn(name!, big!));
      expect(e.message).toBe(`clusters.pve.token.secret: secret file ${at(name!)} is larger than 64 KiB, the limit for a secret`);
      expect(e.hint).toBe("point ${file:" + name + "} at the secret only (at most 64 KiB, in a regular file)");
    }
  });

  it.each([
    ["/dev/urandom", "a character device"],
    ["/dev/zero", "a character device"],
  ])("${file:%s} is refused at once as %s", (path, kind) => {
    const e = revealError(new Secret(`\${file:${path}}`, "realms.sso.clientKey", "/", {}, where));
    expect(e.message).toBe(`realms.sso.clientKey: secret file ${path} is ${kind}, not a regular file`);
  });

  it("a variable over 64 KiB is refused, its value not printed", () => {
    const v = `${"q".repeat(MAX_SECRET_BYTES)}Z`;
    const e = revealError(new Secret("${env:BIG}", "realms.sso.clientKey", "/", {}, where), { BIG: v });
    expect(e.message).toBe("realms.sso.clientKey: environment variable BIG is larger than 64 KiB, the limit for a secret");
    expect(`${e.message}${e.hint}`).not.toContain("qqqq");
  });

  it("an inner newline (after the trailing one is trimmed) is a located error blaming the file; CRLF at the end is fine", () => {
    expect(secretIn("crlf", "tok-123\r\n").reveal()).toBe("tok-123");
    const e = revealError(secretIn("two-lines", "tok-123\nsecond\n"));
    expect(e.message).toBe(`clusters.pve.token.secret: the secret in file ${at("two-lines")} has more than one line; it would be sent as part of the secret`);
    expect(e.hint).toContain(`remove the other lines or the blank line from ${at("two-lines")}`);
    expect(`${e.message}${e.hint}`).not.toContain("second");
    expect(revealError(secretIn("blank", "tok-123\n\n")).message).toMatch(/has more than one line/);
    expect(revealError(secretIn("esc", "tok\u001b-123")).message).toMatch(/contains a control character/);
    // The value was registered before it was refused: it is redacted if anything quotes it.
    expect(redact("x tok-123\nsecond y")).toBe("x (sensitive) y");
  });

  it("a private key may span lines", () => {
    const pem = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";
    writeFileSync(at("key.pem"), `${pem}\n`);
    expect(new Secret("${file:key.pem}", "tenants.c.credentials.certificate.privateKey", dir).reveal()).toBe(pem);
    expect(new Secret("${file:key.pem}", "x", dir, { multiline: true }).reveal()).toBe(pem);
  });

  it("Secret.check (validate): problems for sources that are there and unusable; none for absent ones", () => {
    const bad = secretIn("bad-check", "a\nb");
    const missing = new Secret("${file:does-not-exist}", "clusters.pve.token.secret", dir, {}, where);
    const unset = new Secret("${env:HL_UNSET}", "realms.sso.clientKey", dir, {}, where);
    const empty = new Secret("${env:HL_EMPTY}", "realms.sso.clientKey", dir, {}, where);
    const good = secretIn("good-check", "good-secret\n");
    const problems = checkSecrets({ clusters: { pve: { token: { secret: bad } } }, x: [missing, unset, empty, good] }, { HL_EMPTY: "" });
    expect(problems).toEqual([{ ...where, path: "clusters.pve.token.secret", message: `the secret in file ${at("bad-check")} has more than one line; it would be sent as part of the secret`, hint: expect.any(String) }]);
    expect(good.reveal()).toBe("good-secret");
  });
});

describe("CA files", () => {
  it("reads a CA file; refuses /dev/zero and a file over 1 MiB with the field and a hint", () => {
    writeFileSync(at("ca.pem"), "-----BEGIN CERTIFICATE-----\n");
    expect(readCaFile(at("ca.pem"), "clusters.pve.tls.ca")).toMatch(/BEGIN/);
    const t0 = performance.now();
    expect(() => readCaFile("/dev/zero", "clusters.pve.tls.ca", "h.yaml:7:9")).toThrow(/^h\.yaml:7:9: clusters\.pve\.tls\.ca: CA file \/dev\/zero is a character device, not a regular file$/);
    expect(performance.now() - t0).toBeLessThan(500);
    writeFileSync(at("big.pem"), "");
    truncateSync(at("big.pem"), MAX_CA_BYTES + 1);
    expect(caFileProblem(at("big.pem"))).toEqual({ message: `CA file ${at("big.pem")} is larger than 1 MiB, the limit for a CA file`, hint: expect.stringMatching(/at most 1 MiB/) });
    expect(caFileProblem(at("no-such.pem"))).toBeUndefined();
  });
});

describe("encodings, nesting and alias keys (issue 10 hostile corpus)", () => {
  const file = (name: string, content: Buffer | string) => {
    writeFileSync(at(name), content);
    return at(name);
  };

  it.each([
    ["UTF-16LE with BOM", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(minimal, "utf16le")])],
    ["UTF-16LE without BOM", Buffer.from(minimal, "utf16le")],
    ["UTF-16BE with BOM", Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(minimal, "utf16le").swap16()])],
    ["UTF-16BE without BOM", Buffer.from(minimal, "utf16le").swap16()],
  ])("reads %s as the same config", (name, bytes) => {
    expect(loadConfig(file(`${name}.yaml`, bytes)).data).toEqual(loadConfigText(minimal, "x.yaml").data);
  });

  it("refuses UTF-32 and bytes that are not UTF-8, at the first bad byte", () => {
    const utf32 = Buffer.alloc(minimal.length * 4);
    for (let i = 0; i < minimal.length; i++) utf32.writeUInt32LE(minimal.charCodeAt(i), i * 4);
    expect(loadProblems(file("u32.yaml", utf32))).toMatchObject([{ message: "is UTF-32, which homelab does not read", hint: expect.stringContaining("UTF-8") }]);
    const latin1 = Buffer.from("version: 1\nclusters: {}\nrealms:\n  caf\u00e9: {}\n", "latin1");
    expect(loadProblems(file("latin1.yaml", latin1))).toMatchObject([{ line: 4, col: 6, message: "is not UTF-8: byte 0xe9 here does not belong to a UTF-8 character" }]);
    // Well-formed UTF-8 of every length passes; an overlong form and an encoded surrogate do not.
    expect(loadProblems(file("utf8.yaml", "version: 1\nx: \"é 日本 😀\"\n"))).toEqual([]);
    expect(loadProblems(file("overlong.yaml", Buffer.from([0x61, 0x3a, 0x20, 0xc0, 0xaf, 0x0a])))).toMatchObject([{ line: 1, col: 4 }]);
    expect(loadProblems(file("surrogate.yaml", Buffer.from([0x61, 0x3a, 0x20, 0xed, 0xa0, 0x80, 0x0a])))).toMatchObject([{ line: 1, col: 4 }]);
  });

  it("refuses flow collections nested past 100 levels at once, located at the bracket (a million would abort the parser)", () => {
    const t0 = performance.now();
    const p = oneProblem(`version: 1\nx: ${"{[".repeat(512 * 1024)}\n`);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(p).toMatchObject({ line: 2, col: 4 + 100, message: "flow collections (`[...]`, `{...}`) nested more than 100 levels deep" });
    // Brackets in quoted scalars and comments do not count; 100 levels are fine.
    expect(() => loadConfigText(`version: 1\nx: "${"[".repeat(500)}"\ny: '${"{".repeat(500)}'\n# ${"[".repeat(500)}\nz: ${"[".repeat(100)}${"]".repeat(100)}\n`, "h.yaml")).not.toThrow();
  });

  it("an alias as a key stands for its anchor's value: a repeated key through an alias is a duplicate", () => {
    const p = oneProblem("version: 1\nroles:\n  &k r1: { privs: [VM.Audit] }\n  *k : { privs: [Sys.Audit] }\n");
    expect(p).toMatchObject({ line: 4, col: 3, message: "duplicate key `r1` (first defined at line 3, column 6)" });
  });
});

describe("the -f path in messages", () => {
  it("is escaped when it holds control characters", () => {
    expect(() => loadConfig(at("no\u001b[2Jsuch.yaml"))).toThrow(new RegExp(`^${`${dir}/`.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}no\\\\u001b\\[2Jsuch\\.yaml: no such file or directory$`));
  });
});
