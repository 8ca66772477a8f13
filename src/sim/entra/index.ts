import { DEFAULT_TENANT_ID, GRAPH_APP_ID, GRAPH_CLI_APP_ID, newGuid, newSecretText } from "./ids.js";
import { Knobs } from "./knobs.js";
import { DEFAULT_AUTOMATION_PERMISSIONS, GRAPH_APP_ROLES } from "./permissions.js";
import { listen, type ServerDeps } from "./server.js";
import { createHash } from "node:crypto";
import { DEFAULT_USER_PASSWORD, Directory, eqi } from "./state.js";
import type { DeviceUser } from "./token-endpoint.js";
import type { EntraSim, EntraSimKnobs, EntraSimOptions, LogEntry } from "./types.js";

/**
 * In-process simulator of the Entra ID token endpoint and the Microsoft Graph v1.0 calls homelab makes, following
 * shared/spec/entra-graph-api.md (section 9 overrides the rest). Plain HTTP on 127.0.0.1; login and Graph share
 * one server, so `loginUrl === graphUrl`.
 *
 * Defaults: tenant DEFAULT_TENANT_ID (domain `homelabsim.onmicrosoft.com`); an automation app with a generated
 * appId and secret (valid from one day before start for two years on the simulator clock) holding
 * DEFAULT_AUTOMATION_PERMISSIONS as app-role assignments on Microsoft Graph's service principal. Like a real
 * tenant, the directory therefore starts with two service principals (Microsoft Graph's and the automation app's)
 * and one application (the automation app), in addition to the fixture.
 *
 * Knobs act on Graph requests only (the token endpoint is never throttled: msal would throttle itself, 2.6).
 */

export type {
  EntraFixture,
  EntraFixtureGroup,
  EntraFixtureUser,
  EntraSim,
  EntraSimDirectory,
  EntraSimKnobs,
  EntraSimOptions,
  EntraSimState,
  FaultKnob,
  LogEntry,
  SecretPolicy,
  ThrottleKnob,
  Trigger,
} from "./types.js";
export type { AppManagementPoliciesKnob, SimAppManagementPolicy } from "./types.js";
export { DEFAULT_AUTOMATION_PERMISSIONS, DEFAULT_TENANT_ID, DEFAULT_USER_PASSWORD, GRAPH_APP_ID, GRAPH_APP_ROLES, GRAPH_CLI_APP_ID };
export { SIGN_IN_USERS, GUEST_UPN, DISABLED_UPN, MANY_GROUPS_UPN } from "./people.js";
export { signIn, buildAuthorizeUrl, pageError, type SignInOptions, type SignInResult, type AuthorizeUrlParts } from "./signin-client.js";

export const DEFAULT_TENANT_DOMAIN = "homelabsim.onmicrosoft.com";

