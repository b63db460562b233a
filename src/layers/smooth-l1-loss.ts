// SmoothL1Loss (SSD fork's version, from Fast R-CNN): sum over elements of 0.5 d^2 when |d| < 1,
// else |d| - 0.5, where d = (a - b), times an optional third input of weights; divided by the
// batch size. Both inputs get gradients (a gets +, b gets -).
import type { Blob } from '../graph/blob.js';
import { LossLayer } from './layer.js';
import { registerLayer } from './registry.js';

/** The loss of one difference and, through `grad`, its derivative (shared with MultiBoxLoss). */
export function smoothL1(d: number): number {
  const a = Math.abs(d);
  return a < 1 ? 0.5 * d * d : a - 0.5;
}
export function smoothL1Grad(d: number): number {
  return Math.abs(d) < 1 ? d : d > 0 ? 1 : d < 0 ? -1 : 0;
}

export class SmoothL1LossLayer extends LossLayer {
  private diff = new Float32Array(0);

  override get type(): string {
    return 'SmoothL1Loss';
  }
  override exactNumBottomBlobs(): number {
    return -1;
  }
  override minBottomBlobs(): number {
    return 2;
  }
  override maxBottomBlobs(): number {
    return 3;
  }
  override allowForceBackward(_bottomIndex: number): boolean {
    return true;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    const same = (b: Blob) => [1, 2, 3].every((k) => b.legacyShape(k) === bottom[0].legacyShape(k));
    this.check(same(bottom[1]), () => `the two inputs must have the same channels, height and width: ${bottom[0].shapeString()} vs ${bottom[1].shapeString()}`);
    if (bottom.length === 3) {
      this.check(same(bottom[2]), () => `the weights ${bottom[2].shapeString()} must have the input's channels, height and width ${bottom[0].shapeString()}`);
    }
    if (this.diff.length !== bottom[0].count) this.diff = new Float32Array(bottom[0].count);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const a = bottom[0].data;
    const b = bottom[1].data;
    const w = bottom.length === 3 ? bottom[2].data : null;
    const diff = this.diff;
    let loss = 0;
    for (let i = 0; i < diff.length; i++) {
      diff[i] = a[i] - b[i];
      if (w) diff[i] *= w[i];
      loss += Math.fround(smoothL1(diff[i]));
    }
    top[0].data[0] = loss / bottom[0].shape[0];
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    for (let k = 0; k < 2; k++) {
      if (!propagateDown[k]) continue;
      const alpha = (k === 0 ? 1 : -1) * top[0].diff[0] / bottom[k].shape[0];
      const out = bottom[k].diff;
      for (let i = 0; i < out.length; i++) out[i] = alpha * smoothL1Grad(this.diff[i]);
    }
  }
}

registerLayer('SmoothL1Loss', SmoothL1LossLayer);
