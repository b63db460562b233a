// BatchNorm, exactly as Caffe's BatchNormLayer (no scale/shift: a Scale layer follows it).
//
// Channels are axis 1 (1 for a 1-D input); statistics run over every other axis. Three blobs:
// the running sums of means and variances and their weight s (shape [1]), zero when not given.
// use_global_stats (default: phase == TEST) normalizes with mean/s and var/s (0 when s == 0);
// otherwise with the batch mean and biased batch variance, and updates
//   s <- s * maf + 1,  mean_sum <- batch_mean + maf * mean_sum,
//   var_sum <- m/(m-1) * batch_var + maf * var_sum   (m = count / channels; factor 1 when m == 1).
// y = (x - mean) / sqrt(var + eps). With batch statistics the normalized output is kept for
// backward, so in place works.
// The blobs are statistics, not parameters: Caffe forces their lr_mult to 0 (param specs are
// added when missing and must say lr_mult 0) and never writes their diffs.
//
// Speed: forward is one pass over the data with stored statistics (subtract and divide fused,
// through the per-row SIMD kernel of kernels/rows.ts, or in JS as a multiply by the reciprocal
// that rounds identically: see centerScaleRange) and three with batch statistics (mean;
// centre + sum of squares; scale); backward is one or two passes.
// Results are Caffe's float32 operations in Caffe's order; only the double-precision row sums
// are added in a different order (four or two partial sums).
import { Blob, MAX_BLOB_COUNT, maxBlobBytes } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { Layer, paramOf, TEST } from './layer.js';
import { sumRange } from '../kernels/loops.js';
import { ROW_CENTER_DIV, ROW_DIV, rowMap } from '../kernels/rows.js';
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
  /** sqrt(var + eps) per channel (float32, as Caffe), from the last forward. */
  private std = new Float32Array(0);
  /** 1 / std in double precision: dividing by std is done as multiplying by this. */
  private invStd = new Float64Array(0);
  /** The normalized output, kept for backward with batch statistics only. */
  private xNorm = new Float32Array(0);
  private numByChans = new Float32Array(0);
  private numByChans2 = new Float32Array(0);

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
      this.invStd = new Float64Array(c);
    }
    if (!this.useGlobalStats && this.xNorm.length !== b.count) this.xNorm = new Float32Array(b.count);
    if (this.numByChans.length !== this.num * c) {
      // Caffe keeps these in a (num, channels) Blob: hold them to a blob's limits (an empty input
      // may declare 2^31 rows).
      this.check(this.num * c <= MAX_BLOB_COUNT && this.num * c * 4 <= maxBlobBytes, () =>
        `needs a (num, channels) buffer of ${this.num * c} values for ${b.shapeString()}, over the blob limits`);
      this.numByChans = new Float32Array(this.num * c);
      this.numByChans2 = new Float32Array(this.num * c);
    }
  }

  /** out[c] = sum over n of f32(alpha * rowSums[n, c]), as Caffe's two gemv calls (rows in numByChans). */
  private combineRows(alpha: number, out: Float32Array): void {
    const { num, channels: C } = this;
    const nbc = this.numByChans;
    if (alpha !== 1) for (let r = 0; r < num * C; r++) nbc[r] = f32(alpha * nbc[r]);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let n = 0; n < num; n++) s += nbc[n * C + c];
      out[c] = s;
    }
  }

  /** std = sqrt(var + eps) in float32, and its double reciprocal. */
  private setStd(): void {
    const { std, invStd, variance } = this;
    for (let c = 0; c < this.channels; c++) {
      std[c] = Math.sqrt(f32(variance[c] + this.eps));
      invStd[c] = 1 / std[c];
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const { num, channels: C, spatial: S, mean, variance } = this;
    const [meanSum, varSum, factor] = this.blobs;

    if (this.useGlobalStats) {
      const s = factor.data[0];
      const sf = s === 0 ? 0 : f32(1 / s);
      for (let c = 0; c < C; c++) {
        mean[c] = sf * meanSum.data[c];
        variance[c] = sf * varSum.data[c];
      }
      this.setStd();
      // A per-channel affine: y = f32(x - mean) / std in one pass.
      rowMap(ROW_CENTER_DIV, x, y, num * C, S, C, mean, this.std);
      return;
    }

    // Batch statistics. Each row (n, c) is summed on its own (Caffe's first gemv), then the rows
    // of a channel are added (the second).
    const nbc = this.numByChans;
    const inv = f32(1 / (num * S));
    for (let r = 0; r < num * C; r++) nbc[r] = sumRange(x, r * S, (r + 1) * S);
    this.combineRows(inv, mean);
    // y = x - mean, summing the squares (x - mean)^2 on the way.
    for (let n = 0; n < num; n++) {
      for (let c = 0; c < C; c++) {
        const r = n * C + c;
        nbc[r] = centerSquareSum(x, y, r * S, (r + 1) * S, mean[c]);
      }
    }
    this.combineRows(inv, variance);
    const maf = this.maf;
    factor.data[0] = f32(factor.data[0] * maf) + 1;
    const m = bottom[0].count / C;
    const bias = m > 1 ? f32(m / (m - 1)) : 1;
    for (let c = 0; c < C; c++) {
      meanSum.data[c] = f32(maf * meanSum.data[c]) + mean[c];
      varSum.data[c] = f32(maf * varSum.data[c]) + f32(bias * variance[c]);
    }
    this.setStd();
    rowMap(ROW_DIV, y, y, num * C, S, C, null, this.std);
    // Later in-place layers overwrite y before backward reads it; inference needs no copy.
    if (this.backwardPlanned) this.xNorm.set(y);
  }

  // Every pass reads element i before writing it, so top diff and bottom diff may be one array.
  protected override backwardCpu(top: Blob[], _propagateDown: boolean[], bottom: Blob[]): void {
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const { num, channels: C, spatial: S, invStd } = this;
    if (this.useGlobalStats) {
      rowMap(ROW_DIV, dy, dx, num * C, S, C, null, this.std);
      return;
    }
    // dx = (dy - mean(dy) - mean(dy * y) * y) / sqrt(var + eps), means per channel.
    const y = this.xNorm;
    const sumDyY = this.mean;
    const sumDy = this.variance;
    const nbc = this.numByChans;
    const nbc2 = this.numByChans2;
    for (let r = 0; r < num * C; r++) nbc2[r] = productAndPlainSums(y, dy, r * S, (r + 1) * S, nbc, r);
    this.combineRows(1, sumDyY);
    nbc.set(nbc2);
    this.combineRows(1, sumDy);
    const k = f32(-1 / (num * S));
    for (let n = 0; n < num; n++) {
      for (let c = 0; c < C; c++) {
        const o = (n * C + c) * S;
        batchNormGrad(y, dy, dx, o, o + S, sumDyY[c], sumDy[c], k, invStd[c]);
      }
    }
  }
}

