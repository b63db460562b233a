// Binary protobuf wire format (.caffemodel, .binaryproto, .solverstate): a reflection-driven
// decoder and encoder of our own, producing and consuming messages as described in
// src/proto/schema.ts (instances of `type.ctor`, presence = own property, repeated float ->
// Float32Array, repeated double -> Float64Array, int64 -> number when safe else Long).
//
// Why not protobufjs's generated codec: it reads repeated floats one number at a time into JS
// arrays (gigabytes of heap for a ResNet-152 caffemodel), has no depth limit, and reports bad
// input without offsets. Here packed float runs are copied straight from the file bytes into a
// Float32Array, every length is checked against the remaining bytes before anything is
// allocated, and every error is a DecodeError with the byte offset and what was expected.
//
// Decoding follows protobuf (proto2) semantics: unknown fields are skipped (nothing is kept),
// the last value of a singular scalar wins, a singular embedded message that appears more than
// once is merged, repeated scalars are accepted packed or unpacked and chunks concatenate, and
// an enum value not in the schema is treated as an unknown field (as C++ proto2 does). Groups
// (wire types 3/4) are rejected: caffe.proto has none.
//
// Encoding writes fields in field-number order, repeated numeric fields packed when the schema
// says `packed = true` and unpacked otherwise (as protobuf C++), singular fields when they are
// own properties of the message, repeated fields when non-empty.
import { readFileSync } from 'node:fs';
import { DecodeError } from '../util/errors.js';
import { forkFieldInfo, isTextOnly, Long, messageType, protobuf, type Message, type Type } from '../proto/schema.js';

/** Maximum nesting of embedded messages (protobuf's default recursion limit). */
export const MAX_DEPTH = 100;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Per-type field tables, built once per reflected Type.

const enum Kind {
  Double,
  Float,
  Int32,
  Uint32,
  Sint32,
  Fixed32,
  Sfixed32,
  Int64,
  Uint64,
  Sint64,
  Fixed64,
  Sfixed64,
  Bool,
  Enum,
  String,
  Bytes,
  Message,
}

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

const WIRE_NAMES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit'];

interface FieldInfo {
  readonly id: number;
  readonly name: string;
  readonly kind: Kind;
  /** The wire type of one element (unpacked). */
  readonly wireType: number;
  readonly repeated: boolean;
  readonly packed: boolean;
  /** Scalar numeric kinds that may be packed (varint, 32-bit or 64-bit elements). */
  readonly packable: boolean;
  readonly msgType: Type | null;
  /** Enum values defined by the schema (enums only). */
  readonly enumValues: Set<number> | null;
  readonly enumByName: Record<string, number> | null;
  readonly typeName: string;
}

interface TypeInfo {
  readonly type: Type;
  readonly ctor: new () => Message;
  readonly byId: Map<number, FieldInfo>;
  /** Fields sorted by number (encoding order). */
  readonly ordered: FieldInfo[];
  /** Repeated float/double fields (decoded messages always hold typed arrays for these). */
  readonly typedRepeated: FieldInfo[];
  /** The forks' own numbers of text-only fields: a value of the wrong wire type there is skipped. */
  readonly forkNumbers: Set<number>;
}

const KIND_BY_NAME: Record<string, Kind> = {
  double: Kind.Double,
  float: Kind.Float,
  int32: Kind.Int32,
  uint32: Kind.Uint32,
  sint32: Kind.Sint32,
  fixed32: Kind.Fixed32,
  sfixed32: Kind.Sfixed32,
  int64: Kind.Int64,
  uint64: Kind.Uint64,
  sint64: Kind.Sint64,
  fixed64: Kind.Fixed64,
  sfixed64: Kind.Sfixed64,
  bool: Kind.Bool,
  string: Kind.String,
  bytes: Kind.Bytes,
};

function wireTypeOf(kind: Kind): number {
  switch (kind) {
    case Kind.Double:
    case Kind.Fixed64:
    case Kind.Sfixed64:
      return WT_I64;
    case Kind.Float:
    case Kind.Fixed32:
    case Kind.Sfixed32:
      return WT_I32;
    case Kind.String:
    case Kind.Bytes:
    case Kind.Message:
      return WT_LEN;
    default:
      return WT_VARINT;
  }
}

const typeInfos = new WeakMap<Type, TypeInfo>();

