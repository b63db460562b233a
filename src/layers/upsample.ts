// Upsample (SegNet / ENet forks): max-unpooling. bottom[0] holds pooled values and bottom[1] the
// pooling layer's mask top (the argmax offset within each output H*W plane, as a float); each value
// is written at its offset of a zero output. The output size is upsample_h x upsample_w when both
// are given, else in * scale - pad_out (scale, or scale_h and scale_w; pad_out_h/_w only with
// scale 2). Backward reads the output gradient at each offset; the mask gets no gradient.
import type { Blob } from '../graph/blob.js';
import { has } from '../proto/schema.js';
import { Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

export class UpsampleLayer extends Layer {
  private outH = -1;
  private outW = -1;
  private scaleH = 2;
  private scaleW = 2;
  private padOutH = false;
  private padOutW = false;

  get type(): string {
    return 'Upsample';
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override allowForceBackward(i: number): boolean {
    return i === 0;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'upsample_param', 'UpsampleParameter');
    const exact = has(p, 'upsample_h') && has(p, 'upsample_w');
    this.check(exact || (!has(p, 'scale') && has(p, 'scale_h') && has(p, 'scale_w')) || (!has(p, 'scale_h') && !has(p, 'scale_w')),
      'give upsample_h and upsample_w, or (deprecated) scale, or scale_h and scale_w');
    if (exact) {
      this.outH = p.upsample_h;
      this.outW = p.upsample_w;
      this.check(this.outH > 1 && this.outW > 1, () => `upsample_h and upsample_w must be > 1, got ${this.outH} and ${this.outW}`);
      return;
    }
    if (has(p, 'scale_h')) {
      this.scaleH = p.scale_h;
      this.scaleW = p.scale_w;
    } else {
      this.scaleH = this.scaleW = p.scale;
    }
    this.check(this.scaleH > 1 && this.scaleW > 1, () => `the scale must be > 1, got ${this.scaleH}x${this.scaleW}`);
    this.padOutH = p.pad_out_h;
    this.padOutW = p.pad_out_w;
    this.check((!this.padOutH || this.scaleH === 2) && (!this.padOutW || this.scaleW === 2),
      'pad_out_h / pad_out_w need a scale of 2');
    this.outH = this.outW = -1;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const [b, mask] = bottom;
    this.check(b.numAxes === 4 && mask.numAxes === 4,
      () => `the bottom and the mask must be 4-D (num, channels, height, width), got ${b.shapeString()} and ${mask.shapeString()}`);
    this.check(b.shape.every((d, i) => d === mask.shape[i]), () => `the mask ${mask.shapeString()} must have the bottom's shape ${b.shapeString()}`);
    let h = this.outH;
    let w = this.outW;
    if (h <= 0 || w <= 0) {
      h = b.shape[2] * this.scaleH - Number(this.padOutH);
      w = b.shape[3] * this.scaleW - Number(this.padOutW);
    }
    top[0].reshape([b.shape[0], b.shape[1], h, w]);
  }

  /** Calls f(bottom index, top index) for every bottom element, checking the mask. */
  private eachOffset(bottom: Blob[], top: Blob, f: (i: number, o: number) => void): void {
    const mask = bottom[1].data;
    const plane = bottom[0].shape[2] * bottom[0].shape[3];
    const outPlane = top.shape[2] * top.shape[3];
    const planes = bottom[0].shape[0] * bottom[0].shape[1];
    for (let c = 0; c < planes; c++) {
      for (let i = c * plane, end = i + plane; i < end; i++) {
        const idx = Math.trunc(mask[i]);
        if (!(idx >= 0 && idx < outPlane)) {
          throw this.error(`mask offset ${mask[i]} is outside the ${top.shape[2]}x${top.shape[3]} output: the scale must match the pooling layer that made the mask`);
        }
        f(i, c * outPlane + idx);
      }
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    y.fill(0);
    this.eachOffset(bottom, top[0], (i, o) => {
      y[o] = x[i];
    });
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dx = bottom[0].diff;
    const dy = top[0].diff;
    this.eachOffset(bottom, top[0], (i, o) => {
      dx[i] = dy[o];
    });
  }
}

registerLayer('Upsample', UpsampleLayer);
