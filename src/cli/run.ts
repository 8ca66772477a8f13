// The CLI proper, loaded by the bin (main.ts) once that has set up, with --debug, source maps.
import { installLastResort } from "../log/fatal.js";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ExitCode, UserError } from "../core/errors.js";
import { requestTimeouts } from "../providers/timeouts.js";
import { accepted, commandHelp, COMMANDS, globalHelp, isCommand, OPTIONS, refuseForeign, type OptionName } from "./options.js";
import { installSignalHandlers } from "./signals.js";
import { bufferOutput, consoleIo, endOutput, flushOutput, reportError, type Io } from "./output.js";

// First: whatever escapes the handler below (an error in a timer, an unawaited rejection) prints one redacted
// line and exits 70, never Node's verbatim stack (issue 10 item 1).
installLastResort();

/** A whole-number option: `fallback` when absent; otherwise it must lie in [min, max] (the message quotes what was given). */
function intOption(name: string, raw: string | undefined, min: number, max: number, fallback: number | undefined, example: string): number | undefined {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UserError(`${name} must be a whole number from ${min} to ${max}, not \`${raw}\``, { code: "E_ARGS", hint: `for example ${example}` });
  }
  return n;
}

function printVersion(io: Io): number {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  io.out(pkg.version);
  return ExitCode.ok;
}

