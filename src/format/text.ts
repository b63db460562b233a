// The protobuf text format (.prototxt): parse and print, driven by protobufjs reflection.
//
// Accepts what Google protobuf's TextFormat::Parser accepts in the files Caffe reads:
// `#` comments, `{}` / `<>` message delimiters, optional `:` before a message value, optional
// `,` / `;` after a field, repeated fields as repeated keys or `[a, b]` lists (messages too),
// enums by name or number, C-escaped '...' / "..." strings with adjacent-literal concatenation,
// decimal / hex / octal / negative integers with per-type range checks, floats with exponent,
// `f` suffix, inf / infinity / nan. Like protobuf (default Parser, FORBID_SINGULAR_OVERWRITES) a
// second value for a non-repeated field is an error. The parser is a single linear pass with an
// explicit stack (no recursion), nesting is limited to MAX_DEPTH.
//
// Messages are built as the schema contract says (src/proto/schema.ts): instances of
// `type.ctor`, presence = own property, repeated float -> Float32Array, repeated double ->
// Float64Array, float fields Math.fround'ed, 64-bit integers as number when safe else Long,
// enums as numbers, bytes as Uint8Array.
import { ParseError } from '../util/errors.js';
import { fieldOf, messageType, Long } from '../proto/schema.js';
import type { Message, Type, Field } from '../proto/schema.js';
import protobuf from 'protobufjs';

/** Maximum message nesting depth (protobuf's default recursion limit). */
export const MAX_DEPTH = 100;

// ---------------------------------------------------------------------------------------------
// Tokenizer

const enum T {
  Ident,
  Int,
  Float,
  Str,
  Sym,
  Eof,
}

interface Token {
  kind: T;
  /** Source text of the token (for strings: the raw literal including quotes). */
  text: string;
  line: number;
  col: number;
  /** Decoded bytes of a string literal (only for T.Str with escapes / non-ASCII). */
  bytes?: Uint8Array;
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
function isOctal(c: number): boolean {
  return c >= 48 && c <= 55;
}

/** Character code after a backslash -> byte. */
const SIMPLE_ESCAPES: Record<number, number> = {
  97: 7, // \a
  98: 8, // \b
  102: 12, // \f
  110: 10, // \n
  114: 13, // \r
  116: 9, // \t
  118: 11, // \v
  92: 92, // \\
  63: 63, // \?
  39: 39, // \'
  34: 34, // \"
};

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

class Tokenizer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: Token | null = null;

