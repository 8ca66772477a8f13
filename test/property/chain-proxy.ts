/**
 * A fault-injecting HTTP proxy in front of the Entra simulator, for the chain soak (issue 9, "The fault soak").
 *
 * Why a proxy and not the simulator's knobs: the knobs (src/sim/entra/knobs.ts) give 5xx and 429 on Graph only,
 * while the soak also needs faults on the token endpoint, connection resets, slow answers, and the nastiest
 * case of all, a write that LANDED but whose answer was lost (a reset or a 5xx after the simulator answered).
 * The simulator's replication-lag knobs are still used as they are (they live inside the directory).
 *
 * The proxy forwards every request to the simulator and rewrites the simulator's origin to its own in answers
 * (nextLink, discovery document), so homelab only ever talks to the proxy. Each request draws from a seeded
 * PRNG; under concurrency the order of requests (and so which one a fault hits) is not fully determined by
 * the seed.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mulberry32 } from "../../src/sim/rng.js";

/**
 * What a faulted request gets. Before forwarding (the request never reaches the simulator): `503`, `500`,
 * `502`, `504`, `429` (with Retry-After), `reset`. After forwarding (the simulator did it, homelab never hears):
 * `lost-reset`, `lost-503`. `slow` forwards after `slowMs`.
 */
export type ProxyFault = "503" | "500" | "502" | "504" | "429" | "reset" | "lost-reset" | "lost-503" | "slow";

export interface ProxyFaults {
  /** share of requests faulted, 0..1 */
  rate: number;
  kinds: ProxyFault[];
  /** also fault token requests (not only Graph) */
  token: boolean;
  /** Retry-After of a 429, seconds */
  retryAfter: number;
  slowMs: number;
}

export interface ProxyEvent {
  api: "token" | "graph";
  method: string;
  path: string;
  /** the simulator's status, or 0 when the request was faulted before reaching it */
  status: number;
  fault?: ProxyFault;
  /** the simulator answered, but the answer was dropped because homelab was killed right then */
  dropped?: boolean;
}

export interface FaultProxy {
  url: string;
  /** what the proxy did, in order (no bodies, no headers: never a secret) */
  events: ProxyEvent[];
  setFaults(f: ProxyFaults | undefined): void;
  /**
   * Called after the simulator answered a request and before the answer is relayed. Returning "drop" closes
   * the connection instead (used to kill homelab between a landed write and its answer).
   */
  onAnswered?: (e: ProxyEvent) => "drop" | void;
  close(): Promise<void>;
}

const apiOf = (path: string): "token" | "graph" => (path.startsWith("/v1.0/") || path === "/v1.0" ? "graph" : "token");

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** The error body each API would send: Graph's OData envelope, or the identity platform's OAuth error. */
function errorAnswer(res: ServerResponse, api: "token" | "graph", status: number, retryAfter?: number): void {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  const body =
    api === "graph"
      ? { error: { code: status === 429 ? "TooManyRequests" : status === 503 ? "serviceNotAvailable" : status === 504 ? "UnknownError" : "generalException", message: `fault injected by the soak proxy (${status})` } }
      : { error: status === 429 ? "temporarily_unavailable" : "server_error", error_description: `AADSTS90033: fault injected by the soak proxy (${status}).`, error_codes: [90033] };
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

export async function startFaultProxy(upstream: string, seed: number): Promise<FaultProxy> {
  const rand = mulberry32(seed);
  let faults: ProxyFaults | undefined;
  const up = new URL(upstream);
  const sockets = new Set<import("node:net").Socket>();
  let self = "";

  const pick = (api: "token" | "graph"): ProxyFault | undefined => {
    const hit = rand();
    const which = rand();
    if (!faults || faults.kinds.length === 0 || (api === "token" && !faults.token)) return undefined;
    return hit < faults.rate ? faults.kinds[Math.floor(which * faults.kinds.length)] : undefined;
  };

  const proxy: FaultProxy = {
    url: "",
    events: [],
    setFaults: (f) => {
      faults = f;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: up.host };
      delete headers["content-length"];
      const r = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...headers, "content-length": String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && k !== "content-length" && k !== "connection" && k !== "keep-alive" && k !== "transfer-encoding") h[k] = Array.isArray(v) ? v.join(", ") : v;
          // homelab must only ever see the proxy's origin (paging links, discovery document, issuer).
          const text = Buffer.concat(chunks).toString("utf8").split(upstream).join(self);
          resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.from(text, "utf8") });
        });
        res.on("error", reject);
      });
      r.on("error", reject);
      r.end(body);
    });

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? "/").replace(/\?.*$/, "");
      const method = (req.method ?? "GET").toUpperCase();
      const api = apiOf(path);
      const body = await readBody(req);
      const fault = pick(api);
      const event: ProxyEvent = { api, method, path, status: 0, ...(fault ? { fault } : {}) };
      proxy.events.push(event);
      switch (fault) {
        case "reset":
          req.socket.destroy();
          return;
        case "503":
        case "500":
        case "502":
        case "504":
          errorAnswer(res, api, Number(fault));
          return;
        case "429":
          errorAnswer(res, api, 429, faults?.retryAfter ?? 1);
          return;
        case "slow":
          await new Promise((r) => setTimeout(r, faults?.slowMs ?? 1000));
          break;
        default:
          break;
      }
      let answer: Awaited<ReturnType<typeof forward>>;
      try {
        answer = await forward(req, body);
      } catch {
        req.socket.destroy();
        return;
      }
      event.status = answer.status;
      if (proxy.onAnswered?.(event) === "drop") event.dropped = true;
      if (event.dropped || fault === "lost-reset") {
        req.socket.destroy();
        return;
      }
      if (fault === "lost-503") {
        errorAnswer(res, api, 503);
        return;
      }
      res.writeHead(answer.status, { ...answer.headers, "content-length": String(answer.body.length) });
      res.end(answer.body);
    })().catch(() => req.socket.destroy());
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.url = self;
  return proxy;
}
