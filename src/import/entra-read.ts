/**
 * The two Graph reads `homelab import` needs that the provider's Graph client does not offer (it finds
 * apps by homelab's tag and groups by display name; the import starts from a realm's client id and a
 * Proxmox group's object id). Read-only, paged, one request per 15 ids (Graph's `in (...)` limit), no
 * retries: an import that fails is simply run again. Errors carry the Graph code and message, redacted.
 */
import got from "got";
import { AuthError, RemoteError } from "../core/errors.js";
import { redact } from "../log/redact.js";
import { odataString } from "../providers/entra/graph.js";
import type { EntraApplication, EntraGroup } from "../providers/entra/types.js";

const APP_SELECT = "id,appId,displayName,tags,signInAudience,web,groupMembershipClaims,optionalClaims,passwordCredentials";
const IN_CHUNK = 15;

export interface GraphReader {
  applicationsByAppId(appIds: string[]): Promise<EntraApplication[]>;
  groupsById(ids: string[]): Promise<EntraGroup[]>;
}

export function createGraphReader(opts: { graphUrl: string; tenant: string; getToken: () => Promise<string> }): GraphReader {
  const base = `${opts.graphUrl.replace(/\/+$/, "")}/v1.0/`;

  async function list<T>(path: string, permission: string): Promise<T[]> {
    const out: T[] = [];
    let url: string | undefined = `${base}${path}`;
    while (url !== undefined) {
      const token = await opts.getToken();
      const res = await got(url, { headers: { authorization: `Bearer ${token}`, accept: "application/json" }, throwHttpErrors: false, retry: { limit: 0 }, responseType: "text", timeout: { request: 30_000 } });
      let body: { value?: T[]; "@odata.nextLink"?: string; error?: { code?: string; message?: string } } = {};
      try {
        body = JSON.parse(res.body) as typeof body;
      } catch {
        // reported below by status
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const shown = redact(decodeURIComponent(url.slice(base.length - 1)));
        const msg = `Graph (tenant ${opts.tenant}): GET ${shown} answered ${res.statusCode}${body.error?.code ? ` ${body.error.code}` : ""}${body.error?.message ? `: ${redact(body.error.message)}` : ""}`;
        const common = { service: "graph", method: "GET", url: redact(url), status: res.statusCode, message: msg };
        if (res.statusCode === 401 || res.statusCode === 403) throw new AuthError({ ...common, hint: `the automation app needs ${permission}` });
        throw new RemoteError(common);
      }
      out.push(...(body.value ?? []));
      url = body["@odata.nextLink"];
    }
    return out;
  }

  const inFilter = (prop: string, ids: string[]) => `${prop} in (${ids.map(odataString).join(",")})`;
  async function chunked<T>(ids: string[], path: (chunk: string[]) => string, permission: string): Promise<T[]> {
    const wanted = [...new Set(ids)].sort();
    const out: T[] = [];
    for (let i = 0; i < wanted.length; i += IN_CHUNK) out.push(...(await list<T>(path(wanted.slice(i, i + IN_CHUNK)), permission)));
    return out;
  }

  return {
    applicationsByAppId: (appIds) =>
      chunked<EntraApplication>(appIds, (c) => `applications?$filter=${encodeURIComponent(inFilter("appId", c))}&$select=${APP_SELECT}`, "Application.Read.All (or Application.ReadWrite.OwnedBy)"),
    groupsById: (ids) =>
      chunked<EntraGroup>(ids, (c) => `groups?$filter=${encodeURIComponent(inFilter("id", c))}&$select=id,displayName`, "GroupMember.Read.All or Group.Read.All"),
  };
}
