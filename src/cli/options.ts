import { UserError } from "../core/errors.js";

/**
 * The commands, their options and their help texts, in one table (issue 10, "Should fix"): each command accepts
 * only the options listed for it (an option that does not apply is refused, exit 3, naming the option and the
 * command, instead of being ignored), and `homelab <command> --help` lists exactly those. The README's
 * options tables are written from the same table.
 */

export interface OptionSpec {
  type: "boolean" | "string";
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in help (`PATH`, `N`). */
  arg?: string;
  help: string;
}

/** Every option of every command; `help` is the default text, a command may word it its own way. */
export const OPTIONS = {
  file: { type: "string", short: "f", arg: "PATH", help: "the config: a file, or a directory whose *.yaml files are merged (default ./homelab.yaml)" },
  check: { type: "boolean", help: "read and plan only; change nothing" },
  diff: { type: "boolean", help: "print the full diff (apply prints it anyway; with --check, only the summary without it)" },
  "detailed-exitcode": { type: "boolean", help: "exit 2 when changes are pending (--check) or were made" },
  target: { type: "string", multiple: true, arg: "ADDR", help: "keep the changes whose address starts with ADDR, and what they depend on; repeatable" },
  concurrency: { type: "string", arg: "N", help: "independent changes applied at once (default 4, 1 to 64)" },
  "rotate-secrets": { type: "boolean", help: "renew every client secret homelab manages now (otherwise: within renewBeforeDays)" },
  json: { type: "boolean", help: "machine-readable output on stdout" },
  quiet: { type: "boolean", short: "q", help: "no progress lines, and no output at all when nothing changed (for cron)" },
  tenant: { type: "string", arg: "NAME", help: "the tenant (a key of tenants in the config)" },
  "secret-out": { type: "string", arg: "FILE", help: "write the new client secret to FILE (mode 0600; never overwritten)" },
  yes: { type: "boolean", help: "print the new client secret on stdout without asking" },
  "lifetime-days": { type: "string", arg: "N", help: "lifetime of the new client secret in days (default 180, at most 730)" },
  cluster: { type: "string", arg: "NAME", help: "the cluster to read (a key of clusters; optional when there is one)" },
  output: { type: "string", short: "o", arg: "FILE", help: "write the new config to FILE (default stdout; never overwritten without --force)" },
  force: { type: "boolean", help: "overwrite the --output file" },
  adopt: { type: "boolean", help: "tag matched app registrations of --tenant so homelab manages them" },
  port: { type: "string", arg: "N", help: "the Proxmox VE simulator's port (default: a free port; the Entra simulator takes another free one)" },
  once: { type: "boolean", help: "start both simulators, print how to reach them, stop them and exit (a smoke test)" },
  "pve-version": { type: "string", arg: "X.Y[.Z]", help: "the Proxmox VE release the simulator plays (default 9.2.1; 8.0 or later)" },
  "no-cache": { type: "boolean", help: "validate the config from scratch, neither reading nor writing the config cache (also HOMELAB_NO_CACHE=1)" },
  "no-color": { type: "boolean", help: "no colours (also NO_COLOR=1)" },
  debug: { type: "boolean", help: "stack traces, retries and every request as METHOD path status ms (secrets stay redacted)" },
  help: { type: "boolean", short: "h", help: "show this help" },
  version: { type: "boolean", short: "v", help: "print the version" },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** Accepted by every command. */
export const COMMON: readonly OptionName[] = ["no-color", "debug", "help", "version"];

export interface CommandSpec {
  usage: string;
  /** One line, for the command list of the global help. */
  summary: string;
  /** What `homelab <command> --help` says after the usage line. */
  about: string;
  /** The options it accepts (COMMON too), with a wording of its own where the default does not fit. */
  options: ReadonlyArray<OptionName | [OptionName, string]>;
  /** Accepted for compatibility but implied (`plan --check`): not listed in help. */
  implied?: readonly OptionName[];
  /** Whether it talks to an API (the timeout variables apply). */
  network?: boolean;
}

export const COMMANDS: Record<string, CommandSpec> = {
  validate: {
    usage: "homelab validate [-f PATH] [--json]",
    summary: "check the config (schema and references); no network, no secrets read",
    about: "Checks the config against the schema and every reference between its parts, without network and without\nreading any secret. Exit 0 valid, 3 invalid (each problem as FILE:LINE:COL: path: message, with a hint).",
    options: ["file", ["json", "print the result as JSON on stdout: {valid, files, ...counts} or {valid: false, problems: [{file, line, column, path, message, hint}]}"], "no-cache"],
  },
  plan: {
    usage: "homelab plan [-f PATH] [--json] [-q] [--target ADDR]... [--detailed-exitcode] [--rotate-secrets]",
    summary: "show what apply would change (= apply --check --diff)",
    about: "Reads every cluster and tenant of the config, prints the diff and changes nothing (apply --check --diff).",
    options: ["file", ["json", "the plan as JSON events on stdout"], "quiet", "target", ["detailed-exitcode", "exit 2 when changes are pending"], ["rotate-secrets", "plan the renewal of every client secret homelab manages"], "no-cache"],
    implied: ["check", "diff"],
    network: true,
  },
  apply: {
    usage: "homelab apply [-f PATH] [--check] [--diff] [--detailed-exitcode] [--json] [-q] [--target ADDR]... [--concurrency N] [--rotate-secrets]",
    summary: "converge the clusters to the config; a second run changes nothing",
    about: "Reads every cluster and tenant of the config, plans the difference and converges it as a dependency graph.\nA second run reports \"No changes\".",
    options: ["file", "check", "diff", "detailed-exitcode", ["json", "plan, changes and summary as JSON events on stdout"], "quiet", "target", "concurrency", "rotate-secrets", "no-cache"],
    network: true,
  },
  verify: {
    usage: "homelab verify [-f PATH] [--json]",
    summary: "check what each realm's login needs (issuer, redirect URIs, client id, secret, users); changes nothing",
    about: "Checks, without changing anything, what a login through each OpenID realm needs. Exit 0 only if all pass.",
    options: ["file", ["json", "the checks as JSON on stdout: {checks: [...], ok}"], "no-cache"],
    network: true,
  },
  import: {
    usage: "homelab import [-f PATH] [--cluster NAME] [--tenant NAME] [--adopt] [-o FILE] [--force]",
    summary: "read a cluster (and --tenant) and write a homelab.yaml whose plan is empty (-o FILE)",
    about: "Reads a cluster (and a tenant) named in the config given with -f and writes a homelab.yaml whose plan\nagainst that same state is empty. The output is YAML (there is no --json).",
    options: [["file", "the config naming the cluster (and tenant) to read (default ./homelab.yaml)"], "cluster", ["tenant", "also read this tenant (a key of tenants in the config) and match its app registrations"], "adopt", "output", "force", "no-cache"],
    network: true,
  },
  bootstrap: {
    usage: "homelab bootstrap --tenant NAME [-f PATH] [--secret-out FILE] [--yes] [--lifetime-days N] [--json]",
    summary: "sign in once as a tenant admin (device code) and create the automation app homelab runs as",
    about: "One device-code sign-in by a tenant admin: creates the automation app homelab runs as, grants its Graph\npermissions and adds a client secret.",
    options: ["tenant", "file", "secret-out", "yes", "lifetime-days", ["json", "the result as JSON on stdout"], "no-cache"],
    network: true,
  },
  demo: {
    usage: "homelab demo [-f PATH] [--json] [--concurrency N]",
    summary: "converge playbooks/demo.yaml against the built-in simulators, twice (no network needed)",
    about: "Starts both simulators in this process, points the config's tenants and clusters at them and converges it\ntwice (the second run changes nothing).",
    options: [["file", "the config to converge (default playbooks/demo.yaml)"], ["json", "JSON events on stdout"], "concurrency", "no-cache"],
  },
  sim: {
    usage: "homelab sim [--port N] [--once] [--pve-version X.Y[.Z]]",
    summary: "run the Proxmox VE and Entra ID simulators on 127.0.0.1; prints how to reach them",
    about: "Serves both simulators on 127.0.0.1 until stopped (Ctrl-C), after printing their URLs, the Proxmox API token,\ncertificate fingerprint and release, and the Entra tenant and automation credentials, as JSON on stdout.",
    options: ["port", "once", "pve-version"],
  },
  help: {
    usage: "homelab help [COMMAND]",
    summary: "show this help, or a command's",
    about: "Shows the list of commands, or with a command its own help (= homelab COMMAND --help).",
    options: [],
  },
  version: {
    usage: "homelab version",
    summary: "print the version",
    about: "Prints homelab's version (= homelab --version).",
    options: [],
  },
};

/** Whether `name` is a command (its own key: `toString` or `constructor` is not one). */
export function isCommand(name: string): boolean {
  return Object.hasOwn(COMMANDS, name);
}

/** The options `command` accepts (its own and COMMON, implied ones included). */
export function accepted(command: string): Set<OptionName> {
  const cmd = COMMANDS[command]!;
  return new Set<OptionName>([...cmd.options.map((o) => (Array.isArray(o) ? o[0] : o)), ...(cmd.implied ?? []), ...COMMON]);
}

/** `-f, --file PATH`. */
function flag(name: OptionName): string {
  const o: OptionSpec = OPTIONS[name];
  return `${o.short ? `-${o.short}, ` : "    "}--${name}${o.arg ? ` ${o.arg}` : ""}`;
}

/** Option lines, `flag` padded to a column; a long flag puts its text on the next line. */
function optionLines(entries: ReadonlyArray<OptionName | [OptionName, string]>): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    const [name, text] = Array.isArray(e) ? e : [e, OPTIONS[e].help];
    const f = `  ${flag(name)}`;
    if (f.length < 24) lines.push(`${f.padEnd(24)}${text}`);
    else lines.push(f, `${" ".repeat(24)}${text}`);
  }
  return lines;
}

