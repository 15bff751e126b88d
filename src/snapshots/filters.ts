/**
 * containerd's filter language (pure), as List requests carry it:
 *   selectors := selector ("," selector)*      every selector must match
 *   selector  := fieldpath [("==" | "!=" | "~=") value]   no operator: the field is present
 *   fieldpath := field ("." field)*            field: [A-Za-z0-9_]+ or a "quoted" string
 *   value     := quoted | [^\s,]+              quoted: Go string syntax; `~=` also takes /re/ and |re|
 * Several filter strings match when any of them does; none matches everything. The scanner
 * follows containerd's own (its quirks included: a space before a "," is an error), because a
 * filter that containerd accepts must select the same snapshots here.
 */
import { InvalidArgumentError } from '../errors';
import type { SnapshotInfo } from '../core/snapshots';

type Operator = 'present' | '==' | '!=' | '~=';

interface Selector {
  fieldpath: string[];
  operator: Operator;
  value: string;
  re?: RegExp | null;
}

/** A Filter is a parsed filter string: all of its selectors. */
export type Filter = Selector[];

const QUOTES = new Set(['"', '/', '|']);
const isSpace = (c: string) => /^\s$/u.test(c);
const isField = (c: string) => /^[A-Za-z0-9_]$/.test(c);
const isOperator = (c: string) => c === '=' || c === '!' || c === '~';
// Letters, digits, marks, punctuation, symbols: Go's IsGraphic/IsPunct, bar spaces and ','.
const isValue = (c: string) => c !== ',' && !isSpace(c) && /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(c);

type Token = { kind: 'eof' | 'quoted' | 'value' | 'field' | 'separator' | 'operator' | 'other'; text: string; pos: number };

class Scanner {
  readonly #chars: string[];
  #pos = 0;
  #valueNext = false;

  constructor(readonly input: string) {
    this.#chars = [...input];
    if (this.#chars.includes('\u0000')) this.fail(this.#chars.indexOf('\u0000'), 'unexpected null');
  }

  get position(): number {
    return this.#pos;
  }

  peek(): string | undefined {
    return this.#chars[this.#pos];
  }

  scan(): Token {
    while (this.peek() !== undefined && isSpace(this.peek()!)) this.#pos++;
    const pos = this.#pos;
    const c = this.#chars[this.#pos++];
    if (c === undefined) return { kind: 'eof', text: '', pos };
    if (QUOTES.has(c)) return { kind: 'quoted', text: this.#quoted(c, pos), pos };
    if (c === ',' || c === '.') {
      this.#valueNext = false;
      return { kind: 'separator', text: c, pos };
    }
    if (isOperator(c)) {
      while (this.peek() !== undefined && isOperator(this.peek()!)) this.#pos++;
      this.#valueNext = true;
      return { kind: 'operator', text: this.#text(pos), pos };
    }
    if (this.#valueNext) {
      while (this.peek() !== undefined && isValue(this.peek()!)) this.#pos++;
      this.#valueNext = false;
      return { kind: 'value', text: this.#text(pos), pos };
    }
    if (isField(c)) {
      while (this.peek() !== undefined && isField(this.peek()!)) this.#pos++;
      return { kind: 'field', text: this.#text(pos), pos };
    }
    return { kind: 'other', text: c, pos };
  }

  fail(pos: number, message: string): never {
    throw new InvalidArgumentError(`filters: parse error: [${this.input}] at ${pos}: ${message}`);
  }

  #text(from: number): string {
    return this.#chars.slice(from, this.#pos).join('');
  }

  #quoted(quote: string, from: number): string {
    for (;;) {
      const c = this.#chars[this.#pos++];
      if (c === undefined || c === '\n') this.fail(from, 'quoted literal not terminated');
      if (c === quote) return this.#text(from);
      if (c === '\\') this.#pos++;
    }
  }
}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** unquote decodes a quoted literal with Go's escapes; the quote itself may be escaped. */
function unquote(literal: string): string | undefined {
  const quote = literal[0]!;
  const body = literal.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === quote) return undefined;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) return undefined;
    if (ESCAPES[e] !== undefined) out += ESCAPES[e];
    else if (e === quote || (e === "'" && quote === "'")) out += e;
    else if (/[0-7]/.test(e)) {
      const digits = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(digits) || parseInt(digits, 8) > 255) return undefined;
      out += String.fromCharCode(parseInt(digits, 8));
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex) || parseInt(hex, 16) > 0x10ffff) return undefined;
      out += String.fromCodePoint(parseInt(hex, 16));
      i += n;
    } else return undefined;
  }
  return out;
}

