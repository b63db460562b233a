// ELU: y = x for x > 0, alpha (exp(x) - 1) otherwise; dy/dx = 1 or y + alpha. Backward reads
// bottom and top as Caffe does (in place the output keeps the input's sign for alpha >= 0).
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { NeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class ELULayer extends NeuronLayer {
  private alpha = 1;

  get type(): string {
    return 'ELU';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    this.alpha = paramOf(this.param, 'elu_param', 'ELUParameter').alpha;
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const a = this.alpha;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = v > 0 ? v : a * (f32(Math.exp(v)) - 1);
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0].data;
    const y = top[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const a = this.alpha;
    for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * f32(a + y[i]);
  }
}

registerLayer('ELU', ELULayer);
