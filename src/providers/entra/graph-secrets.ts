import { Secret } from "../../core/secret.js";
import { UserError } from "../../core/errors.js";
import { GraphRequestError } from "./graph-errors.js";
import { NEW_APP, type GraphCore } from "./graph-http.js";
import { PERM, notFound } from "./graph-call.js";
import type { EntraApplication, NewPassword, PasswordCredential } from "./types.js";

/**
 * Client secrets of an application (spec 3.7, 6): add (not idempotent: recovered after an ambiguous failure),
 * remove (idempotent, errata 9.3), and the read-after-write polls of a rotation. Serialised per app. Part of the
 * Graph client (graph.ts).
 */

export function secretCalls(core: GraphCore, apps: { getApplication(id: string): Promise<EntraApplication> }) {
  const { opts, base, visibility, send, json, seg, isFresh, waitFor, waitUntil, withLock } = core;

  const calls = {
    /**
     * Adds a client secret (spec 3.7). `secretText` comes back once and is wrapped in a Secret at once
     * (registered for redaction). Serialised per app. Not idempotent: after an ambiguous failure (5xx, no
     * response) the app's credentials are re-listed, a credential named `cred.displayName` that started during
     * the failed attempt (Graph's clock, to the second) is removed (its value is lost with the response), and the
     * secret is added again. A credential still replicating when re-listed (spec 3.7) cannot be seen: it is
     * left, and the next plan removes it as a homelab secret not in use.
     */
    async addPassword(id: string, cred: { displayName: string; endDateTime: string }): Promise<NewPassword> {
      return withLock(`app:${id.toLowerCase()}`, async () => {
        const recover = async (window: { from: number; to: number }): Promise<undefined> => {
          const app = await apps.getApplication(id);
          const landed = (app.passwordCredentials ?? []).filter((c) => {
            const start = Date.parse(c.startDateTime);
            return c.displayName === cred.displayName && start >= window.from && start <= window.to;
          });
          // Not through removePassword: this runs inside the app's credential lock.
          for (const c of landed)
            await send({
              method: "POST",
              path: `applications/${seg(id)}/removePassword`,
              body: { keyId: c.keyId },
              safe: true,
              ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
              permission: PERM.writeApps,
              what: `remove client secret ${c.keyId} (added by an attempt whose answer was lost) from application ${id}`,
            });
          return undefined;
        };
        const r = await json<PasswordCredential & { secretText?: string }>({
          method: "POST",
          path: `applications/${seg(id)}/addPassword`,
          body: { passwordCredential: { displayName: cred.displayName, endDateTime: cred.endDateTime } },
          safe: false,
          recover,
          ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `add a client secret '${cred.displayName}' to application ${id}`,
        }).catch((err: unknown) => {
          // Errata 9.6 / spec 6: the tenant's app management policy caps secret lifetimes: a config problem.
          if (err instanceof GraphRequestError && err.graphCode === "CredentialInvalidLifetimeAsPerAppPolicy")
            throw new UserError(`tenant ${opts.tenant} refuses a client secret valid until ${cred.endDateTime}: ${err.message}`, {
              code: "E_SECRET_POLICY",
              hint: "the tenant's app management policy limits secret lifetime: lower realms.<realm>.app.secret.lifetimeDays",
              cause: err,
            });
          throw err;
        });
        if (typeof r.secretText !== "string" || r.secretText === "")
          throw new GraphRequestError({
            service: "graph",
            method: "POST",
            url: `${base}applications/${seg(id)}/addPassword`,
            message: `Graph (tenant ${opts.tenant}): addPassword on application ${id} returned no secretText`,
          });
        const secretText = Secret.fromValue(r.secretText, `entra.secret/${opts.tenant}:${id}:${r.keyId}`);
        delete r.secretText;
        return {
          keyId: r.keyId,
          displayName: r.displayName ?? null,
          hint: r.hint ?? null,
          startDateTime: r.startDateTime,
          endDateTime: r.endDateTime,
          secretText,
        };
      });
    },

    /** Removes a client secret; an unknown keyId is fine (errata 9.3), so it is repeated on 5xx. Serialised per app. */
    async removePassword(id: string, keyId: string): Promise<void> {
      await withLock(`app:${id.toLowerCase()}`, () =>
        send({
          method: "POST",
          path: `applications/${seg(id)}/removePassword`,
          body: { keyId },
          safe: true,
          ...(isFresh(id) ? { lag: notFound, waitFor: waitFor(id, NEW_APP) } : {}),
          permission: PERM.writeApps,
          what: `remove client secret ${keyId} from application ${id}`,
        }),
      );
    },

    /**
     * Waits until the application's `passwordCredentials` shows (`present: true`) or no longer shows `keyId`
     * `visibility.times` reads in a row (spec 6 rotation steps 2 and 4; terraform uses 5). Bounded by
     * `visibility.attempts` reads; each wait is reported through onRetry (reason "not-visible"). Returns the
     * application as the last read showed it.
     */
    async waitForPassword(id: string, keyId: string, present: boolean, v = visibility): Promise<EntraApplication | undefined> {
      const path = `/applications/${id}`;
      const progress = present ? "waiting for Entra to show the new client secret" : "waiting for Entra to drop the old client secret";
      let last: EntraApplication | undefined;
      await waitUntil(`client secret ${keyId} ${present ? "on" : "gone from"} application ${id}`, path, async () => {
        let app: EntraApplication;
        try {
          app = await apps.getApplication(id);
        } catch (err) {
          if (err instanceof GraphRequestError && err.status === 404) return false;
          throw err;
        }
        last = app;
        const has = (app.passwordCredentials ?? []).some((c) => c.keyId.toLowerCase() === keyId.toLowerCase());
        return has === present;
      }, v, progress);
      return last;
    },
  };
  return calls;
}
