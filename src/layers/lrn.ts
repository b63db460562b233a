// LRN: local response normalization of 4-D (N, C, H, W) inputs, as Caffe's LRNLayer.
//
// ACROSS_CHANNELS: y = x * scale^-beta, scale = k + alpha/size * (sum of x^2 over the `size`
// channels centred on c, zero-padded), with Caffe's running-window update of the sum.
// WITHIN_CHANNEL: Caffe builds this from internal layers (Split, Power x^2, AVE Pooling of
// kernel `size` with pad (size-1)/2, Power (1 + alpha * p)^-beta, Eltwise PROD); this computes
// exactly what that composition does, including the pooling's padded-window divisor (size^2)
// and `k` being ignored.
//
// In place (top == bottom) this does what BVLC Caffe does on the aliased buffers, which is not
// LRN. ACROSS_CHANNELS forward: caffe_powx(scale, -beta, top_data) overwrites the input with
// p = scale^-beta before caffe_mul(top_data, bottom_data, top_data), so the output is p * p;
// backward: caffe_powx(scale, -beta, bottom_diff) overwrites the top diff likewise, so the
// gradient starts from p * p (the real top diff is lost) and reads the overwritten data as both
// x and y. WITHIN_CHANNEL: the forward is right (each element is read before it is written), but
// the internal Split shares the input's data, so the Eltwise PROD and square Power backward read
// the output where they want the input. Nothing is copied: the same aliased arrays are used.
//
// Speed (ACROSS_CHANNELS): the padded squares are kept pre-multiplied by alpha/size (the only
// way Caffe uses them, so the same float32 values), buffers are reused, and scale^-0.75 (the
// usual beta) is computed with two square roots instead of Math.pow: see negPow. With that beta
// forward and backward run in the SIMD kernels (kernels/lrn.ts), which compute the same values.
import type { Blob } from '../graph/blob.js';
import { maxBlobBytes } from '../graph/blob.js';
import { poolWindows } from '../kernels/pooling.js';
import { lrnAcrossBackwardSimd, lrnAcrossShared, lrnAcrossSimd } from '../kernels/lrn.js';
import { SIMD_MIN } from '../kernels/simd.js';
import { Layer, paramOf } from './layer.js';
import { f32 } from './neuron.js';
import { powerBackward, powerForward, type PowerSpec } from './power.js';
import { registerLayer } from './registry.js';

const ACROSS_CHANNELS = 0;
const WITHIN_CHANNEL = 1;

export class LRNLayer extends Layer {
  private size = 5;
  private prePad = 2;
  private alpha = 1;
  private beta = 0.75;
  private k = 1;
  private region = ACROSS_CHANNELS;
  private N = 0;
  private C = 0;
  private H = 0;
  private W = 0;
  /** ACROSS: the scale per element. WITHIN: the pooled squares. */
  private scale = new Float32Array(0);
  /** WITHIN: x^2 and the power output (1 + alpha p)^-beta. */
  private squares = new Float32Array(0);
  private powered = new Float32Array(0);
  /** ACROSS: alpha/size * x^2 of one image, zero-padded by prePad channels either side. */
  private padded = new Float32Array(0);
  /** ACROSS backward: dy * y / scale of one image (padded likewise), and its running sum. */
  private ratio = new Float32Array(0);
  private accum = new Float32Array(0);
  /** WITHIN: the pooling windows along H and W. */
  private rows = poolWindows(0, 1, 0, 0, 0);
  private cols = poolWindows(0, 1, 0, 0, 0);

