// NumPy .npy files (format versions 1.0, 2.0 and 3.0), C order only.
//
// Reading: the header is a Python dict literal; it is parsed by a small bounded parser (no eval)
// that accepts exactly what numpy writes: {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), } (quotes of either kind, Python 2 long suffixes `3L`, any key order).
// Supported dtypes: f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1, little- or big-endian (big-endian data is
// byte-swapped on reading). 64-bit integers come back as BigInt64Array/BigUint64Array.
// Writing: float32 by default, version 1.0 header (2.0 when the header needs it), padded to a
// multiple of 64 bytes as numpy does, written atomically.
import { readFileSync } from 'node:fs';
import { NpyError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  shape: number[];
  /** numpy's dtype name: 'float32', 'float64', 'int8', 'uint8', ..., 'int64', 'uint64', 'bool'. */
  dtype: string;
  /** The elements in C order. 'bool' arrays are Uint8Array of 0/1. */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Upper bound on the header length we accept (numpy writes well under 1 KiB). */
const MAX_HEADER_LEN = 1 << 20;
/** Upper bound on the number of dimensions (numpy's NPY_MAXDIMS is 64). */
const MAX_DIMS = 64;

interface DtypeInfo {
  name: string;
  size: number;
  make: (n: number) => NpyData;
}

const DTYPES: Record<string, DtypeInfo> = {
  f4: { name: 'float32', size: 4, make: (n) => new Float32Array(n) },
  f8: { name: 'float64', size: 8, make: (n) => new Float64Array(n) },
  i1: { name: 'int8', size: 1, make: (n) => new Int8Array(n) },
  u1: { name: 'uint8', size: 1, make: (n) => new Uint8Array(n) },
  b1: { name: 'bool', size: 1, make: (n) => new Uint8Array(n) },
  i2: { name: 'int16', size: 2, make: (n) => new Int16Array(n) },
  u2: { name: 'uint16', size: 2, make: (n) => new Uint16Array(n) },
  i4: { name: 'int32', size: 4, make: (n) => new Int32Array(n) },
  u4: { name: 'uint32', size: 4, make: (n) => new Uint32Array(n) },
  i8: { name: 'int64', size: 8, make: (n) => new BigInt64Array(n) },
  u8: { name: 'uint64', size: 8, make: (n) => new BigUint64Array(n) },
};

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Header parsing: a bounded recursive-descent parser for the dict literal numpy writes.

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

class HeaderParser {
  pos = 0;
  constructor(
    readonly s: string,
    readonly file: string,
  ) {}

  fail(detail: string): never {
    throw new NpyError(`${this.file}: bad .npy header at character ${this.pos}: ${detail}`);
  }

  ws(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++;
  }

  peek(): string {
    this.ws();
    return this.s[this.pos] ?? '';
  }

  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected '${ch}', found ${this.s[this.pos] ? `'${this.s[this.pos]}'` : 'the end'}`);
    this.pos++;
  }

  value(depth: number): PyValue {
    if (depth > 4) this.fail('nested too deeply');
    const c = this.peek();
    if (c === "'" || c === '"') return this.string();
    if (c === '(' || c === '[') return this.sequence(c === '(' ? ')' : ']', depth);
    if (c === '{') return this.dict(depth);
    const m = /^(?:True|False|None|-?\d+L?)/.exec(this.s.slice(this.pos, this.pos + 32));
    if (!m) this.fail(`unexpected ${c ? `'${c}'` : 'end of header'}`);
    this.pos += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    const digits = m[0].replace(/L$/, '');
    if (digits.length > 17) this.fail(`integer ${digits} is too large`);
    return Number(digits);
  }

  string(): string {
    const q = this.s[this.pos++];
    const end = this.s.indexOf(q, this.pos);
    if (end < 0) this.fail('unterminated string');
    const str = this.s.slice(this.pos, end);
    if (str.includes('\\')) this.fail('escape sequences are not supported in header strings');
    this.pos = end + 1;
    return str;
  }

  sequence(close: string, depth: number): PyValue[] {
    this.pos++;
    const out: PyValue[] = [];
    while (this.peek() !== close) {
      if (out.length >= MAX_DIMS) this.fail(`more than ${MAX_DIMS} elements`);
      out.push(this.value(depth + 1));
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== close) this.fail(`expected ',' or '${close}'`);
    }
    this.pos++;
    return out;
  }

  dict(depth: number): { [k: string]: PyValue } {
    this.pos++;
    const out: { [k: string]: PyValue } = Object.create(null);
    let n = 0;
    while (this.peek() !== '}') {
      if (++n > 16) this.fail('too many keys');
      const c = this.peek();
      if (c !== "'" && c !== '"') this.fail('expected a quoted key');
      const k = this.string();
      this.expect(':');
      out[k] = this.value(depth + 1);
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') this.fail("expected ',' or '}'");
    }
    this.pos++;
    return out;
  }
}

interface Header {
  descr: string;
  shape: number[];
  dataOffset: number;
}

function parseHeader(bytes: Uint8Array, file: string): Header {
  const fail = (detail: string): never => {
    throw new NpyError(`${file}: ${detail}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy file (bad magic string)');
  const major = bytes[6];
  const minor = bytes[7];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('truncated .npy header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    fail(`unsupported .npy format version ${major}.${minor}`);
  }
  if (headerLen! > MAX_HEADER_LEN) fail(`header length ${headerLen!} exceeds the limit of ${MAX_HEADER_LEN} bytes`);
  if (start! + headerLen! > bytes.length) fail(`truncated .npy header: ${headerLen!} bytes declared, ${bytes.length - start!} present`);
  const raw = bytes.subarray(start!, start! + headerLen!);
  const text = major === 3 ? new TextDecoder('utf-8').decode(raw) : Buffer.from(raw).toString('latin1');
  const p = new HeaderParser(text, file);
  const c = p.peek();
  if (c !== '{') p.fail("expected the header to be a dict literal '{...}'");
  const dict = p.dict(0);
  p.ws();
  if (p.pos !== text.length) p.fail('trailing characters after the header dict');
  const descr = dict['descr'];
  const fortran = dict['fortran_order'];
  const shape = dict['shape'];
  if (typeof descr !== 'string') fail(`header 'descr' is ${descr === undefined ? 'missing' : 'not a simple dtype string (structured arrays are not supported)'}`);
  if (typeof fortran !== 'boolean') fail(`header 'fortran_order' is missing or not True/False`);
  if (fortran) fail('fortran_order True is not supported (save the array in C order)');
  if (!Array.isArray(shape)) fail(`header 'shape' is missing or not a tuple`);
  for (const d of shape as PyValue[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(`header 'shape' has a bad dimension ${JSON.stringify(d)}`);
  }
  return { descr: descr as string, shape: shape as number[], dataOffset: start! + headerLen! };
}

function dtypeOf(descr: string, file: string): { info: DtypeInfo; bigEndian: boolean } {
  const m = /^([<>|=]?)([a-z])(\d+)$/.exec(descr);
  const info = m ? DTYPES[m[2] + m[3]] : undefined;
  if (!m || !info) throw new NpyError(`${file}: unsupported dtype '${descr}' (supported: f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1)`);
  const order = m[1];
  const bigEndian = info.size > 1 && (order === '>' || (order === '=' && !LITTLE_ENDIAN));
  return { info, bigEndian };
}

/**
 * Reads a .npy file (a path, or its bytes). `file` names the source in errors when bytes are
 * given. Throws NpyError naming the file and what is wrong.
 */
export function readNpy(bytesOrPath: Uint8Array | string, file?: string): NpyArray {
  let bytes: Uint8Array;
  let name: string;
  if (typeof bytesOrPath === 'string') {
    name = bytesOrPath;
    try {
      bytes = readFileSync(bytesOrPath);
    } catch (e) {
      throw new NpyError(`${name}: cannot read: ${(e as Error).message}`);
    }
  } else {
    bytes = bytesOrPath;
    name = file ?? '<npy>';
  }
  const h = parseHeader(bytes, name);
  const { info, bigEndian } = dtypeOf(h.descr, name);
  let count = 1;
  for (const d of h.shape) count *= d;
  const available = bytes.length - h.dataOffset;
  if (!Number.isSafeInteger(count) || count * info.size > available) {
    throw new NpyError(
      `${name}: truncated data: shape (${h.shape.join(', ')}) of ${info.name} needs ${count * info.size} bytes, ${available} present`,
    );
  }
  if (count * info.size !== available) {
    throw new NpyError(
      `${name}: ${available - count * info.size} unexpected bytes after the data of shape (${h.shape.join(', ')}) of ${info.name}`,
    );
  }
  const data = info.make(count);
  const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(bytes.subarray(h.dataOffset, h.dataOffset + count * info.size));
  if (bigEndian === LITTLE_ENDIAN) {
    // File order differs from host order: swap bytes of every element.
    swapBytes(out, info.size);
  }
  if (info.name === 'bool') {
    for (let i = 0; i < count; i++) if (out[i] > 1) out[i] = 1;
  }
  return { shape: h.shape.slice(), dtype: info.name, data };
}

function swapBytes(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < b.length; i += size) {
    for (let a = i, z = i + size - 1; a < z; a++, z--) {
      const t = b[a];
      b[a] = b[z];
      b[z] = t;
    }
  }
}

/** Reads a .npy file (path or bytes) of any supported dtype, converted to float32. */
export function readNpyAsFloat32(bytesOrPath: Uint8Array | string, file?: string): { shape: number[]; data: Float32Array } {
  const a = readNpy(bytesOrPath, file);
  if (a.data instanceof Float32Array) return { shape: a.shape, data: a.data };
  const src = a.data;
  const out = new Float32Array(src.length);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  } else {
    out.set(src);
  }
  return { shape: a.shape, data: out };
}

