/**
 * Error envelopes. Graph uses the OData envelope of 4.1; the token endpoint its own flat one (1.1, 4.2).
 * Handlers throw these; the server turns them into responses.
 */

export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class TokenError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    readonly description: string,
  ) {
    super(`AADSTS${aadsts}: ${description}`);
  }
}

export const notFound = (id: string): GraphError =>
  new GraphError(
    404,
    "Request_ResourceNotFound",
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );

export const denied = (): GraphError =>
  new GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");

export const badRequest = (message: string): GraphError => new GraphError(400, "Request_BadRequest", message);

export const unsupportedQuery = (message: string): GraphError => new GraphError(400, "Request_UnsupportedQuery", message);

/** Errata 9.8: a malformed object id. */
export const invalidObjectId = (id: string): GraphError => badRequest(`Invalid object identifier '${id}'.`);
