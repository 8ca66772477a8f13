/**
 * An independent OpenID Provider for the Proxmox simulator's login tests: `oidc-provider` (a
 * certified OP) served over HTTPS with a throwaway certificate the simulated node is told to trust,
 * devInteractions off, a scripted sign-in (GET /interaction/<uid>/login?account=<id>), grants loaded
 * without a consent screen, and hooks to tamper with the token response (re-signed with the OP's own
 * key) for the faults a conforming OP never produces: wrong `iss`, foreign `aud`, bad nonce, expiry.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { createServer, request, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
// @ts-ignore -- oidc-provider ships no type declarations; OidcProvider below types the part used here
import ProviderModule from "oidc-provider";
import { generateSelfSignedCert } from "../../src/sim/tls.js";

/** The slice of oidc-provider's API these tests use. */
interface OidcContext {
  oidc: {
    session?: { accountId?: string };
    client?: { clientId: string };
    params?: Record<string, unknown>;
    provider: { Grant: new (o: { accountId: string; clientId: string }) => { addOIDCScope(s: string): void; save(): Promise<string> } };
  };
}
interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ prompt: { name: string } }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: unknown, o: { mergeWithLastSubmission: boolean }): Promise<void>;
  on(event: "server_error", fn: (ctx: unknown, err: unknown) => void): void;
}
const Provider = ProviderModule as unknown as new (issuer: string, config: Record<string, unknown>) => OidcProvider;

export interface Account {
  sub: string;
  [claim: string]: unknown;
}

export interface IdpOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  accounts: Account[];
  /** oidc-provider's conformIdTokenClaims: true keeps scope claims out of the ID token (userinfo only) */
  conformIdTokenClaims?: boolean;
  /** ID token lifetime in seconds (default 3600) */
  idTokenTtl?: number;
}

export interface IdpRequest {
  method: string;
  path: string;
  authorization?: string;
  body?: string;
}

export interface TestIdp {
  issuer: string;
  certPem: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** every request the OP received */
  requests: IdpRequest[];
  /** rewrite the ID token's payload (re-signed with the OP's key) in the next token responses */
  tamperIdToken?: (claims: Record<string, unknown>) => Record<string, unknown>;
  /** sign the tampered token with this key instead (a forged signature) */
  forgeKey?: KeyObject;
  /**
   * Sign in `account` at the authorization URL the node returned, like a browser: follows the OP's
   * redirects with its cookies up to the client's redirect URI; returns that URL's code and state.
   */
  signIn(authUrl: string, account: string): Promise<{ code: string; state: string; location: string }>;
  close(): Promise<void>;
}

const b64json = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString("base64url");

function resign(jwt: string, edit: (c: Record<string, unknown>) => Record<string, unknown>, key: KeyObject): string {
  const [h, p] = jwt.split(".");
  const header = JSON.parse(Buffer.from(h!, "base64url").toString()) as Record<string, unknown>;
  const claims = edit(JSON.parse(Buffer.from(p!, "base64url").toString()) as Record<string, unknown>);
  const data = `${b64json(header)}.${b64json(claims)}`;
  return `${data}.${sign("sha256", Buffer.from(data), key).toString("base64url")}`;
}

