#!/usr/bin/env node
// `prepare` step (npm install / npm ci in a clone of this repository): npm links the bins of dependencies
// into node_modules/.bin but not the project's own, and `npx homelab` run inside the project looks for it
// there. Link it, so `npm ci && npm run build && npx homelab ...` works on a fresh clone.
import { existsSync, lstatSync, mkdirSync, symlinkSync, unlinkSync } from "node:fs";

const binDir = new URL("../node_modules/.bin/", import.meta.url);
if (existsSync(new URL("../node_modules/", import.meta.url))) {
  mkdirSync(binDir, { recursive: true });
  const link = new URL("homelab", binDir);
  try {
    if (lstatSync(link)) unlinkSync(link);
  } catch {
    // no previous link
  }
  symlinkSync("../../dist/cli/main.js", link);
}
