/**
 * The node's outgoing HTTP client for OpenID (proxmox-openid src/http_client.rs): ureq 3 over
 * native-tls with the platform trust store, no custom CA per realm. Here: Node's https with the
 * public roots plus the simulator's extra trusted CAs (ProxmoxSimOptions.openidTrustedCAs), and a
 * list of hosts the "node" cannot reach (openidBlockedHosts), so verify can test that fault.
 *
 * Like ureq 3 (`http_status_as_error` defaults to true), any status >= 400 is a transport error
 * ("http status: 401"), and the messages follow the `{err:#}` chain perlmod prints: the caller
 * prefixes them with "Request failed: ureq request failed - ".
 */
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { rootCertificates } from "node:tls";

export interface FetchedResponse {
  status: number;
  /** lower-case header names */
  headers: Record<string, string>;
  body: Buffer;
}

/** A transport failure, worded as ureq's error Display (without the "ureq request failed - " part). */
export class TransportError extends Error {}

export interface OpenIdHttpOptions {
  /** extra PEM certificates the node trusts, on top of the public roots */
  trustedCAs: string[];
  /** hostnames ("idp.example") or host:port ("127.0.0.1:8443") the node cannot reach (connect times out) */
  blockedHosts: () => readonly string[];
  /** per request; ureq has no default timeout, a stuck IdP would hang pveproxy's worker */
  timeoutMs: number;
}

const MAX_REDIRECTS = 10; // ureq 3 default
const MAX_BODY = 10 * 1024 * 1024; // ureq 3 body limit

/** ureq's Display for the Node error codes a TLS or socket failure gives. */
function describeNodeError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ECONNREFUSED":
      return "io: Connection refused (os error 111)";
    case "ECONNRESET":
      return "io: Connection reset by peer (os error 104)";
    case "ETIMEDOUT":
      return "io: Connection timed out (os error 110)";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "EHOSTUNREACH":
      return "io: No route to host (os error 113)";
    default:
      if (err.code?.startsWith("ERR_TLS") || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET/.test(err.code ?? "")) {
        return `tls: certificate verify failed: ${err.message}`;
      }
      return `io: ${err.message}`;
  }
}

export class OpenIdHttp {
  private readonly ca: string[];

  constructor(private readonly opts: OpenIdHttpOptions) {
    this.ca = [...rootCertificates, ...opts.trustedCAs];
  }

  private blocked(url: URL): boolean {
    const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    return this.opts.blockedHosts().some((b) => {
      const x = b.toLowerCase().replace(/^\[|\]$/g, "");
      return x === host || x === `${host}:${port}` || x === `[${host}]:${port}`;
    });
  }

  /** GET, following redirects as ureq does. */
  async get(url: string, headers: Record<string, string>): Promise<FetchedResponse> {
    let current = url;
    for (let i = 0; ; i++) {
      const res = await this.send("GET", current, headers);
      const loc = res.headers.location;
      if (res.status >= 300 && res.status < 400 && loc !== undefined) {
        if (i >= MAX_REDIRECTS) throw new TransportError("too many redirects");
        current = new URL(loc, current).toString();
        continue;
      }
      return res;
    }
  }

  post(url: string, headers: Record<string, string>, body: Buffer): Promise<FetchedResponse> {
    return this.send("POST", url, { ...headers, "content-length": String(body.length) }, body);
  }

  private send(method: string, urlText: string, headers: Record<string, string>, body?: Buffer): Promise<FetchedResponse> {
    let url: URL;
    try {
      url = new URL(urlText);
    } catch {
      return Promise.reject(new TransportError(`bad uri: ${urlText}`));
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      return Promise.reject(new TransportError(`bad uri: unsupported scheme ${url.protocol.replace(/:$/, "")}`));
    }
    if (this.blocked(url)) return Promise.reject(new TransportError("io: Connection timed out (os error 110)"));
    return new Promise((resolve, reject) => {
      const common = { method, headers: { "user-agent": "ureq/3.0", ...headers }, timeout: this.opts.timeoutMs, agent: false as const };
      const onResponse = (res: import("node:http").IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) {
            res.destroy();
            reject(new TransportError("body too large"));
          } else chunks.push(c);
        });
        res.on("error", (e: NodeJS.ErrnoException) => reject(new TransportError(describeNodeError(e))));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const out: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
          if (status >= 400) reject(new TransportError(`http status: ${status}`));
          else resolve({ status, headers: out, body: Buffer.concat(chunks) });
        });
      };
      const req =
        url.protocol === "https:"
          ? request(url, { ...common, ca: this.ca, rejectUnauthorized: true }, onResponse)
          : httpRequest(url, common, onResponse);
      req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
      req.on("error", (e: NodeJS.ErrnoException) => reject(new TransportError(describeNodeError(e))));
      req.end(body);
    });
  }
}
