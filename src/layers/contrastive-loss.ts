// ContrastiveLoss, as Caffe's ContrastiveLossLayer.
//
// bottom[0] a (N x C x 1 x 1), bottom[1] b (same shape), bottom[2] similarity flags (N x 1 x 1 x 1).
// With d = ||a_n - b_n||:
//   similar pairs (flag != 0, truncated to int): d^2
//   dissimilar pairs: max(margin - d, 0)^2, or with legacy_version max(margin - d^2, 0)
// loss = sum / (2N). Gradients flow to a (+) and b (-); the flags get none.
// The dissimilar gradient divides by d + 1e-4 (Caffe's guard against d = 0).
import type { Blob } from '../graph/blob.js';
import { LossLayer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

export class ContrastiveLossLayer extends LossLayer {
  private diff = new Float32Array(0);
  private distSq = new Float64Array(0);
  private margin = 1;
  private legacy = false;

  get type(): string {
    return 'ContrastiveLoss';
  }
  override exactNumBottomBlobs(): number {
    return 3;
  }
  override allowForceBackward(bottomIndex: number): boolean {
    // Both feature inputs get gradients; the similarity flags do not.
    return bottomIndex !== 2;
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    super.layerSetUp(bottom, top);
    const cp = paramOf(this.param, 'contrastive_loss_param', 'ContrastiveLossParameter');
    this.margin = cp.margin;
    this.legacy = cp.legacy_version;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    const [a, b, sim] = bottom;
    for (const blob of bottom) {
      this.check(blob.numAxes <= 4, () => `inputs must have at most 4 axes, got ${blob.shapeString()}`);
    }
    this.check(a.channels === b.channels,
      () => `the two feature inputs must have the same number of channels: ${a.shapeString()} vs ${b.shapeString()}`);
    this.check(a.height === 1 && a.width === 1 && b.height === 1 && b.width === 1,
      () => `the feature inputs must be N x C x 1 x 1, got ${a.shapeString()} and ${b.shapeString()}`);
    this.check(sim.channels === 1 && sim.height === 1 && sim.width === 1,
      () => `the similarity input must be N x 1 x 1 x 1, got ${sim.shapeString()}`);
    this.check(sim.num === a.num,
      () => `the similarity input must have one value per pair: ${sim.shapeString()} for ${a.shapeString()}`);
    if (this.diff.length !== a.count) this.diff = new Float32Array(a.count);
    if (this.distSq.length !== a.num) this.distSq = new Float64Array(a.num);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const [a, b, sim] = bottom;
    const num = a.num;
    const channels = a.channels;
    const diff = this.diff;
    for (let k = 0; k < diff.length; k++) diff[k] = a.data[k] - b.data[k];
    let loss = 0;
    for (let n = 0; n < num; n++) {
      let d2 = 0;
      for (let c = 0; c < channels; c++) {
        const v = diff[n * channels + c];
        d2 += v * v;
      }
      d2 = Math.fround(d2);
      this.distSq[n] = d2;
      if (Math.trunc(sim.data[n]) !== 0) {
        loss += d2;
      } else if (this.legacy) {
        loss += Math.max(this.margin - d2, 0);
      } else {
        const m = Math.max(this.margin - Math.sqrt(d2), 0);
        loss += m * m;
      }
    }
    top[0].data[0] = loss / num / 2;
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const num = bottom[0].num;
    const channels = bottom[0].channels;
    const sim = bottom[2].data;
    for (let i = 0; i < 2; i++) {
      if (!propagateDown[i]) continue;
      const out = bottom[i].diff;
      const alpha = (i === 0 ? 1 : -1) * top[0].diff[0] / num;
      for (let n = 0; n < num; n++) {
        const off = n * channels;
        let scale: number;
        if (Math.trunc(sim[n]) !== 0) {
          scale = alpha;
        } else {
          const d2 = this.distSq[n];
          let slack: number;
          if (this.legacy) {
            slack = this.margin - d2;
            scale = -alpha;
          } else {
            const d = Math.sqrt(d2);
            slack = this.margin - d;
            scale = -alpha * slack / (d + 1e-4);
          }
          if (!(slack > 0)) scale = 0;
        }
        for (let c = 0; c < channels; c++) out[off + c] = scale * this.diff[off + c];
      }
    }
  }
}

registerLayer('ContrastiveLoss', ContrastiveLossLayer);
