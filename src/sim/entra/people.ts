import type { EntraFixtureUser } from "./types.js";

/**
 * People for the sign-in test matrix (issue 11): a B2B guest, a disabled account and a member of more than 200
 * groups, in the simulator's default tenant domain. Add them to a fixture's `users` (`homelab sim` and `demo` do,
 * next to their own). Their password is DEFAULT_USER_PASSWORD unless a fixture says otherwise.
 */

const DOMAIN = "homelabsim.onmicrosoft.com"; // = DEFAULT_TENANT_DOMAIN (index.ts)

/** A guest invited from example.com: UPN `jane_example.com#EXT#@<tenant domain>`, signs in as jane@example.com. */
export const GUEST_UPN = `jane_example.com#EXT#@${DOMAIN}`;
/** `accountEnabled: false`: sign-in is refused with AADSTS50057. */
export const DISABLED_UPN = `disabled.user@${DOMAIN}`;
/** A direct member of 205 generated security groups: the groups claim overflows (5.3). */
export const MANY_GROUPS_UPN = `many.groups@${DOMAIN}`;

export const SIGN_IN_USERS: EntraFixtureUser[] = [
  { displayName: "Jane Guest", userPrincipalName: GUEST_UPN, mail: "jane@example.com", givenName: "Jane", surname: "Guest", userType: "Guest" },
  { displayName: "Disabled User", userPrincipalName: DISABLED_UPN, mail: DISABLED_UPN, accountEnabled: false },
  { displayName: "Many Groups", userPrincipalName: MANY_GROUPS_UPN, mail: MANY_GROUPS_UPN, generatedGroups: 205 },
];
