import { describe, expect, it } from "vitest";
import { buildDesired } from "../../src/config/desired.js";
import { validateText } from "../../src/config/resolve.js";
import type { Change } from "../../src/core/plan.js";
import { createResolver } from "../../src/engine/resolver.js";
import { realmProvider } from "../../src/providers/proxmox/realm.js";
import type { ClusterTarget, PveApi } from "../../src/providers/proxmox/target.js";
import type { PveRealm } from "../../src/providers/proxmox/types.js";

/**
 * How realm writes use the domains.cfg digest (issue 8 failure 1; access API spec 1.6): one at a time per
 * cluster; the first carries the digest the plan read, later ones re-read their realm, refuse to overwrite
 * a field someone else changed since the plan, and send the fresh digest. A recording fake of the API
 * stands in for Proxmox here; the simulator-backed test is test/integration/proxmox-rules.test.ts.
 */
process.env.PVE_TOKEN = "unused";

const text = `version: 1
clusters:
  pve:
    url: https://pve.lan:8006
    token: { id: "homelab@pve!converge", secret: "\${env:PVE_TOKEN}" }
realms:
  pam: { comment: PAM }
  pve: { comment: PVE }
`;

interface Call {
  op: string;
  realm: string;
  digest?: string;
}

function fakeCluster(stored: Record<string, string>) {
  const calls: Call[] = [];
  let digest = 1;
  const api = {
    getRealm: async (realm: string): Promise<PveRealm> => {
      calls.push({ op: "get", realm });
      return { realm, type: realm, digest: `d${digest}`, options: { comment: stored[realm]! } };
    },
    updateRealm: async (realm: string, params: Record<string, unknown>, opts: { digest?: string } = {}) => {
      calls.push({ op: "put", realm, ...(opts.digest !== undefined ? { digest: opts.digest } : {}) });
      await new Promise((r) => setTimeout(r, 5));
      if (opts.digest !== undefined && opts.digest !== `d${digest}`) throw new Error("detected modified configuration");
      stored[realm] = String(params.comment);
      digest++;
    },
  } as unknown as PveApi;
  const c = buildDesired(validateText(text).config).clusters[0]!;
  const target: ClusterTarget = { desired: c, api, resolver: createResolver(), runAs: { tokenId: "homelab@pve!converge", userid: "homelab@pve" } };
  return { target, calls };
}

const update = (realm: string, before: string, after: string): Change => ({
  address: `proxmox.realm/pve:${realm}`, kind: "proxmox.realm", target: "pve", action: "update", dependsOn: [],
  fields: [{ path: "comment", before, after }], data: { digest: "d1" },
});

describe("realm writes and the domains.cfg digest", () => {
  it("started together, they go one at a time: the first with the plan's digest, the next with a fresh one", async () => {
    const { target, calls } = fakeCluster({ pam: "old pam", pve: "old pve" });
    await Promise.all([realmProvider.apply([update("pam", "old pam", "PAM")], target), realmProvider.apply([update("pve", "old pve", "PVE")], target)]);
    expect(calls).toEqual([
      { op: "put", realm: "pam", digest: "d1" },
      { op: "get", realm: "pve" },
      { op: "put", realm: "pve", digest: "d2" },
    ]);
  });

  it("a field changed by someone else since the plan is not overwritten", async () => {
    const { target, calls } = fakeCluster({ pam: "old pam", pve: "edited meanwhile" });
    await realmProvider.apply([update("pam", "old pam", "PAM")], target);
    await expect(realmProvider.apply([update("pve", "old pve", "PVE")], target)).rejects.toThrow(/`comment` was changed on the cluster after the plan was made \(the plan saw "old pve", the cluster now has "edited meanwhile"\)/);
    expect(calls.filter((c) => c.op === "put").map((c) => c.realm)).toEqual(["pam"]);
  });

  it("a field an earlier write of the run already set (default=1 clears it elsewhere) is not sent again", async () => {
    const { target, calls } = fakeCluster({ pam: "old pam", pve: "PVE" });
    await realmProvider.apply([update("pam", "old pam", "PAM")], target);
    await realmProvider.apply([update("pve", "old pve", "PVE")], target);
    expect(calls).toEqual([{ op: "put", realm: "pam", digest: "d1" }, { op: "get", realm: "pve" }]);
  });

  it("a failed write does not block the queue", async () => {
    const { target } = fakeCluster({ pam: "old pam", pve: "old pve" });
    const stale = { ...update("pam", "old pam", "PAM"), data: { digest: "d0" } };
    const results = await Promise.allSettled([realmProvider.apply([stale], target), realmProvider.apply([update("pve", "old pve", "PVE")], target)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled"]);
  });
});
