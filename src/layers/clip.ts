// Clip: y = max(min, min(x, max)) with clip_param.min/max (both required); the gradient passes
// where min <= x <= max.
import type { Blob } from '../graph/blob.js';
import { has } from '../proto/schema.js';
import { paramOf } from './layer.js';
import { NeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export class ClipLayer extends NeuronLayer {
  private min = 0;
  private max = 0;

  get type(): string {
    return 'Clip';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'clip_param', 'ClipParameter');
    this.check(has(p, 'min') && has(p, 'max'), 'clip_param.min and clip_param.max are required');
    // Caffe holds them as Dtype (float).
    this.min = Math.fround(p.min);
    this.max = Math.fround(p.max);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const lo = this.min;
    const hi = this.max;
    for (let i = 0; i < x.length; i++) y[i] = Math.max(lo, Math.min(x[i], hi));
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    // As Caffe: tests bottom_data, which in place is the clipped output y (always within
    // [min, max], so the in-place gradient passes everywhere).
    const x = bottom[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const lo = this.min;
    const hi = this.max;
    for (let i = 0; i < x.length; i++) dx[i] = dy[i] * (x[i] >= lo && x[i] <= hi ? 1 : 0);
  }
}

registerLayer('Clip', ClipLayer);
