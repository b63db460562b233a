// Concat: joins its bottoms along one axis (Caffe's ConcatLayer). `axis` (default 1, negative
// counts from the end) or the legacy unsigned `concat_dim`; every other axis must agree.
// With a single bottom the top simply shares the bottom's data and diff.
import type { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class ConcatLayer extends Layer {
  private axis = 1;
  private outer = 1;
  private inner = 1;

  override get type(): string {
    return 'Concat';
  }
  override minBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get cp(): Message {
    return this.param.concat_param ?? newMessage('ConcatParameter');
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const cp = this.cp;
    this.check(!(has(cp, 'axis') && has(cp, 'concat_dim')), 'give either axis or concat_dim, not both');
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const cp = this.cp;
    const first = bottom[0];
    const numAxes = first.numAxes;
    if (has(cp, 'concat_dim')) {
      const dim = Number(cp.concat_dim);
      this.check(dim >= 0 && dim < numAxes,
        () => `concat_dim ${dim} is out of range for a ${numAxes}-D bottom ${first.shapeString()}`);
      this.axis = dim;
    } else {
      this.axis = this.canonical(first, cp.axis);
    }
    const axis = this.axis;
    const shape = first.shape.slice();
    let total = first.count;
    for (let i = 1; i < bottom.length; i++) {
      const b = bottom[i];
      const same = b.numAxes === numAxes && b.shape.every((d, j) => j === axis || d === shape[j]);
      this.check(same, () =>
        `bottoms must have the same shape except along the concat axis ${axis}: ` +
        `bottom[0] is ${first.shapeString()}, bottom[${i}] is ${b.shapeString()}`);
      shape[axis] += b.shape[axis];
      total += b.count;
    }
    top[0].reshape(shape);
    this.check(top[0].count === total, () => `top count ${top[0].count} != sum of bottom counts ${total}`);
    this.outer = first.countRange(0, axis);
    this.inner = first.countRange(axis + 1);
    if (bottom.length === 1) {
      top[0].shareData(bottom[0]);
      top[0].shareDiff(bottom[0]);
    }
  }

  override bottomsAreSlicesOfTop(): boolean {
    return this.outer === 1;
  }

  private canonical(b: Blob, axis: number): number {
    const n = b.numAxes;
    this.check(axis >= -n && axis < n, () => `axis ${axis} is out of range for a ${n}-D bottom ${b.shapeString()}`);
    return axis < 0 ? axis + n : axis;
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    if (bottom.length === 1) return;
    const out = top[0].data;
    const topAxis = top[0].shape[this.axis];
    let offset = 0;
    for (const b of bottom) {
      const span = b.shape[this.axis] * this.inner;
      const src = b.data;
      // Already there: the memory plan put this bottom's storage inside the top's.
      if (this.outer === 1 && src.buffer === out.buffer && src.byteOffset === out.byteOffset + 4 * offset * this.inner) {
        offset += b.shape[this.axis];
        continue;
      }
      for (let n = 0; n < this.outer; n++) {
        out.set(src.subarray(n * span, (n + 1) * span), (n * topAxis + offset) * this.inner);
      }
      offset += b.shape[this.axis];
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (bottom.length === 1) return;
    const diff = top[0].diff;
    const topAxis = top[0].shape[this.axis];
    let offset = 0;
    bottom.forEach((b, i) => {
      const span = b.shape[this.axis] * this.inner;
      if (propagateDown[i]) {
        const dst = b.diff;
        for (let n = 0; n < this.outer; n++) {
          const from = (n * topAxis + offset) * this.inner;
          dst.set(diff.subarray(from, from + span), n * span);
        }
      }
      offset += b.shape[this.axis];
    });
  }
}

registerLayer('Concat', ConcatLayer);
