/**
 * The rows of `homelab verify` for one realm on one cluster: the realm itself, its issuer (from here and from the
 * node), client id and key, the authorization URL, the secret, the username claim and the named users. facts.ts
 * reads the cluster; the calls that leave this machine (discovery, token and authorization requests) come in
 * through ClusterCtx.
 */
import { Secret } from "../core/secret.js";
import type { DesiredCluster, DesiredRealm, DesiredTenant } from "../core/desired.js";
import { HomelabError } from "../core/errors.js";
import { redact } from "../log/redact.js";
import type { EntraApplication, PasswordCredential } from "../providers/entra/types.js";
import type { ProxmoxClient } from "../providers/proxmox/client.js";
import { proxmoxErrorInfo } from "../providers/proxmox/errors.js";
import type { PveRealm, PveUser } from "../providers/proxmox/types.js";
import { claimShape, daysUntil, errorHint, errorText, fail, namePart, pass, sameIssuer, warnCheck, type Check } from "./checks.js";
import { discoveryUrl, type DiscoveryResult, type TokenProbe } from "./discovery.js";
import type { ClusterFacts, Prove, RealmPlan, TenantFacts } from "./facts.js";
import { classifyNodeMessage, endpointOf, type AuthorizeOutcome } from "./node.js";

export interface ClusterCtx {
  discover(url: string): Promise<DiscoveryResult>;
  prove: Prove;
  /** A client-credentials request at an external issuer with a realm's client id and key. */
  probe(tokenEndpoint: string, methods: readonly string[], clientId: string, key: string): Promise<TokenProbe>;
  /** A GET of an authorization URL at the identity provider, without signing in. */
  authorize(url: string, redirectUrl: string): Promise<AuthorizeOutcome>;
  now: Date;
}

export async function clusterChecks(r: RealmPlan, want: DesiredRealm, cluster: DesiredCluster, cf: ClusterFacts, facts: TenantFacts | undefined, ctx: ClusterCtx): Promise<Check[]> {
  const realm = r.realm;
  const c = cluster.name;
  if (!cf.ok) return [fail("cluster", realm, c, `cannot read cluster ${c}: ${errorText(cf.error)}`, errorHint(cf.error, `check that ${cluster.url} is reachable from here and run again`))];
  const out: Check[] = [];
  const apps = facts?.ok ? facts.apps.get(realm) : undefined;
  const app = apps?.length === 1 ? apps[0] : undefined;
  const named = r.named.get(c) ?? [];

  // The app's side does not depend on the realm existing.
  if (r.tenant && app) {
    const uris = app.web?.redirectUris ?? [];
    if (uris.includes(cluster.url)) out.push(pass("redirect-uri", realm, c, `the app accepts ${cluster.url}`));
    else
      out.push(fail("redirect-uri", realm, c, `the app's redirect URIs (${uris.join(", ") || "none"}) do not contain ${cluster.url}`,
        "run homelab apply to restore them; Entra ID compares redirect URIs exactly (scheme, host, port, no trailing slash) and refuses the login otherwise"));
  }
  if (named.length > 0) out.push(usersCheck(realm, cluster, cf.users, named));

  const have = cf.realms.get(realm);
  if (!have) {
    out.push(fail("realm", realm, c, `realm ${realm} does not exist on ${c}`, "run homelab apply to create it"));
    return out;
  }
  if (have.type !== "openid") {
    out.push(fail("realm", realm, c, `realm ${realm} on ${c} is a ${have.type} realm, not openid`, "run homelab apply, which replaces it"));
    return out;
  }
  out.push(pass("realm", realm, c, "an OpenID realm"));

  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const storedIssuer = str(have.options["issuer-url"]);
  const wantIssuer = str(want.options["issuer-url"]);
  if (storedIssuer && wantIssuer && sameIssuer(storedIssuer, wantIssuer)) out.push(pass("issuer", realm, c, `issuer-url ${storedIssuer}`));
  else out.push(fail("issuer", realm, c, `the realm's issuer-url is ${storedIssuer ?? "(unset)"}, the config asks for ${wantIssuer ?? "(unset)"}`, "run homelab apply to set it"));

  // From here and from the node, at the same time: the node's answer is read against what homelab saw.
  const [discovered, node] = await Promise.all([storedIssuer ? ctx.discover(storedIssuer) : undefined, nodeAuthUrl(cf.api, realm, cluster.url)]);
  if (storedIssuer && discovered) out.push(discoveryCheck(realm, c, storedIssuer, wantIssuer, r.tenant, discovered));
  out.push(nodeDiscoveryCheck(realm, c, storedIssuer, wantIssuer, r.tenant, discovered, node));

  const storedClientId = str(have.options["client-id"]);
  if (r.tenant) {
    if (app) {
      if (storedClientId === app.appId) out.push(pass("client-id", realm, c, `client-id ${app.appId} is the app's`));
      else out.push(fail("client-id", realm, c, `the realm's client-id is ${storedClientId ?? "(unset)"}, the app's is ${app.appId}`, `run homelab apply to set it: it must be the client id of the app tagged homelab:realm=${realm}`));
    }
  } else {
    const wantId = str(want.options["client-id"]);
    if (storedClientId === wantId) out.push(pass("client-id", realm, c, `client-id ${storedClientId ?? "(unset)"}`));
    else out.push(fail("client-id", realm, c, `the realm's client-id is ${storedClientId ?? "(unset)"}, the config asks for ${wantId ?? "(unset)"}`, "run homelab apply to set it"));
  }

  out.push(clientKeyCheck(r, want, c, have, discovered));
  if (node.ok) out.push(authorizeCheck(r, c, cluster.url, storedClientId, await ctx.authorize(node.url, cluster.url)));
  out.push(await secretCheck(r, want, c, have, app, storedClientId, ctx, discovered));
  out.push(usernameClaimCheck(r, want, c, have, app, named));
  return out;
}

