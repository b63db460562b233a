// The graph BVLC's python/draw_net.py (caffe/draw.py) draws for a NetParameter: one box per layer
// (name, type, and for Convolution / Deconvolution / Pooling the kernel size, stride and pad),
// one octagon per blob, edges bottom blob -> layer -> top blob, labelled with num_output (or a
// Data layer's batch size) on a layer's top edges; layers left out by the phase filter as
// draw.py filters them (include / exclude phases only). Fill colours are draw.py's.
//
// draw.py draws an in-place layer (bottom == top) as a loop between the blob and the layer. We
// fold a chain of in-place layers into the blob's path instead: producer -> in-place layers in
// net order -> the blob's node -> its consumers, which keeps the graph acyclic for the layout.
import { has, type Message } from '../proto/schema.js';
import { CaffeError } from '../util/errors.js';

export type RankDir = 'TB' | 'BT' | 'LR' | 'RL';

export interface GraphNode {
  id: string;
  kind: 'layer' | 'inplace' | 'blob';
  /** Lines of the label. */
  lines: string[];
  fill: string;
  /** For layers: the layer's name and type. */
  name: string;
  type?: string;
}

export interface GraphEdge {
  from: string;
  to: string;
  label: string;
}

export interface NetGraph {
  name: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const POOL = ['MAX', 'AVE', 'STOCHASTIC'];

function color(type: string): string {
  if (type === 'Convolution' || type === 'Deconvolution') return '#FF5050';
  if (type === 'Pooling') return '#FF9900';
  if (type === 'InnerProduct') return '#CC33FF';
  return '#6495ED';
}

/** draw.py's get_layer_label, as lines (TB/BT join them with spaces on one line). */
export function layerLabel(layer: Message, rankdir: RankDir): string[] {
  const type: string = layer.type;
  const lines = [layer.name as string, type === 'Pooling' ? `(${type} ${POOL[layer.pooling_param?.pool ?? 0] ?? layer.pooling_param.pool})` : `(${type})`];
  let spatial: number[] | null = null;
  if (type === 'Pooling') {
    const p = layer.pooling_param;
    spatial = [p?.kernel_size ?? 0, p?.stride ?? 1, p?.pad ?? 0];
  } else if (type === 'Convolution' || type === 'Deconvolution') {
    const p = layer.convolution_param;
    const first = (a: ArrayLike<number> | undefined, d: number) => (a && a.length ? a[0] : d);
    spatial = [first(p?.kernel_size, 1), first(p?.stride, 1), first(p?.pad, 0)];
  }
  if (spatial) lines.push(`kernel size: ${spatial[0]}`, `stride: ${spatial[1]}`, `pad: ${spatial[2]}`);
  return rankdir === 'TB' || rankdir === 'BT' ? [lines.join(' ')] : lines;
}

/** draw.py's get_edge_label: what a layer's top edges say. */
export function edgeLabel(layer: Message): string {
  switch (layer.type) {
    case 'Data':
      return `Batch ${layer.data_param?.batch_size ?? 0}`;
    case 'Convolution':
    case 'Deconvolution':
      return String(layer.convolution_param?.num_output ?? 0);
    case 'InnerProduct':
      return String(layer.inner_product_param?.num_output ?? 0);
    default:
      return '';
  }
}

/** draw.py's phase filter: no include rule, or an include naming the phase, and no exclude naming it. */
function included(layer: Message, phase: number | null): boolean {
  if (phase === null) return true;
  const inc: Message[] = layer.include ?? [];
  const exc: Message[] = layer.exclude ?? [];
  if (inc.length && exc.length) throw new CaffeError(`layer '${layer.name}' has both include and exclude specified`);
  let ok = inc.length === 0;
  for (const r of inc) ok = ok || (has(r, 'phase') && r.phase === phase);
  for (const r of exc) ok = ok && !(has(r, 'phase') && r.phase === phase);
  return ok;
}

/** The graph of an (upgraded) NetParameter; phase 0 = TRAIN, 1 = TEST, null = every layer. */
export function netGraph(net: Message, rankdir: RankDir = 'LR', phase: number | null = null): NetGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const blobNode = new Map<string, string>(); // blob name -> its node id
  // The node a blob's value currently comes out of (its producer or the last in-place layer).
  const tail = new Map<string, string>();
  const tailLabel = new Map<string, string>();
  const pending = new Map<string, boolean>(); // blob whose node is not yet linked to its tail
  const ensureBlob = (name: string): string => {
    let id = blobNode.get(name);
    if (!id) {
      id = `blob:${blobNode.size}`;
      blobNode.set(name, id);
      nodes.push({ id, kind: 'blob', lines: [name], fill: '#E0E0E0', name });
    }
    return id;
  };
  // Links a blob's node to where its value comes from, once its value is final.
  const settle = (blob: string) => {
    if (!pending.get(blob)) return;
    pending.set(blob, false);
    edges.push({ from: tail.get(blob)!, to: ensureBlob(blob), label: tailLabel.get(blob) ?? '' });
  };
  const layers: Message[] = net.layer ?? [];
  layers.forEach((layer, i) => {
    if (!included(layer, phase)) return;
    const id = `layer:${i}`;
    const bottoms: string[] = layer.bottom ?? [];
    const tops: string[] = layer.top ?? [];
    const inplace = bottoms.length === 1 && tops.length === 1 && bottoms[0] === tops[0];
    nodes.push({ id, kind: inplace ? 'inplace' : 'layer', lines: layerLabel(layer, rankdir), fill: inplace ? '#90EE90' : color(layer.type), name: layer.name, type: layer.type });
    if (inplace) {
      const b = bottoms[0];
      const from = tail.get(b);
      if (from && pending.get(b)) edges.push({ from, to: id, label: tailLabel.get(b) ?? '' });
      else edges.push({ from: ensureBlob(b), to: id, label: '' });
      tail.set(b, id);
      tailLabel.set(b, edgeLabel(layer));
      pending.set(b, true);
      return;
    }
    for (const b of bottoms) {
      settle(b);
      edges.push({ from: ensureBlob(b), to: id, label: '' });
    }
    for (const t of tops) {
      settle(t); // a blob overwritten by another layer keeps its earlier value's node
      tail.set(t, id);
      tailLabel.set(t, edgeLabel(layer));
      pending.set(t, true);
    }
  });
  for (const b of [...pending.keys()]) settle(b);
  return { name: net.name ?? '', nodes, edges };
}
