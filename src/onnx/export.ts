// exportOnnx: walks a built Net's layers in order and asks each type's converter for the nodes
// that compute it. Graph inputs are the tops of Input (and other data-source) layers, graph
// outputs the net's outputs, all named by their Caffe blob names.
import type { Net } from '../graph/net.js';
import type { Blob } from '../graph/blob.js';
import { printText } from '../format/text.js';
import { cloneMessage } from '../proto/schema.js';
import { LayerError, NetError } from '../util/errors.js';
import { OnnxGraph, ints as intsAttr, str, type AttrValue } from './graph.js';
import { converterFor, type ConvertContext } from './registry.js';
import { checkGraph } from './check.js';
import './converters.js';

export const MIN_OPSET = 13;
export const MAX_OPSET = 21;
/** Domain of the nodes --allow-custom writes for layers ONNX cannot express. */
export const CUSTOM_DOMAIN = 'org.caffe-ts.caffe';

export interface ExportOptions {
  /** Default-domain opset to target (13..21, default 13). */
  opset?: number;
  /** Write layers ONNX cannot express as CUSTOM_DOMAIN nodes instead of failing. */
  allowCustom?: boolean;
  /** More blobs to expose as graph outputs (their final values), besides the net's outputs. */
  outputs?: string[];
  /** Graph name (default: the net's name). */
  name?: string;
}

export interface OnnxExport {
  graph: OnnxGraph;
  opset: number;
  /** Whether CUSTOM_DOMAIN nodes were written. */
  custom: boolean;
}

/** Layers whose tops come from outside the net: their tops become graph inputs. */
const SOURCE_TYPES = new Set(['Input', 'Data', 'ImageData', 'HDF5Data', 'MemoryData']);

export function exportOnnx(net: Net, options: ExportOptions = {}): OnnxExport {
  const opset = options.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new NetError(`ONNX opset ${opset} is not supported: give ${MIN_OPSET} to ${MAX_OPSET}`);
  }
  const g = new OnnxGraph(options.name ?? (net.name || 'caffe'));
  g.reserve(net.blobNames);
  const value = new Map<string, string>();
  // Caffe rewrites a blob in place; only its last writer's value carries the plain blob name.
  const lastWriter = new Map<string, number>();
  net.topIds.forEach((ids, i) => ids.forEach((id) => lastWriter.set(net.blobNames[id], i)));
  const scope: Scope = { g, opset, allowCustom: !!options.allowCustom, params: new Map(), custom: false };

  for (const name of net.inputs) {
    g.inputs.push({ name: g.claim(name), dims: net.blob(name).shape.slice() });
    value.set(name, name);
  }
  const topName = (t: string, i: number) => (lastWriter.get(t) === i && !g.isTaken(t) ? g.claim(t) : g.fresh(t));
  emitLayers(scope, net, value, net.layers.length, topName, (t) => {
    if (value.has(t)) return; // already a net input
    g.inputs.push({ name: g.claim(t), dims: net.blob(t).shape.slice() });
    value.set(t, t);
  });

  const outputs = [...net.outputs, ...(options.outputs ?? []).filter((o) => !net.outputs.includes(o))];
  for (const name of outputs) {
    const v = value.get(name);
    if (v === undefined) throw new NetError(`cannot output blob '${name}': the net has no such blob, or no layer wrote it`);
    let out = v;
    if (v !== name) {
      // The blob's final value got another name (its plain name was an input's): copy it out.
      out = g.isTaken(name) ? g.fresh(name) : g.claim(name);
      g.node('Identity', [v], [out], {}, `${name}/output`);
    }
    g.outputs.push({ name: out, dims: net.blob(name).shape.slice() });
  }
  const outputNames = new Set(g.outputs.map((v) => v.name));
  g.valueInfo.splice(0, g.valueInfo.length, ...g.valueInfo.filter((v) => !outputNames.has(v.name)));
  checkGraph(g, opset);
  return { graph: g, opset, custom: scope.custom };
}

/** What the layers of one export share (the top-level net's and any unrolled inner net's). */
interface Scope {
  g: OnnxGraph;
  opset: number;
  allowCustom: boolean;
  /** One initializer per parameter Blob and shape: shared weights stay shared. */
  params: Map<Blob, Map<string, string>>;
  custom: boolean;
}

/**
 * Emits layers [0, end) of `net`. `value` maps blob names to the ONNX values holding them
 * (updated as layers write); `topName` names the value a layer's top gets; `onSource` takes the
 * tops of data-source layers.
 */
