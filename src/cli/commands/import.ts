/**
 * `homelab import [-f CONFIG] [--cluster NAME] [--tenant NAME] [--adopt] [-o FILE [--force]]`: read what a
 * cluster (and, when given, a tenant) holds and write a NEW homelab.yaml that validates and whose plan
 * against the same live state is empty.
 *
 * Decisions (issue 5, first bullet):
 * - Connection settings come from an existing config (-f): its `clusters.<NAME>` entry (and
 *   `tenants.<NAME>` with --tenant) are copied into the output as written, secret references kept as
 *   references; relative `${file:...}` and `tls.ca` paths are rewritten relative to the output file.
 * - One cluster per run: --cluster NAME, optional when the config has exactly one. The output declares
 *   only that cluster, so nothing is implied for the others. (Importing several clusters into one file
 *   would need `clusters:` lists on every object; run import per cluster meanwhile.)
 * - What is written and what is left out: src/import/build.ts (header comment). Everything left out, and
 *   why, is listed in the comment block at the top of the output and on stderr. `prune` is never written.
 * - Client keys: `${env:<REALM>_CLIENT_KEY}`, the variable named in a comment next to it and at the top.
 *   The value is read (Proxmox returns it) only to check the plan; it is never written or printed.
 * - Adoption: a realm whose client id is an app registration's appId, whose issuer is the tenant's and
 *   whose app lists this cluster's URL as redirect URI is written as a tenant realm (`tenant:`, `app:`),
 *   and its `<objectid>-<realm>` groups as `entraGroup` mappings. homelab finds a realm's app ONLY by the
 *   tag `homelab:realm=<realm>` (src/providers/entra/application.ts): for an untagged app the next plan
 *   would CREATE a second app and switch the realm to it, not tag the existing one. So an untagged match
 *   is adopted only with --adopt, which PATCHes the tags onto the app (the only write import ever makes);
 *   without it the realm is written as an external issuer (empty plan) and the output says --adopt would
 *   adopt it. An app already carrying the tag is adopted without writing anything.
 * - The check: after rendering, the text is validated with the same code as `homelab validate`, then
 *   planned against what was just read (client keys taken from the realms read). "No changes" is the
 *   expected outcome; if an adopted app differs from what homelab would make of it (optional claims,
 *   no service principal, secrets not named `homelab:<realm>:<cluster>`, unassigned groups), the pending
 *   changes are listed on stderr: they are what the next apply does to take the app over.
 * - The output file is never overwritten unless --force (`-o -` or no -o: stdout).
 */
import { existsSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildDesired } from "../../config/desired.js";
import { loadValidConfig, validateText } from "../../config/resolve.js";
import { Secret } from "../../core/secret.js";
import { ConfigError, ExitCode, RemoteError, UserError, formatProblem } from "../../core/errors.js";
import { createResolver } from "../../engine/resolver.js";
import { planRead, readAll, type TargetSpec } from "../../engine/run.js";
import { buildImport, type CandidateApp, type LiveCluster, type LiveTenant } from "../../import/build.js";
import { renderImport } from "../../import/yaml.js";
import { emptyObservedTenant, type TenantTarget } from "../../providers/entra/target.js";
import { clusterProviders, tenantProviders } from "../../providers/index.js";
import { emptyObserved } from "../../providers/proxmox/observed.js";
import { connectCluster, connectTenant } from "../../providers/connect.js";
import type { Io } from "../output.js";
import { clock } from "../../engine/targets.js";

