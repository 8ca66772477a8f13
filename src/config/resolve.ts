import { ConfigError, sortProblems, type ConfigProblem } from "../core/errors.js";
import { nullRecord } from "../core/record.js";
import { checkReferences, checkWarnings } from "./check.js";
import { cacheKey, configCacheSettings, readCachedConfig, writeCachedConfig } from "./cache.js";
import { loadConfigText, loadedFromValues, parseConfigFiles, readConfigFiles, type LoadedConfig, type Location, type Segment } from "./load.js";
import { checkSchema, dotted } from "./schema.js";
import { Secret, type SecretLimits } from "../core/secret.js";
import { checkSources } from "./sources.js";
import type { ClusterConfig, HomelabConfig, RealmConfig, TenantConfig } from "./types.js";

export interface ValidConfig {
  config: HomelabConfig;
  loaded: LoadedConfig;
  /** Located advice about a valid file (check.ts checkWarnings), sorted like problems; not errors. */
  warnings: ConfigProblem[];
  /** What `opts.extra` computed for this config (on a cache hit: what it computed when the entry was written). */
  extra?: Record<string, unknown>;
}

export interface LoadOptions {
  /** Use the config cache (src/config/cache.ts); default: as the CLI configured it for the process (off otherwise). */
  cache?: boolean;
  /**
   * A pure function of the valid config, kept in its cache entry so that a hit need not compute it again
   * (validate's counts, which take building the desired state). Not called on a hit.
   */
  extra?: (v: { config: HomelabConfig; loaded: LoadedConfig }) => Record<string, unknown>;
}

/**
 * Load, validate against the schema, check references, and type the result. Throws ConfigError listing
 * every problem at once (sorted by file and position). Secret references are NOT read here (their sources
 * are checked where they exist: sources.ts).
 *
 * With the config cache on, files whose bytes are unchanged since they were last validated are not parsed
 * or checked again: the cached values and warnings are used; the secret and CA sources are checked on
 * every run, cached or not.
 */
export function loadValidConfig(target: string, opts: LoadOptions = {}): ValidConfig {
  const files = readConfigFiles(target);
  const readable = files.every((f) => f.bytes !== undefined) ? (files as { display: string; bytes: Buffer }[]) : undefined;
  const useCache = (opts.cache ?? configCacheSettings().enabled) && readable !== undefined;
  const key = useCache ? cacheKey(readable) : "";
  if (useCache) {
    const hit = readCachedConfig(target, key);
    if (hit && hit.perFile.length === readable.length) {
      const loaded = loadedFromValues(readable, hit.perFile);
      const valid: ValidConfig = { config: toTyped(loaded), loaded, warnings: hit.warnings, ...(hit.extra ? { extra: hit.extra } : {}) };
      if (opts.extra && !hit.extra) {
        // An entry written by a command that computes no extra (plan, apply): completed once.
        valid.extra = opts.extra(valid);
        writeCachedConfig(target, key, { ...hit, extra: valid.extra });
      }
      return withSources(valid);
    }
  }
  const valid = validateLoaded(parseConfigFiles(files));
  if (opts.extra) valid.extra = opts.extra(valid);
  // Written before the sources are checked: the entry does not depend on them (they are checked on every run).
  if (useCache) writeCachedConfig(target, key, { perFile: valid.perFile, warnings: valid.warnings, ...(valid.extra ? { extra: valid.extra } : {}) });
  const { perFile: _perFile, ...rest } = valid;
  return withSources(rest);
}

/** The same checks for one in-memory document (tests, editors). */
export function validateText(text: string, display = "homelab.yaml"): ValidConfig {
  const { perFile: _perFile, ...rest } = validateLoaded({ loaded: loadConfigText(text, display), perFile: [] });
  return withSources(rest);
}

/** Secret sources and CA files that exist but cannot work (a FIFO, too large, a line break inside): located problems. */
function withSources(v: ValidConfig): ValidConfig {
  const sourceProblems = checkSources(v.config, v.loaded);
  if (sourceProblems.length > 0) throw new ConfigError(sourceProblems);
  return v;
}

