// LRN across channels by the SIMD kernels (wasm/simd.wat lrn_across, lrn_across_backward). The
// forward works through the positions in blocks (the padded scaled squares of a block's positions,
// the running window sums down the channels, y = scale^-0.75 * x), so its scratch stays in cache.
// An image in the pool's shared memory (a blob of the inference arena) is read and written where
// it lies, its positions split between the threads; otherwise one image at a time is copied into
// the kernel's own memory and y and the scale (the backward reads it) come back. The backward
// copies in x, y, dy and the scale and computes the power, ratio and running window sums there.
import { JOB_LRN, evenBounds, gemmThreadInfo, poolRegion, poolThreads, splitJob } from './gemm-threads.js';
import { inSharedMemory } from './gemm-wasm.js';
import { simdKernel, simdOnShared, simdReserve } from './simd.js';

/**
 * Positions per block of the forward: its padded squares and scales, (2 C + size - 1) x block
 * floats, stay within ~64 KiB, in multiples of four (the kernel's lanes). GoogLeNet's norms on
 * one thread: 0.85-0.9x the time of whole images as blocks (the power's square roots and divide
 * take most of it: ~2.3 ns per element).
 */
function blockPositions(C: number, size: number): number {
  return Math.max(4, Math.floor(16384 / (2 * C + size - 1)) & ~3);
}

/**
 * For the image at `base` (C channels of hw floats): scale = k + sum of f32(alpha/size * x^2)
 * over the `size` channels centred on each (zero-padded), y = f32(scale^-0.75) * x, or that
 * power squared when inPlace (the LRN layer's aliased Caffe semantics). Only for beta = 0.75 and
 * float32 aos and k; returns false when the kernel is unavailable or the image does not fit its
 * memory (the caller then loops in JS). The results equal the LRN layer's JS loop bit for bit.
 */
export function lrnAcrossSimd(
  x: Float32Array, y: Float32Array, scale: Float32Array, base: number, C: number, hw: number, size: number,
  aos: number, k: number, inPlace: boolean,
): boolean {
  const kern = simdKernel();
  if (!kern) return false;
  const n = C * hw;
  const bm = blockPositions(C, size);
  const pX = 0;
  const pY = pX + 4 * n;
  const pS = pY + 4 * n;
  const pPad = pS + 4 * n;
  if (!simdReserve(kern, pPad + 4 * (C + size - 1) * bm)) return false;
  kern.f32.set(x.subarray(base, base + n), pX >> 2);
  kern.ex.lrn_across(pX, pY, hw, C, 0, hw, size, aos, k, inPlace ? 1 : 0, pPad, pS, hw, bm);
  scale.set(kern.f32.subarray(pS >> 2, (pS >> 2) + n), base);
  y.set(kern.f32.subarray(pY >> 2, (pY >> 2) + n), base);
  return true;
}

/**
 * Positions (all images, each of C channels) from which LRN's forward is split between threads;
 * each costs C power evaluations, ~2 ns each. 2 cores, idle: GoogLeNet's norms (3136 positions
 * of 64 and 192 channels) take 0.52-0.55x one thread's time.
 */
let splitMinPositions = 256;

/** Sets splitMinPositions (tests set 0 to split small cases); returns the previous value. */
export function setLrnSplitMinPositions(positions: number): number {
  const old = splitMinPositions;
  splitMinPositions = Math.max(0, positions);
  return old;
}

/**
 * lrnAcrossSimd's y for all N images of x at once, in place in the pool's shared memory: x and y
 * (both there; they may be one blob, inPlace) are read and written where they lie, the positions
 * of the images split into chunks between the pool's threads when that pays (this thread takes
 * chunks too), each thread with scratch of its own. The scale is not kept (nothing reads it
 * without a backward). False when x or y is elsewhere or the kernel is unavailable.
 */
export function lrnAcrossShared(
  x: Float32Array, y: Float32Array, N: number, C: number, hw: number, size: number, aos: number, k: number, inPlace: boolean,
): boolean {
  if (!simdKernel() || !inSharedMemory(x) || !inSharedMemory(y)) return false;
  const T = poolThreads();
  const positions = N * hw;
  const split = T > 1 && positions > 1 && positions >= splitMinPositions;
  const threads = split ? T : 1;
  const bm = blockPositions(C, size);
  // Per thread: the padded squares, then the scale rows.
  const oS = 4 * (C + size - 1) * bm;
  const stride = (oS + 4 * C * bm + 63) & ~63;
  const region = poolRegion(threads * stride);
  if (region === null) return false;
  const ex = simdOnShared(region.memory);
  if (ex === null) return false;
  const pX = x.byteOffset;
  const pY = y.byteOffset;
  const t = region.at; // this thread's scratch (thread 0)
  const flag = inPlace ? 1 : 0;
  // The twin of the workers' LRN loop (gemm-threads.ts WORKER_BODY): positions of the images one
  // after another, a chunk possibly crossing from one image to the next.
  const run = (g: number, end: number): void => {
    while (g < end) {
      const n = Math.floor(g / hw);
      const e = Math.min(end, (n + 1) * hw);
      ex.lrn_across(pX + 4 * n * C * hw, pY + 4 * n * C * hw, hw, C, g - n * hw, e - n * hw, size, aos, k, flag, t, t + oS, 0, bm);
      g = e;
    }
  };
  let done = false;
  if (split) {
    const chunks = Math.min(positions, 4 * T);
    const health = gemmThreadInfo().reason;
    done = splitJob(JOB_LRN, [pX, pY, hw, C, size, aos, k, flag, t, stride, oS, bm, chunks], evenBounds(positions, chunks),
      (_c, g0, g1) => run(g0, g1));
    // In place, the positions computed before a worker failed have lost their inputs.
    if (!done && inPlace && gemmThreadInfo().reason !== health) throw new Error(`LRN in place: ${gemmThreadInfo().reason}`);
  }
  // (Not split, or the pool did not run it all: this thread computes every position.)
  if (!done) run(0, positions);
  return true;
}

/**
 * The backward of lrnAcrossSimd for the image at `base`: dx = f32(scale^-0.75) * dy (p * p when
 * the diffs are one array, inPlace) plus the window term -crv * x * sum of f32(dy * y) / scale,
 * as the LRN layer's JS loop computes it (negCrv = -crv); false when the kernel is unavailable or
 * the image does not fit its memory.
 */
export function lrnAcrossBackwardSimd(
  x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, scale: Float32Array, base: number,
  C: number, hw: number, size: number, negCrv: number, inPlace: boolean,
): boolean {
  const kern = simdKernel();
  if (!kern) return false;
  const n = C * hw;
  const pX = 0;
  const pY = pX + 4 * n;
  const pG = pY + 4 * n;
  const pS = pG + 4 * n;
  const pD = pS + 4 * n;
  const pR = pD + 4 * n;
  const pA = pR + 4 * (C + size - 1) * hw;
  if (!simdReserve(kern, pA + 4 * hw)) return false;
  const h = kern.f32;
  h.set(x.subarray(base, base + n), pX >> 2);
  h.set(y.subarray(base, base + n), pY >> 2);
  h.set(dy.subarray(base, base + n), pG >> 2);
  h.set(scale.subarray(base, base + n), pS >> 2);
  kern.ex.lrn_across_backward(pX, pY, pG, pS, C, hw, size, negCrv, inPlace ? 1 : 0, pD, pR, pA);
  dx.set(h.subarray(pD >> 2, (pD >> 2) + n), base);
  return true;
}