/**
 * The issuer's discovery document names exactly the realm's issuer. OpenID Connect Discovery 1.0 section 4.3
 * requires the `issuer` a relying party was configured with to equal the document's, and Proxmox's OpenID client
 * refuses every login otherwise; so a mismatch is a failure even when the document comes from a Graph-compatible
 * stand-in at a tenant's custom login URL (Entra's own document names `<login URL>/<tenant GUID>/v2.0`).
 */
function discoveryCheck(realm: string, c: string, issuer: string, wantIssuer: string | undefined, tenant: DesiredTenant | undefined, d: DiscoveryResult): Check {
  if (!d.ok) return fail("discovery", realm, c, d.detail, d.hint);
  // Exactly, a trailing "/" included: openidconnect-rs (Proxmox's OpenID client) compares the issuer strings as written.
  if (issuer !== d.issuer) return fail("discovery", realm, c, `${d.url} names the issuer ${d.issuer}, the realm has ${issuer}`, issuerMismatchHint(realm, issuer, wantIssuer, tenant, d.issuer));
  if (d.plainHttp)
    return warnCheck("discovery", realm, c, `reachable over plain http; it names the issuer ${d.issuer}`, "use https: over http anyone on the path between Proxmox and the issuer can change where logins are sent");
  return pass("discovery", realm, c, `reachable; it names the issuer ${d.issuer}`);
}

type NodeAnswer = { ok: true; url: string } | { ok: false; message: string; status?: number; transport?: boolean };

/**
 * `POST /access/openid/auth-url` on the cluster, with the cluster's URL as redirect URL (what the Proxmox GUI sends:
 * its origin, which homelab registers as the app's redirect URI). The endpoint needs no credentials (spec 4.6); the
 * cluster client sends its token anyway, which Proxmox ignores here. Each call leaves one unused login state on the
 * node, which Proxmox drops after 10 minutes.
 */
async function nodeAuthUrl(api: ProxmoxClient, realm: string, redirectUrl: string): Promise<NodeAnswer> {
  try {
    const url = await api.request<unknown>("POST", "access/openid/auth-url", { realm, "redirect-url": redirectUrl });
    if (typeof url === "string" && url !== "") return { ok: true, url };
    return { ok: false, message: "the node answered without an authorization URL" };
  } catch (err) {
    const info = proxmoxErrorInfo(err);
    const status = err instanceof HomelabError && "status" in err && typeof err.status === "number" ? err.status : undefined;
    if (info && status !== undefined) return { ok: false, message: redact(info.serverMessage), status };
    return { ok: false, message: errorText(err), transport: true };
  }
}

