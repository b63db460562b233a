// Eltwise: element-wise PROD, SUM (with one `coeff` per bottom) or MAX of equally shaped bottoms
// (Caffe's EltwiseLayer). The operations run in Caffe's order, so in-place use (top = bottom[0])
// gives Caffe's results. PROD's gradient is the product of the other bottoms when
// `stable_prod_grad` (default) and top/bottom otherwise; MAX routes the gradient by the index of
// the winning bottom (ties go to the later bottom of the first pair, then stay).
import type { Blob } from '../graph/blob.js';
import { addArrays, axpyArrays, mulArrays } from '../kernels/loops.js';
import { newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

const PROD = 0;
const SUM = 1;
const MAX = 2;
const FLT_MAX = 3.4028234663852886e38;

export class EltwiseLayer extends Layer {
  private op = SUM;
  private coeffs: number[] = [];
  private stableProdGrad = true;
  private maxIdx: Int32Array = new Int32Array(0);
  /** Copies of bottoms that share the top's storage without being the top (see staged). */
  private stage: Float32Array[] = [];

  override get type(): string {
    return 'Eltwise';
  }
  override minBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get ep(): Message {
    return this.param.eltwise_param ?? newMessage('EltwiseParameter');
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const ep = this.ep;
    const coeff: ArrayLike<number> = ep.coeff ?? [];
    this.op = ep.operation;
    this.check(this.op === PROD || this.op === SUM || this.op === MAX, () => `unknown operation ${this.op}`);
    this.check(coeff.length === 0 || coeff.length === bottom.length,
      () => `give one coeff per bottom: ${coeff.length} coeff(s) for ${bottom.length} bottoms`);
    this.check(!(this.op === PROD && coeff.length > 0), 'coeff is not allowed with operation PROD');
    this.coeffs = bottom.map((_, i) => (coeff.length ? coeff[i] : 1));
    this.stableProdGrad = ep.stable_prod_grad;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const s0 = bottom[0].shape;
    for (let i = 1; i < bottom.length; i++) {
      const si = bottom[i].shape;
      this.check(si.length === s0.length && si.every((d, j) => d === s0[j]),
        () => `all bottoms must have the same shape: bottom[0] is ${bottom[0].shapeString()}, bottom[${i}] is ${bottom[i].shapeString()}`);
    }
    top[0].reshape(s0);
    if (this.op === MAX && this.maxIdx.length !== bottom[0].count) this.maxIdx = new Int32Array(bottom[0].count);
  }

  protected override forwardCpu(blobs: Blob[], top: Blob[]): void {
    const out = top[0].data;
    const count = out.length;
    const bottom = this.staged(blobs, top[0]);
    if (this.op === PROD) {
      mulArrays(bottom[0].data, bottom[1].data, out, count);
      for (let i = 2; i < bottom.length; i++) mulArrays(out, bottom[i].data, out, count);
    } else if (this.op === SUM) {
      const c = this.coeffs;
      // Caffe zeroes the top, then adds c[i] * bottom[i] in turn. When the top shares no byte with
      // the bottoms (the inference arena puts every blob in one buffer, so compare ranges), the
      // first two steps with coeffs 1, 1 are one add: f32(0 + a) is a, so f32(f32(0 + a) + b) is
      // f32(a + b) -- the same float, except that -0 + -0 gives -0 where Caffe's gives +0 (a
      // zero's sign, which ReLU here does not keep either). Then the SIMD add runs. Other coeffs
      // keep the JS axpy: its y + c * x rounds once, the SIMD axpy twice.
      if (c[0] === 1 && c[1] === 1 && !bottom.some((b) => overlaps(b.data, out))) {
        addArrays(bottom[0].data, bottom[1].data, out, count);
      } else {
        out.fill(0);
        for (let i = 0; i < bottom.length && i < 2; i++) axpyArrays(c[i], bottom[i].data, out, count);
      }
      for (let i = 2; i < bottom.length; i++) axpyArrays(c[i], bottom[i].data, out, count);
    } else {
      const mask = this.maxIdx;
      mask.fill(-1);
      out.fill(-FLT_MAX);
      const a = bottom[0].data;
      const b = bottom[1].data;
      for (let k = 0; k < count; k++) {
        if (a[k] > b[k]) {
          out[k] = a[k];
          mask[k] = 0;
        } else {
          out[k] = b[k];
          mask[k] = 1;
        }
      }
      for (let i = 2; i < bottom.length; i++) {
        const x = bottom[i].data;
        for (let k = 0; k < count; k++) {
          if (x[k] > out[k]) {
            out[k] = x[k];
            mask[k] = i;
          }
        }
      }
    }
  }

  /**
   * The bottoms, those that are not the top but share storage with it copied aside first. Caffe's
   * in-place use is the top blob itself as a bottom (kept: its values are Caffe's); a bottom that
   * is another blob over the top's storage comes from the inference memory plan (memory-plan.ts),
   * where Caffe would have had two buffers, so it must read as it was before the top is written.
   */
  private staged(bottom: Blob[], top: Blob): { data: Float32Array }[] {
    const out = top.data;
    if (!bottom.some((b) => b !== top && overlaps(b.data, out))) return bottom;
    return bottom.map((b, i) => {
      if (b === top || !overlaps(b.data, out)) return b;
      const copy = this.stage[i]?.length === b.data.length ? this.stage[i] : (this.stage[i] = new Float32Array(b.data.length));
      copy.set(b.data);
      return { data: copy };
    });
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const topData = top[0].data;
    const topDiff = top[0].diff;
    const count = topDiff.length;
    bottom.forEach((blob, i) => {
      if (!propagateDown[i]) return;
      const diff = blob.diff;
      if (this.op === PROD) {
        if (this.stableProdGrad) {
          let initialized = false;
          bottom.forEach((other, j) => {
            if (j === i) return;
            const x = other.data;
            if (!initialized) {
              diff.set(x);
              initialized = true;
            } else {
              for (let k = 0; k < count; k++) diff[k] *= x[k];
            }
          });
        } else {
          const x = blob.data;
          for (let k = 0; k < count; k++) diff[k] = topData[k] / x[k];
        }
        for (let k = 0; k < count; k++) diff[k] *= topDiff[k];
      } else if (this.op === SUM) {
        const c = this.coeffs[i];
        if (c === 1) diff.set(topDiff);
        else for (let k = 0; k < count; k++) diff[k] = c * topDiff[k];
      } else {
        const mask = this.maxIdx;
        for (let k = 0; k < count; k++) diff[k] = mask[k] === i ? topDiff[k] : 0;
      }
    });
  }
}

/** Whether two views share any byte (views of one buffer, e.g. the inference arena, may not). */
export function overlaps(a: Float32Array, b: Float32Array): boolean {
  if (a.buffer !== b.buffer || a.length === 0 || b.length === 0) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

registerLayer('Eltwise', EltwiseLayer);
