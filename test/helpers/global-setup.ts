import { rmSync } from "node:fs";
import { basename } from "node:path";

/** Removes the config cache vitest.config.ts made for this run (only one it made: the name says so). */
export default function setup(): () => void {
  const dir = process.env.HOMELAB_CACHE_DIR;
  return () => {
    if (dir && basename(dir).startsWith("homelab-test-cache-")) rmSync(dir, { recursive: true, force: true });
  };
}
