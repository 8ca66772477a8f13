import { UserError } from "../core/errors.js";

/**
 * Connect and response timeouts of every API request (issue 10 item 10: a TLS server that accepted
 * connections and never answered kept `plan` silent for two minutes). One pair for the whole run, from the
 * environment, so that cron, CI and a slow link can each set their own without touching homelab.yaml:
 *
 * - `HOMELAB_CONNECT_TIMEOUT_S` (default 10): TCP connect plus the TLS handshake (and, for a pinned
 *   certificate, its check).
 * - `HOMELAB_REQUEST_TIMEOUT_S` (default 30): from the request being sent to the first byte of the answer.
 *
 * Seconds, a decimal fraction allowed (`0.5`), from 0.1 to 3600. A request that times out is not repeated:
 * the two values bound how long one request can take, and so how long a run can stay silent on a dead host.
 */
export interface Timeouts {
  connectMs: number;
  responseMs: number;
}

export const CONNECT_TIMEOUT_VAR = "HOMELAB_CONNECT_TIMEOUT_S";
export const REQUEST_TIMEOUT_VAR = "HOMELAB_REQUEST_TIMEOUT_S";
export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 10_000, responseMs: 30_000 };

const MIN_S = 0.1;
const MAX_S = 3600;

/** The run's timeouts from the environment; a value that is not a number of seconds in range is a UserError (exit 3). */
export function requestTimeouts(env: NodeJS.ProcessEnv = process.env): Timeouts {
  return {
    connectMs: secondsVar(env, CONNECT_TIMEOUT_VAR, DEFAULT_TIMEOUTS.connectMs),
    responseMs: secondsVar(env, REQUEST_TIMEOUT_VAR, DEFAULT_TIMEOUTS.responseMs),
  };
}

/**
 * The timeouts a client uses: the ones it was given, the rest from the environment (read only when one is missing,
 * so a client given both never trips over a bad variable).
 */
export function timeoutsWith(given: { connectMs?: number | undefined; responseMs?: number | undefined }, env: NodeJS.ProcessEnv = process.env): Timeouts {
  const fromEnv = given.connectMs === undefined || given.responseMs === undefined ? requestTimeouts(env) : undefined;
  return { connectMs: given.connectMs ?? fromEnv!.connectMs, responseMs: given.responseMs ?? fromEnv!.responseMs };
}

function secondsVar(env: NodeJS.ProcessEnv, name: string, fallbackMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallbackMs;
  const s = Number(raw.trim());
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !Number.isFinite(s) || s < MIN_S || s > MAX_S) {
    throw new UserError(`${name} must be a number of seconds from ${MIN_S} to ${MAX_S}, not \`${raw}\``, {
      code: "E_ARGS",
      hint: `for example ${name}=${fallbackMs / 1000 * 2}, or unset it for the default (${fallbackMs / 1000} s)`,
    });
  }
  return Math.round(s * 1000);
}

/** `30 s`, `0.5 s`: a timeout as people read it. */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** got's `timeout` option for these timeouts: connect and TLS handshake each, then the wait for the answer's headers. */
export function gotTimeouts(t: Timeouts): { lookup: number; connect: number; secureConnect: number; response: number } {
  return { lookup: t.connectMs, connect: t.connectMs, secureConnect: t.connectMs, response: t.responseMs };
}

/** got's timeout phases that belong to connecting (the rest wait for an answer). */
const CONNECT_EVENTS = new Set(["lookup", "connect", "secureConnect"]);

/** Whether a failed request (got's error, or a socket error) is a timeout. */
export function isTimeout(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown; cause?: { code?: unknown } } | undefined;
  return e?.name === "TimeoutError" || e?.code === "ETIMEDOUT" || e?.cause?.code === "ETIMEDOUT";
}

/**
 * The words for a timed-out request to `origin`: `could not connect to https://pve1:8006 within 10 s
 * (HOMELAB_CONNECT_TIMEOUT_S)` or `no answer from https://pve1:8006 within 30 s (HOMELAB_REQUEST_TIMEOUT_S)`.
 * got's TimeoutError names its phase in `event`; a timeout without one (a pinned handshake) is a connect timeout.
 */
export function timeoutText(err: unknown, origin: string, t: Timeouts): string {
  const event = (err as { event?: unknown }).event;
  const connecting = typeof event !== "string" || CONNECT_EVENTS.has(event);
  return connecting
    ? `could not connect to ${origin} within ${seconds(t.connectMs)} (${CONNECT_TIMEOUT_VAR})`
    : `no answer from ${origin} within ${seconds(t.responseMs)} (${REQUEST_TIMEOUT_VAR})`;
}

/** The hint for a timed-out request: what to check, and how to wait longer. */
export function timeoutHint(origin: string): string {
  return `check that ${origin} is reachable from here and its service is running; on a slow link raise ${CONNECT_TIMEOUT_VAR} or ${REQUEST_TIMEOUT_VAR} (seconds)`;
}
