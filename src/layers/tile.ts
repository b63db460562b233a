// Tile: repeats the bottom `tiles` times along `axis` (default 1) (Caffe's TileLayer): each block
// of axes [axis, end) is copied `tiles` times in a row. Backward sums the copies.
import type { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class TileLayer extends Layer {
  private tiles = 1;
  private outer = 1;
  private inner = 1;

  override get type(): string {
    return 'Tile';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get tp(): Message {
    return this.param.tile_param ?? newMessage('TileParameter');
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    const tp = this.tp;
    const n = b.numAxes;
    const axisIn: number = tp.axis;
    this.check(axisIn >= -n && axisIn < n, () => `axis ${axisIn} is out of range for a ${n}-D bottom ${b.shapeString()}`);
    const axis = axisIn < 0 ? axisIn + n : axisIn;
    this.check(has(tp, 'tiles'), 'tile_param.tiles (the number of copies) must be given');
    this.tiles = tp.tiles;
    this.check(this.tiles > 0, () => `tiles must be positive, got ${this.tiles}`);
    const shape = b.shape.slice();
    shape[axis] *= this.tiles;
    top[0].reshape(shape);
    this.outer = b.countRange(0, axis);
    this.inner = b.countRange(axis);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const src = bottom[0].data;
    const dst = top[0].data;
    const inner = this.inner;
    let o = 0;
    for (let i = 0; i < this.outer; i++) {
      const block = src.subarray(i * inner, (i + 1) * inner);
      for (let t = 0; t < this.tiles; t++, o += inner) dst.set(block, o);
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const src = top[0].diff;
    const dst = bottom[0].diff;
    const inner = this.inner;
    let o = 0;
    for (let i = 0; i < this.outer; i++) {
      const base = i * inner;
      dst.set(src.subarray(o, o + inner), base);
      o += inner;
      for (let t = 1; t < this.tiles; t++, o += inner) {
        for (let k = 0; k < inner; k++) dst[base + k] += src[o + k];
      }
    }
  }
}

registerLayer('Tile', TileLayer);