/**
 * The node's own discovery (POST /access/openid/auth-url): Proxmox's message as the row's detail, a hint by what it
 * says, compared with what homelab saw from here (an issuer reachable from here but not from the node points at the
 * node's network or trust store).
 */
function nodeDiscoveryCheck(realm: string, c: string, issuer: string | undefined, wantIssuer: string | undefined, tenant: DesiredTenant | undefined, here: DiscoveryResult | undefined, node: NodeAnswer): Check {
  if (node.ok) return pass("node-discovery", realm, c, `the node fetched the issuer's discovery document; sign-in starts at ${endpointOf(node.url)}`);
  if (node.transport)
    return fail("node-discovery", realm, c, `POST /access/openid/auth-url got no answer: ${node.message}`, "the node may be waiting for the issuer (Proxmox fetches its discovery document during this request): check from the node that the issuer URL answers, e.g. curl it there");
  const detail = `the node answered ${node.status ?? "an error"}: ${node.message}`;
  const doc = issuer ? discoveryUrl(issuer) : "the discovery document";
  const seenHere = here?.ok === true;
  const f = classifyNodeMessage(node.message);
  switch (f.kind) {
    case "unreachable":
      return fail("node-discovery", realm, c, detail,
        seenHere
          ? `homelab reaches the issuer from here, but the Proxmox node does not: check the node's DNS, routes, firewall and proxy settings for ${doc} (Proxmox fetches it at every login)`
          : `neither homelab nor the node reaches ${doc}: check the issuer URL and the network path to the issuer`);
    case "tls":
      return fail("node-discovery", realm, c, detail,
        "the node does not trust the issuer's TLS certificate: Proxmox uses the node's system trust store, so add the issuer's CA there on every node (copy it to /usr/local/share/ca-certificates/ and run update-ca-certificates)");
    case "issuer":
      return fail("node-discovery", realm, c, detail, issuerMismatchHint(realm, f.expected, wantIssuer, tenant, f.named));
    case "no-document":
      return fail("node-discovery", realm, c, detail, `there is no discovery document at ${doc}: check the realm's issuer URL (the issuer itself, without /.well-known/openid-configuration${tenant ? "; for Entra ID the tenant GUID form" : ""})`);
    case "bad-document":
      return fail("node-discovery", realm, c, detail, `Proxmox does not accept the document at ${doc} or the keys it names: check that the issuer URL points at an OpenID Connect provider`);
    case "realm":
      return fail("node-discovery", realm, c, detail, "run homelab apply to create the OpenID realm");
    default:
      return fail("node-discovery", realm, c, detail, "a login through this realm fails with the same error: fix what Proxmox reports");
  }
}

/**
 * The identity provider's answer to the node's authorization URL, before anyone signs in: its sign-in page passes;
 * an error page or an error sent back to the redirect URI fails, with a hint by Entra ID's error number.
 */
function authorizeCheck(r: RealmPlan, c: string, redirectUrl: string, clientId: string | undefined, a: AuthorizeOutcome): Check {
  const realm = r.realm;
  const client = clientId ?? "(unset)";
  switch (a.kind) {
    case "sign-in":
      return pass("authorize", realm, c, `the identity provider shows its sign-in page for client ${client} and redirect URI ${redirectUrl}`);
    case "unreachable":
      return fail("authorize", realm, c, `cannot request the authorization URL from here: ${a.detail}`, "the node reaches the issuer but this machine does not: a person's browser must reach it too; check DNS, firewall and proxy between browsers and the issuer");
    case "redirect-error":
      return fail("authorize", realm, c, `the identity provider sends the browser back with ${a.error}${a.description ? `: ${a.description}` : ""}`, "a login through this realm ends with this error: check the realm's client id, scopes and prompt against the client registered at the identity provider");
    case "page-error": {
      const detail = `the identity provider shows an error before sign-in${a.status !== 200 ? ` (HTTP ${a.status})` : ""}: ${a.message}`;
      return fail("authorize", realm, c, detail, authorizeHint(r, redirectUrl, client, a.aadsts));
    }
  }
}

