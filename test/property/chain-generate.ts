/**
 * Generator of the chain soak (issue 9, "The fault soak"): from one seed, a random homelab config over one Entra
 * tenant and one or two Proxmox clusters, the faults the Entra side shows (5xx, 429, resets, slow and lost
 * answers, replication lag), whether a second phase renews the secrets (HOMELAB_NOW inside the renewal window,
 * or --rotate-secrets), and where homelab gets killed. Plain data, a pure function of the seed.
 */
import { rng, type R } from "../helpers/rng.js";
import type { EntraFixture } from "../../src/sim/entra/index.js";
import type { ProxyFault, ProxyFaults } from "./chain-proxy.js";

/** The Entra directory every case starts from (its groups are what realms map). */
export const CHAIN_DIRECTORY: EntraFixture = {
  users: [
    { displayName: "Jane Doe", userPrincipalName: "jane@contoso.com", mail: "jane@contoso.com" },
    { displayName: "Bob Builder", userPrincipalName: "bob@contoso.com", mail: "bob@contoso.com" },
    { displayName: "Alice Liddell", userPrincipalName: "alice@contoso.com", mail: "alice@contoso.com" },
    { displayName: "Carol Danvers", userPrincipalName: "carol@contoso.com", mail: "carol@contoso.com" },
  ],
  groups: [
    { displayName: "Proxmox Admins", members: ["jane@contoso.com"] },
    { displayName: "VM Operators", members: ["bob@contoso.com", "alice@contoso.com"] },
    { displayName: "Auditors", members: ["carol@contoso.com"] },
  ],
};

const UPNS = CHAIN_DIRECTORY.users!.map((u) => u.userPrincipalName);
const ENTRA_GROUPS = CHAIN_DIRECTORY.groups!.map((g) => g.displayName);
const ROLES = ["Administrator", "PVEAdmin", "PVEAuditor", "PVEVMUser"];
const PATHS = ["/", "/vms", "/storage", "/pool/lab"];

export interface ChainRealm {
  name: string;
  displayName: string;
  /** the clusters the realm is on; undefined = all */
  clusters?: string[];
  usernameClaim: "upn" | "email";
  secret?: { lifetimeDays: number; renewBeforeDays: number };
  autocreate: boolean;
  default: boolean;
  /** mapped Entra groups: Proxmox group key, Entra display name, the ACL it gets */
  groups: Array<{ key: string; entraGroup: string; role: string; path: string }>;
  users: Array<{ upn: string; role: string; path: string }>;
}

/** When homelab is killed: after `ms` of the run, or once the simulator answered the k-th Graph write. */
export type KillTrigger = { kind: "delay"; ms: number } | { kind: "write"; k: number; relayed: boolean };

export interface ChainCase {
  seed: number;
  clusters: string[];
  realms: ChainRealm[];
  /** reads a new object stays invisible (Entra consistencyDelay); the "lag" of the closing note */
  lag: number;
  /** reads a new password credential stays out of its app (credentialDelay) */
  credentialLag: number;
  /** token requests that refuse a brand-new secret (secretActivationDelay) */
  activationLag: number;
  /** Entra faults (proxy), undefined = none */
  faults?: ProxyFaults;
  /** slow Proxmox answers (ms) on a share of requests, the other side of the chain */
  pveSlow?: { rate: number; ms: number };
  /** a second phase that renews the secrets */
  renew?: { how: "now"; daysLeft: number } | { how: "rotate" };
  /** a secret added by hand on each homelab app between the phases (must survive) */
  manualSecret: boolean;
  kill?: { phase: "create" | "renew"; trigger: KillTrigger };
  /** the automation app holds Policy.Read.All (what `homelab bootstrap` grants), so policies are read at plan time */
  policyRead: boolean;
}

const FAULT_KINDS: ProxyFault[] = ["503", "500", "502", "504", "429", "reset", "lost-reset", "lost-503", "slow"];

function faults(r: R): ProxyFaults | undefined {
  const rate = r.pick([0, 0, 0.05, 0.1, 0.15, 0.25]);
  if (rate === 0) return undefined;
  // One kind alone, or a few combined, or all of them.
  const n = r.pick([1, 1, 2, 3, FAULT_KINDS.length]);
  const kinds = new Set<ProxyFault>();
  while (kinds.size < n) kinds.add(r.pick(FAULT_KINDS));
  return { rate, kinds: [...kinds], token: r.next() < 0.6, retryAfter: r.pick([1, 1, 2]), slowMs: r.pick([300, 1000, 2500]) };
}

function realm(r: R, name: string, clusters: string[], isDefault: boolean, displayNames: string[]): ChainRealm {
  const lifetime = r.pick([30, 90, 180, 365, 730]);
  const renewBefore = r.pick([7, 14, 29].filter((d) => d < lifetime));
  const groups: ChainRealm["groups"] = [];
  for (const g of ENTRA_GROUPS) if (r.next() < 0.35) groups.push({ key: `${name}-${g.toLowerCase().replace(/ /g, "-")}`, entraGroup: g, role: r.pick(ROLES), path: r.pick(PATHS) });
  const users: ChainRealm["users"] = [];
  for (const upn of UPNS) if (r.next() < 0.4) users.push({ upn, role: r.pick(ROLES), path: r.pick(PATHS) });
  if (users.length === 0 && groups.length === 0) users.push({ upn: r.pick(UPNS), role: r.pick(ROLES), path: "/" });
  return {
    name,
    displayName: r.pick(displayNames),
    ...(clusters.length > 1 && r.next() < 0.3 ? { clusters: [r.pick(clusters)] } : {}),
    usernameClaim: r.next() < 0.8 ? "upn" : "email",
    ...(r.next() < 0.8 ? { secret: { lifetimeDays: lifetime, renewBeforeDays: renewBefore } } : {}),
    autocreate: r.next() < 0.5,
    default: isDefault,
    groups,
    users,
  };
}

