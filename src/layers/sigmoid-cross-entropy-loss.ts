// SigmoidCrossEntropyLoss, as Caffe's SigmoidCrossEntropyLossLayer.
//
// bottom[0] scores x, bottom[1] targets t in [0, 1] (same count). Per element, in the overflow-free
// form: l = -(x * (t - [x >= 0]) - log(1 + exp(x - 2 x [x >= 0]))); elements whose target
// truncates to ignore_label are skipped. loss = sum(l) / normalizer.
// Gradient: (sigmoid(x) - t) * top_diff / normalizer, 0 for ignored elements.
// Normalization: loss_param.normalization if set, else the legacy `normalize` bool
// (true -> VALID, false -> BATCH_SIZE), else BATCH_SIZE: Caffe keeps BATCH_SIZE as this layer's
// default for backward compatibility, unlike SoftmaxWithLoss (checked against Caffe's output).
import type { Blob } from '../graph/blob.js';
import { LossLayer } from './layer.js';
import { registerLayer } from './registry.js';
import { BATCH_SIZE, getNormalizer, ignoreLabelOf, normalizationMode } from './softmax-with-loss.js';

export class SigmoidCrossEntropyLossLayer extends LossLayer {
  private sigmoid = new Float32Array(0);
  private ignoreLabel: number | null = null;
  private normalization = BATCH_SIZE;
  private normalizer = 1;
  private outer = 0;
  private inner = 0;

  get type(): string {
    return 'SigmoidCrossEntropyLoss';
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    super.layerSetUp(bottom, top);
    this.ignoreLabel = ignoreLabelOf(this);
    this.normalization = normalizationMode(this, BATCH_SIZE);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    this.outer = bottom[0].shape[0];
    this.inner = bottom[0].countRange(1);
    this.check(bottom[0].count === bottom[1].count,
      () => `scores and targets must have the same count: ${bottom[0].shapeString()} vs ${bottom[1].shapeString()}`);
    if (this.sigmoid.length !== bottom[0].count) this.sigmoid = new Float32Array(bottom[0].count);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const t = bottom[1].data;
    const sig = this.sigmoid;
    // Caffe's Sigmoid layer form: 0.5 * tanh(0.5 x) + 0.5.
    for (let k = 0; k < x.length; k++) sig[k] = 0.5 * Math.tanh(0.5 * x[k]) + 0.5;
    const ignore = this.ignoreLabel;
    let loss = 0;
    let valid = 0;
    for (let k = 0; k < x.length; k++) {
      if (ignore !== null && Math.trunc(t[k]) === ignore) continue;
      const v = x[k];
      const pos = v >= 0 ? 1 : 0;
      loss -= v * (t[k] - pos) - Math.log(1 + Math.exp(v - 2 * v * pos));
      valid++;
    }
    this.normalizer = getNormalizer(this.normalization, this.outer, this.inner, valid);
    top[0].data[0] = loss / this.normalizer;
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw this.error('cannot backpropagate to the target input (bottom 1)');
    if (!propagateDown[0]) return;
    const t = bottom[1].data;
    const out = bottom[0].diff;
    const sig = this.sigmoid;
    const ignore = this.ignoreLabel;
    const scale = top[0].diff[0] / this.normalizer;
    for (let k = 0; k < out.length; k++) {
      out[k] = ignore !== null && Math.trunc(t[k]) === ignore ? 0 : (sig[k] - t[k]) * scale;
    }
  }
}

registerLayer('SigmoidCrossEntropyLoss', SigmoidCrossEntropyLossLayer);
