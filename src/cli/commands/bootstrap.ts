import { resolve as resolvePath } from "node:path";
import { tenantEndpoints } from "../../config/desired.js";
import { loadValidConfig } from "../../config/resolve.js";
import type { TenantConfig } from "../../config/types.js";
import { AuthError, ExitCode, HomelabError, RemoteError, UserError } from "../../core/errors.js";
import { redact } from "../../log/redact.js";
import { createGraphClient } from "../../providers/entra/graph.js";
import { createTokenSource, waitUntilUsable } from "../../providers/entra/token.js";
import type { AppRoleAssignment, EntraApplication, RetryEvent, ServicePrincipal } from "../../providers/entra/types.js";
import type { Io } from "../output.js";
import { installSignalHandlers, setInterruptNote } from "../signals.js";
import { confirm, openSecretOut, printReport, revealOnStdout, type SecretFile } from "./bootstrap-secret.js";
import { BOOTSTRAP_PUBLIC_CLIENT_ID, signIn } from "./bootstrap-signin.js";

export { BOOTSTRAP_PUBLIC_CLIENT_ID } from "./bootstrap-signin.js";

/**
 * `homelab bootstrap --tenant NAME` (issue 4 section 3; spec 1.2, 1.3, 6): one interactive device-code sign-in by a
 * tenant admin that creates (or finds) the automation app homelab runs as, its service principal, grants it the
 * Graph application permissions of spec 1.2, adds a client secret, proves the secret works, and prints how to store
 * the credentials.
 *
 * Idempotent: the automation app is found by its tag `homelab:automation` (never by display name, spec 3.1). A
 * second bootstrap reuses it, creates whatever is missing (service principal, permission grants) and adds one more
 * secret; it never creates a second app and never removes a secret (an older one may still be in use).
 *
 * The secret value leaves the process in exactly two ways: the `--secret-out` file (mode 0600, never overwritten),
 * or one deliberate write to stdout after an explicit confirmation (`--yes`, or y on a TTY prompt). Without either,
 * and with no TTY, bootstrap refuses BEFORE signing in, so no secret is ever created that nobody can read.
 * Everywhere else (log lines, errors, `--debug`) it is redacted.
 *
 * Failure semantics: a creating POST is not repeated after an ambiguous failure (graph.ts); running bootstrap again
 * finds the tagged app and carries on from where it stopped.
 */

/** The marker tag of the automation app (and its service principal). */
export const AUTOMATION_TAG = "homelab:automation";

/** Microsoft Graph's appId, the same in every tenant (spec 1.2). */
export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";

/**
 * The Graph application permissions the automation app gets (spec 1.2, errata 9.2), least privilege first:
 * - Application.ReadWrite.OwnedBy: create the Proxmox apps and service principals (homelab binds itself as owner)
 *   and manage their secrets; it also lists every app and service principal.
 * - Application.Read.All + AppRoleAssignment.ReadWrite.All: assign Entra groups to a realm's app (errata 9.2:
 *   the assignment permission needs a read permission next to it; Graph documents Application.Read.All).
 * - GroupMember.Read.All: resolve group display names to object ids (spec 3.11; Group.Read.All is broader), and list
 *   the transitive members of a group that says `members: sync` (issue 13).
 * - User.Read.All: read users (by UPN, and the members of synced groups: id, UPN, mail, names) AND whether their
 *   account is enabled (`accountEnabled`), which is how homelab finds leavers (issue 13). It is the least privilege that
 *   reads `accountEnabled`: with User.ReadBasic.All (granted by homelab before issue 13) Graph returns it as null, and a
 *   plan refuses to guess. Read-only; Directory.Read.All would also do, but reads far more.
 * - Policy.Read.All: read the tenant's app management policies (the default one, GET /policies/defaultAppManagementPolicy,
 *   and the one applied to each app, GET /applications/{id}/appManagementPolicies), so that a plan refuses a client
 *   secret lifetime over the tenant's passwordLifetime limit, or a tenant that blocks passwordAddition, before any
 *   write (issue 9 failure 5). Read-only; Graph names it the least privileged application permission for these reads
 *   (tenantappmanagementpolicy-get). Without it homelab still works, and learns of the limit when Graph refuses a secret.
 * Directory.Read.All is not granted: homelab never adds owners after creation (errata 9.2).
 */
