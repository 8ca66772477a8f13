/**
 * Which Proxmox VE release each feature homelab can send needs (access API spec section 9 and 4.2), and
 * which of them a cluster's desired state uses. Pure: the guard reads `GET /version` only when
 * `versionGatedUses` finds something, so a config that uses none costs no extra request.
 */
import type { DesiredCluster } from "../../core/desired.js";

/** `GET /version` (any authenticated user): `{version: "9.2.1", release: "9.2", repoid: "..."}`. */
export interface PveVersionInfo {
  version: string;
  release: string;
  repoid: string;
}

/** A release as [major, minor]. */
export type Release = readonly [number, number];

/** One use of a version-gated feature in the desired state. */
export interface GatedUse {
  /** Where the file asks for it: `realms.sso.audiences`, or an access entry's address. */
  field: string;
  /** What it is, for the message: `realm option audiences`, `ACL path /sdn/fabrics/f1`. */
  feature: string;
  needs: Release;
}

/** OpenID realm options newer than the first OpenID release (spec 9), with the config key that sets each. */
const REALM_OPTIONS: readonly { option: string; key: string; needs: Release }[] = [
  { option: "groups-claim", key: "groupsClaim", needs: [8, 4] },
  { option: "groups-autocreate", key: "groupsAutocreate", needs: [8, 4] },
  { option: "groups-overwrite", key: "groupsOverwrite", needs: [8, 4] },
  { option: "query-userinfo", key: "queryUserinfo", needs: [8, 4] },
  { option: "audiences", key: "audiences", needs: [9, 2] },
];

/** ACL path families accepted only from some release on (spec 4.2 `check_path`, section 9). */
const ACL_PATHS: readonly { pattern: RegExp; needs: Release }[] = [
  { pattern: /^\/sdn\/fabrics(\/|$)/, needs: [9, 0] },
  { pattern: /^\/sdn\/(prefix-lists|route-maps)(\/|$)/, needs: [9, 2] },
];

/** Every version-gated feature the desired cluster uses, in file order (realms, then access entries). */
export function versionGatedUses(c: DesiredCluster): GatedUse[] {
  const out: GatedUse[] = [];
  for (const r of c.realms) {
    for (const o of REALM_OPTIONS) {
      if (r.options[o.option] === undefined) continue;
      // groups-claim is also set by homelab itself for a realm with Entra groups (README "Groups").
      const field = `realms.${r.realm}.${o.key}`;
      out.push({ field, feature: `realm option ${o.option}`, needs: o.needs });
    }
  }
  for (const a of c.acl) {
    const gate = ACL_PATHS.find((p) => p.pattern.test(a.path));
    if (gate) out.push({ field: a.address, feature: `ACL path ${a.path}`, needs: gate.needs });
  }
  return out;
}

/**
 * The release of a `GET /version` answer: `version` (`9.2.1`, `8.4.0`) first, else `release` (`9.2`).
 * undefined when neither looks like a version.
 */
export function parseRelease(v: Partial<PveVersionInfo>): Release | undefined {
  for (const s of [v.version, v.release]) {
    const m = /^(\d+)\.(\d+)/.exec(String(s ?? "").trim());
    if (m) return [Number(m[1]), Number(m[2])];
  }
  return undefined;
}

export function releaseAtLeast(have: Release, needs: Release): boolean {
  return have[0] !== needs[0] ? have[0] > needs[0] : have[1] >= needs[1];
}

export const showRelease = (r: Release): string => `${r[0]}.${r[1]}`;
