// BatchReindex: top item k is bottom[0] item idx[k], with idx = bottom[1] (1-D, float values used
// as integers) (Caffe's BatchReindexLayer). Backward accumulates each top item's diff into the
// bottom item it came from; the indices get no gradient.
import type { Blob } from '../graph/blob.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class BatchReindexLayer extends Layer {
  override get type(): string {
    return 'BatchReindex';
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    this.check(bottom[1].numAxes === 1, () => `the index blob bottom[1] must be 1-D, got ${bottom[1].shapeString()}`);
    this.check(bottom[0].numAxes >= 1, () => `bottom[0] ${bottom[0].shapeString()} needs a first axis`);
    top[0].reshape([bottom[1].shape[0], ...bottom[0].shape.slice(1)]);
  }

  private indices(bottom: Blob[]): Int32Array {
    const num = bottom[0].shape[0];
    const idx = bottom[1].data;
    const out = new Int32Array(idx.length);
    for (let k = 0; k < idx.length; k++) {
      this.check(idx[k] >= 0, () => `index ${idx[k]} at position ${k} is negative`);
      this.check(idx[k] < num, () => `index ${idx[k]} at position ${k} is not below the batch size ${num}`);
      out[k] = Math.trunc(idx[k]);
    }
    return out;
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const idx = this.indices(bottom);
    if (top[0].count === 0) return;
    const inner = bottom[0].countRange(1);
    const src = bottom[0].data;
    const dst = top[0].data;
    idx.forEach((j, k) => dst.set(src.subarray(j * inner, (j + 1) * inner), k * inner));
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw this.error('cannot backpropagate to the indices (bottom[1])');
    if (!propagateDown[0]) return;
    const idx = this.indices(bottom);
    const inner = bottom[0].countRange(1);
    const src = top[0].diff;
    const dst = bottom[0].diff;
    dst.fill(0);
    idx.forEach((j, k) => {
      const d = j * inner;
      const s = k * inner;
      for (let i = 0; i < inner; i++) dst[d + i] += src[s + i];
    });
  }
}

registerLayer('BatchReindex', BatchReindexLayer);
