// Username claims: which ones let a user id be named before the first login or looked up in Graph (split out of check.ts, issue 12).

import { graphClaimKey } from "../core/desired.js";
import { closest } from "./suggest.js";

/** Username claims whose value Entra computes per app and cannot be known before a first login (spec entra 5.2). */
export const UNKNOWABLE_CLAIMS: ReadonlySet<string> = new Set(["sub", "subject"]);

/**
 * Username claims of an Entra ID token whose value is the name a person writes before the `@realm` of a
 * user id: `upn`, `email`, `preferred_username` (usually the UPN), and `username`, which Entra does not
 * issue, so Proxmox falls back to `preferred_username` (access API 4.6). With any other claim (`oid`, `sub`,
 * a made-up one) the name is not the person's sign-in name, so a user created in advance never matches.
 */
const READABLE_CLAIMS = ["upn", "email", "preferred_username", "username"];

/** An Entra object id as tokens carry it in `oid`: a GUID in lower case. */
const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Why a user named `name` in a tenant realm could not be created before the person's first login, given
 * the realm's username claim, or undefined when Proxmox will give the login exactly that name. The message
 * part is appended to "... is named before its first login".
 */
export function claimTrouble(claim: string, name: string): { message: string; hint: string } | undefined {
  if (READABLE_CLAIMS.includes(claim)) return undefined;
  const readable = "Set `usernameClaim: upn` (or `email`, `preferred_username`) so user ids are sign-in names and can be created in advance";
  if (UNKNOWABLE_CLAIMS.has(claim)) {
    return { message: "", hint: `Entra's \`sub\` is pairwise: a random value per user and app, unknown until the person logs in. ${readable}` };
  }
  if (claim === "oid") {
    if (OBJECT_ID.test(name)) return undefined;
    const upper = OBJECT_ID.test(name.toLowerCase());
    return {
      message: upper ? ", and its object id is written in capitals" : ", and is not named by an Entra object id",
      hint: upper
        ? "Entra ID tokens carry `oid` in lower case, and Proxmox user ids are case-sensitive: write the object id in lower case"
        : `with \`oid\`, Proxmox names each person by their Entra object id (a GUID such as \`0a1b2c3d-...@realm\`): write the Object ID shown in the Entra admin center as the name, or ${readable.charAt(0).toLowerCase()}${readable.slice(1)}`,
    };
  }
  const guess = closest(claim, READABLE_CLAIMS);
  return {
    message: `; homelab cannot know that claim's value in advance${guess ? ` (did you mean \`${guess}\`?)` : ""}`,
    hint: `Proxmox names each person by the value of the \`${claim}\` claim in their Entra ID token, which a user id in the file cannot be matched against (an Entra token without that claim even fails the login). ${readable}`,
  };
}

/**
 * Why Graph cannot tell which Proxmox user id a person gets in a realm with this username claim (members sync,
 * leavers; issue 13), or undefined when it can: `upn`, `email` and `oid` are the user's `userPrincipalName`, `mail`
 * and `id`. The message part follows "realm `x` ".
 */
export function graphClaimTrouble(claim: string | undefined): { message: string; hint: string } | undefined {
  if (graphClaimKey(claim) !== undefined) return undefined;
  const shown = claim === undefined || claim === "subject" ? "sub" : claim;
  const why = UNKNOWABLE_CLAIMS.has(shown)
    ? "Entra's `sub` is pairwise (a random value per user and app), unknown until the person signs in"
    : `homelab cannot read the \`${shown}\` claim's value from Microsoft Graph`;
  return {
    message: `uses the \`${shown}\` claim${claim === undefined ? " (the default)" : ""}`,
    hint: `${why}: set \`usernameClaim: upn\` (or \`email\`, \`oid\`), whose values are the user's userPrincipalName, mail and object id in Graph`,
  };
}
