import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfidentialClientApplication, ServerError } from "@azure/msal-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entraAuthorityMetadata, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";
import { makeCert } from "../helpers/cert.js";


describe("entra sim: certificate client assertion (optional)", () => {
  let sim: EntraSim;
  let dir: string;
  let good: ReturnType<typeof makeCert>;
  let other: ReturnType<typeof makeCert>;
  let appId: string;
  let objectId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "entra-sim-cert-"));
    good = makeCert(dir, "good");
    other = makeCert(dir, "other");
    sim = await startEntraSim();
    const tr = await fetch(`${sim.loginUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
      method: "POST",
      body: new URLSearchParams({ client_id: sim.automation.clientId, client_secret: sim.automation.clientSecret, scope: "https://graph.microsoft.com/.default", grant_type: "client_credentials" }),
    });
    const tok = ((await tr.json()) as { access_token: string }).access_token;
    const g = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${sim.graphUrl}/v1.0${path}`, { method, headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, body: text ? (JSON.parse(text) as any) : undefined };
    };
    const bind = [`https://graph.microsoft.com/v1.0/directoryObjects/${sim.automation.servicePrincipalId}`];
    const app = (await g("POST", "/applications", { displayName: "cert app", "owners@odata.bind": bind })).body;
    appId = app.appId;
    objectId = app.id;
    const patch = await g("PATCH", `/applications/${app.id}`, {
      keyCredentials: [{ type: "AsymmetricX509Cert", usage: "Verify", key: good.der.toString("base64"), displayName: "CN=good" }],
    });
    expect(patch.status).toBe(204);
    const read = (await g("GET", `/applications/${app.id}`)).body.keyCredentials;
    expect(read).toHaveLength(1);
    expect(read[0].key).toBeNull();
    expect(read[0].customKeyIdentifier).toBe(createHash("sha1").update(good.der).digest("hex").toUpperCase());
    const selected = (await g("GET", `/applications/${app.id}?$select=keyCredentials`)).body.keyCredentials;
    expect(selected[0].key).toBe(good.der.toString("base64"));
    expect((await g("POST", "/servicePrincipals", { appId, "owners@odata.bind": bind })).status).toBe(201);
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cca = (cert: ReturnType<typeof makeCert>, sha256: boolean) =>
    new ConfidentialClientApplication({
      auth: {
        clientId: appId,
        authority: `https://login.microsoftonline.com/${sim.tenantId}`,
        authorityMetadata: entraAuthorityMetadata(sim.loginUrl, sim.tenantId),
        clientCertificate: sha256
          ? { thumbprintSha256: createHash("sha256").update(cert.der).digest("hex"), privateKey: cert.keyPem }
          : { thumbprint: createHash("sha1").update(cert.der).digest("hex"), privateKey: cert.keyPem },
      },
    });

  it.each([
    ["PS256 / x5t#S256", true],
    ["RS256 / x5t", false],
  ])("msal with a registered certificate (%s) gets a token", async (_n, sha256) => {
    const r = await cca(good, sha256).acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
    expect(r?.accessToken).toBeTruthy();
  });

  it("an unregistered certificate: ServerError invalid_client (AADSTS700027)", async () => {
    const err = await cca(other, true).acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).errorCode).toBe("invalid_client");
    expect((err as ServerError).errorMessage).toContain("700027");
    expect(objectId).toBeTruthy();
  });
});
