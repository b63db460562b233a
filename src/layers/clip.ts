// Clip: y = max(min, min(x, max)) with clip_param.min/max (both required); the gradient passes
// where min <= x <= max.
import type { Blob } from '../graph/blob.js';
import { has } from '../proto/schema.js';
import { paramOf } from './layer.js';
import { InputKeepingNeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export class ClipLayer extends InputKeepingNeuronLayer {
  private min = 0;
  private max = 0;

  get type(): string {
    return 'Clip';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'clip_param', 'ClipParameter');
    this.check(has(p, 'min') && has(p, 'max'), 'clip_param.min and clip_param.max are required');
    this.min = p.min;
    this.max = p.max;
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    this.keepInput(bottom[0], top[0]);
    const x = bottom[0].data;
    const y = top[0].data;
    const lo = this.min;
    const hi = this.max;
    for (let i = 0; i < x.length; i++) y[i] = Math.max(lo, Math.min(x[i], hi));
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = this.inputData(bottom[0], top[0]);
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const lo = this.min;
    const hi = this.max;
    for (let i = 0; i < x.length; i++) dx[i] = x[i] >= lo && x[i] <= hi ? dy[i] : 0;
  }
}

registerLayer('Clip', ClipLayer);
