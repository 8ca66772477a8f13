import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

// The CLI caches validated configs (src/config/cache.ts); the tests' CLI runs use a cache of their own, removed
// when the run ends (test/helpers/global-setup.ts), never the user's ~/.cache/homelab.
process.env.HOMELAB_CACHE_DIR ??= mkdtempSync(join(tmpdir(), "homelab-test-cache-"));

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    globalSetup: ["test/helpers/global-setup.ts"],
    // Two cores here and in CI: keep workers modest so simulator-backed tests are not starved.
    maxWorkers: 2,
  },
});