/** What to change for an error the identity provider shows before sign-in, by Entra ID's AADSTS number. */
function authorizeHint(r: RealmPlan, redirectUrl: string, clientId: string, aadsts: string | undefined): string {
  const tenant = r.tenant !== undefined;
  switch (aadsts) {
    case "50011":
      return tenant
        ? `the app's redirect URIs do not contain ${redirectUrl} (Entra ID compares them exactly): run homelab apply to restore them`
        : `register ${redirectUrl} as a redirect URI of client ${clientId} in Entra ID (exact match: scheme, host, port, no trailing slash)`;
    case "700016":
      return tenant
        ? `no app with client id ${clientId} in the tenant: the realm's client-id is wrong or the app was deleted; run homelab apply`
        : `no app with client id ${clientId} in the tenant the issuer URL names: check realms.${r.realm}.clientId and issuerUrl`;
    case "90002":
      return "the issuer URL names a tenant Entra ID does not know: check the tenant id";
    case "900971":
    case "900144":
      return "the realm sends no client id or redirect URI: run homelab apply to set the realm's client-id";
    case undefined:
      return `check that client ${clientId} exists at the identity provider and has ${redirectUrl} as a redirect URI`;
    default:
      return `Entra ID's error AADSTS${aadsts}: see https://login.microsoftonline.com/error?code=${aadsts}`;
  }
}

/** What to change when the discovery document names another issuer than the realm's issuer-url. */
function issuerMismatchHint(realm: string, issuer: string, wantIssuer: string | undefined, tenant: DesiredTenant | undefined, named: string): string {
  if (!tenant) return `set realms.${realm}.issuerUrl to exactly ${named}: OpenID Connect requires the configured issuer to equal the document's, or Proxmox refuses every login`;
  if (!GUID_IN.test(issuer) && GUID_IN.test(named))
    return `Entra ID's discovery document always names the tenant GUID, so Proxmox refuses an issuer in domain form: run homelab apply to set the GUID form (tenants.${tenant.name}.tenantId must be the GUID)`;
  if (wantIssuer === undefined || !sameIssuer(issuer, wantIssuer)) return "run homelab apply to set the realm's issuer-url (derived from the tenant's loginUrl and tenantId)";
  // The realm has what the config derives, and the login URL's own document disagrees: apply cannot fix that.
  const suffix = `/${tenant.tenantId}/v2.0`;
  const origin = named.toLowerCase().endsWith(suffix.toLowerCase()) ? named.slice(0, -suffix.length) : undefined;
  return origin
    ? `the login URL ${tenant.loginUrl} serves a document for the issuer ${named}, and Proxmox refuses every login whose issuer differs from the realm's: set tenants.${tenant.name}.cloud.loginUrl to ${origin} (or make the service at ${tenant.loginUrl} name its own URL as issuer), then run homelab apply`
    : `the login URL ${tenant.loginUrl} serves a document for another issuer, and Proxmox refuses every login whose issuer differs from the realm's: check tenants.${tenant.name}.cloud (loginUrl and graphUrl) and tenantId`;
}

const GUID_IN = /\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\/|$)/i;

const storedKey = (have: PveRealm): string | undefined =>
  typeof have.options["client-key"] === "string" && have.options["client-key"] !== "" ? (have.options["client-key"] as string) : undefined;

/**
 * "The realm has a client key", for every OpenID realm (issue 14). Proxmox returns `client-key` on every read
 * (access API spec 3.1.3), so a read without one means the realm has none, and Proxmox then signs people in
 * without a client secret. Entra ID always wants one from a web app; an external issuer needs one unless its
 * token endpoint accepts clients without (`none` in `token_endpoint_auth_methods_supported`).
 */
function clientKeyCheck(r: RealmPlan, want: DesiredRealm, c: string, have: PveRealm, d: DiscoveryResult | undefined): Check {
  const realm = r.realm;
  if (storedKey(have) !== undefined) return pass("client-key", realm, c, "the realm has a client key");
  if (r.tenant) return fail("client-key", realm, c, "the realm has no client key, so Entra ID refuses every sign-in through it", "run homelab apply: it issues a new client secret to the realm (Entra ID never shows an existing one again)");
  if (want.clientKey instanceof Secret) return fail("client-key", realm, c, `the realm has no client key; the config gives ${want.clientKey.ref}`, "run homelab apply to set it");
  if (!d || !d.ok) return warnCheck("client-key", realm, c, "the realm has no client key, and without the issuer's discovery document homelab cannot tell whether it needs one", `if the issuer gave this client a secret, add realms.${realm}.clientKey`);
  if (d.authMethods.includes("none")) return pass("client-key", realm, c, "no client key; the issuer accepts clients without one");
  return fail("client-key", realm, c, `the realm has no client key, but the issuer's token endpoint accepts only ${d.authMethods.join(", ") || "client_secret_basic"}: every sign-in fails`, `add realms.${realm}.clientKey: \${env:NAME} with the client secret the issuer shows for client ${String(have.options["client-id"] ?? "")}`);
}