  constructor(
    private readonly src: string,
    private readonly file: string,
  ) {
    // A byte order mark is not part of the text.
    if (src.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  error(line: number, col: number, detail: string): ParseError {
    return new ParseError(this.file, line, col, detail);
  }

  peek(): Token {
    if (!this.peeked) this.peeked = this.scan();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = null;
    return t;
  }

  /** Consumes the next token when it is the symbol `s`. */
  trySym(s: string): boolean {
    const t = this.peek();
    if (t.kind === T.Sym && t.text === s) {
      this.peeked = null;
      return true;
    }
    return false;
  }

  private scan(): Token {
    const src = this.src;
    const n = src.length;
    // Skip white space and comments.
    for (;;) {
      if (this.pos >= n) break;
      const c = src.charCodeAt(this.pos);
      if (c === 10) {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === 32 || c === 9 || c === 13 || c === 11 || c === 12) {
        this.pos++;
      } else if (c === 35 /* # */) {
        while (this.pos < n && src.charCodeAt(this.pos) !== 10) this.pos++;
      } else {
        break;
      }
    }
    const line = this.line;
    const col = this.pos - this.lineStart + 1;
    const start = this.pos;
    if (this.pos >= n) return { kind: T.Eof, text: '', line, col };
    const c = src.charCodeAt(this.pos);
    if (isLetter(c)) {
      this.pos++;
      while (this.pos < n) {
        const d = src.charCodeAt(this.pos);
        if (!isLetter(d) && !isDigit(d)) break;
        this.pos++;
      }
      return { kind: T.Ident, text: src.slice(start, this.pos), line, col };
    }
    if (isDigit(c) || (c === 46 /* . */ && isDigit(src.charCodeAt(this.pos + 1)))) {
      return this.scanNumber(line, col);
    }
    if (c === 34 || c === 39) return this.scanString(line, col);
    this.pos++;
    const ch = String.fromCharCode(c);
    if ('{}<>[]:,;-'.includes(ch)) return { kind: T.Sym, text: ch, line, col };
    // Any other character (also `/`, `.`, `+` ...): a one-character symbol the parser rejects.
    let text = ch;
    if (c >= 0xd800 && c <= 0xdbff && this.pos < n) text += src[this.pos++];
    return { kind: T.Sym, text, line, col };
  }

  private scanNumber(line: number, col: number): Token {
    const src = this.src;
    const n = src.length;
    const start = this.pos;
    let isFloat = false;
    const c0 = src.charCodeAt(this.pos);
    const c1 = src.charCodeAt(this.pos + 1);
    if (c0 === 48 && (c1 === 120 || c1 === 88)) {
      // Hex.
      this.pos += 2;
      if (!isHex(src.charCodeAt(this.pos))) {
        throw this.error(line, col, `'${src.slice(start, this.pos)}' must be followed by hex digits`);
      }
      while (this.pos < n && isHex(src.charCodeAt(this.pos))) this.pos++;
    } else if (c0 === 48 && isDigit(c1)) {
      // Octal.
      this.pos++;
      while (this.pos < n && isOctal(src.charCodeAt(this.pos))) this.pos++;
      if (isDigit(src.charCodeAt(this.pos))) {
        throw this.error(line, col, 'numbers starting with a leading zero must be in octal');
      }
    } else {
      while (this.pos < n && isDigit(src.charCodeAt(this.pos))) this.pos++;
      if (src.charCodeAt(this.pos) === 46) {
        isFloat = true;
        this.pos++;
        while (this.pos < n && isDigit(src.charCodeAt(this.pos))) this.pos++;
      }
      const e = src.charCodeAt(this.pos);
      if (e === 101 || e === 69) {
        isFloat = true;
        this.pos++;
        const s = src.charCodeAt(this.pos);
        if (s === 43 || s === 45) this.pos++;
        if (!isDigit(src.charCodeAt(this.pos))) {
          throw this.error(line, col, `'e' must be followed by an exponent in '${src.slice(start, this.pos)}'`);
        }
        while (this.pos < n && isDigit(src.charCodeAt(this.pos))) this.pos++;
      }
      const f = src.charCodeAt(this.pos);
      if (f === 102 || f === 70) {
        isFloat = true;
        this.pos++;
      }
    }
    const d = src.charCodeAt(this.pos);
    if (isLetter(d) || isDigit(d)) {
      throw this.error(line, col, `need space between number and identifier in '${src.slice(start, this.pos + 1)}'`);
    }
    if (d === 46) {
      throw this.error(
        line,
        col,
        isFloat
          ? `already saw a decimal point or exponent in '${src.slice(start, this.pos + 1)}'`
          : `hex and octal numbers must be integers: '${src.slice(start, this.pos + 1)}'`,
      );
    }
    return { kind: isFloat ? T.Float : T.Int, text: src.slice(start, this.pos), line, col };
  }

  private scanString(line: number, col: number): Token {
    const src = this.src;
    const n = src.length;
    const quote = src.charCodeAt(this.pos);
    const start = this.pos;
    this.pos++;
    // Fast path: plain ASCII without escapes.
    let plain = true;
    let bytes: number[] | null = null;
    let runStart = this.pos;
    const flushRun = (end: number) => {
      if (end > runStart) {
        const part = src.slice(runStart, end);
        for (const b of utf8Encoder.encode(part)) bytes!.push(b);
      }
    };
    for (;;) {
      if (this.pos >= n) throw this.error(line, col, 'unexpected end of input inside a string literal');
      const c = src.charCodeAt(this.pos);
      if (c === quote) break;
      if (c === 10) throw this.error(line, col, 'string literals cannot cross line boundaries');
      if (c === 92 /* \ */) {
        if (plain) {
          plain = false;
          bytes = [];
        }
        flushRun(this.pos);
        const escLine = this.line;
        const escCol = this.pos - this.lineStart + 1;
        this.pos++;
        if (this.pos >= n) throw this.error(line, col, 'unexpected end of input inside a string literal');
        const e = src.charCodeAt(this.pos);
        if (Object.hasOwn(SIMPLE_ESCAPES, e)) {
          bytes!.push(SIMPLE_ESCAPES[e]);
          this.pos++;
        } else if (isOctal(e)) {
          let v = 0;
          let k = 0;
          while (k < 3 && isOctal(src.charCodeAt(this.pos))) {
            v = v * 8 + (src.charCodeAt(this.pos) - 48);
            this.pos++;
            k++;
          }
          bytes!.push(v & 0xff);
        } else if ((e === 120 || e === 88) && isHex(src.charCodeAt(this.pos + 1))) {
          this.pos++;
          let v = 0;
          let k = 0;
          while (k < 2 && isHex(src.charCodeAt(this.pos))) {
            v = v * 16 + parseInt(src[this.pos], 16);
            this.pos++;
            k++;
          }
          bytes!.push(v);
        } else if (e === 117 || e === 85) {
          // \uXXXX or \UXXXXXXXX: a Unicode code point, stored as UTF-8.
          const len = e === 117 ? 4 : 8;
          const hex = src.slice(this.pos + 1, this.pos + 1 + len);
          if (hex.length !== len || ![...hex].every((h) => isHex(h.charCodeAt(0)))) {
            throw this.error(escLine, escCol, 'invalid Unicode escape sequence in string literal');
          }
          const cp = parseInt(hex, 16);
          if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            throw this.error(escLine, escCol, `invalid Unicode code point \\${src[this.pos]}${hex} in string literal`);
          }
          for (const b of utf8Encoder.encode(String.fromCodePoint(cp))) bytes!.push(b);
          this.pos += 1 + len;
        } else {
          throw this.error(escLine, escCol, `invalid escape sequence '\\${src[this.pos] ?? ''}' in string literal`);
        }
        runStart = this.pos;
        continue;
      }
      if (c > 127 && plain) {
        plain = false;
        bytes = [];
      }
      this.pos++;
    }
    if (!plain) flushRun(this.pos);
    this.pos++; // closing quote
    const tok: Token = { kind: T.Str, text: src.slice(start, this.pos), line, col };
    if (!plain) tok.bytes = Uint8Array.from(bytes!);
    return tok;
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case T.Eof:
      return 'end of input';
    case T.Str:
      return `string ${t.text.length > 40 ? t.text.slice(0, 37) + '...' : t.text}`;
    default:
      return `'${t.text}'`;
  }
}

function stringBytes(t: Token): Uint8Array {
  return t.bytes ?? utf8Encoder.encode(t.text.slice(1, -1));
}

// ---------------------------------------------------------------------------------------------
// Field kinds

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};
const IS_64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const IS_UNSIGNED = new Set(['uint32', 'fixed32', 'uint64', 'fixed64']);

