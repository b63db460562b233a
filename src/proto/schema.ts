// The caffe.proto schema, loaded once through protobufjs reflection.
//
// Messages everywhere in caffe-ts are instances of the reflected types' constructors
// (`type.ctor`): an unset optional field reads the proto2 default through the prototype, exactly
// like Caffe's generated accessors, and presence is an own property (see `has`).
// Repeated float fields hold Float32Array, repeated double fields Float64Array; other repeated
// fields are plain arrays. int64/uint64 values are JS numbers when they are safe integers and
// `Long` otherwise (use `toNumber`).
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import Long from 'long';

const require = createRequire(import.meta.url);
void require;
protobuf.util.Long = Long;
protobuf.configure();

export type Message = { [field: string]: any };
export type Type = protobuf.Type;
export type Field = protobuf.Field;
export type Enum = protobuf.Enum;

function findProtoDir(): string {
  // Works from src/ (vitest) and from dist/src/ (built CLI).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'proto');
    if (existsSync(join(p, 'caffe.proto'))) return p;
    dir = dirname(dir);
  }
  throw new Error('caffe-ts: cannot find proto/caffe.proto next to the package');
}

const protoDir = findProtoDir();

/**
 * Where a field that a fork adds to one of BVLC's messages comes from, and whether binary files
 * can carry it: a fork field whose number BVLC (or a fork loaded before it) already uses is
 * `textOnly`: prototxts set it by name, while that number in a binary file decodes as the field
 * that owns it, and the binary encoder leaves it out.
 */
export interface ForkFieldInfo {
  file: string;
  textOnly: boolean;
  /** The number the fork gives the field (a text-only field's schema number is a stand-in). */
  number: number;
}

const forkFields = new WeakMap<Field, ForkFieldInfo>();

/** The fork a field comes from (undefined for BVLC's own fields). */
export function forkFieldInfo(field: Field): ForkFieldInfo | undefined {
  return forkFields.get(field);
}

/** True for a fork field that only the text format carries (see ForkFieldInfo). */
export function isTextOnly(field: Field): boolean {
  return forkFields.get(field)?.textOnly === true;
}

// Numbers given to text-only fields: the top of the field-number range, counted down, so they
// never meet a number that Caffe or a fork uses.
let nextTextOnlyId = 536870911;

/**
 * Adds one fork's .proto (package caffe) to `into`: its messages and enums as they are, and its
 * `extend Msg { ... }` fields as ordinary fields of BVLC's Msg under their plain names (protobufjs
 * would name them `.caffe.x`), so the text parser, the binary codec, `has` and `fieldOf` treat
 * them like any other field. Keeping the forks in their own files keeps caffe.proto equal to BVLC's.
 */
export function addForkProto(into: protobuf.Root, source: string, file: string): void {
  const parsed = protobuf.parse(source, { keepCase: true }).root;
  const pkg = parsed.lookup('caffe');
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`caffe-ts: ${file} must declare package caffe`);
  const caffe = into.lookup('caffe') as protobuf.Namespace;
  for (const obj of [...pkg.nestedArray]) {
    pkg.remove(obj);
    if (obj instanceof protobuf.Field) {
      const target = caffe.lookupType(obj.extend!.replace(/^\.?(caffe\.)?/, ''));
      const taken = target.fieldsArray.some((f) => f.id === obj.id) || Object.hasOwn(target.fields, obj.name);
      if (Object.hasOwn(target.fields, obj.name)) {
        throw new Error(`caffe-ts: ${file}: ${target.name} already has a field named ${obj.name}`);
      }
      const field = new protobuf.Field(obj.name, taken ? nextTextOnlyId-- : obj.id, obj.type, obj.rule, undefined, obj.options);
      forkFields.set(field, { file, textOnly: taken, number: obj.id });
      target.add(field);
    } else {
      caffe.add(obj);
    }
  }
}

/** proto/forks/*.proto, in name order: the fields and messages of Caffe's forks. */
function forkProtoFiles(): string[] {
  const dir = join(protoDir, 'forks');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.proto')).sort().map((f) => join(dir, f));
}

