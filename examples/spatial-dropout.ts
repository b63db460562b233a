// ENet's spatial dropout, a Python layer in TimoSaemann/ENet (module "spatial_dropout", class
// "SpatialDropoutLayer"), in TypeScript. Its free-form parameter is python_param.param_str, a
// Python dict such as "{'phase': 'TEST', 'p': '0.01'}":
//   TRAIN: each (sample, channel) map is kept with probability 1 - p and scaled by 1 / (1 - p);
//   otherwise every value is scaled by 1 / (1 - p) (so, as in ENet, TEST is not the identity).
// The phase is param_str's, not the net's, as in ENet. Backward keeps each sample's own draws
// (ENet's backward reuses the last sample's). In your project, import from 'caffe-ts'.
import { Blob, Layer, registerLayer } from '../src/index.js';
import { parseParamStr } from './param-str.js';

export class SpatialDropoutLayer extends Layer {
  private train = false;
  private scale = 1;
  private p = 0;
  private keep = new Uint8Array(0);
  /** Uniform draws in [0, 1); replace for reproducible training. */
  random: () => number = Math.random;

  get type(): string {
    return 'Python';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const params = parseParamStr(this.param.python_param?.param_str ?? '');
    this.check(params.has('phase') && params.has('p'), () => `param_str must give 'phase' and 'p', got "${this.param.python_param?.param_str ?? ''}"`);
    this.train = params.get('phase') === 'TRAIN';
    this.p = Number(params.get('p'));
    this.check(this.p > 0 && this.p < 1, () => `p must be between 0 and 1, got ${params.get('p')}`);
    this.scale = 1 / (1 - this.p);
    this.check(bottom[0].numAxes >= 2, () => `the bottom needs a channel axis, got ${bottom[0].shapeString()}`);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    if (top[0] !== bottom[0]) top[0].reshapeLike(bottom[0]);
    this.keep = new Uint8Array(bottom[0].shape[0] * bottom[0].shape[1]);
  }

  /** The factor of each (sample, channel) map: 0 or 1 / (1 - p) in TRAIN, 1 / (1 - p) otherwise. */
  private factor(map: number): number {
    return this.train ? this.keep[map] * this.scale : this.scale;
  }

  /** dst = src times each map's factor. */
  private applyFactors(src: Float32Array, dst: Float32Array, len: number): void {
    for (let m = 0; m < this.keep.length; m++) {
      const f = this.factor(m);
      for (let i = m * len; i < (m + 1) * len; i++) dst[i] = src[i] * f;
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    if (this.train) for (let i = 0; i < this.keep.length; i++) this.keep[i] = this.random() < 1 - this.p ? 1 : 0;
    this.applyFactors(bottom[0].data, top[0].data, bottom[0].countRange(2));
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[0]) this.applyFactors(top[0].diff, bottom[0].diff, bottom[0].countRange(2));
  }
}

registerLayer('spatial_dropout.SpatialDropoutLayer', SpatialDropoutLayer);
