import { rng, type R } from "../helpers/rng.js";
import { BASE, ENV_SECRETS, PROTO_NAMES, secretOf, simConfig, TUTORIAL } from "./cases.js";
import type { Entry, HostileCase } from "./run.js";

/**
 * Seeded hostile inputs beyond the fixed corpus (issue 10, "Done when"): a seed picks a valid config and
 * 1 to 3 mutations from the families an attacker (or an unlucky editor) reaches for: sizes, encodings,
 * special files, YAML tags, anchors and aliases, JavaScript property names, control characters, many
 * secrets of any size. A generated case is held to the common contract only (run.ts's `judge`): exit 0 or
 * 3 in time, located, no stack, no secret, no raw control character. The same seed makes the same case.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

const RICH = `${BASE}roles:
  Ops: { privs: [VM.Audit, VM.PowerMgmt] }
groups:
  admins: { members: [jane@sso, bob@sso], comment: Admins }
users:
  bob@sso: { email: bob@example.com, expire: 2030-01-01 }
`;

const TAGS = ["!!binary", "!!js/function", "!!js/undefined", "!!python/object/apply:os.system", "!custom", "!secret", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!set", "!!omap", "!!map", "!!seq", "!<tag:example.com,2026:x>", "!", "!!merge"];
/** Control characters, raw and as a YAML double-quoted escape. */
const CONTROLS: [string, string][] = [
  ["\u0000", "\\0"],
  ["\u0007", "\\a"],
  ["\u0008", "\\b"],
  ["\u000b", "\\v"],
  ["\u000c", "\\f"],
  ["\r", "\\r"],
  ["\u001b", "\\e"],
  ["\u001b[31m", "\\e[31m"],
  ["\u001b]0;x\u0007", "\\e]0;x\\a"],
  ["\u007f", "\\x7f"],
  ["\u0085", "\\N"],
  ["\u009b", "\\x9b"],
  ["\u00a0", "\\_"],
  ["\u2028", "\\L"],
  ["\u2029", "\\P"],
  ["\u202e", "\\u202e"],
  ["\u2066", "\\u2066"],
  ["\ufeff", "\\ufeff"],
];

/** Log-uniform size from 1 to `max` bytes. */
const size = (r: R, max: number) => Math.max(1, Math.round(Math.exp(r.next() * Math.log(max))));

export interface Generated {
  hostile: HostileCase;
  /** What the seed did, in order: printed with a failure. */
  steps: string[];
}

