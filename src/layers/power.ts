// Power: y = (shift + scale x)^power, with Caffe's special cases: when power * scale == 0 the
// output is the constant (power == 0 ? 1 : shift^power) and the gradient 0; power == 1 is affine;
// power == 2 and shift == 0 take shortcuts in backward. The two kernels are exported for LRN.
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { InputKeepingNeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export interface PowerSpec {
  power: number;
  scale: number;
  shift: number;
}

/** y = (shift + scale x)^power over n elements, in Caffe's order of float operations. */
export function powerForward(p: PowerSpec, x: Float32Array, y: Float32Array, n = x.length): void {
  const diffScale = f32(p.power * p.scale);
  if (diffScale === 0) {
    y.fill(p.power === 0 ? 1 : Math.pow(p.shift, p.power), 0, n);
    return;
  }
  for (let i = 0; i < n; i++) {
    let v = x[i];
    if (p.scale !== 1) v = f32(p.scale * v);
    if (p.shift !== 0) v = f32(v + p.shift);
    if (p.power !== 1) v = Math.pow(v, p.power);
    y[i] = v;
  }
}

/** dx = dy * dy/dx for the power function, given its input x and output y (Caffe's formulas). */
export function powerBackward(p: PowerSpec, x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, n = x.length): void {
  const diffScale = f32(p.power * p.scale);
  if (diffScale === 0 || p.power === 1) {
    for (let i = 0; i < n; i++) dx[i] = diffScale === 0 ? 0 : dy[i] * diffScale;
    return;
  }
  if (p.power === 2) {
    // d/dx (shift + scale x)^2 = 2 scale (shift + scale x)
    const a = f32(diffScale * p.scale);
    const b = f32(diffScale * p.shift);
    for (let i = 0; i < n; i++) {
      let g = f32(a * x[i]);
      if (p.shift !== 0) g = f32(g + b);
      dx[i] = dy[i] * g;
    }
  } else if (p.shift === 0) {
    // d/dx (scale x)^power = power y / x
    for (let i = 0; i < n; i++) dx[i] = dy[i] * f32(f32(y[i] / x[i]) * p.power);
  } else {
    // d/dx (shift + scale x)^power = power scale y / (shift + scale x)
    for (let i = 0; i < n; i++) {
      let u = x[i];
      if (p.scale !== 1) u = f32(u * p.scale);
      u = f32(u + p.shift);
      let g = f32(y[i] / u);
      if (diffScale !== 1) g = f32(g * diffScale);
      dx[i] = dy[i] * g;
    }
  }
}

export class PowerLayer extends InputKeepingNeuronLayer {
  private spec: PowerSpec = { power: 1, scale: 1, shift: 0 };

  get type(): string {
    return 'Power';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'power_param', 'PowerParameter');
    this.spec = { power: p.power, scale: p.scale, shift: p.shift };
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    this.keepInput(bottom[0], top[0]);
    powerForward(this.spec, bottom[0].data, top[0].data);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    powerBackward(this.spec, this.inputData(bottom[0], top[0]), top[0].data, top[0].diff, bottom[0].diff);
  }
}

registerLayer('Power', PowerLayer);
