import { readFileSync } from "node:fs";
import { ConfigError, type ConfigProblem } from "../../src/core/errors.js";
import { validateText } from "../../src/config/resolve.js";

export const root = new URL("../../", import.meta.url).pathname;
export const playbook = (name: string) => readFileSync(`${root}playbooks/${name}`, "utf8");

/** The problems validate reports for a document, or [] when it is valid. Any other exception propagates. */
export function problemsOf(text: string, display = "homelab.yaml"): ConfigProblem[] {
  try {
    validateText(text, display);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

/** A minimal valid config (one external-issuer realm, no tenant) to build cases on. */
export const minimal = `version: 1
clusters:
  pve:
    url: https://pve.lan:8006
    token: { id: homelab@pve!converge, secret: "\${env:PVE_TOKEN}" }
realms:
  sso:
    issuerUrl: https://auth.lan/application/o/proxmox/
    clientId: proxmox
    clientKey: \${env:SSO_SECRET}
    usernameClaim: username
access:
  - { user: jane@sso, role: Administrator, path: / }
`;

/**
 * Sets `env` in this process's environment (the programmatic API reads `${env:...}` from it) and returns what puts the
 * previous values back.
 */
export function setProcessEnv(env: Readonly<Record<string, string>>): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
