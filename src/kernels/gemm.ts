// GEMM for row-major float32 matrices, with Caffe's caffe_cpu_gemm argument order:
//   C = alpha * op(A) * op(B) + beta * C,  op(A) is M x K, op(B) is K x N, C is M x N.
// Every heavy layer (Convolution, Deconvolution, InnerProduct, Embed, LSTM) goes through here.
//
// This file is the entry point: it handles the degenerate cases (empty C, K = 0, alpha = 0) and
// hands every other product to one of the kernels, each in its own file with the same signature
// (M, N, K >= 1, alpha != 0):
//  - gemm-wasm.ts: WebAssembly SIMD (wasm/gemm.wat, a 2 x 16 f32x4 micro-kernel), for every
//    product but the tiniest; large products shared with worker threads (gemm-threads.ts).
//  - gemm-js.ts: the plain-JS kernel, the fallback when WebAssembly SIMD is unavailable (or the
//    environment sets CAFFE_TS_GEMM=js, see gemmBackend), and the path for tiny products.
// A new kernel is one more file and one more line in gemm() below.

import { jsGemm, scaleC } from './gemm-js.js';
import { gemmBackend, useWasm, wasmGemm, wasmGemmBatch, type GemmEpilogue, type GemmPackKey } from './gemm-wasm.js';

export { gemmNaive, gemv } from './gemm-js.js';
export { epilogueAt, epilogueShared, gemmBackend, gemmPackCacheInfo, gemmStage, inSharedMemory, releaseSharedArena, sharedKernelMemory, setGemmPackCacheBudget, setGemmStaging, setGemmWasmBudget, sharedArena, unsharedMemory } from './gemm-wasm.js';
export type { GemmEpilogue, GemmPackKey } from './gemm-wasm.js';
export { gemmThreadInfo, gemmThreadsReady, setGemmThreadMinWork, setGemmThreads, setGemmWorkersOnly } from './gemm-threads.js';

/** The signature of gemm() and of every kernel (a kernel may ignore aKey). */
export type GemmFn = (
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  B: Float32Array,
  beta: number,
  C: Float32Array,
  aKey?: GemmPackKey,
) => void;

/**
 * C = alpha op(A) op(B) + beta C. With aKey, the wasm kernel may keep A packed between calls
 * (a layer's weights: not copied in nor packed again, 5-15% of a product): a later call with the
 * same key object, the same A (the same buffer, offset and length), transA, M and K reads that
 * copy as long as aKey.version has not changed since it was made. The caller owns the key and
 * must increment its version whenever A's contents may have changed (results are the same bits
 * either way; a stale copy gives results from the old A). Without a key nothing is kept.
 * With `epi` (a convolution's bias, folded BatchNorm/Scale, residual and ReLU, see GemmEpilogue)
 * the wasm kernel may apply it to C as part of the product, each thread on its own panels: returns
 * true when it did, false when the caller must apply it (the same bits either way).
 */
export function gemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  B: Float32Array,
  beta: number,
  C: Float32Array,
  aKey?: GemmPackKey,
  epi?: GemmEpilogue,
): boolean {
  if (M <= 0 || N <= 0) return false;
  if (K <= 0 || alpha === 0) {
    scaleC(C, M * N, beta);
    return false;
  }
  if (useWasm(M, N, K)) return wasmGemm(transA, transB, M, N, K, alpha, A, B, beta, C, aKey, epi);
  jsGemm(transA, transB, M, N, K, alpha, A, B, beta, C);
  return false;
}

/**
 * C_i = A_i B_i for every i (no transposes, alpha 1, beta 0), products of one M x N x K shape
 * with A_i kept packed under keys[i] (see gemm()): Winograd's per-position products. When their
 * B and C are views of the kernels' shared memory the products are shared out whole between the
 * threads (each too small to split); else one gemm() after the other. The same bits either way.
 */
export function gemmBatch(M: number, N: number, K: number, A: Float32Array[], B: Float32Array[], C: Float32Array[], keys: (GemmPackKey | undefined)[]): void {
  if (M <= 0 || N <= 0) return;
  if (K > 0 && useWasm(M, N, K) && wasmGemmBatch(M, N, K, A, B, C, keys)) return;
  for (let i = 0; i < A.length; i++) gemm(false, false, M, N, K, 1, A[i], B[i], 0, C[i], keys[i]);
}

/** The entry point of one kernel: gemm() on it alone, whatever the shape. */
function only(kernel: GemmFn): GemmFn {
  return (transA, transB, M, N, K, alpha, A, B, beta, C, aKey) => {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha === 0) {
      scaleC(C, M * N, beta);
      return;
    }
    kernel(transA, transB, M, N, K, alpha, A, B, beta, C, aKey);
  };
}

/** gemm() on the JS kernel only (the fallback), whatever the shape. */
export const gemmJs: GemmFn = only(jsGemm);

const wasmOnly = only(wasmGemm);

/** gemm() on the WebAssembly SIMD kernel only, whatever the shape; throws if it is unavailable. */
export const gemmWasm: GemmFn = (transA, transB, M, N, K, alpha, A, B, beta, C, aKey) => {
  if (gemmBackend.kernel !== 'wasm-simd') throw new Error(`caffe-ts: the WebAssembly gemm kernel is unavailable (${gemmBackend.reason})`);
  wasmOnly(transA, transB, M, N, K, alpha, A, B, beta, C, aKey);
};
