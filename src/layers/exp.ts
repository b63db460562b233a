// Exp: y = base^(shift + scale x), or e^(shift + scale x) when base is -1 (the default).
// Computed as Caffe does: y = outer * exp(inner x) with inner = ln(base) * scale and
// outer = base^shift; dy/dx = inner * y (backward needs only the output, so in place works).
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { NeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class ExpLayer extends NeuronLayer {
  private innerScale = 1;
  private outerScale = 1;

  get type(): string {
    return 'Exp';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'exp_param', 'ExpParameter');
    const base: number = p.base;
    if (base !== -1) this.check(base > 0, () => `exp_param.base must be positive (or -1 for e), got ${base}`);
    const logBase = base === -1 ? 1 : f32(Math.log(base));
    this.check(Number.isFinite(logBase), () => `exp_param.base ${base} has no finite logarithm`);
    this.innerScale = f32(logBase * p.scale);
    const shift: number = p.shift;
    this.outerScale = shift === 0 ? 1 : f32(base !== -1 ? Math.pow(base, shift) : Math.exp(shift));
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const inner = this.innerScale;
    const outer = this.outerScale;
    for (let i = 0; i < x.length; i++) {
      const e = Math.exp(inner === 1 ? x[i] : f32(inner * x[i]));
      y[i] = outer === 1 ? e : f32(e) * outer;
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0].data;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    const inner = this.innerScale;
    for (let i = 0; i < y.length; i++) {
      const g = f32(y[i] * dy[i]);
      dx[i] = inner === 1 ? g : g * inner;
    }
  }
}

registerLayer('Exp', ExpLayer);
