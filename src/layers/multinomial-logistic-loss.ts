// MultinomialLogisticLoss: -sum log(max(p[n, label_n], 1e-20)) / N over given probabilities,
// as Caffe's MultinomialLogisticLossLayer. bottom[0] probabilities (N x dim), bottom[1] labels
// (N x 1 x 1 x 1, integers in [0, dim)).
import type { Blob } from '../graph/blob.js';
import { LossLayer } from './layer.js';
import { registerLayer } from './registry.js';
import { LOG_THRESHOLD, readLabel } from './softmax-with-loss.js';

export class MultinomialLogisticLossLayer extends LossLayer {
  get type(): string {
    return 'MultinomialLogisticLoss';
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    const l = bottom[1];
    this.check(l.numAxes <= 4 && l.channels === 1 && l.height === 1 && l.width === 1,
      () => `the label input must be N x 1 x 1 x 1 (one label per item), got ${l.shapeString()}`);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const p = bottom[0].data;
    const label = bottom[1].data;
    const num = bottom[0].shape[0];
    const dim = bottom[0].count / num;
    let loss = 0;
    for (let n = 0; n < num; n++) {
      const l = readLabel(this, label[n], dim, null, n);
      loss -= Math.log(Math.max(p[n * dim + l], LOG_THRESHOLD));
    }
    top[0].data[0] = loss / num;
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw this.error('cannot backpropagate to the label input (bottom 1)');
    if (!propagateDown[0]) return;
    const p = bottom[0].data;
    const label = bottom[1].data;
    const out = bottom[0].diff;
    const num = bottom[0].shape[0];
    const dim = bottom[0].count / num;
    out.fill(0);
    const scale = -top[0].diff[0] / num;
    for (let n = 0; n < num; n++) {
      const l = readLabel(this, label[n], dim, null, n);
      out[n * dim + l] = scale / Math.max(p[n * dim + l], LOG_THRESHOLD);
    }
  }
}

registerLayer('MultinomialLogisticLoss', MultinomialLogisticLossLayer);
