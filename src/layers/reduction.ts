// Reduction: reduces all axes from `axis` (default 0) on to one number per leading index, with
// SUM (default), ASUM (sum of |x|), SUMSQ (sum of x^2) or MEAN, scaled by `coeff` (default 1)
// (Caffe's ReductionLayer). The top keeps the axes before `axis` (a scalar for axis 0).
import type { Blob } from '../graph/blob.js';
import { newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

const SUM = 1;
const ASUM = 2;
const SUMSQ = 3;
const MEAN = 4;

export class ReductionLayer extends Layer {
  private op = SUM;
  private num = 1;
  private dim = 1;
  private coeff = 1;

  override get type(): string {
    return 'Reduction';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get rp(): Message {
    return this.param.reduction_param ?? newMessage('ReductionParameter');
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    this.op = this.rp.operation;
    this.check([SUM, ASUM, SUMSQ, MEAN].includes(this.op), () => `unknown reduction operation ${this.op}`);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    const n = b.numAxes;
    const a: number = this.rp.axis;
    this.check(a >= -n && (a < n || (n === 0 && a === 0)), () => `axis ${a} is out of range for a ${n}-D bottom ${b.shapeString()}`);
    const axis = a < 0 ? a + n : a;
    top[0].reshape(b.shape.slice(0, axis));
    this.num = b.countRange(0, axis);
    this.dim = b.countRange(axis);
    this.coeff = this.rp.coeff;
    if (this.op === MEAN) this.coeff = Math.fround(this.coeff / this.dim);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const dim = this.dim;
    for (let i = 0; i < this.num; i++) {
      let s = 0;
      const o = i * dim;
      switch (this.op) {
        case SUM:
        case MEAN:
          for (let k = 0; k < dim; k++) s += x[o + k];
          break;
        case ASUM:
          for (let k = 0; k < dim; k++) s += Math.abs(x[o + k]);
          break;
        default:
          for (let k = 0; k < dim; k++) s += x[o + k] * x[o + k];
      }
      y[i] = this.coeff !== 1 ? Math.fround(s) * this.coeff : s;
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0].data;
    const dx = bottom[0].diff;
    const dy = top[0].diff;
    const dim = this.dim;
    for (let i = 0; i < this.num; i++) {
      const c = Math.fround(dy[i] * this.coeff);
      const o = i * dim;
      switch (this.op) {
        case SUM:
        case MEAN:
          dx.fill(c, o, o + dim);
          break;
        case ASUM:
          for (let k = 0; k < dim; k++) dx[o + k] = Math.sign(x[o + k]) * c;
          break;
        default:
          for (let k = 0; k < dim; k++) dx[o + k] = 2 * c * x[o + k];
      }
    }
  }
}

registerLayer('Reduction', ReductionLayer);
