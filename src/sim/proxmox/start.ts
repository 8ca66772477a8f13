/**
 * Starting the Proxmox VE simulator: a fresh install plus the fixture, the handlers, the HTTPS server on 127.0.0.1
 * and the ProxmoxSim handle (inspector, knobs, syslog, close). index.ts is the simulator's public entry and
 * re-exports this; code inside src/sim imports it from here, so that no module the entry re-exports imports the
 * entry back.
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
import { OpenIdService } from "./openid.js";
import { OpenIdHttp } from "./openid-fetch.js";
import { realmHandlers } from "./handlers-realms.js";
import { userHandlers } from "./handlers-users.js";
import { mulberry32 } from "../rng.js";
import { createRequestHandler, type LogEntry, type ServerConfig } from "./server.js";
import { ROOT, SimState } from "./state.js";
import type { FaultOptions, ProxmoxFixture, ProxmoxSim, ProxmoxSimOptions, SyslogEntry } from "./types.js";
import { DEFAULT_PVE_VERSION, formatVersion, parsePveVersion } from "./versions.js";

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

/**
 * A fresh install (pam, pve, root@pam, built-in roles) of `version`, plus the fixture, plus the admin
 * token root@pam!homelab (privsep=0) with `adminSecret` when given.
 */
function freshState(rootPassword: string, version: string, fixture: ProxmoxFixture | undefined, adminSecret?: string): SimState {
  const state = new SimState(rootPassword, version);
  if (fixture) applyFixture(state, fixture);
  const root = state.users.get(ROOT)!;
  let admin = root.tokens.get("homelab");
  if (!admin) admin = state.newToken(ROOT, "homelab", 0, undefined, undefined, adminSecret);
  else if (adminSecret !== undefined) admin.secret = adminSecret;
  admin.privsep = 0;
  state.userCfgChanged();
  state.reread();
  return state;
}

export async function startProxmoxSim(opts: ProxmoxSimOptions = {}): Promise<ProxmoxSim> {
  const host = opts.host ?? "127.0.0.1";
  const seed = opts.seed ?? 1;
  const rootPassword = opts.rootPassword ?? DEFAULT_ROOT_PASSWORD;
  const state = freshState(rootPassword, opts.version ?? DEFAULT_PVE_VERSION, opts.fixture);
  const adminToken = { id: ADMIN_TOKEN_ID, secret: state.users.get(ROOT)!.tokens.get("homelab")!.secret };

  let faults: FaultOptions | undefined = opts.faults;
  const log: LogEntry[] = [];
  const syslog: SyslogEntry[] = [];
  let blockedHosts = [...(opts.openidBlockedHosts ?? [])];
  const debug = opts.debug ?? false;
  const openid = new OpenIdService({
    http: new OpenIdHttp({
      trustedCAs: opts.openidTrustedCAs ?? [],
      blockedHosts: () => blockedHosts,
      timeoutMs: opts.openidTimeoutMs ?? 10_000,
    }),
    syslog: (level, message) => {
      const entry = { time: Date.now(), level, message };
      syslog.push(entry);
      if (debug) process.stderr.write(`[pve-sim ${level}] ${message.replace(/\n$/, "")}\n`);
    },
    now: () => Date.now(),
  });
  const tls = generateSelfSignedCert({ commonName: "homelab-sim" });
  const cfg: ServerConfig = {
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
    failRules: [],
    cfsWriteDelayMs: opts.cfsWriteDelayMs ?? 0,
    openid,
  };
  const handler = createRequestHandler(cfg);
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
    state: () => structuredClone(snapshot(cfg.state)),
    createToken: (userid, tokenid, o) => {
      const st = cfg.state;
      if (!st.users.has(userid)) throw new Error(`no such user '${userid}'`);
      if (st.users.get(userid)!.tokens.has(tokenid)) throw new Error(`token '${userid}!${tokenid}' already exists`);
      const t = st.newToken(userid, tokenid, o?.privsep === 0 ? 0 : 1, undefined, undefined, randomUUID());
      st.userCfgChanged();
      st.reread();
      return { id: `${userid}!${tokenid}`, secret: t.secret };
    },
    failNext: (rule) => {
      const times = rule.times ?? 1;
      const status = rule.status ?? 500;
      if (!Number.isInteger(times) || times < 1) throw new Error(`failNext: times must be a whole number >= 1, not ${times}`);
      if (!Number.isInteger(status) || status < 100 || status > 599) throw new Error(`failNext: invalid status ${status}`);
      const path = rule.path.replace(/^\/api2\/json(?=\/)/, "");
      cfg.failRules.push({
        method: rule.method.toUpperCase(),
        path: path.length > 1 ? path.replace(/\/+$/, "") : path,
        times,
        status,
        message: rule.message ?? "simulated failure (failNext)",
      });
    },
    reset: (fixture, o) => {
      const version = o?.version ?? formatVersion(cfg.state.version);
      // Built first: an invalid fixture or version throws before anything is replaced.
      const next = freshState(rootPassword, version, fixture, adminToken.secret);
      cfg.state = next;
      cfg.failRules.length = 0;
      cfg.shuffleRng = mulberry32(seed);
      cfg.faultRng = mulberry32(seed ^ 0x5bd1e995);
      log.length = 0;
      syslog.length = 0;
      openid.reset();
    },
    setVersion: (v) => {
      cfg.state.version = parsePveVersion(v);
    },
    get version() {
      return formatVersion(cfg.state.version);
    },
    syslog,
    clearSyslog: () => {
      syslog.length = 0;
    },
    setOpenIdBlockedHosts: (hosts) => {
      blockedHosts = [...hosts];
    },
    openIdPending: (realm) => openid.pending(realm),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
