import { ConfidentialClientApplication, PublicClientApplication, ServerError } from "@azure/msal-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entraAuthorityMetadata, entraSimInfo, GRAPH_CLI_APP_ID, startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

/** Spec 2.5 Recipe A: the real https authority, authorityMetadata pointing at the simulator over http. */
function recipeA(sim: EntraSim) {
  return {
    authority: `https://login.microsoftonline.com/${sim.tenantId}`,
    authorityMetadata: entraAuthorityMetadata(sim.loginUrl, sim.tenantId),
  };
}

describe("entra sim: msal-node 7 compatibility (2.5 Recipe A)", () => {
  let sim: EntraSim;
  beforeAll(async () => {
    sim = await startEntraSim({
      fixture: { users: [{ displayName: "Ada Admin", userPrincipalName: "ada@homelabsim.onmicrosoft.com" }] },
      devicePendingPolls: 1,
      devicePollInterval: 1,
    });
  });
  afterAll(() => sim.close());

  it("acquireTokenByClientCredential gets a token that Graph accepts; only the token POST reaches the simulator", async () => {
    const info = entraSimInfo(sim);
    const cca = new ConfidentialClientApplication({ auth: { clientId: info.clientId, clientSecret: info.clientSecret, ...recipeA(sim) } });
    sim.clearLog();
    const result = await cca.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
    expect(result?.accessToken).toBeTruthy();
    expect(result?.tokenType).toBe("Bearer");
    expect(result?.fromCache).toBe(false);
    expect(sim.requestLog).toEqual([{ api: "token", method: "POST", path: `/${sim.tenantId}/oauth2/v2.0/token`, status: 200 }]);

    const again = await cca.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
    expect(again?.fromCache).toBe(true);
    expect(sim.requestLog).toHaveLength(1);

    const r = await fetch(`${info.graphUrl}/v1.0/applications?$select=appId`, { headers: { authorization: `Bearer ${result?.accessToken}` } });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { value: Array<{ appId: string }> };
    expect(body.value.map((a) => a.appId)).toContain(info.clientId);
  });

  it("a wrong secret surfaces as ServerError invalid_client with the AADSTS code", async () => {
    const cca = new ConfidentialClientApplication({ auth: { clientId: sim.automation.clientId, clientSecret: "wrong", ...recipeA(sim) } });
    const err = await cca.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).errorCode).toBe("invalid_client");
    expect((err as ServerError).errorMessage).toContain("7000215");
  });

  it("device code flow with a public client: pending once, then tokens and an account", async () => {
    const pca = new PublicClientApplication({ auth: { clientId: GRAPH_CLI_APP_ID, ...recipeA(sim) } });
    sim.clearLog();
    let message = "";
    const result = await pca.acquireTokenByDeviceCode({
      scopes: ["https://graph.microsoft.com/Application.ReadWrite.All", "https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All"],
      deviceCodeCallback: (r) => {
        message = r.message;
      },
    });
    expect(message).toMatch(/https:\/\/microsoft\.com\/devicelogin .* code [A-Z0-9]{9} /);
    expect(result?.account?.username).toBe("ada@homelabsim.onmicrosoft.com");
    expect(result?.account?.tenantId).toBe(sim.tenantId);
    expect(result?.accessToken).toBeTruthy();
    expect(sim.requestLog.map((l) => `${l.method} ${l.path} ${l.status}`)).toEqual([
      `POST /${sim.tenantId}/oauth2/v2.0/devicecode 200`,
      `POST /${sim.tenantId}/oauth2/v2.0/token 400`,
      `POST /${sim.tenantId}/oauth2/v2.0/token 200`,
    ]);
    // The delegated token carries the requested scopes: Application.ReadWrite.All may create apps.
    const r = await fetch(`${sim.graphUrl}/v1.0/applications`, {
      method: "POST",
      headers: { authorization: `Bearer ${result?.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({ displayName: "bootstrap-made" }),
    });
    expect(r.status).toBe(201);
  });
});