export interface ImportOptions {
  file: string;
  cluster?: string;
  tenant?: string;
  /** undefined or "-": stdout. */
  output?: string;
  force: boolean;
  adopt: boolean;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SCHEMA = fileURLToPath(new URL("../../../schemas/homelab.schema.json", import.meta.url));

export async function importCommand(io: Io, opts: ImportOptions): Promise<number> {
  const { config, loaded } = loadValidConfig(opts.file);
  const clusterNames = Object.keys(config.clusters).sort();
  const clusterName = opts.cluster ?? (clusterNames.length === 1 ? clusterNames[0] : undefined);
  if (clusterName === undefined) {
    throw new UserError(clusterNames.length === 0 ? `${opts.file} declares no cluster to import from` : `${opts.file} declares ${clusterNames.length} clusters: name the one to import with --cluster`, {
      code: "E_ARGS",
      hint: clusterNames.length ? `for example --cluster ${clusterNames[0]} (clusters: ${clusterNames.join(", ")})` : "add the cluster's url, token and tls under `clusters:`",
    });
  }
  if (!(clusterName in config.clusters)) throw new UserError(`no cluster \`${clusterName}\` in ${opts.file}`, { code: "E_ARGS", hint: `clusters: ${clusterNames.join(", ") || "(none)"}` });
  if (opts.tenant !== undefined && !(opts.tenant in config.tenants)) {
    throw new UserError(`no tenant \`${opts.tenant}\` in ${opts.file}`, { code: "E_ARGS", hint: `tenants: ${Object.keys(config.tenants).sort().join(", ") || "(none)"}` });
  }
  if (opts.adopt && opts.tenant === undefined) throw new UserError("--adopt needs --tenant NAME", { code: "E_ARGS", hint: "adoption matches realms with the app registrations of one tenant" });
  const toStdout = opts.output === undefined || opts.output === "-";
  const outPath = toStdout ? undefined : resolve(opts.output!);
  if (outPath !== undefined && existsSync(outPath) && !opts.force) {
    throw new UserError(`${opts.output} exists; import writes a new file`, { code: "E_EXISTS", hint: "choose another -o FILE, or add --force to overwrite it" });
  }
  const outDir = outPath !== undefined ? dirname(outPath) : process.cwd();

  // Connection settings, as written (references stay references; relative paths follow the new file).
  const data = loaded.data as { clusters: Record<string, unknown>; tenants?: Record<string, unknown> };
  const rebase = (path: (string | number)[]) => (p: string) => (isAbsolute(p) ? p : relative(outDir, resolve(loaded.baseDir(path), p)) || ".");
  const clusterEntry = rebaseEntry(structuredClone(data.clusters[clusterName]) as Record<string, unknown>, rebase(["clusters", clusterName]));
  const tenantEntry = opts.tenant ? rebaseEntry(structuredClone(data.tenants![opts.tenant]) as Record<string, unknown>, rebase(["tenants", opts.tenant])) : undefined;

  // Only this cluster and tenant: the desired state of the source config gives their clients' settings.
  const source = buildDesired(config, loaded.baseDir([]));
  const dc = source.clusters.find((c) => c.name === clusterName)!;
  const api = await connectCluster(dc, { onWarning: (w) => io.err(`warning: ${w}`) });
  try {
    // --- read the cluster ------------------------------------------------------------------------------
    const [summaries, users, groups, roles, acl] = await Promise.all([api.listRealms(), api.listUsers(), api.listGroups(), api.listRoles(), api.listAcl()]);
    const realms = await Promise.all(summaries.map((s) => api.getRealm(s.realm)));
    const live: LiveCluster = { name: dc.name, url: dc.url, realms, users, groups, roles, acl };

    // --- read the tenant: apps whose appId is a realm's client id, and the groups named in group ids --
    let liveTenant: LiveTenant | undefined;
    let graph: Awaited<ReturnType<typeof connectTenant>>["graph"] | undefined;
    const dt = opts.tenant ? source.tenants.find((t) => t.name === opts.tenant) : undefined;
    if (dt) {
      ({ graph } = await connectTenant(dt));
      const { realmTag } = await import("../../providers/entra/graph.js");
      const clientIds = new Map<string, string>();
      for (const r of realms) if (r.type === "openid" && typeof r.options["client-id"] === "string") clientIds.set(r.realm, r.options["client-id"]);
      const found = clientIds.size ? await graph.findApplicationsByAppId([...clientIds.values()]) : [];
      const apps = new Map<string, CandidateApp>();
      for (const [realm, clientId] of clientIds) {
        const app = found.find((a) => a.appId.toLowerCase() === clientId.toLowerCase());
        if (!app) continue;
        const otherTagged = (await graph.listApplicationsByTag(realmTag(realm))).filter((a) => a.id !== app.id);
        apps.set(realm, { app, otherTagged });
      }
      const oids = groups
        .map((g) => /^(.+)-([^-]+)$/.exec(g.groupid))
        .filter((m): m is RegExpExecArray => m !== null && apps.has(m[2]!) && GUID.test(m[1]!))
        .map((m) => m[1]!.toLowerCase());
      const entraGroups = oids.length ? await graph.findGroupsById(oids) : [];
      const byName = entraGroups.length ? await graph.findGroupsByDisplayName(entraGroups.map((g) => g.displayName)) : new Map();
      const groupInfo = new Map<string, { displayName: string; unique: boolean }>();
      for (const g of entraGroups) {
        const same = (byName.get(g.displayName) ?? []) as { id: string; displayName: string }[];
        const exact = same.filter((x) => x.displayName.toLowerCase() === g.displayName.toLowerCase());
        groupInfo.set(g.id.toLowerCase(), { displayName: g.displayName, unique: exact.length === 1 && exact[0]!.id.toLowerCase() === g.id.toLowerCase() });
      }
      const { issuerUrl } = await import("../../config/desired.js");
      liveTenant = { name: dt.name, issuerUrl: issuerUrl(config.tenants[dt.name]!), apps, groups: groupInfo, adopt: opts.adopt };
    }

    // --- decide, tag what --adopt adopts, render, validate ---------------------------------------------
    const result = buildImport({ cluster: live, clusterEntry, ...(liveTenant ? { tenant: liveTenant, tenantEntry: tenantEntry! } : {}) });
    const { realmTag } = await import("../../providers/entra/graph.js");
    for (const a of result.adopted.filter((x) => x.needsTag)) {
      const tags = [...new Set([...(a.app.tags ?? []), "homelab", realmTag(a.realm)])];
      try {
        await graph!.updateApplication(a.app.id, { tags });
      } catch (err) {
        if (err instanceof RemoteError) io.err(`could not tag app registration "${a.app.displayName}": homelab changes only apps its automation app owns (Application.ReadWrite.OwnedBy); add it as an owner in the Entra admin center, then run import again`);
        throw err;
      }
      io.err(`tagged app registration "${a.app.displayName}" (appId ${a.app.appId}) with homelab:realm=${a.realm}`);
    }
    // Relative to the new file when that is short (a checkout or node_modules nearby), else absolute.
    const rel = relative(outDir, SCHEMA).split("\\").join("/");
    const schemaRef = /^(\.\.\/){3}/.test(rel) ? SCHEMA : rel;
    const text = renderImport(result, { schemaRef, cluster: { name: dc.name, url: dc.url }, ...(dt ? { tenant: dt.name } : {}) });
    let checked;
    try {
      checked = validateText(text, opts.output ?? "(import)");
    } catch (err) {
      if (err instanceof ConfigError) throw new Error(`the imported file does not validate (a bug in import):\n${err.problems.map(formatProblem).join("\n")}`);
      throw err;
    }

    // --- plan the new file against the same live state (client keys from the realms just read) ---------
    const desired = buildDesired(checked.config, outDir);
    for (const c of desired.clusters) {
      for (const r of c.realms) {
        const key = realms.find((x) => x.realm === r.realm)?.options["client-key"];
        if (r.clientKey instanceof Secret && typeof key === "string") r.clientKey = Secret.fromValue(key, `realms.${r.realm}.clientKey`);
      }
    }
    const resolver = createResolver();
    const targets: TargetSpec[] = desired.clusters.map((c) => ({ name: c.name, target: { desired: c, api, resolver, runAs: { tokenId: c.token.id, userid: c.token.id.split("!")[0]! } }, providers: clusterProviders, empty: emptyObserved }) as TargetSpec);
    if (dt && graph) {
      for (const t of desired.tenants) {
        const target: TenantTarget = { desired: t, graph, resolver, now: clock(), rotateSecrets: false };
        targets.unshift({ name: t.name, target, providers: tenantProviders, empty: emptyObservedTenant } as TargetSpec);
      }
    }
    // planRead: the late reads too (leavers, a secret policy), so the check plan is what apply would plan.
    const plan = await planRead(targets, await readAll(targets));

    // --- write and report ---------------------------------------------------------------------------
    if (outPath !== undefined) writeFileSync(outPath, text, { flag: opts.force ? "w" : "wx" });
    else io.out(text.trimEnd());
    const d = result.data as Record<string, Record<string, unknown> | unknown[] | undefined>;
    const count = (k: string) => (Array.isArray(d[k]) ? (d[k] as unknown[]).length : Object.keys(d[k] ?? {}).length);
    io.err(`imported cluster ${dc.name}${dt ? ` and tenant ${dt.name}` : ""}${outPath ? ` into ${opts.output}` : ""}: ${n(count("realms"), "realm")}, ${n(count("roles"), "role")}, ${n(count("groups"), "group")}, ${n(count("users"), "user")} with attributes, ${n(count("access"), "access entry", "access entries")}`);
    for (const [realm, v] of result.clientKeyEnv) io.err(`  realm ${realm}: set ${v} to its client key`);
    for (const a of result.adopted) io.err(`  adopted: realm ${a.realm} as a tenant realm (app registration "${a.app.displayName}", appId ${a.app.appId})`);
    for (const l of result.leftOut) io.err(`  left out: ${l}`);
    for (const n of result.notes) io.err(`  note: ${n}`);
    if (plan.changes.length === 0) io.err("check: a plan of the written file against the same state has no changes");
    else {
      io.err(`check: the next apply would make ${plan.changes.length} change${plan.changes.length === 1 ? "" : "s"} (taking the adopted apps over):`);
      for (const c of plan.changes) io.err(`  ${c.action} ${c.address}${c.reason ? ` (${c.reason})` : ""}`);
    }
    return ExitCode.ok;
  } finally {
    api.close();
  }
}

const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;

/** Rewrite the relative paths of `${file:...}` references and `tls.ca` in a copied entry. */
function rebaseEntry(entry: Record<string, unknown>, rebase: (p: string) => string): Record<string, unknown> {
  const walk = (v: unknown, key: string): unknown => {
    if (typeof v === "string") {
      const m = /^\$\{file:([^}]+)\}$/.exec(v);
      if (m) return `\${file:${rebase(m[1]!)}}`;
      return key === "ca" ? rebase(v) : v;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, ""));
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(entry, "") as Record<string, unknown>;
}
