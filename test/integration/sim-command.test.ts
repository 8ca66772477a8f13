import { spawn } from "node:child_process";
import { request } from "node:https";
import { describe, expect, it } from "vitest";
import { Secret } from "../../src/core/secret.js";
import { createProxmoxClient } from "../../src/providers/proxmox/client.js";
import { bin, simInfo } from "../helpers/cli.js";

describe("homelab sim", () => {
  it("serves both simulators until stopped and prints how to reach them", async () => {
    const child = spawn(process.execPath, [bin, "sim"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
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

      // The sign-in users are in the directory, and the Proxmox simulator's page at / starts a sign-in in a browser.
      const { access_token } = (await res.json()) as { access_token: string };
      const users = (await (await fetch(`${info.entra.graphUrl}/v1.0/users?$select=userPrincipalName,accountEnabled`, { headers: { authorization: `Bearer ${access_token}` } })).json()) as { value: { userPrincipalName: string; accountEnabled: boolean }[] };
      expect(users.value.map((u) => u.userPrincipalName).sort()).toEqual(
        ["admin@homelabsim.onmicrosoft.com", "disabled.user@homelabsim.onmicrosoft.com", "jane_example.com#EXT#@homelabsim.onmicrosoft.com", "many.groups@homelabsim.onmicrosoft.com"],
      );
      const page = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        request(`${info.proxmox.url}/`, { rejectUnauthorized: false }, (r) => {
          let text = "";
          r.on("data", (c: Buffer) => (text += c.toString()));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, text }));
        })
          .on("error", reject)
          .end();
      });
      expect(page.status).toBe(200);
      expect(page.text).toContain("/access/openid/auth-url");
      for (let i = 0; i < 50 && !stderr.includes("homelab-sim-password"); i++) await new Promise((r) => setTimeout(r, 100));
      expect(stderr).toContain(`sign in in a browser: once a homelab apply has created an OpenID realm here, open ${info.proxmox.url}/ (accept its self-signed certificate)`);
      expect(stderr).toMatch(/^  and sign in with the password homelab-sim-password as admin@homelabsim\.onmicrosoft\.com, jane@example\.com \(a guest\), disabled\.user@homelabsim\.onmicrosoft\.com \(disabled: refused\), /m);
    } finally {
      const code = await new Promise<number | null>((resolve) => {
        child.on("close", resolve);
        child.kill("SIGTERM");
      });
      expect(code).toBe(0);
    }
  });
});