const TIMEOUT_VARS = `Environment:
  HOMELAB_CONNECT_TIMEOUT_S   seconds to connect (TCP and TLS) to an API (default 10)
  HOMELAB_REQUEST_TIMEOUT_S   seconds to wait for an API's answer once the request is sent (default 30)
  A request that times out is not repeated; one waiting longer than 3 s shows on the progress line.`;

const EXIT_CODES = `Exit codes: 0 ok, 1 remote or apply failure, 2 changes pending or made (--detailed-exitcode),
3 invalid config or arguments, 4 authentication or permission failure, 70 internal error.`;

/** `homelab <command> --help`. */
export function commandHelp(command: string): string {
  const cmd = COMMANDS[command]!;
  const parts = [`Usage: ${cmd.usage}`, "", cmd.about];
  if (cmd.options.length > 0) parts.push("", "Options:", ...optionLines(cmd.options));
  parts.push("", "Options of every command:", ...optionLines(COMMON.filter((o) => o !== "version")));
  if (cmd.network) parts.push("", TIMEOUT_VARS);
  if (command !== "help" && command !== "version") parts.push("", EXIT_CODES);
  return parts.join("\n");
}

/** `homelab --help`. */
export function globalHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 4;
  return [
    "homelab: declarative identity for Proxmox VE and Entra ID, from one homelab.yaml",
    "",
    "Usage: homelab <command> [options]",
    "",
    "Commands:",
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n]!.summary}`),
    "",
    "Run `homelab <command> --help` for the options of a command.",
    "",
    "Options of every command:",
    ...optionLines(COMMON),
    "",
    TIMEOUT_VARS,
    "",
    EXIT_CODES,
  ].join("\n");
}

/** `--json` as written (`-o` for output, `--output` otherwise, as the user may have typed either). */
function shown(name: OptionName, raw: string | undefined): string {
  return raw ?? `--${name}`;
}

/**
 * Refuse the options `command` does not take: the first one as given, with the command's options in the
 * hint. `given` maps each option present to how it was written (`-o`, `--output`).
 */
export function refuseForeign(command: string, given: ReadonlyMap<OptionName, string>): void {
  const ok = accepted(command);
  const foreign = [...given.keys()].filter((k) => !ok.has(k));
  if (foreign.length === 0) return;
  const first = foreign[0]!;
  const own = COMMANDS[command]!.options.map((o) => `--${Array.isArray(o) ? o[0] : o}`);
  const why = first === "json" && command === "import" ? "; import writes YAML" : "";
  throw new UserError(`${shown(first, given.get(first))} does not apply to \`${command}\`${why}${foreign.length > 1 ? ` (nor ${foreign.slice(1).map((f) => shown(f, given.get(f))).join(", ")})` : ""}`, {
    code: "E_ARGS",
    hint: `${command} takes ${own.length > 0 ? own.join(", ") : "no options"} (and ${COMMON.map((c) => `--${c}`).join(", ")}); run \`homelab ${command} --help\``,
  });
}
