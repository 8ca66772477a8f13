#!/usr/bin/env node
// The bin: kept to what must happen before the CLI's modules load (src/cli/run.ts holds the CLI itself).
//  - V8's compile cache (Node >= 22.1, `module.enableCompileCache`; absent on Node 20, where this does nothing):
//    later runs reuse the compiled code of homelab's modules instead of parsing and compiling them again. It
//    lives in NODE_COMPILE_CACHE when set, else in the user's cache directory (`compileCacheDir`);
//    NODE_DISABLE_COMPILE_CACHE=1 turns it off. A cache that cannot be written (a read-only home) is skipped.
//  - With --debug (or HOMELAB_DEBUG=1): source maps, so that stacks name src/…/*.ts lines, not the bundle's.
import module from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

/** The per-user cache directory for the compile cache: XDG_CACHE_HOME or ~/.cache, ~/Library/Caches, %LOCALAPPDATA%. */
function compileCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  if (env.NODE_COMPILE_CACHE) return env.NODE_COMPILE_CACHE;
  if (platform === "win32") return join(env.LOCALAPPDATA || join(home, "AppData", "Local"), "homelab", "compile-cache");
  if (platform === "darwin") return join(home, "Library", "Caches", "homelab", "compile-cache");
  return join(env.XDG_CACHE_HOME || join(home, ".cache"), "homelab", "compile-cache");
}

const enableCompileCache = (module as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache;
if (enableCompileCache !== undefined && !process.env.NODE_DISABLE_COMPILE_CACHE) {
  try {
    enableCompileCache(compileCacheDir());
  } catch {
    // No cache, no harm: the run compiles as it would without one.
  }
}
if (process.argv.includes("--debug") || process.env.HOMELAB_DEBUG === "1") process.setSourceMapsEnabled(true);

await import("./run.js");
