// BNLL (binomial normal log likelihood): y = log(1 + exp(x)), computed stably as Caffe does
// (x + log(1 + exp(-x)) for x > 0); dy/dx = e / (1 + e) with e = exp(min(x, 50)).
import type { Blob } from '../graph/blob.js';
import { InputKeepingNeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

const BNLL_THRESHOLD = 50;

export class BNLLLayer extends InputKeepingNeuronLayer {
  get type(): string {
    return 'BNLL';
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    this.keepInput(bottom[0], top[0]);
    const x = bottom[0].data;
    const y = top[0].data;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = v > 0 ? v + Math.log(1 + Math.exp(-v)) : Math.log(1 + Math.exp(v));
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = this.inputData(bottom[0], top[0]);
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let i = 0; i < x.length; i++) {
      const e = f32(Math.exp(Math.min(x[i], BNLL_THRESHOLD)));
      dx[i] = (dy[i] * e) / (e + 1);
    }
  }
}

registerLayer('BNLL', BNLLLayer);
