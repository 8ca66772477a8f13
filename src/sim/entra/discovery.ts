import { TokenError } from "./errors.js";
import type { Json } from "./shapes.js";
import type { Directory } from "./state.js";
import { tenantMatches } from "./token-endpoint.js";

/**
 * Discovery documents (2.3, 2.8, 5.1). Like Entra's, the document at `<login URL>/{tid}/v2.0` names the issuer
 * `<login URL>/{tid}/v2.0` with the tenant GUID (5.1: for the public cloud that is
 * `https://login.microsoftonline.com/{tid}/v2.0`), so a realm whose issuer-url points at the simulator passes
 * OpenID Connect Discovery's rule that the configured issuer equal the document's (the rule Proxmox's client
 * enforces). homelab's msal never fetches this document (Recipe A, 2.5), so msal v7's issuer-host check (2.3) does
 * not apply to it.
 */

export function openIdConfiguration(dir: Directory, loginUrl: string, graphUrl: string, tenant: string): Json {
  const multi = ["common", "organizations", "consumers"].includes(tenant.toLowerCase());
  if (!multi && !tenantMatches(dir, tenant))
    throw new TokenError(
      400,
      "invalid_tenant",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    );
  // 5.1: the document always names the tenant GUID, whatever alias was used in the URL.
  const tid = multi ? "{tenantid}" : dir.tenantId;
  const base = `${loginUrl}/${multi ? tenant : tid}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${loginUrl}/${tid}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${graphUrl}/oidc/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: [
      "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud",
      "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email",
    ],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: "EU",
    cloud_instance_name: "microsoftonline.com",
    cloud_graph_host_name: "graph.windows.net",
    msgraph_host: "graph.microsoft.com",
    rbac_url: "https://pas.windows.net",
  };
}

/** `GET /common/discovery/instance` (2.3): the recorded real shape, pointing the tenant document at the simulator. */
export function instanceDiscovery(dir: Directory, loginUrl: string, authorizationEndpoint: string | null): Json {
  let tenant = dir.tenantId;
  const m = authorizationEndpoint ? /^https?:\/\/[^/]+\/([^/]+)\//.exec(authorizationEndpoint) : null;
  if (m?.[1]) tenant = m[1];
  return {
    tenant_discovery_endpoint: `${loginUrl}/${tenant}/v2.0/.well-known/openid-configuration`,
    "api-version": "1.1",
    metadata: [
      {
        preferred_network: "login.microsoftonline.com",
        preferred_cache: "login.windows.net",
        aliases: ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
      },
    ],
  };
}