export const AUTOMATION_PERMISSIONS: Record<string, string> = {
  "Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
  "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
  "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
  "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
  "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
  "Policy.Read.All": "246dd0d5-5bd0-4def-940b-0421030a5b68",
};

export interface BootstrapOptions {
  file: string;
  tenant: string;
  json: boolean;
  yes: boolean;
  secretOut?: string;
  lifetimeDays?: number;
}

/** Token requests with the new secret until one is issued (spec 6 step 2): attempts × delay. */
const USABLE_ATTEMPTS = 20;
const USABLE_DELAY_MS = 3000;

export async function bootstrapCommand(io: Io, opts: BootstrapOptions): Promise<number> {
  const { config } = loadValidConfig(opts.file);
  const tenant = config.tenants[opts.tenant];
  if (!tenant) {
    const known = Object.keys(config.tenants).sort();
    throw new UserError(`tenant \`${opts.tenant}\` is not in ${opts.file}`, {
      code: "E_ARGS",
      hint: known.length
        ? `tenants in the config: ${known.join(", ")}`
        : "add it first: tenants.<name>: { tenantId: <GUID>, credentials: { clientId: 00000000-0000-0000-0000-000000000000, clientSecret: ${env:NAME} } } (bootstrap prints the real client id)",
    });
  }
  const lifetimeDays = opts.lifetimeDays ?? 180;
  if (!Number.isInteger(lifetimeDays) || lifetimeDays < 1 || lifetimeDays > 730)
    throw new UserError(`--lifetime-days must be a whole number from 1 to 730, not \`${String(opts.lifetimeDays)}\``, { code: "E_ARGS", hint: "for example --lifetime-days 180" });
  const envName = `${opts.tenant.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_AUTOMATION_SECRET`;
  const interactive = process.stdin.isTTY === true;

  // Decide where the secret goes before anything is created (see the header comment).
  const secretOut = opts.secretOut === undefined ? undefined : resolvePath(opts.secretOut);
  if (secretOut === undefined && !opts.yes) {
    if (!interactive)
      throw new UserError("refusing to print the new client secret: no --secret-out FILE, no --yes, and no terminal to confirm on", {
        code: "E_ARGS",
        hint: "use --secret-out FILE (written with mode 0600), or --yes to print the secret on stdout",
      });
    const ok = await confirm(`The new client secret will be printed on this screen. Is nobody else watching it? [y/N] `);
    if (!ok)
      throw new UserError("not printing the client secret; nothing was changed", { code: "E_ABORTED", hint: "run again with --secret-out FILE to write it to a file (mode 0600)" });
  }

  // The --secret-out file is created now, before the sign-in, exclusively and without following a symlink (issue 10
  // item 7): an existing file or a symlink, even a dangling one, is refused before anything is added to the tenant.
  // A signal exits with 130/143 (signals.ts) and, through an exit listener, still removes the empty file.
  installSignalHandlers((line) => io.err(line));
  setInterruptNote("; run bootstrap again to finish (it finds the app it created and adds a new secret)");
  const out = secretOut === undefined ? undefined : openSecretOut(opts.secretOut!, secretOut);
  const discard = () => out?.discard();
  process.on("exit", discard);
  try {
    return await bootstrapInto(io, opts, tenant, lifetimeDays, envName, interactive, secretOut, out);
  } finally {
    process.removeListener("exit", discard);
    discard();
  }
}

