/**
 * In-process simulator of the Proxmox VE access-control API (shared/spec/proxmox-access-api.md):
 * HTTPS on 127.0.0.1 with a self-signed certificate, the /api2/json envelope, API tokens and
 * tickets, the official parameter schema, the real error shapes. For tests, benchmarks and demos.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { generateSelfSignedCert } from "../tls.js";
import { loadRoutes } from "./apidoc.js";
import { TicketSigner } from "./auth.js";
import type { HandlerTable } from "./context.js";
import { applyFixture, snapshot } from "./fixture.js";
import { aclHandlers } from "./handlers-acl.js";
import { groupHandlers, roleHandlers } from "./handlers-groups-roles.js";
import { miscHandlers } from "./handlers-misc.js";
import { realmHandlers } from "./handlers-realms.js";
import { userHandlers } from "./handlers-users.js";
import { mulberry32 } from "../rng.js";
import { createRequestHandler, type LogEntry } from "./server.js";
import { ROOT, SimState } from "./state.js";
import type { FaultOptions, ProxmoxSim, ProxmoxSimOptions } from "./types.js";

export type {
  FaultKind,
  FaultOptions,
  FixtureAcl,
  FixtureGroup,
  FixtureRealm,
  FixtureRole,
  FixtureToken,
  FixtureUser,
  ProxmoxFixture,
  ProxmoxSim,
  ProxmoxSimOptions,
} from "./types.js";
export { PRIVILEGES, BUILTIN_ROLES } from "./constants.js";
export { runProxmoxSimStandalone, type StandaloneInfo } from "./standalone.js";
export { fixtureFromConfigFiles, parseDomainsCfg, parseTokenCfg, parseUserCfg, type ConfigFiles } from "./config-files.js";
export { RawClient, type RawRequest, type RawResponse } from "./raw-client.js";

export const DEFAULT_ROOT_PASSWORD = "homelab-sim";
export const ADMIN_TOKEN_ID = "root@pam!homelab";

const HANDLERS: HandlerTable = {
  ...miscHandlers,
  ...realmHandlers,
  ...userHandlers,
  ...groupHandlers,
  ...roleHandlers,
  ...aclHandlers,
};

export async function startProxmoxSim(opts: ProxmoxSimOptions = {}): Promise<ProxmoxSim> {
  const host = opts.host ?? "127.0.0.1";
  const seed = opts.seed ?? 1;
  const state = new SimState(opts.rootPassword ?? DEFAULT_ROOT_PASSWORD);
  if (opts.fixture) applyFixture(state, opts.fixture);

  const admin = state.users.get(ROOT)!.tokens.get("homelab") ?? state.newToken(ROOT, "homelab", 0);
  admin.privsep = 0;
  const adminToken = { id: ADMIN_TOKEN_ID, secret: admin.secret };

  let faults: FaultOptions | undefined = opts.faults;
  const log: LogEntry[] = [];
  const tls = generateSelfSignedCert({ commonName: "homelab-sim" });
  const handler = createRequestHandler({
    state,
    signer: new TicketSigner(randomBytes(32)),
    routes: loadRoutes(),
    handlers: HANDLERS,
    shuffle: opts.shuffle ?? true,
    shuffleRng: mulberry32(seed),
    faultRng: mulberry32(seed ^ 0x5bd1e995),
    faults: () => faults,
    unauthorizedDelayMs: opts.unauthorizedDelayMs ?? 3000,
    omitClientKey: opts.omitClientKey ?? false,
    log,
  });
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    url: `https://${urlHost}:${port}`,
    fingerprint: tls.fingerprint256,
    certPem: tls.certPem,
    adminToken,
    requestLog: log,
    clearLog: () => {
      log.length = 0;
    },
    setFaults: (f) => {
      faults = f;
    },
    state: () => structuredClone(snapshot(state)),
    createToken: (userid, tokenid, o) => {
      if (!state.users.has(userid)) throw new Error(`no such user '${userid}'`);
      if (state.users.get(userid)!.tokens.has(tokenid)) throw new Error(`token '${userid}!${tokenid}' already exists`);
      const t = state.newToken(userid, tokenid, o?.privsep === 0 ? 0 : 1, undefined, undefined, randomUUID());
      return { id: `${userid}!${tokenid}`, secret: t.secret };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
