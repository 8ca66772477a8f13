#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ExitCode, UserError } from "../core/errors.js";
import { consoleIo, reportError, type Io } from "./output.js";

const HELP = `homelab: declarative identity for Proxmox VE and Entra ID, from one homelab.yaml

Usage: homelab <command> [options]

Commands:
  validate            check the config (schema and references); no network, no secrets read
  plan                show what apply would change (= apply --check --diff)
  apply               converge the clusters to the config; a second run changes nothing
  verify              check what each realm's login needs (issuer, redirect URIs, client id, secret, users); changes nothing
  import              read a cluster (and --tenant) and write a homelab.yaml whose plan is empty (-o FILE)
  bootstrap           sign in once as a tenant admin (device code) and create the automation app homelab runs as
  demo                converge playbooks/demo.yaml against the built-in simulators, twice (no network needed)
  sim                 run the Proxmox VE and Entra ID simulators on 127.0.0.1; prints how to reach them
  help                show this help
  version             print the version

Options:
  -f, --file PATH     the config: a file or a directory of *.yaml files (default ./homelab.yaml)
      --check         read and plan only; change nothing
      --diff          print the full diff (apply prints it anyway; with --check, the summary only without it)
      --detailed-exitcode
                      exit 2 when changes are pending (--check) or were made (apply)
      --target ADDR   limit the run to matching addresses (prefix) and what they depend on; repeatable
      --concurrency N independent changes applied at once (default 4)
      --rotate-secrets
                      renew every client secret homelab manages now (otherwise: within renewBeforeDays)
      --json          machine-readable output on stdout
  -q, --quiet         plan/apply: no progress lines, and no output at all when nothing changed (for cron)
      --no-color      no colours (also NO_COLOR=1)
      --debug         stack traces and request logs (secrets stay redacted)
      --tenant NAME   bootstrap: the tenant (a key of tenants in the config)
      --secret-out FILE
                      bootstrap: write the new client secret to FILE (mode 0600; never overwritten)
      --yes           bootstrap: print the new client secret on stdout without asking
      --lifetime-days N
                      bootstrap: lifetime of the new client secret in days (default 180, at most 730)
      --cluster NAME  import: the cluster to read (a key of clusters; optional when there is one)
  -o, --output FILE   import: write the new config to FILE (default stdout; never overwritten without --force)
      --force         import: overwrite the --output file
      --adopt         import: tag matched app registrations of --tenant so homelab manages them
      --pve-version V sim: the Proxmox VE release the simulator plays (default 9.2.1; 8.0 or later)
  -h, --help          show help
  -v, --version       print the version

Exit codes: 0 ok, 1 remote or apply failure, 2 changes pending or made (--detailed-exitcode),
3 invalid config or arguments, 4 authentication or permission failure, 70 internal error.
`;

const COMMANDS = ["validate", "plan", "apply", "verify", "import", "bootstrap", "demo", "sim", "help", "version"];

/** A whole-number option: `fallback` when absent; otherwise it must lie in [min, max] (the message quotes what was given). */
function intOption(name: string, raw: string | undefined, min: number, max: number, fallback: number | undefined, example: string): number | undefined {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UserError(`${name} must be a whole number from ${min} to ${max}, not \`${raw}\``, { code: "E_ARGS", hint: `for example ${example}` });
  }
  return n;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  let io: Io = consoleIo({});
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        strict: true,
        options: {
          file: { type: "string", short: "f" },
          json: { type: "boolean" },
          "no-color": { type: "boolean" },
          debug: { type: "boolean" },
          help: { type: "boolean", short: "h" },
          version: { type: "boolean", short: "v" },
          check: { type: "boolean" },
          "rotate-secrets": { type: "boolean" },
          diff: { type: "boolean" },
          "detailed-exitcode": { type: "boolean" },
          quiet: { type: "boolean", short: "q" },
          target: { type: "string", multiple: true },
          concurrency: { type: "string" },
          tenant: { type: "string" },
          yes: { type: "boolean" },
          "secret-out": { type: "string" },
          "lifetime-days": { type: "string" },
          port: { type: "string" },
          once: { type: "boolean" },
          "pve-version": { type: "string" },
          cluster: { type: "string" },
          output: { type: "string", short: "o" },
          force: { type: "boolean" },
          adopt: { type: "boolean" },
        },
      });
    } catch (err) {
      throw new UserError((err as Error).message.split("\n")[0]!, { code: "E_ARGS", hint: "run `homelab --help` for the commands and options" });
    }
    const { values, positionals } = parsed;
    io = consoleIo({ noColor: values["no-color"] ?? false, debug: values.debug ?? false });
    const [command, ...rest] = positionals;
    if (values.version || command === "version") {
      io.out(version());
      return ExitCode.ok;
    }
    if (values.help || command === undefined || command === "help") {
      io.out(HELP.trimEnd());
      return command === undefined && !values.help ? ExitCode.invalid : ExitCode.ok;
    }
    if (rest.length > 0) throw new UserError(`unexpected argument \`${rest[0]}\``, { code: "E_ARGS", hint: "run `homelab --help`" });
    const file = values.file ?? "homelab.yaml";
    switch (command) {
      case "validate": {
        const { validateCommand } = await import("./commands/validate.js");
        return validateCommand(io, { file, json: values.json ?? false });
      }
      case "demo": {
        const { demoCommand } = await import("./commands/demo.js");
        return await demoCommand(io, { ...(values.file !== undefined ? { file: values.file } : {}), json: values.json ?? false, concurrency: intOption("--concurrency", values.concurrency, 1, 64, 4, "--concurrency 8")! });
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
        const { applyCommand } = await import("./commands/apply.js");
        return await applyCommand(io, {
          file,
          check: command === "plan" || (values.check ?? false),
          diff: command === "plan" || (values.diff ?? false),
          detailedExitcode: values["detailed-exitcode"] ?? false,
          rotateSecrets: values["rotate-secrets"] ?? false,
          json: values.json ?? false,
          quiet: values.quiet ?? false,
          targets: values.target ?? [],
          concurrency,
          lockWaitMs: intOption("HOMELAB_LOCK_WAIT_MS", process.env.HOMELAB_LOCK_WAIT_MS, 0, 3_600_000, 10_000, "HOMELAB_LOCK_WAIT_MS=30000")!,
        });
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
        return await verifyCommand(io, { file, json: values.json ?? false });
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
        throw new UserError(`unknown command \`${command}\``, { code: "E_ARGS", hint: `commands: ${COMMANDS.join(", ")}; run \`homelab --help\`` });
    }
  } catch (err) {
    return reportError(io, err);
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
