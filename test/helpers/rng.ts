import { mulberry32 } from "../../src/sim/rng.js";

/** A seeded generator for generated tests (the simulators' mulberry32), so a failing case replays from its seed. */
export function rng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
export type R = ReturnType<typeof rng>;
