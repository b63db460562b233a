// Inference fusion: a Convolution followed by BatchNorm (stored statistics), Scale and ReLU --
// ResNet's, MobileNet's and GoogLeNet's pattern -- runs as the convolution with one per-channel
// epilogue y = a*y + b (then ReLU), instead of three or four more passes over the activation, and
// only where no backward will run (the chain's saved state is skipped).
// In-place links are always fused: Caffe overwrites those intermediate values too, so `net.blobs`
// holds the same blobs with the same meaning (values equal to float rounding). A link to a new
// blob (MobileNet v2's conv1 -> conv1/bn) is fused only when the net need not keep that blob
// (NetOptions.keepBlobs) and nothing else reads it; it is then left unwritten.
// A residual Eltwise SUM (ResNet's, MobileNet v2's) folds into the chain that computes one of
// its bottoms when that chain ends right before it, nothing else reads that bottom and the net
// need not keep it: the conv then writes y = a*y + b + shortcut (then the ReLU after the Eltwise,
// in place or, on the same terms, into a new blob) straight into the Eltwise's top, one pass
// instead of three. The bottom is left unwritten.
// NetOptions.fuse = false or CAFFE_TS_PLAIN=1 turns fusion off.
import type { Layer } from '../layers/layer.js';
import type { Net } from './net.js';
import type { Blob } from './blob.js';

/** A conv layer and the in-place layers folded into its epilogue (indices into net.layers). */
export interface FusedChain {
  conv: number;
  /** The BatchNorm layer folded in, or -1. */
  bn: number;
  /** The Scale layer folded in, or -1. */
  scale: number;
  /** Whether a ReLU with slope 0 ends the chain. */
  relu: boolean;
  /** The Eltwise SUM folded in (-1: none); the other bottom, added after the affine map. */
  eltwise: number;
  shortcut: Blob | null;
  /** Whether a ReLU with slope 0 follows the Eltwise (applied after the add). */
  shortcutRelu: boolean;
  /** The last layer index the chain covers. */
  last: number;
  /** The blob the chain's result goes to (the conv's own top when every link is in place). */
  out: Blob;
}

/**
 * The per-channel epilogue a conv applies to its output: y = a*y + b, then max(y, 0) if relu;
 * then, with a shortcut, y = y + shortcut and max(y, 0) if shortcutRelu.
 */
export interface ConvEpilogue {
  a: Float32Array;
  b: Float32Array;
  relu: boolean;
  shortcut: Float32Array | null;
  shortcutRelu: boolean;
}

/** Finds the chains of `net` that can be fused (see the file comment). */
export function planFusion(net: Net, kept: ReadonlySet<Blob> | null): Map<number, FusedChain> {
  const plan = new Map<number, FusedChain>();
  const { layers, bottomVecs, topVecs, layerNeedBackward } = net;
  const readers = new Map<Blob, number>();
  for (const bottoms of bottomVecs) for (const b of bottoms) readers.set(b, (readers.get(b) ?? 0) + 1);
  const outputs = new Set(net.outputs.map((n) => net.blob(n)));
  // Layer j reads `cur` alone and writes one top: in place, or (when allowed) into a new blob
  // that replaces `cur`, which nothing else reads.
  const linkOf = (j: number, cur: Blob): Blob | null => {
    if (j >= layers.length || layerNeedBackward[j] || bottomVecs[j].length !== 1 || topVecs[j].length !== 1) return null;
    if (bottomVecs[j][0] !== cur || hasLossWeight(layers[j])) return null;
    const top = topVecs[j][0];
    if (top === cur) return top;
    return kept !== null && !kept.has(cur) && readers.get(cur) === 1 && !outputs.has(cur) ? top : null;
  };
  for (let i = 0; i < layers.length; i++) {
    const conv = layers[i];
    if (conv.type !== 'Convolution' || layerNeedBackward[i] || topVecs[i].length !== 1 || hasLossWeight(conv)) continue;
    if (!(conv as unknown as { supportsEpilogue(): boolean }).supportsEpilogue?.()) continue;
    let cur = topVecs[i][0];
    const channels = cur.shape[1];
    const chain: FusedChain = { conv: i, bn: -1, scale: -1, relu: false, eltwise: -1, shortcut: null, shortcutRelu: false, last: i, out: cur };
    let j = i + 1;
    let next = linkOf(j, cur);
    if (next && layers[j].type === 'BatchNorm' && (layers[j] as unknown as { usesGlobalStats: boolean }).usesGlobalStats) {
      chain.bn = j++;
      cur = next;
      next = linkOf(j, cur);
    }
    if (next && layers[j].type === 'Scale' && perChannelScale(layers[j], channels)) {
      chain.scale = j++;
      cur = next;
      next = linkOf(j, cur);
    }
    if (next && layers[j].type === 'ReLU' && (layers[j].param.relu_param?.negative_slope ?? 0) === 0) {
      chain.relu = true;
      j++;
      cur = next;
    }
    // The residual add: Eltwise at j reads cur and one other blob and writes a new one; the
    // chain's in-place links read cur too, but no layer after j may.
    const readersAfter = (b: Blob, from: number) => {
      let n = 0;
      for (let k = from; k < layers.length; k++) if (bottomVecs[k].includes(b)) n++;
      return n;
    };
    const e = j;
    if (!chain.relu && e < layers.length && residualSum(layers[e]) && !layerNeedBackward[e] && topVecs[e].length === 1 &&
      bottomVecs[e].includes(cur) && !bottomVecs[e].includes(topVecs[e][0]) &&
      kept !== null && !kept.has(cur) && !outputs.has(cur) && readersAfter(cur, e) === 1) {
      const shortcut = bottomVecs[e].find((b) => b !== cur);
      if (shortcut && shortcut.count === cur.count) {
        chain.eltwise = e;
        chain.shortcut = shortcut;
        cur = topVecs[e][0];
        j = e + 1;
        next = linkOf(j, cur);
        if (next && layers[j].type === 'ReLU' && (layers[j].param.relu_param?.negative_slope ?? 0) === 0) {
          chain.shortcutRelu = true;
          j++;
          cur = next;
        }
      }
    }
    chain.last = j - 1;
    chain.out = cur;
    if (chain.last > i) {
      plan.set(i, chain);
      i = chain.last;
    }
  }
  return plan;
}

