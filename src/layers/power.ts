// Power: y = (shift + scale x)^power, with Caffe's special cases: when power * scale == 0 the
// output is the constant (power == 0 ? 1 : shift^power) and the gradient 0; power == 1 is affine;
// power == 2 and shift == 0 take shortcuts in backward. The two kernels are exported for LRN.
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { NeuronLayer, f32 } from './neuron.js';
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

/**
 * dx = dy * dy/dx for the power function, given its input x and output y, as Caffe's
 * PowerLayer::Backward_cpu computes it: the derivative is built in dx first and then multiplied by
 * dy. The element-wise steps read and write the arrays in Caffe's order, so aliased arrays behave
 * as in Caffe: run in place (x === y, dx === dy) x is really the output and dy is overwritten by the
 * derivative before the final multiply (Caffe's in-place Power gradient is not the true one).
 */
export function powerBackward(p: PowerSpec, x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, n = x.length): void {
  const diffScale = f32(p.power * p.scale);
  if (diffScale === 0 || p.power === 1) {
    // caffe_set(count, diff_scale_, bottom_diff), then (diff_scale_ != 0) caffe_mul(top_diff, bottom_diff)
    for (let i = 0; i < n; i++) {
      dx[i] = diffScale;
      if (diffScale !== 0) dx[i] = dy[i] * dx[i];
    }
    return;
  }
  if (p.power === 2) {
    // d/dx (shift + scale x)^2 = diff_scale scale x + diff_scale shift
    const a = f32(diffScale * p.scale);
    const b = f32(diffScale * p.shift);
    for (let i = 0; i < n; i++) {
      dx[i] = a * x[i];
      if (p.shift !== 0) dx[i] = dx[i] + b;
      dx[i] = dy[i] * dx[i];
    }
  } else if (p.shift === 0) {
    // d/dx (scale x)^power = power y / x
    for (let i = 0; i < n; i++) {
      dx[i] = y[i] / x[i];
      dx[i] = dx[i] * p.power;
      dx[i] = dy[i] * dx[i];
    }
  } else {
    // d/dx (shift + scale x)^power = diff_scale y / (shift + scale x)
    for (let i = 0; i < n; i++) {
      dx[i] = x[i];
      if (p.scale !== 1) dx[i] = dx[i] * p.scale;
      dx[i] = dx[i] + p.shift;
      dx[i] = y[i] / dx[i];
      if (diffScale !== 1) dx[i] = dx[i] * diffScale;
      dx[i] = dy[i] * dx[i];
    }
  }
}

export class PowerLayer extends NeuronLayer {
  private spec: PowerSpec = { power: 1, scale: 1, shift: 0 };

  get type(): string {
    return 'Power';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'power_param', 'PowerParameter');
    this.spec = { power: p.power, scale: p.scale, shift: p.shift };
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    powerForward(this.spec, bottom[0].data, top[0].data);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    // In place bottom.data is the output and top.diff is bottom.diff, exactly as in Caffe.
    powerBackward(this.spec, bottom[0].data, top[0].data, top[0].diff, bottom[0].diff);
  }
}

registerLayer('Power', PowerLayer);
