// The structural rules of ONNX's checker that we can apply ourselves to a graph we built:
// every value written once, every node input defined before use, outputs defined, and every
// operator written in a form its opset defines. (Shapes are checked by running the model.)
import { NetError } from '../util/errors.js';
import type { OnnxGraph } from './graph.js';

/** The first opset in which each operator we write has the form we write it in. */
const OP_SINCE: Record<string, number> = {
  Abs: 6, Add: 7, AveragePool: 11, BatchNormalization: 9, Cast: 6, Clip: 11, Concat: 4, Conv: 11,
  ConvTranspose: 11, Div: 7, Elu: 6, Equal: 11, Exp: 6, Expand: 8, Gather: 11, GatherElements: 11, Gemm: 11, GlobalAveragePool: 1,
  GlobalMaxPool: 1, Greater: 9, GreaterOrEqual: 12, Identity: 1, LeakyRelu: 6, LessOrEqual: 12, Log: 6, LRN: 1, Max: 8, MaxPool: 11, Mul: 7,
  Mod: 10, Neg: 6, Not: 1, Pad: 11, Pow: 7, PRelu: 9, ReduceL1: 11, ReduceMean: 11, ReduceSum: 13, ReduceSumSquare: 11, Relu: 6,
  Reshape: 5, Shape: 1, Sigmoid: 6, Slice: 10, Softmax: 13, Softplus: 1, Split: 13, Sqrt: 6, Sub: 7,
  Sum: 8, Tanh: 6, Tile: 6, TopK: 11, Transpose: 1, Where: 9,
};
/** Reduce operators whose axes moved from an attribute to an input in opset 18. */
const AXES_INPUT_18 = new Set(['ReduceL1', 'ReduceMean', 'ReduceSumSquare']);

export function checkGraph(g: OnnxGraph, opset: number): void {
  const fail = (msg: string): never => {
    throw new NetError(`ONNX graph '${g.name}' is invalid: ${msg}`);
  };
  const defined = new Set<string>();
  const define = (name: string, what: string) => {
    if (!name) fail(`${what} has an empty name`);
    if (defined.has(name)) fail(`value '${name}' is written twice (${what})`);
    defined.add(name);
  };
  for (const v of g.inputs) define(v.name, 'graph input');
  for (const t of g.initializers) define(t.name, 'initializer');
  const nodeNames = new Set<string>();
  for (const n of g.nodes) {
    if (nodeNames.has(n.name)) fail(`node name '${n.name}' is used twice`);
    nodeNames.add(n.name);
    for (const x of n.inputs) if (x !== '' && !defined.has(x)) fail(`node '${n.name}' (${n.opType}) reads '${x}' before anything writes it`);
    if (n.domain === '') {
      const since = OP_SINCE[n.opType];
      if (since === undefined) fail(`node '${n.name}': operator ${n.opType} is not one the exporter knows the opsets of`);
      if (opset < since) fail(`node '${n.name}': ${n.opType} as written needs opset ${since}, the model imports ${opset}`);
      if (AXES_INPUT_18.has(n.opType) && (opset >= 18) !== (n.inputs.length === 2)) {
        fail(`node '${n.name}': ${n.opType} takes its axes as ${opset >= 18 ? 'an input' : 'an attribute'} in opset ${opset}`);
      }
    }
    for (const y of n.outputs) define(y, `output of node '${n.name}'`);
  }
  const outs = new Set<string>();
  for (const v of g.outputs) {
    if (!defined.has(v.name)) fail(`graph output '${v.name}' is never written`);
    if (outs.has(v.name)) fail(`graph output '${v.name}' is listed twice`);
    outs.add(v.name);
  }
}
