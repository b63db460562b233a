// ReLU: y = max(x, 0) + negative_slope * min(x, 0) (Caffe's ReLULayer; leaky when the slope is
// non-zero). Backward reads the bottom data, which in place is the output: same sign, as Caffe.
import type { Blob } from '../graph/blob.js';
import { reluArrays, reluBackwardArrays } from '../kernels/loops.js';
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
    reluArrays(bottom[0].data, top[0].data, bottom[0].count, this.slope);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    reluBackwardArrays(bottom[0].data, top[0].diff, bottom[0].diff, bottom[0].count, this.slope);
  }
}

registerLayer('ReLU', ReLULayer);
