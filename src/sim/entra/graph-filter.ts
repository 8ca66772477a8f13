import { GraphError, badRequest, unsupportedQuery } from "./errors.js";
import { parseFilter, type Lit, type Node } from "./graph-filter-parse.js";

/**
 * The `$filter` subset of section 3 / 3.1 / 7: `eq`, `ne`, `ge`, `le`, `gt`, `lt`, `in`, `and`, `or`, `not`,
 * `startsWith`, `endsWith`, and `prop/any(x:x eq '…')` lambdas. String comparisons ignore case (errata 9.9);
 * `ne`, `not` and `endsWith` are advanced queries (errata 9.4). The text is parsed in graph-filter-parse.ts;
 * this file holds what each collection allows, the static checks and the evaluation.
 */

type PropType = "string" | "bool" | "date" | "strings";
type Op = "eq" | "ne" | "ge" | "le" | "gt" | "lt" | "in" | "startswith" | "endswith" | "any" | "not";

export interface FilterSpec {
  /** Resource name used in error messages ("Application"). */
  resource: string;
  props: Record<string, { type: PropType; ops: Op[] }>;
}

const DN: { type: PropType; ops: Op[] } = { type: "string", ops: ["eq", "ne", "not", "ge", "le", "in", "startswith", "endswith"] };
const KEY: { type: PropType; ops: Op[] } = { type: "string", ops: ["eq", "ne", "not", "in"] };

export const FILTERS: Record<string, FilterSpec> = {
  applications: {
    resource: "Application",
    props: {
      appId: KEY,
      id: KEY,
      displayName: DN,
      tags: { type: "strings", ops: ["any", "not", "startswith", "eq", "ge", "le"] },
      identifierUris: { type: "strings", ops: ["any", "not", "startswith", "eq"] },
      signInAudience: { type: "string", ops: ["eq", "ne", "not", "in"] },
      createdDateTime: { type: "date", ops: ["eq", "ne", "not", "ge", "le", "gt", "lt", "in"] },
      uniqueName: KEY,
      publisherDomain: KEY,
    },
  },
  servicePrincipals: {
    resource: "ServicePrincipal",
    props: {
      appId: KEY,
      id: KEY,
      displayName: DN,
      tags: { type: "strings", ops: ["any", "not", "startswith", "eq", "ge", "le"] },
      servicePrincipalNames: { type: "strings", ops: ["any", "not", "startswith", "eq"] },
      accountEnabled: { type: "bool", ops: ["eq", "ne", "not"] },
      servicePrincipalType: KEY,
      appOwnerOrganizationId: KEY,
    },
  },
  groups: {
    resource: "Group",
    props: {
      id: KEY,
      displayName: DN,
      mailNickname: DN,
      mail: DN,
      securityEnabled: { type: "bool", ops: ["eq", "ne", "not"] },
      mailEnabled: { type: "bool", ops: ["eq", "ne", "not"] },
      groupTypes: { type: "strings", ops: ["any", "not", "eq"] },
    },
  },
  users: {
    resource: "User",
    props: {
      id: KEY,
      displayName: DN,
      userPrincipalName: DN,
      mail: DN,
      givenName: DN,
      surname: DN,
      accountEnabled: { type: "bool", ops: ["eq", "ne", "not"] },
      userType: { type: "string", ops: ["eq", "ne", "not", "in"] },
    },
  },
  /** Mixed member collections (`/groups/{id}/members`): properties every member type has. */
  directoryObjects: {
    resource: "DirectoryObject",
    props: { id: KEY, displayName: DN },
  },
  appRoleAssignments: {
    resource: "AppRoleAssignment",
    props: { principalId: KEY, resourceId: KEY, appRoleId: KEY },
  },
};

export interface CompiledFilter {
  test(obj: Record<string, unknown>): boolean;
}

const EDM: Record<Lit["kind"], string> = {
  string: "Edm.String",
  guid: "Edm.Guid",
  null: "null",
  bool: "Edm.Boolean",
  number: "Edm.Int32",
  date: "Edm.DateTimeOffset",
};
const OP_KIND: Record<string, string> = { eq: "Equal", ne: "NotEqual", ge: "GreaterThanOrEqual", le: "LessThanOrEqual", gt: "GreaterThan", lt: "LessThan" };

/**
 * Parses and checks a `$filter` against a collection's filterable properties. `advanced` = the request carries
 * `ConsistencyLevel: eventual` and `$count=true` (3, errata 9.4).
 */