function validateLoaded({ loaded, perFile }: { loaded: LoadedConfig; perFile: Record<string, unknown>[] }): ValidConfig & { perFile: Record<string, unknown>[] } {
  const schemaProblems = checkSchema(loaded);
  if (schemaProblems.length === 0) {
    const refProblems = checkReferences(loaded);
    if (refProblems.length > 0) throw new ConfigError(refProblems);
    return { config: toTyped(loaded), loaded, warnings: sortProblems(checkWarnings(loaded)), perFile };
  }
  // Report every problem at once: reference checks also run on data that failed the schema, but they
  // assume its shapes, so a check that trips over a malformed value is skipped, and a reference problem
  // inside (or around) a value the schema already rejected is left out as noise.
  let refProblems: ConfigProblem[] = [];
  try {
    refProblems = checkReferences(loaded);
  } catch {
    refProblems = [];
  }
  const bad = schemaProblems.map((p) => p.path);
  const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`) || b.startsWith(`${a}.`) || b.startsWith(`${a}[`);
  throw new ConfigError([...schemaProblems, ...refProblems.filter((r) => !bad.some((b) => related(r.path, b)))]);
}

/**
 * Turn validated data into HomelabConfig: empty sections become `{}`/`[]`, secret strings become Secret
 * objects. Every section keyed by names is a record without a prototype, so that `config.roles[name]` and
 * `name in config.tenants` never find Object.prototype's `toString` or `constructor`, and a `__proto__`
 * name is a key like any other (issue 10 item 6).
 */
export function toTyped(loaded: LoadedConfig): HomelabConfig {
  const d = loaded.data as Record<string, any>;
  const secret = (path: Segment[], ref: string, limits?: SecretLimits) => new Secret(ref, dotted(path), loaded.baseDir(path), limits, lazyLocation(() => loaded.locate(path)));

  const tenants = nullRecord<TenantConfig>();
  for (const [name, t] of Object.entries<any>(d.tenants ?? {})) {
    const c = t.credentials;
    tenants[name] = {
      ...t,
      credentials: {
        clientId: c.clientId,
        ...(c.clientSecret !== undefined ? { clientSecret: secret(["tenants", name, "credentials", "clientSecret"], c.clientSecret) } : {}),
        ...(c.certificate !== undefined
          ? { certificate: { thumbprint: c.certificate.thumbprint, privateKey: secret(["tenants", name, "credentials", "certificate", "privateKey"], c.certificate.privateKey) } }
          : {}),
      },
    };
  }
  const clusters = nullRecord<ClusterConfig>();
  for (const [name, c] of Object.entries<any>(d.clusters ?? {})) {
    // An API token secret is a UUID, 36 characters (access API 2, "The secret is a UUID"): anything far longer is
    // the wrong file, refused when read (exit 3) instead of sent in a header the server refuses.
    clusters[name] = { ...c, token: { id: c.token.id, secret: secret(["clusters", name, "token", "secret"], c.token.secret, { maxLength: 256, receiver: "a Proxmox VE API token secret has (it is a 36-character UUID)" }) } };
  }
  const realms = nullRecord<RealmConfig>();
  for (const [name, r] of Object.entries<any>(d.realms ?? {})) {
    // Proxmox stores at most 256 characters of `client-key` (access API 3.1.5.1); it is checked when read.
    realms[name] = { ...r, ...(r.clientKey !== undefined ? { clientKey: secret(["realms", name, "clientKey"], r.clientKey, { maxLength: 256, receiver: "Proxmox VE accepts for a realm's client-key" }) } : {}) };
  }
  const prune = d.prune ?? {};
  return {
    version: 1,
    tenants,
    clusters,
    realms,
    roles: nullRecord(d.roles),
    groups: nullRecord(d.groups),
    users: nullRecord(d.users),
    access: d.access ?? [],
    prune: { acl: prune.acl ?? false, users: prune.users ?? false, groups: prune.groups ?? false, roles: prune.roles ?? false },
  };
}

/**
 * A Location found on first read. A secret's place is needed only when its source turns out unusable, and
 * finding it may mean parsing the file again with positions (the fast path and the cache read none).
 */
function lazyLocation(find: () => Location | undefined): Location {
  let at: Location | undefined | null = null;
  const get = () => (at === null ? (at = find()) : at);
  return {
    get file() {
      return get()?.file as string;
    },
    get line() {
      return get()?.line as number;
    },
    get col() {
      return get()?.col as number;
    },
  };
}
