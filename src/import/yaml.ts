/**
 * Writing the imported homelab.yaml with the `yaml` Document API: the language-server line first, a
 * comment block saying where the file came from, what was adopted and what was left out, the client-key
 * variables named next to their references, and access entries (and small maps) in flow style, as the
 * playbooks are written. Same input, same bytes: no dates, no ordering from the network.
 */
import { Document, isMap, isScalar, isSeq, visit, type Node } from "yaml";
import type { ImportResult } from "./build.js";

export interface RenderOptions {
  /** `$schema=` target: a path relative to the output file, or a URL. */
  schemaRef: string;
  cluster: { name: string; url: string };
  tenant?: string;
}

const comment = (lines: string[]): string => lines.map((l) => (l === "" ? "" : ` ${l}`)).join("\n");

export function renderImport(result: ImportResult, opts: RenderOptions): string {
  const doc = new Document(result.data);
  const head = [
    `yaml-language-server: $schema=${opts.schemaRef}`,
    "",
    `Written by \`homelab import\` from cluster ${opts.cluster.name} (${opts.cluster.url})${opts.tenant ? ` and tenant ${opts.tenant}` : ""}.`,
    "Nothing is pruned: add `prune:` only once this file is the whole truth.",
  ];
  if (result.clientKeyEnv.size > 0) {
    head.push("", "Before `homelab plan`, set each realm's client key (the OAuth client secret stored in Proxmox):");
    for (const [realm, v] of [...result.clientKeyEnv].sort(([a], [b]) => (a < b ? -1 : 1))) head.push(`  ${v}  realm ${realm}`);
  }
  if (result.adopted.length > 0) {
    head.push("", "adopted (managed from now on as tenant realms):");
    for (const a of result.adopted) head.push(`  - realm ${a.realm}: app registration "${a.app.displayName}" (appId ${a.app.appId})`);
  }
  if (result.leftOut.length > 0) {
    head.push("", "left out:");
    for (const l of result.leftOut) head.push(`  - ${l}`);
  }
  if (result.notes.length > 0) {
    head.push("", "notes:");
    for (const n of result.notes) head.push(`  - ${n}`);
  }
  doc.commentBefore = comment(head);

  for (const [realm, v] of result.clientKeyEnv) {
    const node = doc.getIn(["realms", realm, "clientKey"], true);
    if (isScalar(node)) node.comment = ` set ${v} to this realm's client key; never write the value here`;
  }
  for (const a of result.adopted) {
    const node = doc.getIn(["realms", a.realm, "tenant"], true);
    if (isScalar(node)) node.comment = ` adopted: app registration appId ${a.app.appId}`;
  }
  // Small maps read best on one line, like the playbooks.
  const flow = (path: (string | number)[]) => {
    const n = doc.getIn(path, true) as Node | undefined;
    if (n && (isMap(n) || isSeq(n))) n.flow = true;
  };
  flow(["clusters", opts.cluster.name, "token"]);
  flow(["clusters", opts.cluster.name, "tls"]);
  if (opts.tenant) flow(["tenants", opts.tenant, "cloud"]);
  const access = doc.get("access", true);
  if (isSeq(access)) for (const item of access.items) if (isMap(item)) item.flow = true;
  // Lists of plain values (privileges, members, scopes, redirect URIs) on one line too.
  visit(doc, { Seq: (_, seq) => void (seq.items.every((i) => isScalar(i)) && (seq.flow = true)) });
  return doc.toString({ lineWidth: 0 });
}
