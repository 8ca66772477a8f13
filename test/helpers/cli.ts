import { spawn } from "node:child_process";
import { join } from "node:path";
import { root } from "./config.js";

/** The built binary; HOMELAB_BIN points elsewhere (a build into another outDir, e.g. `.dist-<name>/cli/main.js`). */
export const bin = process.env.HOMELAB_BIN ?? join(root, "dist/cli/main.js");

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the built binary asynchronously (an in-process simulator must keep answering meanwhile), with no
 * TTY, as cron or CI would.
 */
export function homelab(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NO_COLOR: "1", ...opts.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd ?? root, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON object `homelab sim` prints on stdout once it serves (rejects after 10 s without one). */
export function simInfo(child: { stdout: NodeJS.ReadableStream | null; on(event: "error", cb: (e: Error) => void): unknown }): Promise<any> {
  let out = "";
  return new Promise<any>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      try {
        resolve(JSON.parse(out));
      } catch {
        // not complete yet
      }
    });
    child.on("error", reject);
    setTimeout(() => reject(new Error(`no JSON within 10 s: ${out}`)), 10_000);
  });
}
