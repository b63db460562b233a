// Tight element-wise loops over Float32Array ranges: the hot inner loops of the non-GEMM layers
// (BatchNorm, Scale, Bias, ReLU, Eltwise, LRN, im2col). reluArrays, reluBackwardArrays and
// addArrays hand runs of SIMD_MIN elements or more to the WebAssembly SIMD kernels (simd.ts),
// which compute the same float32 values; the loops here run otherwise.
//
// Why they are unrolled by four: TurboFan does not hoist a typed array's map check, length and
// base pointer out of a loop (the loop's interrupt check may run arbitrary code), so a
// one-element loop pays those reloads on every element. Four elements per iteration share them,
// 1.5-2x faster on Node 20. Each function computes exactly what the plain one-element loop
// written in its comment computes (same operations in the same order, float32 stores), so
// callers keep Caffe's float32 results bit for bit. Ranges are [start, end) on the given arrays;
// `x` and `y` may be the same array (in place) since every element is read before it is written.

import { addSimd, reluBackwardSimd, reluSimd, simdKernel, SIMD_MIN } from './simd.js';

const f32 = Math.fround;

/** y[i] = a * x[i]. */
export function scaleRange(x: Float32Array, y: Float32Array, start: number, end: number, a: number): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    y[i] = a * x0;
    y[i + 1] = a * x1;
    y[i + 2] = a * x2;
    y[i + 3] = a * x3;
  }
  for (; i < end; i++) y[i] = a * x[i];
}

/** y[i] = f32(a * x[i]) + b: Scale then Bias, with Caffe's rounding after each. */
export function scaleShiftRange(x: Float32Array, y: Float32Array, start: number, end: number, a: number, b: number): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    y[i] = f32(a * x0) + b;
    y[i + 1] = f32(a * x1) + b;
    y[i + 2] = f32(a * x2) + b;
    y[i + 3] = f32(a * x3) + b;
  }
  for (; i < end; i++) y[i] = f32(a * x[i]) + b;
}

/** y[i] = ReLU(f32(f32(a * x[i]) + b)), ReLU as reluArrays with slope 0: a folded BatchNorm/Scale (src/graph/fusion.ts). */
export function scaleShiftReluRange(x: Float32Array, y: Float32Array, start: number, end: number, a: number, b: number): void {
  for (let i = start; i < end; i++) {
    const v = f32(f32(a * x[i]) + b);
    y[i] = v > 0 ? v : 0 * v;
  }
}

/** y[i] = x[i] + b. */
export function shiftRange(x: Float32Array, y: Float32Array, start: number, end: number, b: number): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    y[i] = x0 + b;
    y[i + 1] = x1 + b;
    y[i + 2] = x2 + b;
    y[i + 3] = x3 + b;
  }
  for (; i < end; i++) y[i] = x[i] + b;
}

/**
 * y[i] = f32(x[i] - m) * r, with r = 1 / d in double precision: BatchNorm's (x - mean) / std.
 * The product rounded to float32 equals the float32 quotient f32(x - m) / d exactly: the quotient
 * of two floats is never within 2^-49 (relative) of a float32 rounding boundary, and t * r is
 * within 2^-52 of t / d, so the multiply (several times cheaper than a divide) rounds the same.
 */
export function centerScaleRange(x: Float32Array, y: Float32Array, start: number, end: number, m: number, r: number): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    y[i] = f32(x0 - m) * r;
    y[i + 1] = f32(x1 - m) * r;
    y[i + 2] = f32(x2 - m) * r;
    y[i + 3] = f32(x3 - m) * r;
  }
  for (; i < end; i++) y[i] = f32(x[i] - m) * r;
}

/** Sum of x[start, end) in double precision (four partial sums, then added). */
export function sumRange(x: Float32Array, start: number, end: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < end; i++) s0 += x[i];
  return s0 + s1 + (s2 + s3);
}

/** y[i] = a[i] + b[i] for i < n. */
export function addArrays(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void {
  if (n >= SIMD_MIN) {
    const k = simdKernel();
    if (k) return addSimd(k, a, b, y, n);
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a0 = a[i], a1 = a[i + 1], a2 = a[i + 2], a3 = a[i + 3];
    const b0 = b[i], b1 = b[i + 1], b2 = b[i + 2], b3 = b[i + 3];
    y[i] = a0 + b0;
    y[i + 1] = a1 + b1;
    y[i + 2] = a2 + b2;
    y[i + 3] = a3 + b3;
  }
  for (; i < n; i++) y[i] = a[i] + b[i];
}

/** y[i] += c * x[i] for i < n (the product exact in double, one rounding: as the old loop). */
export function axpyArrays(c: number, x: Float32Array, y: Float32Array, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    y[i] += c * x0;
    y[i + 1] += c * x1;
    y[i + 2] += c * x2;
    y[i + 3] += c * x3;
  }
  for (; i < n; i++) y[i] += c * x[i];
}

