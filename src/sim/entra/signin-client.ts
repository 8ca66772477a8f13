/**
 * The person at the Entra simulator's sign-in page, for tests and `homelab demo`: posts a user's credentials to an
 * authorization URL (the one a relying party built: Proxmox's `auth-url` answer, openid-client's
 * `buildAuthorizationUrl`) the way the sign-in page's form does, and reports where Entra sends the browser next.
 * Works against the simulator only (the real sign-in page is an interactive application).
 */

export interface AuthorizeUrlParts {
  /** The simulator's login URL (`EntraSim.loginUrl`). */
  loginUrl: string;
  /** Tenant id or domain. */
  tenant: string;
  clientId: string;
  redirectUri: string;
  /** Default "openid profile email". */
  scope?: string;
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: "S256" | "plain";
  responseMode?: "query" | "fragment" | "form_post";
}

export interface SignInOptions {
  /** A complete authorization URL; otherwise `parts` builds one. */
  authorizeUrl?: string;
  parts?: AuthorizeUrlParts;
  username: string;
  password: string;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
}

export type SignInResult =
  | {
      ok: true;
      /** Where Entra redirects the browser: the redirect URI with `code`, `state` and `session_state`. */
      location: string;
      code: string;
      state?: string;
    }
  | {
      ok: false;
      /** "page": Entra showed the error and the app never hears of it; "redirect": sent to the redirect URI. */
      shown: "page" | "redirect";
      status: number;
      /** The AADSTS number, when there is one. */
      aadsts?: number;
      /** OAuth `error` of a redirect. */
      error?: string;
      /** The AADSTS line, or the redirect's `error_description`. */
      message: string;
      location?: string;
    };

export function buildAuthorizeUrl(p: AuthorizeUrlParts): string {
  const u = new URL(`${p.loginUrl}/${encodeURIComponent(p.tenant)}/oauth2/v2.0/authorize`);
  u.searchParams.set("client_id", p.clientId);
  u.searchParams.set("response_type", "code");
  u.searchParams.set("redirect_uri", p.redirectUri);
  u.searchParams.set("scope", p.scope ?? "openid profile email");
  if (p.responseMode) u.searchParams.set("response_mode", p.responseMode);
  if (p.state !== undefined) u.searchParams.set("state", p.state);
  if (p.nonce !== undefined) u.searchParams.set("nonce", p.nonce);
  if (p.codeChallenge !== undefined) {
    u.searchParams.set("code_challenge", p.codeChallenge);
    u.searchParams.set("code_challenge_method", p.codeChallengeMethod ?? "S256");
  }
  return u.toString();
}

/** Signs `username` in at the authorization URL (form post, no browser) and reports the outcome. */
export async function signIn(opts: SignInOptions): Promise<SignInResult> {
  const url = opts.authorizeUrl ?? (opts.parts ? buildAuthorizeUrl(opts.parts) : undefined);
  if (!url) throw new Error("signIn: give authorizeUrl or parts");
  const doFetch = opts.fetch ?? globalThis.fetch;
  const res = await doFetch(url, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ login: opts.username, passwd: opts.password }).toString(),
  });
  const text = await res.text();
  const location = res.headers.get("location");
  if (res.status >= 300 && res.status < 400 && location) return fromParams(res.status, location, redirectParams(location));
  // response_mode=form_post: a page that posts the answer to the redirect URI.
  const form = /<form[^>]*name="hiddenform"[^>]*action="([^"]*)"/.exec(text);
  if (form?.[1]) {
    const params = new URLSearchParams();
    for (const m of text.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"\/>/g)) params.append(unescapeHtml(m[1] ?? ""), unescapeHtml(m[2] ?? ""));
    return fromParams(res.status, unescapeHtml(form[1]), params);
  }
  return { ok: false, shown: "page", status: res.status, ...pageError(text) };
}

function redirectParams(location: string): URLSearchParams {
  const u = new URL(location);
  return u.searchParams.has("code") || u.searchParams.has("error") ? u.searchParams : new URLSearchParams(u.hash.slice(1));
}

function fromParams(status: number, location: string, p: URLSearchParams): SignInResult {
  const code = p.get("code");
  const state = p.get("state") ?? undefined;
  if (code) return { ok: true, location, code, ...(state !== undefined ? { state } : {}) };
  const description = p.get("error_description") ?? "";
  const m = /^AADSTS(\d+)/.exec(description);
  return {
    ok: false,
    shown: "redirect",
    status,
    ...(m?.[1] ? { aadsts: Number(m[1]) } : {}),
    error: p.get("error") ?? "unknown",
    message: description.split(/\r?\n/)[0] ?? "",
    location,
  };
}

/** The error an Entra page shows: `$Config.iErrorCode` / `strServiceExceptionMessage`, else the first AADSTS line. */
export function pageError(html: string): { aadsts?: number; message: string } {
  const cfg = /\$Config=(\{.*?\});/s.exec(html);
  if (cfg?.[1]) {
    try {
      const c = JSON.parse(cfg[1]) as { iErrorCode?: number; strServiceExceptionMessage?: string };
      if (typeof c.iErrorCode === "number") return { aadsts: c.iErrorCode, message: c.strServiceExceptionMessage ?? `AADSTS${c.iErrorCode}` };
    } catch {
      // fall through to the page text
    }
  }
  const line = /AADSTS(\d+): [^<]*/.exec(html);
  if (line?.[1]) return { aadsts: Number(line[1]), message: unescapeHtml(line[0]) };
  return { message: "the sign-in page answered without a result (no credentials accepted, no error shown)" };
}

function unescapeHtml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}