// Parsed from the file's text (not protobufjs's loadSync, which reads files itself): the browser
// build serves the package's .proto files from memory through the same readFileSync.
export const root: protobuf.Root = protobuf.parse(readFileSync(join(protoDir, 'caffe.proto'), 'utf8'), new protobuf.Root(), { keepCase: true }).root;
for (const file of forkProtoFiles()) addForkProto(root, readFileSync(file, 'utf8'), file);
root.resolveAll();
roundFloatDefaults(root);

/**
 * Caffe reads an unset float field as the float32 default (eps 1e-5, moving_average_fraction
 * 0.999, ...); protobufjs keeps the double literal. Round the prototype defaults so arithmetic
 * starts from the same value as Caffe's.
 */
function roundFloatDefaults(ns: protobuf.NamespaceBase): void {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type) {
      const proto = (obj.ctor as any).prototype;
      for (const f of obj.fieldsArray) {
        if (f.type === 'float' && !f.repeated && typeof proto[f.name] === 'number') proto[f.name] = Math.fround(proto[f.name]);
      }
    }
    if (obj instanceof protobuf.Namespace) roundFloatDefaults(obj);
  }
}

const typeCache = new Map<string, Type>();
/** Looks up a message type by name, with or without the `caffe.` package prefix. */
export function messageType(name: string): Type {
  let t = typeCache.get(name);
  if (!t) {
    t = root.lookupType(name.startsWith('caffe.') || name.startsWith('.') ? name : 'caffe.' + name);
    typeCache.set(name, t);
  }
  return t;
}

export function enumType(name: string): Enum {
  return root.lookupEnum(name.startsWith('caffe.') ? name : 'caffe.' + name);
}

/** A new, empty message of the named type (all fields at their defaults). */
export function newMessage(typeName: string): Message {
  return new (messageType(typeName).ctor as any)();
}

/**
 * Builds a message from a plain JS object (nested objects become sub-messages, enum names are
 * accepted), through protobufjs's fromObject. For code and tests, not for untrusted input.
 */
export function fromObject(typeName: string, obj: Record<string, unknown>): Message {
  return messageType(typeName).fromObject(obj) as Message;
}

/** Caffe's has_xxx(): true when the field was set (repeated: non-empty). */
export function has(msg: Message, field: string): boolean {
  if (!Object.hasOwn(msg, field)) return false;
  const v = msg[field];
  if (v === null || v === undefined) return false;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return (v as ArrayLike<unknown>).length > 0;
  return true;
}

/** A field of a type by name, or undefined; never walks the prototype chain. */
export function fieldOf(type: Type, name: string): Field | undefined {
  return Object.hasOwn(type.fields, name) ? type.fields[name] : undefined;
}

export function toNumber(v: number | Long | string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  return v.toNumber();
}

export { Long, protobuf };

/** Deep copy of a message (Caffe's CopyFrom): sub-messages and arrays are copied, not shared. */
export function cloneMessage<T extends Message>(msg: T, typeName?: string | Type): T {
  const type: Type =
    typeName === undefined
      ? ((msg as any).$type as Type)
      : typeof typeName === 'string'
        ? messageType(typeName)
        : typeName;
  const out = new (type.ctor as any)() as Message;
  for (const f of type.fieldsArray) {
    if (!Object.hasOwn(msg, f.name)) continue;
    const v = msg[f.name];
    if (v === null || v === undefined) continue;
    const sub = f.resolvedType instanceof protobuf.Type ? f.resolvedType : null;
    if (f.repeated) {
      if (ArrayBuffer.isView(v)) out[f.name] = (v as Float32Array).slice();
      else out[f.name] = sub ? (v as Message[]).map((m) => cloneMessage(m, sub)) : (v as unknown[]).slice();
    } else if (sub) {
      out[f.name] = cloneMessage(v, sub);
    } else if (v instanceof Uint8Array) {
      out[f.name] = v.slice();
    } else {
      out[f.name] = v;
    }
  }
  return out as T;
}
