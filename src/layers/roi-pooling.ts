// ROIPooling (Fast/Faster R-CNN fork): max pooling of each region of interest into a fixed
// pooled_h x pooled_w grid. bottom[0] is the (N, C, H, W) feature map, bottom[1] the ROIs, one per
// row of 5 values (batch index, x1, y1, x2, y2) in input-image coordinates. Each corner is scaled
// by spatial_scale and rounded (half away from zero); the ROI spans at least 1x1 and is split into
// bins of (roi size / pooled size) cells, bin [floor(p * bin), ceil((p + 1) * bin)) clipped to the
// map. An empty bin outputs 0. Backward routes each output gradient to the cell that won its max
// (the fork's GPU backward; its CPU backward is not implemented); the ROIs get no gradient.
import type { Blob } from '../graph/blob.js';
import { Layer, paramOf } from './layer.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

const FLT_MAX = 3.4028234663852886e38;

/** C's round(): halves away from zero. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

export class ROIPoolingLayer extends Layer {
  private pooledH = 0;
  private pooledW = 0;
  private scale = 1;
  private argmax = new Int32Array(0);

  get type(): string {
    return 'ROIPooling';
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
    const p = paramOf(this.param, 'roi_pooling_param', 'ROIPoolingParameter');
    this.pooledH = p.pooled_h;
    this.pooledW = p.pooled_w;
    this.check(this.pooledH > 0 && this.pooledW > 0, () => `pooled_h and pooled_w must be > 0, got ${this.pooledH} and ${this.pooledW}`);
    this.scale = p.spatial_scale;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const [b, rois] = bottom;
    this.check(b.numAxes === 4, () => `the feature map must be 4-D (num, channels, height, width), got ${b.shapeString()}`);
    this.check(rois.numAxes >= 2 && rois.countRange(1) === 5,
      () => `the ROIs must be rows of 5 values (batch index, x1, y1, x2, y2), got ${rois.shapeString()}`);
    top[0].reshape([rois.shape[0], b.shape[1], this.pooledH, this.pooledW]);
    if (this.argmax.length !== top[0].count) this.argmax = new Int32Array(top[0].count);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const [b, roiBlob] = bottom;
    const x = b.data;
    const rois = roiBlob.data;
    const y = top[0].data;
    const arg = this.argmax;
    const [num, channels, height, width] = b.shape;
    const { pooledH, pooledW } = this;
    const plane = height * width;
    for (let n = 0; n < roiBlob.shape[0]; n++) {
      const r = n * 5;
      const batch = Math.trunc(rois[r]);
      this.check(batch >= 0 && batch < num, () => `ROI ${n} names batch item ${rois[r]}, the feature map has ${num}`);
      const startW = roundHalfAway(f32(rois[r + 1] * this.scale));
      const startH = roundHalfAway(f32(rois[r + 2] * this.scale));
      const endW = roundHalfAway(f32(rois[r + 3] * this.scale));
      const endH = roundHalfAway(f32(rois[r + 4] * this.scale));
      const roiH = Math.max(endH - startH + 1, 1);
      const roiW = Math.max(endW - startW + 1, 1);
      const binH = f32(roiH / pooledH);
      const binW = f32(roiW / pooledW);
      for (let c = 0; c < channels; c++) {
        const xb = (batch * channels + c) * plane;
        const yb = (n * channels + c) * pooledH * pooledW;
        for (let ph = 0; ph < pooledH; ph++) {
          const hs = Math.min(Math.max(Math.floor(f32(ph * binH)) + startH, 0), height);
          const he = Math.min(Math.max(Math.ceil(f32((ph + 1) * binH)) + startH, 0), height);
          for (let pw = 0; pw < pooledW; pw++) {
            const ws = Math.min(Math.max(Math.floor(f32(pw * binW)) + startW, 0), width);
            const we = Math.min(Math.max(Math.ceil(f32((pw + 1) * binW)) + startW, 0), width);
            const o = yb + ph * pooledW + pw;
            if (he <= hs || we <= ws) {
              y[o] = 0;
              arg[o] = -1;
              continue;
            }
            let best = -FLT_MAX;
            let at = -1;
            for (let h = hs; h < he; h++) {
              for (let w = ws; w < we; w++) {
                const v = x[xb + h * width + w];
                if (v > best) {
                  best = v;
                  at = h * width + w;
                }
              }
            }
            y[o] = best;
            arg[o] = at;
          }
        }
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const [b, roiBlob] = bottom;
    const dx = b.diff;
    const dy = top[0].diff;
    dx.fill(0);
    const channels = b.shape[1];
    const plane = b.shape[2] * b.shape[3];
    const bins = this.pooledH * this.pooledW;
    const rois = roiBlob.data;
    for (let n = 0; n < roiBlob.shape[0]; n++) {
      const batch = Math.trunc(rois[n * 5]);
      for (let c = 0; c < channels; c++) {
        const xb = (batch * channels + c) * plane;
        const yb = (n * channels + c) * bins;
        for (let k = 0; k < bins; k++) {
          const at = this.argmax[yb + k];
          if (at >= 0) dx[xb + at] = f32(dx[xb + at] + dy[yb + k]);
        }
      }
    }
  }
}

registerLayer('ROIPooling', ROIPoolingLayer);