export function compileFilter(src: string, spec: FilterSpec, advanced: boolean): CompiledFilter {
  const root = parseFilter(src);
  const unsupported = (prop: string): GraphError =>
    unsupportedQuery(`Unsupported or invalid query filter clause specified for property '${prop}' of resource '${spec.resource}'.`);
  const needAdvanced = (op: string): void => {
    if (!advanced)
      throw unsupportedQuery(
        `Operator '${op}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information`,
      );
  };
  const propOf = (name: string): { type: PropType; ops: Op[] } => {
    const p = spec.props[name];
    if (!p) throw unsupported(name);
    return p;
  };
  const typeCheck = (type: PropType | "element", lit: Lit, op: string): void => {
    const want = type === "bool" ? "bool" : type === "date" ? "date" : "string";
    if (lit.kind === "null" || lit.kind === want) return;
    // Errata 9.9: an unquoted GUID against a string property is a type error.
    const left = type === "bool" ? "Edm.Boolean" : type === "date" ? "Edm.DateTimeOffset" : "Edm.String";
    throw badRequest(
      `Invalid filter clause: A binary operator with incompatible types was detected. Found operand types '${left}' and '${EDM[lit.kind]}' for operator kind '${OP_KIND[op] ?? "Equal"}'.`,
    );
  };

  // Static checks, then a closure for evaluation.
  const check = (n: Node, lambdaVar?: string, lambdaProp?: string): void => {
    switch (n.t) {
      case "and":
      case "or":
        check(n.a, lambdaVar, lambdaProp);
        check(n.b, lambdaVar, lambdaProp);
        return;
      case "not":
        needAdvanced("not");
        check(n.e, lambdaVar, lambdaProp);
        return;
      case "any": {
        const p = propOf(n.prop);
        if (p.type !== "strings" || !p.ops.includes("any")) throw unsupported(n.prop);
        check(n.body, n.v, n.prop);
        return;
      }
      case "cmp":
      case "in":
      case "fn": {
        const isVar = lambdaVar !== undefined && n.prop === lambdaVar;
        const owner = isVar ? (lambdaProp ?? n.prop) : n.prop;
        const p = propOf(owner);
        if (!isVar && p.type === "strings") throw unsupported(owner);
        const op = n.t === "cmp" ? n.op : n.t === "in" ? "in" : n.name;
        if (op === "ne" || op === "endswith") needAdvanced(op === "ne" ? "ne" : "endsWith");
        if (!isVar && !p.ops.includes(op)) throw unsupported(owner);
        if (isVar && !["eq", "startswith", "ge", "le"].includes(op)) throw unsupported(owner);
        const t = isVar ? "element" : p.type;
        if (n.t === "in") n.lits.forEach((l) => typeCheck(t, l, "eq"));
        else typeCheck(t, n.lit, n.t === "cmp" ? n.op : "eq");
        return;
      }
    }
  };
  check(root);
  // "the in operator ... is limited to 15 expressions in the filter clause by default" (Graph docs, filter query
  // parameter); `in` is expanded into `or`-ed expressions, which is what the live service's message counts [S].
  // Advanced queries are limited by URL length (2,048 characters) instead, not checked here [U].
  const clauses = countClauses(root);
  if (!advanced && clauses > MAX_CLAUSES)
    throw unsupportedQuery(`Too many child clauses specified in search filter expression containing 'OR' operators: ${clauses}. Max allowed: ${MAX_CLAUSES}.`);

  const litValue = (l: Lit): unknown => (l.kind === "null" ? null : l.value);
  const cmp = (actual: unknown, op: string, lit: Lit): boolean => {
    const expected = litValue(lit);
    if (expected === null) return op === "eq" ? actual == null : op === "ne" ? actual != null : false;
    if (actual == null) return op === "ne";
    if (lit.kind === "date") {
      const a = Date.parse(String(actual));
      const b = Date.parse(String(expected));
      return ordered(a < b ? -1 : a > b ? 1 : 0, op);
    }
    if (typeof expected === "string") {
      const a = String(actual).toLowerCase();
      const b = expected.toLowerCase();
      return ordered(a < b ? -1 : a > b ? 1 : 0, op);
    }
    return ordered(actual === expected ? 0 : 1, op);
  };
  const evaluate = (n: Node, obj: Record<string, unknown>, env: Map<string, unknown>): boolean => {
    const value = (prop: string): unknown => (env.has(prop) ? env.get(prop) : obj[prop]);
    switch (n.t) {
      case "and":
        return evaluate(n.a, obj, env) && evaluate(n.b, obj, env);
      case "or":
        return evaluate(n.a, obj, env) || evaluate(n.b, obj, env);
      case "not":
        return !evaluate(n.e, obj, env);
      case "any": {
        const coll = obj[n.prop];
        if (!Array.isArray(coll)) return false;
        return coll.some((el) => evaluate(n.body, obj, new Map(env).set(n.v, el)));
      }
      case "cmp":
        return cmp(value(n.prop), n.op, n.lit);
      case "in":
        return n.lits.some((l) => cmp(value(n.prop), "eq", l));
      case "fn": {
        const v = value(n.prop);
        const s = litValue(n.lit);
        if (typeof v !== "string" || typeof s !== "string") return false;
        return n.name === "startswith" ? v.toLowerCase().startsWith(s.toLowerCase()) : v.toLowerCase().endsWith(s.toLowerCase());
      }
    }
  };
  return { test: (obj) => evaluate(root, obj, new Map()) };
}

const MAX_CLAUSES = 15;

function countClauses(n: Node): number {
  switch (n.t) {
    case "and":
    case "or":
      return countClauses(n.a) + countClauses(n.b);
    case "not":
      return countClauses(n.e);
    case "any":
      return countClauses(n.body);
    case "in":
      return n.lits.length;
    default:
      return 1;
  }
}

function ordered(c: number, op: string): boolean {
  switch (op) {
    case "eq":
      return c === 0;
    case "ne":
      return c !== 0;
    case "ge":
      return c >= 0;
    case "le":
      return c <= 0;
    case "gt":
      return c > 0;
    case "lt":
      return c < 0;
    default:
      return false;
  }
}
