// ReLU6 (MobileNetV2 fork layer): y = min(max(x, 0), 6); the gradient passes where 0 < x < 6.
// In place, backward reads the output, which lies strictly inside (0, 6) exactly when the input
// did, so the gradient is the same. relu6_param.negative_slope is not read, as in the fork.
import type { Blob } from '../graph/blob.js';
import { NeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export class ReLU6Layer extends NeuronLayer {
  get type(): string {
    return 'ReLU6';
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = v > 0 ? (v < 6 ? v : 6) : 0;
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 && x[i] < 6 ? dy[i] : 0;
  }
}

registerLayer('ReLU6', ReLU6Layer);
