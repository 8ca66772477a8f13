import { describe, expect, it } from "vitest";
import { classifyNodeMessage, endpointOf, entraPageError, readAuthorizeAnswer } from "../../src/verify/node.js";

const REDIRECT = "https://pve1.lan:8006";

describe("verify: reading an authorization endpoint's answer before sign-in", () => {
  it("Entra ID's error page: $Config's iErrorCode and message win over the page text", () => {
    const html = `<html><head><script>//<![CDATA[\n$Config={"iErrorCode":50011,"strServiceExceptionMessage":"AADSTS50011: The redirect URI 'x' does not match.\\r\\nTrace ID: 1","correlationId":"c"};\n//]]></script></head><body><p>AADSTS90002: other</p></body></html>`;
    expect(readAuthorizeAnswer(200, undefined, html, REDIRECT)).toEqual({ kind: "page-error", status: 200, aadsts: "50011", message: "AADSTS50011: The redirect URI 'x' does not match." });
  });

  it("iErrorCode 0 is no error; without $Config the AADSTS line of the text counts (HTML entities decoded)", () => {
    expect(readAuthorizeAnswer(200, undefined, '<script>$Config={"iErrorCode":0};</script><form></form>', REDIRECT)).toEqual({ kind: "sign-in", status: 200 });
    expect(entraPageError("<p>AADSTS700016: Application with identifier &#39;abc&#39; was not found.</p>")).toEqual({ aadsts: "700016", message: "AADSTS700016: Application with identifier 'abc' was not found." });
  });

  it("a redirect to the redirect URI with error is a refusal; a redirect elsewhere (a login page) or with a code is not", () => {
    expect(readAuthorizeAnswer(302, `${REDIRECT}/?error=invalid_request&error_description=AADSTS90014%3A+missing%0D%0ATrace+ID%3A+x&state=s`, "", REDIRECT)).toEqual({ kind: "redirect-error", error: "invalid_request", description: "AADSTS90014: missing" });
    expect(readAuthorizeAnswer(302, `${REDIRECT}#error=unauthorized_client`, "", REDIRECT)).toEqual({ kind: "redirect-error", error: "unauthorized_client", description: "" });
    expect(readAuthorizeAnswer(302, "https://idp.example/login?error=ignored", "", REDIRECT)).toEqual({ kind: "sign-in", status: 302 });
    expect(readAuthorizeAnswer(302, `${REDIRECT}/?code=abc&state=s`, "", REDIRECT)).toEqual({ kind: "sign-in", status: 302 });
    // Another path on the same origin is not the redirect URI.
    expect(readAuthorizeAnswer(302, `${REDIRECT}/other?error=x`, "", REDIRECT)).toEqual({ kind: "sign-in", status: 302 });
  });

  it("another provider's 4xx page: its visible text, without scripts and styles, clipped", () => {
    const html = `<html><head><title>Error</title><style>p{}</style><script>var x = "<p>no</p>";</script></head><body><p>Invalid parameter: redirect_uri</p></body></html>`;
    expect(readAuthorizeAnswer(400, undefined, html, REDIRECT)).toEqual({ kind: "page-error", status: 400, message: "Error Invalid parameter: redirect_uri" });
    const long = readAuthorizeAnswer(400, undefined, `<p>${"x".repeat(1000)}</p>`, REDIRECT);
    expect(long.kind === "page-error" && long.message.length).toBe(300);
    expect(readAuthorizeAnswer(404, undefined, "", REDIRECT)).toEqual({ kind: "page-error", status: 404, message: "HTTP 404" });
  });

  it("endpointOf drops the per-request query", () => {
    expect(endpointOf("https://login.example/t/oauth2/v2.0/authorize?state=s&nonce=n")).toBe("https://login.example/t/oauth2/v2.0/authorize");
  });
});

describe("verify: Proxmox's auth-url messages", () => {
  const pre = "Request failed: ureq request failed - ";
  it.each([
    [`${pre}io: Connection timed out (os error 110)`, "unreachable"],
    [`${pre}io: Connection refused (os error 111)`, "unreachable"],
    [`${pre}host not found`, "unreachable"],
    [`${pre}tls: certificate verify failed: self-signed certificate`, "tls"],
    [`${pre}http status: 404`, "no-document"],
    ["Server returned invalid response: HTTP status code 404 at https://x/.well-known/openid-configuration", "no-document"],
    ["Failed to parse server response: missing field `jwks_uri`", "bad-document"],
    ["authentication domain 'x' does not exist", "realm"],
    ["something else", "other"],
  ])("%s → %s", (message, kind) => {
    expect(classifyNodeMessage(message).kind).toBe(kind);
  });

  it("an issuer mismatch names both issuers", () => {
    expect(classifyNodeMessage("Validation error: unexpected issuer URI `https://a/` (expected `https://a`)")).toEqual({ kind: "issuer", named: "https://a/", expected: "https://a" });
  });
});