function infoOf(type: Type): TypeInfo {
  let info = typeInfos.get(type);
  if (info) return info;
  const byId = new Map<number, FieldInfo>();
  const ordered: FieldInfo[] = [];
  const forkNumbers = new Set<number>();
  for (const field of type.fieldsArray) {
    // A fork field whose number BVLC uses is set by name in prototxts only (schema.ts).
    if (isTextOnly(field)) {
      forkNumbers.add(forkFieldInfo(field)!.number);
      continue;
    }
    field.resolve();
    if (field.map) throw new Error(`binary codec: map field ${type.name}.${field.name} is not supported`);
    let kind: Kind;
    let msgType: Type | null = null;
    let enumValues: Set<number> | null = null;
    let enumByName: Record<string, number> | null = null;
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      if (field.delimited) throw new Error(`binary codec: group field ${type.name}.${field.name} is not supported`);
      kind = Kind.Message;
      msgType = resolved;
    } else if (resolved instanceof protobuf.Enum) {
      kind = Kind.Enum;
      enumValues = new Set(Object.values(resolved.values));
      enumByName = { ...resolved.values };
    } else {
      const k = KIND_BY_NAME[field.type];
      if (k === undefined) throw new Error(`binary codec: unknown field type '${field.type}' of ${type.name}.${field.name}`);
      kind = k;
    }
    const wireType = wireTypeOf(kind);
    const packable = wireType !== WT_LEN;
    const fi: FieldInfo = {
      id: field.id,
      name: field.name,
      kind,
      wireType,
      repeated: field.repeated,
      packed: field.repeated && packable && field.packed,
      packable,
      msgType,
      enumValues,
      enumByName,
      typeName: type.fullName.replace(/^\./, ''),
    };
    byId.set(field.id, fi);
    ordered.push(fi);
  }
  ordered.sort((a, b) => a.id - b.id);
  const typedRepeated = ordered.filter((f) => f.repeated && (f.kind === Kind.Float || f.kind === Kind.Double));
  info = { type, ctor: type.ctor as unknown as new () => Message, byId, ordered, typedRepeated, forkNumbers };
  typeInfos.set(type, info);
  return info;
}

