import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";

/**
 * Bounded reads of files named by the user (the config, `${file:...}` secrets, CA files), issue 10 item 3.
 *
 * `readFileSync` on `/dev/zero`, `/dev/urandom` or a FIFO never returns and grows memory without bound
 * (or blocks forever on a FIFO without a writer). Here:
 *   - only regular files are read; a symlink is followed, and must lead to a regular file. FIFOs, devices,
 *     sockets and directories are refused by `stat` BEFORE they are opened (opening a FIFO blocks, opening
 *     a terminal or a tape device can have side effects), and again by `fstat` after opening, so a file
 *     swapped in between is refused too;
 *   - the file is opened non-blocking (a FIFO swapped in after the check then cannot block `open`);
 *   - at most `limit + 1` bytes are read, whatever `stat` said the size is (files in /proc report 0, a
 *     file may grow while it is read), so memory stays bounded by the limit.
 */

/** Why a bounded read failed: each maps to one plain sentence (`FileReadError.why`). */
export type FileReadReason = "missing" | "denied" | "directory" | "special" | "too-large" | "io";

/** A bounded read that failed. `why` completes a sentence that starts with the path: `<path> <why>`. */
export class FileReadError extends Error {
  readonly code = "E_FILE_READ";
  constructor(
    readonly path: string,
    readonly reason: FileReadReason,
    /** `is a character device, not a regular file`, `is larger than 64 KiB (the limit for a secret file)`, ... */
    readonly why: string,
    /** The errno code for `missing`, `denied` and `io` (ENOENT, EACCES, ELOOP, ...). */
    readonly errno?: string,
  ) {
    super(`${path} ${why}`);
    this.name = "FileReadError";
  }
}

export interface BoundedReadOptions {
  /** The most bytes accepted. One byte more is read to tell "exactly the limit" from "larger". */
  limit: number;
  /** What the file is, for the message: "config file", "secret file", "CA file". */
  what: string;
}

/** Read the regular file at `path` (symlinks followed), at most `opts.limit` bytes; throws FileReadError otherwise. */
export function readBounded(path: string, opts: BoundedReadOptions): Buffer {
  const st = statOrThrow(path, () => statSync(path));
  refuseNonRegular(path, st);
  if (st.size > opts.limit) throw tooLarge(path, opts);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (err) {
    throw errnoError(path, err);
  }
  try {
    refuseNonRegular(path, statOrThrow(path, () => fstatSync(fd)));
    return readUpTo(fd, path, opts, st.size);
  } finally {
    closeSync(fd);
  }
}

/** `readBounded` decoded as UTF-8 (a byte-order mark is kept: the YAML parser and callers decide about it). */
export function readBoundedText(path: string, opts: BoundedReadOptions): string {
  return readBounded(path, opts).toString("utf8");
}

/** `1048576` → `1 MiB`, `65536` → `64 KiB`, `1000` → `1000 bytes`: how limits are printed. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

function readUpTo(fd: number, path: string, opts: BoundedReadOptions, statSize: number): Buffer {
  const max = opts.limit + 1;
  // Start at the size stat reported (plus one byte to see the end), grow by doubling, never past limit + 1.
  let buf = Buffer.allocUnsafe(Math.min(max, Math.max(statSize + 1, 4096)));
  let total = 0;
  for (;;) {
    if (total === buf.length) {
      if (buf.length >= max) break;
      const bigger = Buffer.allocUnsafe(Math.min(max, buf.length * 2));
      buf.copy(bigger, 0, 0, total);
      buf = bigger;
    }
    let n: number;
    try {
      n = readSync(fd, buf, total, buf.length - total, null);
    } catch (err) {
      // EAGAIN: a non-blocking special file swapped in after both checks; refuse it like the others.
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") throw new FileReadError(path, "special", "is not a regular file");
      throw errnoError(path, err);
    }
    if (n === 0) break;
    total += n;
  }
  if (total > opts.limit) throw tooLarge(path, opts);
  return buf.subarray(0, total);
}

function statOrThrow(path: string, get: () => Stats): Stats {
  try {
    return get();
  } catch (err) {
    throw errnoError(path, err);
  }
}

function refuseNonRegular(path: string, st: Stats): void {
  if (st.isFile()) return;
  if (st.isDirectory()) throw new FileReadError(path, "directory", "is a directory, not a regular file");
  throw new FileReadError(path, "special", `is ${kindOf(st)}, not a regular file`);
}

/** The kind of a non-regular file, with an article, for messages. */
function kindOf(st: Stats): string {
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "a special file";
}

function tooLarge(path: string, opts: BoundedReadOptions): FileReadError {
  return new FileReadError(path, "too-large", `is larger than ${formatBytes(opts.limit)}, the limit for a ${opts.what}`);
}

function errnoError(path: string, err: unknown): FileReadError {
  const code = (err as NodeJS.ErrnoException).code ?? "EIO";
  if (code === "ENOENT") return new FileReadError(path, "missing", "does not exist (ENOENT)", code);
  if (code === "ENOTDIR") return new FileReadError(path, "missing", "does not exist (ENOTDIR: a part of the path is not a directory)", code);
  if (code === "EACCES" || code === "EPERM") return new FileReadError(path, "denied", `is not readable (permission denied, ${code})`, code);
  if (code === "ELOOP") return new FileReadError(path, "io", "cannot be read (ELOOP: too many levels of symbolic links)", code);
  if (code === "EISDIR") return new FileReadError(path, "directory", "is a directory, not a regular file", code);
  return new FileReadError(path, "io", `cannot be read (${code})`, code);
}
