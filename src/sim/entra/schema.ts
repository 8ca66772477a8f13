import { badRequest } from "./errors.js";
import { isGuid } from "./ids.js";

/**
 * The writable shape of the Graph types homelab sends, for errata 9.8: unknown properties are 400
 * "The property 'x' does not exist on type 'microsoft.graph.…'", bad values 400 "Invalid value specified for
 * property 'x' of resource 'Application'". Property lists from the v1.0 resource docs (Graph types), trimmed to
 * the properties that exist on the live types.
 */

type Kind =
  | "string"
  | "bool"
  | "int"
  | "guid"
  | "date"
  | "strings"
  | "any"
  | "readonly"
  | { object: TypeDef }
  | { array: TypeDef }
  | { check: (v: unknown) => boolean };

export interface TypeDef {
  /** OData type name without namespace, e.g. "webApplication". */
  name: string;
  fields: Record<string, Kind>;
}

const strOrNull = (v: unknown): boolean => v === null || typeof v === "string";

const implicitGrantSettings: TypeDef = {
  name: "implicitGrantSettings",
  fields: { enableAccessTokenIssuance: "bool", enableIdTokenIssuance: "bool" },
};

/** 3.3: https only (http only for localhost), ≤ 256 characters, none of ! $ ' ( ) , ; */
function redirectUriOk(v: unknown): boolean {
  if (typeof v !== "string" || v.length === 0 || v.length > 256 || /[!$'(),;]/.test(v)) return false;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  if (u.protocol === "https:") return true;
  return u.protocol === "http:" && (u.hostname === "localhost" || u.hostname === "127.0.0.1" || u.hostname === "[::1]");
}
const redirectUris: Kind = { check: (v) => Array.isArray(v) && v.every(redirectUriOk) };

const webApplication: TypeDef = {
  name: "webApplication",
  fields: {
    homePageUrl: "string",
    implicitGrantSettings: { object: implicitGrantSettings },
    logoutUrl: "string",
    redirectUris,
    redirectUriSettings: "any",
  },
};

const optionalClaim: TypeDef = {
  name: "optionalClaim",
  fields: { additionalProperties: "strings", essential: "bool", name: "string", source: "string" },
};

const optionalClaims: TypeDef = {
  name: "optionalClaims",
  fields: {
    accessToken: { array: optionalClaim },
    idToken: { array: optionalClaim },
    saml2Token: { array: optionalClaim },
  },
};

const resourceAccess: TypeDef = {
  name: "resourceAccess",
  fields: { id: "guid", type: { check: (v) => v === "Scope" || v === "Role" } },
};

const requiredResourceAccess: TypeDef = {
  name: "requiredResourceAccess",
  fields: { resourceAccess: { array: resourceAccess }, resourceAppId: "string" },
};

const redirectOnly = (name: string): TypeDef => ({ name, fields: { redirectUris } });

const apiApplication: TypeDef = {
  name: "apiApplication",
  fields: {
    acceptMappedClaims: "bool",
    knownClientApplications: "strings",
    oauth2PermissionScopes: "any",
    preAuthorizedApplications: "any",
    requestedAccessTokenVersion: "int",
  },
};

const informationalUrl: TypeDef = {
  name: "informationalUrl",
  fields: {
    logoUrl: "readonly",
    marketingUrl: "string",
    privacyStatementUrl: "string",
    supportUrl: "string",
    termsOfServiceUrl: "string",
  },
};

const parentalControlSettings: TypeDef = {
  name: "parentalControlSettings",
  fields: { countriesBlockedForMinors: "strings", legalAgeGroupRule: "string" },
};

const appRole: TypeDef = {
  name: "appRole",
  fields: {
    allowedMemberTypes: "strings",
    description: "string",
    displayName: "string",
    id: "guid",
    isEnabled: "bool",
    origin: "string",
    value: "string",
  },
};

export const passwordCredentialType: TypeDef = {
  name: "passwordCredential",
  fields: {
    customKeyIdentifier: "any",
    displayName: "string",
    endDateTime: "date",
    hint: "any",
    keyId: "any",
    secretText: "any",
    startDateTime: "date",
  },
};

const keyCredential: TypeDef = {
  name: "keyCredential",
  fields: {
    customKeyIdentifier: "any",
    displayName: "string",
    endDateTime: "date",
    key: "string",
    keyId: "guid",
    startDateTime: "date",
    type: { check: (v) => v === "AsymmetricX509Cert" || v === "X509CertAndPassword" || v === "Symmetric" },
    usage: { check: (v) => v === "Verify" || v === "Sign" },
  },
};

const SIGN_IN_AUDIENCES = ["AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"];
const GROUP_CLAIMS = ["none", "securitygroup", "directoryrole", "applicationgroup", "all", "distributionlist"];

export const applicationType: TypeDef = {
  name: "application",
  fields: {
    addIns: "any",
    api: { object: apiApplication },
    appId: "readonly",
    applicationTemplateId: "readonly",
    appRoles: { array: appRole },
    authenticationBehaviors: "any",
    certification: "readonly",
    createdDateTime: "readonly",
    defaultRedirectUri: "string",
    deletedDateTime: "readonly",
    description: "string",
    disabledByMicrosoftStatus: "readonly",
    displayName: "string",
    // 3.3: one value or a comma-separated list ("SecurityGroup,ApplicationGroup").
    groupMembershipClaims: {
      check: (v) => v === null || (typeof v === "string" && v.split(",").every((p) => GROUP_CLAIMS.includes(p.trim().toLowerCase()))),
    },
    id: "readonly",
    identifierUris: "strings",
    info: { object: informationalUrl },
    isDeviceOnlyAuthSupported: "bool",
    isFallbackPublicClient: "bool",
    keyCredentials: { array: keyCredential },
    logo: "any",
    nativeAuthenticationApisEnabled: "string",
    notes: "string",
    oauth2RequirePostResponse: "bool",
    optionalClaims: { object: optionalClaims },
    parentalControlSettings: { object: parentalControlSettings },
    passwordCredentials: { array: passwordCredentialType },
    publicClient: { object: redirectOnly("publicClientApplication") },
    publisherDomain: "readonly",
    requestSignatureVerification: "any",
    requiredResourceAccess: { array: requiredResourceAccess },
    samlMetadataUrl: "string",
    serviceManagementReference: "string",
    servicePrincipalLockConfiguration: "any",
    signInAudience: { check: (v) => typeof v === "string" && SIGN_IN_AUDIENCES.includes(v) },
    spa: { object: redirectOnly("spaApplication") },
    tags: "strings",
    tokenEncryptionKeyId: "string",
    uniqueName: "string",
    verifiedPublisher: "readonly",
    web: { object: webApplication },
  },
};

export const servicePrincipalType: TypeDef = {
  name: "servicePrincipal",
  fields: {
    accountEnabled: "bool",
    addIns: "any",
    alternativeNames: "strings",
    appDescription: "string",
    appDisplayName: "readonly",
    appId: "string",
    applicationTemplateId: "readonly",
    appOwnerOrganizationId: "readonly",
    appRoleAssignmentRequired: "bool",
    appRoles: { array: appRole },
    customSecurityAttributes: "any",
    deletedDateTime: "readonly",
    description: "string",
    disabledByMicrosoftStatus: "readonly",
    displayName: "string",
    homepage: "string",
    id: "readonly",
    info: { object: informationalUrl },
    keyCredentials: "any",
    loginUrl: "string",
    logoutUrl: "string",
    notes: "string",
    notificationEmailAddresses: "strings",
    oauth2PermissionScopes: "any",
    passwordCredentials: { array: passwordCredentialType },
    preferredSingleSignOnMode: "string",
    preferredTokenSigningKeyThumbprint: "string",
    replyUrls: "strings",
    resourceSpecificApplicationPermissions: "readonly",
    samlSingleSignOnSettings: "any",
    servicePrincipalNames: "strings",
    servicePrincipalType: "string",
    signInAudience: "readonly",
    tags: "strings",
    tokenEncryptionKeyId: "string",
    verifiedPublisher: "readonly",
  },
};

export const appRoleAssignmentType: TypeDef = {
  name: "appRoleAssignment",
  fields: {
    appRoleId: "guid",
    createdDateTime: "any",
    deletedDateTime: "any",
    id: "any",
    principalDisplayName: "any",
    principalId: "guid",
    principalType: "any",
    resourceDisplayName: "any",
    resourceId: "guid",
  },
};

/** Read-side property names (for $select), per collection. */
export const SELECTABLE: Record<string, ReadonlySet<string>> = {
  applications: new Set(Object.keys(applicationType.fields)),
  servicePrincipals: new Set(Object.keys(servicePrincipalType.fields)),
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kindOk(kind: Kind, v: unknown, path: string, nestedUnknown: (p: string, t: TypeDef) => never): boolean {
  switch (kind) {
    case "any":
    case "readonly":
      return true;
    case "string":
      return strOrNull(v);
    case "bool":
      return v === null || typeof v === "boolean";
    case "int":
      return v === null || Number.isInteger(v);
    case "guid":
      return typeof v === "string" && isGuid(v);
    case "date":
      return v === null || (typeof v === "string" && !Number.isNaN(Date.parse(v)));
    case "strings":
      return Array.isArray(v) && v.every((s) => typeof s === "string");
    default:
      if ("check" in kind) return kind.check(v);
      if ("object" in kind) {
        if (v === null) return true;
        if (!isPlainObject(v)) return false;
        return objectOk(kind.object, v, path, nestedUnknown);
      }
      if (!Array.isArray(v)) return false;
      return v.every((item) => isPlainObject(item) && objectOk(kind.array, item, path, nestedUnknown));
  }
}

function objectOk(t: TypeDef, v: Record<string, unknown>, path: string, nestedUnknown: (p: string, t: TypeDef) => never): boolean {
  for (const [k, val] of Object.entries(v)) {
    if (k.startsWith("@odata.")) continue;
    const kind = t.fields[k];
    if (kind === undefined) return nestedUnknown(k, t);
    if (!kindOk(kind, val, `${path}.${k}`, nestedUnknown)) return false;
  }
  return true;
}

const unknownProperty = (prop: string, t: TypeDef): never => {
  throw badRequest(
    `The property '${prop}' does not exist on type 'microsoft.graph.${t.name}'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
  );
};

/**
 * Validates a create or PATCH body against `t` (errata 9.8). `binds` are the allowed `x@odata.bind` navigation
 * names. Read-only properties are refused (`Property 'appId' is read-only and cannot be set.` [U: message]).
 */
export function validateBody(
  t: TypeDef,
  resource: string,
  body: Record<string, unknown>,
  opts: { binds?: string[]; allowReadOnly?: string[] } = {},
): void {
  for (const [k, v] of Object.entries(body)) {
    if (k.startsWith("@odata.")) continue;
    const at = k.indexOf("@odata.bind");
    if (at > 0) {
      if (!(opts.binds ?? []).includes(k.slice(0, at))) unknownProperty(k.slice(0, at), t);
      continue;
    }
    const kind = t.fields[k];
    if (kind === undefined) return unknownProperty(k, t);
    if (kind === "readonly" && !(opts.allowReadOnly ?? []).includes(k))
      throw badRequest(`Property '${k}' is read-only and cannot be set.`);
    if (!kindOk(kind, v, k, unknownProperty))
      throw badRequest(`Invalid value specified for property '${k}' of resource '${resource}'.`);
  }
}

/**
 * PATCH semantics (errata 9.9): nested objects are merged, collections (and scalars) replaced whole.
 */
export function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (k.includes("@odata.")) continue;
    const cur = target[k];
    if (isPlainObject(v) && isPlainObject(cur)) mergePatch(cur, v);
    else target[k] = structuredClone(v);
  }
}