async function secretCheck(r: RealmPlan, want: DesiredRealm, c: string, have: PveRealm, app: EntraApplication | undefined, storedClientId: string | undefined, ctx: ClusterCtx, d: DiscoveryResult | undefined): Promise<Check> {
  const realm = r.realm;
  const key = storedKey(have);

  if (!r.tenant) {
    // External issuer: its secrets' lifetimes are its own business; compare with the config's value, then
    // prove it at the issuer's token endpoint where the issuer takes client secrets there.
    if (!(want.clientKey instanceof Secret)) return key === undefined ? pass("secret", realm, c, "no client key (the config sets none)") : warnCheck("secret", realm, c, "the realm holds a client key the config does not set", `add realms.${realm}.clientKey, or remove the key from the realm`);
    if (key === undefined) return fail("secret", realm, c, "nothing to prove: the realm has no client key", "run homelab apply to set it");
    if (key !== want.clientKey.reveal()) return fail("secret", realm, c, `the realm's client key differs from ${want.clientKey.ref}`, "run homelab apply to set it (or update the variable or file if the issuer's secret was renewed)");
    const same = `the realm's client key is ${want.clientKey.ref}`;
    const methods = d?.ok ? d.authMethods.filter((m) => m === "client_secret_basic" || m === "client_secret_post") : [];
    if (!d?.ok || !d.tokenEndpoint || methods.length === 0 || storedClientId === undefined)
      return warnCheck("secret", realm, c, `${same}; not proven (${!d?.ok ? "no discovery document" : !d.tokenEndpoint ? "the issuer names no token endpoint" : storedClientId === undefined ? "the realm has no client-id" : "the issuer takes no client secret at its token endpoint"})`, "sign in once through the realm to prove it");
    const probe = await ctx.probe(d.tokenEndpoint, methods, storedClientId, key);
    if (probe.outcome === "accepted") return pass("secret", realm, c, `${same}; the issuer's token endpoint accepts it`);
    if (probe.outcome === "refused") return fail("secret", realm, c, probe.detail, `the issuer no longer accepts ${want.clientKey.ref}: copy the client's current secret from the issuer into it and run homelab apply`);
    return warnCheck("secret", realm, c, `${same}; not proven: ${probe.detail}`, "sign in once through the realm to prove it (a login-only client is often not allowed the client-credentials grant)");
  }

  const name = `homelab:${realm}:${c}`;
  const creds = app?.passwordCredentials ?? [];
  const own = creds.filter((x) => x.displayName === name);
  const byHint = (k: string) => (xs: PasswordCredential[]) => xs.find((x) => x.hint !== null && x.hint !== "" && k.startsWith(x.hint));
  const cred = key !== undefined ? (byHint(key)(own) ?? byHint(key)(creds)) : [...own].sort((a, b) => (a.endDateTime < b.endDateTime ? 1 : -1))[0];
  const days = cred ? daysUntil(cred.endDateTime, ctx.now) : undefined;
  const expiry = cred ? `${cred.displayName ?? cred.keyId} ${days! < 0 ? "expired" : "expires"} on ${cred.endDateTime.slice(0, 10)}${days! < 0 ? "" : ` (in ${days} day${days === 1 ? "" : "s"})`}` : undefined;

  if (key === undefined) return fail("secret", realm, c, `nothing to prove: the realm has no client key${cred ? "" : ` and the app has no secret ${name}`}`, "run homelab apply to issue one to the realm");
  const refused = storedClientId ? await ctx.prove(r.tenant, storedClientId, key, `realms.${realm} client-key on ${c}`) : { detail: "the realm has no client-id", hint: "run homelab apply to set it" };
  if (refused) return fail("secret", realm, c, `${refused.detail}${expiry ? `; ${expiry}` : ""}`, refused.hint);
  if (!cred) return warnCheck("secret", realm, c, "accepted by Entra ID, but it is not one of homelab's secrets of the app (expiry unknown)", "run homelab apply: it gives the realm its own homelab secret, which it renews in time");
  if (days! < 0) return fail("secret", realm, c, `accepted by Entra ID, but ${expiry} by this machine's clock`, "check this machine's clock (or HOMELAB_NOW); run homelab apply to renew it");
  const renewBefore = r.app?.renewBeforeDays ?? 30;
  if (days! <= renewBefore) return warnCheck("secret", realm, c, `accepted by Entra ID; ${expiry}`, `within renewBeforeDays (${renewBefore}): the next homelab apply renews it; run it soon (a schedule such as a daily cron job keeps it renewed)`);
  return pass("secret", realm, c, `accepted by Entra ID; ${expiry}`);
}