function emitLayers(scope: Scope, net: Net, value: Map<string, string>, end: number, topName: (blob: string, layer: number) => string, onSource: (blob: string) => void): void {
  const { g } = scope;
  for (let i = 0; i < end; i++) {
    const layer = net.layers[i];
    const layerName = net.layerNames[i];
    const type = layer.type;
    const bottomNames = net.bottomIds[i].map((id) => net.blobNames[id]);
    const topNames = net.topIds[i].map((id) => net.blobNames[id]);
    if (SOURCE_TYPES.has(type)) {
      topNames.forEach(onSource);
      continue;
    }
    const bottoms = bottomNames.map((b) => {
      const v = value.get(b);
      if (v === undefined) throw new NetError(`layer '${layerName}' reads blob '${b}', which nothing wrote`);
      return v;
    });
    if (type === 'Split') {
      // Split's tops are the bottom itself.
      for (const t of topNames) value.set(t, bottoms[0]);
      continue;
    }
    const tops = topNames.map((t) => topName(t, i));
    const ctx = makeContext(scope, net, i, bottoms, tops);
    const convert = converterFor(type);
    try {
      if (!convert) throw ctx.error(`has no ONNX equivalent${scope.allowCustom ? '' : ` (pass allowCustom / --allow-custom to write it as a '${CUSTOM_DOMAIN}' node)`}`);
      convert(ctx);
    } catch (e) {
      if (!(e instanceof LayerError) || !scope.allowCustom || convert) throw e;
      customNode(ctx, layer.param);
      scope.custom = true;
    }
    topNames.forEach((t, k) => value.set(t, tops[k]));
    // Caffe's shape for every top, for consumers of the graph.
    tops.forEach((t, k) => g.valueInfo.push({ name: t, dims: net.topVecs[i][k].shape.slice() }));
  }
}

function makeContext(scope: Scope, net: Net, i: number, bottoms: string[], tops: string[]): ConvertContext {
  const { g, opset, params } = scope;
  const layer = net.layers[i];
  const name = net.layerNames[i];
  const ctx: ConvertContext = {
    g,
    layer,
    name,
    bottoms,
    bottomShapes: net.bottomVecs[i].map((b) => b.shape.slice()),
    bottomBlobs: net.bottomVecs[i],
    tops,
    topShapes: net.topVecs[i].map((b) => b.shape.slice()),
    opset,
    param(k, dims) {
      const blob = layer.blobs[k];
      if (!blob) throw ctx.error(`has no parameter blob ${k}`);
      const shape = dims ?? blob.shape;
      // Shared parameters (same Blob) become one initializer per shape asked for.
      const byShape = params.get(blob) ?? new Map<string, string>();
      params.set(blob, byShape);
      const key = shape.join('x');
      let init = byShape.get(key);
      if (!init) {
        init = g.floatTensor(`${name}/param_${k}`, shape, blob.data);
        byShape.set(key, init);
      }
      return init;
    },
    op(opType, inputs, out, attrs = {}) {
      if (out === 'tmp') return g.op(opType, inputs, name, attrs);
      return g.node(opType, inputs, [tops[out]], attrs, name)[0];
    },
    ints: (values) => g.int64Tensor(`${name}/const`, values),
    scalar: (v) => g.floatScalar(`${name}/const`, v),
    reduce(opType, x, axes, keepdims, out) {
      const axesAsInput = opType === 'ReduceSum' ? opset >= 13 : opset >= 18;
      const attrs: Record<string, AttrValue> = { keepdims: { type: 2, i: keepdims ? 1 : 0 } };
      if (axesAsInput) return ctx.op(opType, [x, ctx.ints(axes)], out, attrs);
      return ctx.op(opType, [x], out, { ...attrs, axes: intsAttr(axes) });
    },
    error: (detail) => new LayerError(name, layer.type, `cannot be exported to ONNX: ${detail}`),
    subnet(inner, inputs, end) {
      // An inner net's blob names are its own: its values get names under this layer's.
      const value = new Map(inputs);
      emitLayers(scope, inner, value, end, (t) => g.fresh(`${name}/${t}`), (t) => {
        if (!value.has(t)) throw ctx.error(`internal: the inner net's input '${t}' was not given`);
      });
      return value;
    },
  };
  return ctx;
}

/**
 * A layer ONNX cannot express, kept as a node of CUSTOM_DOMAIN named by its Caffe type: its
 * parameters are inputs after the bottoms, its LayerParameter (without blobs) a text attribute.
 */
function customNode(c: ConvertContext, param: any): void {
  const inputs = [...c.bottoms, ...c.layer.blobs.map((_, k) => c.param(k))];
  const copy = cloneMessage(param, 'LayerParameter');
  copy.blobs = [];
  const attrs: Record<string, AttrValue> = { caffe_layer: str(printText(copy, 'LayerParameter')) };
  c.g.node(c.layer.type, inputs, [...c.tops], attrs, c.name, CUSTOM_DOMAIN);
}
