// LRN across channels by the SIMD kernels (wasm/simd.wat lrn_across, lrn_across_backward): one
// image at a time is copied into the kernel's memory, which computes the padded scaled squares,
// the running window sums and y = scale^-0.75 * x there (the scale comes back too: the backward
// reads it), or the backward's power, ratio and running window sums.
import { simdKernel, simdReserve } from './simd.js';

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
  const pX = 0;
  const pPad = pX + 4 * n;
  const pS = pPad + 4 * (C + size - 1) * hw;
  const pY = pS + 4 * n;
  if (!simdReserve(kern, pY + 4 * n)) return false;
  kern.f32.set(x.subarray(base, base + n), pX >> 2);
  kern.ex.lrn_across(pX, C, hw, size, aos, k, inPlace ? 1 : 0, pPad, pS, pY);
  scale.set(kern.f32.subarray(pS >> 2, (pS >> 2) + n), base);
  y.set(kern.f32.subarray(pY >> 2, (pY >> 2) + n), base);
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
