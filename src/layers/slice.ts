// Slice: cuts its bottom along one axis into its tops (Caffe's SliceLayer). `axis` (default 1)
// or the legacy unsigned `slice_dim`; `slice_point`s (one fewer than tops, strictly increasing)
// or, without them, equal parts. With a single top it shares the bottom's data and diff.
import type { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class SliceLayer extends Layer {
  private axis = 1;
  private outer = 1;
  private inner = 1;
  private points: number[] = [];

  override get type(): string {
    return 'Slice';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override minTopBlobs(): number {
    return 1;
  }

  private get sp(): Message {
    return this.param.slice_param ?? newMessage('SliceParameter');
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const sp = this.sp;
    this.check(!(has(sp, 'axis') && has(sp, 'slice_dim')), 'give either axis or slice_dim, not both');
    this.points = Array.from(sp.slice_point ?? [], Number);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const sp = this.sp;
    const b = bottom[0];
    const n = b.numAxes;
    if (has(sp, 'slice_dim')) {
      const dim = Number(sp.slice_dim);
      this.check(dim >= 0 && dim < n, () => `slice_dim ${dim} is out of range for a ${n}-D bottom ${b.shapeString()}`);
      this.axis = dim;
    } else {
      const axis: number = sp.axis;
      this.check(axis >= -n && axis < n, () => `axis ${axis} is out of range for a ${n}-D bottom ${b.shapeString()}`);
      this.axis = axis < 0 ? axis + n : axis;
    }
    const axisDim = b.shape[this.axis];
    this.outer = b.countRange(0, this.axis);
    this.inner = b.countRange(this.axis + 1);
    const shape = b.shape.slice();
    let sizes: number[];
    if (this.points.length > 0) {
      this.check(this.points.length === top.length - 1,
        () => `${this.points.length} slice_point(s) given for ${top.length} tops; need exactly ${top.length - 1}`);
      this.check(top.length <= axisDim,
        () => `${top.length} tops cannot slice axis ${this.axis} of size ${axisDim} (bottom ${b.shapeString()})`);
      sizes = [];
      let prev = 0;
      for (const p of this.points) {
        this.check(p > prev, () => `slice_point values must be strictly increasing and positive, got [${this.points.join(', ')}]`);
        sizes.push(p - prev);
        prev = p;
      }
      this.check(prev <= axisDim,
        () => `slice_point ${prev} is beyond the size ${axisDim} of axis ${this.axis} (bottom ${b.shapeString()})`);
      sizes.push(axisDim - prev);
    } else {
      this.check(axisDim % top.length === 0,
        () => `${top.length} tops do not evenly divide axis ${this.axis} of size ${axisDim} (bottom ${b.shapeString()})`);
      sizes = top.map(() => axisDim / top.length);
    }
    let total = 0;
    top.forEach((t, i) => {
      shape[this.axis] = sizes[i];
      t.reshape(shape);
      total += t.count;
    });
    this.check(total === b.count, () => `top counts sum to ${total}, bottom has ${b.count}`);
    if (top.length === 1) {
      top[0].shareData(b);
      top[0].shareDiff(b);
    }
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    if (top.length === 1) return;
    const src = bottom[0].data;
    const axisDim = bottom[0].shape[this.axis];
    let offset = 0;
    for (const t of top) {
      const size = t.shape[this.axis];
      const span = size * this.inner;
      const dst = t.data;
      for (let n = 0; n < this.outer; n++) {
        const from = (n * axisDim + offset) * this.inner;
        dst.set(src.subarray(from, from + span), n * span);
      }
      offset += size;
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0] || top.length === 1) return;
    const dst = bottom[0].diff;
    const axisDim = bottom[0].shape[this.axis];
    let offset = 0;
    for (const t of top) {
      const size = t.shape[this.axis];
      const span = size * this.inner;
      const src = t.diff;
      for (let n = 0; n < this.outer; n++) {
        dst.set(src.subarray(n * span, (n + 1) * span), (n * axisDim + offset) * this.inner);
      }
      offset += size;
    }
  }
}

registerLayer('Slice', SliceLayer);