export async function main(argv: string[]): Promise<number> {
  let io: Io = consoleIo({});
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, tokens: true, options: OPTIONS });
    } catch (err) {
      const command = argv.find((a) => !a.startsWith("-") && isCommand(a));
      throw new UserError((err as Error).message.split("\n")[0]!, { code: "E_ARGS", hint: `run \`homelab ${command ?? "<command>"} --help\` for its options` });
    }
    const { values, positionals, tokens } = parsed;
    io = consoleIo({ noColor: values["no-color"] ?? false, debug: values.debug ?? false });
    // SIGINT/SIGTERM: one line, locks released, exit 130/143 (a command may take the first signal over).
    installSignalHandlers((line) => io.err(line));
    const [command, ...rest] = positionals;
    if (command !== undefined && !isCommand(command))
      throw new UserError(`unknown command \`${command}\``, { code: "E_ARGS", hint: `commands: ${Object.keys(COMMANDS).join(", ")}; run \`homelab --help\`` });
    if (command === undefined) {
      if (values.version) return printVersion(io);
      io.out(globalHelp());
      return values.help ? ExitCode.ok : ExitCode.invalid;
    }
    if (command === "help" && !values.help) {
      const [about, ...more] = rest;
      if (more.length > 0) throw new UserError(`unexpected argument \`${more[0]}\``, { code: "E_ARGS", hint: "homelab help [COMMAND]" });
      if (about !== undefined && !isCommand(about))
        throw new UserError(`unknown command \`${about}\``, { code: "E_ARGS", hint: `commands: ${Object.keys(COMMANDS).join(", ")}` });
      io.out(about === undefined ? globalHelp() : commandHelp(about));
      return ExitCode.ok;
    }
    // Each command its own help, listing its own options (`homelab version --help` included).
    if (values.help) {
      io.out(commandHelp(command));
      return ExitCode.ok;
    }
    if (values.version) return printVersion(io);
    if (rest.length > 0) throw new UserError(`unexpected argument \`${rest[0]}\``, { code: "E_ARGS", hint: `run \`homelab ${command} --help\`` });
    const given = new Map<OptionName, string>();
    for (const t of tokens) if (t.kind === "option" && !given.has(t.name as OptionName)) given.set(t.name as OptionName, t.rawName);
    refuseForeign(command, given);
    if (command === "version") return printVersion(io);
    // The config cache (src/config/cache.ts) for every command that loads a config: on unless --no-cache or
    // HOMELAB_NO_CACHE=1; with --debug, an entry ignored or not written says why.
    if (accepted(command).has("no-cache")) {
      // Loaded here, not at the top: --version and --help need none of it (node:crypto is about 10 ms of start-up).
      const { cacheDisabledByEnv, configureConfigCache } = await import("../config/cache.js");
      configureConfigCache({
        enabled: !(values["no-cache"] ?? false) && !cacheDisabledByEnv(),
        ...(values.debug ? { debug: (line: string) => io.err(`debug ${line}`) } : {}),
      });
    }
    // A bad HOMELAB_*_TIMEOUT_S is an argument error before anything starts.
    if (COMMANDS[command]!.network) requestTimeouts();
    const file = values.file ?? "homelab.yaml";
    switch (command) {
      case "validate": {
        const { validateCommand } = await import("./commands/validate.js");
        return await bufferOutput(async () => validateCommand(io, { file, json: values.json ?? false }));
      }
      case "demo": {
        const { demoCommand } = await import("./commands/demo.js");
        const concurrency = intOption("--concurrency", values.concurrency, 1, 64, 4, "--concurrency 8")!;
        return await bufferOutput(() => demoCommand(io, { ...(values.file !== undefined ? { file: values.file } : {}), json: values.json ?? false, concurrency }));
      }
      case "sim": {
        const port = intOption("--port", values.port, 0, 65535, undefined, "--port 8006, or leave it out for a free port");
        const { simCommand } = await import("./commands/sim.js");
        return await simCommand(io, {
          ...(port !== undefined ? { port } : {}),
          ...(values["pve-version"] !== undefined ? { pveVersion: values["pve-version"] } : {}),
          once: values.once ?? false,
        });
      }
      case "plan":
      case "apply": {
        const concurrency = intOption("--concurrency", values.concurrency, 1, 64, 4, "--concurrency 8")!;
        const lockWaitMs = intOption("HOMELAB_LOCK_WAIT_MS", process.env.HOMELAB_LOCK_WAIT_MS, 0, 3_600_000, 10_000, "HOMELAB_LOCK_WAIT_MS=30000")!;
        const { applyCommand } = await import("./commands/apply.js");
        // Batched output (output.ts): one write per batch of change lines, not one per line.
        return await bufferOutput(() => applyCommand(io, {
          file,
          check: command === "plan" || (values.check ?? false),
          diff: command === "plan" || (values.diff ?? false),
          detailedExitcode: values["detailed-exitcode"] ?? false,
          rotateSecrets: values["rotate-secrets"] ?? false,
          json: values.json ?? false,
          quiet: values.quiet ?? false,
          targets: values.target ?? [],
          concurrency,
          lockWaitMs,
        }));
      }
      case "import": {
        const { importCommand } = await import("./commands/import.js");
        return await importCommand(io, {
          file,
          ...(values.cluster !== undefined ? { cluster: values.cluster } : {}),
          ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
          ...(values.output !== undefined ? { output: values.output } : {}),
          force: values.force ?? false,
          adopt: values.adopt ?? false,
        });
      }
      case "verify": {
        const { verifyCommand } = await import("./commands/verify.js");
        return await bufferOutput(() => verifyCommand(io, { file, json: values.json ?? false }));
      }
      case "bootstrap": {
        if (values.tenant === undefined)
          throw new UserError("bootstrap needs --tenant NAME", { code: "E_ARGS", hint: "name a tenant of the config, e.g. homelab bootstrap --tenant contoso --secret-out automation.secret" });
        const lifetimeDays = intOption("--lifetime-days", values["lifetime-days"], 1, 730, undefined, "--lifetime-days 180");
        const { bootstrapCommand } = await import("./commands/bootstrap.js");
        return await bootstrapCommand(io, {
          file,
          tenant: values.tenant,
          json: values.json ?? false,
          yes: values.yes ?? false,
          ...(values["secret-out"] !== undefined ? { secretOut: values["secret-out"] } : {}),
          ...(lifetimeDays !== undefined ? { lifetimeDays } : {}),
        });
      }
      default:
        throw new Error(`internal error: command \`${command}\` has no handler`);
    }
  } catch (err) {
    return reportError(io, err);
  }
}

// Run by the bin (main.ts) once loaded.
const code = await main(process.argv.slice(2));
process.exitCode = code;
// The command has reported its result. Whatever is still under way (a request being retried, a backoff, a
// socket) is abandoned, not waited for and not heard from: with --debug, retry lines used to go on after the
// final error. Output is drained first, so nothing already written is lost.
endOutput();
await flushOutput();
process.exit(code);
