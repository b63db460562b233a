// Pooling window geometry along one spatial axis, as Caffe's pooling loops compute it (Pooling and
// LRN's WITHIN_CHANNEL average pooling share it), and the SIMD MAX pooling kernel's driver.
import { SIMD_BLOCK, simdKernel, simdReserve } from './simd.js';

/**
 * The windows of `pooled` outputs: window i reads input cells [start[i], end[i]); span[i] is its
 * extent clipped to the padded input (AVE's divisor factor), padding cells included.
 */
export interface PoolWindows {
  start: Int32Array;
  end: Int32Array;
  span: Int32Array;
}

export function poolWindows(pooled: number, stride: number, pad: number, kernel: number, size: number): PoolWindows {
  const w: PoolWindows = { start: new Int32Array(pooled), end: new Int32Array(pooled), span: new Int32Array(pooled) };
  for (let i = 0; i < pooled; i++) {
    const a = i * stride - pad;
    const b = Math.min(a + kernel, size + pad);
    w.start[i] = Math.max(a, 0);
    w.end[i] = Math.min(b, size);
    w.span[i] = b - a;
  }
  return w;
}

/**
 * MAX pooling with argmax of `planes` planes (height x width each, consecutive in x) by the SIMD
 * kernel: y and mask (argmax offsets h * width + w within the plane, -1 when nothing in the
 * window exceeds -FLT_MAX) get planes x rows.start.length x cols.start.length values, the same
 * as the Pooling layer's loop gives (candidates in row-major order, the first strict maximum
 * wins). Output column pw's window is columns [pw * strideW - padW, + kernelW) clipped to the
 * plane, output row ph's is [rows.start[ph], rows.end[ph]). Returns false when the kernel is
 * unavailable or the plane does not fit its memory (the caller then loops in JS).
 */
export function maxPoolSimd(
  x: Float32Array, planes: number, height: number, width: number, rows: PoolWindows, pooledW: number,
  strideW: number, kernelW: number, padW: number, y: Float32Array, mask: Int32Array,
): boolean {
  const k = simdKernel();
  if (!k || strideW < 1 || kernelW < 1) return false;
  const pooledH = rows.start.length;
  const inPlane = height * width;
  const outPlane = pooledH * pooledW;
  // Padded row length per phase: the blocks of four outputs read up to ceil4(pooledW) - 1 plus
  // the window's reach (kernelW - 1) / strideW.
  const L = ((pooledW + 3) & ~3) + Math.floor((kernelW - 1) / strideW);
  // Planes per call: about SIMD_BLOCK * 2 input floats, at least one.
  const group = Math.max(1, Math.min(planes, Math.floor((2 * SIMD_BLOCK) / Math.max(1, inPlane))));
  const pIn = 0;
  const pHs = pIn + 4 * group * inPlane;
  const pHe = pHs + 4 * pooledH;
  const pPad = pHe + 4 * pooledH;
  const pY = pPad + 4 * height * strideW * L;
  const pArg = pY + 4 * group * outPlane;
  // The row pass's maxima (height x ceil4(pooledW)), and the kernel's offsets table.
  const pRv = pArg + 4 * group * outPlane + 16;
  const pRa = pRv + 4 * height * ((pooledW + 3) & ~3);
  const pOff = pRa + 4 * height * ((pooledW + 3) & ~3);
  if (!simdReserve(k, pOff + 4 * kernelW)) return false;
  k.i32.set(rows.start, pHs >> 2);
  k.i32.set(rows.end, pHe >> 2);
  for (let p = 0; p < planes; p += group) {
    const g = Math.min(group, planes - p);
    k.f32.set(x.subarray(p * inPlane, (p + g) * inPlane), pIn >> 2);
    k.ex.maxpool(pIn, g, height, width, strideW, kernelW, padW, L, pooledH, pooledW, pHs, pHe, pPad, pY, pArg, pRv, pRa, pOff);
    y.set(k.f32.subarray(pY >> 2, (pY >> 2) + g * outPlane), p * outPlane);
    mask.set(k.i32.subarray(pArg >> 2, (pArg >> 2) + g * outPlane), p * outPlane);
  }
  return true;
}
