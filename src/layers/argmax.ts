// ArgMax: the indices (and with out_max_val the values) of the top_k largest entries (Caffe's
// ArgMaxLayer). Without `axis` it ranks each item's flattened entries and the top is
// (N, 1 or 2, top_k) (indices first, then values); with `axis` it ranks along that axis and the
// top is the bottom's shape with top_k there, holding values when out_max_val, else indices.
// Ties rank the larger index first, as Caffe's sort of (value, index) pairs. No backward.
import type { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class ArgMaxLayer extends Layer {
  private outMaxVal = false;
  private topK = 1;
  private hasAxis = false;
  private axis = 0;

  override get type(): string {
    return 'ArgMax';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get ap(): Message {
    return this.param.argmax_param ?? newMessage('ArgMaxParameter');
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const ap = this.ap;
    const b = bottom[0];
    this.outMaxVal = ap.out_max_val;
    this.topK = Number(ap.top_k);
    this.hasAxis = has(ap, 'axis');
    this.check(this.topK >= 1, () => `top_k must be at least 1, got ${this.topK}`);
    if (this.hasAxis) {
      const n = b.numAxes;
      const a: number = ap.axis;
      this.check(a >= -n && a < n, () => `axis ${a} is out of range for a ${n}-D bottom ${b.shapeString()}`);
      this.axis = a < 0 ? a + n : a;
      this.check(this.topK <= b.shape[this.axis],
        () => `top_k ${this.topK} exceeds the size ${b.shape[this.axis]} of axis ${this.axis} (bottom ${b.shapeString()})`);
    } else {
      this.check(this.topK <= b.countRange(1),
        () => `top_k ${this.topK} exceeds the ${b.countRange(1)} entries per item (bottom ${b.shapeString()})`);
    }
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    let shape: number[];
    if (this.hasAxis) {
      shape = b.shape.slice();
      shape[this.axis] = this.topK;
    } else {
      shape = new Array(Math.max(3, b.numAxes)).fill(1);
      shape[0] = b.shape[0];
      shape[2] = this.topK;
      if (this.outMaxVal) shape[1] = 2;
    }
    top[0].reshape(shape);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    const src = b.data;
    const dst = top[0].data;
    const k = this.topK;
    let dim: number;
    let stride: number;
    if (this.hasAxis) {
      dim = b.shape[this.axis];
      stride = b.countRange(this.axis + 1);
    } else {
      dim = b.countRange(1);
      stride = 1;
    }
    if (dim === 0) return;
    const num = b.count / dim;
    const order = new Array<number>(dim);
    for (let i = 0; i < num; i++) {
      const outer = Math.floor(i / stride);
      const inner = i % stride;
      const base = outer * dim * stride + inner;
      for (let j = 0; j < dim; j++) order[j] = j;
      const val = (j: number) => src[base + j * stride];
      order.sort((x, y) => {
        const vx = val(x);
        const vy = val(y);
        if (vx !== vy) return vx > vy ? -1 : 1;
        return y - x;
      });
      for (let j = 0; j < k; j++) {
        const idx = order[j];
        if (this.outMaxVal && !this.hasAxis) {
          dst[2 * i * k + j] = idx;
          dst[2 * i * k + k + j] = val(idx);
        } else {
          const at = (outer * k + j) * stride + inner;
          dst[at] = this.outMaxVal ? val(idx) : idx;
        }
      }
    }
  }
}

registerLayer('ArgMax', ArgMaxLayer);
