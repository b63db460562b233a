// Pooling: MAX, AVE or STOCHASTIC pooling over 2-D windows of an (N, C, H, W) bottom (Caffe's
// PoolingLayer). kernel_size or kernel_h+kernel_w (or global_pooling), pad / pad_h+pad_w,
// stride / stride_h+stride_w (default 1), round_mode CEIL (default) or FLOOR for the output size
// (or the forks' ceil_mode: true = CEIL, false = FLOOR).
// With padding the last window must start inside the image or the padding before it, otherwise
// that output row/column is dropped, as Caffe does. AVE divides by the window size clipped to the
// padded image (padding cells count, cells beyond the padding do not). MAX may write the argmax
// (offset within the H*W plane) to a second top. STOCHASTIC runs only in TEST, where Caffe takes
// the probability-weighted mean sum(x^2)/sum(x) of each window.
import type { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { avePoolSimd } from '../kernels/ave-pooling.js';
import { maxPoolSimd, poolWindows } from '../kernels/pooling.js';
import { SIMD_MIN } from '../kernels/simd.js';
import { Layer, TEST } from './layer.js';
import { registerLayer } from './registry.js';

export const POOL_MAX = 0;
export const POOL_AVE = 1;
export const POOL_STOCHASTIC = 2;
const ROUND_FLOOR = 1;
const FLT_MAX = 3.4028234663852886e38;

export class PoolingLayer extends Layer {
  private pool = POOL_MAX;
  private global = false;
  private kernelH = 0;
  private kernelW = 0;
  private padH = 0;
  private padW = 0;
  private strideH = 1;
  private strideW = 1;
  private roundFloor = false;
  private channels = 0;
  private height = 0;
  private width = 0;
  private pooledH = 0;
  private pooledW = 0;
  private maxIdx: Int32Array = new Int32Array(0);
  private rows = poolWindows(0, 1, 0, 0, 0);
  private cols = poolWindows(0, 1, 0, 0, 0);

  override get type(): string {
    return 'Pooling';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override minTopBlobs(): number {
    return 1;
  }
  override maxTopBlobs(): number {
    return this.pp.pool === POOL_MAX ? 2 : 1;
  }

  private get pp(): Message {
    return this.param.pooling_param ?? newMessage('PoolingParameter');
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const pp = this.pp;
    this.pool = pp.pool;
    this.check(this.pool === POOL_MAX || this.pool === POOL_AVE || this.pool === POOL_STOCHASTIC,
      () => `unknown pooling method ${this.pool}`);
    this.global = pp.global_pooling;
    const hasK = has(pp, 'kernel_size');
    const hasKH = has(pp, 'kernel_h');
    const hasKW = has(pp, 'kernel_w');
    if (this.global) {
      this.check(!(hasK || hasKH || hasKW), 'with global_pooling the kernel size cannot be given');
    } else {
      this.check(!(hasK && (hasKH || hasKW)), 'give kernel_size or kernel_h and kernel_w, not both');
      this.check(hasK || (hasKH && hasKW), 'give kernel_size, or both kernel_h and kernel_w');
    }
    this.check((!has(pp, 'pad') && has(pp, 'pad_h') && has(pp, 'pad_w')) || (!has(pp, 'pad_h') && !has(pp, 'pad_w')),
      'give pad, or both pad_h and pad_w, not both forms');
    this.check((!has(pp, 'stride') && has(pp, 'stride_h') && has(pp, 'stride_w')) || (!has(pp, 'stride_h') && !has(pp, 'stride_w')),
      'give stride, or both stride_h and stride_w, not both forms');
    // ceil_mode (a fork field, proto/forks/ceil-mode.proto) overrides round_mode when set.
    this.roundFloor = has(pp, 'ceil_mode') ? !pp.ceil_mode : (pp.round_mode ?? 0) === ROUND_FLOOR;
    if (this.global) {
      this.check(bottom[0].numAxes === 4, () => `the bottom must be 4-D (num, channels, height, width), got ${bottom[0].shapeString()}`);
      this.kernelH = bottom[0].shape[2];
      this.kernelW = bottom[0].shape[3];
    } else if (hasK) {
      this.kernelH = this.kernelW = pp.kernel_size;
    } else {
      this.kernelH = pp.kernel_h;
      this.kernelW = pp.kernel_w;
    }
    this.check(this.kernelH > 0 && this.kernelW > 0, () => `kernel size ${this.kernelH}x${this.kernelW} must be positive`);
    if (has(pp, 'pad_h')) {
      this.padH = pp.pad_h;
      this.padW = pp.pad_w;
    } else {
      this.padH = this.padW = pp.pad;
    }
    if (has(pp, 'stride_h')) {
      this.strideH = pp.stride_h;
      this.strideW = pp.stride_w;
    } else {
      this.strideH = this.strideW = pp.stride;
    }
    this.check(this.strideH > 0 && this.strideW > 0, () => `stride ${this.strideH}x${this.strideW} must be positive`);
    // Caffe keeps these in ints: a uint32 from the file beyond INT_MAX is not a size it can have
    // (and would wrap in our Int32 window tables).
    const INT_MAX = 2147483647;
    this.check([this.kernelH, this.kernelW, this.strideH, this.strideW, this.padH, this.padW].every((v) => v <= INT_MAX),
      () => `kernel ${this.kernelH}x${this.kernelW}, stride ${this.strideH}x${this.strideW} and pad ${this.padH}x${this.padW} must fit Caffe's int (at most ${INT_MAX})`);
    if (this.global) {
      this.check(this.padH === 0 && this.padW === 0 && this.strideH === 1 && this.strideW === 1,
        'with global_pooling pad must be 0 and stride 1');
    }
    if (this.padH !== 0 || this.padW !== 0) {
      this.check(this.pool === POOL_AVE || this.pool === POOL_MAX, 'padding is implemented only for AVE and MAX pooling');
      this.check(this.padH < this.kernelH && this.padW < this.kernelW,
        () => `pad ${this.padH}x${this.padW} must be smaller than the kernel ${this.kernelH}x${this.kernelW}`);
    }
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes === 4, () => `the bottom must be 4-D (num, channels, height, width), got ${b.shapeString()}`);
    this.channels = b.shape[1];
    this.height = b.shape[2];
    this.width = b.shape[3];
    if (this.global) {
      this.kernelH = this.height;
      this.kernelW = this.width;
    }
    const round = this.roundFloor ? Math.floor : Math.ceil;
    this.pooledH = round(Math.fround((this.height + 2 * this.padH - this.kernelH) / this.strideH)) + 1;
    this.pooledW = round(Math.fround((this.width + 2 * this.padW - this.kernelW) / this.strideW)) + 1;
    if (this.padH || this.padW) {
      // The last window must start inside the image (or its leading padding).
      if ((this.pooledH - 1) * this.strideH >= this.height + this.padH) this.pooledH--;
      if ((this.pooledW - 1) * this.strideW >= this.width + this.padW) this.pooledW--;
      this.check((this.pooledH - 1) * this.strideH < this.height + this.padH && (this.pooledW - 1) * this.strideW < this.width + this.padW,
        () => `the pooling windows do not fit the bottom ${b.shapeString()}`);
    }
    this.check(this.pooledH >= 0 && this.pooledW >= 0,
      () => `kernel ${this.kernelH}x${this.kernelW} with pad ${this.padH}x${this.padW} is larger than the bottom ${b.shapeString()}`);
    this.rows = poolWindows(this.pooledH, this.strideH, this.padH, this.kernelH, this.height);
    this.cols = poolWindows(this.pooledW, this.strideW, this.padW, this.kernelW, this.width);
    const shape = [b.shape[0], this.channels, this.pooledH, this.pooledW];
    top[0].reshape(shape);
    if (top.length > 1) top[1].reshape(shape);
    if (this.pool === POOL_MAX && this.maxIdx.length !== top[0].count) {
      this.maxIdx = new Int32Array(top[0].count);
    }
  }

  // One loop nest per mode, written out: a shared per-window callback made these twice as slow.
  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const planes = bottom[0].shape[0] * this.channels;
    const inPlane = this.height * this.width;
    const outPlane = this.pooledH * this.pooledW;
    const { width, pooledH, pooledW, rows, cols } = this;
    if (this.pool === POOL_MAX) {
      // The argmax always goes to the Int32Array (one array type in the loop), then to the
      // float mask top when there is one.
      const mask = this.maxIdx;
      // Only a mask top and the backward read the argmax: without both the SIMD kernel skips it.
      const wantMask = top.length > 1 || this.backwardPlanned;
      // The SIMD kernel computes the same values and argmaxes, several times faster.
      const simd = planes * outPlane >= SIMD_MIN &&
        maxPoolSimd(x, planes, this.height, width, rows, pooledW, this.strideW, this.kernelW, this.padW, y, wantMask ? mask : null);
      for (let p = 0; p < planes && !simd; p++) {
        const xo = p * inPlane;
        let o = p * outPlane;
        for (let ph = 0; ph < pooledH; ph++) {
          const hs = rows.start[ph];
          const he = rows.end[ph];
          for (let pw = 0; pw < pooledW; pw++, o++) {
            const ws = cols.start[pw];
            const we = cols.end[pw];
            let best = -FLT_MAX;
            let arg = -1;
            if (we - ws === 3) {
              // Three-wide windows (the usual 3x3 kernels) written out: no inner loop.
              for (let h = hs; h < he; h++) {
                const r = h * width + ws;
                const a = x[xo + r];
                const b = x[xo + r + 1];
                const c = x[xo + r + 2];
                if (a > best) {
                  best = a;
                  arg = r;
                }
                if (b > best) {
                  best = b;
                  arg = r + 1;
                }
                if (c > best) {
                  best = c;
                  arg = r + 2;
                }
              }
            } else {
              for (let h = hs; h < he; h++) {
                for (let w = ws; w < we; w++) {
                  const v = x[xo + h * width + w];
                  if (v > best) {
                    best = v;
                    arg = h * width + w;
                  }
                }
              }
            }
            y[o] = best;
            mask[o] = arg;
          }
        }
      }
      if (top.length > 1) {
        const fmask = top[1].data;
        for (let i = 0; i < fmask.length; i++) fmask[i] = mask[i];
      }
    } else if (this.pool === POOL_AVE) {
      // The SIMD kernel sums the same doubles in the same order.
      const simd = planes * outPlane >= SIMD_MIN && avePoolSimd({
        planes, height: this.height, width, kernelH: this.kernelH, kernelW: this.kernelW, strideH: this.strideH,
        strideW: this.strideW, padH: this.padH, padW: this.padW, pooledH, pooledW,
      }, x, y);
      for (let p = 0; p < planes && !simd; p++) {
        const xo = p * inPlane;
        for (let ph = 0; ph < pooledH; ph++) {
          const hs = rows.start[ph];
          const he = rows.end[ph];
          for (let pw = 0; pw < pooledW; pw++) {
            const ws = cols.start[pw];
            const we = cols.end[pw];
            let s = 0;
            for (let h = hs; h < he; h++) {
              for (let w = ws; w < we; w++) s += x[xo + h * width + w];
            }
            y[p * outPlane + ph * pooledW + pw] = s / (rows.span[ph] * cols.span[pw]);
          }
        }
      }
    } else {
      // No padding here (checked at setup): the windows are MAX's.
      if (this.phase !== TEST) throw this.error('STOCHASTIC pooling is implemented only in the TEST phase');
      for (let p = 0; p < planes; p++) {
        const xo = p * inPlane;
        for (let ph = 0; ph < pooledH; ph++) {
          const hs = rows.start[ph];
          const he = rows.end[ph];
          for (let pw = 0; pw < pooledW; pw++) {
            const ws = cols.start[pw];
            const we = cols.end[pw];
            let sum = 0;
            let sq = 0;
            for (let h = hs; h < he; h++) {
              for (let w = ws; w < we; w++) {
                const v = x[xo + h * width + w];
                sum += v;
                sq += v * v;
              }
            }
            y[p * outPlane + ph * pooledW + pw] = sum > 0 ? sq / sum : 0;
          }
        }
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    dx.fill(0);
    const planes = bottom[0].shape[0] * this.channels;
    const inPlane = this.height * this.width;
    const outPlane = this.pooledH * this.pooledW;
    const { width, pooledH, pooledW, rows, cols } = this;
    if (this.pool === POOL_MAX) {
      const mask: ArrayLike<number> = top.length > 1 ? top[1].data : this.maxIdx;
      for (let p = 0; p < planes; p++) {
        const xo = p * inPlane;
        const yo = p * outPlane;
        for (let k = 0; k < outPlane; k++) {
          const m = mask[yo + k];
          if (m >= 0) dx[xo + m] += dy[yo + k];
        }
      }
    } else if (this.pool === POOL_AVE) {
      for (let p = 0; p < planes; p++) {
        const xo = p * inPlane;
        for (let ph = 0; ph < pooledH; ph++) {
          const hs = rows.start[ph];
          const he = rows.end[ph];
          for (let pw = 0; pw < pooledW; pw++) {
            const ws = cols.start[pw];
            const we = cols.end[pw];
            const g = dy[p * outPlane + ph * pooledW + pw] / (rows.span[ph] * cols.span[pw]);
            for (let h = hs; h < he; h++) {
              for (let w = ws; w < we; w++) dx[xo + h * width + w] += g;
            }
          }
        }
      }
    } else {
      throw this.error('STOCHASTIC pooling has no backward pass here (Caffe samples it only on the GPU)');
    }
  }
}

registerLayer('Pooling', PoolingLayer);
