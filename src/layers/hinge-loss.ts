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

  // As Caffe, forward keeps the margins in bottom[0]'s diff (copy of the scores, the true class
  // negated, then max(0, 1 + .)), so they are visible there even when backward is not run; backward
  // then works on that diff.
  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const label = bottom[1].data;
    const num = bottom[0].shape[0];
    const dim = bottom[0].count / num;
    const m = bottom[0].diff;
    this.check(bottom[1].count >= num, () => `needs ${num} labels, got ${bottom[1].count}`);
    m.set(x);
    for (let n = 0; n < num; n++) {
      const l = readLabel(this, label[n], dim, null, n);
      m[n * dim + l] *= -1;
    }
    let loss = 0;
    for (let k = 0; k < m.length; k++) {
      m[k] = Math.max(0, 1 + m[k]);
      loss += this.norm === L1 ? Math.abs(m[k]) : m[k] * m[k];
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
    for (let n = 0; n < num; n++) {
      const l = readLabel(this, label[n], dim, null, n);
      out[n * dim + l] *= -1;
    }
    const w = top[0].diff[0];
    if (this.norm === L1) {
      // caffe_cpu_sign, then caffe_scal by loss_weight / num
      const s = Math.fround(w / num);
      for (let k = 0; k < out.length; k++) {
        const v = out[k];
        out[k] = (0 < v ? 1 : 0) - (v < 0 ? 1 : 0);
        out[k] = s * out[k];
      }
    } else {
      const s = Math.fround(Math.fround(w * 2) / num);
      for (let k = 0; k < out.length; k++) out[k] = s * out[k];
    }
  }
}

registerLayer('HingeLoss', HingeLossLayer);
