// Turns an exported graph into ONNX's protobuf (ModelProto) and writes it. A protobuf message
// cannot exceed 2 GB, so bigger models keep their large tensors in a side file (ONNX's external
// data: location, offset and length per tensor, relative to the model file).
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NetError } from '../util/errors.js';
import { writeAtomicVia, writeFileAtomic } from '../util/fs.js';
import { onnxType, irVersionFor, DataType } from './schema.js';
import type { AttrValue, Initializer, OnnxNode, ValueInfo } from './graph.js';
import { CUSTOM_DOMAIN, type OnnxExport } from './export.js';

/** Largest model we write as one message: protobuf's 2 GB limit, less room for the graph. */
export const INLINE_LIMIT = 2 ** 31 - 2 ** 26;
/** Tensors smaller than this stay in the model file even when the others go external. */
const EXTERNAL_MIN_BYTES = 1024;
const ALIGN = 64;

export interface WriteOptions {
  /** true: large tensors in OUT.data; false: one file (fails over 2 GB); default: external only when needed. */
  externalData?: boolean;
}

export interface WriteResult {
  path: string;
  /** The external data file, when one was written. */
  dataPath?: string;
  bytes: number;
}

interface Placement {
  location: string;
  offset: number;
}

function attribute(name: string, a: AttrValue): object {
  switch (a.type) {
    case 1:
      return { name, type: a.type, f: a.f };
    case 2:
      return { name, type: a.type, i: a.i };
    case 3:
      return { name, type: a.type, s: Buffer.from(a.s, 'utf8') };
    case 6:
      return { name, type: a.type, floats: a.floats };
    case 7:
      return { name, type: a.type, ints: a.ints };
  }
}

function nodeMessage(n: OnnxNode): object {
  return {
    name: n.name,
    op_type: n.opType,
    domain: n.domain,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
  };
}

function valueInfo(v: ValueInfo): object {
  return { name: v.name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: v.dims.map((d) => ({ dim_value: d })) } } } };
}

function tensorMessage(t: Initializer, place?: Placement): object {
  const base = { name: t.name, dims: t.dims, data_type: t.dataType };
  if (!place) return { ...base, raw_data: t.bytes };
  return {
    ...base,
    data_location: 1,
    external_data: [
      { key: 'location', value: place.location },
      { key: 'offset', value: String(place.offset) },
      { key: 'length', value: String(t.bytes.byteLength) },
    ],
  };
}

/** The ModelProto message; tensors in `placements` point into external data. */
export function modelMessage(exp: OnnxExport, placements = new Map<string, Placement>()): any {
  const g = exp.graph;
  const opsets = [{ domain: '', version: exp.opset }];
  if (exp.custom) opsets.push({ domain: CUSTOM_DOMAIN, version: 1 });
  const model = {
    ir_version: irVersionFor(exp.opset),
    opset_import: opsets,
    producer_name: 'caffe-ts',
    graph: {
      name: g.name,
      node: g.nodes.map(nodeMessage),
      initializer: g.initializers.map((t) => tensorMessage(t, placements.get(t.name))),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
      value_info: g.valueInfo.map(valueInfo),
    },
  };
  const type = onnxType('ModelProto');
  return type.fromObject(model);
}

function tensorBytes(exp: OnnxExport): number {
  return exp.graph.initializers.reduce((s, t) => s + t.bytes.byteLength, 0);
}

/** The model as one file's bytes (every tensor inline). */
export function encodeOnnx(exp: OnnxExport): Uint8Array {
  if (tensorBytes(exp) > INLINE_LIMIT) {
    throw new NetError(`the model's tensors take ${tensorBytes(exp)} bytes, over protobuf's 2 GB limit for one file: write it with external data`);
  }
  return onnxType('ModelProto').encode(modelMessage(exp)).finish();
}

/** Writes OUT (and OUT.data with external data), each atomically. */
export function writeOnnx(exp: OnnxExport, path: string, options: WriteOptions = {}): WriteResult {
  const external = options.externalData ?? tensorBytes(exp) > INLINE_LIMIT;
  if (!external) {
    const bytes = encodeOnnx(exp);
    writeFileAtomic(path, bytes);
    return { path, bytes: bytes.byteLength };
  }
  const location = `${basename(path)}.data`;
  const dataPath = join(dirname(path), location);
  const placements = new Map<string, Placement>();
  writeAtomicVia(dataPath, (tmp) => {
    const fd = openSync(tmp, 'wx', 0o666);
    try {
      let offset = 0;
      const pad = new Uint8Array(ALIGN);
      for (const t of exp.graph.initializers) {
        if (t.bytes.byteLength < EXTERNAL_MIN_BYTES) continue;
        const gap = (ALIGN - (offset % ALIGN)) % ALIGN;
        if (gap) writeAll(fd, pad.subarray(0, gap));
        offset += gap;
        placements.set(t.name, { location, offset });
        writeAll(fd, t.bytes);
        offset += t.bytes.byteLength;
      }
    } finally {
      closeSync(fd);
    }
  });
  const bytes = onnxType('ModelProto').encode(modelMessage(exp, placements)).finish();
  writeFileAtomic(path, bytes);
  return { path, dataPath, bytes: bytes.byteLength };
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.byteLength; ) off += writeSync(fd, data, off, Math.min(data.byteLength - off, 1 << 30));
}
