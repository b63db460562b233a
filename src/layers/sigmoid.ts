// Sigmoid: y = 1 / (1 + exp(-x)), evaluated as Caffe does: 0.5 * tanh(0.5 x) + 0.5.
// Backward uses the output only, so in place works.
import type { Blob } from '../graph/blob.js';
import { NeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export function sigmoid(x: number): number {
  return 0.5 * Math.tanh(0.5 * x) + 0.5;
}

export class SigmoidLayer extends NeuronLayer {
  get type(): string {
    return 'Sigmoid';
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    for (let i = 0; i < x.length; i++) y[i] = sigmoid(x[i]);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let i = 0; i < y.length; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
  }
}

registerLayer('Sigmoid', SigmoidLayer);
