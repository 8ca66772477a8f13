/**
 * A minimal HTTPS client for talking to the simulator at the wire level (contract tests, demos).
 * It sends exactly what it is given: no retries, no encoding help beyond form/JSON bodies.
 */
import { Agent, request } from "node:https";

export interface RawResponse {
  status: number;
  statusMessage: string;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** parsed JSON body, or undefined when the body is empty or not JSON */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RawRequest {
  method: string;
  /** path relative to /api2/json, e.g. "/access/users", or an absolute path starting with /api2 */
  path: string;
  query?: Record<string, string | number> | string;
  /** form-encoded body (object) or a raw string sent as-is */
  form?: Record<string, string | number> | string;
  json?: unknown;
  /** raw body with an explicit content type */
  body?: { contentType?: string; data: string };
  headers?: Record<string, string>;
  /** "token" uses the given API token; "none" sends no credentials */
  auth?: { token: { id: string; secret: string } } | { ticket: string; csrf?: string } | "none";
}

function toQuery(o: Record<string, string | number>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) q.append(k, String(v));
  return q.toString();
}

export class RawClient {
  private readonly agent: Agent;
  constructor(
    readonly baseUrl: string,
    ca: string,
    private readonly defaultAuth: RawRequest["auth"] = "none",
  ) {
    this.agent = new Agent({ ca, keepAlive: true, maxSockets: 8 });
  }

  close(): void {
    this.agent.destroy();
  }

  withAuth(auth: RawRequest["auth"]): RawClient {
    const c = new RawClient(this.baseUrl, "", auth);
    (c as unknown as { agent: Agent }).agent = this.agent;
    return c;
  }

  async send(r: RawRequest): Promise<RawResponse> {
    let path = r.path.startsWith("/api2") ? r.path : `/api2/json${r.path}`;
    if (r.query !== undefined) {
      const q = typeof r.query === "string" ? r.query : toQuery(r.query);
      if (q) path += `?${q}`;
    }
    const headers: Record<string, string> = {};
    let payload: string | undefined;
    if (r.json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(r.json);
    } else if (r.form !== undefined) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      payload = typeof r.form === "string" ? r.form : toQuery(r.form);
    } else if (r.body) {
      if (r.body.contentType !== undefined) headers["Content-Type"] = r.body.contentType;
      payload = r.body.data;
    }
    if (payload !== undefined) headers["Content-Length"] = String(Buffer.byteLength(payload));
    const auth = r.auth ?? this.defaultAuth;
    if (auth && auth !== "none") {
      if ("token" in auth) headers.Authorization = `PVEAPIToken=${auth.token.id}=${auth.token.secret}`;
      else {
        headers.Cookie = `PVEAuthCookie=${encodeURIComponent(auth.ticket)}`;
        if (auth.csrf) headers.CSRFPreventionToken = auth.csrf;
      }
    }
    Object.assign(headers, r.headers ?? {});
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = request(
        { hostname: url.hostname, port: url.port, path, method: r.method, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? "", headers: res.headers, text, json });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get(path: string, query?: RawRequest["query"]): Promise<RawResponse> {
    return this.send({ method: "GET", path, ...(query !== undefined ? { query } : {}) });
  }
  post(path: string, form?: Record<string, string | number>): Promise<RawResponse> {
    return this.send({ method: "POST", path, form: form ?? {} });
  }
  put(path: string, form?: Record<string, string | number>): Promise<RawResponse> {
    return this.send({ method: "PUT", path, form: form ?? {} });
  }
  delete(path: string, query?: RawRequest["query"]): Promise<RawResponse> {
    return this.send({ method: "DELETE", path, ...(query !== undefined ? { query } : {}) });
  }
}
