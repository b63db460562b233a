// AbsVal: y = |x|, dy/dx = sign(x) (0 at 0). Like Caffe, refuses to run in place (the sign of
// the input would be lost).
import type { Blob } from '../graph/blob.js';
import { NeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export class AbsValLayer extends NeuronLayer {
  get type(): string {
    return 'AbsVal';
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    this.check(top[0] !== bottom[0], 'cannot run in place (top and bottom are the same blob)');
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    for (let i = 0; i < x.length; i++) y[i] = Math.abs(x[i]);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      dx[i] = v > 0 ? dy[i] : v < 0 ? -dy[i] : 0;
    }
  }
}

registerLayer('AbsVal', AbsValLayer);
