import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { homelab } from "../helpers/cli.js";

/**
 * Issue 10 item 9: when several clusters (or tenants) cannot be read, every failure is printed, sorted by the
 * target's name, in one run; the exit code is the highest of theirs.
 */

/** Ports where nothing listens (bound, then closed). */
async function deadPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    ports.push((s.address() as { port: number }).port);
    await new Promise((r) => s.close(r));
  }
  return ports;
}

describe("several failed reads", () => {
  let dir: string;
  let ports: number[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hl-readerr-"));
    ports = await deadPorts(3);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Clusters in the order given (not sorted), each with its own token variable. */
  const config = (names: string[]) => {
    const file = join(dir, `${names.join("-")}.yaml`);
    writeFileSync(
      file,
      `version: 1\nclusters:\n${names
        .map((n, i) => `  ${n}:\n    url: https://127.0.0.1:${ports[i]}\n    token: { id: "homelab@pve!converge", secret: "\${env:TOKEN_${n.toUpperCase()}}" }\n    tls: { fingerprint: "${"AB:".repeat(31)}AB" }\n`)
        .join("")}`,
    );
    return file;
  };
  const errors = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("error "));

  it("plan with neither token variable set prints both, sorted by cluster; exit 3", async () => {
    const r = await homelab(["-f", config(["zeta", "alpha"]), "plan"], { env: { TOKEN_ZETA: undefined, TOKEN_ALPHA: undefined } });
    expect(r.code).toBe(3);
    expect(errors(r.stderr)).toEqual(["error clusters.alpha.token.secret: environment variable TOKEN_ALPHA is not set", "error clusters.zeta.token.secret: environment variable TOKEN_ZETA is not set"]);
    expect(r.stderr.match(/hint: export TOKEN_\w+=/g)).toHaveLength(2);
    expect(r.stdout).toBe("");
  });

  it("two unreachable clusters: both connection errors, sorted; exit 1", async () => {
    const r = await homelab(["-f", config(["zeta", "alpha"]), "plan"], { env: { TOKEN_ZETA: "x", TOKEN_ALPHA: "y" } });
    expect(r.code).toBe(1);
    const e = errors(r.stderr);
    expect(e).toHaveLength(2);
    expect(e[0]).toMatch(new RegExp(`^error proxmox cluster 'alpha': .*127\\.0\\.0\\.1:${ports[1]}`));
    expect(e[1]).toMatch(new RegExp(`^error proxmox cluster 'zeta': .*127\\.0\\.0\\.1:${ports[0]}`));
  });

  it("a missing variable and an unreachable cluster: both, and the higher exit code (3)", async () => {
    const r = await homelab(["-f", config(["zeta", "alpha", "mid"]), "apply"], { env: { TOKEN_ZETA: "x", TOKEN_ALPHA: undefined, TOKEN_MID: "z", HOMELAB_LOCK_DIR: dir } });
    expect(r.code).toBe(3);
    const e = errors(r.stderr);
    expect(e).toHaveLength(3);
    expect(e[0]).toBe("error clusters.alpha.token.secret: environment variable TOKEN_ALPHA is not set");
    expect(e[1]).toMatch(/^error proxmox cluster 'mid': /);
    expect(e[2]).toMatch(/^error proxmox cluster 'zeta': /);
  });
});
