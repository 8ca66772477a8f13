import { ConfigError, sortProblems, type ConfigProblem } from "../core/errors.js";
import { nullRecord } from "../core/record.js";
import { checkReferences, checkWarnings } from "./check.js";
import { loadConfig, loadConfigText, type LoadedConfig, type Segment } from "./load.js";
import { checkSchema, dotted } from "./schema.js";
import { Secret, type SecretLimits } from "./secret.js";
import { checkSources } from "./sources.js";
import type { ClusterConfig, HomelabConfig, RealmConfig, TenantConfig } from "./types.js";

export interface ValidConfig {
  config: HomelabConfig;
  loaded: LoadedConfig;
  /** Located advice about a valid file (check.ts checkWarnings), sorted like problems; not errors. */
  warnings: ConfigProblem[];
}

/**
 * Load, validate against the schema, check references, and type the result. Throws ConfigError listing
 * every problem at once (sorted by file and position). Secret references are NOT read here.
 */
export function loadValidConfig(target: string): ValidConfig {
  return validateLoaded(loadConfig(target));
}

/** The same checks for one in-memory document (tests, editors). */
export function validateText(text: string, display = "homelab.yaml"): ValidConfig {
  return validateLoaded(loadConfigText(text, display));
}

function validateLoaded(loaded: LoadedConfig): ValidConfig {
  const schemaProblems = checkSchema(loaded);
  if (schemaProblems.length === 0) {
    const refProblems = checkReferences(loaded);
    if (refProblems.length > 0) throw new ConfigError(refProblems);
    const config = toTyped(loaded);
    // Secret sources and CA files that exist but cannot work (a FIFO, too large, a line break inside): located.
    const sourceProblems = checkSources(config, loaded);
    if (sourceProblems.length > 0) throw new ConfigError(sourceProblems);
    return { config, loaded, warnings: sortProblems(checkWarnings(loaded)) };
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
  const secret = (path: Segment[], ref: string, limits?: SecretLimits) => new Secret(ref, dotted(path), loaded.baseDir(path), limits, loaded.locate(path));

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
