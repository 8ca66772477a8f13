import { GraphError } from "./errors.js";
import { prng } from "./ids.js";
import type { EntraSimKnobs, Trigger } from "./types.js";

/**
 * Failure knobs on Graph requests (4.3, errata 9.7). A trigger fires when its `methods` match, its `rate`
 * (seeded PRNG) and `every` conditions hold, and its `count` budget (if any) is not used up.
 */
class TriggerState {
  private seen = 0;
  private fired = 0;
  constructor(readonly t: Trigger) {}

  fires(method: string, rand: () => number): boolean {
    if (this.t.methods && !this.t.methods.map((m) => m.toUpperCase()).includes(method)) return false;
    this.seen++;
    if (this.t.count !== undefined && this.fired >= this.t.count) return false;
    if (this.t.every !== undefined && this.seen % Math.max(1, this.t.every) !== 0) return false;
    if (this.t.rate !== undefined && !(rand() < this.t.rate)) return false;
    this.fired++;
    return true;
  }
}

export class Knobs {
  private throttle?: TriggerState;
  private faults?: TriggerState;
  private conflicts?: TriggerState;
  private readonly rand: () => number;

  constructor(
    private readonly knobs: EntraSimKnobs,
    seed: number,
  ) {
    this.rand = prng(seed);
    this.reset(knobs);
  }

  /** Re-arms the triggers named in `k` (counters start again from zero). */
  reset(k: Partial<EntraSimKnobs>): void {
    if ("throttle" in k) this.throttle = this.knobs.throttle ? new TriggerState(this.knobs.throttle) : undefined;
    if ("faults" in k) this.faults = this.knobs.faults ? new TriggerState(this.knobs.faults) : undefined;
    if ("conflicts" in k)
      this.conflicts = this.knobs.conflicts ? new TriggerState({ methods: ["PATCH"], ...this.knobs.conflicts }) : undefined;
  }

  /**
   * Throws the 429 or 5xx this request should get, if any, before it is carried out. Returns the 5xx of a
   * fault that lands (`faults.landed`): the caller carries the request out, then answers with that error
   * instead of the real response, as a gateway that timed out after the write would (spec 3.3: "a timeout may
   * have created the object").
   */
  check(method: string): GraphError | undefined {
    if (this.throttle?.fires(method, this.rand)) {
      const seconds = this.knobs.throttle?.retryAfterSeconds ?? 1;
      // 4.3 / errata 9.7: code TooManyRequests with Retry-After (seconds).
      throw new GraphError(429, "TooManyRequests", "Too many requests.", { "retry-after": String(seconds) });
    }
    if (this.faults?.fires(method, this.rand)) {
      // Errata 9.7: 503 serviceNotAvailable, possibly without Retry-After (so none here).
      const err =
        this.knobs.faults?.status === 500
          ? new GraphError(500, "generalException", "General exception while processing.")
          : new GraphError(503, "serviceNotAvailable", "Service is unavailable. Try again later.");
      const landed = this.knobs.faults?.landed ?? 0;
      if (landed > 0 && (landed >= 1 || this.rand() < landed)) return err;
      throw err;
    }
    if (this.conflicts?.fires(method, this.rand))
      throw new GraphError(409, "Request_ConflictingObjects", "Conflicting change in progress on the object. Please retry.");
    return undefined;
  }
}
