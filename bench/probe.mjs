// Preloaded into a benchmarked child (`node --import ./bench/probe.mjs …`, see `runProbed` in lib.mjs): on
// exit it writes the child's peak RSS (process.resourceUsage().maxRSS, so no `/usr/bin/time -v` needed) to
// HL_PROBE_OUT with its CPU time (user + system), and with HL_PROBE_MODULES=1 also every module the child loaded: ES modules through a loader
// hook (bench/probe-hooks.mjs, which appends each URL to HL_PROBE_OUT.modules as it loads) and CommonJS
// ones from require.cache. The hook thread costs start-up time: count modules in runs that are not timed.
import { writeFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const out = process.env.HL_PROBE_OUT;
if (out) {
  if (process.env.HL_PROBE_MODULES === "1") register(new URL("./probe-hooks.mjs", import.meta.url), { data: { file: `${out}.modules` } });
  const require = createRequire(import.meta.url);
  process.on("exit", () => {
    writeFileSync(out, JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, cpuUs: process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime, cjs: Object.keys(require.cache) }));
  });
}
