// EuclideanLoss: sum((a - b)^2) / (2N), as Caffe's EuclideanLossLayer. Both inputs may receive
// gradients (a gets +, b gets -), including under force_backward.
import type { Blob } from '../graph/blob.js';
import { LossLayer } from './layer.js';
import { registerLayer } from './registry.js';

export class EuclideanLossLayer extends LossLayer {
  private diff = new Float32Array(0);

  get type(): string {
    return 'EuclideanLoss';
  }
  override allowForceBackward(_bottomIndex: number): boolean {
    return true;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    this.check(bottom[0].countRange(1) === bottom[1].countRange(1),
      () => `the two inputs must have the same size per item: ${bottom[0].shapeString()} vs ${bottom[1].shapeString()}`);
    if (this.diff.length !== bottom[0].count) this.diff = new Float32Array(bottom[0].count);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const a = bottom[0].data;
    const b = bottom[1].data;
    const diff = this.diff;
    let dot = 0;
    for (let k = 0; k < diff.length; k++) {
      const v = a[k] - b[k];
      diff[k] = v;
      dot += diff[k] * diff[k];
    }
    top[0].data[0] = dot / bottom[0].shape[0] / 2;
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    for (let i = 0; i < 2; i++) {
      if (!propagateDown[i]) continue;
      const alpha = (i === 0 ? 1 : -1) * top[0].diff[0] / bottom[i].shape[0];
      const out = bottom[i].diff;
      for (let k = 0; k < out.length; k++) out[k] = alpha * this.diff[k];
    }
  }
}

registerLayer('EuclideanLoss', EuclideanLossLayer);
