// BatchNorm, exactly as Caffe's BatchNormLayer (no scale/shift: a Scale layer follows it).
//
// Channels are axis 1 (1 for a 1-D input); statistics run over every other axis. Three blobs:
// the running sums of means and variances and their weight s (shape [1]), zero when not given.
// use_global_stats (default: phase == TEST) normalizes with mean/s and var/s (0 when s == 0);
// otherwise with the batch mean and biased batch variance, and updates
//   s <- s * maf + 1,  mean_sum <- batch_mean + maf * mean_sum,
//   var_sum <- m/(m-1) * batch_var + maf * var_sum   (m = count / channels; factor 1 when m == 1).
// y = (x - mean) / sqrt(var + eps). The normalized output is kept for backward, so in place works.
// The blobs are statistics, not parameters: Caffe forces their lr_mult to 0 (param specs are
// added when missing and must say lr_mult 0) and never writes their diffs.
import { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { Layer, paramOf, TEST } from './layer.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class BatchNormLayer extends Layer {
  private useGlobalStats = false;
  private maf = 0.999;
  private eps = 1e-5;
  private channels = 0;
  private num = 0;
  private spatial = 0;
  private mean = new Float32Array(0);
  private variance = new Float32Array(0);
  /** sqrt(var + eps) per channel, from the last forward. */
  private std = new Float32Array(0);
  private xNorm = new Float32Array(0);
  private xNormDiff = new Float32Array(0);
  private numByChans = new Float32Array(0);

  get type(): string {
    return 'BatchNorm';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  /** Whether the stored statistics are used (rather than the batch's). */
  get usesGlobalStats(): boolean {
    return this.useGlobalStats;
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'batch_norm_param', 'BatchNormParameter');
    this.maf = p.moving_average_fraction;
    this.useGlobalStats = has(p, 'use_global_stats') ? p.use_global_stats : this.phase === TEST;
    this.channels = bottom[0].numAxes === 1 ? 1 : bottom[0].shape[1] ?? 1;
    this.eps = p.eps;
    const c = this.channels;
    if (this.blobs.length === 0) {
      this.blobs = [new Blob([c]), new Blob([c]), new Blob([1])];
    }
    this.check(this.blobs.length === 3, () => `needs 3 blobs (mean, variance, scale factor), got ${this.blobs.length}`);
    this.check(this.blobs[0].count === c && this.blobs[1].count === c && this.blobs[2].count === 1,
      () => `stored statistics of ${this.blobs.map((b) => b.shapeString()).join(', ')} do not fit ${c} channel(s)`);
    // The statistics must not be learned: lr_mult 0 for each of them.
    if (!Object.hasOwn(this.param, 'param')) this.param.param = [];
    const specs: Message[] = this.param.param;
    for (let i = 0; i < this.blobs.length; i++) {
      if (specs.length === i) {
        const spec = newMessage('ParamSpec');
        spec.lr_mult = 0;
        specs.push(spec);
      } else {
        this.check(specs[i].lr_mult === 0,
          () => `param ${i} has lr_mult ${specs[i].lr_mult}: the batch statistics cannot be learned parameters (use lr_mult: 0)`);
      }
      this.setParamPropagateDown(i, false);
    }
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    if (b.numAxes > 1) {
      this.check(b.shape[1] === this.channels, () => `input ${b.shapeString()} has ${b.shape[1]} channels, the layer was set up for ${this.channels}`);
    }
    this.check(b.numAxes >= 1, () => `needs an input of at least 1 axis, got ${b.shapeString()}`);
    if (top[0] !== b) top[0].reshapeLike(b);
    const c = this.channels;
    this.num = b.shape[0];
    this.spatial = this.num * c === 0 ? 0 : b.count / (this.num * c);
    if (this.mean.length !== c) {
      this.mean = new Float32Array(c);
      this.variance = new Float32Array(c);
      this.std = new Float32Array(c);
    }
    if (this.xNorm.length !== b.count) {
      this.xNorm = new Float32Array(b.count);
      this.xNormDiff = new Float32Array(b.count);
    }
    if (this.numByChans.length !== this.num * c) this.numByChans = new Float32Array(this.num * c);
  }

  /** out[c] = sum over n of (alpha * sum over s of v[n, c, s]), as Caffe's two gemv calls. */
  private channelMeans(v: Float32Array, alpha: number, out: Float32Array): void {
    const { num, channels: C, spatial: S } = this;
    const nbc = this.numByChans;
    for (let r = 0; r < num * C; r++) {
      let s = 0;
      const o = r * S;
      for (let j = 0; j < S; j++) s += v[o + j];
      nbc[r] = alpha === 1 ? s : f32(alpha * f32(s));
    }
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let n = 0; n < num; n++) s += nbc[n * C + c];
      out[c] = s;
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const { num, channels: C, spatial: S } = this;
    const [meanSum, varSum, factor] = this.blobs;
    const mean = this.mean;
    const variance = this.variance;
    if (y !== x) y.set(x);

    if (this.useGlobalStats) {
      const s = factor.data[0];
      const sf = s === 0 ? 0 : f32(1 / s);
      for (let c = 0; c < C; c++) {
        mean[c] = sf * meanSum.data[c];
        variance[c] = sf * varSum.data[c];
      }
    } else {
      this.channelMeans(x, f32(1 / (num * S)), mean);
    }

    for (let n = 0; n < num; n++) {
      for (let c = 0; c < C; c++) {
        const m = mean[c];
        const o = (n * C + c) * S;
        for (let j = 0; j < S; j++) y[o + j] -= m;
      }
    }

    if (!this.useGlobalStats) {
      const sq = this.xNorm; // scratch until the end of forward
      for (let i = 0; i < y.length; i++) sq[i] = y[i] * y[i];
      this.channelMeans(sq, f32(1 / (num * S)), variance);
      const maf = this.maf;
      factor.data[0] = f32(factor.data[0] * maf) + 1;
      const m = bottom[0].count / C;
      const bias = m > 1 ? f32(m / (m - 1)) : 1;
      for (let c = 0; c < C; c++) {
        meanSum.data[c] = f32(maf * meanSum.data[c]) + mean[c];
        varSum.data[c] = f32(maf * varSum.data[c]) + f32(bias * variance[c]);
      }
    }

    const std = this.std;
    for (let c = 0; c < C; c++) std[c] = Math.sqrt(f32(variance[c] + this.eps));
    for (let n = 0; n < num; n++) {
      for (let c = 0; c < C; c++) {
        const d = std[c];
        const o = (n * C + c) * S;
        for (let j = 0; j < S; j++) y[o + j] /= d;
      }
    }
    this.xNorm.set(y);
  }

  protected override backwardCpu(top: Blob[], _propagateDown: boolean[], bottom: Blob[]): void {
    let dy = top[0].diff;
    if (bottom[0] === top[0]) {
      this.xNormDiff.set(dy);
      dy = this.xNormDiff;
    }
    const dx = bottom[0].diff;
    const { num, channels: C, spatial: S } = this;
    const std = this.std;
    if (this.useGlobalStats) {
      for (let n = 0; n < num; n++) {
        for (let c = 0; c < C; c++) {
          const d = std[c];
          const o = (n * C + c) * S;
          for (let j = 0; j < S; j++) dx[o + j] = dy[o + j] / d;
        }
      }
      return;
    }
    // dx = (dy - mean(dy) - mean(dy * y) * y) / sqrt(var + eps), means per channel.
    const y = this.xNorm;
    const sumDyY = this.mean;
    const sumDy = this.variance;
    for (let i = 0; i < dx.length; i++) dx[i] = y[i] * dy[i];
    this.channelMeans(dx, 1, sumDyY);
    this.channelMeans(dy, 1, sumDy);
    const k = f32(-1 / (num * S));
    for (let n = 0; n < num; n++) {
      for (let c = 0; c < C; c++) {
        const a = sumDyY[c];
        const b = sumDy[c];
        const d = std[c];
        const o = (n * C + c) * S;
        for (let j = 0; j < S; j++) {
          const t = f32(f32(y[o + j] * a) + b);
          dx[o + j] = f32(f32(k * t) + dy[o + j]) / d;
        }
      }
    }
  }
}

registerLayer('BatchNorm', BatchNormLayer);
