/**
 * Where `homelab bootstrap` puts the new client secret: the `--secret-out` file (created before the sign-in, mode 0600,
 * never overwritten, removed again when nothing was written), the y/N confirmation on the terminal, and the report
 * that shows the secret at most once on stdout.
 */
import { closeSync, constants as fsConstants, fstatSync, fsyncSync, lstatSync, openSync, readlinkSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { createInterface } from "node:readline/promises";
import type { Secret } from "../../core/secret.js";
import { UserError } from "../../core/errors.js";
import type { Io } from "../output.js";

/**
 * The ONE place the client secret is written out unredacted (io.out would scrub it: it is registered with the
 * redactor). Only reached after an explicit confirmation: `--yes`, or y on the TTY prompt.
 */
export function revealOnStdout(text: string): void {
  process.stdout.write(text);
}

export function printReport(
  io: Io,
  s: { tenant: string; tenantId: string; clientId: string; created: boolean; permissions: string[]; envName: string; secret: { keyId: string; endDateTime: string } },
  configuredClientId: string,
  secretOut: string | undefined,
  secret: Secret,
): void {
  io.out(`${s.created ? "Created" : "Updated"} the automation app of tenant ${s.tenant}.`);
  io.out(`  tenant id:   ${s.tenantId}`);
  io.out(`  client id:   ${s.clientId}`);
  io.out(`  permissions: ${s.permissions.join(", ")} (Microsoft Graph, application, admin-consented)`);
  io.out(`  new secret:  key id ${s.secret.keyId}, expires ${s.secret.endDateTime}`);
  io.out("");
  io.out(`In homelab.yaml, tenants.${s.tenant}${configuredClientId.toLowerCase() === s.clientId.toLowerCase() ? " (the client id is already right)" : ""}:`);
  io.out("    credentials:");
  io.out(`      clientId: ${s.clientId}`);
  io.out(`      clientSecret: \${env:${s.envName}}`);
  io.out("");
  if (secretOut !== undefined) {
    io.out(`The client secret is in ${secretOut} (mode 0600). Store it, then delete the file:`);
    io.out(`  export ${s.envName}="$(cat '${secretOut}')"     # or put it in your secret manager / CI secret ${s.envName}`);
    io.out(`  or keep the file and write  clientSecret: \${file:${secretOut}}  instead.`);
  } else {
    io.out(`The client secret (shown once; Entra ID never shows it again). Store it as ${s.envName} in your secret manager or CI secrets:`);
    revealOnStdout(`  ${secret.reveal()}\n`);
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The --secret-out file, created empty before the sign-in: `write` fills it once; `discard` removes it unless written. */
export interface SecretFile {
  write(text: string): void;
  discard(): void;
}

/**
 * Create `path` with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 from the first byte (no chmod window). O_EXCL refuses
 * any existing name, a symlink included even when it dangles (POSIX open(2)); O_NOFOLLOW where the OS has it.
 */
export function openSecretOut(given: string, path: string): SecretFile {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0), 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ELOOP") {
      const link = symlinkTarget(path);
      throw new UserError(`--secret-out ${given} already exists${link !== undefined ? ` as a symbolic link (to ${link})` : ""}; bootstrap never overwrites a file${link !== undefined ? " nor follows a link" : ""}`, {
        code: "E_ARGS",
        hint: "name a new file, or move the old one away first",
      });
    }
    if (code === "ENOENT" || code === "ENOTDIR" || !isDirectory(dirname(path)))
      throw new UserError(`--secret-out ${given}: directory ${dirname(path)} does not exist`, { code: "E_ARGS", hint: "create the directory first" });
    throw new UserError(`--secret-out ${given}: cannot create it (${code ?? (err as Error).message})`, { code: "E_ARGS", hint: "name a file in a directory you can write to" });
  }
  const ino = fstatSync(fd).ino;
  let written = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    closeSync(fd);
  };
  return {
    write: (text) => {
      try {
        writeSync(fd, text);
        fsyncSync(fd);
        written = true;
      } finally {
        close();
      }
    },
    discard: () => {
      close();
      if (written) return;
      // Only the file this run created (not one someone put there since).
      try {
        if (lstatSync(path).ino === ino) unlinkSync(path);
      } catch {
        // gone already
      }
    },
  };
}

function symlinkTarget(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}

/** A y/N question on the terminal (prompt on stderr, so stdout stays clean). */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // On a terminal, readline takes Ctrl-C for itself: pass it on to the process (signals.ts: exit 130).
  rl.on("SIGINT", () => process.kill(process.pid, "SIGINT"));
  try {
    return /^\s*y(es)?\s*$/i.test(await rl.question(question));
  } finally {
    rl.close();
  }
}
