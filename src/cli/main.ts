#!/usr/bin/env node
// The bin: kept to what must happen before the CLI's modules load (src/cli/run.ts holds the CLI itself).
//  - With --debug (or HOMELAB_DEBUG=1): source maps, so that stacks name src/…/*.ts lines, not the bundle's.
// V8's compile cache (`module.enableCompileCache`, Node >= 22.1) is not turned on here: measured on Node 24
// (bench/startup.mjs), it saved no CPU time on --version, --help and validate and about 2-4 % on a no-op apply,
// while every first run paid for writing it and each build left about 0.3 MB in the user's cache directory.
// Node's own NODE_COMPILE_CACHE=DIR still turns it on for anyone who wants it.
if (process.argv.includes("--debug") || process.env.HOMELAB_DEBUG === "1") process.setSourceMapsEnabled(true);

await import("./run.js");
