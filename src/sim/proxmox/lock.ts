/**
 * The cluster filesystem lock (pve-cluster Cluster.pm `cfs_lock_file`): one holder per config file,
 * others wait up to 10 s (then `cfs-lock 'file-<name>' error: got lock request timeout`), and the
 * code runs with the lock held from its cfs_read_file to its cfs_write_file. Lock ids are the file
 * name with "." and "/" turned into "_" (`file-user_cfg`, `file-domains_cfg`).
 *
 * Handler bodies in JavaScript run to completion, so a synchronous read-modify-write cannot
 * interleave anyway; the lock matters for bodies that await between their read and their write
 * (the realm writes, which model the pmxcfs write as an await, see handlers-realms.ts).
 */

export type CfsFile = "user.cfg" | "domains.cfg";

/** Default lock-acquire timeout of cfs_lock ($timeout = 10 if !$timeout). */
export const LOCK_TIMEOUT_MS = 10_000;

export class LockTimeout extends Error {}

export class FileLock {
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly file: CfsFile) {}

  /** "file-user_cfg" */
  get lockId(): string {
    return `file-${this.file.replace(/[./]/g, "_")}`;
  }

  /**
   * Run `fn` holding the lock. Waiters queue in arrival order; one that waits longer than
   * `timeoutMs` gives up with LockTimeout and never runs.
   */
  async run<T>(fn: () => T | Promise<T>, timeoutMs = LOCK_TIMEOUT_MS): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.tail = prev.then(() => mine);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        prev,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LockTimeout("got lock request timeout")), timeoutMs);
        }),
      ]);
    } catch (err) {
      // Give up our turn without blocking the queue: release once the holder before us is done.
      void prev.then(release);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
