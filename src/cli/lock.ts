import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { HomelabError } from "../core/errors.js";

/**
 * One run per config at a time: a lock file in the temp directory named after the config's absolute
 * path (nothing is written next to the config, which may be a read-only checkout). A second run waits
 * up to `waitMs`, then gives up with a clear message. A lock left by a process that no longer exists is
 * taken over.
 */
export async function acquireLock(configPath: string, waitMs: number): Promise<() => void> {
  const file = resolve(tmpdir(), `homelab-${createHash("sha256").update(resolve(configPath)).digest("hex").slice(0, 16)}.lock`);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      };
      process.once("exit", release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number.parseInt(readSafe(file), 10);
    if (Number.isInteger(holder) && !alive(holder)) {
      try {
        unlinkSync(file);
      } catch {
        // another waiter took it over first
      }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new HomelabError("E_LOCKED", `another homelab run (pid ${Number.isInteger(holder) ? holder : "unknown"}) is using ${configPath}; gave up after ${Math.round(waitMs / 1000)} s`, {
        hint: `wait for it to finish; if no homelab is running, remove ${file}`,
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readSafe(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
