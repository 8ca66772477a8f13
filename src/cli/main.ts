#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ExitCode, UserError } from "../core/errors.js";
import { consoleIo, reportError, type Io } from "./output.js";

const HELP = `homelab: declarative identity for Proxmox VE and Entra ID, from one homelab.yaml

Usage: homelab <command> [options]

Commands:
  validate            check the config (schema and references); no network, no secrets read
  help                show this help
  version             print the version

Options:
  -f, --file PATH     the config: a file or a directory of *.yaml files (default ./homelab.yaml)
      --json          machine-readable output on stdout
      --no-color      no colours (also NO_COLOR=1)
      --debug         stack traces and request logs (secrets stay redacted)
  -h, --help          show help
  -v, --version       print the version

Exit codes: 0 ok, 1 remote or apply failure, 2 changes pending or made (--detailed-exitcode),
3 invalid config or arguments, 4 authentication or permission failure, 70 internal error.
`;

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
      default:
        throw new UserError(`unknown command \`${command}\``, { code: "E_ARGS", hint: "commands: validate, help, version; run `homelab --help`" });
    }
  } catch (err) {
    return reportError(io, err);
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
