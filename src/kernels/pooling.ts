// Pooling window geometry along one spatial axis, as Caffe's pooling loops compute it (Pooling and
// LRN's WITHIN_CHANNEL average pooling share it), and the SIMD MAX pooling kernel's driver.
import { JOB_MAXPOOL, evenBounds, poolRegion, poolThreads, splitJob } from './gemm-threads.js';
import { inSharedMemory } from './gemm-wasm.js';
import { SIMD_BLOCK, simdKernel, simdOnShared, simdReserve, type SimdKernel } from './simd.js';

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
 * plane, output row ph's is [rows.start[ph], rows.end[ph]). A null mask: the values alone, by
 * the kernel's export that tracks no argmax (for a pool nothing reads the argmax of). Returns
 * false when the kernel is unavailable or the plane does not fit its memory (the caller then
 * loops in JS).
 */
export function maxPoolSimd(
  x: Float32Array, planes: number, height: number, width: number, rows: PoolWindows, pooledW: number,
  strideW: number, kernelW: number, padW: number, y: Float32Array, mask: Int32Array | null,
): boolean {
  const k = simdKernel();
  if (!k || strideW < 1 || kernelW < 1) return false;
  return maxPoolShared(x, planes, height, width, rows, pooledW, strideW, kernelW, padW, y, mask) ||
    maxPoolSplit(k, x, planes, height, width, rows, pooledW, strideW, kernelW, padW, y, mask) ||
    maxPoolOwn(k, x, planes, height, width, rows, pooledW, strideW, kernelW, padW, y, mask);
}

/** The padded row length per phase of maxPoolSimd's layout (see there). */
function paddedRow(pooledW: number, strideW: number, kernelW: number): number {
  return ((pooledW + 3) & ~3) + Math.floor((kernelW - 1) / strideW);
}

/** maxPoolSimd through the kernel's own memory (one thread). */
function maxPoolOwn(
  k: SimdKernel, x: Float32Array, planes: number, height: number, width: number, rows: PoolWindows, pooledW: number,
  strideW: number, kernelW: number, padW: number, y: Float32Array, mask: Int32Array | null,
): boolean {
  const pooledH = rows.start.length;
  const inPlane = height * width;
  const outPlane = pooledH * pooledW;
  // Padded row length per phase: the blocks of four outputs read up to ceil4(pooledW) - 1 plus
  // the window's reach (kernelW - 1) / strideW.
  const L = paddedRow(pooledW, strideW, kernelW);
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
  const pool = mask ? k.ex.maxpool : k.ex.maxpool_values;
  k.i32.set(rows.start, pHs >> 2);
  k.i32.set(rows.end, pHe >> 2);
  for (let p = 0; p < planes; p += group) {
    const g = Math.min(group, planes - p);
    k.f32.set(x.subarray(p * inPlane, (p + g) * inPlane), pIn >> 2);
    pool(pIn, g, height, width, strideW, kernelW, padW, L, pooledH, pooledW, pHs, pHe, pPad, pY, pArg, pRv, pRa, pOff);
    y.set(k.f32.subarray(pY >> 2, (pY >> 2) + g * outPlane), p * outPlane);
    mask?.set(k.i32.subarray(pArg >> 2, (pArg >> 2) + g * outPlane), p * outPlane);
  }
  return true;
}

/**
 * Candidate comparisons (planes x outputs x window cells) from which MAX pooling is split between
 * threads. 2 cores, SqueezeNet's and GoogLeNet's pools: 0.60-0.70x one thread's time from 0.37M
 * (GoogLeNet's 832 x 7 x 7) to 28M comparisons; in place in the shared memory 0.50-0.65x.
 */
let splitMinWork = 1 << 18;

/** Sets splitMinWork (tests set 0 to split small cases); returns the previous value. */
export function setMaxPoolSplitMinWork(work: number): number {
  const old = splitMinWork;
  splitMinWork = Math.max(0, work);
  return old;
}

/**
 * One thread's scratch in the shared memory for the MAX pooling kernel, as maxPoolSimd lays it
 * out (byte offsets): the padded rows, the row pass's values (oRv) and argmaxes (oRa), the offsets
 * table (oOff); `stride` bytes per thread.
 */
