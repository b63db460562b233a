// The graph under construction: nodes in topological order, initializers, and one namespace
// for values, so every name is unique (Caffe reuses a blob name for every in-place layer; ONNX
// values are written once).
import { AttrType, DataType } from './schema.js';

export type AttrValue =
  | { type: typeof AttrType.INT; i: number }
  | { type: typeof AttrType.INTS; ints: number[] }
  | { type: typeof AttrType.FLOAT; f: number }
  | { type: typeof AttrType.FLOATS; floats: number[] }
  | { type: typeof AttrType.STRING; s: string };

export const int = (i: number): AttrValue => ({ type: AttrType.INT, i });
export const ints = (v: readonly number[]): AttrValue => ({ type: AttrType.INTS, ints: v.slice() });
export const float = (f: number): AttrValue => ({ type: AttrType.FLOAT, f: Math.fround(f) });
export const str = (s: string): AttrValue => ({ type: AttrType.STRING, s });

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian values, C order. */
  bytes: Uint8Array;
}

export interface ValueInfo {
  name: string;
  dims: number[];
}

export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly valueInfo: ValueInfo[] = [];
  private readonly names = new Set<string>();
  /** Names only claim() may take (the Caffe blob names), so fresh() never takes one early. */
  private readonly reserved = new Set<string>();
  private readonly nodeNames = new Set<string>();

  constructor(readonly name: string) {}

  reserve(names: Iterable<string>): void {
    for (const n of names) this.reserved.add(n);
  }

  isTaken(name: string): boolean {
    return this.names.has(name);
  }

  /** Claims `base`, or `base_1`, `base_2`... if taken or reserved. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name) || this.reserved.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** Claims an exact name (a Caffe blob name for a graph input or output). */
  claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX value name '${name}' used twice`);
    this.names.add(name);
    return name;
  }

  /**
   * Appends a node. `outputs` are names already claimed, or a count of fresh ones named after
   * the node. Returns the output names.
   */
  node(opType: string, inputs: string[], outputs: string[] | number, attrs: Record<string, AttrValue> = {}, nodeName = opType, domain = ''): string[] {
    let name = nodeName;
    for (let k = 1; this.nodeNames.has(name); k++) name = `${nodeName}_${k}`;
    this.nodeNames.add(name);
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => this.fresh(`${name}:${i}`)) : outputs;
    this.nodes.push({ name, opType, domain, inputs, outputs: outs, attrs });
    return outs;
  }

  /** A one-output node; returns its output name. */
  op(opType: string, inputs: string[], nodeName: string, attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, 1, attrs, nodeName)[0];
  }

  floatTensor(base: string, dims: readonly number[], data: Float32Array): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: dims.slice(), dataType: DataType.FLOAT, bytes: leBytes(Float32Array.from(data)) });
    return name;
  }

  floatScalar(base: string, v: number): string {
    return this.floatTensor(base, [], Float32Array.of(v));
  }

  int64Tensor(base: string, values: readonly number[]): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, bytes: leBytes(BigInt64Array.from(values, (v) => BigInt(v))) });
    return name;
  }
}

function leBytes(a: Float32Array | BigInt64Array): Uint8Array {
  // Every platform Node.js supports is little-endian, as ONNX's raw_data is.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
