import { fileURLToPath } from "node:url";
import { buildDesired } from "../../config/desired.js";
import { loadValidConfig } from "../../config/resolve.js";
import { Secret } from "../../core/secret.js";
import type { DesiredState } from "../../core/desired.js";
import { ExitCode } from "../../core/errors.js";
import { apply } from "../../index.js";
import { paint, type Io } from "../output.js";
import { convergeWithView } from "../render/cli-run.js";

const DEMO_FILE = fileURLToPath(new URL("../../../playbooks/demo.yaml", import.meta.url));

/** People the simulated tenant holds, so the mapped group and the named user exist there. */
const DEMO_DIRECTORY = {
  users: [
    { displayName: "Jane Doe", userPrincipalName: "jane@contoso.com", mail: "jane@contoso.com" },
    { displayName: "Bob Builder", userPrincipalName: "bob@contoso.com", mail: "bob@contoso.com" },
  ],
  groups: [{ displayName: "Proxmox Admins", members: ["jane@contoso.com", "bob@contoso.com"] }],
};

/**
 * `homelab demo`: start both simulators in this process, point playbooks/demo.yaml's tenants and clusters
 * at them, converge (plan, apply), then converge again to show that nothing is left to change. Needs no
 * network and no credentials of anyone's.
 */
export async function demoCommand(io: Io, opts: { file?: string; json: boolean; concurrency: number }): Promise<number> {
  const file = opts.file ?? DEMO_FILE;
  const { config, loaded } = loadValidConfig(file);
  const { startProxmoxSim } = await import("../../sim/proxmox/index.js");
  const { startEntraSim } = await import("../../sim/entra/index.js");

  const sims: { close(): Promise<void> }[] = [];
  try {
    const desired: DesiredState = buildDesired(config, loaded.baseDir([]));
    const entra = new Map<string, Awaited<ReturnType<typeof startEntraSim>>>();
    for (const t of desired.tenants) {
      const sim = await startEntraSim({ tenantId: t.tenantId, automation: { clientId: t.credentials.clientId }, fixture: DEMO_DIRECTORY });
      sims.push(sim);
      entra.set(t.name, sim);
      t.loginUrl = sim.loginUrl;
      t.graphUrl = sim.graphUrl;
      t.credentials = { clientId: sim.automation.clientId, clientSecret: Secret.fromValue(sim.automation.clientSecret, `tenants.${t.name}.credentials.clientSecret`) };
    }
    const pve = new Map<string, Awaited<ReturnType<typeof startProxmoxSim>>>();
    for (const c of desired.clusters) {
      const sim = await startProxmoxSim({ unauthorizedDelayMs: 0 });
      sims.push(sim);
      pve.set(c.name, sim);
      c.url = sim.url;
      c.token = { id: sim.adminToken.id, secret: Secret.fromValue(sim.adminToken.secret, `clusters.${c.name}.token.secret`) };
      c.tls = { fingerprint: sim.fingerprint };
    }
    // The config was built before the URLs were known: derive what depends on them again.
    const fresh = rebase(desired);

    const say = (s: string) => {
      if (!opts.json) io.out(paint(io, 1, s));
    };
    say(`homelab demo: ${file}`);
    say(`simulators: ${[...pve].map(([n, s]) => `Proxmox VE ${n} at ${s.url}`).concat([...entra].map(([n, s]) => `Entra ID ${n} at ${s.loginUrl}`)).join(", ")}`);
    say("");
    say("1. Converge: plan, then apply");
    // Through the programmatic API (src/index.ts), shown as `homelab apply --diff` shows a run.
    const converge = () =>
      convergeWithView(io, { json: opts.json, quiet: false, check: false, diff: true }, (onEvent, signal) =>
        apply({ desired: fresh, concurrency: opts.concurrency, lockWaitMs: 0, onEvent, signal, debug: io.debug }),
      );
    const first = await converge();
    if (first !== ExitCode.ok) return first;
    say("");
    say("2. Run again: nothing left to change");
    const second = await converge();
    if (second !== ExitCode.ok) return second;

    // Show that the chain really works: the key each realm holds is a secret Entra accepts.
    for (const c of fresh.clusters) {
      for (const r of c.realms.filter((x) => x.provisioned)) {
        const sim = pve.get(c.name)!;
        const realm = sim.state().realms!.find((x) => x.realm === r.realm)!;
        const tenant = entra.get(r.provisioned!.tenant)!;
        const ok = tenant.checkClientSecret(String(realm["client-id"]), String(realm["client-key"]));
        say("");
        say(`3. Realm ${r.realm} on ${c.name}: issuer ${String(realm["issuer-url"])}, client id ${String(realm["client-id"])}; its client key ${ok ? "is accepted" : "is REFUSED"} by Entra ID.`);
        if (!ok) return ExitCode.failure;
      }
    }

    // The point of the file: people sign in with their Entra ID account and get the rights it gives them.
    const { applyDemoFault, demoSignIns, DEMO_FAULT_VARIABLE } = await import("./demo-signin.js");
    await applyDemoFault(process.env[DEMO_FAULT_VARIABLE], fresh, pve, entra);
    const signIns = await demoSignIns(fresh, pve, entra, DEMO_DIRECTORY);
    say("");
    for (const line of signIns.lines) say(line);
    for (const p of signIns.problems) io.err(`demo: ${p}`);
    return signIns.ok ? ExitCode.ok : ExitCode.failure;
  } finally {
    await Promise.allSettled(sims.map((s) => s.close()));
  }
}

/** Recompute URL-derived parts (redirect URIs, issuer URLs) after endpoints were pointed at the simulators. */
function rebase(d: DesiredState): DesiredState {
  const urls = new Map(d.clusters.map((c) => [c.name, c.url]));
  for (const t of d.tenants) {
    for (const a of t.applications) {
      a.redirectUris = [...new Set(a.secrets.map((s) => urls.get(s.cluster)!))].sort();
    }
    for (const c of d.clusters) {
      for (const r of c.realms) if (r.provisioned?.tenant === t.name) r.options["issuer-url"] = `${t.loginUrl}/${t.tenantId}/v2.0`;
    }
  }
  return d;
}
