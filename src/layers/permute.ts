// Permute (SSD fork): reorders a blob's axes. `order` may name only the leading axes: the fork
// appends the missing ones in their natural order. An identity order copies nothing, the top
// sharing the bottom's data and the bottom the top's diff, as in the fork.
import type { Blob } from '../graph/blob.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class PermuteLayer extends Layer {
  private order: number[] = [];
  private identity = true;
  // Strides of the bottom (old) and top (new) layouts.
  private oldSteps: number[] = [];
  private newSteps: number[] = [];

  override get type(): string {
    return 'Permute';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const n = bottom[0].numAxes;
    const given: ArrayLike<number> = this.param.permute_param?.order ?? [];
    const order: number[] = [];
    for (let i = 0; i < given.length; i++) {
      const o = given[i];
      this.check(o < n, () => `order ${o} is out of range for the ${n}-D input ${bottom[0].shapeString()}`);
      this.check(!order.includes(o), () => `order ${o} is given twice`);
      order.push(o);
    }
    for (let i = 0; i < n; i++) if (!order.includes(i)) order.push(i);
    this.order = order;
    this.identity = order.every((o, i) => o === i);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes === this.order.length,
      () => `the input has ${b.numAxes} axes, the order was set up for ${this.order.length}`);
    const shape = this.order.map((o) => b.shape[o]);
    if (this.identity) {
      top[0].reshape(shape);
      return;
    }
    this.check(top[0] !== b, 'Permute cannot work in place');
    top[0].reshape(shape);
    const n = shape.length;
    this.oldSteps = new Array(n);
    this.newSteps = new Array(n);
    for (let i = 0; i < n; i++) {
      this.oldSteps[i] = b.countRange(i + 1);
      this.newSteps[i] = top[0].countRange(i + 1);
    }
  }

  /** For each top element, the index of the bottom element it holds. */
  private forEachPair(count: number, fn: (topIndex: number, bottomIndex: number) => void): void {
    const n = this.order.length;
    for (let i = 0; i < count; i++) {
      let rest = i;
      let old = 0;
      for (let j = 0; j < n; j++) {
        const q = Math.floor(rest / this.newSteps[j]);
        rest -= q * this.newSteps[j];
        old += q * this.oldSteps[this.order[j]];
      }
      fn(i, old);
    }
  }

  override sharesDataInForward(): boolean {
    return this.identity;
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    if (this.identity) {
      top[0].shareData(bottom[0]);
      return;
    }
    const src = bottom[0].data;
    const dst = top[0].data;
    this.forEachPair(dst.length, (t, b) => {
      dst[t] = src[b];
    });
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    if (this.identity) {
      bottom[0].shareDiff(top[0]);
      return;
    }
    const src = top[0].diff;
    const dst = bottom[0].diff;
    this.forEachPair(src.length, (t, b) => {
      dst[b] = src[t];
    });
  }
}

registerLayer('Permute', PermuteLayer);
