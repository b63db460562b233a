// Swish: y = x * sigmoid(beta x). As Caffe, the sigmoid output is kept for backward:
// dy/dx = beta y + s (1 - beta y) with s = sigmoid(beta x); needs no input, so in place works.
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { NeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';
import { sigmoid } from './sigmoid.js';

export class SwishLayer extends NeuronLayer {
  private beta = 1;
  private sig = new Float32Array(0);

  get type(): string {
    return 'Swish';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    this.beta = paramOf(this.param, 'swish_param', 'SwishParameter').beta;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    if (this.sig.length !== bottom[0].count) this.sig = new Float32Array(bottom[0].count);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const s = this.sig;
    const b = this.beta;
    for (let i = 0; i < x.length; i++) {
      s[i] = sigmoid(f32(x[i] * b));
      y[i] = x[i] * s[i];
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const s = this.sig;
    const b = this.beta;
    for (let i = 0; i < y.length; i++) {
      const by = f32(b * y[i]);
      dx[i] = dy[i] * (by + s[i] * (1 - by));
    }
  }
}

registerLayer('Swish', SwishLayer);
