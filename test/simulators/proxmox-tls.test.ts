import { describe, it, expect } from "vitest";
import { X509Certificate, createHash } from "node:crypto";
import { createServer, request } from "node:https";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { AddressInfo } from "node:net";
import { generateSelfSignedCert } from "../../src/sim/tls.js";
import got from "got";
import { startProxmoxSim } from "../../src/sim/proxmox/index.js";

describe("self-signed certificate (src/sim/tls.ts)", () => {
  it("parses with X509Certificate, carries CN and SANs, fingerprint matches", () => {
    const c = generateSelfSignedCert();
    const x = new X509Certificate(c.certPem);
    expect(x.subject).toBe("CN=homelab-sim");
    expect(x.issuer).toBe("CN=homelab-sim");
    expect(x.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
    expect(x.fingerprint256).toBe(c.fingerprint256);
    expect(c.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(new Date(x.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(x.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 86_400_000);
    // the fingerprint is the SHA-256 of the DER
    expect(createHash("sha256").update(x.raw).digest("hex").toUpperCase()).toBe(c.fingerprint256.replace(/:/g, ""));
    // two calls give two different keys and serials
    const d = generateSelfSignedCert();
    expect(d.fingerprint256).not.toBe(c.fingerprint256);
    expect(new X509Certificate(d.certPem).serialNumber).not.toBe(x.serialNumber);
    expect(c.keyPem).toContain("BEGIN PRIVATE KEY");
  });

  it("serves HTTPS that verifies against the cert as CA, and pins by fingerprint", async () => {
    const c = generateSelfSignedCert();
    const server = createServer({ cert: c.certPem, key: c.keyPem }, (_req, res) => res.end("hello"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const get = (opts: Record<string, unknown>): Promise<string> =>
        new Promise((resolve, reject) => {
          const req = request({ host: "127.0.0.1", port, path: "/", agent: false, ...opts }, (res) => {
            let body = "";
            res.on("data", (d) => (body += String(d)));
            res.on("end", () => resolve(body));
          });
          req.on("error", reject);
          req.end();
        });
      // 1. CA verification (hostname check against IP SAN included)
      expect(await get({ ca: c.certPem })).toBe("hello");
      // 2. pinning: verify the leaf fingerprint in checkServerIdentity
      let seen = "";
      const pinned = await get({
        ca: c.certPem,
        checkServerIdentity: (host: string, cert: PeerCertificate) => {
          seen = cert.fingerprint256;
          if (cert.fingerprint256 !== c.fingerprint256) return new Error("fingerprint mismatch");
          return checkServerIdentity(host, cert);
        },
      });
      expect(pinned).toBe("hello");
      expect(seen).toBe(c.fingerprint256);
      // 3. without the CA, verification fails
      await expect(get({})).rejects.toThrow(/self[- ]signed|unable to verify/i);
      // 4. a wrong pin is refused
      await expect(
        get({ ca: c.certPem, checkServerIdentity: () => new Error("pin mismatch") }),
      ).rejects.toThrow("pin mismatch");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("got v14 reaches the simulator with certificateAuthority, or with a fingerprint pin", async () => {
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    try {
      const headers = { Authorization: `PVEAPIToken=${sim.adminToken.id}=${sim.adminToken.secret}` };
      const viaCa = await got(`${sim.url}/api2/json/access/domains`, { https: { certificateAuthority: sim.certPem } }).json<{ data: unknown[] }>();
      expect(viaCa.data).toHaveLength(2);
      const pinned = await got(`${sim.url}/api2/json/access/users`, {
        headers,
        https: {
          certificateAuthority: sim.certPem,
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            cert.fingerprint256 === sim.fingerprint ? undefined : new Error("pin mismatch"),
        },
      }).json<{ data: Array<{ userid: string }> }>();
      expect(pinned.data.map((u) => u.userid)).toEqual(["root@pam"]);
      const err = await got(`${sim.url}/api2/json/access/groups/nope`, { headers, https: { certificateAuthority: sim.certPem }, throwHttpErrors: false, retry: { limit: 0 } });
      expect(err.statusCode).toBe(500);
      expect(err.statusMessage).toBe("group 'nope' does not exist");
      await expect(got(`${sim.url}/api2/json/access/domains`, { retry: { limit: 0 } })).rejects.toThrow(/self[- ]signed|unable to verify/i);
    } finally {
      await sim.close();
    }
  });

  it("the simulator publishes the certificate and its fingerprint", async () => {
    const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
    try {
      expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(new X509Certificate(sim.certPem).fingerprint256).toBe(sim.fingerprint);
    } finally {
      await sim.close();
    }
  });
});
