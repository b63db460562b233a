// Normalize (SSD fork): L2-normalizes each item (across_spatial) or each spatial position across
// channels, then multiplies by a learned scale (one value, or one per channel). As in the fork,
// eps sits inside the square root: norm = sqrt(eps + sum x^2).
import { Blob } from '../graph/blob.js';
import { Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

export class NormalizeLayer extends Layer {
  private acrossSpatial = true;
  private channelShared = true;
  private eps = 0;
  /** Per item (across_spatial) or per item and position: the norm each value was divided by. */
  private norm = new Float32Array(0);

  override get type(): string {
    return 'Normalize';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'norm_param', 'NormalizeParameter');
    this.check(bottom[0].numAxes >= 2, () => `needs an input with a channel axis, got ${bottom[0].shapeString()}`);
    this.acrossSpatial = p.across_spatial;
    this.channelShared = p.channel_shared;
    this.eps = p.eps;
    const channels = bottom[0].shape[1];
    const shape = this.channelShared ? [] : [channels];
    if (this.blobs.length > 0) {
      this.check(this.blobs.length === 1, `incorrect number of weight blobs: expected 1, got ${this.blobs.length}`);
      this.check(this.blobs[0].count === (shape[0] ?? 1),
        () => `the scale blob holds ${this.blobs[0].count} value(s), expected ${shape[0] ?? 1}`);
    } else {
      const scale = new Blob(shape);
      if (p.scale_filler) this.fillParam(scale, p.scale_filler, 'scale_filler');
      else scale.data.fill(1);
      this.blobs = [scale];
    }
    this.setParamPropagateDown(0, true);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes >= 2, () => `needs an input with a channel axis, got ${b.shapeString()}`);
    this.check(this.channelShared || b.shape[1] === this.blobs[0].count,
      () => `the input ${b.shapeString()} has ${b.shape[1]} channels, the scale holds ${this.blobs[0].count}`);
    top[0].reshapeLike(b);
    const n = this.acrossSpatial ? b.shape[0] : b.shape[0] * b.countRange(2);
    if (this.norm.length !== n) this.norm = new Float32Array(n);
  }

  private dims(b: Blob): [number, number, number] {
    return [b.shape[0], b.shape[1], b.countRange(2)];
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const [num, channels, spatial] = this.dims(bottom[0]);
    const x = bottom[0].data;
    const y = top[0].data;
    const scale = this.blobs[0].data;
    const dim = channels * spatial;
    const norm = this.norm;
    for (let n = 0; n < num; n++) {
      const o = n * dim;
      if (this.acrossSpatial) {
        let s = 0;
        for (let i = 0; i < dim; i++) s += x[o + i] * x[o + i];
        const nv = Math.fround(Math.sqrt(Math.fround(s + this.eps)));
        norm[n] = nv;
        const inv = Math.fround(1 / nv);
        for (let i = 0; i < dim; i++) y[o + i] = x[o + i] * inv;
      } else {
        const no = n * spatial;
        for (let s = 0; s < spatial; s++) {
          let acc = this.eps;
          for (let c = 0; c < channels; c++) {
            const v = x[o + c * spatial + s];
            acc += v * v;
          }
          norm[no + s] = Math.sqrt(Math.fround(acc));
        }
        for (let c = 0; c < channels; c++) {
          for (let s = 0; s < spatial; s++) y[o + c * spatial + s] = x[o + c * spatial + s] / norm[no + s];
        }
      }
      for (let c = 0; c < channels; c++) {
        const k = this.channelShared ? scale[0] : scale[c];
        for (let s = 0; s < spatial; s++) y[o + c * spatial + s] *= k;
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const [num, channels, spatial] = this.dims(bottom[0]);
    const dim = channels * spatial;
    const x = bottom[0].data;
    const y = top[0].data;
    const dy = top[0].diff;
    const scale = this.blobs[0].data;
    const norm = this.norm;
    if (this.paramPropagateDown(0)) {
      // y = scale * x / norm, so dL/dscale = sum(y * dy) / scale (the fork's formula).
      const ds = this.blobs[0].diff;
      if (this.channelShared) {
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
        ds[0] += s / scale[0];
      } else {
        for (let n = 0; n < num; n++) {
          for (let c = 0; c < channels; c++) {
            const o = n * dim + c * spatial;
            let s = 0;
            for (let i = 0; i < spatial; i++) s += y[o + i] * dy[o + i];
            ds[c] += Math.fround(s) / scale[c];
          }
        }
      }
    }
    if (!propagateDown[0]) return;
    const dx = bottom[0].diff;
    for (let n = 0; n < num; n++) {
      const o = n * dim;
      if (this.acrossSpatial) {
        let a = 0;
        for (let i = 0; i < dim; i++) a += x[o + i] * dy[o + i];
        const nv = norm[n];
        const k = Math.fround(a) / nv / nv;
        for (let i = 0; i < dim; i++) dx[o + i] = (dy[o + i] - k * x[o + i]) / nv;
      } else {
        const no = n * spatial;
        for (let s = 0; s < spatial; s++) {
          let a = 0;
          for (let c = 0; c < channels; c++) a += x[o + c * spatial + s] * dy[o + c * spatial + s];
          const nv = norm[no + s];
          const k = Math.fround(a) / (nv * nv);
          for (let c = 0; c < channels; c++) {
            const i = o + c * spatial + s;
            dx[i] = (dy[i] - x[i] * k) / nv;
          }
        }
      }
      for (let c = 0; c < channels; c++) {
        const k = this.channelShared ? scale[0] : scale[c];
        for (let s = 0; s < spatial; s++) dx[o + c * spatial + s] *= k;
      }
    }
  }
}

registerLayer('Normalize', NormalizeLayer);
