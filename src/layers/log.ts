// Log: y = log_base(shift + scale x), natural log when base is -1 (the default).
// dy/dx = scale / (ln(base) (shift + scale x)), in Caffe's order of float operations.
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { NeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class LogLayer extends NeuronLayer {
  private baseScale = 1;
  private inputScale = 1;
  private inputShift = 0;
  private backwardNumScale = 1;

  get type(): string {
    return 'Log';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'log_param', 'LogParameter');
    const base: number = p.base;
    if (base !== -1) this.check(base > 0, () => `log_param.base must be positive (or -1 for e), got ${base}`);
    const logBase = base === -1 ? 1 : f32(Math.log(base));
    this.check(Number.isFinite(logBase) && logBase !== 0, () => `log_param.base ${base} cannot be used as a logarithm base`);
    this.baseScale = f32(1 / logBase);
    this.inputScale = p.scale;
    this.inputShift = p.shift;
    this.backwardNumScale = f32(this.inputScale / logBase);
  }

  private affine(v: number): number {
    if (this.inputScale !== 1) v = f32(v * this.inputScale);
    if (this.inputShift !== 0) v = f32(v + this.inputShift);
    return v;
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const bs = this.baseScale;
    for (let i = 0; i < x.length; i++) {
      const l = f32(Math.log(this.affine(x[i])));
      y[i] = bs === 1 ? l : l * bs;
    }
  }

  // Caffe's sequence: copy bottom_data into bottom_diff, scale, shift, invert, scale by
  // backward_num_scale, then multiply by top_diff. In place bottom_data is the output and top_diff
  // aliases bottom_diff, so Caffe's in-place result is the derivative (taken at y) squared, not the
  // true gradient; the per-element steps below read and write the same (possibly aliased) arrays
  // in that order.
  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const ns = this.backwardNumScale;
    for (let i = 0; i < x.length; i++) {
      dx[i] = x[i];
      if (this.inputScale !== 1) dx[i] = dx[i] * this.inputScale;
      if (this.inputShift !== 0) dx[i] = dx[i] + this.inputShift;
      dx[i] = 1 / dx[i];
      if (ns !== 1) dx[i] = dx[i] * ns;
      dx[i] = dy[i] * dx[i];
    }
  }
}

registerLayer('Log', LogLayer);