function threadScratch(height: number, strideW: number, L: number, PW4: number, kernelW: number): { oRv: number; oRa: number; oOff: number; stride: number } {
  const oRv = 4 * height * strideW * L;
  const oRa = oRv + 4 * height * PW4;
  const oOff = oRa + 4 * height * PW4;
  return { oRv, oRa, oOff, stride: (oOff + 4 * kernelW + 15) & ~15 };
}

/**
 * maxPoolSimd split by planes between the pool's threads: this thread pools the first planes / T
 * planes through the kernel's own memory as on one thread, while the rest, copied into the pool's
 * shared memory (whose copies are slower), goes in chunks to the workers, and to this thread once
 * its share is done; each thread has scratch of its own. Planes are independent and the kernel's
 * stores end at each row's last output, so the bits are one thread's. False when it does not
 * apply (one thread, small, no pool) or its share does not fit the kernel's memory.
 */
function maxPoolSplit(
  k: SimdKernel, x: Float32Array, planes: number, height: number, width: number, rows: PoolWindows, pooledW: number,
  strideW: number, kernelW: number, padW: number, y: Float32Array, mask: Int32Array | null,
): boolean {
  const T = poolThreads();
  const pooledH = rows.start.length;
  const inPlane = height * width;
  const outPlane = pooledH * pooledW;
  const cells = (rows.end[0] - rows.start[0]) * kernelW;
  if (T < 2 || planes < 2 || planes * outPlane * cells < splitMinWork) return false;
  const L = paddedRow(pooledW, strideW, kernelW);
  const own = Math.floor(planes / T);
  const S = planes - own; // planes own .. planes - 1, in the shared memory from its plane 0
  const chunks = Math.min(S, 4 * (T - 1));
  const PW4 = (pooledW + 3) & ~3;
  // Shared: input, windows, outputs. Per thread (as maxPoolSimd lays them out): the padded rows,
  // the row pass's values and argmaxes, the offsets table.
  const pHs = 4 * S * inPlane;
  const pHe = pHs + 4 * pooledH;
  const pY = pHe + 4 * pooledH;
  const pArg = pY + 4 * S * outPlane;
  const scratch = (pArg + 4 * S * outPlane + 15) & ~15;
  const { oRv, oRa, oOff, stride } = threadScratch(height, strideW, L, PW4, kernelW);
  const region = poolRegion(scratch + T * stride);
  if (region === null) return false;
  const { memory, at } = region;
  const ex = simdOnShared(memory);
  if (ex === null) return false;
  const maxpool = mask ? ex.maxpool : ex.maxpool_values;
  const f32 = new Float32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  f32.set(x.subarray(own * inPlane, planes * inPlane), at >> 2);
  i32.set(rows.start, (at + pHs) >> 2);
  i32.set(rows.end, (at + pHe) >> 2);
  const bounds = evenBounds(S, chunks);
  const args = [at, inPlane, outPlane, height, width, strideW, kernelW, padW, L, pooledH, pooledW, at + pHs, at + pHe,
    at + pY, at + pArg, at + scratch, stride, 0, oRv, oRa, oOff, chunks, mask ? 0 : 1];
  const t = at + scratch; // this thread's scratch (thread 0)
  // The twin of the workers' MAX pooling loop (gemm-threads.ts WORKER_BODY).
  let ownOk = false;
  const ok = splitJob(JOB_MAXPOOL, args, bounds, (_c, p0, p1) => {
    maxpool(at + 4 * p0 * inPlane, p1 - p0, height, width, strideW, kernelW, padW, L, pooledH, pooledW, at + pHs, at + pHe, t,
      at + pY + 4 * p0 * outPlane, at + pArg + 4 * p0 * outPlane, t + oRv, t + oRa, t + oOff);
  }, () => {
    ownOk = maxPoolOwn(k, x.subarray(0, own * inPlane), own, height, width, rows, pooledW, strideW, kernelW, padW,
      y.subarray(0, own * outPlane), mask && mask.subarray(0, own * outPlane));
  });
  // (Without this thread's share the caller's JS loop computes everything.)
  if (!ok || !ownOk) return false;
  y.set(f32.subarray((at + pY) >> 2, ((at + pY) >> 2) + S * outPlane), own * outPlane);
  mask?.set(i32.subarray((at + pArg) >> 2, ((at + pArg) >> 2) + S * outPlane), own * outPlane);
  return true;
}