/** parseFilter parses one filter string; an empty one matches everything. InvalidArgumentError on bad syntax. */
export function parseFilter(input: string): Filter {
  if (input === '') return [];
  const s = new Scanner(input);
  const quotedText = (t: Token, allowAlternatives: boolean): string => {
    if (!allowAlternatives && t.text[0] !== '"') s.fail(t.pos, 'invalid quote encountered');
    const text = unquote(t.text);
    return text ?? s.fail(t.pos, 'unquoting failed');
  };
  const field = (): string => {
    const t = s.scan();
    if (t.kind === 'field') return t.text;
    if (t.kind === 'quoted') return quotedText(t, false);
    return s.fail(t.pos, 'expected field or quoted');
  };
  const selectors: Filter = [];
  for (;;) {
    const fieldpath = [field()];
    while (s.peek() === '.') {
      s.scan();
      fieldpath.push(field());
    }
    const next = s.peek();
    if (next === ',' || next === undefined) selectors.push({ fieldpath, operator: 'present', value: '' });
    else {
      const op = s.scan();
      if (op.kind !== 'operator') s.fail(op.pos, 'expected an operator ("=="|"!="|"~=")');
      if (op.text !== '==' && op.text !== '!=' && op.text !== '~=') s.fail(op.pos, `unsupported operator ${JSON.stringify(op.text)}`);
      const operator = op.text as Operator;
      const v = s.scan();
      const value =
        v.kind === 'value' || v.kind === 'field' ? v.text : v.kind === 'quoted' ? quotedText(v, operator === '~=') : s.fail(v.pos, 'expected value or quoted');
      selectors.push({ fieldpath, operator, value });
    }
    const after = s.peek();
    if (after === undefined) return selectors;
    if (after !== ',') s.fail(s.position, `unexpected input: ${after}`);
    s.scan();
  }
}

/** parseFilters parses the filters of one request: a snapshot matches when any of them matches. */
export function parseFilters(inputs: readonly string[]): Filter[] {
  return inputs.map(parseFilter);
}

/** fieldOf is containerd's snapshot adaptor: kind, name, parent and labels.<key>. */
function fieldOf(info: SnapshotInfo, fieldpath: readonly string[]): string | undefined {
  switch (fieldpath[0]) {
    case 'kind':
      return info.kind;
    case 'name':
      return info.name;
    case 'parent':
      return info.parent;
    case 'labels':
      return info.labels[fieldpath.slice(1).join('.')];
    default:
      return undefined;
  }
}

function selectorMatches(sel: Selector, info: SnapshotInfo): boolean {
  const value = fieldOf(info, sel.fieldpath);
  switch (sel.operator) {
    case 'present':
      return value !== undefined;
    case '==':
      return value !== undefined && value === sel.value;
    case '!=':
      return (value ?? '') !== sel.value;
    case '~=':
      if (sel.re === undefined) {
        try {
          sel.re = new RegExp(sel.value, 'u');
        } catch {
          sel.re = null;
        }
      }
      return sel.re !== null && sel.re.test(value ?? '');
  }
}

/** matches tells whether a snapshot passes a request's filters. */
export function matches(filters: readonly Filter[], info: SnapshotInfo): boolean {
  return filters.length === 0 || filters.some((f) => f.every((sel) => selectorMatches(sel, info)));
}
