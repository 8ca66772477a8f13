import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { Secret } from "../../src/config/secret.js";
import { createProxmoxClient } from "../../src/providers/proxmox/client.js";
import { bin, simInfo } from "../helpers/cli.js";

describe("homelab sim", () => {
  it("serves both simulators until stopped and prints how to reach them", async () => {
    const child = spawn(process.execPath, [bin, "sim"], { stdio: ["ignore", "pipe", "pipe"] });
    const info = await simInfo(child);
    try {
      expect(info.proxmox.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(info.proxmox.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      // The printed token and pin work against the served Proxmox API.
      const client = createProxmoxClient({ name: "sim", url: info.proxmox.url, token: { id: info.proxmox.tokenId, secret: Secret.fromValue(info.proxmox.tokenSecret, "t") }, tls: { fingerprint: info.proxmox.fingerprint } });
      expect((await client.listRealms()).map((r) => r.realm)).toEqual(["pam", "pve"]);
      client.close();
      // And the Entra token endpoint accepts the printed automation credentials.
      const res = await fetch(`${info.entra.loginUrl}/${info.entra.tenantId}/oauth2/v2.0/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ client_id: info.entra.clientId, client_secret: info.entra.clientSecret, grant_type: "client_credentials", scope: "https://graph.microsoft.com/.default" }),
      });
      expect(res.status).toBe(200);
    } finally {
      const code = await new Promise<number | null>((resolve) => {
        child.on("close", resolve);
        child.kill("SIGTERM");
      });
      expect(code).toBe(0);
    }
  });
});
