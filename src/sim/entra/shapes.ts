import { graphDate } from "./ids.js";

/**
 * Payload templates copied from the documented responses (3.3 create application, 3.8 create service principal,
 * 3.9 app role assignment, 3.11 users/groups). Keep them as data: the simulator adds no behaviour here.
 */

export type Json = Record<string, unknown>;

export function applicationTemplate(id: string, appId: string, created: Date, publisherDomain: string): Json {
  return {
    id,
    deletedDateTime: null,
    appId,
    applicationTemplateId: null,
    disabledByMicrosoftStatus: null,
    createdDateTime: graphDate(created),
    displayName: null,
    description: null,
    groupMembershipClaims: null,
    identifierUris: [],
    isDeviceOnlyAuthSupported: null,
    isFallbackPublicClient: null,
    nativeAuthenticationApisEnabled: null,
    notes: null,
    publisherDomain,
    serviceManagementReference: null,
    // Errata 9.9: signInAudience defaults to AzureADMyOrg.
    signInAudience: "AzureADMyOrg",
    tags: [],
    tokenEncryptionKeyId: null,
    uniqueName: null,
    samlMetadataUrl: null,
    defaultRedirectUri: null,
    certification: null,
    optionalClaims: null,
    servicePrincipalLockConfiguration: null,
    requestSignatureVerification: null,
    addIns: [],
    api: {
      acceptMappedClaims: null,
      knownClientApplications: [],
      requestedAccessTokenVersion: null,
      oauth2PermissionScopes: [],
      preAuthorizedApplications: [],
    },
    appRoles: [],
    info: { logoUrl: null, marketingUrl: null, privacyStatementUrl: null, supportUrl: null, termsOfServiceUrl: null },
    keyCredentials: [],
    parentalControlSettings: { countriesBlockedForMinors: [], legalAgeGroupRule: "Allow" },
    passwordCredentials: [],
    publicClient: { redirectUris: [] },
    requiredResourceAccess: [],
    verifiedPublisher: { displayName: null, verifiedPublisherId: null, addedDateTime: null },
    web: {
      homePageUrl: null,
      logoutUrl: null,
      redirectUris: [],
      implicitGrantSettings: { enableAccessTokenIssuance: false, enableIdTokenIssuance: false },
      redirectUriSettings: [],
    },
    spa: { redirectUris: [] },
  };
}

/** A service principal as created from its application (3.8): names, tags, roles and reply URLs copied over. */
export function servicePrincipalTemplate(id: string, app: Json, tenantId: string, publisherName: string): Json {
  const web = (app.web ?? {}) as Json;
  const api = (app.api ?? {}) as Json;
  return {
    id,
    deletedDateTime: null,
    accountEnabled: true,
    alternativeNames: [],
    appDisplayName: app.displayName ?? null,
    appDescription: null,
    appId: app.appId,
    applicationTemplateId: null,
    appOwnerOrganizationId: tenantId,
    appRoleAssignmentRequired: false,
    description: null,
    disabledByMicrosoftStatus: null,
    displayName: app.displayName ?? null,
    homepage: web.homePageUrl ?? null,
    loginUrl: null,
    logoutUrl: web.logoutUrl ?? null,
    notes: null,
    notificationEmailAddresses: [],
    preferredSingleSignOnMode: null,
    preferredTokenSigningKeyThumbprint: null,
    replyUrls: structuredClone(web.redirectUris ?? []),
    servicePrincipalNames: [app.appId],
    servicePrincipalType: "Application",
    signInAudience: app.signInAudience ?? "AzureADMyOrg",
    tags: structuredClone(app.tags ?? []),
    tokenEncryptionKeyId: null,
    samlSingleSignOnSettings: null,
    addIns: [],
    appRoles: structuredClone(app.appRoles ?? []),
    info: structuredClone(app.info ?? {}),
    keyCredentials: [],
    oauth2PermissionScopes: structuredClone(api.oauth2PermissionScopes ?? []),
    passwordCredentials: [],
    resourceSpecificApplicationPermissions: [],
    verifiedPublisher: { displayName: null, verifiedPublisherId: null, addedDateTime: null },
    publisherName,
  };
}

export function userTemplate(u: { id: string; displayName: string; userPrincipalName: string; mail?: string; givenName?: string; surname?: string }): Json {
  return {
    businessPhones: [],
    displayName: u.displayName,
    givenName: u.givenName ?? null,
    jobTitle: null,
    mail: u.mail ?? null,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
    surname: u.surname ?? null,
    userPrincipalName: u.userPrincipalName,
    id: u.id,
  };
}

export function groupTemplate(g: { id: string; displayName: string; description?: string }, created: Date): Json {
  return {
    id: g.id,
    deletedDateTime: null,
    classification: null,
    createdDateTime: graphDate(created),
    creationOptions: [],
    description: g.description ?? null,
    displayName: g.displayName,
    expirationDateTime: null,
    groupTypes: [],
    isAssignableToRole: null,
    mail: null,
    mailEnabled: false,
    mailNickname: g.displayName.replace(/[^A-Za-z0-9]/g, "").toLowerCase() || "group",
    membershipRule: null,
    membershipRuleProcessingState: null,
    preferredDataLocation: null,
    preferredLanguage: null,
    proxyAddresses: [],
    renewedDateTime: graphDate(created),
    resourceBehaviorOptions: [],
    resourceProvisioningOptions: [],
    securityEnabled: true,
    securityIdentifier: null,
    theme: null,
    visibility: null,
    onPremisesSyncEnabled: null,
  };
}

/** Microsoft Graph's own service principal, whose appRoles are the application permissions of 1.2. */
export function graphServicePrincipal(id: string, tenantId: string, roles: Record<string, string>): Json {
  const app: Json = { appId: "00000003-0000-0000-c000-000000000000", displayName: "Microsoft Graph", signInAudience: "AzureADMultipleOrgs" };
  const sp = servicePrincipalTemplate(id, app, tenantId, "Microsoft Services");
  sp.appOwnerOrganizationId = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
  sp.servicePrincipalNames = ["00000003-0000-0000-c000-000000000000", "https://graph.microsoft.com"];
  sp.appRoles = Object.entries(roles).map(([value, roleId]) => ({
    allowedMemberTypes: ["Application"],
    description: value,
    displayName: value,
    id: roleId,
    isEnabled: true,
    origin: "Application",
    value,
  }));
  return sp;
}
