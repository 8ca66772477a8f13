import type { DesiredState } from "../core/desired.js";
import { UserError } from "../core/errors.js";
import { connectCluster, connectTenant } from "../providers/connect.js";
import { emptyObservedTenant, type TenantTarget } from "../providers/entra/target.js";
import { clusterProviders, tenantProviders } from "../providers/index.js";
import { emptyObserved } from "../providers/proxmox/observed.js";
import { clusterSubject, tenantSubject, type LockSubject } from "./lock.js";
import type { Resolver } from "./resolver.js";
import type { TargetSpec } from "./run.js";

/** An API client of a run: closed at its end; its request log counts a read's requests and feeds `--debug`. */
export interface Closable {
  close(): void;
  requestLog: { method: string; path: string; status?: number; ms: number }[];
  name: string;
}

/** What connecting needs from the run: where warnings, retry lines and replication waits go. */
export interface ConnectContext {
  clients: Closable[];
  resolver: Resolver;
  rotateSecrets: boolean;
  /** The run may write (not `check`): the cluster targets' pre-flights differ. */
  applying: boolean;
  warn(message: string): void;
  /** A retried request (debug output only). */
  retry(line: string): void;
  /** Entra has not shown a new object yet; target.onWait is routed here for the whole run. */
  wait(target: string, message: string): void;
}

/** A failure of one target (cluster or tenant) while connecting or reading. */
export interface NamedError {
  name: string;
  error: unknown;
}

/** Several targets failed before planning; each is reported. */
export class ReadFailures extends Error {
  readonly failures: NamedError[];
  constructor(failures: NamedError[]) {
    super(`${failures.length} targets failed`);
    this.failures = failures;
  }
}

/**
 * What a run may write to, one lock each (lock.ts): every cluster and tenant of the config, taken before the reads
 * the plan is made from, so that no other run writes between the read and the apply.
 */
export function lockSubjects(desired: DesiredState): LockSubject[] {
  return [...desired.clusters.map((c) => clusterSubject(c.name, c.url)), ...desired.tenants.map((t) => tenantSubject(t.name, t.tenantId, t.graphUrl))];
}

/** The clock secret lifetimes are measured against; HOMELAB_NOW (an ISO date) pretends another time, to rehearse renewals. */
export function clock(): () => Date {
  const fixed = process.env.HOMELAB_NOW;
  if (!fixed) return () => new Date();
  const t = Date.parse(fixed);
  if (Number.isNaN(t)) throw new UserError(`HOMELAB_NOW is not a date: ${fixed}`, { code: "E_ARGS", hint: "use an ISO date such as 2027-05-01T00:00:00Z, or unset it" });
  const offset = t - Date.now();
  return () => new Date(Date.now() + offset);
}

/**
 * Every target of `desired`, connected: tenants first, then clusters. Every target is connected even when one fails,
 * so that all failures are reported in one run (issue 10 item 9); failures are thrown together as ReadFailures.
 */
export async function connectAll(desired: DesiredState, ctx: ConnectContext): Promise<{ tenants: TargetSpec[]; targets: TargetSpec[] }> {
  const connected = [await settle(() => tenantTargets(desired, ctx)), await settle(() => clusterTargets(desired, ctx))];
  const failures = connected.flatMap((c) => c.failures);
  if (failures.length > 0) throw new ReadFailures(failures);
  const tenants = connected[0]!.value ?? [];
  return { tenants, targets: connected.flatMap((c) => c.value ?? []) };
}

async function tenantTargets(desired: DesiredState, ctx: ConnectContext): Promise<TargetSpec[]> {
  if (desired.tenants.length === 0) return [];
  const { waitUntilUsable, createTokenSource } = await import("../providers/entra/token.js");
  const { Secret } = await import("../core/secret.js");
  const now = clock();
  const onRetry = (line: string) => ctx.retry(line);
  return allOrFailures(desired.tenants, async (t) => {
    // A new secret is proven by a token request before a realm gets it (proveSecret below), the stronger
    // test; so two sightings in a row suffice here instead of terraform's five (spec 6 step 2), which
    // keeps the Proxmox side (realm → users → ACL) from idling four seconds behind every new secret.
    const { graph } = await connectTenant(t, { onRetry }, { visibility: { times: 2, attempts: 30, delayMs: 1000 } });
    ctx.clients.push({ name: t.name, requestLog: graph.requestLog, close: () => {} });
    const target: TenantTarget = {
      desired: t,
      graph,
      resolver: ctx.resolver,
      now,
      rotateSecrets: ctx.rotateSecrets,
      proveSecret: async (appId, secret) => {
        const source = createTokenSource({ tenantId: t.tenantId, loginUrl: t.loginUrl, graphUrl: t.graphUrl, credentials: { clientId: appId, clientSecret: Secret.fromValue(secret, "new client secret") } });
        await waitUntilUsable(source, { attempts: 10, delayMs: 1000, onRetry: (e) => onRetry(`${t.name} ${e.method} ${e.path} attempt ${e.attempt} (${e.reason}), waiting ${e.waitMs} ms`) });
      },
      onWait: (message) => ctx.wait(t.name, message),
    };
    // The graph client's waits for new objects to show (replication lag) go to whatever target.onWait is now.
    graph.onWait = (message) => target.onWait?.(message);
    return { name: t.name, target, providers: tenantProviders, empty: emptyObservedTenant } satisfies TargetSpec as TargetSpec;
  });
}

async function clusterTargets(desired: DesiredState, ctx: ConnectContext): Promise<TargetSpec[]> {
  return allOrFailures(desired.clusters, async (c) => {
    const client = await connectCluster(c, { onWarning: (w) => ctx.warn(w), onRetry: (line) => ctx.retry(line) });
    ctx.clients.push(client as unknown as Closable);
    return {
      name: c.name,
      target: { desired: c, api: client, resolver: ctx.resolver, runAs: { tokenId: c.token.id, userid: c.token.id.split("!")[0]! }, applying: ctx.applying },
      providers: clusterProviders,
      empty: emptyObserved,
    } satisfies TargetSpec as TargetSpec;
  });
}

/** `run` for every item, all of them even when some fail; the failures are thrown together as ReadFailures. */
async function allOrFailures<I extends { name: string }, T>(items: readonly I[], run: (item: I) => Promise<T>): Promise<T[]> {
  const results = await Promise.allSettled(items.map(run));
  const failures = results.flatMap((r, i) => (r.status === "rejected" ? [{ name: items[i]!.name, error: r.reason as unknown }] : []));
  if (failures.length > 0) throw new ReadFailures(failures);
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

async function settle<T>(run: () => Promise<T>): Promise<{ value?: T; failures: NamedError[] }> {
  try {
    return { value: await run(), failures: [] };
  } catch (err) {
    return { failures: err instanceof ReadFailures ? err.failures : [{ name: "", error: err }] };
  }
}