function resolveType(type: string | Type): Type {
  return typeof type === 'string' ? messageType(type) : type;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

const utf8 = new TextDecoder('utf-8');

/** Growable typed buffer for a repeated float/double field within one message decode. */
interface TypedAcc {
  field: FieldInfo;
  buf: Float32Array | Float64Array;
  len: number;
}

class Decoder {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;
  // Result of the last readVarint: low and high 32 bits (unsigned).
  lo = 0;
  hi = 0;

  /** Packed float runs may become views of `bytes` (see DecodeOptions.inPlace); off during trial decodes. */
  inPlace: boolean;

  constructor(
    bytes: Uint8Array,
    readonly file: string,
    inPlace = false,
  ) {
    this.inPlace = inPlace && LITTLE_ENDIAN;
    // A plain Uint8Array view (not a Buffer), so subarray/slice behave as typed arrays.
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Whether the bytes up to `end` decode as `info` (the position is left where it was). */
  decodesAs(info: TypeInfo, end: number, depth: number): boolean {
    const at = this.pos;
    // A trial must leave the bytes as they were: no in-place moves.
    const inPlace = this.inPlace;
    this.inPlace = false;
    try {
      this.decodeInto(info, new info.ctor(), end, depth);
      return true;
    } catch (e) {
      if (e instanceof DecodeError) return false;
      throw e;
    } finally {
      this.pos = at;
      this.inPlace = inPlace;
    }
  }

  fail(offset: number, detail: string): never {
    throw new DecodeError(this.file, offset, detail);
  }

  /** Reads a varint of up to 10 bytes ending at or before `end` into lo/hi. */
  readVarint(end: number, what: string): void {
    const b = this.bytes;
    let p = this.pos;
    if (p >= end) this.fail(p, `truncated: expected a varint (${what}), found the end of the data`);
    let byte = b[p++];
    if (byte < 0x80) {
      this.lo = byte;
      this.hi = 0;
      this.pos = p;
      return;
    }
    const start = p - 1;
    let lo = byte & 0x7f;
    let hi = 0;
    let shift = 7;
    // Bytes 2..4 fill bits 7..27 of lo.
    for (; shift < 28; shift += 7) {
      if (p >= end) this.fail(start, `truncated varint (${what}): the data ends inside it`);
      byte = b[p++];
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        this.pos = p;
        return;
      }
    }
    // Byte 5: bits 28..31 of lo, bits 0..2 of hi.
    if (p >= end) this.fail(start, `truncated varint (${what}): the data ends inside it`);
    byte = b[p++];
    lo |= (byte & 0x0f) << 28;
    hi = (byte & 0x7f) >> 4;
    if (byte < 0x80) {
      this.lo = lo >>> 0;
      this.hi = hi;
      this.pos = p;
      return;
    }
    // Bytes 6..10: bits 3..31 of hi (bits beyond 64 are dropped, as protobuf does).
    for (shift = 3; shift < 38; shift += 7) {
      if (p >= end) this.fail(start, `truncated varint (${what}): the data ends inside it`);
      byte = b[p++];
      if (shift < 32) hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        this.pos = p;
        return;
      }
    }
    this.fail(start, `bad varint (${what}): more than 10 bytes`);
  }

  /** Reads a length prefix and checks that it fits in the bytes before `end`. */
  readLength(end: number, what: string): number {
    const at = this.pos;
    this.readVarint(end, `length of ${what}`);
    const remaining = end - this.pos;
    if (this.hi !== 0 || this.lo > remaining) {
      const declared = this.hi !== 0 ? this.hi * 4294967296 + this.lo : this.lo;
      this.fail(at, `length ${declared} of ${what} exceeds the ${remaining} bytes remaining`);
    }
    return this.lo;
  }

  need(n: number, end: number, what: string): void {
    if (end - this.pos < n) {
      this.fail(this.pos, `truncated: expected ${n} bytes (${what}), only ${end - this.pos} remain`);
    }
  }

  skip(wireType: number, end: number, tagAt: number, fieldNo: number): void {
    switch (wireType) {
      case WT_VARINT:
        this.readVarint(end, `field ${fieldNo}`);
        return;
      case WT_I64:
        this.need(8, end, `64-bit field ${fieldNo}`);
        this.pos += 8;
        return;
      case WT_LEN: {
        const n = this.readLength(end, `field ${fieldNo}`);
        this.pos += n;
        return;
      }
      case WT_I32:
        this.need(4, end, `32-bit field ${fieldNo}`);
        this.pos += 4;
        return;
      case 3:
      case 4:
        this.fail(tagAt, `field ${fieldNo} uses wire type ${wireType} (groups are not supported)`);
      // eslint-disable-next-line no-fallthrough
      default:
        this.fail(tagAt, `invalid wire type ${wireType} for field ${fieldNo}`);
    }
  }

  /** Decodes message fields from pos to end into msg (merging into what msg already holds). */
  decodeInto(info: TypeInfo, msg: Message, end: number, depth: number): void {
    const b = this.bytes;
    let accs: TypedAcc[] | null = null;
    while (this.pos < end) {
      const tagAt = this.pos;
      // Tag: a varint of at most 5 bytes (field numbers are < 2^29).
      let tag: number;
      const t0 = b[this.pos];
      if (t0 < 0x80) {
        tag = t0;
        this.pos++;
      } else {
        this.readVarint(end, 'field tag');
        if (this.hi !== 0) this.fail(tagAt, `bad field tag: value exceeds 32 bits`);
        tag = this.lo;
      }
      const fieldNo = tag >>> 3;
      const wt = tag & 7;
      if (fieldNo === 0) this.fail(tagAt, `invalid field number 0 (tag ${tag}) in ${info.type.name}`);
      const f = info.byId.get(fieldNo);
      if (f === undefined) {
        this.skip(wt, end, tagAt, fieldNo);
        continue;
      }
      if (wt !== f.wireType && !(wt === WT_LEN && f.repeated && f.packable)) {
        if (wt === 3 || wt === 4 || wt > 5) this.skip(wt, end, tagAt, fieldNo); // throws
        // A number a fork gives another field (interp_param's 143 is BVLC's input_param): a file of
        // that fork is not corrupt, so skip the value as protobuf does with an unknown field.
        if (info.forkNumbers.has(fieldNo)) {
          this.skip(wt, end, tagAt, fieldNo);
          continue;
        }
        this.fail(
          tagAt,
          `wrong wire type for ${f.typeName}.${f.name} (field ${fieldNo}): expected ${WIRE_NAMES[f.wireType]}` +
            `${f.repeated && f.packable ? ' or packed' : ''}, found ${WIRE_NAMES[wt]}`,
        );
      }
      if (f.kind === Kind.Message) {
        const len = this.readLength(end, `${f.typeName}.${f.name}`);
        if (depth >= MAX_DEPTH) this.fail(tagAt, `messages nested deeper than ${MAX_DEPTH} levels`);
        const sub = infoOf(f.msgType!);
        const subEnd = this.pos + len;
        let child: Message;
        if (info.forkNumbers.has(fieldNo) && !this.decodesAs(sub, subEnd, depth + 1)) {
          // A fork's message under a number BVLC uses differently: unknown to BVLC's type, skipped.
          this.pos = subEnd;
          continue;
        }
        if (f.repeated) {
          child = new sub.ctor();
          this.decodeInto(sub, child, subEnd, depth + 1);
          pushArray(msg, f.name).push(child);
        } else {
          const existing = Object.hasOwn(msg, f.name) ? msg[f.name] : null;
          child = existing ?? new sub.ctor();
          this.decodeInto(sub, child, subEnd, depth + 1);
          msg[f.name] = child;
        }
        this.pos = subEnd;
        continue;
      }
      if (f.kind === Kind.Float || f.kind === Kind.Double) {
        if (f.repeated) {
          accs ??= [];
          let acc: TypedAcc | undefined;
          for (const a of accs) if (a.field === f) acc = a;
          if (!acc) {
            acc = { field: f, buf: startTyped(msg, f), len: 0 };
            acc.len = acc.buf.length;
            accs.push(acc);
          }
          if (wt === WT_LEN) this.readPackedTyped(acc, end, tagAt);
          else this.readUnpackedTyped(acc, tagAt, end);
          continue;
        }
        const size = f.kind === Kind.Float ? 4 : 8;
        this.need(size, end, `${f.typeName}.${f.name}`);
        msg[f.name] = size === 4 ? this.view.getFloat32(this.pos, true) : this.view.getFloat64(this.pos, true);
        this.pos += size;
        continue;
      }
      if (f.repeated) {
        const arr = pushArray(msg, f.name);
        if (wt === WT_LEN && f.packable) {
          const len = this.readLength(end, `packed ${f.typeName}.${f.name}`);
          const runEnd = this.pos + len;
          if (f.wireType !== WT_VARINT) {
            const size = f.wireType === WT_I32 ? 4 : 8;
            if (len % size !== 0) {
              this.fail(tagAt, `packed ${f.typeName}.${f.name}: length ${len} is not a multiple of ${size}`);
            }
          }
          while (this.pos < runEnd) {
            const v = this.readScalar(f, runEnd);
            if (v !== undefined) arr.push(v);
          }
          continue;
        }
        const v = this.readScalar(f, end);
        if (v !== undefined) arr.push(v);
        continue;
      }
      const v = this.readScalar(f, end);
      if (v !== undefined) msg[f.name] = v;
    }
    if (this.pos !== end) this.fail(this.pos, `message ${info.type.name} overruns its declared length`);
    if (accs) {
      for (const a of accs) {
        msg[a.field.name] = a.len === a.buf.length ? a.buf : a.buf.slice(0, a.len);
      }
    }
    // Decoded messages hold typed arrays (not the constructor's []) for float/double fields.
    for (const f of info.typedRepeated) {
      const v = msg[f.name];
      if (!ArrayBuffer.isView(v)) msg[f.name] = startTyped(msg, f);
    }
  }

  /** One non-float scalar (string/bytes/varint/fixed kinds). Undefined: unknown enum value. */
  readScalar(f: FieldInfo, end: number): unknown {
    switch (f.kind) {
      case Kind.String: {
        const n = this.readLength(end, `${f.typeName}.${f.name}`);
        const s = n === 0 ? '' : utf8.decode(this.bytes.subarray(this.pos, this.pos + n));
        this.pos += n;
        return s;
      }
      case Kind.Bytes: {
        const n = this.readLength(end, `${f.typeName}.${f.name}`);
        const out = new Uint8Array(n);
        out.set(this.bytes.subarray(this.pos, this.pos + n));
        this.pos += n;
        return out;
      }
      case Kind.Int32:
        this.readVarint(end, `${f.typeName}.${f.name}`);
        return this.lo | 0;
      case Kind.Uint32:
        this.readVarint(end, `${f.typeName}.${f.name}`);
        return this.lo;
      case Kind.Sint32:
        this.readVarint(end, `${f.typeName}.${f.name}`);
        return (this.lo >>> 1) ^ -(this.lo & 1);
      case Kind.Bool:
        this.readVarint(end, `${f.typeName}.${f.name}`);
        return this.lo !== 0 || this.hi !== 0;
      case Kind.Enum: {
        this.readVarint(end, `${f.typeName}.${f.name}`);
        const v = this.lo | 0;
        return f.enumValues!.has(v) ? v : undefined;
      }
      case Kind.Int64:
        this.readVarint(end, `${f.typeName}.${f.name}`);
        return int64(this.lo, this.hi, false);
      case Kind.Uint64:
        this.readVarint(end, `${f.typeName}.${f.name}`);
        return int64(this.lo, this.hi, true);
      case Kind.Sint64: {
        this.readVarint(end, `${f.typeName}.${f.name}`);
        // zigzag decode on 64 bits
        const lo = this.lo;
        const hi = this.hi;
        const neg = -(lo & 1);
        const rlo = ((lo >>> 1) | (hi << 31)) ^ neg;
        const rhi = (hi >>> 1) ^ neg;
        return int64(rlo >>> 0, rhi >>> 0, false);
      }
      case Kind.Fixed32:
        this.need(4, end, `${f.typeName}.${f.name}`);
        this.pos += 4;
        return this.view.getUint32(this.pos - 4, true);
      case Kind.Sfixed32:
        this.need(4, end, `${f.typeName}.${f.name}`);
        this.pos += 4;
        return this.view.getInt32(this.pos - 4, true);
      case Kind.Fixed64:
      case Kind.Sfixed64: {
        this.need(8, end, `${f.typeName}.${f.name}`);
        const lo = this.view.getUint32(this.pos, true);
        const hi = this.view.getUint32(this.pos + 4, true);
        this.pos += 8;
        return int64(lo, hi, f.kind === Kind.Fixed64);
      }
      case Kind.Float:
        this.need(4, end, `${f.typeName}.${f.name}`);
        this.pos += 4;
        return this.view.getFloat32(this.pos - 4, true);
      case Kind.Double:
        this.need(8, end, `${f.typeName}.${f.name}`);
        this.pos += 8;
        return this.view.getFloat64(this.pos - 8, true);
      default:
        throw new Error('unreachable');
    }
  }

  /** A packed run of floats/doubles, copied in bulk from the bytes. */
  readPackedTyped(acc: TypedAcc, end: number, tagAt: number): void {
    const f = acc.field;
    const size = f.kind === Kind.Float ? 4 : 8;
    const at = this.pos;
    const len = this.readLength(end, `packed ${f.typeName}.${f.name}`);
    if (len % size !== 0) {
      this.fail(at, `packed ${f.typeName}.${f.name}: length ${len} is not a multiple of ${size}`);
    }
    const n = len / size;
    if (this.inPlace && acc.len === 0 && acc.buf.length === 0 && len >= IN_PLACE_MIN_BYTES) {
      // The run becomes a view of the bytes. A view must start at a multiple of the element
      // size, so an unaligned run is first moved down by 1..size-1 bytes over its own tag and
      // length, which are read already (and are at least that long for a run this size).
      const abs = this.bytes.byteOffset + this.pos;
      const shift = abs % size;
      if (this.pos - shift >= tagAt) {
        if (shift) this.bytes.copyWithin(this.pos - shift, this.pos, this.pos + len);
        acc.buf = size === 4 ? new Float32Array(this.bytes.buffer, abs - shift, n) : new Float64Array(this.bytes.buffer, abs - shift, n);
        acc.len = n;
        this.pos += len;
        return;
      }
    }
    reserve(acc, n);
    copyLE(this.bytes, this.view, this.pos, acc.buf, acc.len, n);
    acc.len += n;
    this.pos += len;
  }

  /**
   * Unpacked floats/doubles: counts the run of consecutive elements with the same tag first,
   * then fills, so a long unpacked array costs one allocation.
   */
  readUnpackedTyped(acc: TypedAcc, tagAt: number, end: number): void {
    const f = acc.field;
    const size = f.kind === Kind.Float ? 4 : 8;
    const b = this.bytes;
    const tagLen = this.pos - tagAt;
    const stride = tagLen + size;
    // The current element (its tag already read).
    this.need(size, end, `${f.typeName}.${f.name}`);
    let n = 1;
    let p = this.pos + size;
    // Count following elements with exactly the same tag bytes.
    outer: while (p + stride <= end) {
      for (let i = 0; i < tagLen; i++) if (b[p + i] !== b[tagAt + i]) break outer;
      n++;
      p += stride;
    }
    reserve(acc, n);
    const buf = acc.buf;
    const view = this.view;
    let q = this.pos;
    let k = acc.len;
    if (size === 4) {
      for (let i = 0; i < n; i++, q += stride) buf[k++] = view.getFloat32(q, true);
    } else {
      for (let i = 0; i < n; i++, q += stride) buf[k++] = view.getFloat64(q, true);
    }
    acc.len = k;
    this.pos = p;
  }
}