  get type(): string {
    return 'LRN';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'lrn_param', 'LRNParameter');
    this.size = p.local_size;
    this.check(this.size % 2 === 1, () => `local_size must be odd, got ${this.size}`);
    this.prePad = (this.size - 1) / 2;
    this.alpha = p.alpha;
    this.beta = p.beta;
    this.k = p.k;
    this.region = p.norm_region;
    this.check(this.region === ACROSS_CHANNELS || this.region === WITHIN_CHANNEL, () => `unknown norm_region ${this.region}`);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes === 4, () => `needs a 4-D input (num, channels, height, width), got ${b.shapeString()}`);
    [this.N, this.C, this.H, this.W] = b.shape;
    if (top[0] !== b) top[0].reshape(b.shape);
    const n = b.count;
    if (this.region === WITHIN_CHANNEL) {
      // An empty input needs no windows (and may declare an axis of 2^31 beside its 0).
      const live = n > 0;
      this.rows = poolWindows(live ? this.H : 0, 1, this.prePad, this.size, this.H);
      this.cols = poolWindows(live ? this.W : 0, 1, this.prePad, this.size, this.W);
    }
    const paddedSize = (this.C + this.size - 1) * this.H * this.W;
    // A hostile local_size makes this scratch buffer huge: hold it to the blobs' allocation limit.
    this.check(this.region !== ACROSS_CHANNELS || paddedSize * 4 <= maxBlobBytes, () =>
      `local_size ${this.size} needs a padded buffer of ${paddedSize} values for ${b.shapeString()}, over the allocation limit of ${maxBlobBytes} bytes`);
    if (this.region === ACROSS_CHANNELS && this.padded.length !== paddedSize) {
      this.padded = new Float32Array(paddedSize);
      this.ratio = new Float32Array(0);
    }
    if (this.scale.length !== n) {
      this.scale = new Float32Array(n);
      if (this.region === WITHIN_CHANNEL) {
        this.squares = new Float32Array(n);
        this.powered = new Float32Array(n);
      }
    }
  }

  // In place x and y (and dy and dx) are the same arrays; see the file comment.
  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    if (this.region === ACROSS_CHANNELS) this.acrossForward(x, top[0].data);
    else this.withinForward(x, top[0].data);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0].data;
    if (this.region === ACROSS_CHANNELS) this.acrossBackward(x, top[0].data, top[0].diff, bottom[0].diff);
    else this.withinBackward(x, top[0].diff, bottom[0].diff);
  }

  /**
   * Caffe's caffe_powx(scale, -beta, out) then caffe_mul(out, src, out) over [start, end); when
   * out === src (in place) src has just been overwritten, so the result is p * p.
   */
  private powerTimes(src: Float32Array, out: Float32Array, start: number, end: number): void {
    if (src === out) squaredPower(this.scale, out, start, end, -this.beta);
    else scaledByPower(this.scale, src, out, start, end, -this.beta);
  }

  private acrossForward(x: Float32Array, y: Float32Array): void {
    const { N, C, size, prePad } = this;
    const hw = this.H * this.W;
    const chw = C * hw;
    const scale = this.scale;
    const padded = this.padded; // its pad channels are never written: they stay zero
    const aos = f32(this.alpha / size);
    const k = this.k;
    // The SIMD kernel computes the same, per image (the usual beta only: it has no pow); on blobs
    // in the shared memory, all images in place and split between threads, when no backward
    // needs the scale.
    const simd = this.beta === 0.75 && chw >= SIMD_MIN;
    if (simd && !this.backwardPlanned && lrnAcrossShared(x, y, N, C, hw, size, aos, k, x === y)) return;
    for (let n = 0; n < N; n++) {
      const base = n * chw;
      if (simd && lrnAcrossSimd(x, y, scale, base, C, hw, size, aos, k, x === y)) continue;
      // Caffe squares into the padded buffer, then adds alpha/size * square (axpy) to a running
      // window sum: store the float32 products f32(aos * f32(x^2)) once.
      const p0 = prePad * hw;
      for (let i = 0; i < chw; i++) {
        const v = x[base + i];
        padded[p0 + i] = f32(aos * f32(v * v));
      }
      // Channel 0: k plus the first `size` padded channels; then the window slides: add the head
      // channel, subtract the tail one. Each channel's output is written while its scale is hot.
      for (let i = 0; i < hw; i++) {
        let v = k;
        for (let c = 0; c < size; c++) v = f32(v + padded[c * hw + i]);
        scale[base + i] = v;
      }
      // In place, x is overwritten channel by channel, but the squares of image n are all in
      // `padded` already, as Caffe computes every scale before its powx.
      this.powerTimes(x, y, base, base + hw);
      for (let c = 1; c < C; c++) {
        const o = base + c * hw;
        const head = (c + size - 1) * hw;
        const tail = (c - 1) * hw;
        for (let i = 0; i < hw; i++) scale[o + i] = f32(f32(scale[o - hw + i] + padded[head + i]) - padded[tail + i]);
        this.powerTimes(x, y, o, o + hw);
      }
    }
  }

  private acrossBackward(x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    const { N, C, size, prePad } = this;
    const hw = this.H * this.W;
    const scale = this.scale;
    const nb = -this.beta;
    // `ratio` holds dy * y / scale for the channels of one image, zero-padded like the window.
    if (this.ratio.length !== this.padded.length) {
      this.ratio = new Float32Array(this.padded.length);
      this.accum = new Float32Array(hw);
    }
    const ratio = this.ratio;
    const accum = this.accum;
    const crv = f32((2 * this.alpha * this.beta) / size);
    if (this.beta === 0.75 && C * hw >= SIMD_MIN) {
      // The SIMD kernel, image by image: the same values (it reads image n's dy before writing
      // its dx, which in place is the same array, as below).
      // The images are alike: if the first fits the kernel's memory, all do.
      if (lrnAcrossBackwardSimd(x, y, dy, dx, scale, 0, C, hw, size, -crv, dy === dx)) {
        for (let n = 1; n < N; n++) lrnAcrossBackwardSimd(x, y, dy, dx, scale, n * C * hw, C, hw, size, -crv, dy === dx);
        return;
      }
    }
    // caffe_powx(scale, -beta, bottom_diff); caffe_mul(top_diff, bottom_diff, bottom_diff): in
    // place dy is dx, overwritten by p first. The loop below reads image n's dy before it
    // writes image n's dx, as Caffe does.
    if (dy === dx) squaredPower(scale, dx, 0, scale.length, nb);
    else scaledByPower(scale, dy, dx, 0, scale.length, nb);
    for (let n = 0; n < N; n++) {
      const base = n * C * hw;
      for (let i = 0; i < C * hw; i++) ratio[prePad * hw + i] = f32(dy[base + i] * y[base + i]) / scale[base + i];
      accum.fill(0);
      for (let c = 0; c < size - 1; c++) {
        for (let i = 0; i < hw; i++) accum[i] += ratio[c * hw + i];
      }
      for (let c = 0; c < C; c++) {
        const o = base + c * hw;
        for (let i = 0; i < hw; i++) {
          accum[i] += ratio[(c + size - 1) * hw + i];
          dx[o + i] += f32(-crv * f32(x[o + i] * accum[i]));
          accum[i] -= ratio[c * hw + i];
        }
      }
    }
  }

  private get powerSpec(): PowerSpec {
    return { power: -this.beta, scale: this.alpha, shift: 1 };
  }

  private withinForward(x: Float32Array, y: Float32Array): void {
    const sq = this.squares;
    powerForward({ power: 2, scale: 1, shift: 0 }, x, sq);
    this.avePool(sq, this.scale);
    powerForward(this.powerSpec, this.scale, this.powered);
    const pw = this.powered;
    for (let i = 0; i < x.length; i++) y[i] = x[i] * pw[i];
  }

  /**
   * In place x is the forward's output (the Split shares the data Eltwise overwrote) and dy is dx;
   * every read of dy happens before dx is written (the Split's sum is last), as in Caffe.
   */
  private withinBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    const n = x.length;
    const pw = this.powered;
    // Eltwise PROD: d(input) = powered * dy, d(powered) = input * dy.
    const dProd = new Float32Array(n);
    const dPowered = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      dProd[i] = pw[i] * dy[i];
      dPowered[i] = x[i] * dy[i];
    }
    const dPool = new Float32Array(n);
    powerBackward(this.powerSpec, this.scale, pw, dPowered, dPool);
    const dSq = new Float32Array(n);
    this.avePoolBackward(dPool, dSq);
    const dSqIn = new Float32Array(n);
    powerBackward({ power: 2, scale: 1, shift: 0 }, x, this.squares, dSq, dSqIn);
    // Split: the input's gradient is the sum of both branches.
    for (let i = 0; i < n; i++) dx[i] = dProd[i] + dSqIn[i];
  }

  /** Caffe's AVE pooling, kernel `size`, stride 1, pad (size-1)/2, per (n, c) plane (float sums, as Caffe). */
  private avePool(src: Float32Array, dst: Float32Array): void {
    const { H, W, rows, cols } = this;
    const planes = this.N * this.C;
    for (let p = 0; p < planes; p++) {
      const o = p * H * W;
      for (let ph = 0; ph < H; ph++) {
        for (let pw = 0; pw < W; pw++) {
          let s = 0;
          for (let h = rows.start[ph]; h < rows.end[ph]; h++) {
            for (let w = cols.start[pw]; w < cols.end[pw]; w++) s = f32(s + src[o + h * W + w]);
          }
          dst[o + ph * W + pw] = s / (rows.span[ph] * cols.span[pw]);
        }
      }
    }
  }

  private avePoolBackward(dTop: Float32Array, dBottom: Float32Array): void {
    const { H, W, rows, cols } = this;
    const planes = this.N * this.C;
    dBottom.fill(0);
    for (let p = 0; p < planes; p++) {
      const o = p * H * W;
      for (let ph = 0; ph < H; ph++) {
        for (let pw = 0; pw < W; pw++) {
          const g = f32(dTop[o + ph * W + pw] / (rows.span[ph] * cols.span[pw]));
          for (let h = rows.start[ph]; h < rows.end[ph]; h++) {
            for (let w = cols.start[pw]; w < cols.end[pw]; w++) dBottom[o + h * W + w] += g;
          }
        }
      }
    }
  }
}

