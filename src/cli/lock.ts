// The locks moved to the engine (src/engine/lock.ts): a programmatic apply takes the same ones as the CLI. This
// re-export keeps the old import path working.
export * from "../engine/lock.js";
