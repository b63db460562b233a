// MVN: mean-variance normalization per (num, channel) plane, or per num when across_channels.
// y = x - mean, then (normalize_variance) y /= (sqrt(var) + eps): eps is added to the standard
// deviation, as Caffe does. Like Caffe, the top is given the legacy 4-D shape (N, C, H, W), and
// backward uses Caffe's formula (which treats the eps as part of a constant denominator).
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
  private dyCopy = new Float32Array(0);

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

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    let dy = top[0].diff;
    if (top[0] === bottom[0]) {
      if (this.dyCopy.length !== dy.length) this.dyCopy = new Float32Array(dy.length);
      this.dyCopy.set(dy);
      dy = this.dyCopy;
    }
    const y = top[0].data;
    const dx = bottom[0].diff;
    const { rows, dim } = this;
    if (this.normalizeVariance) {
      // dx = (dy - mean(dy) - mean(dy * y) * y) / (sqrt(var) + eps)
      const k = f32(-1 / dim);
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        let a = 0;
        let b = 0;
        for (let j = 0; j < dim; j++) {
          a += f32(y[o + j] * dy[o + j]);
          b += dy[o + j];
        }
        const sa = f32(a);
        const sb = f32(b);
        const sd = this.std[r];
        for (let j = 0; j < dim; j++) {
          const t = f32(f32(y[o + j] * sa) + sb);
          dx[o + j] = f32(f32(k * t) + dy[o + j]) / sd;
        }
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
