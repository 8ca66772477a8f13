/**
 * Lookups keyed by names from homelab.yaml. A plain object inherits `toString`, `constructor`, `valueOf`,
 * `hasOwnProperty` and `__proto__` from Object.prototype, so `name in obj` and `obj[name]` find them for
 * names nobody declared, and `obj["__proto__"] = v` replaces the prototype instead of adding a key (issue 10
 * item 6). Every record keyed by user data is built with `nullRecord` and read with `own`.
 */

/** The value stored under `key` itself, never one inherited from Object.prototype. */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Whether `key` is one of the record's own keys (the safe form of `key in record`). */
export function hasOwn(record: object | undefined, key: string): boolean {
  return record !== undefined && Object.hasOwn(record, key);
}

/**
 * A record without a prototype, holding the own enumerable entries of `from` (a `__proto__` key included,
 * as a plain key). Lookups of undeclared names give undefined, and assignments never reach a setter.
 */
export function nullRecord<T>(from?: Readonly<Record<string, T>> | Iterable<readonly [string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  if (from === undefined || from === null) return out;
  const entries = Symbol.iterator in from ? (from as Iterable<readonly [string, T]>) : Object.entries(from as Record<string, T>);
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
  return out;
}
