#!/usr/bin/env node
// Build step after tsc and after-build.mjs: bundle the CLI with esbuild, so that a run loads a handful of files
// instead of ~200-400 modules (its own and node_modules'): DIR/cli/main.js (the bin, tiny: src/cli/main.ts)
// and DIR/cli/chunks/*.js, one per command loaded on demand and the code they share, with source maps
// (`--debug` turns them on, src/cli/main.ts). Everything else tsc wrote stays in DIR as it was (the
// simulators, and the modules tests and scripts import from dist/).
// Usage: node scripts/bundle.mjs [--out DIR] (default dist).
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const { values } = parseArgs({ options: { out: { type: "string", default: "dist" } } });
const root = resolve(new URL("..", import.meta.url).pathname);
const src = resolve(root, "src");
const out = resolve(root, values.out);
const cliDir = resolve(out, "cli");
const manifest = resolve(cliDir, "bundle.json");

// The chunks of an earlier bundle (their names carry hashes, so a new build would leave them lying about).
if (existsSync(manifest)) for (const f of JSON.parse(readFileSync(manifest, "utf8")).files) rmSync(resolve(cliDir, f), { force: true });

/**
 * `import.meta.url` names the file the code runs from: in a bundle, a chunk, not the module's place in dist/.
 * Each module's own is put back: the URL its tsc output has (DIR/<path of the module under src>.js), derived
 * from the chunk's (chunks sit in DIR/cli/chunks/, the entry in DIR/cli/), so that relative URLs (the schema,
 * package.json, the precompiled validator, the simulator's API schema) resolve as they do unbundled.
 */
const importMetaUrl = {
  name: "import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!args.path.startsWith(`${src}/`) || !text.includes("import.meta.url")) return undefined;
      const own = relative(src, args.path).replace(/\.ts$/, ".js");
      const distRoot = `new URL(/\\/chunks\\/[^/]*$/.test(import.meta.url) ? "../../" : "../", import.meta.url)`;
      return { contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(own)}, ${distRoot}).href`), loader: "ts" };
    });
  },
};

const result = await build({
  entryPoints: { main: resolve(src, "cli/main.ts") },
  outdir: cliDir,
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  sourcemap: "linked",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
  // ajv: only for compiling the schema when the precompiled validator is missing (src/config/schema.ts); the
  // precompiled one requires ajv's runtime helpers from node_modules itself.
  external: ["ajv", "ajv/*"],
  // CommonJS dependencies bundled into ES modules still call require() (for Node's built-ins).
  banner: { js: 'import { createRequire as __homelabRequire } from "node:module"; const require = __homelabRequire(import.meta.url);' },
  plugins: [importMetaUrl],
});

const files = Object.keys(result.metafile.outputs).map((f) => relative(cliDir, resolve(root, f)));
writeFileSync(manifest, `${JSON.stringify({ note: "written by scripts/bundle.mjs: the files of the CLI bundle", files }, null, 2)}\n`);
const size = files.filter((f) => f.endsWith(".js")).reduce((n, f) => n + readFileSync(resolve(cliDir, f)).length, 0);
console.log(`bundle: ${files.filter((f) => f.endsWith(".js")).length} files, ${(size / 1024).toFixed(0)} KB in ${relative(root, cliDir) || "."}/ (${relative(root, dirname(manifest))}/bundle.json lists them)`);