export async function startTestIdp(opts: IdpOptions): Promise<TestIdp> {
  // A distinct subject per OP: two trusted self-signed certificates with one name would shadow each other.
  const tls = generateSelfSignedCert({ commonName: `test-idp-${randomBytes(4).toString("hex")}` });
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-key", use: "sig", alg: "RS256" };
  const signingKey = createPrivateKey({ key: jwk, format: "jwk" });
  const clientId = opts.clientId ?? "pve";
  const clientSecret = opts.clientSecret ?? "client-secret-1";
  const redirectUri = opts.redirectUri ?? "https://pve.example:8006";
  const accounts = new Map(opts.accounts.map((a) => [a.sub, a]));
  const requests: IdpRequest[] = [];

  let provider!: OidcProvider;
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const idp: TestIdp = {
    issuer,
    certPem: tls.certPem,
    clientId,
    clientSecret,
    redirectUri,
    requests,
    signIn: (authUrl, account) => browserSignIn(idp, authUrl, account),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ["test-cookie-key"] },
    pkce: { required: () => true },
    conformIdTokenClaims: opts.conformIdTokenClaims ?? false,
    ttl: { IdToken: opts.idTokenTtl ?? 3600, AccessToken: 600, Interaction: 600, Grant: 600, Session: 600 },
    features: { devInteractions: { enabled: false } },
    claims: {
      openid: ["sub", "groups", "upn", "roles"],
      email: ["email", "email_verified"],
      profile: ["preferred_username", "given_name", "family_name", "name"],
    },
    findAccount: (_ctx: unknown, sub: string) => {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return { accountId: sub, claims: () => ({ ...a }) };
    },
    // No consent screen: every sign-in gets a grant for what the client asked.
    loadExistingGrant: async (ctx: OidcContext) => {
      const accountId = ctx.oidc.session!.accountId!;
      const grant = new ctx.oidc.provider.Grant({ accountId, clientId: ctx.oidc.client!.clientId });
      grant.addOIDCScope(String(ctx.oidc.params!.scope ?? "openid"));
      await grant.save();
      return grant;
    },
  });
  provider.on("server_error", (_ctx, err) => process.stderr.write(`oidc-provider server_error: ${String(err)}\n`));
  const callback = provider.callback();

  server.on("request", (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    const chunks: Buffer[] = [];
    const entry: IdpRequest = { method: req.method ?? "", path: url.pathname };
    if (req.headers.authorization) entry.authorization = req.headers.authorization;
    requests.push(entry);
    const m = /^\/interaction\/([^/]+)\/login$/.exec(url.pathname);
    if (m) {
      void (async () => {
        try {
          const details = await provider.interactionDetails(req, res);
          if (details.prompt.name !== "login") throw new Error(`unexpected prompt ${details.prompt.name}`);
          await provider.interactionFinished(req, res, { login: { accountId: url.searchParams.get("account")! } }, { mergeWithLastSubmission: false });
        } catch (e) {
          res.statusCode = 500;
          res.end(String(e));
        }
      })();
      return;
    }
    if (url.pathname === "/token" && (idp.tamperIdToken || idp.forgeKey)) {
      // Koa answers with setHeader(Content-Length) and one res.end(body): rewrite that body.
      const setHeader = res.setHeader.bind(res);
      const end = res.end.bind(res) as (chunk?: unknown) => typeof res;
      res.setHeader = ((k: string, v: unknown) => (k.toLowerCase() === "content-length" ? res : setHeader(k, v as string))) as typeof res.setHeader;
      res.end = ((chunk?: unknown) => {
        if (chunk === undefined || res.statusCode !== 200) return end(chunk);
        const body = JSON.parse(String(chunk)) as Record<string, unknown>;
        if (typeof body.id_token === "string") {
          body.id_token = resign(body.id_token, idp.tamperIdToken ?? ((c) => c), idp.forgeKey ?? signingKey);
        }
        return end(JSON.stringify(body));
      }) as typeof res.end;
    }
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (chunks.length > 0) entry.body = Buffer.concat(chunks).toString();
    });
    void callback(req, res);
  });
  return idp;
}

/** One GET with the jar's cookies; stores Set-Cookie; returns status and Location. */
function get(idp: TestIdp, url: string, jar: Map<string, string>): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const req = request(url, { ca: idp.certPem, headers: cookie ? { cookie } : {}, agent: false }, (res) => {
      for (const c of res.headers["set-cookie"] ?? []) {
        const [pair] = c.split(";");
        const eq = pair!.indexOf("=");
        const name = pair!.slice(0, eq);
        const value = pair!.slice(eq + 1);
        if (value === "" || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(name);
        else jar.set(name, value);
      }
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function browserSignIn(idp: TestIdp, authUrl: string, account: string): Promise<{ code: string; state: string; location: string }> {
  const jar = new Map<string, string>();
  let url = authUrl;
  let loggedIn = false;
  for (let i = 0; i < 10; i++) {
    if (url.startsWith(idp.redirectUri)) {
      const u = new URL(url);
      const code = u.searchParams.get("code");
      const state = u.searchParams.get("state");
      if (!code || !state) throw new Error(`no code at the redirect URI: ${url}`);
      return { code, state, location: url };
    }
    const r = await get(idp, url, jar);
    if (!r.location) throw new Error(`sign-in stopped at ${url}: ${r.status} ${r.body.slice(0, 300)}`);
    let next = new URL(r.location, url).toString();
    const m = /\/interaction\/([^/?]+)$/.exec(new URL(next).pathname);
    if (m && !loggedIn) {
      loggedIn = true;
      next = `${idp.issuer}/interaction/${m[1]}/login?account=${encodeURIComponent(account)}`;
    }
    url = next;
  }
  throw new Error("too many redirects during sign-in");
}