export function generate(seed: number): Generated {
  const r = rng(seed);
  const steps: string[] = [];
  const plan = r.int(4) === 0;
  let text = plan ? simConfig() : r.pick([BASE, TUTORIAL, RICH]);
  const files: Record<string, Entry> = {};
  const env: Record<string, string> = {};
  const secrets: string[] = [];
  let target = "homelab.yaml";
  let encode: ((t: string) => Uint8Array) | undefined;
  steps.push(plan ? "plan against the simulator" : "validate");

  /** Word-like tokens (names, values) outside comments, and where they are. */
  const tokens = () =>
    [...text.matchAll(/[A-Za-z_][\w.@!-]*/g)].filter((m) => {
      const lineStart = text.lastIndexOf("\n", m.index) + 1;
      return !/(^|\s)#/.test(text.slice(lineStart, m.index)) && !/^(version|true|false)$/.test(m[0]);
    });
  const at = () => r.pick(tokens());

  const mutations: Record<string, () => void> = {
    proto() {
      const name = r.pick(PROTO_NAMES);
      const m = at();
      if (r.int(2) === 0) {
        text = text.split(m[0]).join(name);
        steps.push(`every \`${m[0]}\` renamed to ${name}`);
      } else {
        text = text.slice(0, m.index) + name + text.slice(m.index! + m[0].length);
        steps.push(`one \`${m[0]}\` (offset ${m.index}) renamed to ${name}`);
      }
    },
    control() {
      const [raw, escaped] = r.pick(CONTROLS);
      const m = at();
      const inside = m.index! + r.int(m[0].length + 1);
      if (r.int(2) === 0) {
        text = text.slice(0, inside) + raw + text.slice(inside);
        steps.push(`raw U+${raw.codePointAt(0)!.toString(16)} inserted into \`${m[0]}\``);
      } else {
        const cut = inside - m.index!;
        text = `${text.slice(0, m.index)}"${m[0].slice(0, cut)}${escaped}${m[0].slice(cut)}"${text.slice(m.index! + m[0].length)}`;
        steps.push(`\`${m[0]}\` quoted with ${escaped} inside`);
      }
    },
    tag() {
      const tag = r.pick(TAGS);
      const values = [...text.matchAll(/: (?=\S)/g)];
      const m = r.pick(values);
      text = `${text.slice(0, m.index! + 2)}${tag} ${text.slice(m.index! + 2)}`;
      steps.push(`tag ${tag} at offset ${m.index! + 2}`);
    },
    size() {
      const n = size(r, 4 * MiB);
      const kind = r.int(3);
      if (kind === 0) {
        text += `# ${"x".repeat(n)}\n`;
        steps.push(`a comment line of ${n} bytes`);
      } else if (kind === 1) {
        text += `${"#".repeat(80)}\n`.repeat(Math.ceil(n / 81));
        steps.push(`${Math.ceil(n / 81)} comment lines`);
      } else {
        const m = at();
        text = text.slice(0, m.index) + m[0] + "y".repeat(n) + text.slice(m.index! + m[0].length);
        steps.push(`\`${m[0]}\` made ${n} bytes longer`);
      }
    },
    nesting() {
      const depth = size(r, 50_000);
      const [open, close] = r.pick([["[", "]"], ["{a: ", "}"], ["[{a: ", "}]"]] as const);
      const closed = r.int(4) !== 0;
      text += `nested: ${open.repeat(depth)}x${closed ? close.repeat(depth) : ""}\n`;
      steps.push(`${depth} nested ${open.trim()}${closed ? "" : " (unclosed)"}`);
    },
    alias() {
      const kind = r.int(3);
      if (kind === 0) {
        const fan = 2 + r.int(20);
        const depth = 2 + r.int(12);
        const lines = [`l0: &l0 [${Array(fan).fill("x").join(",")}]`];
        for (let i = 1; i < depth; i++) lines.push(`l${i}: &l${i} [${Array(fan).fill(`*l${i - 1}`).join(",")}]`);
        text += `${lines.join("\n")}\n`;
        steps.push(`alias bomb: fan-out ${fan}, depth ${depth}`);
      } else if (kind === 1) {
        const m = at();
        text = `${text.slice(0, m.index)}*${m[0].replace(/[^\w-]/g, "")}${text.slice(m.index! + m[0].length)}`;
        steps.push(`\`${m[0]}\` replaced by an undefined alias`);
      } else {
        const values = [...text.matchAll(/: (?=[\w"$])/g)];
        const a = r.pick(values);
        const b = r.pick(values);
        if (a.index! >= b.index!) return;
        const end = text.indexOf("\n", b.index!);
        text = `${text.slice(0, a.index! + 2)}&n ${text.slice(a.index! + 2, b.index! + 2)}*n${text.slice(end)}`;
        steps.push(`value at ${b.index} replaced by an alias of the value at ${a.index}`);
      }
    },
    documents() {
      text += r.pick(["---\n", `---\n${text}`, "...\n", "--- |\n  x\n", "%YAML 1.2\n---\n"]);
      steps.push("more than one document");
    },
    encoding() {
      const kind = r.pick(["bom", "utf16le", "utf16be", "crlf", "cr", "nul", "latin1", "utf16le-nobom"]);
      steps.push(`encoding: ${kind}`);
      if (kind === "crlf") text = text.replaceAll("\n", "\r\n");
      else if (kind === "cr") text = text.replaceAll("\n", "\r");
      else if (kind === "nul") text = text.slice(0, r.int(text.length)) + "\0".repeat(1 + r.int(8)) + text.slice(r.int(text.length));
      else if (kind === "bom") text = `\ufeff${text}`;
      else
        encode = (t) => {
          if (kind === "latin1") return Buffer.from(t, "latin1");
          const le = Buffer.from(t, "utf16le");
          if (kind === "utf16le-nobom") return le;
          if (kind === "utf16le") return Buffer.concat([Buffer.from([0xff, 0xfe]), le]);
          for (let i = 0; i < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1]!, le[i]!];
          return Buffer.concat([Buffer.from([0xfe, 0xff]), le]);
        };
    },
    special() {
      const special: Entry = r.pick<Entry>([{ symlink: "/dev/zero" }, { symlink: "/dev/urandom" }, { fifo: true }, { sparse: (1 + r.int(300)) * MiB }, { dir: true }, { symlink: "nowhere" }]);
      const where = plan ? r.int(2) : r.int(3);
      if (where === 0 && plan) {
        files["special.secret"] = special;
        text = text.replace('"${env:SSO_SECRET}"', '"${file:special.secret}"');
        steps.push(`clientKey from a special file: ${JSON.stringify(special)}`);
      } else if (where === 1 && plan) {
        files["special.pem"] = special;
        text = text.replace(/tls: \{ fingerprint: "[^"]*" \}/, "tls: { ca: special.pem }");
        steps.push(`tls.ca a special file: ${JSON.stringify(special)}`);
      } else if (where === 2) {
        files["conf/z.yaml"] = special;
        target = "conf";
        steps.push(`a directory with z.yaml: ${JSON.stringify(special)}`);
      } else {
        files["special.yaml"] = special;
        target = "special.yaml";
        steps.push(`the config is a special file: ${JSON.stringify(special)}`);
      }
    },
    secrets() {
      const k = 1 + r.int(12);
      const blocks: string[] = [];
      const sizes: number[] = [];
      for (let j = 0; j < k; j++) {
        const i = secrets.length; // realm, variable and file names stay unique over several calls
        const n = size(r, MiB);
        const value = secretOf(n, `hostile-g${seed}-${i}-`);
        secrets.push(value);
        sizes.push(n);
        const fromEnv = n <= 100 * KiB && r.int(2) === 0; // one variable may hold at most 128 KiB on Linux
        if (fromEnv) env[`HOSTILE_G${i}`] = value;
        else files[`g${i}.secret`] = value + r.pick(["", "\n", "\r\n"]);
        blocks.push(`  g${i}:\n    issuerUrl: https://auth.lan/o/g${i}/\n    clientId: g${i}\n    clientKey: \${${fromEnv ? `env:HOSTILE_G${i}` : `file:g${i}.secret`}}\n    usernameClaim: username\n`);
      }
      text = text.replace(/^realms:\n/m, `realms:\n${blocks.join("")}`);
      steps.push(`${k} more realms with secrets of ${sizes.join(", ")} bytes`);
    },
  };

  // Plan cases are written as text (run.ts expands the simulator's address into it): no re-encoding.
  const families = Object.keys(mutations).filter((f) => (f === "secrets" ? plan : f === "encoding" ? !plan : true));
  const count = 1 + r.int(3);
  // Half of the plan cases read secrets of random sizes (item 1), on top of their other mutations.
  if (plan && r.int(2) === 0) mutations.secrets!();
  for (let i = 0; i < count; i++) mutations[r.pick(families)]!();

  const rendered = encode ? encode(text) : text;
  if (target === "conf") files["conf/a.yaml"] = rendered;
  else if (target === "homelab.yaml") files["homelab.yaml"] = rendered;
  else files["conf.yaml"] = rendered;

  return {
    steps,
    hostile: {
      name: `seed ${seed}`,
      files,
      command: plan ? "plan" : "validate",
      target,
      env: { ...ENV_SECRETS, ...env },
      secrets,
      ...(plan ? { codes: [0, 3] } : {}),
      why: `generated: ${steps.join("; ")}`,
    },
  };
}