function typeOf(typeName: string | Type): Type {
  return typeof typeName === 'string' ? messageType(typeName) : typeName;
}

function typeLabel(type: Type): string {
  return type.fullName.startsWith('.') ? type.fullName.slice(1) : type.fullName;
}

/** Parses an integer literal (decimal, 0x hex, 0 octal) into a BigInt. */
function intLiteral(text: string): bigint {
  if (text.length > 1 && text[0] === '0') {
    if (text[1] === 'x' || text[1] === 'X') return BigInt('0x' + text.slice(2));
    return BigInt('0o' + text.slice(1));
  }
  return BigInt(text);
}

// ---------------------------------------------------------------------------------------------
// Parser

interface Frame {
  type: Type;
  msg: Message;
  /** Closing symbol, or '' for the top level (closed by end of input). */
  close: string;
  open: Token | null;
  /** The repeated message field whose `[ ... ]` list this frame is inside, after an element. */
  inList: Field | null;
}

/**
 * Parses protobuf text format into a message of `typeName` ('NetParameter', 'caffe.SolverParameter',
 * or a protobufjs Type). Throws ParseError(file, line, column, detail) on any error.
 */
export function parseText(src: string, typeName: string | Type, file = '<text>'): Message {
  const rootType = typeOf(typeName);
  const tk = new Tokenizer(src, file);
  // Control bytes (a NUL in a corrupted file) are shown escaped, so the message stays printable.
  const err = (t: Token, detail: string) =>
    new ParseError(file, t.line, t.col, detail.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));

  const newFrame = (type: Type, close: string, open: Token | null): Frame => ({
    type,
    msg: new (type.ctor as any)() as Message,
    close,
    open,
    inList: null,
  });

  const root = newFrame(rootType, '', null);
  const stack: Frame[] = [root];

  const openMessage = (parent: Frame, field: Field, open: Token): Frame => {
    if (stack.length > MAX_DEPTH) {
      throw err(open, `message nesting deeper than ${MAX_DEPTH} levels`);
    }
    const type = field.resolvedType as Type;
    const fr = newFrame(type, open.text === '{' ? '}' : '>', open);
    if (field.repeated) ownArray(parent.msg, field).push(fr.msg);
    else parent.msg[field.name] = fr.msg;
    stack.push(fr);
    return fr;
  };

  const expectOpen = (field: Field, parentType: Type): Token => {
    const t = tk.next();
    if (t.kind === T.Sym && (t.text === '{' || t.text === '<')) return t;
    throw err(t, `expected '{' or '<' to start message field '${field.name}' in ${typeLabel(parentType)}, got ${describe(t)}`);
  };

  const afterField = () => {
    if (!tk.trySym(';')) tk.trySym(',');
  };

  for (;;) {
    const fr = stack[stack.length - 1];
    if (fr.inList) {
      const field: Field = fr.inList;
      const t = tk.next();
      if (t.kind === T.Sym && t.text === ']') {
        fr.inList = null;
        afterField();
        continue;
      }
      if (t.kind === T.Sym && t.text === ',') {
        openMessage(fr, field, expectOpen(field, fr.type));
        continue;
      }
      throw err(t, `expected ',' or ']' in the list of '${field.name}', got ${describe(t)}`);
    }
    const t = tk.next();
    if (t.kind === T.Eof) {
      if (fr.close === '') break;
      throw err(
        t,
        `unexpected end of input inside ${typeLabel(fr.type)} (opened at line ${fr.open!.line}, column ${fr.open!.col}): expected '${fr.close}'`,
      );
    }
    if (t.kind === T.Sym && (t.text === '}' || t.text === '>')) {
      if (t.text !== fr.close) {
        if (fr.close === '') throw err(t, `unexpected '${t.text}' at top level: expected a field name`);
        throw err(t, `expected '${fr.close}' or a field name, got '${t.text}'`);
      }
      finishMessage(fr);
      stack.pop();
      const parent = stack[stack.length - 1];
      if (!parent.inList) afterField();
      continue;
    }
    if (t.kind === T.Sym && t.text === '[') {
      throw err(t, `extension or Any field names ('[...]') are not supported in ${typeLabel(fr.type)}`);
    }
    if (t.kind !== T.Ident) {
      const want = fr.close === '' ? 'a field name' : `'${fr.close}' or a field name`;
      throw err(t, `expected ${want}, got ${describe(t)}`);
    }
    const field = fieldOf(fr.type, t.text);
    if (!field) throw err(t, `unknown field '${t.text}' in ${typeLabel(fr.type)}`);
    field.resolve();
    if (!field.repeated && Object.hasOwn(fr.msg, field.name)) {
      throw err(t, `non-repeated field '${field.name}' in ${typeLabel(fr.type)} is specified multiple times`);
    }
    if (field.partOf) {
      for (const other of field.partOf.fieldsArray) {
        if (other !== field && Object.hasOwn(fr.msg, other.name) && fr.msg[other.name] != null) {
          throw err(t, `field '${field.name}' is specified along with field '${other.name}', another member of oneof '${field.partOf.name}'`);
        }
      }
    }
    if (field.map) throw err(t, `map field '${field.name}' is not supported`);

    if (field.resolvedType instanceof protobuf.Type) {
      tk.trySym(':');
      if (tk.trySym('[')) {
        if (!field.repeated) {
          throw err(t, `field '${field.name}' in ${typeLabel(fr.type)} is not repeated: '[' list syntax is not allowed`);
        }
        if (tk.trySym(']')) {
          afterField();
          continue;
        }
        fr.inList = field;
        openMessage(fr, field, expectOpen(field, fr.type));
        continue;
      }
      openMessage(fr, field, expectOpen(field, fr.type));
      continue;
    }

    // Scalar field.
    const colon = tk.next();
    if (!(colon.kind === T.Sym && colon.text === ':')) {
      throw err(colon, `expected ':' after field name '${field.name}', got ${describe(colon)}`);
    }
    if (tk.trySym('[')) {
      if (!field.repeated) {
        throw err(t, `field '${field.name}' in ${typeLabel(fr.type)} is not repeated: '[' list syntax is not allowed`);
      }
      const arr = ownArray(fr.msg, field);
      if (!tk.trySym(']')) {
        for (;;) {
          arr.push(parseScalar(tk, field, fr.type, err));
          const s = tk.next();
          if (s.kind === T.Sym && s.text === ']') break;
          if (!(s.kind === T.Sym && s.text === ',')) {
            throw err(s, `expected ',' or ']' in the list of '${field.name}', got ${describe(s)}`);
          }
        }
      }
    } else {
      const v = parseScalar(tk, field, fr.type, err);
      if (field.repeated) ownArray(fr.msg, field).push(v);
      else fr.msg[field.name] = v;
    }
    afterField();
  }
  finishMessage(root);
  return root.msg;
}

