import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores here and in CI: keep workers modest so simulator-backed tests are not starved.
    maxWorkers: 2,
  },
});