/** y[i] = t = f32(x[i] - m) over [start, end); returns the double sum of the squares f32(t * t). */
function centerSquareSum(x: Float32Array, y: Float32Array, start: number, end: number, m: number): number {
  let s0 = 0, s1 = 0;
  let i = start;
  for (; i + 2 <= end; i += 2) {
    const t0 = f32(x[i] - m);
    const t1 = f32(x[i + 1] - m);
    y[i] = t0;
    y[i + 1] = t1;
    s0 += f32(t0 * t0);
    s1 += f32(t1 * t1);
  }
  for (; i < end; i++) {
    const t = f32(x[i] - m);
    y[i] = t;
    s0 += f32(t * t);
  }
  return s0 + s1;
}

/**
 * One pass over [start, end): stores the double sum of f32(y * dy) in prodOut[at] and returns the
 * sum of dy (both summed per row as Caffe's gemv, stored as float32 by the caller).
 */
function productAndPlainSums(y: Float32Array, dy: Float32Array, start: number, end: number, prodOut: Float32Array, at: number): number {
  let p0 = 0, p1 = 0, s0 = 0, s1 = 0;
  let i = start;
  for (; i + 2 <= end; i += 2) {
    const g0 = dy[i];
    const g1 = dy[i + 1];
    p0 += f32(y[i] * g0);
    p1 += f32(y[i + 1] * g1);
    s0 += g0;
    s1 += g1;
  }
  for (; i < end; i++) {
    const g = dy[i];
    p0 += f32(y[i] * g);
    s0 += g;
  }
  prodOut[at] = p0 + p1;
  return s0 + s1;
}

/** dx = f32(k * f32(f32(y * a) + b) + dy) / std (r = 1 / std), over [start, end). */
function batchNormGrad(
  y: Float32Array, dy: Float32Array, dx: Float32Array, start: number, end: number, a: number, b: number, k: number, r: number,
): void {
  let i = start;
  for (; i + 2 <= end; i += 2) {
    const t0 = f32(f32(y[i] * a) + b);
    const t1 = f32(f32(y[i + 1] * a) + b);
    dx[i] = f32(f32(k * t0) + dy[i]) * r;
    dx[i + 1] = f32(f32(k * t1) + dy[i + 1]) * r;
  }
  for (; i < end; i++) {
    const t = f32(f32(y[i] * a) + b);
    dx[i] = f32(f32(k * t) + dy[i]) * r;
  }
}

registerLayer('BatchNorm', BatchNormLayer);