/** The message's own plain array for a repeated field (created if missing). */
function ownArray(msg: Message, field: Field): any[] {
  let a = Object.hasOwn(msg, field.name) ? msg[field.name] : undefined;
  if (!Array.isArray(a)) {
    // A typed array (or nothing) from elsewhere: continue in a plain array.
    a = a && ArrayBuffer.isView(a) ? Array.from(a as unknown as ArrayLike<number>) : [];
    msg[field.name] = a;
  }
  return a;
}

/** Converts repeated float/double fields to typed arrays. */
const realArrayFields = new WeakMap<Type, Field[]>();
function finishMessage(fr: Frame): void {
  let fields = realArrayFields.get(fr.type);
  if (!fields) {
    fields = fr.type.fieldsArray.filter((f) => f.repeated && (f.type === 'float' || f.type === 'double'));
    realArrayFields.set(fr.type, fields);
  }
  for (const field of fields) {
    const v = Object.hasOwn(fr.msg, field.name) ? fr.msg[field.name] : undefined;
    if (Array.isArray(v) || v === undefined) {
      fr.msg[field.name] = field.type === 'float' ? Float32Array.from(v ?? []) : Float64Array.from(v ?? []);
    }
  }
}

type ErrFn = (t: Token, detail: string) => ParseError;

