// Reshape: gives the bottom a new shape without copying (Caffe's ReshapeLayer). reshape_param:
// `shape` (0 = copy the bottom's dim at that position, -1 = infer from the count, at most once),
// `axis` and `num_axes` (default 0 and -1) select the range of bottom axes that `shape` replaces.
// The top shares both data and diff with the bottom.
import type { Blob } from '../graph/blob.js';
import { newMessage, toNumber, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class ReshapeLayer extends Layer {
  private dims: number[] = [];
  private copyAxes: number[] = [];
  private inferredAxis = -1;
  private constantCount = 1;

  override get type(): string {
    return 'Reshape';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get rp(): Message {
    return this.param.reshape_param ?? newMessage('ReshapeParameter');
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    this.check(top[0] !== bottom[0], 'Reshape cannot work in place');
    const shape: Message | null = this.rp.shape;
    this.dims = shape ? Array.from(shape.dim ?? [], (d: any) => toNumber(d)) : [];
    this.copyAxes = [];
    this.inferredAxis = -1;
    this.constantCount = 1;
    this.dims.forEach((d, i) => {
      if (d === 0) {
        this.copyAxes.push(i);
      } else if (d === -1) {
        this.check(this.inferredAxis === -1, () => `shape [${this.dims.join(', ')}] has more than one -1 dim; at most one dim can be inferred`);
        this.inferredAxis = i;
      } else {
        this.check(d > 0, () => `shape [${this.dims.join(', ')}] has dim ${d}; dims must be positive, 0 (copy) or -1 (infer)`);
        this.constantCount *= d;
      }
    });
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    const n = b.numAxes;
    const rp = this.rp;
    const axisIn: number = rp.axis;
    const start = axisIn >= 0 ? axisIn : n + axisIn + 1;
    this.check(start >= 0 && start <= n, () => `axis ${axisIn} is out of range for a ${n}-D bottom ${b.shapeString()}`);
    const numAxes: number = rp.num_axes;
    this.check(numAxes >= -1, () => `num_axes ${numAxes} must be >= 0, or -1 for all`);
    const end = numAxes === -1 ? n : start + numAxes;
    this.check(end <= n, () => `axis ${axisIn} + num_axes ${numAxes} is out of range for a ${n}-D bottom ${b.shapeString()}`);
    const shape = [...b.shape.slice(0, start), ...this.dims, ...b.shape.slice(end)];
    for (const c of this.copyAxes) {
      this.check(start + c < n,
        () => `shape [${this.dims.join(', ')}] has a 0 at position ${c} but the bottom ${b.shapeString()} has no axis ${start + c} to copy`);
      shape[start + c] = b.shape[start + c];
    }
    if (this.inferredAxis >= 0) {
      let explicit = this.constantCount * b.countRange(0, start) * b.countRange(end);
      for (const c of this.copyAxes) explicit *= shape[start + c];
      this.check(explicit !== 0 && b.count % explicit === 0,
        () => `cannot infer the -1 dim: bottom count ${b.count} (${b.shapeString()}) is not divisible by the product ${explicit} of the other dims`);
      shape[start + this.inferredAxis] = b.count / explicit;
    }
    let count = 1;
    for (const d of shape) count *= d;
    this.check(count === b.count,
      () => `new shape (${shape.join(',')}) has ${count} elements but the bottom ${b.shapeString()} has ${b.count}`);
    top[0].reshape(shape);
    top[0].shareData(b);
    top[0].shareDiff(b);
  }

  protected override forwardCpu(_bottom: Blob[], _top: Blob[]): void {}
  protected override backwardCpu(_top: Blob[], _propagateDown: boolean[], _bottom: Blob[]): void {}
}

registerLayer('Reshape', ReshapeLayer);