export function generateChainCase(seed: number): ChainCase {
  const r = rng(seed);
  const clusters = r.next() < 0.5 ? ["pve1"] : ["pve1", "pve2"];
  const names = r.next() < 0.6 ? ["azure"] : ["azure", "entra2"];
  const defaultAt = r.int(names.length + 1); // names.length: no default realm
  const displayNames = ["Proxmox VE", "Proxmox VE", `Proxmox VE (lab ${seed % 97})`];
  const realms = names.map((n, i) => realm(r, n, clusters, i === defaultAt, displayNames));
  const lag = r.int(11);
  const renewDraw = r.next();
  const renew: ChainCase["renew"] = renewDraw < 0.3 ? { how: "now", daysLeft: 1 + r.int(6) } : renewDraw < 0.55 ? { how: "rotate" } : undefined;
  const killDraw = r.next();
  let kill: ChainCase["kill"];
  if (killDraw < 0.35) {
    const trigger: KillTrigger = r.next() < 0.5 ? { kind: "delay", ms: 300 + r.int(4000) } : { kind: "write", k: 1 + r.int(8), relayed: r.next() < 0.3 };
    kill = { phase: renew && r.next() < 0.5 ? "renew" : "create", trigger };
  }
  return {
    seed,
    clusters,
    realms,
    lag,
    credentialLag: r.int(Math.min(lag, 4) + 1),
    activationLag: r.int(Math.min(lag, 3) + 1),
    faults: faults(r),
    ...(r.next() < 0.2 ? { pveSlow: { rate: 0.1, ms: r.pick([100, 400]) } } : {}),
    ...(renew ? { renew } : {}),
    manualSecret: r.next() < 0.4,
    ...(kill ? { kill } : {}),
    policyRead: r.next() < 0.5,
  };
}

/**
 * The YAML of a case (JSON flow style, which is YAML). `entra` is where homelab reaches the tenant (the fault
 * proxy), `pve` each cluster's URL and fingerprint; secrets come from the environment.
 */
export function chainConfigText(c: ChainCase, entra: { url: string; tenantId: string; clientId: string }, pve: Map<string, { url: string; tokenId: string; fingerprint: string }>): string {
  const doc: Record<string, unknown> = {
    version: 1,
    tenants: {
      contoso: {
        tenantId: entra.tenantId,
        cloud: { loginUrl: entra.url, graphUrl: entra.url },
        credentials: { clientId: entra.clientId, clientSecret: "${env:CHAIN_ENTRA_SECRET}" },
      },
    },
    clusters: Object.fromEntries(c.clusters.map((n) => {
      const p = pve.get(n)!;
      return [n, { url: p.url, token: { id: p.tokenId, secret: `\${env:CHAIN_PVE_${n.toUpperCase()}}` }, tls: { fingerprint: p.fingerprint } }];
    })),
    realms: Object.fromEntries(c.realms.map((r) => [r.name, {
      tenant: "contoso",
      app: { displayName: r.displayName, ...(r.secret ? { secret: r.secret } : {}) },
      usernameClaim: r.usernameClaim,
      ...(r.clusters ? { clusters: r.clusters } : {}),
      autocreate: r.autocreate,
      ...(r.default ? { default: true } : {}),
    }])),
  };
  const groups = c.realms.flatMap((r) => r.groups.map((g) => [g.key, { realm: r.name, entraGroup: g.entraGroup }] as const));
  if (groups.length) doc.groups = Object.fromEntries(groups);
  doc.access = c.realms.flatMap((r) => [
    ...r.users.map((u) => ({ user: `${u.upn}@${r.name}`, role: u.role, path: u.path })),
    ...r.groups.map((g) => ({ group: g.key, role: g.role, path: g.path })),
  ]);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The clusters a realm is on. */
export const realmClusters = (c: ChainCase, r: ChainRealm): string[] => r.clusters ?? c.clusters;

/** One line describing the case's faults, for reports. */
export function describeCase(c: ChainCase): string {
  const f = c.faults ? `faults ${Math.round(c.faults.rate * 100)}% [${c.faults.kinds.join(",")}]${c.faults.token ? " incl. token" : " graph only"} retry-after ${c.faults.retryAfter}s` : "no faults";
  const k = c.kill ? `kill in ${c.kill.phase} ${c.kill.trigger.kind === "delay" ? `after ${c.kill.trigger.ms} ms` : `at graph write ${c.kill.trigger.k}${c.kill.trigger.relayed ? " (answer relayed)" : " (answer lost)"}`}` : "no kill";
  const rn = c.renew ? (c.renew.how === "now" ? `renew with HOMELAB_NOW ${c.renew.daysLeft} d before the window ends` : "renew with --rotate-secrets") : "no renewal";
  return `clusters ${c.clusters.join(",")}; realms ${c.realms.map((r) => `${r.name}${r.clusters ? `[${r.clusters}]` : ""}(${r.groups.length} groups)`).join(" ")}; lag ${c.lag}/${c.credentialLag}/${c.activationLag}; ${f}${c.pveSlow ? `; pve slow ${c.pveSlow.ms} ms` : ""}; ${rn}; ${k}${c.manualSecret ? "; manual secret" : ""}${c.policyRead ? "; Policy.Read.All" : ""}`;
}