function pushArray(msg: Message, name: string): unknown[] {
  const cur = Object.hasOwn(msg, name) ? msg[name] : undefined;
  if (Array.isArray(cur)) return cur;
  const arr: unknown[] = cur && typeof cur === 'object' && 'length' in cur ? Array.from(cur as ArrayLike<unknown>) : [];
  msg[name] = arr;
  return arr;
}

/** The initial buffer of a repeated float/double field: what the message already holds. */
function startTyped(msg: Message, f: FieldInfo): Float32Array | Float64Array {
  const cur = Object.hasOwn(msg, f.name) ? msg[f.name] : undefined;
  const isFloat = f.kind === Kind.Float;
  if (cur && cur.length > 0) return isFloat ? Float32Array.from(cur) : Float64Array.from(cur);
  return isFloat ? new Float32Array(0) : new Float64Array(0);
}

/** Makes room for n more elements: exact growth for big chunks, doubling for small ones. */
function reserve(acc: TypedAcc, n: number): void {
  const need = acc.len + n;
  if (need <= acc.buf.length) return;
  const cap = acc.buf.length;
  const newCap = n >= cap ? need : Math.max(need, cap * 2);
  const next = acc.buf instanceof Float32Array ? new Float32Array(newCap) : new Float64Array(newCap);
  next.set(acc.buf.subarray(0, acc.len));
  acc.buf = next;
}

