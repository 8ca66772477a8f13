import { ExitCode, UserError } from "../../core/errors.js";
import type { Io } from "../output.js";

/**
 * `homelab sim`: start the Proxmox VE and Entra ID simulators on 127.0.0.1 and serve until stopped
 * (Ctrl-C / SIGTERM). Prints, as one JSON object on stdout, what a client needs to reach them: the
 * Proxmox URL, API token and certificate fingerprint; the Entra login and Graph URLs, tenant id and the
 * automation app's credentials. These are throw-away credentials of a local simulator, printed on purpose.
 * `--pve-version X.Y[.Z]` picks the Proxmox VE release the simulator plays (GET /version and the
 * version gates of src/sim/proxmox/versions.ts); the JSON then also carries it as `proxmox.version`.
 */
export async function simCommand(
  io: Io,
  opts: { port?: number; entraPort?: number; once?: boolean; pveVersion?: string },
): Promise<number> {
  const { runProxmoxSimStandalone } = await import("../../sim/proxmox/standalone.js");
  const { parsePveVersion } = await import("../../sim/proxmox/versions.js");
  const { startEntraSim, entraSimInfo } = await import("../../sim/entra/index.js");
  if (opts.pveVersion !== undefined) {
    // Checked before anything starts: `--pve-version 7.4` or `--pve-version nine` is an argument error.
    try {
      parsePveVersion(opts.pveVersion);
    } catch (err) {
      throw new UserError(`--pve-version: ${(err as Error).message}`, { code: "E_ARGS", hint: "for example --pve-version 9.1.1" });
    }
  }
  const pve = await runProxmoxSimStandalone({
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.pveVersion !== undefined ? { version: opts.pveVersion } : {}),
  });
  const entra = await startEntraSim({ ...(opts.entraPort !== undefined ? { port: opts.entraPort } : {}) });
  const info = { proxmox: { ...pve.info, version: pve.sim.version }, entra: entraSimInfo(entra) };
  // Written directly: io.out would redact, and these simulator credentials are the point of the command.
  process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  const stop = async () => {
    await Promise.allSettled([pve.close(), entra.close()]);
  };
  if (opts.once) {
    await stop();
    return ExitCode.ok;
  }
  io.err("simulators running; press Ctrl-C to stop");
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
  await stop();
  return ExitCode.ok;
}
