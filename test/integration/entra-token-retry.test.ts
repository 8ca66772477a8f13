import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../src/core/secret.js";
import { RemoteError } from "../../src/core/errors.js";
import { createTokenSource, resetTokenSources, waitUntilUsable } from "../../src/providers/entra/token.js";
import type { RetryEvent } from "../../src/providers/entra/types.js";
import { startEntraSim, type EntraSim } from "../../src/sim/entra/index.js";

/**
 * Chain soak finding C2: token requests answered 5xx or 429 were never retried, so a run's first token, or the
 * proof of a new secret (waitUntilUsable), failed on one transient answer. The simulator's knobs fault Graph
 * only, so a small proxy in front of its token endpoint answers the next `fail` token requests itself.
 */

interface TokenFaults {
  /** How many of the next token requests get `status` instead of reaching the simulator. */
  fail: number;
  status: number;
  retryAfter?: string;
}

async function startTokenFaultProxy(upstream: string): Promise<{ url: string; faults: TokenFaults; forwarded: () => number; answered: () => number; close: () => Promise<void> }> {
  const faults: TokenFaults = { fail: 0, status: 503 };
  let forwarded = 0;
  let answered = 0;
  const up = new URL(upstream);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const isToken = /\/oauth2\/v2\.0\/token$/.test((req.url ?? "").replace(/\?.*$/, ""));
      if (isToken && faults.fail > 0) {
        faults.fail--;
        answered++;
        res.writeHead(faults.status, { "content-type": "application/json", ...(faults.retryAfter !== undefined ? { "retry-after": faults.retryAfter } : {}) });
        res.end(JSON.stringify({ error: faults.status === 429 ? "temporarily_unavailable" : "server_error", error_description: `AADSTS90033: injected ${faults.status}.`, error_codes: [90033] }));
        return;
      }
      if (isToken) forwarded++;
      const r = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (u) => {
        res.writeHead(u.statusCode ?? 502, u.headers);
        u.pipe(res);
      });
      r.on("error", () => req.socket.destroy());
      r.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    faults,
    forwarded: () => forwarded,
    answered: () => answered,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("token requests answered 5xx or 429 are retried (chain soak C2)", () => {
  let sim: EntraSim;
  let proxy: Awaited<ReturnType<typeof startTokenFaultProxy>>;

  beforeAll(async () => {
    sim = await startEntraSim({});
    proxy = await startTokenFaultProxy(sim.loginUrl);
  });
  afterAll(async () => {
    await proxy.close();
    await sim.close();
  });
  afterEach(() => {
    resetTokenSources();
    proxy.faults.fail = 0;
    delete proxy.faults.retryAfter;
  });

  const source = (events: RetryEvent[], extra: Partial<Parameters<typeof createTokenSource>[0]> = {}) =>
    createTokenSource({
      tenantId: sim.tenantId,
      loginUrl: proxy.url,
      graphUrl: sim.graphUrl,
      credentials: { clientId: sim.automation.clientId, clientSecret: Secret.fromValue(sim.automation.clientSecret, "automation secret") },
      retryDelayMs: 5,
      onRetry: (e) => events.push(e),
      ...extra,
    });

  it.each([503, 500, 502, 504])("HTTP %i twice, then a token: retried, each retry reported", async (status) => {
    const events: RetryEvent[] = [];
    Object.assign(proxy.faults, { fail: 2, status });
    const before = proxy.forwarded();
    await expect(source(events).getToken()).resolves.toMatch(/\S{20,}/);
    expect(proxy.forwarded() - before).toBe(1);
    expect(events).toEqual([1, 2].map((attempt) => ({ method: "POST", path: `/${sim.tenantId}/oauth2/v2.0/token`, attempt, status, waitMs: expect.any(Number), reason: "unavailable" })));
  });

  it("429 honours Retry-After (seconds), capped by maxRetryAfterMs", async () => {
    const events: RetryEvent[] = [];
    Object.assign(proxy.faults, { fail: 1, status: 429, retryAfter: "1" });
    const t0 = Date.now();
    await expect(source(events).getToken()).resolves.toMatch(/\S{20,}/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(events).toEqual([{ method: "POST", path: `/${sim.tenantId}/oauth2/v2.0/token`, attempt: 1, status: 429, waitMs: 1000, reason: "throttled" }]);

    resetTokenSources();
    const capped: RetryEvent[] = [];
    Object.assign(proxy.faults, { fail: 1, status: 429, retryAfter: "3600" });
    const t1 = Date.now();
    await expect(source(capped, { maxRetryAfterMs: 150 }).getToken()).resolves.toMatch(/\S{20,}/);
    expect(Date.now() - t1).toBeLessThan(5000);
    expect(capped.map((e) => e.waitMs)).toEqual([150]);
  });

  it("is bounded: a token endpoint that keeps answering 503 is a RemoteError after statusRetries + 1 requests", async () => {
    const events: RetryEvent[] = [];
    Object.assign(proxy.faults, { fail: 100, status: 503 });
    const before = proxy.answered();
    const err = (await source(events, { statusRetries: 3 }).getToken().catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toContain("HTTP 503");
    expect(proxy.answered() - before).toBe(4);
    expect(events.map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(JSON.stringify(err) + String(err) + (err.hint ?? "")).not.toContain(sim.automation.clientSecret);
  });

  it("the proof of a secret (waitUntilUsable, which retries only AADSTS7000215 itself) goes through 503s and 429s", async () => {
    const events: RetryEvent[] = [];
    Object.assign(proxy.faults, { fail: 2, status: 503 });
    await expect(waitUntilUsable(source(events), { attempts: 3, delayMs: 5 })).resolves.toBeUndefined();
    expect(events.map((e) => e.status)).toEqual([503, 503]);

    resetTokenSources();
    Object.assign(proxy.faults, { fail: 1, status: 429, retryAfter: "0" });
    const proofEvents: RetryEvent[] = [];
    await expect(waitUntilUsable(source(proofEvents), { attempts: 1, delayMs: 5 })).resolves.toBeUndefined();
    expect(proofEvents.map((e) => e.reason)).toEqual(["throttled"]);
  });
});