export type NpyDtype = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

const DESCR_BY_NAME: Record<NpyDtype, string> = {
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  uint8: '|u1',
  bool: '|b1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
};

/**
 * The bytes of a .npy file holding `data` with `shape`, C order, little-endian. `dtype`
 * defaults to float32 (numbers are converted; a Float32Array is written as is).
 */
export function encodeNpy(shape: readonly number[], data: ArrayLike<number> | ArrayLike<bigint>, dtype: NpyDtype = 'float32'): Uint8Array {
  const descr = DESCR_BY_NAME[dtype];
  if (!descr) throw new NpyError(`writeNpy: unsupported dtype '${dtype}'`);
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new NpyError(`writeNpy: bad dimension ${d} in shape (${shape.join(', ')})`);
    count *= d;
  }
  if (count !== data.length) throw new NpyError(`writeNpy: shape (${shape.join(', ')}) holds ${count} elements, data has ${data.length}`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // Pad so that the data starts at a multiple of 64 bytes; the header ends with '\n'.
  let prefix = 10;
  let major = 1;
  if (dict.length + 1 + prefix > 0xffff) {
    major = 2;
    prefix = 12;
  }
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  dict = dict + ' '.repeat(total - prefix - dict.length - 1) + '\n';
  const info = DTYPES[descr.slice(1)];
  const typed = info.make(count);
  if (typed instanceof BigInt64Array || typed instanceof BigUint64Array) {
    for (let i = 0; i < count; i++) typed[i] = BigInt(data[i] as number | bigint);
  } else if (dtype === 'bool') {
    for (let i = 0; i < count; i++) typed[i] = data[i] ? 1 : 0;
  } else if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < count; i++) typed[i] = Number(data[i]);
  } else {
    (typed as Float32Array).set(data as ArrayLike<number>);
  }
  if (!LITTLE_ENDIAN) swapBytes(new Uint8Array(typed.buffer), info.size);
  const out = new Uint8Array(total + typed.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  out.set(Buffer.from(dict, 'latin1'), prefix);
  out.set(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength), total);
  return out;
}

/** Writes a .npy file atomically (temp file in the same folder, then rename). */
export function writeNpy(
  path: string,
  shape: readonly number[],
  data: ArrayLike<number> | ArrayLike<bigint>,
  dtype: NpyDtype = 'float32',
): void {
  writeFileAtomic(path, encodeNpy(shape, data, dtype));
}
