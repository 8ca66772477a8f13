/**
 * In-process simulator of the Proxmox VE access-control API (shared/spec/proxmox-access-api.md):
 * HTTPS on 127.0.0.1 with a self-signed certificate, the /api2/json envelope, API tokens and
 * tickets, the official parameter schema, the real error shapes. For tests, benchmarks and demos.
 */
export type {
  FailRule,
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
  SyslogEntry,
} from "./types.js";
export { PRIVILEGES, BUILTIN_ROLES } from "./constants.js";
export { runProxmoxSimStandalone, type StandaloneInfo } from "./standalone.js";
export { fixtureFromConfigFiles, parseDomainsCfg, parseTokenCfg, parseUserCfg, type ConfigFiles } from "./config-files.js";
export { RawClient, type RawRequest, type RawResponse } from "./raw-client.js";
export { DEFAULT_PVE_VERSION, MIN_PVE_VERSION, VERSION_GATES, parsePveVersion } from "./versions.js";
export { ADMIN_TOKEN_ID, DEFAULT_ROOT_PASSWORD, startProxmoxSim } from "./start.js";