export async function startEntraSim(opts: EntraSimOptions = {}): Promise<EntraSim> {
  const tenantId = (opts.tenantId ?? DEFAULT_TENANT_ID).toLowerCase();
  const dir = new Directory(tenantId, DEFAULT_TENANT_DOMAIN, opts.now ?? (() => new Date()));
  dir.pairwiseSalt = opts.pairwiseSalt ?? createHash("sha256").update(`homelab-sim pairwise ${tenantId}`).digest("hex");
  const knobValues: EntraSimKnobs = {
    consistencyDelay: opts.consistencyDelay ?? 0,
    credentialDelay: opts.credentialDelay ?? 0,
    secretActivationDelay: opts.secretActivationDelay ?? 0,
    throttle: opts.throttle,
    faults: opts.faults,
    secretPolicy: opts.secretPolicy,
    appManagementPolicies: opts.appManagementPolicies,
    conflicts: opts.conflicts,
  };
  const knobs = new Knobs(knobValues, opts.seed ?? 1);

  const automation = {
    clientId: opts.automation?.clientId ?? newGuid(),
    clientSecret: opts.automation?.clientSecret ?? newSecretText(),
    permissions: opts.automation?.permissions ?? DEFAULT_AUTOMATION_PERMISSIONS,
    displayName: opts.automation?.displayName ?? "homelab automation",
  };
  // Seeding happens with no replication lag; the knobs apply from the first request on.
  const seeded = dir.seed(opts.fixture ?? {}, automation);
  dir.knobs = knobValues;

  const deviceUser = resolveDeviceUser(dir, opts.deviceUser);
  const log: LogEntry[] = [];
  const deps: ServerDeps = {
    dir,
    knobs,
    tokenConfig: {
      devicePendingPolls: opts.devicePendingPolls ?? 1,
      devicePollInterval: opts.devicePollInterval ?? 1,
      deviceUser,
      publicClientFlows: opts.publicClientFlows ?? true,
    },
    log,
    urls: { loginUrl: "", graphUrl: "" },
    codeSeconds: opts.authorizationCodeSeconds ?? 600,
  };
  deps.tokenConfig.urls = deps.urls;
  const { server, url } = await listen(deps, opts.host ?? "127.0.0.1", opts.port ?? 0);
  deps.urls.loginUrl = url;
  deps.urls.graphUrl = url;

  return {
    loginUrl: url,
    graphUrl: url,
    tenantId,
    automation: {
      clientId: automation.clientId,
      clientSecret: automation.clientSecret,
      objectId: seeded.objectId,
      servicePrincipalId: seeded.servicePrincipalId,
    },
    requestLog: log,
    clearLog: () => {
      log.length = 0;
    },
    setClock: (now) => {
      dir.now = now;
    },
    setKnobs: (k) => {
      Object.assign(knobValues, k);
      knobs.reset(k);
    },
    directory: {
      addUser: (u) => dir.addUser(u),
      updateUser: (u, props) => dir.updateUser(u, props),
      setAccountEnabled: (u, enabled) => dir.setAccountEnabled(u, enabled),
      deleteUser: (u) => dir.deleteUser(u),
      addGroup: (g) => dir.addGroup(g),
      deleteGroup: (g) => dir.deleteGroup(g),
      addMember: (g, m) => dir.addMember(g, m),
      removeMember: (g, m) => dir.removeMember(g, m),
      members: (g) => [...(dir.rawGroup(g) ?? missingGroup(g)).members],
      transitiveMembers: (g) => dir.transitiveMemberIds(String((dir.rawGroup(g) ?? missingGroup(g)).data.id)),
    },
    state: () => dir.snapshot(),
    checkClientSecret: (appId, secret) => dir.checkSecret(appId, secret, false) === "ok",
    issuedAccessTokens: () => [...dir.accessTokens.keys()],
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function missingGroup(ref: string): never {
  throw new Error(`entra sim: no group '${ref}'`);
}

function resolveDeviceUser(dir: Directory, upn: string | undefined): DeviceUser {
  const users = [...dir.collections.users.values()];
  const found = upn ? users.find((u) => eqi(u.data.userPrincipalName, upn)) : users[0];
  if (upn && !found) throw new Error(`entra sim: deviceUser '${upn}' is not a fixture user`);
  if (found)
    return {
      id: String(found.data.id),
      userPrincipalName: String(found.data.userPrincipalName),
      displayName: String(found.data.displayName),
    };
  // No fixture users: a stand-in admin who is not in the directory.
  return { id: "0a11ad31-0000-4000-8000-000000000001", userPrincipalName: `admin@${DEFAULT_TENANT_DOMAIN}`, displayName: "Simulated Admin" };
}

/** What `homelab sim` prints (and what a test hands to homelab's tenant config). */
export function entraSimInfo(sim: EntraSim): { loginUrl: string; graphUrl: string; tenantId: string; clientId: string; clientSecret: string } {
  return {
    loginUrl: sim.loginUrl,
    graphUrl: sim.graphUrl,
    tenantId: sim.tenantId,
    clientId: sim.automation.clientId,
    clientSecret: sim.automation.clientSecret,
  };
}

/**
 * msal-node `auth.authorityMetadata` for Recipe A (2.5): keep the authority `https://login.microsoftonline.com/{tid}`
 * and route the token and device-code calls to the simulator over http. Never use this in production.
 */
export function entraAuthorityMetadata(loginUrl: string, tenantId: string): string {
  return JSON.stringify({
    token_endpoint: `${loginUrl}/${tenantId}/oauth2/v2.0/token`,
    authorization_endpoint: `${loginUrl}/${tenantId}/oauth2/v2.0/authorize`,
    end_session_endpoint: `${loginUrl}/${tenantId}/oauth2/v2.0/logout`,
    jwks_uri: `${loginUrl}/${tenantId}/discovery/v2.0/keys`,
    issuer: `https://login.microsoftonline.com/${tenantId}/v2.0`,
  });
}