/** Copies n little-endian floats/doubles from bytes[pos..] into out[at..]. */
function copyLE(
  bytes: Uint8Array,
  view: DataView,
  pos: number,
  out: Float32Array | Float64Array,
  at: number,
  n: number,
): void {
  if (n === 0) return;
  const size = out.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN) {
    // One memcpy whatever the alignment of the source.
    new Uint8Array(out.buffer, out.byteOffset + at * size, n * size).set(bytes.subarray(pos, pos + n * size));
    return;
  }
  if (size === 4) for (let i = 0; i < n; i++) out[at + i] = view.getFloat32(pos + 4 * i, true);
  else for (let i = 0; i < n; i++) out[at + i] = view.getFloat64(pos + 8 * i, true);
}

function int64(lo: number, hi: number, unsigned: boolean): number | Long {
  if (unsigned) {
    if (hi < 0x200000) return hi * 4294967296 + lo;
    return Long.fromBits(lo | 0, hi | 0, true);
  }
  const shi = hi | 0;
  if (shi >= -0x200000 && shi < 0x200000) {
    const v = shi * 4294967296 + lo;
    if (Number.isSafeInteger(v)) return v;
  }
  return Long.fromBits(lo | 0, shi, false);
}

/**
 * Decodes a binary protobuf message. `type` is a message name ('NetParameter' or
 * 'caffe.NetParameter') or a reflected Type; `file` names the source in errors.
 * Throws DecodeError(file, offset, detail) on malformed input.
 */
