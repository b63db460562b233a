// HingeLoss: one-vs-all hinge loss, as Caffe's HingeLossLayer.
//
// bottom[0] scores (N x dim), bottom[1] labels (N integers in [0, dim)). With t = +1 for the
// label's class and -1 otherwise, margin_nk = max(0, 1 - t * x_nk);
// loss = sum(margin) / N (L1) or sum(margin^2) / N (L2, hinge_loss_param.norm).
import type { Blob } from '../graph/blob.js';
import { LossLayer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';
import { readLabel } from './softmax-with-loss.js';

/** HingeLossParameter.Norm values (caffe.proto). */
const L1 = 1;
const L2 = 2;

export class HingeLossLayer extends LossLayer {
  private margins = new Float32Array(0);
  private norm = L1;

  get type(): string {
    return 'HingeLoss';
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    super.layerSetUp(bottom, top);
    const hp = paramOf(this.param, 'hinge_loss_param', 'HingeLossParameter');
    this.norm = hp.norm;
    this.check(this.norm === L1 || this.norm === L2, () => `unknown hinge_loss_param.norm ${this.norm}`);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    if (this.margins.length !== bottom[0].count) this.margins = new Float32Array(bottom[0].count);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const label = bottom[1].data;
    const num = bottom[0].shape[0];
    const dim = bottom[0].count / num;
    const m = this.margins;
    this.check(bottom[1].count >= num, () => `needs ${num} labels, got ${bottom[1].count}`);
    for (let k = 0; k < m.length; k++) m[k] = x[k];
    for (let n = 0; n < num; n++) {
      const l = readLabel(this, label[n], dim, null, n);
      m[n * dim + l] = -m[n * dim + l];
    }
    let loss = 0;
    for (let k = 0; k < m.length; k++) {
      m[k] = Math.max(0, 1 + m[k]);
      loss += this.norm === L1 ? m[k] : m[k] * m[k];
    }
    top[0].data[0] = loss / num;
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw this.error('cannot backpropagate to the label input (bottom 1)');
    if (!propagateDown[0]) return;
    const out = bottom[0].diff;
    const label = bottom[1].data;
    const num = bottom[0].shape[0];
    const dim = bottom[0].count / num;
    out.set(this.margins);
    for (let n = 0; n < num; n++) {
      const l = readLabel(this, label[n], dim, null, n);
      out[n * dim + l] = -out[n * dim + l];
    }
    const w = top[0].diff[0];
    if (this.norm === L1) {
      const s = w / num;
      for (let k = 0; k < out.length; k++) out[k] = s * Math.sign(out[k]);
    } else {
      const s = (2 * w) / num;
      for (let k = 0; k < out.length; k++) out[k] = s * out[k];
    }
  }
}

registerLayer('HingeLoss', HingeLossLayer);
