import { GraphError, badRequest } from "./errors.js";
import { isGuid } from "./ids.js";

/**
 * The `$filter` tokenizer and parser (section 3 / 3.1 / 7), split out of graph-filter.ts (issue 12): text to
 * a syntax tree, with the live service's "Syntax error at position N" for text it cannot read. What a
 * collection allows and how a tree is evaluated are in graph-filter.ts.
 */

export type Lit =
  | { kind: "string"; value: string }
  | { kind: "guid"; value: string }
  | { kind: "null" }
  | { kind: "bool"; value: boolean }
  | { kind: "number"; value: number }
  | { kind: "date"; value: string };

export type Node =
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

/** The syntax tree of a `$filter` text; throws the live service's 400 syntax error for text it cannot read. */
export function parseFilter(src: string): Node {
  return new Parser(src, tokenize(src)).parse();
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
