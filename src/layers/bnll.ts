// BNLL (binomial normal log likelihood): y = log(1 + exp(x)), computed stably as Caffe does
// (x + log(1 + exp(-x)) for x > 0); dy/dx = e / (1 + e) with e = exp(min(x, 50)).
import type { Blob } from '../graph/blob.js';
import { NeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

const BNLL_THRESHOLD = 50;

export class BNLLLayer extends NeuronLayer {
  get type(): string {
    return 'BNLL';
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = v > 0 ? v + Math.log(1 + Math.exp(-v)) : Math.log(1 + Math.exp(v));
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    // As Caffe: reads bottom_data, which in place is the output y (so the in-place gradient is
    // e^y / (1 + e^y) dy, not the true one).
    const x = bottom[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let i = 0; i < x.length; i++) {
      const e = f32(Math.exp(Math.min(x[i], BNLL_THRESHOLD)));
      // top_diff[i] * expval is a float product; the division by (expval + 1.) is in double.
      dx[i] = f32(dy[i] * e) / (e + 1);
    }
  }
}

registerLayer('BNLL', BNLLLayer);
