import { playbook } from "../helpers/config.js";
import type { Entry, HostileCase } from "./run.js";

/**
 * The fixed hostile-input corpus: every case of issue 10 items 1-3, 6 and 8 and its "Should fix" messages,
 * each as files on disk and a command. run.ts's `judge` applies the common contract (exit 0 or 3 in time,
 * located, no stack, no secret, no raw control character); a case adds what it needs on top (its exit
 * codes, the message it must or must not print, the place every error must point at).
 */

/** Secrets every case's environment holds (validate reads none of them; none may ever be printed). */
export const ENV_SECRETS: Record<string, string> = {
  PVE_TOKEN_SECRET: "hostile-pve-0f9d2c81-5b7e-4e4a-9c3d-6a1b2e3f4a5b",
  SSO_SECRET: "hostile-sso-Zq8wYk3nRt6vLp1xMb4cJd7s",
  CONTOSO_AUTOMATION_SECRET: "hostile-entra-Vh2~Kd9.Qw4_Xr7-Ns1~Pf5",
};

/** A small valid config with an external-issuer realm (no tenant). */
export const BASE = `version: 1
clusters:
  pve:
    url: https://pve.lan:8006
    token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN_SECRET}" }
realms:
  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
access:
  - { user: jane@sso, role: Administrator, path: / }
`;

/** The tutorial playbook (a tenant realm). */
export const TUTORIAL = playbook("homelab.yaml");

/** The cluster block of the Proxmox simulator (run.ts expands the placeholders), for plan cases. */
export const SIM_CLUSTER = `clusters:
  pve:
    url: \${URL}
    token: { id: "\${TOKEN_ID}", secret: "\${env:PVE_TOKEN}" }
    tls: { fingerprint: "\${FP}" }
`;

/** A plan case's config: the simulator's cluster, one external realm whose client key is `clientKey`. */
export const simConfig = (clientKey = "${env:SSO_SECRET}", cluster = SIM_CLUSTER) => `version: 1
${cluster}realms:
  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: "${clientKey}"
    usernameClaim: username
access:
  - { user: jane@sso, role: Administrator, path: / }
`;

/** 1-based line of the first occurrence of `needle` in `text`. */
export function lineOf(text: string, needle: string): number {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`lineOf: ${JSON.stringify(needle)} not in the text`);
  return text.slice(0, i).split("\n").length;
}

/**
 * `n` pseudo-random letters and digits, the same for the same `tag` (no escaping can disguise a leak of
 * them, and no path or message holds them by chance).
 */
export function secretOf(n: number, tag: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  let x = 2166136261;
  for (const ch of tag) x = Math.imul(x ^ ch.charCodeAt(0), 16777619);
  while (s.length < n) {
    x = Math.imul(x ^ (x >>> 15), 2246822507) ^ s.length;
    s += alphabet[(x >>> 7) % alphabet.length];
  }
  return s;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const utf16le = (s: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(s, "utf16le")]);
const utf16be = (s: string) => {
  const le = Buffer.from(s, "utf16le");
  for (let i = 0; i < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1]!, le[i]!];
  return Buffer.concat([Buffer.from([0xfe, 0xff]), le]);
};
const utf32le = (s: string) => {
  const out = Buffer.alloc(4 + [...s].length * 4);
  out.writeUInt32LE(0xfeff, 0);
  [...s].forEach((ch, i) => out.writeUInt32LE(ch.codePointAt(0)!, 4 + i * 4));
  return out;
};

