// TanH: y = tanh(x); backward uses the output only (1 - y^2), so in place works.
import type { Blob } from '../graph/blob.js';
import { NeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export class TanHLayer extends NeuronLayer {
  get type(): string {
    return 'TanH';
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let i = 0; i < y.length; i++) {
      const t = y[i];
      dx[i] = dy[i] * (1 - t * t);
    }
  }
}

registerLayer('TanH', TanHLayer);
