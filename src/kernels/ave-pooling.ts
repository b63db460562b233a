// AVE pooling by the SIMD kernel (wasm/simd.wat avepool): the Pooling layer's JS loop, which sums
// each window in double precision, costs ~1.5 ns per cell; the kernel sums four planes at a time
// (planes in the f64x2 lanes), each in the loop's order, at ~0.3 ns per cell. Inputs in the pool's shared memory (blobs of
// the inference arena) are read where they lie, planes split between the threads; others are
// copied into the kernel's own memory a group of planes at a time.
import { JOB_AVEPOOL, poolRegion, poolThreads, splitJob } from './gemm-threads.js';
import { inSharedMemory } from './gemm-wasm.js';
import { SIMD_BLOCK, simdKernel, simdOnShared, simdReserve, type SimdKernel } from './simd.js';

/** The geometry of an AVE pooling (Caffe's PoolingLayer fields). */
export interface AvePoolGeometry {
  planes: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  pooledH: number;
  pooledW: number;
}

/**
 * AVE pooling of g.planes planes of x into y, exactly as the Pooling layer's loop (the same
 * doubles summed in the same order, the same divisor); false when the kernel is unavailable or a
 * plane does not fit its memory (the caller then loops in JS).
 */
export function avePoolSimd(g: AvePoolGeometry, x: Float32Array, y: Float32Array): boolean {
  const k = simdKernel();
  if (!k || g.strideH < 1 || g.strideW < 1) return false;
  return avePoolShared(g, x, y) || avePoolOwn(k, g, x, y);
}

/** The kernel's arguments after (pIn, nPlanes), before pY. */
function geometryArgs(g: AvePoolGeometry): number[] {
  return [g.height, g.width, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.pooledH, g.pooledW];
}

/** avePoolSimd through the kernel's own memory, groups of planes copied in and out (one thread). */
function avePoolOwn(k: SimdKernel, g: AvePoolGeometry, x: Float32Array, y: Float32Array): boolean {
  const inPlane = g.height * g.width;
  const outPlane = g.pooledH * g.pooledW;
  // About SIMD_BLOCK * 2 input floats per call, a multiple of four planes (the kernel's group).
  const group = Math.max(1, Math.min(g.planes, Math.floor((2 * SIMD_BLOCK) / Math.max(1, inPlane)) & ~3 || 1));
  const pIn = 0;
  const pY = pIn + 4 * group * inPlane;
  if (!simdReserve(k, pY + 4 * group * outPlane)) return false;
  const geo = geometryArgs(g);
  for (let p = 0; p < g.planes; p += group) {
    const n = Math.min(group, g.planes - p);
    k.f32.set(x.subarray(p * inPlane, (p + n) * inPlane), pIn >> 2);
    k.ex.avepool(pIn, n, ...(geo as [number, number, number, number, number, number, number, number, number, number]), pY);
    y.set(k.f32.subarray(pY >> 2, (pY >> 2) + n * outPlane), p * outPlane);
  }
  return true;
}

/**
 * Window cells summed (planes x outputs x window) from which AVE pooling is split between threads.
 * The kernel streams its input at 1-3 cells per ns (a net's fresh blob, or one in cache), so the
 * usual global pools take 20-120 us, where a worker's late start weighs: 2 cores, idle, in nets,
 * SqueezeNet's 1000 x 14 x 14 took 0.8x one thread's time split, the 1024-2048 x 7 x 7 ones no
 * less than on one thread.
 */
let splitMinWork = 1 << 17;

/** Sets splitMinWork (tests set 0 to split small cases); returns the previous value. */
export function setAvePoolSplitMinWork(work: number): number {
  const old = splitMinWork;
  splitMinWork = Math.max(0, work);
  return old;
}

/** Bounds of about `chunks` chunks of n planes, at multiples of four but the last (the kernel's group). */
function planeBounds(n: number, chunks: number): number[] {
  const bounds = [0];
  for (let c = 1; c < chunks; c++) {
    const b = Math.min(n, Math.round((c * n) / chunks / 4) * 4);
    if (b > bounds[bounds.length - 1]) bounds.push(b);
  }
  if (bounds[bounds.length - 1] < n) bounds.push(n);
  return bounds;
}

/**
 * avePoolSimd on an input in the pool's shared memory: read where it lies, the values written in
 * place when y lies there too (else into scratch, copied out), the planes split between the
 * pool's threads when that pays (this thread takes chunks too). False when x is elsewhere.
 */
function avePoolShared(g: AvePoolGeometry, x: Float32Array, y: Float32Array): boolean {
  if (!inSharedMemory(x)) return false;
  const { planes } = g;
  const inPlane = g.height * g.width;
  const outPlane = g.pooledH * g.pooledW;
  const yIn = inSharedMemory(y);
  const region = poolRegion(yIn ? 0 : 4 * planes * outPlane);
  if (region === null) return false;
  const { memory, at } = region;
  const ex = simdOnShared(memory);
  if (ex === null) return false;
  const pX = x.byteOffset;
  const pY = yIn ? y.byteOffset : at;
  const geo = geometryArgs(g) as [number, number, number, number, number, number, number, number, number, number];
  // The twin of the workers' AVE pooling loop (gemm-threads.ts WORKER_BODY).
  const run = (p0: number, p1: number): void => ex.avepool(pX + 4 * p0 * inPlane, p1 - p0, ...geo, pY + 4 * p0 * outPlane);
  const T = poolThreads();
  const cells = Math.min(g.kernelH, g.height) * Math.min(g.kernelW, g.width);
  let done = false;
  if (T > 1 && planes > 1 && planes * outPlane * cells >= splitMinWork) {
    const bounds = planeBounds(planes, Math.min(Math.ceil(planes / 4), 4 * T));
    done = splitJob(JOB_AVEPOOL, [pX, pY, inPlane, outPlane, ...geo, bounds.length - 1], bounds, (_c, p0, p1) => run(p0, p1));
  }
  // (Not split, or the pool did not run it all: this thread pools every plane.)
  if (!done) run(0, planes);
  if (!yIn) y.set(new Float32Array(memory.buffer, at, planes * outPlane));
  return true;
}
