// Crop: cuts bottom[0] to the shape of bottom[1] from `axis` (default 2) on (Caffe's CropLayer).
// `offset`: none (all 0), one for every cropped axis, or one per cropped axis. Axes before `axis`
// are kept. bottom[1] only supplies the shape and receives no gradient.
import type { Blob } from '../graph/blob.js';
import { newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class CropLayer extends Layer {
  private offsets: number[] = [];

  override get type(): string {
    return 'Crop';
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get cp(): Message {
    return this.param.crop_param ?? newMessage('CropParameter');
  }

  private startAxis(b: Blob): number {
    const n = b.numAxes;
    const axis: number = this.cp.axis;
    this.check(axis >= -n && axis < n, () => `axis ${axis} is out of range for a ${n}-D bottom ${b.shapeString()}`);
    return axis < 0 ? axis + n : axis;
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    this.check(bottom[0].numAxes === bottom[1].numAxes,
      () => `bottom[0] ${bottom[0].shapeString()} and bottom[1] ${bottom[1].shapeString()} must have the same number of axes`);
    const start = this.startAxis(bottom[0]);
    const given = this.cp.offset?.length ?? 0;
    if (given > 1) {
      this.check(start + given === bottom[0].numAxes,
        () => `${given} offsets given, but axis ${start} of a ${bottom[0].numAxes}-D bottom leaves ${bottom[0].numAxes - start} axes to crop`);
    }
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const [b, ref] = bottom;
    this.check(b.numAxes === ref.numAxes,
      () => `bottom[0] ${b.shapeString()} and bottom[1] ${ref.shapeString()} must have the same number of axes`);
    const start = this.startAxis(b);
    const given: number[] = Array.from(this.cp.offset ?? [], Number);
    const shape = b.shape.slice();
    this.offsets = new Array(b.numAxes).fill(0);
    for (let i = start; i < b.numAxes; i++) {
      const off = given.length === 0 ? 0 : given.length === 1 ? given[0] : given[i - start];
      this.check(b.shape[i] - off >= ref.shape[i],
        () => `crop of axis ${i} is out of bounds: size ${ref.shape[i]} at offset ${off} does not fit in ${b.shape[i]} (bottom ${b.shapeString()}, reference ${ref.shapeString()})`);
      shape[i] = ref.shape[i];
      this.offsets[i] = off;
    }
    top[0].reshape(shape);
  }

  /** Calls fn(srcOffset, dstOffset, length) for every contiguous run along the last axis. */
  private runs(src: Blob, dst: Blob, fn: (s: number, d: number, len: number) => void): void {
    const shape = dst.shape;
    const n = shape.length;
    if (dst.count === 0) return;
    if (n === 0) {
      fn(0, 0, 1);
      return;
    }
    const srcStride = new Array<number>(n);
    const dstStride = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      srcStride[i] = src.countRange(i + 1);
      dstStride[i] = dst.countRange(i + 1);
    }
    const len = shape[n - 1];
    const idx = new Array<number>(n - 1).fill(0);
    const rows = dst.count / len;
    for (let r = 0; r < rows; r++) {
      let s = this.offsets[n - 1];
      let d = 0;
      for (let i = 0; i < n - 1; i++) {
        s += (idx[i] + this.offsets[i]) * srcStride[i];
        d += idx[i] * dstStride[i];
      }
      fn(s, d, len);
      for (let i = n - 2; i >= 0; i--) {
        if (++idx[i] < shape[i]) break;
        idx[i] = 0;
      }
    }
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const src = bottom[0].data;
    const dst = top[0].data;
    this.runs(bottom[0], top[0], (s, d, len) => dst.set(src.subarray(s, s + len), d));
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const src = top[0].diff;
    const dst = bottom[0].diff;
    dst.fill(0);
    this.runs(bottom[0], top[0], (s, d, len) => dst.set(src.subarray(d, d + len), s));
  }
}

registerLayer('Crop', CropLayer);
