// BN: batch normalization with its own scale and shift, as two forks define the type "BN".
//
// SegNet / ENet (bn_param scale_filler, shift_filler, bn_mode; blobs scale and shift, [1,C,1,1]):
//   LEARN (default): per channel, over batch and space, mean and var = E(x^2) - mean^2 of this
//     batch; y = (x - mean) / sqrt(var + 1e-9) * scale + shift. Optional tops 2 and 3 receive the
//     batch mean and variance. No statistics are stored (SegNet computes them offline).
//   INFERENCE: y = scale * x + shift (the statistics are already folded into scale and shift).
// PSPNet (bn_param slope_filler, bias_filler, momentum, eps, frozen; blobs slope, bias, stored
//   mean and variance): with frozen or in TEST, the stored statistics normalize; otherwise the
//   batch's (var = E((x - mean)^2)), and the stored ones move toward them:
//   stored = (1 - momentum) * batch + momentum * stored. y = (x - mean) / sqrt(var + eps) * slope
//   + bias. The statistics are never learned (their lr_mult and decay_mult are set to 0, and so are
//   the slope's and bias's when frozen, as the fork does); frozen backward passes
//   dy * slope / sqrt(var + eps) and no parameter gradient.
// Which one: SegNet's fields or PSPNet's in bn_param decide; with neither, 4 stored blobs mean
// PSPNet, else SegNet. Parameter gradients accumulate (the project's layer contract; SegNet's
// layer overwrites them, which is the same for one backward per update).
// In TEST without frozen, PSPNet's backward still applies the batch formula to the normalized
// output of the stored statistics, as the fork does (not the true gradient of that forward).
import { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { Layer, paramOf, TEST } from './layer.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

const SEGNET_FIELDS = ['scale_filler', 'shift_filler', 'bn_mode'];
const PSPNET_FIELDS = ['slope_filler', 'bias_filler', 'momentum', 'eps', 'frozen'];
const INFERENCE = 1;
const SEGNET_VAR_EPS = 1e-9;

export class BNLayer extends Layer {
  private pspnet = false;
  private inference = false;
  private frozen = false;
  private momentum = 0.9;
  private eps = 1e-5;
  private channels = 0;
  private num = 0;
  private spatial = 0;
  private mean = new Float32Array(0);
  private variance = new Float32Array(0);
  private invStd = new Float32Array(0);
  private xNorm = new Float32Array(0);
  /** The input, kept when SegNet's INFERENCE runs in place (its backward reads x). */
  private input = new Float32Array(0);

  get type(): string {
    return 'BN';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override minTopBlobs(): number {
    return 1;
  }
  override maxTopBlobs(): number {
    return this.pspnet ? 1 : 3;
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    const p = paramOf(this.param, 'bn_param', 'BNParameter');
    const segnet = SEGNET_FIELDS.some((f) => has(p, f));
    const pspnet = PSPNET_FIELDS.some((f) => has(p, f));
    this.check(!(segnet && pspnet), `bn_param mixes SegNet's fields (${SEGNET_FIELDS.join(', ')}) with PSPNet's (${PSPNET_FIELDS.join(', ')})`);
    this.pspnet = pspnet || (!segnet && this.blobs.length === 4);
    this.check(top.length <= this.maxTopBlobs(), () => `takes at most ${this.maxTopBlobs()} top blob(s) in the ${this.pspnet ? 'PSPNet' : 'SegNet'} form, got ${top.length}`);
    const b = bottom[0];
    this.check(b.numAxes >= 2, () => `the bottom needs a channel axis, got ${b.shapeString()}`);
    const c = (this.channels = b.shape[1]);
    const nBlobs = this.pspnet ? 4 : 2;
    if (this.blobs.length === 0) {
      this.blobs = Array.from({ length: nBlobs }, () => new Blob([1, c, 1, 1]));
      this.fillParam(this.blobs[0], this.pspnet ? p.slope_filler : p.scale_filler, this.pspnet ? 'slope_filler' : 'scale_filler');
      this.fillParam(this.blobs[1], this.pspnet ? p.bias_filler : p.shift_filler, this.pspnet ? 'bias_filler' : 'shift_filler');
      // PSPNet's stored statistics start at mean 0 and variance 1 when frozen, else 0.
      if (this.pspnet && p.frozen) this.blobs[3].data.fill(1);
    }
    this.check(this.blobs.length === nBlobs && this.blobs.every((x) => x.count === c),
      () => `needs ${nBlobs} blobs of ${c} values, got ${this.blobs.map((x) => x.shapeString()).join(', ')}`);
    this.setParamPropagateDown(0, true);
    this.setParamPropagateDown(1, true);
    if (this.pspnet) {
      this.setParamPropagateDown(2, false);
      this.setParamPropagateDown(3, false);
      this.frozen = p.frozen;
      this.momentum = p.momentum;
      this.eps = p.eps;
      this.freezeStatistics();
    } else {
      this.inference = p.bn_mode === INFERENCE;
    }
  }

  /** lr_mult and decay_mult 0 for the statistics (and for everything when frozen), as the fork. */
  private freezeStatistics(): void {
    if (!Object.hasOwn(this.param, 'param')) this.param.param = [];
    const specs: Message[] = this.param.param;
    while (specs.length < 4) specs.push(newMessage('ParamSpec'));
    for (let i = this.frozen ? 0 : 2; i < 4; i++) {
      specs[i].lr_mult = 0;
      specs[i].decay_mult = 0;
    }
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes >= 2 && b.shape[1] === this.channels,
      () => `the bottom ${b.shapeString()} must have the ${this.channels} channels the layer was set up for`);
    if (top[0] !== b) top[0].reshapeLike(b);
    for (let t = 1; t < top.length; t++) top[t].reshape([1, this.channels, 1, 1]);
    this.num = b.shape[0];
    this.spatial = b.countRange(2);
    const c = this.channels;
    if (this.mean.length !== c) {
      this.mean = new Float32Array(c);
      this.variance = new Float32Array(c);
      this.invStd = new Float32Array(c);
    }
    if (this.xNorm.length !== b.count) this.xNorm = new Float32Array(b.count);
  }

  /** Per-channel sums of f(k) over batch and space (double precision). */
  private channelSums(f: (k: number) => number, out: Float64Array): void {
    const { num, channels, spatial } = this;
    out.fill(0);
    for (let n = 0; n < num; n++) {
      for (let c = 0; c < channels; c++) {
        let s = 0;
        for (let k = (n * channels + c) * spatial, e = k + spatial; k < e; k++) s += f(k);
        out[c] += s;
      }
    }
  }

  /** y[k] = g(k, channel of k) for every element. */
  private eachElement(g: (k: number, c: number) => void): void {
    const { num, channels, spatial } = this;
    for (let n = 0; n < num; n++) {
      for (let c = 0; c < channels; c++) {
        for (let k = (n * channels + c) * spatial, e = k + spatial; k < e; k++) g(k, c);
      }
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const scale = this.blobs[0].data;
    const shift = this.blobs[1].data;
    const m = this.num * this.spatial;
    const sums = new Float64Array(this.channels);
    if (!this.pspnet && this.inference) {
      if (bottom[0] === top[0] && this.backwardPlanned) this.input = Float32Array.from(x);
      this.eachElement((k, c) => {
        y[k] = f32(f32(scale[c] * x[k]) + shift[c]);
      });
      return;
    }
    const useStored = this.pspnet && (this.frozen || this.phase === TEST);
    if (useStored) {
      this.mean.set(this.blobs[2].data);
      this.variance.set(this.blobs[3].data);
    } else {
      this.channelSums((k) => x[k], sums);
      for (let c = 0; c < this.channels; c++) this.mean[c] = f32(sums[c] / m);
      const mean = this.mean;
      if (this.pspnet) {
        this.channelSums((k) => (x[k] - mean[(Math.floor(k / this.spatial)) % this.channels]) ** 2, sums);
        for (let c = 0; c < this.channels; c++) this.variance[c] = f32(sums[c] / m);
      } else {
        this.channelSums((k) => x[k] * x[k], sums);
        for (let c = 0; c < this.channels; c++) this.variance[c] = f32(f32(sums[c] / m) - f32(mean[c] * mean[c]));
      }
      if (this.pspnet && !this.frozen) {
        const mo = this.momentum;
        const sm = this.blobs[2].data;
        const sv = this.blobs[3].data;
        for (let c = 0; c < this.channels; c++) {
          sm[c] = f32(f32((1 - mo) * this.mean[c]) + f32(mo * sm[c]));
          sv[c] = f32(f32((1 - mo) * this.variance[c]) + f32(mo * sv[c]));
        }
      }
      if (!this.pspnet) {
        if (top.length > 1) top[1].data.set(this.mean);
        if (top.length > 2) top[2].data.set(this.variance);
      }
    }
    const eps = this.pspnet ? this.eps : SEGNET_VAR_EPS;
    for (let c = 0; c < this.channels; c++) this.invStd[c] = f32(1 / Math.sqrt(f32(this.variance[c] + eps)));
    const { mean, invStd, xNorm } = this;
    this.eachElement((k, c) => {
      const v = f32(f32(x[k] - mean[c]) * invStd[c]);
      xNorm[k] = v;
      y[k] = f32(f32(v * scale[c]) + shift[c]);
    });
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const scale = this.blobs[0].data;
    const c = this.channels;
    const sums = new Float64Array(c);
    if (this.pspnet && this.frozen) {
      if (!propagateDown[0]) return;
      const stored = this.blobs[3].data;
      const k = Float32Array.from(stored, (v, i) => f32(scale[i] * f32(1 / Math.sqrt(f32(v + this.eps)))));
      this.eachElement((i, ch) => {
        dx[i] = f32(dy[i] * k[ch]);
      });
      return;
    }
    const inference = !this.pspnet && this.inference;
    // What multiplies the scale: x in INFERENCE (kept when in place), else the normalized x.
    const xs = inference ? (bottom[0] === top[0] ? this.input : bottom[0].data) : this.xNorm;
    if (this.paramPropagateDown(0)) {
      this.channelSums((i) => xs[i] * dy[i], sums);
      const d = this.blobs[0].diff;
      for (let i = 0; i < c; i++) d[i] = f32(d[i] + sums[i]);
    }
    if (this.paramPropagateDown(1)) {
      this.channelSums((i) => dy[i], sums);
      const d = this.blobs[1].diff;
      for (let i = 0; i < c; i++) d[i] = f32(d[i] + sums[i]);
    }
    if (!propagateDown[0]) return;
    if (inference) {
      this.eachElement((i, ch) => {
        dx[i] = f32(dy[i] * scale[ch]);
      });
      return;
    }
    // dx = (g - (xn * sum(xn * g) + sum(g)) / M) / std, with g = dy * scale.
    const m = this.num * this.spatial;
    const xn = this.xNorm;
    const sumXg = new Float64Array(c);
    this.channelSums((i) => xn[i] * f32(dy[i] * scale[Math.floor(i / this.spatial) % c]), sumXg);
    this.channelSums((i) => f32(dy[i] * scale[Math.floor(i / this.spatial) % c]), sums);
    const a = Float32Array.from(sumXg, (v) => f32(v));
    const bsum = Float32Array.from(sums, (v) => f32(v));
    const inv = this.invStd;
    this.eachElement((i, ch) => {
      const g = f32(dy[i] * scale[ch]);
      const t = f32(f32(xn[i] * a[ch]) + bsum[ch]);
      dx[i] = f32(f32(g - f32(t / m)) * inv[ch]);
    });
  }
}

registerLayer('BN', BNLayer);
