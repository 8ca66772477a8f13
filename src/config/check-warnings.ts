// Warnings about a valid configuration (split out of check.ts, issue 12).

import type { ConfigProblem } from "../core/errors.js";
import { realmOf } from "../core/pve.js";
import { nullRecord } from "../core/record.js";
import type { LoadedConfig, Segment } from "./load.js";
import { dotted } from "./schema.js";
import type { GroupConfig, RealmConfig } from "./types.js";

/**
 * Advice about a valid configuration: things Proxmox will do that work against the file. Runs only on data
 * that passed every check. Each warning is located like a problem; validate, plan and apply show them.
 */
export function checkWarnings(loaded: LoadedConfig): ConfigProblem[] {
  const d = loaded.data as { realms?: Record<string, RealmConfig>; groups?: Record<string, GroupConfig> };
  const realms = nullRecord(d.realms);
  const groups = Object.entries(nullRecord(d.groups));
  const warnings: ConfigProblem[] = [];
  for (const [realm, r] of Object.entries(realms)) {
    if (r.groupsOverwrite !== true) continue;
    // Proxmox only maps (and overwrites) groups when the realm has a groups claim (access API 4.6); homelab
    // sets `groups` itself when Entra groups are mapped into the realm (config/desired.ts).
    const claimed = r.groupsClaim !== undefined || groups.some(([, g]) => g.realm === realm && g.entraGroup !== undefined);
    if (!claimed) continue;
    const managed: { path: Segment[]; user: string; group: string }[] = [];
    for (const [name, g] of groups) {
      if (g.entraGroup !== undefined) continue;
      if (Array.isArray(g.members))
        g.members.forEach((m, i) => {
          if (realmOf(m) === realm) managed.push({ path: ["groups", name, "members", i], user: m, group: name });
        });
    }
    if (managed.length === 0) continue;
    const shown = managed.slice(0, 3).map((x) => `\`${x.user}\` from \`${x.group}\` (${dotted(x.path)})`).join(", ");
    const more = managed.length > 3 ? ` and ${managed.length - 3} more` : "";
    warnings.push({
      ...(loaded.locate(["realms", realm, "groupsOverwrite"], true) ?? {}),
      path: dotted(["realms", realm, "groupsOverwrite"]),
      message: `realm \`${realm}\` has \`groupsOverwrite: true\`, so each login removes ${shown}${more}; homelab adds ${managed.length === 1 ? "it" : "them"} back on its next run, and the memberships come and go`,
      hint: "Proxmox's groups-overwrite removes every group membership not in the login's groups claim, including groups homelab manages: drop `groupsOverwrite`, or map the group from the identity provider (`entraGroup:`, or a group named as the groups claim names it) instead of listing `members`",
    });
  }
  return warnings;
}