function usernameClaimCheck(r: RealmPlan, want: DesiredRealm, c: string, have: PveRealm, app: EntraApplication | undefined, named: string[]): Check {
  const realm = r.realm;
  const wantClaim = typeof want.options["username-claim"] === "string" ? (want.options["username-claim"] as string) : undefined;
  const haveClaim = typeof have.options["username-claim"] === "string" && have.options["username-claim"] !== "" ? (have.options["username-claim"] as string) : undefined;
  const shown = (x: string | undefined) => x ?? "subject (the default)";
  const problems: string[] = [];
  const hints: string[] = [];
  if ((wantClaim ?? "subject") !== (haveClaim ?? "subject")) {
    problems.push(`the realm uses ${shown(haveClaim)}, the config asks for ${shown(wantClaim)}`);
    hints.push("run homelab apply: it replaces the realm (the username claim is fixed when a realm is created)");
  }
  if (r.app && app) {
    const emitted = new Set((app.optionalClaims?.idToken ?? []).map((x) => x.name));
    const missing = r.app.optionalIdTokenClaims.filter((x) => !emitted.has(x));
    if (missing.length > 0) {
      problems.push(`the app does not emit the optional ID-token claim${missing.length === 1 ? "" : "s"} ${missing.join(", ")}`);
      hints.push("run homelab apply to restore the app's optional claims (without them the login has no such claim and fails)");
    }
  }
  const shape = claimShape(wantClaim, r.tenant !== undefined);
  let fits = "";
  if (named.length > 0) {
    if (shape === "unknowable") {
      problems.push(`${shown(wantClaim)} is pairwise in Entra ID (random per user and app), so ${named.join(", ")} cannot be named in advance`);
      hints.push(`set realms.${realm}.usernameClaim: upn`);
    } else if (shape) {
      const bad = named.filter((u) => !shape.test(namePart(u)));
      if (bad.length > 0) {
        problems.push(`${bad.join(", ")} ${bad.length === 1 ? "does" : "do"} not have the form <${shape.looks}>@${realm} that ${wantClaim} produces`);
        hints.push(`name users as <claim value>@${realm}, e.g. jane@contoso.com@${realm}`);
      } else fits = `; ${named.length} named user${named.length === 1 ? " has" : "s have"} the form <${shape.looks}>@${realm}`;
    } else fits = `; homelab cannot tell the values of ${wantClaim}: check that ${named[0]} is what a login produces`;
  }
  if (problems.length > 0) return fail("username-claim", realm, c, problems.join("; "), hints.join("; "));
  return pass("username-claim", realm, c, `${shown(wantClaim)}${fits}`);
}

function usersCheck(realm: string, cluster: DesiredCluster, users: Map<string, PveUser>, named: string[]): Check {
  const c = cluster.name;
  const missing = named.filter((u) => !users.has(u));
  const disabled = named.filter((u) => users.get(u)?.enable === false && cluster.users.find((d) => d.userid === u)?.enable !== false);
  if (missing.length === 0 && disabled.length === 0) return pass("users", realm, c, `${named.length} user${named.length === 1 ? "" : "s"} named in access exist${named.length === 1 ? "s" : ""}`);
  const parts = [...(missing.length ? [`missing on ${c}: ${missing.join(", ")}`] : []), ...(disabled.length ? [`disabled on ${c}: ${disabled.join(", ")}`] : [])];
  return fail("users", realm, c, parts.join("; "), "run homelab apply to create or enable them (a missing user has no ACL entries, and a disabled one cannot log in)");
}