async function bootstrapInto(
  io: Io,
  opts: BootstrapOptions,
  tenant: TenantConfig,
  lifetimeDays: number,
  envName: string,
  interactive: boolean,
  secretOut: string | undefined,
  out: SecretFile | undefined,
): Promise<number> {
  const { loginUrl, graphUrl } = tenantEndpoints(tenant);
  const tenantId = tenant.tenantId;
  const say = (line: string) => io.err(line);
  const onRetry = (e: RetryEvent) => {
    if (io.debug) io.err(`retry ${e.method} ${e.path} (${e.reason}${e.status ? `, HTTP ${e.status}` : ""}) in ${e.waitMs} ms`);
  };

  // 1. The admin's delegated token (spec 1.3).
  const admin = await signIn(io, { tenantId, loginUrl, graphUrl });
  say(`Signed in as ${admin.username} to tenant ${opts.tenant} (${tenantId}).`);
  const graph = createGraphClient({ graphUrl, tokens: { clientId: BOOTSTRAP_PUBLIC_CLIENT_ID, getToken: admin.getToken }, tenant: opts.tenant, onRetry });

  // 2. Find or create the automation app.
  const found = await graph.listApplicationsByTag(AUTOMATION_TAG);
  if (found.length > 1)
    throw new UserError(`tenant ${opts.tenant} has ${found.length} applications tagged ${AUTOMATION_TAG}: ${found.map((a) => `${a.displayName} (client id ${a.appId})`).join(", ")}`, {
      code: "E_AMBIGUOUS",
      hint: `delete the extra ones in the Entra admin center (App registrations), or remove the tag ${AUTOMATION_TAG} from them, and run bootstrap again`,
    });
  const graphSp = await graph.findServicePrincipal(GRAPH_APP_ID);
  if (!graphSp)
    throw new RemoteError({ service: "graph", method: "GET", url: `${graphUrl}/v1.0/servicePrincipals`, message: `tenant ${opts.tenant} has no service principal for Microsoft Graph (appId ${GRAPH_APP_ID})` });

  const wantedAccess = { resourceAppId: GRAPH_APP_ID, resourceAccess: Object.values(AUTOMATION_PERMISSIONS).map((id) => ({ id, type: "Role" as const })) };
  let app: EntraApplication;
  let appCreated = false;
  if (found[0]) {
    app = found[0];
    say(`The automation app already exists: ${app.displayName} (client id ${app.appId}); a new client secret will be added to it, no second app is created.`);
    if (!opts.yes && interactive && !(await confirm(`Add a new client secret to ${app.displayName}? [y/N] `)))
      throw new UserError("nothing was changed", { code: "E_ABORTED", hint: `the automation app's client id is ${app.appId}` });
    // `requiredResourceAccess` is only what the portal shows as configured permissions (spec 1.3); keep it complete.
    const rra = app.requiredResourceAccess ?? [];
    const graphEntry = rra.find((r) => r.resourceAppId.toLowerCase() === GRAPH_APP_ID);
    const missing = wantedAccess.resourceAccess.filter((w) => !graphEntry?.resourceAccess.some((a) => a.id.toLowerCase() === w.id && a.type === "Role"));
    if (missing.length > 0) {
      const merged = graphEntry
        ? rra.map((r) => (r === graphEntry ? { ...r, resourceAccess: [...r.resourceAccess, ...missing] } : r))
        : [...rra, wantedAccess];
      await graph.updateApplication(app.id, { requiredResourceAccess: merged });
    }
  } else {
    say(`Creating the automation app in tenant ${opts.tenant}...`);
    app = await graph.createApplication(
      {
        displayName: "homelab automation",
        signInAudience: "AzureADMyOrg",
        tags: [AUTOMATION_TAG],
        notes: "Created by `homelab bootstrap`: the app homelab runs as (client credentials). Found by its tag homelab:automation.",
        requiredResourceAccess: [wantedAccess],
      },
      admin.objectId,
    );
    appCreated = true;
  }

  // 3. Its service principal (errata 9.1: no secret works without one).
  let sp: ServicePrincipal | undefined = appCreated ? undefined : await graph.findServicePrincipal(app.appId);
  let spCreated = false;
  if (!sp) {
    const r = await graph.createServicePrincipal(app.appId, { ownerId: admin.objectId, tags: [AUTOMATION_TAG] });
    sp = r.servicePrincipal;
    spCreated = r.created;
  }

  // 4. Admin consent, done as Graph documents it: one app-role assignment per permission (spec 1.2).
  const have: AppRoleAssignment[] = spCreated ? [] : await graph.listAppRoleAssignments(sp.id);
  const granted: string[] = [];
  const added: string[] = [];
  for (const [name, roleId] of Object.entries(AUTOMATION_PERMISSIONS)) {
    const exists = have.some((a) => a.resourceId.toLowerCase() === graphSp.id.toLowerCase() && a.appRoleId.toLowerCase() === roleId);
    if (!exists) {
      await graph.grantAppRole(sp.id, graphSp.id, roleId);
      added.push(name);
    }
    granted.push(name);
  }
  if (added.length > 0) say(`Granted Microsoft Graph application permissions: ${added.join(", ")}.`);
  if (added.includes("User.Read.All") || added.includes("GroupMember.Read.All"))
    say("GroupMember.Read.All lists the members of groups with `members: sync`; User.Read.All reads whether accounts are enabled, to find leavers (users disabled or deleted in Entra ID).");

  // 5. A client secret (spec 3.7). Its value is wrapped in a Secret and registered with the redactor by graph.ts.
  const end = new Date(Date.now() + lifetimeDays * 86_400_000);
  const displayName = `homelab bootstrap ${new Date().toISOString().slice(0, 10)}`;
  const pw = await graph.addPassword(app.id, { displayName, endDateTime: end.toISOString().replace(/\.\d{3}Z$/, "Z") }).catch((err: unknown) => {
    if (err instanceof UserError && err.code === "E_SECRET_POLICY")
      throw new UserError(err.message, { code: err.code, hint: "the tenant's app management policy limits secret lifetime: lower --lifetime-days", cause: err });
    throw err;
  });
  if (out !== undefined) {
    try {
      out.write(`${pw.secretText.reveal()}\n`);
    } catch (err) {
      // Nobody would hold this secret's value: take it off the app again rather than leave a live credential behind.
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      const removed = await graph.removePassword(app.id, pw.keyId).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (removed === undefined)
        throw new HomelabError("E_SECRET_OUT", `could not write the new client secret to ${secretOut} (${why}); it was removed from ${app.displayName} again (key id ${pw.keyId}), so no secret is left that nobody holds`, {
          hint: "free space or fix the file system, then run bootstrap again (it finds the app and adds a new secret)",
          cause: err,
        });
      throw new HomelabError("E_SECRET_OUT", `could not write the new client secret to ${secretOut} (${why}), and removing it from ${app.displayName} failed too: ${redact(removed instanceof Error ? removed.message : String(removed))}`, {
        hint: `remove the client secret with key id ${pw.keyId} from ${app.displayName} (client id ${app.appId}) in the Entra admin center (App registrations > Certificates & secrets): nobody holds its value`,
        cause: err,
      });
    }
    say(`Client secret written to ${secretOut} (mode 0600).`);
  }

  // 6. Prove the secret works (spec 6 step 2; a brand-new secret may be refused briefly with AADSTS7000215).
  say("Waiting until Entra ID accepts the new secret...");
  let verifyError: unknown;
  try {
    const source = createTokenSource({ tenantId, loginUrl, graphUrl, credentials: { clientId: app.appId, clientSecret: pw.secretText } });
    await waitUntilUsable(source, { attempts: USABLE_ATTEMPTS, delayMs: USABLE_DELAY_MS, onRetry });
  } catch (err) {
    verifyError = err;
  }

  // 7. Report.
  const summary = {
    tenant: opts.tenant,
    tenantId,
    clientId: app.appId,
    objectId: app.id,
    servicePrincipalId: sp.id,
    created: appCreated,
    permissions: granted,
    secret: { keyId: pw.keyId, displayName, endDateTime: pw.endDateTime, verified: verifyError === undefined },
    envName,
    ...(secretOut !== undefined ? { secretFile: secretOut } : {}),
  };
  if (opts.json) {
    if (secretOut === undefined) revealOnStdout(`${JSON.stringify({ ...summary, clientSecret: pw.secretText.reveal() })}\n`);
    else io.out(JSON.stringify(summary));
  } else {
    printReport(io, summary, tenant.credentials.clientId, secretOut, pw.secretText);
  }
  if (verifyError !== undefined) {
    const e = verifyError instanceof HomelabError ? verifyError : new Error(String(verifyError));
    const hint = `the secret was ${secretOut ? `written to ${secretOut}` : "printed above"}; Entra ID may still be replicating it: try \`homelab plan\` in a few minutes`;
    if (e instanceof AuthError) throw new AuthError({ service: e.service, method: e.method, url: e.url, message: `the new client secret is not accepted yet: ${e.message}`, hint, cause: e });
    throw new RemoteError({ service: "entra", method: "POST", url: loginUrl, message: `could not prove the new client secret works: ${redact(e.message)}`, hint, cause: e });
  }
  return ExitCode.ok;
}