/** y[i] = a[i] * b[i] for i < n. */
export function mulArrays(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a0 = a[i], a1 = a[i + 1], a2 = a[i + 2], a3 = a[i + 3];
    const b0 = b[i], b1 = b[i + 1], b2 = b[i + 2], b3 = b[i + 3];
    y[i] = a0 * b0;
    y[i + 1] = a1 * b1;
    y[i + 2] = a2 * b2;
    y[i + 3] = a3 * b3;
  }
  for (; i < n; i++) y[i] = a[i] * b[i];
}

/** dst[d + i] = src[s + i * step] for i < n: a strided gather (im2col rows with a stride). */
export function gatherStrided(src: Float32Array, s: number, step: number, dst: Float32Array, d: number, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const j = s + i * step;
    const v0 = src[j], v1 = src[j + step], v2 = src[j + 2 * step], v3 = src[j + 3 * step];
    dst[d + i] = v0;
    dst[d + i + 1] = v1;
    dst[d + i + 2] = v2;
    dst[d + i + 3] = v3;
  }
  for (; i < n; i++) dst[d + i] = src[s + i * step];
}

/** dst[d + i] = src[s + i] for i < n: TypedArray.set for long runs, a loop for short ones. */
export function copyRun(src: Float32Array, s: number, dst: Float32Array, d: number, n: number): void {
  // set() needs a subarray view (an allocation); below ~48 elements the loop is faster.
  if (n >= 48) {
    dst.set(src.subarray(s, s + n), d);
    return;
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v0 = src[s + i], v1 = src[s + i + 1], v2 = src[s + i + 2], v3 = src[s + i + 3];
    dst[d + i] = v0;
    dst[d + i + 1] = v1;
    dst[d + i + 2] = v2;
    dst[d + i + 3] = v3;
  }
  for (; i < n; i++) dst[d + i] = src[s + i];
}

/** a[start, start + n) = 0: TypedArray.fill for long runs, a loop for short ones (call overhead). */
export function zeroRun(a: Float32Array, start: number, n: number): void {
  if (n >= 64) {
    a.fill(0, start, start + n);
    return;
  }
  for (let i = start; i < start + n; i++) a[i] = 0;
}

/** dst[d + i * step] += src[s + i] for i < n: col2im's scatter-add of one row. */
export function addScatter(src: Float32Array, s: number, dst: Float32Array, d: number, step: number, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const j = d + i * step;
    const v0 = src[s + i], v1 = src[s + i + 1], v2 = src[s + i + 2], v3 = src[s + i + 3];
    dst[j] += v0;
    dst[j + step] += v1;
    dst[j + 2 * step] += v2;
    dst[j + 3 * step] += v3;
  }
  for (; i < n; i++) dst[d + i * step] += src[s + i];
}

/** y[i] = x[i] > 0 ? x[i] : slope * x[i] for i < n (NaN stays NaN, as Caffe's max + slope * min). */
export function reluArrays(x: Float32Array, y: Float32Array, n: number, slope: number): void {
  // The kernel takes the slope as a float32 (the layer's always is: a proto float).
  if (n >= SIMD_MIN && f32(slope) === slope) {
    const k = simdKernel();
    if (k) return reluSimd(k, x, y, n, slope);
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    y[i] = x0 > 0 ? x0 : slope * x0;
    y[i + 1] = x1 > 0 ? x1 : slope * x1;
    y[i + 2] = x2 > 0 ? x2 : slope * x2;
    y[i + 3] = x3 > 0 ? x3 : slope * x3;
  }
  for (; i < n; i++) {
    const v = x[i];
    y[i] = v > 0 ? v : slope * v;
  }
}

/** dx[i] = x[i] > 0 ? dy[i] : slope * dy[i] for i < n (ReLU's gradient). */
export function reluBackwardArrays(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number, slope: number): void {
  if (n >= SIMD_MIN && f32(slope) === slope) {
    const k = simdKernel();
    if (k) return reluBackwardSimd(k, x, dy, dx, n, slope);
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const g0 = dy[i], g1 = dy[i + 1], g2 = dy[i + 2], g3 = dy[i + 3];
    dx[i] = x[i] > 0 ? g0 : g0 * slope;
    dx[i + 1] = x[i + 1] > 0 ? g1 : g1 * slope;
    dx[i + 2] = x[i + 2] > 0 ? g2 : g2 * slope;
    dx[i + 3] = x[i + 3] > 0 ? g3 : g3 * slope;
  }
  for (; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * slope;
}