/**
 * maxPoolSimd on an input that lies in the pool's shared memory (a blob of the inference arena):
 * the kernel reads it where it is and writes the values in place too when y lies there (else into
 * scratch, copied out), the planes split into chunks between the pool's threads when that pays
 * (this thread takes chunks too), each thread with scratch of its own. Only the argmax, when
 * wanted, is copied out. False when x is elsewhere or there is no room (the caller then copies).
 */
function maxPoolShared(
  x: Float32Array, planes: number, height: number, width: number, rows: PoolWindows, pooledW: number,
  strideW: number, kernelW: number, padW: number, y: Float32Array, mask: Int32Array | null,
): boolean {
  if (!inSharedMemory(x)) return false;
  const T = poolThreads();
  const pooledH = rows.start.length;
  const inPlane = height * width;
  const outPlane = pooledH * pooledW;
  const cells = (rows.end[0] - rows.start[0]) * kernelW;
  const split = T > 1 && planes > 1 && planes * outPlane * cells >= splitMinWork;
  const threads = split ? T : 1;
  const yIn = inSharedMemory(y);
  const L = paddedRow(pooledW, strideW, kernelW);
  const PW4 = (pooledW + 3) & ~3;
  // Region: the windows, the argmax (when wanted), the values (when y is elsewhere), then each
  // thread's scratch as maxPoolSplit lays it out.
  const pHs = 0;
  const pHe = pHs + 4 * pooledH;
  const pArg = pHe + 4 * pooledH;
  const pVal = pArg + (mask ? 4 * planes * outPlane : 0);
  const scratch = (pVal + (yIn ? 0 : 4 * planes * outPlane) + 15) & ~15;
  const { oRv, oRa, oOff, stride } = threadScratch(height, strideW, L, PW4, kernelW);
  const region = poolRegion(scratch + threads * stride);
  if (region === null) return false;
  const { memory, at } = region;
  const ex = simdOnShared(memory);
  if (ex === null) return false;
  const maxpool = mask ? ex.maxpool : ex.maxpool_values;
  new Int32Array(memory.buffer, at + pHs, pooledH).set(rows.start);
  new Int32Array(memory.buffer, at + pHe, pooledH).set(rows.end);
  const pX = x.byteOffset;
  const pY = yIn ? y.byteOffset : at + pVal;
  const t = at + scratch; // this thread's scratch (thread 0)
  // The twin of the workers' MAX pooling loop (gemm-threads.ts WORKER_BODY).
  const run = (p0: number, p1: number): void => {
    maxpool(pX + 4 * p0 * inPlane, p1 - p0, height, width, strideW, kernelW, padW, L, pooledH, pooledW, at + pHs, at + pHe, t,
      pY + 4 * p0 * outPlane, at + pArg + 4 * p0 * outPlane, t + oRv, t + oRa, t + oOff);
  };
  let done = false;
  if (split) {
    const chunks = Math.min(planes, 4 * T);
    const args = [pX, inPlane, outPlane, height, width, strideW, kernelW, padW, L, pooledH, pooledW, at + pHs, at + pHe,
      pY, at + pArg, t, stride, 0, oRv, oRa, oOff, chunks, mask ? 0 : 1];
    done = splitJob(JOB_MAXPOOL, args, evenBounds(planes, chunks), (_c, p0, p1) => run(p0, p1));
  }
  // (Not split, or the pool did not run it all: this thread pools every plane.)
  if (!done) run(0, planes);
  if (!yIn) y.set(new Float32Array(memory.buffer, at + pVal, planes * outPlane));
  mask?.set(new Int32Array(memory.buffer, at + pArg, planes * outPlane));
  return true;
}
