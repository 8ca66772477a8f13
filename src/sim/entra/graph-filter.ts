import { GraphError, badRequest, unsupportedQuery } from "./errors.js";
import { isGuid } from "./ids.js";

/**
 * The `$filter` subset of section 3 / 3.1 / 7: `eq`, `ne`, `ge`, `le`, `gt`, `lt`, `in`, `and`, `or`, `not`,
 * `startsWith`, `endsWith`, and `prop/any(x:x eq '…')` lambdas. String comparisons ignore case (errata 9.9);
 * `ne`, `not` and `endsWith` are advanced queries (errata 9.4).
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

type Lit =
  | { kind: "string"; value: string }
  | { kind: "guid"; value: string }
  | { kind: "null" }
  | { kind: "bool"; value: boolean }
  | { kind: "number"; value: number }
  | { kind: "date"; value: string };

type Node =
  | { t: "and" | "or"; a: Node; b: Node }
  | { t: "not"; e: Node }
  | { t: "cmp"; op: "eq" | "ne" | "ge" | "le" | "gt" | "lt"; prop: string; lit: Lit }
  | { t: "in"; prop: string; lits: Lit[] }
  | { t: "fn"; name: "startswith" | "endswith"; prop: string; lit: Lit }
  | { t: "any"; prop: string; v: string; body: Node };

type Tok = { k: "str"; v: string; pos: number } | { k: "word"; v: string; pos: number } | { k: "p"; v: string; pos: number };

const DATE_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})/;

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? "";
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let v = "";
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw syntax(src, i);
        if (src[j] === "'") {
          // 3: a quote inside a string literal is doubled ('O''Brien').
          if (src[j + 1] === "'") {
            v += "'";
            j += 2;
            continue;
          }
          break;
        }
        v += src[j];
        j++;
      }
      out.push({ k: "str", v, pos: i });
      i = j + 1;
      continue;
    }
    if ("(),:/".includes(c)) {
      out.push({ k: "p", v: c, pos: i });
      i++;
      continue;
    }
    const date = DATE_RE.exec(src.slice(i));
    if (date) {
      out.push({ k: "word", v: date[0], pos: i });
      i += date[0].length;
      continue;
    }
    const word = /^[A-Za-z0-9_.+\-$@]+/.exec(src.slice(i));
    if (!word) throw syntax(src, i);
    out.push({ k: "word", v: word[0], pos: i });
    i += word[0].length;
  }
  return out;
}

function syntax(src: string, pos: number): GraphError {
  return badRequest(`Invalid filter clause: Syntax error at position ${pos} in '${src}'.`);
}

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly toks: Tok[],
  ) {}

  parse(): Node {
    const n = this.or();
    if (this.i < this.toks.length) throw syntax(this.src, this.toks[this.i]?.pos ?? this.src.length);
    return n;
  }

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }

  private next(): Tok {
    const t = this.toks[this.i++];
    if (!t) throw syntax(this.src, this.src.length);
    return t;
  }

  private isWord(w: string): boolean {
    const t = this.peek();
    return t?.k === "word" && t.v.toLowerCase() === w;
  }

  private expectP(p: string): void {
    const t = this.next();
    if (t.k !== "p" || t.v !== p) throw syntax(this.src, t.pos);
  }

  private or(): Node {
    let a = this.and();
    while (this.isWord("or")) {
      this.i++;
      a = { t: "or", a, b: this.and() };
    }
    return a;
  }

  private and(): Node {
    let a = this.unary();
    while (this.isWord("and")) {
      this.i++;
      a = { t: "and", a, b: this.unary() };
    }
    return a;
  }

  private unary(): Node {
    if (this.isWord("not")) {
      this.i++;
      return { t: "not", e: this.unary() };
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.next();
    if (t.k === "p" && t.v === "(") {
      const e = this.or();
      this.expectP(")");
      return e;
    }
    if (t.k !== "word") throw syntax(this.src, t.pos);
    const lower = t.v.toLowerCase();
    const after = this.peek();
    if ((lower === "startswith" || lower === "endswith") && after?.k === "p" && after.v === "(") {
      this.i++;
      const prop = this.next();
      if (prop.k !== "word") throw syntax(this.src, prop.pos);
      this.expectP(",");
      const lit = this.literal();
      this.expectP(")");
      return { t: "fn", name: lower, prop: prop.v, lit };
    }
    if (after?.k === "p" && after.v === "/") {
      this.i++;
      const fn = this.next();
      if (fn.k !== "word" || fn.v.toLowerCase() !== "any") throw syntax(this.src, fn.pos);
      this.expectP("(");
      const v = this.next();
      if (v.k !== "word") throw syntax(this.src, v.pos);
      this.expectP(":");
      const body = this.or();
      this.expectP(")");
      return { t: "any", prop: t.v, v: v.v, body };
    }
    const op = this.next();
    if (op.k !== "word") throw syntax(this.src, op.pos);
    const o = op.v.toLowerCase();
    if (o === "in") {
      this.expectP("(");
      const lits: Lit[] = [this.literal()];
      while (this.peek()?.k === "p" && this.peek()?.v === ",") {
        this.i++;
        lits.push(this.literal());
      }
      this.expectP(")");
      return { t: "in", prop: t.v, lits };
    }
    if (o === "eq" || o === "ne" || o === "ge" || o === "le" || o === "gt" || o === "lt")
      return { t: "cmp", op: o, prop: t.v, lit: this.literal() };
    throw syntax(this.src, op.pos);
  }

  private literal(): Lit {
    const t = this.next();
    if (t.k === "str") return { kind: "string", value: t.v };
    if (t.k !== "word") throw syntax(this.src, t.pos);
    const l = t.v.toLowerCase();
    if (l === "null") return { kind: "null" };
    if (l === "true" || l === "false") return { kind: "bool", value: l === "true" };
    if (isGuid(t.v)) return { kind: "guid", value: t.v };
    if (DATE_RE.test(t.v)) return { kind: "date", value: t.v };
    if (/^-?\d+(\.\d+)?$/.test(t.v)) return { kind: "number", value: Number(t.v) };
    throw syntax(this.src, t.pos);
  }
}

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
  const root = new Parser(src, tokenize(src)).parse();
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