/** Output that means "valid" (for cases where either a clean exit 0 or a located refusal is right). */
const VALID = /: valid \(/;

// ---------------------------------------------------------------------------------------------------
// Item 3: endless and special inputs (validate reads the config; plan reads secrets and CA files).

const specialValidate: HostileCase[] = [
  { name: "config /dev/zero", files: {}, target: "/dev/zero", codes: [3], why: "item 3: endless input" },
  { name: "config /dev/urandom", files: {}, target: "/dev/urandom", codes: [3], why: "item 3: endless binary input" },
  { name: "config /dev/null", files: {}, target: "/dev/null", codes: [3], why: "item 3: a character device that ends at once" },
  { name: "config FIFO", files: { "homelab.yaml": { fifo: true } }, codes: [3], why: "item 3: a FIFO nobody writes (open blocks)" },
  { name: "config symlink to /dev/zero", files: { "homelab.yaml": { symlink: "/dev/zero" } }, codes: [3], why: "item 3" },
  { name: "config symlink to FIFO", files: { "p.yaml": { fifo: true }, "homelab.yaml": { symlink: "p.yaml" } }, codes: [3], why: "item 3" },
  { name: "config dangling symlink", files: { "homelab.yaml": { symlink: "missing.yaml" } }, codes: [3], why: "a broken link is a clean error" },
  { name: "config symlink loop", files: { "homelab.yaml": { symlink: "b.yaml" }, "b.yaml": { symlink: "homelab.yaml" } }, codes: [3], why: "ELOOP is a clean error" },
  { name: "config 200 MB sparse file", files: { "homelab.yaml": { sparse: 200 * MiB } }, codes: [3], why: "item 3: size limit on config files" },
  { name: "config 20 MB of comments", files: { "homelab.yaml": `${BASE}${`# ${"x".repeat(1021)}\n`.repeat(20 * KiB)}` }, codes: [0, 3], message: /: valid \(|MiB|too (large|big)|larger|size/i, why: "item 3: a big but finite file: read, or refused by the size limit" },
  { name: "dir with z.yaml -> /dev/zero", files: { "conf/a.yaml": BASE, "conf/z.yaml": { symlink: "/dev/zero" } }, target: "conf", codes: [3], at: "conf/z.yaml", why: "item 3" },
  { name: "dir with z.yaml -> /dev/urandom", files: { "conf/a.yaml": BASE, "conf/z.yaml": { symlink: "/dev/urandom" } }, target: "conf", codes: [3], at: "conf/z.yaml", why: "item 3" },
  { name: "dir with a FIFO", files: { "conf/a.yaml": BASE, "conf/f.yaml": { fifo: true } }, target: "conf", codes: [3], at: "conf/f.yaml", why: "item 3" },
  { name: "dir with a directory named d.yaml", files: { "conf/a.yaml": BASE, "conf/d.yaml": { dir: true } }, target: "conf", codes: [3], at: "conf/d.yaml", why: "a directory entry that is not a file" },
  { name: "dir with a 200 MB sparse file", files: { "conf/a.yaml": BASE, "conf/z.yaml": { sparse: 200 * MiB } }, target: "conf", codes: [3], at: "conf/z.yaml", why: "item 3: size limit" },
  { name: "config path with ESC", files: {}, target: "no\u001b[31mfile.yaml", codes: [3], why: "should fix: control characters in a path are escaped" },
  { name: "dir file name with ESC", files: { "conf/a.yaml": BASE, "conf/\u001b[2Jz.yaml": "version: [\n" }, target: "conf", codes: [3], why: "should fix: control characters in a file name are escaped" },
  { name: "validate: tls.ca /dev/zero", files: { "homelab.yaml": BASE.replace("    token:", "    tls: { ca: /dev/zero }\n    token:") }, codes: [0, 3], why: "item 3: validate reads no CA file, or refuses a special one" },
];

/** Plan cases with a secret or CA file that is special, huge or odd. */
const specialPlan: HostileCase[] = [
  ...(
    [
      ["/dev/zero", {}],
      ["/dev/urandom", {}],
      ["fifo.secret", { "fifo.secret": { fifo: true } }],
      ["zero.secret", { "zero.secret": { symlink: "/dev/zero" } }],
      ["huge.secret", { "huge.secret": { sparse: 200 * MiB } }],
      ["dir.secret", { "dir.secret": { dir: true } }],
    ] as [string, Record<string, Entry>][]
  ).map(([path, extra]): HostileCase => ({
    name: `plan: token secret \${file:${path}}`,
    command: "plan",
    files: { ...extra, "homelab.yaml": simConfig().replace('"${env:PVE_TOKEN}"', `"\${file:${path}}"`) },
    codes: [3],
    message: /token\.secret/,
    why: "item 3: secret files are regular files with a size limit",
  })),
  ...(
    [
      ["/dev/zero", {}],
      ["fifo.pem", { "fifo.pem": { fifo: true } }],
      ["huge.pem", { "huge.pem": { sparse: 200 * MiB } }],
      ["dir.pem", { "dir.pem": { dir: true } }],
    ] as [string, Record<string, Entry>][]
  ).map(([path, extra]): HostileCase => ({
    name: `plan: tls.ca ${path}`,
    command: "plan",
    files: { ...extra, "homelab.yaml": simConfig(undefined, SIM_CLUSTER.replace('tls: { fingerprint: "${FP}" }', `tls: { ca: ${path} }`)) },
    codes: [3],
    message: /tls\.ca/,
    why: "item 3: CA files are regular files with a size limit",
  })),
];

// ---------------------------------------------------------------------------------------------------
// Item 1: secrets of any size, many of them, in every output path; item 8's secret with an inner newline.

const big40k = secretOf(40 * KiB, "hostile-big40k-");
const big64kPlus = secretOf(64 * KiB + 1, "hostile-64kplus-");
const big1m = secretOf(MiB, "hostile-1mib-");
const env100k = secretOf(100 * KiB, "hostile-env100k-");
/** Realms with file secrets from 1 B to 1 MiB (sizes double), and the config that declares them all. */
const ladder = Array.from({ length: 21 }, (_, i) => 2 ** i).map((n) => ({ n, value: secretOf(n, `hostile-ladder${n}-`) }));
const ladderConfig = `version: 1
${SIM_CLUSTER}realms:
${ladder.map(({ n }) => `  r${n}:\n    issuerUrl: https://auth.lan/o/${n}/\n    clientId: c${n}\n    clientKey: \${file:s${n}.secret}\n    usernameClaim: username\n`).join("")}access:
  - { user: jane@r1, role: Administrator, path: / }
`;
const ladderFiles = Object.fromEntries(ladder.map(({ n, value }) => [`s${n}.secret`, value]));

const secretCases: HostileCase[] = [
  { name: "plan: 40 KB clientKey file", command: "plan", files: { "big.secret": big40k, "homelab.yaml": simConfig("${file:big.secret}") }, secrets: [big40k], codes: [3], message: /realms\.sso\.clientKey/, why: "item 1: the redactor's single regular expression overflowed and printed every secret" },
  { name: "plan --debug: 40 KB clientKey file", command: "plan", args: ["--debug"], allowStack: true, files: { "big.secret": big40k, "homelab.yaml": simConfig("${file:big.secret}") }, secrets: [big40k], codes: [3], why: "item 1 with --debug (stacks and request logs)" },
  { name: "plan --json: 40 KB clientKey file", command: "plan", args: ["--json"], files: { "big.secret": big40k, "homelab.yaml": simConfig("${file:big.secret}") }, secrets: [big40k], codes: [3], why: "item 1 with --json" },
  { name: "plan: 40 KB token secret file", command: "plan", files: { "tok.secret": big40k, "homelab.yaml": simConfig().replace('"${env:PVE_TOKEN}"', '"${file:tok.secret}"') }, secrets: [big40k], codes: [3, 4], why: "item 1: a token secret Proxmox cannot hold (refused, or an authentication failure), never printed" },
  { name: "plan: 64 KiB + 1 secret file", command: "plan", files: { "big.secret": big64kPlus, "homelab.yaml": simConfig("${file:big.secret}") }, secrets: [big64kPlus], codes: [3], message: /realms\.sso\.clientKey/, why: "item 1: a secret source over the size limit is a located error" },
  { name: "plan: 1 MiB secret file", command: "plan", files: { "big.secret": big1m, "homelab.yaml": simConfig("${file:big.secret}") }, secrets: [big1m], codes: [3], message: /realms\.sso\.clientKey/, why: "item 1" },
  { name: "plan: 100 KiB secret variable", command: "plan", env: { BIG_SECRET: env100k }, files: { "homelab.yaml": simConfig("${env:BIG_SECRET}") }, codes: [3], message: /realms\.sso\.clientKey/, why: "item 1: the size limit holds for variables too" },
  { name: "plan: 21 secrets from 1 B to 1 MiB", command: "plan", files: { ...ladderFiles, "homelab.yaml": ladderConfig }, secrets: ladder.map((l) => l.value), codes: [3], message: /realms\.r\d+\.clientKey/, why: "item 1: many secrets of every size at once" },
  { name: "plan: secrets that fit are not printed", command: "plan", files: { "ok.secret": "hostile-fits-Jr5tWq9zXc2vBn7m\n", "homelab.yaml": simConfig("${file:ok.secret}") }, secrets: ["hostile-fits-Jr5tWq9zXc2vBn7m"], codes: [0], message: /client-key:\s+\(sensitive\)/, why: "item 1: the ordinary path" },
  {
    name: "plan: token secret file with an inner newline",
    command: "plan",
    files: { "tok.secret": "${TOKEN_SECRET}\nhostile-second-line-Qm4x\n", "homelab.yaml": simConfig().replace('"${env:PVE_TOKEN}"', '"${file:tok.secret}"') },
    secrets: ["hostile-second-line-Qm4x"],
    codes: [3],
    message: /token\.secret.*(line|newline)|(line|newline).*token\.secret/i,
    why: "item 8: failed later as ERR_INVALID_CHAR [\"authorization\"], exit 1, with no hint at the file",
  },
  { name: "validate: inline secret is not echoed", files: { "homelab.yaml": BASE.replace("${env:SSO_SECRET}", "hostile-inline-Wb6nPz2kLs8d") }, secrets: ["hostile-inline-Wb6nPz2kLs8d"], codes: [3], message: /clientKey/, at: "homelab.yaml:10:", why: "an inline secret is refused without repeating it" },
];

// ---------------------------------------------------------------------------------------------------
// Item 2: an Entra group in a built-in realm. Item 8: ports, username claims.

const withGroup = (realm: string) => `${TUTORIAL}groups:\n  admins: { realm: ${realm}, entraGroup: Proxmox Admins }\n`;
const claim = (c: string) => TUTORIAL.replace("usernameClaim: upn  ", `usernameClaim: ${c}`);
const configCases: HostileCase[] = [
  ...["pve", "pam"].map((realm): HostileCase => ({ name: `Entra group in realm ${realm}`, files: { "homelab.yaml": withGroup(realm) }, codes: [3], message: /tenant realm/i, at: `homelab.yaml:${lineOf(withGroup(realm), "admins:")}:`, why: "item 2: crashed with `reading 'tenant'`, exit 70" })),
  (() => {
    const ports = ["0", "99999", "65536", "-1", "8006x"];
    const clusters = ports.map((p, i) => `  c${i}:\n    url: https://pve.lan:${p}\n    token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN_SECRET}" }\n`).join("");
    const text = BASE.replace("clusters:\n", `clusters:\n${clusters}`);
    return { name: "ports 0, 99999, 65536, -1, 8006x", files: { "homelab.yaml": text }, codes: [3], at: ports.map((p) => `homelab.yaml:${lineOf(text, `pve.lan:${p}\n`)}:`), why: "item 8: port 99999 failed at run time with ERR_INVALID_URL" };
  })(),
  { name: "port 65535", files: { "homelab.yaml": BASE.replace("pve.lan:8006", "pve.lan:65535") }, codes: [0], why: "item 8: the highest port is fine" },
  ...["oid", "favourite_colour", "sub"].map((c): HostileCase => ({ name: `usernameClaim ${c} with named users`, files: { "homelab.yaml": claim(c) }, codes: [3], message: /usernameClaim/, why: "item 8: user ids under this claim are not known before the first login" })),
];

