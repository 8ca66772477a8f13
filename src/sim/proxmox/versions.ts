/**
 * Which Proxmox VE release the simulator plays, and what that release does not have yet.
 *
 * One table (VERSION_GATES) maps each gated behaviour to the first PVE release that has it, with the
 * access-control package version it came in (spec section 9; `git log -S` on
 * proxmox/pve-access-control: 7dd6072 prefix-lists/route-maps, 63f71d6 fabrics, 7f0a641 audiences,
 * ea5d51c token regenerate). Everything else is 9.2 behaviour for every version; releases before 8.0
 * are refused (their error bodies and privilege sets differ too much to play them honestly).
 */
import { createHash } from "node:crypto";

export const DEFAULT_PVE_VERSION = "9.2.1";
export const MIN_PVE_VERSION = "8.0";

/** [major, minor, patch] */
export type PveVersion = readonly [number, number, number];

export type Gate =
  /** a request parameter of one API method: unknown to the schema before `since` (400 not defined in schema) */
  | { kind: "param"; method: string; template: string; param: string }
  /** an ACL path pattern that check_path only accepts from `since` on (400 invalid ACL path on add) */
  | { kind: "acl-path"; pattern: RegExp };

export interface VersionGate {
  /** first PVE release with the behaviour, "X.Y" */
  since: string;
  /** the pve-access-control version that introduced it */
  accessControl: string;
  what: string;
  gates: Gate[];
}

const REALM_WRITES = [
  ["POST", "/access/domains"],
  ["PUT", "/access/domains/{realm}"],
] as const;

function realmParams(...params: string[]): Gate[] {
  return params.flatMap((param) => REALM_WRITES.map(([method, template]) => ({ kind: "param" as const, method, template, param })));
}

const TOKEN_PUT = { kind: "param" as const, method: "PUT", template: "/access/users/{userid}/token/{tokenid}" };

/** PVE release → behaviour (spec 9 and 4.2). Adding a row here is all a new gate needs. */
export const VERSION_GATES: readonly VersionGate[] = [
  {
    since: "8.4",
    accessControl: "8.2.1",
    what: "OpenID group mapping and userinfo options",
    gates: realmParams("groups-claim", "groups-autocreate", "groups-overwrite", "query-userinfo"),
  },
  {
    since: "9.0",
    accessControl: "9.0.1",
    what: "ACL paths /sdn/fabrics[/<id>]",
    gates: [{ kind: "acl-path", pattern: /^\/sdn\/fabrics(?:\/|$)/ }],
  },
  {
    since: "9.1",
    accessControl: "9.0.4",
    what: "token update `delete`",
    gates: [{ ...TOKEN_PUT, param: "delete" }],
  },
  {
    since: "9.2",
    accessControl: "9.1.0",
    what: "token update `regenerate`; ACL paths /sdn/prefix-lists[/<id>] and /sdn/route-maps[/<id>]",
    gates: [
      { ...TOKEN_PUT, param: "regenerate" },
      { kind: "acl-path", pattern: /^\/sdn\/(?:prefix-lists|route-maps)(?:\/|$)/ },
    ],
  },
  {
    since: "9.2",
    accessControl: "9.1.1",
    what: "OpenID `audiences`",
    gates: realmParams("audiences"),
  },
];

/** Parse "9.1.1" or "9.1" (patch 0). Throws a plain Error on anything else or a release before 8.0. */
export function parsePveVersion(text: string): PveVersion {
  const m = /^(\d{1,3})\.(\d{1,3})(?:\.(\d{1,4}))?$/.exec(text.trim());
  if (!m) throw new Error(`invalid Proxmox VE version '${text}' (expected a release such as 9.1.1)`);
  const v: PveVersion = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (compareVersions(v, minVersion()) < 0) {
    throw new Error(`Proxmox VE ${text} is not supported by the simulator (${MIN_PVE_VERSION} or later)`);
  }
  return v;
}

function minVersion(): PveVersion {
  const [a, b] = MIN_PVE_VERSION.split(".").map(Number);
  return [a!, b!, 0];
}

export function compareVersions(a: PveVersion, b: PveVersion): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

function sinceOf(gate: VersionGate): PveVersion {
  const [a, b] = gate.since.split(".").map(Number);
  return [a!, b!, 0];
}

/** The gates a release does not pass yet. */
export function missingGates(v: PveVersion): Gate[] {
  return VERSION_GATES.filter((g) => compareVersions(v, sinceOf(g)) < 0).flatMap((g) => g.gates);
}

/** Request parameters this release's schema does not have, for one method ("PUT /access/acl" style key). */
export function hiddenParams(v: PveVersion, method: string, template: string): Set<string> {
  const out = new Set<string>();
  for (const g of missingGates(v)) if (g.kind === "param" && g.method === method && g.template === template) out.add(g.param);
  return out;
}

/** Does check_path of this release accept the (normalized) path? Only the gated paths are checked here. */
export function aclPathInRelease(v: PveVersion, path: string): boolean {
  return !missingGates(v).some((g) => g.kind === "acl-path" && g.pattern.test(path));
}

export function formatVersion(v: PveVersion): string {
  return `${v[0]}.${v[1]}.${v[2]}`;
}

/**
 * GET /version's answer (pve-manager API2/Version.pm): `version` is the pve-manager version, `release`
 * its major.minor, `repoid` the short commit id of the build (here: derived from the version).
 */
export function versionInfo(v: PveVersion): { version: string; release: string; repoid: string } {
  const version = formatVersion(v);
  const repoid = createHash("sha1").update(`pve-manager ${version}`).digest("hex").slice(0, 16);
  return { version, release: `${v[0]}.${v[1]}`, repoid };
}
