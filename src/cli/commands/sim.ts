import { ExitCode, UserError } from "../../core/errors.js";
import type { Io } from "../output.js";
import { onInterrupt } from "../signals.js";

/** The simulated tenant's administrator (the simulator's default tenant domain). */
const SIM_ADMIN = { displayName: "Simulated Admin", userPrincipalName: "admin@homelabsim.onmicrosoft.com" };

/**
 * `homelab sim`: start the Proxmox VE and Entra ID simulators on 127.0.0.1 and serve until stopped
 * (Ctrl-C / SIGTERM). Prints, as one JSON object on stdout, what a client needs to reach them: the
 * Proxmox URL, API token and certificate fingerprint; the Entra login and Graph URLs, tenant id and the
 * automation app's credentials. These are throw-away credentials of a local simulator, printed on purpose.
 * The Entra tenant has one user, its administrator, as whom a `homelab bootstrap` device-code sign-in is approved
 * by itself, so that the whole bootstrap can be rehearsed here.
 * `--pve-version X.Y[.Z]` picks the Proxmox VE release the simulator plays (GET /version and the
 * version gates of src/sim/proxmox/versions.ts); the JSON then also carries it as `proxmox.version`.
 */
export async function simCommand(
  io: Io,
  opts: { port?: number; entraPort?: number; once?: boolean; pveVersion?: string },
): Promise<number> {
  const { runProxmoxSimStandalone } = await import("../../sim/proxmox/standalone.js");
  const { parsePveVersion } = await import("../../sim/proxmox/versions.js");
  const { startEntraSim, entraSimInfo, SIGN_IN_USERS, DEFAULT_USER_PASSWORD } = await import("../../sim/entra/index.js");
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
  // The tenant admin a `homelab bootstrap` device-code sign-in signs in as: a directory user, because the app and
  // service principal bootstrap creates are owned by whoever signed in, and Graph refuses an owner it cannot find.
  // The sign-in users (a guest, a disabled account, a member of 205 groups) are there to try the OpenID sign-in.
  const entra = await startEntraSim({
    fixture: { users: [SIM_ADMIN, ...SIGN_IN_USERS] },
    deviceUser: SIM_ADMIN.userPrincipalName,
    ...(opts.entraPort !== undefined ? { port: opts.entraPort } : {}),
  });
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
  io.err(`simulators running; press Ctrl-C to stop (a homelab bootstrap sign-in there is approved by itself, as ${SIM_ADMIN.userPrincipalName})`);
  // The Proxmox simulator's page at / stands in for the GUI's OpenID login (src/sim/proxmox/login-page.ts).
  io.err(`sign in in a browser: once a homelab apply has created an OpenID realm here, open ${pve.info.url}/ (accept its self-signed certificate)`);
  io.err(`  and sign in with the password ${DEFAULT_USER_PASSWORD} as ${[SIM_ADMIN, ...SIGN_IN_USERS].map(signInName).join(", ")}`);
  // Ctrl-C / SIGTERM is the normal way to stop it: exit 0 after closing both simulators (signals.ts would exit 130/143).
  await new Promise<void>((resolve) => {
    const off = onInterrupt(() => {
      off();
      resolve();
    });
  });
  await stop();
  return ExitCode.ok;
}

/** How a seeded user signs in, and what to expect: a guest signs in with their own address. */
function signInName(u: { userPrincipalName: string; mail?: string; userType?: string; accountEnabled?: boolean; generatedGroups?: number }): string {
  if (u.userType === "Guest" && u.mail) return `${u.mail} (a guest)`;
  if (u.accountEnabled === false) return `${u.userPrincipalName} (disabled: refused)`;
  if (u.generatedGroups) return `${u.userPrincipalName} (in ${u.generatedGroups} groups)`;
  return u.userPrincipalName;
}
