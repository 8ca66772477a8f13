// Duplicate access mappings (config/check.ts checkReferences). The check keeps, per key (path, principal, role),
// only the index of the one mapping that has it until a second mapping has the key (issue 12: 85,000 mappings); these
// cases pin what it reports when keys repeat across clusters: a mapping is a duplicate of the first earlier mapping
// that claimed one of its clusters, a mapping stops claiming at its first duplicate, and a key on disjoint clusters
// is no duplicate. The same results as the per-cluster check it replaced gave.
import { describe, expect, it } from "vitest";
import { problemsOf } from "../helpers/config.js";

const header = `version: 1
clusters:
  a: { url: "https://a.lan:8006", token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN}" } }
  b: { url: "https://b.lan:8006", token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN}" } }
  c: { url: "https://c.lan:8006", token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN}" } }
groups:
  ops: { comment: Operators }
access:
`;
const doc = (lines: string[]) => header + lines.map((l) => `  - ${l}\n`).join("");
/** Each problem as `path: message`, with the location of the earlier entry cut to its index. */
const duplicates = (lines: string[]) =>
  problemsOf(doc(lines)).map((p) => `${p.path}: ${p.message.replace(/ at homelab\.yaml:\d+:\d+/, "")}`);

describe("duplicate access mappings across clusters", () => {
  it("are none when the same key is on disjoint clusters", () => {
    expect(duplicates([
      "{ user: jane@pve, role: PVEAuditor, path: /, clusters: [a] }",
      "{ user: jane@pve, role: PVEAuditor, path: /, clusters: [b] }",
      "{ user: jane@pve, role: PVEAuditor, path: /, clusters: [c] }",
    ])).toEqual([]);
  });

  it("name the first mapping that claimed a shared cluster, and the cluster", () => {
    expect(duplicates([
      "{ user: jane@pve, role: PVEAuditor, path: /, clusters: [a] }",
      "{ user: jane@pve, role: PVEAuditor, path: /, clusters: [b] }",
      "{ user: jane@pve, role: PVEAuditor, path: /, clusters: [c, b] }",
      "{ user: jane@pve, role: PVEAuditor, path: / }",
    ])).toEqual([
      "access[2]: duplicate mapping: jane@pve already has PVEAuditor on / on cluster b (access[1])",
      "access[3]: duplicate mapping: jane@pve already has PVEAuditor on / on cluster a (access[0])",
    ]);
  });

  it("stop a mapping's claims at its first duplicate, so a later mapping on the rest is none", () => {
    expect(duplicates([
      "{ user: jane@pve, role: PVEAuditor, path: /vms, clusters: [a] }",
      // A duplicate on a: b is not claimed by this one.
      "{ user: jane@pve, role: PVEAuditor, path: /vms, clusters: [a, b] }",
      // So this is no duplicate, and claims b ...
      "{ user: jane@pve, role: PVEAuditor, path: /vms, clusters: [b] }",
      // ... which this one then repeats.
      "{ user: jane@pve, role: PVEAuditor, path: /vms, clusters: [b] }",
    ])).toEqual([
      "access[1]: duplicate mapping: jane@pve already has PVEAuditor on /vms on cluster a (access[0])",
      "access[3]: duplicate mapping: jane@pve already has PVEAuditor on /vms on cluster b (access[2])",
    ]);
  });

  it("keep keys apart by path, principal and role, and group principals apart from users", () => {
    expect(duplicates([
      "{ user: jane@pve, role: PVEAuditor, path: /vms }",
      "{ user: jane@pve, role: PVEAuditor, path: /vms/100 }",
      "{ user: jane@pve, role: PVEVMUser, path: /vms }",
      "{ user: joe@pve, role: PVEAuditor, path: /vms }",
      "{ group: ops, role: PVEAuditor, path: /vms }",
      "{ group: ops, role: PVEAuditor, path: /vms, clusters: [c] }",
    ])).toEqual([
      "access[5]: duplicate mapping: @ops already has PVEAuditor on /vms on cluster c (access[4])",
    ]);
  });
});
