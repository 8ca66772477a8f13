import { LockTimeout, type CfsFile } from "./lock.js";
import type { SimState } from "./state.js";

/**
 * How the simulator raises API errors. Texts follow the Perl `die "...\n"` convention: most carry a
 * trailing newline, which real servers (http-server >= 5.2.0) put into the JSON `message` (spec 1.5).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
    /** plain-text body instead of the JSON envelope (e.g. malformed JSON, spec 1.2 / errata 15) */
    readonly plainText = false,
    /** 401s that fail before a handler runs have an empty body (spec 2.4) */
    readonly emptyBody = false,
  ) {
    super(message);
  }
}

/** 400 "Parameter verification failed." with an `errors` map (pve-common raise_param_exc). */
export function paramError(errors: Record<string, string>): ApiError {
  return new ApiError(400, "Parameter verification failed.\n", errors);
}

/** 500 with the handler's text (everything that is not a parameter or permission error). */
export function handlerError(message: string): ApiError {
  return new ApiError(500, message.endsWith("\n") ? message : `${message}\n`);
}

/** 403 as raised by RPCEnvironment raise_perm_exc (spec 1.5, 2.1). */
export function permError(detail?: string): ApiError {
  return new ApiError(403, `Permission check failed${detail ? ` (${detail})` : ""}\n`);
}

/**
 * lock_user_config / lock_domain_config: run `fn` holding the file's cfs lock (lock.ts), and wrap
 * any failure the way those do: "<op> failed: <inner>". A parameter error raised inside the lock is
 * flattened into text and becomes a 500 (spec 1.5); a lock timeout reads
 * "<op> failed: cfs-lock 'file-user_cfg' error: got lock request timeout" (pve-cluster cfs_lock).
 * A write of user.cfg marks it for the re-read every later request sees (SimState.reread), done
 * before the lock is released. Handlers running here return null, so nobody sees the raw values.
 */
export async function inLock<T>(state: SimState, file: CfsFile, operation: string, fn: () => T | Promise<T>): Promise<T> {
  const lock = state.locks[file];
  try {
    return await lock.run(async () => {
      try {
        return await fn();
      } finally {
        if (file === "user.cfg") state.userCfgChanged();
        // The next holder of the lock reads the file back as Proxmox parses it.
        state.reread();
      }
    });
  } catch (err) {
    if (err instanceof LockTimeout) throw handlerError(`${operation}: cfs-lock '${lock.lockId}' error: ${err.message}`);
    if (err instanceof ApiError) {
      let inner = err.message;
      if (err.status === 400 && err.errors) {
        inner = `400 ${err.message}${Object.entries(err.errors)
          .map(([k, v]) => `${k}: ${v}${v.endsWith("\n") ? "" : "\n"}`)
          .join("")}`;
      }
      throw handlerError(`${operation}: ${inner}`);
    }
    throw err;
  }
}