export interface DecodeOptions {
  /**
   * The caller gives up `bytes`: large packed float/double runs (blob data) become views of their
   * buffer instead of copies, and the bytes are rearranged to align them. Saves a copy of every
   * weight when loading a caffemodel read for the purpose; the buffer then lives as long as any
   * of those arrays.
   */
  inPlace?: boolean;
}

/** Packed runs from this size are viewed in place (smaller ones are copied: a view keeps the whole buffer alive). */
const IN_PLACE_MIN_BYTES = 4096;

export function decodeMessage(bytes: Uint8Array, type: string | Type, file = '<binary>', options: DecodeOptions = {}): Message {
  const info = infoOf(resolveType(type));
  const d = new Decoder(bytes, file, options.inPlace === true);
  const msg = new info.ctor();
  d.decodeInto(info, msg, bytes.byteLength, 0);
  return msg;
}

/** Reads a binary protobuf file; errors name the path. */
export function readBinaryFile(path: string, type: string | Type): Message {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DecodeError(path, 0, `cannot read the file: ${(e as Error).message}`);
  }
  return decodeMessage(bytes, type, path);
}

// ---------------------------------------------------------------------------------------------
// Encoding.

function present(msg: Message, f: FieldInfo): boolean {
  if (f.repeated) {
    const v = msg[f.name];
    return v != null && v.length > 0;
  }
  if (!Object.hasOwn(msg, f.name)) return false;
  const v = msg[f.name];
  return v !== null && v !== undefined;
}

function varintSize32(v: number): number {
  // v as uint32 (non-negative, < 2^32)
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

function varintSize64(lo: number, hi: number): number {
  if (hi === 0) return varintSize32(lo >>> 0);
  if (hi < 0x8) return 5;
  if (hi < 0x400) return 6;
  if (hi < 0x20000) return 7;
  if (hi < 0x1000000) return 8;
  if (hi < 0x80000000) return 9;
  return 10;
}

/** A 64-bit value as (lo, hi) unsigned 32-bit halves. */
function bits64(v: unknown, where: string): [number, number] {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`${where}: ${v} is not an integer`);
    const l = Long.fromNumber(v);
    return [l.low >>> 0, l.high >>> 0];
  }
  if (typeof v === 'string') {
    const l = Long.fromString(v);
    return [l.low >>> 0, l.high >>> 0];
  }
  if (typeof v === 'bigint') {
    const u = BigInt.asUintN(64, v);
    return [Number(u & 0xffffffffn), Number(u >> 32n)];
  }
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number };
    return [l.low >>> 0, l.high >>> 0];
  }
  throw new TypeError(`${where}: expected an integer, got ${typeof v}`);
}

