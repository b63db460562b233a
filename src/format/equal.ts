// Message equality by the schema: present fields only, presence included (proto2: a field set
// to its default differs from an unset one), repeated numeric fields elementwise whatever the
// container (Array, Float32Array, Float64Array), NaN equal to NaN, float fields compared as
// float32, 64-bit integers by value (number, Long or string), bytes bytewise.
import { messageType, Long } from '../proto/schema.js';
import type { Message, Type, Field } from '../proto/schema.js';
import protobuf from 'protobufjs';

function typeOf(typeName: string | Type): Type {
  return typeof typeName === 'string' ? messageType(typeName) : typeName;
}

const sortedFields = new WeakMap<Type, Field[]>();
function fieldsByNumber(type: Type): Field[] {
  let f = sortedFields.get(type);
  if (!f) {
    f = [...type.fieldsArray].sort((p, q) => p.id - q.id);
    for (const x of f) x.resolve();
    sortedFields.set(type, f);
  }
  return f;
}

function present(msg: Message, field: Field): boolean {
  if (!Object.hasOwn(msg, field.name)) return false;
  const v = msg[field.name];
  if (v === null || v === undefined) return false;
  if (field.repeated) return (Array.isArray(v) || ArrayBuffer.isView(v)) && (v as ArrayLike<unknown>).length > 0;
  return true;
}

const UNSIGNED = new Set(['uint32', 'fixed32', 'uint64', 'fixed64']);
const INTS = new Set(['int32', 'sint32', 'sfixed32', 'uint32', 'fixed32', 'int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

function bigOf(v: unknown, unsigned: boolean): bigint | null {
  try {
    if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : null;
    if (typeof v === 'bigint') return v;
    if (typeof v === 'string') return BigInt(v);
    if (Long.isLong(v)) {
      const l = v as Long;
      return BigInt((unsigned ? l.toUnsigned() : l.toSigned()).toString());
    }
  } catch {
    return null;
  }
  return null;
}

function bytesOf(v: unknown): Uint8Array | null {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') {
    const buf = new Uint8Array(protobuf.util.base64.length(v));
    protobuf.util.base64.decode(v, buf, 0);
    return buf;
  }
  if (Array.isArray(v)) return Uint8Array.from(v);
  return null;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (v instanceof Uint8Array) return `bytes[${v.length}]`;
  if (Long.isLong(v)) return (v as Long).toString();
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

/** Compares two scalar values of `field`; returns a description of the difference or null. */
function scalarDiff(a: unknown, b: unknown, field: Field): string | null {
  const t = field.type;
  if (t === 'float' || t === 'double') {
    let x = Number(a);
    let y = Number(b);
    if (t === 'float') {
      x = Math.fround(x);
      y = Math.fround(y);
    }
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) return null;
    return `${show(x)} vs ${show(y)}`;
  }
  if (INTS.has(t)) {
    const x = bigOf(a, UNSIGNED.has(t));
    const y = bigOf(b, UNSIGNED.has(t));
    if (x !== null && x === y) return null;
    return `${show(a)} vs ${show(b)}`;
  }
  if (t === 'bytes') {
    const x = bytesOf(a);
    const y = bytesOf(b);
    if (x && y && x.length === y.length && x.every((c, i) => c === y[i])) return null;
    return `${show(x)} vs ${show(y)}`;
  }
  if (field.resolvedType instanceof protobuf.Enum) {
    const e = field.resolvedType;
    const num = (v: unknown) => (typeof v === 'string' && Object.hasOwn(e.values, v) ? e.values[v] : Number(v));
    if (num(a) === num(b)) return null;
    return `${show(a)} vs ${show(b)}`;
  }
  if (a === b) return null;
  return `${show(a)} vs ${show(b)}`;
}

/**
 * The first difference (depth-first, in field-number order) between two messages of `type`, as
 * `path: detail` (e.g. `layer[3].convolution_param.kernel_size[0]: 3 vs 5`,
 * `layer[0].convolution_param.pad_h: present vs absent`), or null when equal.
 */
export function messagesDiff(a: Message, b: Message, typeName: string | Type): string | null {
  // Depth-first in field-number order with an explicit stack (no recursion).
  interface Frame {
    x: Message;
    y: Message;
    fields: Field[];
    path: string;
    fi: number; // next field
    ei: number; // next element of a repeated message field
  }
  const rootType = typeOf(typeName);
  const stack: Frame[] = [{ x: a, y: b, fields: fieldsByNumber(rootType), path: '', fi: 0, ei: 0 }];
  while (stack.length) {
    const fr = stack[stack.length - 1];
    if (fr.fi >= fr.fields.length) {
      stack.pop();
      continue;
    }
    const field = fr.fields[fr.fi];
    const p = fr.path ? `${fr.path}.${field.name}` : field.name;
    const isMsg = field.resolvedType instanceof protobuf.Type;
    if (fr.ei === 0) {
      const px = present(fr.x, field);
      const py = present(fr.y, field);
      if (px !== py) return `${p}: ${px ? 'present' : 'absent'} vs ${py ? 'present' : 'absent'}`;
      if (!px) {
        fr.fi++;
        continue;
      }
    }
    const vx = fr.x[field.name];
    const vy = fr.y[field.name];
    if (!field.repeated) {
      fr.fi++;
      if (isMsg) {
        stack.push({ x: vx, y: vy, fields: fieldsByNumber(field.resolvedType as Type), path: p, fi: 0, ei: 0 });
        continue;
      }
      const d = scalarDiff(vx, vy, field);
      if (d) return `${p}: ${d}`;
      continue;
    }
    const ax = vx as ArrayLike<unknown>;
    const ay = vy as ArrayLike<unknown>;
    if (ax.length !== ay.length) return `${p}: ${ax.length} vs ${ay.length} elements`;
    if (!isMsg) {
      for (let i = 0; i < ax.length; i++) {
        const d = scalarDiff(ax[i], ay[i], field);
        if (d) return `${p}[${i}]: ${d}`;
      }
      fr.fi++;
      continue;
    }
    const i = fr.ei;
    if (i + 1 >= ax.length) {
      fr.fi++;
      fr.ei = 0;
    } else {
      fr.ei = i + 1;
    }
    const ex = ax[i] as Message | null;
    const ey = ay[i] as Message | null;
    if (ex == null || ey == null) {
      if (ex != ey) return `${p}[${i}]: ${ex == null ? 'null' : 'message'} vs ${ey == null ? 'null' : 'message'}`;
      continue;
    }
    stack.push({ x: ex, y: ey, fields: fieldsByNumber(field.resolvedType as Type), path: `${p}[${i}]`, fi: 0, ei: 0 });
  }
  return null;
}

/** True when the two messages have the same present fields with equal values. */
export function messagesEqual(a: Message, b: Message, typeName: string | Type): boolean {
  return messagesDiff(a, b, typeName) === null;
}