/** y = f32(scale^e) * x over [start, end): Caffe's powx then mul. */
function scaledByPower(scale: Float32Array, x: Float32Array, y: Float32Array, start: number, end: number, e: number): void {
  if (e === -0.75) {
    for (let i = start; i < end; i++) y[i] = f32(negPow075(scale[i])) * x[i];
  } else {
    for (let i = start; i < end; i++) y[i] = f32(Math.pow(scale[i], e)) * x[i];
  }
}

/** out = f32(scale^e)^2 over [start, end): powx into out, then out * out (Caffe in place). */
function squaredPower(scale: Float32Array, out: Float32Array, start: number, end: number, e: number): void {
  if (e === -0.75) {
    for (let i = start; i < end; i++) {
      const p = f32(negPow075(scale[i]));
      out[i] = p * p;
    }
  } else {
    for (let i = start; i < end; i++) {
      const p = f32(Math.pow(scale[i], e));
      out[i] = p * p;
    }
  }
}

/**
 * s^-0.75 as 1 / (sqrt(s) * sqrt(sqrt(s))): a few double roundings (relative error < 2^-50), so
 * rounded to float32 it is Math.pow(s, -0.75) rounded to float32 but for results within 2^-50 of
 * a float32 rounding boundary; several times faster than Math.pow. Same at 0 (Infinity),
 * Infinity (0) and NaN or negative s (NaN).
 */
export function negPow075(s: number): number {
  const r = Math.sqrt(s);
  return 1 / (r * Math.sqrt(r));
}

registerLayer('LRN', LRNLayer);