function num(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as Long).toNumber();
  throw new TypeError(`${where}: expected a number, got ${typeof v}`);
}

function enumValue(f: FieldInfo, v: unknown): number {
  if (typeof v === 'string') {
    const n = f.enumByName![v];
    if (n === undefined) throw new TypeError(`${f.typeName}.${f.name}: unknown enum value '${v}'`);
    return n;
  }
  return num(v, `${f.typeName}.${f.name}`) | 0;
}

const utf8enc = new TextEncoder();

/** Encoded size of one scalar element (no tag). */
function scalarSize(f: FieldInfo, v: unknown, strings: Uint8Array[]): number {
  switch (f.kind) {
    case Kind.Double:
    case Kind.Fixed64:
    case Kind.Sfixed64:
      return 8;
    case Kind.Float:
    case Kind.Fixed32:
    case Kind.Sfixed32:
      return 4;
    case Kind.Bool:
      return 1;
    case Kind.Int32:
    case Kind.Enum: {
      const x = f.kind === Kind.Enum ? enumValue(f, v) : num(v, f.name) | 0;
      return x < 0 ? 10 : varintSize32(x);
    }
    case Kind.Uint32:
      return varintSize32(num(v, f.name) >>> 0);
    case Kind.Sint32: {
      const x = num(v, f.name) | 0;
      return varintSize32(((x << 1) ^ (x >> 31)) >>> 0);
    }
    case Kind.Int64:
    case Kind.Uint64: {
      const [lo, hi] = bits64(v, `${f.typeName}.${f.name}`);
      return varintSize64(lo, hi);
    }
    case Kind.Sint64: {
      const [lo, hi] = zigzag64(bits64(v, `${f.typeName}.${f.name}`));
      return varintSize64(lo, hi);
    }
    case Kind.String: {
      const s = utf8enc.encode(String(v));
      strings.push(s);
      return varintSize32(s.length) + s.length;
    }
    case Kind.Bytes: {
      const b = v as Uint8Array;
      return varintSize32(b.length) + b.length;
    }
    default:
      throw new Error('unreachable');
  }
}

