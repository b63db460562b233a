// MVN: mean-variance normalization per (num, channel) plane, or per num when across_channels.
// y = x - mean, then (normalize_variance) y /= (sqrt(var) + eps): eps is added to the standard
// deviation, as Caffe does. Like Caffe, the top is given the legacy 4-D shape (N, C, H, W), and
// backward uses Caffe's formula (which treats the eps as part of a constant denominator) in
// Caffe's order of operations on the bottom diff (observable in place).
import type { Blob } from '../graph/blob.js';
import { Layer, paramOf } from './layer.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class MVNLayer extends Layer {
  private normalizeVariance = true;
  private acrossChannels = false;
  private eps = 1e-9;
  private rows = 0;
  private dim = 0;
  /** sqrt(var) + eps per row, from the last forward. */
  private std = new Float32Array(0);

  get type(): string {
    return 'MVN';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'mvn_param', 'MVNParameter');
    this.normalizeVariance = p.normalize_variance;
    this.acrossChannels = p.across_channels;
    this.eps = p.eps;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes <= 4, () => `needs an input of at most 4 axes (num, channels, height, width), got ${b.shapeString()}`);
    const shape = [b.num, b.channels, b.height, b.width];
    top[0].reshape(shape);
    this.rows = this.acrossChannels ? shape[0] : shape[0] * shape[1];
    this.dim = this.rows === 0 ? 0 : b.count / this.rows;
    if (this.std.length !== this.rows) this.std = new Float32Array(this.rows);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const { rows, dim } = this;
    const inv = f32(1 / dim);
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) s += x[o + j];
      const mean = f32(inv * f32(s));
      for (let j = 0; j < dim; j++) y[o + j] = x[o + j] - mean;
      if (!this.normalizeVariance) continue;
      let q = 0;
      for (let j = 0; j < dim; j++) q += f32(y[o + j] * y[o + j]);
      const variance = f32(inv * f32(q));
      const sd = f32(f32(Math.sqrt(variance)) + this.eps);
      this.std[r] = sd;
      for (let j = 0; j < dim; j++) y[o + j] /= sd;
    }
  }

  // Caffe's Backward_cpu ignores propagate_down (the bottom diff is always written) and, with
  // normalize_variance, works in the bottom diff from the start:
  //   bottom_diff = top_data * top_diff; m = rowsum(bottom_diff); bottom_diff = m;
  //   bottom_diff *= top_data; bottom_diff += rowsum(top_diff);
  //   bottom_diff = axpby(1, top_diff, -1/dim, bottom_diff)   (scal by -1/dim, then axpy);
  //   bottom_diff /= sqrt(var) + eps.
  // The loops below do these steps on the same arrays, so run in place (top_diff is bottom_diff)
  // the top diff is destroyed by the first step as in Caffe and the result is Caffe's, not the
  // true gradient. Out of place this is dx = (dy - mean(dy) - mean(dy * y) * y) / (sqrt(var) + eps).
  protected override backwardCpu(top: Blob[], _propagateDown: boolean[], bottom: Blob[]): void {
    const dy = top[0].diff;
    const y = top[0].data;
    const dx = bottom[0].diff;
    const { rows, dim } = this;
    if (this.normalizeVariance) {
      const k = f32(-1 / dim);
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        const e = o + dim;
        let a = 0;
        for (let j = o; j < e; j++) {
          dx[j] = y[j] * dy[j];
          a += dx[j];
        }
        const sa = f32(a);
        for (let j = o; j < e; j++) dx[j] = sa;
        for (let j = o; j < e; j++) dx[j] = y[j] * dx[j];
        let b = 0;
        for (let j = o; j < e; j++) b += dy[j];
        const sb = f32(b);
        for (let j = o; j < e; j++) dx[j] = dx[j] + sb;
        for (let j = o; j < e; j++) {
          dx[j] = k * dx[j];
          dx[j] = dy[j] + dx[j];
        }
        const sd = this.std[r];
        for (let j = o; j < e; j++) dx[j] = dx[j] / sd;
      }
    } else {
      const inv = f32(1 / dim);
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        let s = 0;
        for (let j = 0; j < dim; j++) s += dy[o + j];
        const mean = f32(inv * f32(s));
        for (let j = 0; j < dim; j++) dx[o + j] = dy[o + j] - mean;
      }
    }
  }
}

registerLayer('MVN', MVNLayer);
