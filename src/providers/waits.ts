import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Requests that take long, shown on the progress line (issue 10 item 10: a silent server kept `plan`
 * silent). The API clients announce a request that has been waiting for more than SLOW_AFTER_MS, every
 * second, as `waiting for pve1 (https://pve1.lan:8006): 7 s`, the same form as the Entra lag waits
 * ("waiting for Entra to show the new app: 6 s"); the message goes to whoever shows progress for the code
 * that started the request. That is found through AsyncLocalStorage: src/cli/progress.ts runs each step
 * with `withWaitListener`, so a request made by a step reports on that step's line, whatever the layers
 * between them, and a request made outside any step (tests, verify) reports nowhere and costs one lookup.
 */

/** `message` while the request keyed `key` waits; undefined once it has finished (only after a message was given). */
export type WaitListener = (message: string | undefined, key: object) => void;

/** A request answered within this many ms is never mentioned. */
export const SLOW_AFTER_MS = 3000;

const storage = new AsyncLocalStorage<WaitListener>();

/** Run `fn` so that slow requests it starts (directly or through any await chain) are told to `listener`. */
export function withWaitListener<T>(listener: WaitListener, fn: () => T): T {
  return storage.run(listener, fn);
}

/**
 * Watch one request to `label` (`pve1 (https://pve1.lan:8006)`): after `afterMs` the current listener hears
 * `waiting for <label>: N s`, then once a second, until the returned function is called. Timers are unref'd:
 * a watch never keeps the process alive.
 */
export function watchRequest(label: string, afterMs = SLOW_AFTER_MS): () => void {
  const listener = storage.getStore();
  if (listener === undefined) return () => {};
  const key = {};
  const started = Date.now();
  let shown = false;
  let every: NodeJS.Timeout | undefined;
  const tell = (): void => {
    shown = true;
    listener(`waiting for ${label}: ${Math.floor((Date.now() - started) / 1000)} s`, key);
  };
  const first = setTimeout(() => {
    tell();
    every = setInterval(tell, 1000);
    every.unref();
  }, afterMs);
  first.unref();
  return () => {
    clearTimeout(first);
    if (every !== undefined) clearInterval(every);
    if (shown) listener(undefined, key);
  };
}

/** `waiting for pve1 (https://…): 7 s` → `waiting for pve1 (https://…)`: one wait, whatever its count (plain output prints each once). */
export function waitSubject(message: string): string {
  return message.replace(/: \d+ s$/, "");
}