function parseScalar(tk: Tokenizer, field: Field, owner: Type, err: ErrFn): unknown {
  const ft = field.type;
  const where = () => `field '${field.name}' (${ft}) in ${typeLabel(owner)}`;
  if (field.resolvedType instanceof protobuf.Enum) {
    const e = field.resolvedType;
    const neg = tk.peek().kind === T.Sym && tk.peek().text === '-' ? tk.next() : null;
    const t = tk.next();
    if (t.kind === T.Ident && !neg) {
      if (Object.hasOwn(e.values, t.text)) return e.values[t.text];
      throw err(t, `unknown enum value '${t.text}' for field '${field.name}' (${typeLabel(e as any)}) in ${typeLabel(owner)}`);
    }
    if (t.kind === T.Int) {
      let v = intLiteral(t.text);
      if (neg) v = -v;
      const num = Number(v);
      if (Object.hasOwn(e.valuesById, num) && BigInt(num) === v) return num;
      throw err(neg ?? t, `unknown enum number ${v} for field '${field.name}' (${typeLabel(e as any)}) in ${typeLabel(owner)}`);
    }
    throw err(neg ?? t, `expected an enum value name or number for field '${field.name}' (${typeLabel(e as any)}) in ${typeLabel(owner)}, got ${describe(t)}`);
  }
  switch (ft) {
    case 'string':
    case 'bytes': {
      const t = tk.next();
      if (t.kind !== T.Str) throw err(t, `expected a string for ${where()}, got ${describe(t)}`);
      // Adjacent literals concatenate as bytes (an escaped UTF-8 sequence may span literals).
      const parts: Token[] = [t];
      let plain = !t.bytes;
      while (tk.peek().kind === T.Str) {
        const u = tk.next();
        parts.push(u);
        if (u.bytes) plain = false;
      }
      if (plain && ft === 'string') {
        return parts.length === 1 ? t.text.slice(1, -1) : parts.map((p) => p.text.slice(1, -1)).join('');
      }
      const chunks = parts.map(stringBytes);
      let total = 0;
      for (const c of chunks) total += c.length;
      const bytes = new Uint8Array(total);
      let o = 0;
      for (const c of chunks) {
        bytes.set(c, o);
        o += c.length;
      }
      return ft === 'bytes' ? bytes : utf8Decoder.decode(bytes);
    }
    case 'bool': {
      const t = tk.next();
      if (t.kind === T.Ident) {
        if (t.text === 'true' || t.text === 't' || t.text === 'True') return true;
        if (t.text === 'false' || t.text === 'f' || t.text === 'False') return false;
      } else if (t.kind === T.Int) {
        const v = intLiteral(t.text);
        if (v === 0n) return false;
        if (v === 1n) return true;
        throw err(t, `integer ${t.text} out of range for ${where()}: expected 0 or 1`);
      }
      throw err(t, `expected true or false for ${where()}, got ${describe(t)}`);
    }
    case 'float':
    case 'double': {
      const neg = tk.trySym('-');
      const t = tk.next();
      let v: number;
      if (t.kind === T.Float) {
        const s = t.text;
        const last = s.charCodeAt(s.length - 1);
        v = Number(last === 102 || last === 70 ? s.slice(0, -1) : s);
      } else if (t.kind === T.Int) {
        v = Number(intLiteral(t.text));
      } else if (t.kind === T.Ident) {
        const l = t.text.toLowerCase();
        if (l === 'inf' || l === 'infinity') v = Infinity;
        else if (l === 'nan') v = NaN;
        else throw err(t, `expected a number for ${where()}, got ${describe(t)}`);
      } else {
        throw err(t, `expected a number for ${where()}, got ${describe(t)}`);
      }
      if (neg) v = -v;
      return ft === 'float' ? Math.fround(v) : v;
    }
    default: {
      const range = INT_RANGES[ft];
      if (!range) throw err(tk.peek(), `unsupported field type '${ft}' for ${where()}`);
      const negTok = tk.peek().kind === T.Sym && tk.peek().text === '-' ? tk.next() : null;
      const t = tk.next();
      if (t.kind !== T.Int) {
        if (t.kind === T.Float) throw err(t, `expected an integer for ${where()}, got '${t.text}'`);
        throw err(t, `expected an integer for ${where()}, got ${describe(t)}`);
      }
      let v = intLiteral(t.text);
      if (negTok) {
        if (IS_UNSIGNED.has(ft)) throw err(negTok, `negative value -${t.text} for unsigned ${where()}`);
        v = -v;
      }
      if (v < range[0] || v > range[1]) {
        throw err(negTok ?? t, `integer ${negTok ? '-' : ''}${t.text} out of range for ${where()}`);
      }
      if (!IS_64.has(ft)) return Number(v);
      if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
      return Long.fromString(v.toString(), IS_UNSIGNED.has(ft));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Printer

const sortedFields = new WeakMap<Type, Field[]>();
function fieldsByNumber(type: Type): Field[] {
  let f = sortedFields.get(type);
  if (!f) {
    f = [...type.fieldsArray].sort((a, b) => a.id - b.id);
    for (const x of f) x.resolve();
    sortedFields.set(type, f);
  }
  return f;
}

/** The shortest decimal that reads back (through Math.fround) as the float32 value `v`. */
export function formatFloat(v: number): string {
  v = Math.fround(v);
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  for (let p = 1; p < 9; p++) {
    const s = String(Number(v.toPrecision(p)));
    if (Math.fround(Number(s)) === v) return s;
  }
  return String(Number(v.toPrecision(9)));
}

/** The shortest decimal that reads back as the double `v`. */
export function formatDouble(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  return String(v);
}

/** protobuf's CEscape: printable ASCII as is, \n \r \t \" \' \\, everything else as \ooo. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    switch (b) {
      case 10:
        out += '\\n';
        break;
      case 13:
        out += '\\r';
        break;
      case 9:
        out += '\\t';
        break;
      case 34:
        out += '\\"';
        break;
      case 39:
        out += "\\'";
        break;
      case 92:
        out += '\\\\';
        break;
      default:
        if (b < 0x20 || b >= 0x7f) out += '\\' + b.toString(8).padStart(3, '0');
        else out += String.fromCharCode(b);
    }
  }
  return out;
}

function isPresent(msg: Message, field: Field): boolean {
  if (!Object.hasOwn(msg, field.name)) return false;
  const v = msg[field.name];
  if (v === null || v === undefined) return false;
  if (field.repeated) return (Array.isArray(v) || ArrayBuffer.isView(v)) && (v as ArrayLike<unknown>).length > 0;
  return true;
}

function formatInt(v: unknown, field: Field): string {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`caffe-ts printText: non-integer ${v} in integer field '${field.name}'`);
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return BigInt(v).toString();
  if (Long.isLong(v)) {
    const l = v as Long;
    return (IS_UNSIGNED.has(field.type) ? l.toUnsigned() : l.toSigned()).toString();
  }
  throw new Error(`caffe-ts printText: bad value ${String(v)} in integer field '${field.name}'`);
}

function formatScalar(v: unknown, field: Field): string {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    const n = typeof v === 'string' && Object.hasOwn(rt.values, v) ? rt.values[v] : Number(v);
    return Object.hasOwn(rt.valuesById, n) ? rt.valuesById[n] : String(n);
  }
  switch (field.type) {
    case 'float':
      return formatFloat(Number(v));
    case 'double':
      return formatDouble(Number(v));
    case 'bool':
      return v ? 'true' : 'false';
    case 'string':
      return '"' + escapeBytes(utf8Encoder.encode(String(v))) + '"';
    case 'bytes': {
      let b: Uint8Array;
      if (v instanceof Uint8Array) b = v;
      else if (typeof v === 'string') {
        // protobufjs represents bytes as base64 strings in plain objects.
        const buf = new Uint8Array(protobuf.util.base64.length(v));
        protobuf.util.base64.decode(v, buf, 0);
        b = buf;
      } else b = Uint8Array.from(v as ArrayLike<number>);
      return '"' + escapeBytes(b) + '"';
    }
    default:
      return formatInt(v, field);
  }
}

/**
 * Writes a message as protobuf text format, as TextFormat::Printer does: fields in field-number
 * order, present fields only, two-space indentation, enums by name.
 */
export function printText(msg: Message, typeName: string | Type): string {
  const out: string[] = [];
  // Explicit stack: [type, msg, indent, next field index, repeated element index].
  interface PFrame {
    type: Type;
    msg: Message;
    indent: string;
    fields: Field[];
    fi: number;
    ei: number;
  }
  const rootType = typeOf(typeName);
  const stack: PFrame[] = [{ type: rootType, msg, indent: '', fields: fieldsByNumber(rootType), fi: 0, ei: 0 }];
  while (stack.length) {
    const fr = stack[stack.length - 1];
    if (fr.fi >= fr.fields.length) {
      stack.pop();
      if (stack.length) out.push(stack[stack.length - 1].indent + '}\n');
      continue;
    }
    const field = fr.fields[fr.fi];
    if (!isPresent(fr.msg, field)) {
      fr.fi++;
      fr.ei = 0;
      continue;
    }
    const v = fr.msg[field.name];
    if (field.resolvedType instanceof protobuf.Type) {
      const sub = field.repeated ? (v as Message[])[fr.ei++] : v;
      if (!field.repeated || fr.ei >= (v as Message[]).length) {
        fr.fi++;
        fr.ei = 0;
      }
      if (sub == null) continue; // a hole in a repeated message field
      out.push(`${fr.indent}${field.name} {\n`);
      const type = field.resolvedType;
      stack.push({ type, msg: sub, indent: fr.indent + '  ', fields: fieldsByNumber(type), fi: 0, ei: 0 });
      continue;
    }
    if (field.repeated) {
      for (const x of Array.from(v as ArrayLike<unknown>)) out.push(`${fr.indent}${field.name}: ${formatScalar(x, field)}\n`);
    } else {
      out.push(`${fr.indent}${field.name}: ${formatScalar(v, field)}\n`);
    }
    fr.fi++;
    fr.ei = 0;
  }
  return out.join('');
}