/** An Eltwise SUM of two bottoms with coeffs 1, 1 (or none), no loss weight. */
function residualSum(layer: Layer): boolean {
  if (layer.type !== 'Eltwise' || hasLossWeight(layer)) return false;
  const p = layer.param.eltwise_param;
  const coeff: ArrayLike<number> = p?.coeff ?? [];
  return (p?.operation ?? 1) === 1 && layer.param.bottom.length === 2 && Array.prototype.every.call(coeff, (c: number) => c === 1);
}

function hasLossWeight(layer: Layer): boolean {
  const lw: ArrayLike<number> = layer.param.loss_weight ?? [];
  for (let k = 0; k < lw.length; k++) if (lw[k] !== 0) return true;
  return false;
}

/** A Scale with its own per-channel blob over axis 1 (and maybe a bias), nothing else. */
function perChannelScale(layer: Layer, channels: number): boolean {
  const p = layer.param.scale_param;
  const axis = p?.axis ?? 1;
  const numAxes = p?.num_axes ?? 1;
  return (axis === 1 || axis === -3) && numAxes === 1 && layer.blobs.length >= 1 && layer.blobs[0].count === channels &&
    layer.blobs.every((b) => b.count === channels);
}

/**
 * The chain's epilogue from the current parameters (cheap: per channel), so weights loaded or
 * changed after the plan was made are always used. Folds, per channel c:
 *   conv bias:  y + bias
 *   BatchNorm:  (y - mean/s) / sqrt(var/s + eps)   (s the stored scale factor, 0 meaning 0)
 *   Scale:      y * gamma + beta
 */
export function chainEpilogue(net: Net, chain: FusedChain, out: ConvEpilogue | null): ConvEpilogue {
  const conv = net.layers[chain.conv];
  const channels = net.topVecs[chain.conv][0].shape[1];
  const ep = out && out.a.length === channels ? out
    : { a: new Float32Array(channels), b: new Float32Array(channels), relu: false, shortcut: null, shortcutRelu: false };
  const biasTerm = conv.blobs.length > 1;
  const bias = biasTerm ? conv.blobs[1].data : null;
  let bn: { mean: Float32Array; variance: Float32Array; factor: number; eps: number } | null = null;
  if (chain.bn >= 0) {
    const l = net.layers[chain.bn];
    const f = l.blobs[2].data[0];
    bn = { mean: l.blobs[0].data, variance: l.blobs[1].data, factor: f === 0 ? 0 : 1 / f, eps: l.param.batch_norm_param?.eps ?? Math.fround(1e-5) };
  }
  const scale = chain.scale >= 0 ? net.layers[chain.scale].blobs : null;
  for (let c = 0; c < channels; c++) {
    let a = 1;
    let b = bias ? bias[c] : 0;
    if (bn) {
      const mean = Math.fround(bn.mean[c] * bn.factor);
      const std = Math.fround(Math.sqrt(Math.fround(Math.fround(bn.variance[c] * bn.factor) + bn.eps)));
      a /= std;
      b = (b - mean) / std;
    }
    if (scale) {
      const g = scale[0].data[c];
      a *= g;
      b = b * g + (scale.length > 1 ? scale[1].data[c] : 0);
    }
    ep.a[c] = a;
    ep.b[c] = b;
  }
  ep.relu = chain.relu;
  // The shortcut's current storage (a new memory plan may have moved it).
  ep.shortcut = chain.shortcut ? chain.shortcut.data : null;
  ep.shortcutRelu = chain.shortcutRelu;
  return ep;
}
