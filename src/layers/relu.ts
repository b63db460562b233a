// ReLU: y = max(x, 0) + negative_slope * min(x, 0) (Caffe's ReLULayer; leaky when the slope is
// non-zero). Backward reads the bottom data, which in place is the output: same sign, as Caffe.
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { NeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export class ReLULayer extends NeuronLayer {
  private slope = 0;

  get type(): string {
    return 'ReLU';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    this.slope = paramOf(this.param, 'relu_param', 'ReLUParameter').negative_slope;
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const s = this.slope;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = v > 0 ? v : s * v;
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const s = this.slope;
    for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * s;
  }
}

registerLayer('ReLU', ReLULayer);