function zigzag64([lo, hi]: [number, number]): [number, number] {
  const sign = hi >> 31; // 0 or -1
  const nlo = ((lo << 1) ^ sign) >>> 0;
  const nhi = (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0;
  return [nlo, nhi];
}

class Encoder {
  /** Sizes of embedded messages and packed runs, in write order. */
  sizes: number[] = [];
  /** UTF-8 encodings of strings, in write order. */
  strings: Uint8Array[] = [];
  sizeIdx = 0;
  strIdx = 0;
  buf!: Uint8Array;
  view!: DataView;
  pos = 0;

  /** Pass 1: size of a message body. */
  measure(info: TypeInfo, msg: Message, depth: number): number {
    if (depth > MAX_DEPTH) throw new Error(`encodeMessage: messages nested deeper than ${MAX_DEPTH} levels`);
    let total = 0;
    for (const f of info.ordered) {
      if (!present(msg, f)) continue;
      const v = msg[f.name];
      const tagSize = varintSize32(f.id * 8);
      if (f.kind === Kind.Message) {
        const sub = infoOf(f.msgType!);
        const list = f.repeated ? (v as Message[]) : [v as Message];
        for (const m of list) {
          const slot = this.sizes.length;
          this.sizes.push(0);
          const s = this.measure(sub, m, depth + 1);
          this.sizes[slot] = s;
          total += tagSize + varintSize32(s) + s;
        }
        continue;
      }
      if (!f.repeated) {
        total += tagSize + scalarSize(f, v, this.strings);
        continue;
      }
      const arr = v as ArrayLike<unknown>;
      const n = arr.length;
      let body = 0;
      if (f.wireType === WT_I32) body = 4 * n;
      else if (f.wireType === WT_I64) body = 8 * n;
      else for (let i = 0; i < n; i++) body += scalarSize(f, arr[i], this.strings);
      if (f.packed) {
        this.sizes.push(body);
        total += tagSize + varintSize32(body) + body;
      } else {
        total += tagSize * n + body;
      }
    }
    return total;
  }

  varint32(v: number): void {
    const b = this.buf;
    let p = this.pos;
    while (v >= 0x80) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  varint64(lo: number, hi: number): void {
    const b = this.buf;
    let p = this.pos;
    while (hi !== 0 || lo >= 0x80) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  scalar(f: FieldInfo, v: unknown): void {
    switch (f.kind) {
      case Kind.Double:
        this.view.setFloat64(this.pos, num(v, f.name), true);
        this.pos += 8;
        return;
      case Kind.Float:
        this.view.setFloat32(this.pos, num(v, f.name), true);
        this.pos += 4;
        return;
      case Kind.Fixed32:
        this.view.setUint32(this.pos, num(v, f.name) >>> 0, true);
        this.pos += 4;
        return;
      case Kind.Sfixed32:
        this.view.setInt32(this.pos, num(v, f.name) | 0, true);
        this.pos += 4;
        return;
      case Kind.Fixed64:
      case Kind.Sfixed64: {
        const [lo, hi] = bits64(v, f.name);
        this.view.setUint32(this.pos, lo, true);
        this.view.setUint32(this.pos + 4, hi, true);
        this.pos += 8;
        return;
      }
      case Kind.Bool:
        this.buf[this.pos++] = v ? 1 : 0;
        return;
      case Kind.Int32:
      case Kind.Enum: {
        const x = f.kind === Kind.Enum ? enumValue(f, v) : num(v, f.name) | 0;
        if (x < 0) this.varint64(x >>> 0, 0xffffffff);
        else this.varint32(x);
        return;
      }
      case Kind.Uint32:
        this.varint32(num(v, f.name) >>> 0);
        return;
      case Kind.Sint32: {
        const x = num(v, f.name) | 0;
        this.varint32(((x << 1) ^ (x >> 31)) >>> 0);
        return;
      }
      case Kind.Int64:
      case Kind.Uint64: {
        const [lo, hi] = bits64(v, f.name);
        this.varint64(lo, hi);
        return;
      }
      case Kind.Sint64: {
        const [lo, hi] = zigzag64(bits64(v, f.name));
        this.varint64(lo, hi);
        return;
      }
      case Kind.String: {
        const s = this.strings[this.strIdx++];
        this.varint32(s.length);
        this.buf.set(s, this.pos);
        this.pos += s.length;
        return;
      }
      case Kind.Bytes: {
        const b = v as Uint8Array;
        this.varint32(b.length);
        this.buf.set(b, this.pos);
        this.pos += b.length;
        return;
      }
      default:
        throw new Error('unreachable');
    }
  }

  /** Pass 2: writes a message body (sizes and strings consumed in pass-1 order). */
  write(info: TypeInfo, msg: Message): void {
    for (const f of info.ordered) {
      if (!present(msg, f)) continue;
      const v = msg[f.name];
      if (f.kind === Kind.Message) {
        const sub = infoOf(f.msgType!);
        const list = f.repeated ? (v as Message[]) : [v as Message];
        for (const m of list) {
          this.varint32(f.id * 8 + WT_LEN);
          const s = this.sizes[this.sizeIdx++];
          this.varint32(s);
          const start = this.pos;
          this.write(sub, m);
          if (this.pos - start !== s) throw new Error(`encodeMessage: size mismatch in ${sub.type.name}`);
        }
        continue;
      }
      if (!f.repeated) {
        this.varint32(f.id * 8 + f.wireType);
        this.scalar(f, v);
        continue;
      }
      const arr = v as ArrayLike<unknown>;
      const n = arr.length;
      if (f.packed) {
        this.varint32(f.id * 8 + WT_LEN);
        this.varint32(this.sizes[this.sizeIdx++]);
        if (LITTLE_ENDIAN && (arr instanceof Float32Array || arr instanceof Float64Array)) {
          const isMatch = (f.kind === Kind.Float) === arr instanceof Float32Array;
          if (isMatch) {
            this.buf.set(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength), this.pos);
            this.pos += arr.byteLength;
            continue;
          }
        }
        for (let i = 0; i < n; i++) this.scalar(f, arr[i]);
        continue;
      }
      const tag = f.id * 8 + f.wireType;
      for (let i = 0; i < n; i++) {
        this.varint32(tag);
        this.scalar(f, arr[i]);
      }
    }
  }
}

/**
 * Encodes a message (an instance of the type's ctor, or a plain object of the same shape) to
 * the binary wire format.
 */
export function encodeMessage(msg: Message, type: string | Type): Uint8Array {
  const info = infoOf(resolveType(type));
  const enc = new Encoder();
  const size = enc.measure(info, msg, 0);
  enc.buf = new Uint8Array(size);
  enc.view = new DataView(enc.buf.buffer);
  enc.write(info, msg);
  if (enc.pos !== size) throw new Error(`encodeMessage: wrote ${enc.pos} bytes, expected ${size}`);
  return enc.buf;
}