// ---------------------------------------------------------------------------------------------------
// Item 6: JavaScript property names in every name position.

export const PROTO_NAMES = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty"] as const;

/** Every error line at exactly these places of homelab.yaml, and one at each (the needles' lines). */
const places = (text: string, needles: string[]) => needles.map((n) => `homelab.yaml:${lineOf(text, n)}:`);

function protoCases(n: string): HostileCase[] {
  const q = JSON.stringify(n); // quoted for YAML, so `__proto__` is a plain key like the others
  const why = "item 6: names that are JavaScript property names";
  const realm = n === "__proto__" ? "sso" : n; // `__proto__` is no realm id (it starts with `_`): its own case below
  const references = TUTORIAL.replace("\naccess:", `  other:\n    type: openid\n    tenant: ${q}\n    usernameClaim: upn\n    clusters: [${q}]\n\naccess:`).concat(
    `  - { user: jane@contoso.com@azure, role: ${q}, path: /vms/1 }\n  - { group: ${q}, role: PVEAuditor, path: /vms/2 }\n  - { user: ${JSON.stringify(`bob@${n}`)}, role: PVEAuditor, path: /vms/3 }\n`,
  );
  const keys = `${BASE.replace("    url:", `    ${q}: x\n    url:`).replace("    clientId:", `    ${q}: x\n    clientId:`)}${q}: { x: 1 }\nprune: { ${q}: true }\nusers:\n  jane@sso: { ${q}: 1 }\n`;
  // Tenant and cluster names are "a letter, then letters, digits, . _ -": `__proto__` is refused there (its own case).
  const tenant = n === "__proto__" ? "contoso" : n;
  const declarations = `version: 1
tenants:
  ${JSON.stringify(tenant)}:
    tenantId: 8f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f
    credentials: { clientId: 2b0c6d1e-7f8a-4b9c-8d0e-1f2a3b4c5d6e, clientSecret: "\${env:CONTOSO_AUTOMATION_SECRET}" }
clusters:
  pve:
    url: https://pve.lan:8006
    token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN_SECRET}" }
realms:
  azure:
    type: openid
    tenant: ${JSON.stringify(tenant)}
    usernameClaim: upn
  ${JSON.stringify(realm)}:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
roles:
  ${q}: { privs: [VM.Audit] }
groups:
  ${q}: { members: [${JSON.stringify(`${n}@${realm}`)}] }
users:
  ${JSON.stringify(`${n}@${realm}`)}: { comment: x }
access:
  - { user: ${JSON.stringify(`${n}@${realm}`)}, role: ${q}, path: / }
  - { group: ${q}, role: ${q}, path: /vms }
`;
  const cluster = BASE.replace("  pve:", `  ${q}:`);
  const cases: HostileCase[] = [
    {
      name: `${n}: references to undeclared names`,
      files: { "homelab.yaml": references },
      codes: [3],
      at: places(references, [`tenant: ${q}`, `clusters: [${q}]`, "path: /vms/1", "path: /vms/2", "path: /vms/3"]),
      why: `${why} (role: toString validated and failed at apply)`,
    },
    { name: `${n}: unknown keys`, files: { "homelab.yaml": keys }, codes: [3], message: /unknown key/, at: places(keys, [`${q}: x\n    url:`, `${q}: x\n    clientId:`, `${q}: { x: 1 }`, `prune: { ${q}`, `jane@sso: { ${q}`]), why: `${why} (a top-level __proto__ gave a dozen bogus errors at unrelated lines)` },
    { name: `${n}: as ${n === "__proto__" ? "" : "tenant, realm, "}role, group and user names`, files: { "homelab.yaml": declarations }, codes: [0], message: VALID, why: `${why} (a custom role named constructor was "a built-in role")` },
    n === "__proto__"
      ? { name: `${n}: as a cluster name`, files: { "homelab.yaml": cluster }, codes: [3], message: /not a valid name/, at: `homelab.yaml:${lineOf(cluster, q)}:`, why }
      : { name: `${n}: as a cluster name`, files: { "homelab.yaml": cluster }, codes: [0], message: VALID, why },
    {
      name: `${n}: realm in b.yaml of a directory`,
      files: { "conf/a.yaml": BASE, "conf/b.yaml": `realms:\n  ${q}:\n    issuerUrl: https://x.lan/\n    clientId: y\n    clientKey: \${env:SSO_SECRET}\n    usernameClaim: username\n` },
      target: "conf",
      codes: n === "__proto__" ? [3] : [0],
      ...(n === "__proto__" ? { at: "conf/b.yaml:2:" } : { message: VALID }),
      why: `${why} (a problem in b.yaml was reported in a.yaml)`,
    },
  ];
  if (n === "__proto__") {
    const text = BASE.replaceAll("sso", n).replace(`  ${n}:`, `  ${q}:`);
    cases.push({ name: "__proto__: realm id", files: { "homelab.yaml": text }, codes: [3], message: /__proto__/, why });
    const tenant = TUTORIAL.replace("  contoso:", `  ${q}:`).replace("tenant: contoso", `tenant: ${q}`);
    cases.push({ name: "__proto__: tenant name", files: { "homelab.yaml": tenant }, codes: [3], message: /not a valid name/, at: places(tenant, [`  ${q}:`, `tenant: ${q}`]), why });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------------
// Should fix, messages; YAML features an attacker reaches for.

const bomb = `version: 1\na: &a [x,x,x,x,x,x,x,x,x]\n${"bcdefghijk".split("").map((ch, i) => `${ch}: &${ch} [${Array(9).fill(`*${"abcdefghijk"[i]}`).join(",")}]`).join("\n")}\n`;
const nested = (depth: number, open: string, close: string, inner = "x") => `${BASE}users:\n  jane@sso: { comment: ${open.repeat(depth)}${inner}${close.repeat(depth)} }\n`;
const blockNested = (depth: number) => `${BASE}users:\n  jane@sso:\n${Array.from({ length: depth }, (_, i) => `${" ".repeat(4 + i)}a:\n`).join("")}${" ".repeat(4 + depth)}b: 1\n`;
const tagged = (tag: string, value = "x") => BASE.replace("    usernameClaim: username", `    usernameClaim: username\n    comment: ${tag} ${value}`);
const ctlUser = (escaped: string) => BASE.replace("user: jane@sso", `user: "ja${escaped}ne@sso"`);

const yamlCases: HostileCase[] = [
  { name: "undefined alias", files: { "homelab.yaml": BASE.replace("role: Administrator", "role: *admin") }, codes: [3], message: /alias|anchor/i, notMessage: /alias bomb|too much data/, at: "homelab.yaml:13:", why: "should fix: reported as an alias bomb" },
  { name: "billion laughs", files: { "homelab.yaml": bomb }, codes: [3], message: /alias/i, why: "alias bomb" },
  { name: "billion laughs in access", files: { "homelab.yaml": `${BASE.split("access:")[0]}x: &x [a,a,a,a,a,a,a,a,a,a]\n${Array.from({ length: 8 }, (_, i) => `y${i}: &y${i} [${Array(10).fill(i === 0 ? "*x" : `*y${i - 1}`).join(",")}]`).join("\n")}\naccess: *y7\n` }, codes: [3], why: "alias bomb where a list is expected" },
  { name: "alias as a key", files: { "homelab.yaml": `${BASE}users:\n  &k jane@sso : { comment: first }\n  *k : { comment: second }\n` }, codes: [3], at: `homelab.yaml:${BASE.split("\n").length + 2}:`, why: "an alias in key position repeats a key: the second silently replaced the first" },
  { name: "self-referencing anchor", files: { "homelab.yaml": `${BASE}users: &u { jane@sso: *u }\n` }, codes: [3], why: "a cycle" },
  { name: "merge key", files: { "homelab.yaml": `${BASE}users:\n  base: &b { comment: x }\n  jane@sso: { <<: *b }\n` }, codes: [3], why: "YAML 1.1 merge keys are not part of YAML 1.2" },
  { name: "two documents", files: { "homelab.yaml": `${BASE}---\n${BASE}` }, codes: [3], message: /document/i, notMessage: /parseAllDocuments/, why: "should fix: said \"please use YAML.parseAllDocuments()\"" },
  { name: "document end then garbage", files: { "homelab.yaml": `${BASE}...\n%YAML 1.1\n---\nx: 1\n` }, codes: [3], notMessage: /parseAllDocuments/, why: "directives after a document" },
  { name: "CR-only line ends", files: { "homelab.yaml": TUTORIAL.replaceAll("\n", "\r") }, codes: [0, 3], message: /: valid \(|line end|line break|\\r|carriage return|\bCR\b/i, notMessage: /the file is empty/, why: "should fix: a CR-only file was \"empty\"" },
  { name: "CRLF line ends", files: { "homelab.yaml": TUTORIAL.replaceAll("\n", "\r\n") }, codes: [0], message: VALID, why: "Windows line ends are ordinary" },
  { name: "mixed line ends", files: { "homelab.yaml": BASE.replace("\nrealms:", "\r\nrealms:").replace("\naccess:", "\raccess:") }, codes: [0, 3], notMessage: /the file is empty/, why: "line ends mixed" },
  { name: "UTF-8 BOM", files: { "homelab.yaml": `\ufeff${TUTORIAL}` }, codes: [0], message: VALID, why: "a BOM is allowed in YAML" },
  { name: "UTF-16LE with BOM", files: { "homelab.yaml": utf16le(TUTORIAL) }, codes: [0, 3], message: /: valid \(|UTF-16|encod/i, why: "YAML allows UTF-16: read it, or say it is not UTF-8" },
  { name: "UTF-16BE with BOM", files: { "homelab.yaml": utf16be(TUTORIAL) }, codes: [0, 3], message: /: valid \(|UTF-16|encod/i, why: "as above" },
  { name: "UTF-16LE without BOM", files: { "homelab.yaml": Buffer.from(TUTORIAL, "utf16le") }, codes: [0, 3], message: /: valid \(|UTF-16|encod|NUL|null/i, why: "as above" },
  { name: "UTF-32LE with BOM", files: { "homelab.yaml": utf32le(TUTORIAL) }, codes: [0, 3], why: "an encoding YAML 1.2 dropped" },
  { name: "invalid UTF-8 bytes", files: { "homelab.yaml": Buffer.concat([Buffer.from(BASE), Buffer.from("users:\n  jane@sso: { comment: caf"), Buffer.from([0xe9, 0xff, 0xfe]), Buffer.from(" }\n")]) }, codes: [0, 3], why: "Latin-1 bytes" },
  { name: "NUL bytes after the config", files: { "homelab.yaml": `${BASE}\0\0\0\n` }, codes: [3], why: "NUL bytes" },
  { name: "NUL byte in a key", files: { "homelab.yaml": BASE.replace("  sso:", "  s\0so:") }, codes: [3], why: "NUL in a raw key" },
  { name: "raw ESC in a user id", files: { "homelab.yaml": BASE.replace("user: jane@sso", "user: ja\u001b[31mne@sso") }, codes: [3], why: "should fix: an ESC in an invalid id was echoed raw" },
  { name: "escaped ESC in a user id", files: { "homelab.yaml": ctlUser("\\e[31m") }, codes: [3], at: "homelab.yaml:13:", why: "should fix: control characters escaped everywhere" },
  (() => {
    const escapes = ["\\0", "\\a", "\\r", "\\x7f", "\\x9b", "\\N", "\\u202e", "\\u200b", "\\t"];
    const text = `${BASE}${escapes.map((e, i) => `  - { user: "ja${e}ne@sso", role: PVEAuditor, path: /vms/${i} }\n`).join("")}`;
    return { name: "NUL, BEL, CR, DEL, CSI, NEL, RTL override, zero-width space, tab in user ids", files: { "homelab.yaml": text }, codes: [3], at: places(text, escapes.map((_e, i) => `path: /vms/${i} }`)), why: "control characters in ids are refused and escaped" };
  })(),
  { name: "ESC in a realm id", files: { "homelab.yaml": BASE.replace("  sso:", '  "s\\eso":').replace("jane@sso", '"jane@s\\eso"') }, codes: [3], why: "should fix" },
  { name: "ESC in a role id", files: { "homelab.yaml": `${BASE.replace("role: Administrator", 'role: "Op\\es"')}roles:\n  "Op\\es": { privs: [VM.Audit] }\n` }, codes: [3], why: "should fix" },
  { name: "ESC in a group id", files: { "homelab.yaml": `${BASE}groups:\n  "g\\e[2J": { members: [jane@sso] }\n` }, codes: [3], why: "should fix" },
  { name: "ESC in a cluster key", files: { "homelab.yaml": BASE.replace("  pve:", '  "p\\e[2Jve":') }, codes: [0, 3], why: "should fix" },
  { name: "ESC in an unknown key", files: { "homelab.yaml": `${BASE}"\\e]0;pwned\\a": 1\n` }, codes: [3], at: `homelab.yaml:${BASE.split("\n").length}:`, why: "should fix: the unknown key is quoted back" },
  { name: "ESC and CR in a comment", files: { "homelab.yaml": `${BASE}users:\n  jane@sso: { comment: "a\\e[2Jb\\rc\\u202ed" }\n` }, codes: [0, 3], why: "a comment Proxmox stores; printed escaped" },
  { name: "1 MB comment on one line", files: { "homelab.yaml": `${BASE}users:\n  jane@sso: { comment: ${"x".repeat(MiB)} }\n` }, codes: [0, 3], maxOutput: 64 * KiB, why: "very long lines; a message does not echo them" },
  { name: "1 MB user id", files: { "homelab.yaml": BASE.replace("user: jane@sso", `user: ${"j".repeat(MiB)}@sso`) }, codes: [3], maxOutput: 64 * KiB, why: "very long lines; a message does not echo them" },
  { name: "1 MB unknown key", files: { "homelab.yaml": `${BASE}${"k".repeat(MiB)}: 1\n` }, codes: [3], maxOutput: 64 * KiB, why: "very long lines" },
  { name: "1 MB line of garbage", files: { "homelab.yaml": `${BASE}${"{[".repeat(MiB / 2)}\n` }, codes: [3], maxOutput: 64 * KiB, why: "very long lines, a syntax error" },
  { name: "10,000 nested flow lists", files: { "homelab.yaml": nested(10_000, "[", "]") }, codes: [3], why: "deep nesting (the parser's recursion)" },
  { name: "100,000 nested flow lists", files: { "homelab.yaml": nested(100_000, "[", "]") }, codes: [3], why: "deep nesting" },
  { name: "10,000 nested flow maps", files: { "homelab.yaml": nested(10_000, "{a: ", "}") }, codes: [3], why: "deep nesting" },
  { name: "2,000 nested block maps", files: { "homelab.yaml": blockNested(2_000) }, codes: [3], why: "deep nesting, block style" },
  { name: "100,000 unclosed [", files: { "homelab.yaml": `${BASE}x: ${"[".repeat(100_000)}\n` }, codes: [3], why: "deep nesting, unterminated" },
  { name: "tag !!binary", files: { "homelab.yaml": tagged("!!binary", "aGVsbG8=") }, codes: [3], at: "homelab.yaml:12:", why: "YAML tags" },
  { name: "tag !!js/function", files: { "homelab.yaml": tagged("!!js/function", '"function () { process.exit(9) }"') }, codes: [3], at: "homelab.yaml:12:", why: "unknown YAML tags" },
  { name: "tag !!python/object/apply", files: { "homelab.yaml": tagged("!!python/object/apply:os.system", '["id"]') }, codes: [3], at: "homelab.yaml:12:", why: "unknown YAML tags" },
  { name: "custom tag !secret", files: { "homelab.yaml": tagged("!secret") }, codes: [3], at: "homelab.yaml:12:", why: "custom tags" },
  { name: "verbatim tag", files: { "homelab.yaml": tagged("!<tag:example.com,2026:x>") }, codes: [3], at: "homelab.yaml:12:", why: "verbatim tags" },
  { name: "tag directive", files: { "homelab.yaml": `%TAG !e! tag:example.com,2026:\n---\n${tagged("!e!x")}` }, codes: [3], why: "%TAG directives" },
  { name: "standard !!str tag", files: { "homelab.yaml": tagged("!!str") }, codes: [0], message: VALID, why: "a core-schema tag on a string is an ordinary string" },
  { name: "!!str on version", files: { "homelab.yaml": BASE.replace("version: 1", "version: !!str 1") }, codes: [3], at: "homelab.yaml:1:", why: "a tag that changes the type" },
  { name: "!!float on version", files: { "homelab.yaml": BASE.replace("version: 1", "version: !!float 1") }, codes: [0, 3], why: "1.0 is 1" },
  { name: "!!set as access", files: { "homelab.yaml": BASE.replace("access:\n  - ", "access: !!set\n  ? ") }, codes: [3], why: "YAML 1.1 sets" },
  { name: "!!omap as realms", files: { "homelab.yaml": BASE.replace("realms:\n  sso:", "realms: !!omap\n  - sso:").replace(/^    (issuerUrl|clientId|clientKey|usernameClaim)/gm, "      $1") }, codes: [0, 3], why: "ordered maps" },
  { name: "!!binary as a key", files: { "homelab.yaml": `${BASE}!!binary aGk=: 1\n` }, codes: [3], why: "a tag on a key" },
  { name: "tag on a mapping", files: { "homelab.yaml": BASE.replace("clusters:\n", "clusters: !custom\n") }, codes: [3], at: "homelab.yaml:2:", why: "a custom tag on a collection" },
  { name: "anchors on every node, no aliases", files: { "homelab.yaml": BASE.replace(/: (?=\S)/g, ": &a ").replace(/: &a \{/g, ": {") }, codes: [0, 3], why: "anchors alone are harmless" },
];

/** The whole fixed corpus. */
export const CORPUS: HostileCase[] = [...specialValidate, ...specialPlan, ...secretCases, ...configCases, ...PROTO_NAMES.flatMap(protoCases), ...yamlCases];
