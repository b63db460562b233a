// GEMM for row-major float32 matrices, with Caffe's caffe_cpu_gemm argument order:
//   C = alpha * op(A) * op(B) + beta * C,  op(A) is M x K, op(B) is K x N, C is M x N.
// Every heavy layer (Convolution, Deconvolution, InnerProduct, Embed, LSTM) goes through here.
//
// Two kernels behind one entry point:
//  - WebAssembly SIMD (wasm/gemm.wat: 2 x 16 f32x4 micro-kernel, 8-10x the JS kernel): one module
//    instantiated synchronously at import from wasm/gemm.wasm beside this file (src/kernels/wasm
//    under vitest, dist/src/kernels/wasm once built; scripts/build-wasm.mjs assembles it). Its
//    linear memory is gemm.ts's: operands are copied in (A, B, and C unless beta == 0), multiplied
//    there, and C is copied back; a B that the caller wrote into the memory (gemmStage: im2col's
//    column buffer) is read in place. Copying costs O(MK + KN + MN) against O(MNK) work, so gemm()
//    takes this kernel for every product but the tiniest (see useWasm). The memory grows as
//    needed for up to 64 MiB of operands (setGemmWasmBudget); larger products are cut into row /
//    column / K blocks that fit. Sums are float32 (as in Caffe's sgemm), so results differ from
//    the JS kernel's in the last bits: error ~0.4 K 2^-24 relative, against ~0.02 for the JS one.
//    Large products (from 2M multiply-adds) are shared between the calling thread and worker
//    threads running the same kernel on a shared memory, with bit-identical results (see
//    "Threads" below; CAFFE_TS_THREADS=1 keeps everything on the calling thread).
//  - The JS kernel below (gemmJs): the fallback when WebAssembly SIMD is unavailable (or the
//    environment sets CAFFE_TS_GEMM=js, see gemmBackend), and the path for tiny products.
//
// Layout of the JS fast path (the usual Goto/BLIS scheme, written for what V8 compiles well):
//   for each NC-wide column block of op(B)
//     for each KC-deep slice of K
//       pack op(B)[slice, block] into NR-wide column panels (k-major, zero-padded)
//       for each MC-tall row block of op(A)
//         pack alpha * op(A)[block, slice] into MR-tall row panels (k-major, zero-padded)
//         for every (B panel, A panel) pair: MR x NR micro-kernel, C tile += panel product
// The micro-kernel keeps its 4 x 8 accumulators in local doubles; packing into Float64Array
// makes every operand load a plain double load, and the transposes only change the packing.
// beta is applied once up front (beta == 0 overwrites, so NaN/garbage in C never leaks in).
// Products that are too small to amortise packing take direct loops (also accumulating in
// doubles). Scratch buffers are module-level and reused; no per-call allocation.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const MR = 4;
const NR = 8;
const MC = 128;
const KC = 256;
const NC = 1024;

// Packed panels, allocated once (2.25 MB). They are module constants on purpose: V8 then
// compiles the micro-kernel against known arrays (no map/length reloads), ~10% faster.
const packA = new Float64Array(MC * KC);
const packB = new Float64Array(KC * NC);
let rowAcc = new Float64Array(256);

function rowScratch(n: number): Float64Array {
  if (rowAcc.length < n) rowAcc = new Float64Array(Math.max(n, rowAcc.length * 2));
  return rowAcc;
}

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
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha === 0) {
    scaleC(C, M * N, beta);
    return;
  }
  if (wasm !== null && useWasm(M, N, K)) wasmGemm(pickKernel(wasm, M, N, K), transA, transB, M, N, K, alpha, A, B, beta, C);
  else jsGemm(transA, transB, M, N, K, alpha, A, B, beta, C);
}

/** gemm() on the JS kernel only (the fallback), whatever the shape. */
export function gemmJs(
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
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha === 0) {
    scaleC(C, M * N, beta);
    return;
  }
  jsGemm(transA, transB, M, N, K, alpha, A, B, beta, C);
}

/** gemm() on the WebAssembly SIMD kernel only, whatever the shape; throws if it is unavailable. */
export function gemmWasm(
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
): void {
  if (wasm === null) throw new Error(`caffe-ts: the WebAssembly gemm kernel is unavailable (${gemmBackend.reason})`);
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha === 0) {
    scaleC(C, M * N, beta);
    return;
  }
  wasmGemm(pickKernel(wasm, M, N, K), transA, transB, M, N, K, alpha, A, B, beta, C);
}

function jsGemm(
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
): void {
  if (M === 1 || N === 1 || K <= 2 || M * N * K <= 4096) {
    gemmDirect(transA, transB, M, N, K, alpha, A, B, beta, C);
    return;
  }
  scaleC(C, M * N, beta);
  gemmPacked(transA, transB, M, N, K, alpha, A, B, C);
}

function scaleC(C: Float32Array, n: number, beta: number): void {
  if (beta === 0) C.fill(0, 0, n);
  else if (beta !== 1) for (let i = 0; i < n; i++) C[i] *= beta;
}

/** Direct loops for small or skinny products; sums in doubles, one rounding per element. */
function gemmDirect(
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
): void {
  // op(A)[i][k] = A[i*sai + k*sak], op(B)[k][j] = B[k*sbk + j*sbj]
  const sai = transA ? 1 : K;
  const sak = transA ? M : 1;
  const sbk = transB ? 1 : N;
  const sbj = transB ? K : 1;
  if (transB) {
    // Rows of op(B)^T are contiguous: dot products along k.
    for (let i = 0; i < M; i++) {
      const ai = i * sai;
      const ci = i * N;
      for (let j = 0; j < N; j++) {
        const bj = j * sbj;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[ai + k * sak] * B[bj + k];
        const old = beta === 0 ? 0 : beta * C[ci + j];
        C[ci + j] = alpha * s + old;
      }
    }
    return;
  }
  // op(B) rows are contiguous: accumulate a row of C in doubles, axpy per k.
  const acc = rowScratch(N);
  for (let i = 0; i < M; i++) {
    const ai = i * sai;
    acc.fill(0, 0, N);
    for (let k = 0; k < K; k++) {
      const a = A[ai + k * sak];
      const bk = k * sbk;
      for (let j = 0; j < N; j++) acc[j] += a * B[bk + j];
    }
    const ci = i * N;
    if (beta === 0) for (let j = 0; j < N; j++) C[ci + j] = alpha * acc[j];
    else for (let j = 0; j < N; j++) C[ci + j] = alpha * acc[j] + beta * C[ci + j];
  }
}

function gemmPacked(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
): void {
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = Math.min(NC, N - j0);
    const nPanels = Math.ceil(nc / NR);
    for (let p0 = 0; p0 < K; p0 += KC) {
      const kc = Math.min(KC, K - p0);
      if (transB) packBTrans(B, K, j0, nc, p0, kc);
      else packBPlain(B, N, j0, nc, p0, kc);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        const mPanels = Math.ceil(mc / MR);
        if (transA) packATrans(A, M, i0, mc, p0, kc, alpha);
        else packAPlain(A, K, i0, mc, p0, kc, alpha);
        for (let q = 0; q < nPanels; q++) {
          const jb = j0 + q * NR;
          const nr = Math.min(NR, N - jb);
          const offB = q * NR * kc;
          for (let r = 0; r < mPanels; r++) {
            const ib = i0 + r * MR;
            const mr = Math.min(MR, M - ib);
            kernel4x8(kc, r * MR * kc, offB, C, ib * N + jb, N, mr, nr);
          }
        }
      }
    }
  }
}

// op(A) = A (M x K, row stride K): panel element [k][r] = alpha * A[(i+r)*K + p0+k].
function packAPlain(A: Float32Array, K: number, i0: number, mc: number, p0: number, kc: number, alpha: number): void {
  const pa = packA;
  let o = 0;
  for (let r0 = 0; r0 < mc; r0 += MR) {
    const rows = Math.min(MR, mc - r0);
    const base = (i0 + r0) * K + p0;
    if (rows === MR) {
      const s0 = base;
      const s1 = base + K;
      const s2 = base + 2 * K;
      const s3 = base + 3 * K;
      for (let k = 0; k < kc; k++) {
        pa[o] = alpha * A[s0 + k];
        pa[o + 1] = alpha * A[s1 + k];
        pa[o + 2] = alpha * A[s2 + k];
        pa[o + 3] = alpha * A[s3 + k];
        o += MR;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let r = 0; r < MR; r++) pa[o + r] = r < rows ? alpha * A[base + r * K + k] : 0;
        o += MR;
      }
    }
  }
}

// op(A) = A^T, A is K x M (row stride M): panel element [k][r] = alpha * A[(p0+k)*M + i+r].
function packATrans(A: Float32Array, M: number, i0: number, mc: number, p0: number, kc: number, alpha: number): void {
  const pa = packA;
  let o = 0;
  for (let r0 = 0; r0 < mc; r0 += MR) {
    const rows = Math.min(MR, mc - r0);
    let s = p0 * M + i0 + r0;
    if (rows === MR) {
      for (let k = 0; k < kc; k++) {
        pa[o] = alpha * A[s];
        pa[o + 1] = alpha * A[s + 1];
        pa[o + 2] = alpha * A[s + 2];
        pa[o + 3] = alpha * A[s + 3];
        o += MR;
        s += M;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let r = 0; r < MR; r++) pa[o + r] = r < rows ? alpha * A[s + r] : 0;
        o += MR;
        s += M;
      }
    }
  }
}

// op(B) = B (K x N, row stride N): panel element [k][c] = B[(p0+k)*N + j+c].
function packBPlain(B: Float32Array, N: number, j0: number, nc: number, p0: number, kc: number): void {
  const pb = packB;
  let o = 0;
  for (let c0 = 0; c0 < nc; c0 += NR) {
    const cols = Math.min(NR, nc - c0);
    let s = p0 * N + j0 + c0;
    if (cols === NR) {
      for (let k = 0; k < kc; k++) {
        pb[o] = B[s];
        pb[o + 1] = B[s + 1];
        pb[o + 2] = B[s + 2];
        pb[o + 3] = B[s + 3];
        pb[o + 4] = B[s + 4];
        pb[o + 5] = B[s + 5];
        pb[o + 6] = B[s + 6];
        pb[o + 7] = B[s + 7];
        o += NR;
        s += N;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let c = 0; c < NR; c++) pb[o + c] = c < cols ? B[s + c] : 0;
        o += NR;
        s += N;
      }
    }
  }
}

// op(B) = B^T, B is N x K (row stride K): panel element [k][c] = B[(j+c)*K + p0+k].
function packBTrans(B: Float32Array, K: number, j0: number, nc: number, p0: number, kc: number): void {
  const pb = packB;
  let o = 0;
  for (let c0 = 0; c0 < nc; c0 += NR) {
    const cols = Math.min(NR, nc - c0);
    const base = (j0 + c0) * K + p0;
    if (cols === NR) {
      for (let k = 0; k < kc; k++) {
        const s = base + k;
        pb[o] = B[s];
        pb[o + 1] = B[s + K];
        pb[o + 2] = B[s + 2 * K];
        pb[o + 3] = B[s + 3 * K];
        pb[o + 4] = B[s + 4 * K];
        pb[o + 5] = B[s + 5 * K];
        pb[o + 6] = B[s + 6 * K];
        pb[o + 7] = B[s + 7 * K];
        o += NR;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let c = 0; c < NR; c++) pb[o + c] = c < cols ? B[base + c * K + k] : 0;
        o += NR;
      }
    }
  }
}

/** C[ci.., mr x nr tile, row stride ldc] += (A panel at packA[ia..]) * (B panel at packB[ib..]) over kc. */
function kernel4x8(kc: number, ia: number, ib: number, C: Float32Array, ci: number, ldc: number, mr: number, nr: number): void {
  const pa = packA;
  const pb = packB;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  for (let k = 0; k < kc; k++) {
    const a0 = pa[ia];
    const a1 = pa[ia + 1];
    const a2 = pa[ia + 2];
    const a3 = pa[ia + 3];
    let b = pb[ib];
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
    b = pb[ib + 1];
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
    b = pb[ib + 2];
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
    b = pb[ib + 3];
    c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b;
    b = pb[ib + 4];
    c04 += a0 * b; c14 += a1 * b; c24 += a2 * b; c34 += a3 * b;
    b = pb[ib + 5];
    c05 += a0 * b; c15 += a1 * b; c25 += a2 * b; c35 += a3 * b;
    b = pb[ib + 6];
    c06 += a0 * b; c16 += a1 * b; c26 += a2 * b; c36 += a3 * b;
    b = pb[ib + 7];
    c07 += a0 * b; c17 += a1 * b; c27 += a2 * b; c37 += a3 * b;
    ia += MR;
    ib += NR;
  }
  if (mr === MR && nr === NR) {
    let o = ci;
    C[o] += c00; C[o + 1] += c01; C[o + 2] += c02; C[o + 3] += c03;
    C[o + 4] += c04; C[o + 5] += c05; C[o + 6] += c06; C[o + 7] += c07;
    o += ldc;
    C[o] += c10; C[o + 1] += c11; C[o + 2] += c12; C[o + 3] += c13;
    C[o + 4] += c14; C[o + 5] += c15; C[o + 6] += c16; C[o + 7] += c17;
    o += ldc;
    C[o] += c20; C[o + 1] += c21; C[o + 2] += c22; C[o + 3] += c23;
    C[o + 4] += c24; C[o + 5] += c25; C[o + 6] += c26; C[o + 7] += c27;
    o += ldc;
    C[o] += c30; C[o + 1] += c31; C[o + 2] += c32; C[o + 3] += c33;
    C[o + 4] += c34; C[o + 5] += c35; C[o + 6] += c36; C[o + 7] += c37;
    return;
  }
  // Edge tile: spill to a small buffer, write the valid part.
  const t = edgeTile;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03; t[4] = c04; t[5] = c05; t[6] = c06; t[7] = c07;
  t[8] = c10; t[9] = c11; t[10] = c12; t[11] = c13; t[12] = c14; t[13] = c15; t[14] = c16; t[15] = c17;
  t[16] = c20; t[17] = c21; t[18] = c22; t[19] = c23; t[20] = c24; t[21] = c25; t[22] = c26; t[23] = c27;
  t[24] = c30; t[25] = c31; t[26] = c32; t[27] = c33; t[28] = c34; t[29] = c35; t[30] = c36; t[31] = c37;
  for (let r = 0; r < mr; r++) {
    const o = ci + r * ldc;
    for (let c = 0; c < nr; c++) C[o + c] += t[r * NR + c];
  }
}
const edgeTile = new Float64Array(MR * NR);

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD kernel (wasm/gemm.wat). Memory layout, in bytes of the linear memory, for T
// threads (thread 0 is the calling thread, 1 .. T-1 the gemm workers):
//   [t * WASM_SCRATCH, ...)       thread t's scratch: packed A' block (WASM_MC x WASM_KC floats),
//                                 packed B' block (WASM_KC x WASM_NC), a 2 x 16 edge tile
//   [T * WASM_SCRATCH, ...)       the staging region (gemmStage; unshared memory only, may be
//                                 empty), where callers write a B operand that gemm() reads in place
//   [after those, ...)            the operands of the current call: A block, B block, C block
// Blocking sizes were tuned on ResNet-50's products (bench/gemm.ts --conv; they matter little: MC
// 64-256, KC 192-384, NC 1024-2048 all within 2%).

const WASM_MR = 2;
const WASM_NR = 16;
const WASM_MC = 128;
const WASM_KC = 256;
const WASM_NC = 1024;
const WASM_PACK_A = 0;
const WASM_PACK_B = WASM_PACK_A + 4 * WASM_MC * WASM_KC;
const WASM_TILE = WASM_PACK_B + 4 * WASM_KC * WASM_NC;
const WASM_SCRATCH = WASM_TILE + 4 * WASM_MR * WASM_NR;
/** The module's memory maximum, in 64 KiB pages (gemm.wat declares the same). */
const WASM_MAX_PAGES = 2048;
/** Most bytes of operands copied into wasm memory at once; bigger products go in blocks. */
let wasmDataBudget = 64 << 20;
/** Deepest K block copied at once (a multiple of WASM_KC); deeper products add up K blocks in C. */
const WASM_KB = 4096;

interface WasmGemmExports {
  mr: WebAssembly.Global;
  nr: WebAssembly.Global;
  gemm(
    flags: number, M: number, N: number, K: number, alpha: number,
    pA: number, lda: number, pB: number, ldb: number, beta: number, pC: number, ldc: number, poff: number,
    packA: number, packB: number, tile: number, mcb: number, kcb: number, ncb: number,
  ): void;
}

/** An instance of the module, with its memory and a float32 view of it (renewed as it grows). */
interface WasmKernel {
  ex: WasmGemmExports;
  memory: WebAssembly.Memory;
  heap: Float32Array;
  /** The compiled module, for the workers, when the memory is shared; else null. */
  module: WebAssembly.Module | null;
  /** The staging region (gemmStage), byte address and size; 0 bytes: none yet. */
  stageAt: number;
  stageBytes: number;
}

let wasmUnavailable = '';

/**
 * The module bytes with the imported memory declared unshared: the limits flag of the memory
 * import goes from 3 (shared, with maximum) to 1 (maximum). For engines or settings without
 * shared memory, and for CAFFE_TS_THREADS=1, which then need no SharedArrayBuffer at all.
 */
export function unsharedMemory(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  let p = 8; // magic, version
  const leb = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = out[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  while (p < out.length) {
    const id = out[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      for (let count = leb(); count > 0; count--) {
        for (let name = 0; name < 2; name++) {
          const len = leb(); // module name, then field name
          p += len;
        }
        const kind = out[p++];
        if (kind === 2) {
          if (out[p] === 3) out[p] = 1;
          return out;
        }
        if (kind === 0) leb(); // function: type index
        else if (kind === 1) {
          // table: reference type, limits (flags, minimum, maximum if flags & 1)
          const flags = out[p + 1];
          p += 2;
          leb();
          if (flags & 1) leb();
        }
        else if (kind === 3) p += 2; // global: valtype, mutability
        else break;
      }
    }
    p = end;
  }
  throw new Error('caffe-ts: gemm.wasm imports no memory');
}

/**
 * The wasm kernel: an instance on an unshared memory (`single`), and when threads may be used one
 * on a shared memory (`shared`). Products too small to split go to the unshared one: copies into
 * a SharedArrayBuffer are slower (V8 copies with relaxed atomics: ~19 GB/s against 35-90 GB/s for
 * cache-resident blocks, 2-5% of a small product). With threads on, those products are below
 * SHARED_MIN_WORK multiply-adds, and so is each of their operands: that memory stays < 26 MiB,
 * plus the staging region (gemmStage, at most 24 MiB).
 */
function loadWasm(): { single: WasmKernel; shared: WasmKernel | null } | null {
  if (typeof process === 'object' && process.env?.CAFFE_TS_GEMM === 'js') {
    wasmUnavailable = 'CAFFE_TS_GEMM=js';
    return null;
  }
  if (typeof WebAssembly !== 'object') {
    wasmUnavailable = 'no WebAssembly in this runtime';
    return null;
  }
  const url = new URL('./wasm/gemm.wasm', import.meta.url);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(url));
  } catch (e) {
    wasmUnavailable = `cannot read ${url.pathname}: ${(e as Error).message}`;
    return null;
  }
  const unshared = unsharedMemory(bytes);
  // validate() is false when the engine lacks an instruction the module uses (SIMD).
  if (!WebAssembly.validate(unshared)) {
    wasmUnavailable = 'this runtime has no WebAssembly SIMD';
    return null;
  }
  const memory = new WebAssembly.Memory({ initial: 1, maximum: WASM_MAX_PAGES });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(unshared), { env: { memory } }).exports as unknown as WasmGemmExports;
  if (ex.mr.value !== WASM_MR || ex.nr.value !== WASM_NR) {
    throw new Error(`caffe-ts: ${url.pathname} has a ${ex.mr.value} x ${ex.nr.value} micro-kernel, gemm.ts expects ${WASM_MR} x ${WASM_NR}`);
  }
  const single: WasmKernel = { ex, memory, heap: new Float32Array(0), module: null, stageAt: 0, stageBytes: 0 };
  // Shared memory when threads may be used (setGemmThreads can turn them on even on one core) and
  // the engine has it.
  let shared: WasmKernel | null = null;
  if (threadConfig.allowed) {
    try {
      const module = new WebAssembly.Module(bytes);
      const memory = new WebAssembly.Memory({ initial: 1, maximum: WASM_MAX_PAGES, shared: true });
      const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmGemmExports;
      shared = { ex, memory, heap: new Float32Array(0), module, stageAt: 0, stageBytes: 0 };
    } catch (e) {
      threadConfig = { threads: 1, allowed: false, reason: `no shared WebAssembly memory (${(e as Error).message})` };
    }
  }
  return { single, shared };
}

// ---------------------------------------------------------------------------------------------
// Threads. Large products are shared between the calling thread and T - 1 worker threads
// (T = min(os.availableParallelism(), CAFFE_TS_THREADS or 2, 8); CAFFE_TS_THREADS=1: one thread,
// no shared memory, no worker). All run the same wasm kernel on one shared WebAssembly.Memory:
// gemm.ts copies the operands in once, then each thread takes panels of C (column panels, or row
// panels when op(A) is the taller side) from a shared counter, computes them with its own packing
// scratch, and when all are done the caller copies C out: nothing is copied between threads. Only
// M or N is split, never K, and the kernel's result for an element does not depend on where its
// tile lies, so results are bit-identical to one thread's. Panels shrink as the product proceeds
// (guided scheduling) and are handed out dynamically, so a worker that is slow to wake or is
// descheduled (another process on its core) just takes fewer of them.
//
// Synchronisation: an Int32Array over a SharedArrayBuffer (ctrl), a Float64Array with the call's
// arguments and an Int32Array of panel bounds. Each worker has a state word: -1 starting, 0 idle,
// 1 job offered, 2 job taken, 3 job done, -2 dead. The caller writes the arguments, sets every
// idle worker's state to 1 and wakes it (Atomics.notify), computes panels itself, then takes back
// each offer no worker took (compareExchange 1 -> 0) and waits for the workers that took one to
// reach 3 (polling, then Atomics.wait). A worker polls its state for a while after a job, then
// sleeps in Atomics.wait until offered one (see WORKER_SPIN_MS), and takes it with
// compareExchange 1 -> 2, so an offer is either taken or withdrawn, never both.
//
// Workers start lazily (at the first product big enough to split), and gemm() never waits for
// them: until a worker is up, products run on the calling thread. They are unref'd (they never keep
// the process alive; a worker blocked in Atomics.wait does not delay exit), and any failure (no
// shared memory, a worker that cannot start) leaves gemm() on one thread, silently. A worker is a
// few lines of plain JS run with `eval: true` (WORKER_SOURCE), given the compiled module, the
// memory and the control arrays in workerData: there is no worker file to find from src/ (vitest)
// or dist/, and nothing to build.
//
// When it pays (2 cores, wall time, bench/gemm.ts): 1.5-1.8x from ~16M multiply-adds (256^3,
// 64x3136x576, 1024x1024x256), ~1.3x at 2M (128^3), break-even near 1M (wake-up of the worker,
// cache traffic between cores, repacking of the unsplit operand per panel). Hence parMinWork = 2M.
// Forward passes (wall): ResNet-50 1.25-1.4x, GoogLeNet 1.25x, SqueezeNet 1.1-1.25x, LeNet ~1.0x.

const MAX_THREADS = 8;
/** The narrowest panel (columns or rows), and the most panels of one split product. */
const PANEL_MIN = 32;
const MAX_PANELS = 64;
const C_NEXT = 0; // next panel to hand out
const C_PANELS = 1; // panels computed by workers (statistics, for tests)
const C_ERROR = 2; // 1 when a worker failed during a job
const C_STATE = 4; // state of worker w at C_STATE + w
const S_DEAD = -2;
const S_STARTING = -1;
const S_IDLE = 0;
const S_OFFERED = 1;
const S_TAKEN = 2;
const S_DONE = 3;
const P_COUNT = 18;
/**
 * How long an idle worker polls for its next job before it sleeps in Atomics.wait, and how long
 * the caller polls for the workers' end of a job: waking a thread from Atomics.wait costs tens of
 * microseconds, and in a net the next large product often follows within a millisecond. Forward
 * passes (2 cores, batch 1, interleaved runs): a few percent faster than waiting at once.
 */
const WORKER_SPIN_MS = 1;
const SETTLE_SPIN_MS = 2;

/**
 * Threads from the environment: `threads` = min(cores, CAFFE_TS_THREADS or 2, 8) is the default;
 * `allowed` is false with CAFFE_TS_THREADS=1 (then no shared memory and no worker, ever).
 */
function readThreadConfig(): { threads: number; allowed: boolean; reason: string } {
  let cores = 1;
  try {
    cores = availableParallelism();
  } catch {
    // keep 1
  }
  const env = typeof process === 'object' ? process.env?.CAFFE_TS_THREADS : undefined;
  let want = 2;
  if (env !== undefined && env.trim() !== '') {
    const n = Number(env);
    if (n === 1) return { threads: 1, allowed: false, reason: 'CAFFE_TS_THREADS=1' };
    if (Number.isInteger(n) && n > 1) want = n;
  }
  const threads = Math.max(1, Math.min(want, cores, MAX_THREADS));
  return { threads, allowed: true, reason: threads === 1 ? 'one core' : '' };
}

let threadConfig = readThreadConfig();

const kernels = loadWasm();
/** The single-threaded kernel (null: no wasm, gemm() runs the JS kernel). */
const wasm = kernels?.single ?? null;
/** The kernel on shared memory, for products that may be split (null: one thread only). */
const wasmShared = kernels?.shared ?? null;

/** Which kernel gemm() uses for products that are not tiny, and why not wasm when it is 'js'. */
export const gemmBackend: { readonly kernel: 'wasm-simd' | 'js'; readonly reason: string } = Object.freeze({
  kernel: wasm ? 'wasm-simd' : 'js',
  reason: wasm ? '' : wasmUnavailable,
});

/** Products (m n k of one operand block) from this many multiply-adds are split between threads. */
let parMinWork = 1 << 21;
/** Threads a product is shared between (1: single-threaded). */
let parThreads = wasmShared ? threadConfig.threads : 1;
/** Products below this many multiply-adds (and below parMinWork) stay on the unshared memory. */
const SHARED_MIN_WORK = 1 << 21;

/** The instance for a product: the shared one when the product may be split. */
function pickKernel(single: WasmKernel, M: number, N: number, K: number): WasmKernel {
  return wasmShared !== null && parThreads > 1 && M * N * K >= Math.min(SHARED_MIN_WORK, parMinWork) ? wasmShared : single;
}
/** Testing: the calling thread leaves every panel to the workers. */
let parWorkersOnly = false;

interface Pool {
  workers: Worker[];
  ctrl: Int32Array;
  params: Float64Array;
  /** Panel c of the current job covers rows or columns bounds[c] .. bounds[c + 1]. */
  bounds: Int32Array;
  /** Set when a worker failed during a job: the pool is no longer used. */
  broken: string;
}

let pool: Pool | null = null;
let poolFailure = '';

// The worker: instantiates the module on the shared memory, then serves jobs. Its panel loop is
// the twin of the one in splitCall (keep them alike).
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctrl, params: P, bounds, slot, packA, packB, tile } = workerData;
const S = ${C_STATE} + slot;
const SPIN_MS = ${WORKER_SPIN_MS};
let gemm;
try {
  gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
} catch (e) {
  Atomics.store(ctrl, S, ${S_DEAD});
  Atomics.notify(ctrl, S);
  throw e;
}
Atomics.store(ctrl, S, ${S_IDLE});
Atomics.notify(ctrl, S);
for (;;) {
  let s = Atomics.load(ctrl, S);
  if (s !== ${S_OFFERED}) {
    // Poll a while before sleeping (see WORKER_SPIN_MS).
    const end = performance.now() + SPIN_MS;
    for (let i = 1; s !== ${S_OFFERED}; i++) {
      if ((i & 255) === 0 && performance.now() > end) break;
      s = Atomics.load(ctrl, S);
    }
    if (s !== ${S_OFFERED}) {
      Atomics.wait(ctrl, S, s);
      continue;
    }
  }
  if (Atomics.compareExchange(ctrl, S, ${S_OFFERED}, ${S_TAKEN}) !== ${S_OFFERED}) continue;
  try {
    const flags = P[0], tA = flags & 1, tB = flags & 2, m = P[2], n = P[3], k = P[4], alpha = P[5], pA = P[6], lda = P[7];
    const pB = P[8], ldb = P[9], beta = P[10], pC = P[11], ldc = P[12], mcb = P[13], kcb = P[14];
    const ncb = P[15], rows = P[16], panels = P[17];
    for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < panels; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
      const s0 = bounds[c];
      const len = bounds[c + 1] - s0;
      if (rows) {
        gemm(flags, len, n, k, alpha, tA ? pA + 4 * s0 : pA + 4 * s0 * lda, lda, pB, ldb, beta,
          pC + 4 * s0 * ldc, ldc, 0, packA, packB, tile, mcb, kcb, ncb);
      } else {
        gemm(flags, m, len, k, alpha, pA, lda, tB ? pB + 4 * s0 * ldb : pB + 4 * s0, ldb, beta,
          pC + 4 * s0, ldc, 0, packA, packB, tile, mcb, kcb, ncb);
      }
      Atomics.add(ctrl, ${C_PANELS}, 1);
    }
  } catch (e) {
    Atomics.store(ctrl, ${C_ERROR}, 1);
  }
  Atomics.store(ctrl, S, ${S_DONE});
  Atomics.notify(ctrl, S);
}
`;

/** Starts the worker threads (once; they start in the background); null if they cannot be. */
function startPool(threads: number): Pool | null {
  if (pool !== null) return pool;
  if (poolFailure || wasmShared === null) return null;
  const n = threads - 1;
  const workers: Worker[] = [];
  try {
    const ctrl = new Int32Array(new SharedArrayBuffer(4 * (C_STATE + n)));
    const params = new Float64Array(new SharedArrayBuffer(8 * P_COUNT));
    const bounds = new Int32Array(new SharedArrayBuffer(4 * (MAX_PANELS + 1)));
    ctrl.fill(S_STARTING, C_STATE);
    const p: Pool = { workers, ctrl, params, bounds, broken: '' };
    for (let w = 0; w < n; w++) {
      const scratch = (w + 1) * WASM_SCRATCH;
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [],
        workerData: {
          module: wasmShared.module, memory: wasmShared.memory, ctrl, params, bounds, slot: w,
          packA: scratch + WASM_PACK_A, packB: scratch + WASM_PACK_B, tile: scratch + WASM_TILE,
        },
      });
      worker.unref();
      // A worker that dies is never offered a job again; 'error' needs a listener (else it throws here).
      const dead = (): void => {
        Atomics.store(ctrl, C_STATE + w, S_DEAD);
        Atomics.notify(ctrl, C_STATE + w);
      };
      worker.on('error', dead);
      worker.on('exit', dead);
      workers.push(worker);
    }
    pool = p;
    return p;
  } catch (e) {
    poolFailure = `cannot start worker threads (${(e as Error).message})`;
    for (const w of workers) void w.terminate();
    return null;
  }
}

/** Whether a block of a product is worth sharing between threads (see parMinWork). */
function shouldSplit(m: number, n: number, k: number): boolean {
  return parThreads > 1 && m * n * k >= parMinWork && Math.max(m, n) >= 2 * PANEL_MIN;
}

/**
 * One call of the wasm kernel on operands already in the shared memory (addresses in bytes),
 * shared between threads when the workers are up; else on this thread alone. Returns false if
 * a worker failed during the call (C is then unreliable; the pool is not used again).
 */
function splitCall(
  ex: WasmGemmExports, flags: number, m: number, n: number, k: number, alpha: number,
  pA: number, lda: number, pB: number, ldb: number, beta: number, pC: number, ldc: number,
): boolean {
  const p = startPool(parThreads);
  if (p === null || p.broken) {
    ex.gemm(flags, m, n, k, alpha, pA, lda, pB, ldb, beta, pC, ldc, 0, WASM_PACK_A, WASM_PACK_B, WASM_TILE, WASM_MC, WASM_KC, WASM_NC);
    return true;
  }
  const { ctrl, params: P, bounds } = p;
  const nWorkers = Math.min(p.workers.length, parThreads - 1);
  // Split the longer side of C (the other operand is then packed by every thread, the smaller
  // redundancy) into panels of decreasing size (guided scheduling): each is 1/(2 T) of what is
  // left, so the work balances, and a thread that is descheduled (a busy core) while it holds
  // the last panels keeps the others waiting only briefly.
  const rows = m > n;
  const dim = rows ? m : n;
  const unit = WASM_NR;
  const threads = nWorkers + 1;
  let panels = 0;
  for (let start = 0; start < dim; panels++) {
    bounds[panels] = start;
    const size = panels === MAX_PANELS - 1 ? dim : Math.max(PANEL_MIN, Math.ceil((dim - start) / (2 * threads) / unit) * unit);
    start = Math.min(dim, start + size);
  }
  bounds[panels] = dim;
  P[0] = flags; P[1] = 0; P[2] = m; P[3] = n; P[4] = k; P[5] = alpha; P[6] = pA; P[7] = lda; P[8] = pB;
  P[9] = ldb; P[10] = beta; P[11] = pC; P[12] = ldc; P[13] = WASM_MC; P[14] = WASM_KC; P[15] = WASM_NC;
  P[16] = rows ? 1 : 0; P[17] = panels;
  Atomics.store(ctrl, C_NEXT, 0);
  let offered = 0;
  for (let w = 0; w < nWorkers; w++) {
    if (Atomics.compareExchange(ctrl, C_STATE + w, S_IDLE, S_OFFERED) === S_IDLE) {
      Atomics.notify(ctrl, C_STATE + w);
      offered++;
    }
  }
  if (offered === 0) {
    // No worker is up yet (they are starting), or none is left.
    ex.gemm(flags, m, n, k, alpha, pA, lda, pB, ldb, beta, pC, ldc, 0, WASM_PACK_A, WASM_PACK_B, WASM_TILE, WASM_MC, WASM_KC, WASM_NC);
    return true;
  }
  if (parWorkersOnly) {
    // Testing: let the workers take the job and every panel (a bounded wait, then help).
    for (let w = 0; w < nWorkers; w++) {
      for (let t = 0; t < 100 && Atomics.load(ctrl, C_STATE + w) === S_OFFERED; t++) Atomics.wait(ctrl, C_STATE + w, S_OFFERED, 100);
    }
    if (!settle(p, nWorkers)) return false;
  }
  for (let c = Atomics.add(ctrl, C_NEXT, 1); c < panels; c = Atomics.add(ctrl, C_NEXT, 1)) {
    const s0 = bounds[c];
    const len = bounds[c + 1] - s0;
    if (rows) {
      ex.gemm(flags, len, n, k, alpha, flags & 1 ? pA + 4 * s0 : pA + 4 * s0 * lda, lda, pB, ldb, beta,
        pC + 4 * s0 * ldc, ldc, 0, WASM_PACK_A, WASM_PACK_B, WASM_TILE, WASM_MC, WASM_KC, WASM_NC);
    } else {
      ex.gemm(flags, m, len, k, alpha, pA, lda, flags & 2 ? pB + 4 * s0 * ldb : pB + 4 * s0, ldb, beta,
        pC + 4 * s0, ldc, 0, WASM_PACK_A, WASM_PACK_B, WASM_TILE, WASM_MC, WASM_KC, WASM_NC);
    }
  }
  return settle(p, nWorkers);
}

/**
 * Withdraws the offers no worker took, and waits for the workers that took one. Returns false
 * if one failed during the job (then the pool is marked broken).
 */
function settle(p: Pool, nWorkers: number): boolean {
  const { ctrl } = p;
  let ok = true;
  for (let w = 0; w < nWorkers; w++) {
    const i = C_STATE + w;
    if (Atomics.compareExchange(ctrl, i, S_OFFERED, S_IDLE) === S_OFFERED) continue;
    let spinEnd = 0;
    for (let polls = 0; ; polls++) {
      const s = Atomics.load(ctrl, i);
      if (s === S_TAKEN) {
        // Poll first (see SETTLE_SPIN_MS): the worker is usually within a panel of its end.
        if (polls === 0) spinEnd = performance.now() + SETTLE_SPIN_MS;
        else if ((polls & 63) !== 0 || performance.now() < spinEnd) continue;
        else Atomics.wait(ctrl, i, S_TAKEN, 1000);
      }
      else if (s === S_DONE) {
        Atomics.compareExchange(ctrl, i, S_DONE, S_IDLE);
        break;
      } else {
        // S_DEAD: stopped during the job, its panels may be half written. (S_IDLE: already
        // settled by the testing path.)
        if (s === S_DEAD) ok = false;
        break;
      }
    }
  }
  if (Atomics.load(ctrl, C_ERROR) !== 0) ok = false;
  if (!ok) p.broken = 'a gemm worker thread failed';
  return ok;
}

/**
 * Sets how many threads gemm() shares large products between (1: single-threaded, exactly the
 * one-thread kernel; at most 8), whatever the number of cores; returns the previous value.
 * Without shared memory or workers, or with CAFFE_TS_THREADS=1 in the environment, gemm() stays
 * on one thread whatever this says. Workers are started once, never stopped: after the first
 * split product the count cannot exceed the workers started + 1; lowering it leaves some idle.
 */
export function setGemmThreads(threads: number): number {
  const old = parThreads;
  parThreads = Math.max(1, Math.min(MAX_THREADS, Math.floor(threads) || 1));
  if (wasmShared === null || poolFailure) parThreads = 1;
  else if (pool !== null && pool.workers.length < parThreads - 1) parThreads = pool.workers.length + 1;
  return old;
}

/** Sets the size (multiply-adds of one block, m n k) from which products are split; returns the previous one. */
export function setGemmThreadMinWork(work: number): number {
  const old = parMinWork;
  parMinWork = Math.max(0, work);
  return old;
}

/** Testing: when true, the calling thread leaves the panels of split products to the workers. */
export function setGemmWorkersOnly(on: boolean): boolean {
  const old = parWorkersOnly;
  parWorkersOnly = on;
  return old;
}

/**
 * Starts the worker threads now (gemm() starts them at the first large product, without waiting)
 * and waits until they run, or timeoutMs; returns the number of threads large products will use.
 */
export function gemmThreadsReady(timeoutMs = 10_000): number {
  if (parThreads <= 1) return 1;
  const p = startPool(parThreads);
  if (p === null) return 1;
  const end = Date.now() + timeoutMs;
  let up = 1;
  for (let w = 0; w < Math.min(p.workers.length, parThreads - 1); w++) {
    for (;;) {
      const s = Atomics.load(p.ctrl, C_STATE + w);
      const left = end - Date.now();
      if (s !== S_STARTING || left <= 0) {
        if (s >= S_IDLE) up++;
        break;
      }
      Atomics.wait(p.ctrl, C_STATE + w, S_STARTING, left);
    }
  }
  return p.broken ? 1 : up;
}

/** How gemm() uses threads: the configured count, the workers running, why one thread, statistics. */
export function gemmThreadInfo(): { threads: number; workers: number; minWork: number; reason: string; workerPanels: number } {
  const p = pool;
  let workers = 0;
  if (p) for (let w = 0; w < p.workers.length; w++) if (Atomics.load(p.ctrl, C_STATE + w) >= S_IDLE) workers++;
  let reason = '';
  if (wasm === null) reason = `no wasm kernel (${wasmUnavailable})`;
  else if (wasmShared === null) reason = threadConfig.reason || 'no shared memory';
  else if (poolFailure) reason = poolFailure;
  else if (p?.broken) reason = p.broken;
  else if (parThreads === 1) reason = threadConfig.threads === 1 && threadConfig.reason ? threadConfig.reason : 'setGemmThreads(1)';
  return { threads: reason ? 1 : parThreads, workers, minWork: parMinWork, reason, workerPanels: p ? Atomics.load(p.ctrl, C_PANELS) : 0 };
}

/**
 * Sets how many bytes of operands the wasm kernel copies into its memory at once (default 64 MiB,
 * clamped to [64 KiB, 96 MiB]; the module's memory is capped at 128 MiB); returns the previous
 * value. Larger products are computed in blocks. Memory already grown is kept. Mainly for tests.
 */
export function setGemmWasmBudget(bytes: number): number {
  const old = wasmDataBudget;
  wasmDataBudget = Math.min(96 << 20, Math.max(64 << 10, Math.floor(bytes)));
  return old;
}

/** Grows the kernel's memory to at least `bytes`; returns the float32 view of it. */
function wasmReserve(kernel: WasmKernel, bytes: number): Float32Array {
  const { memory } = kernel;
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / 65536));
  if (kernel.heap.buffer !== memory.buffer) kernel.heap = new Float32Array(memory.buffer);
  return kernel.heap;
}

/**
 * Whether to take the wasm kernel. A wasm call costs ~0.5 us of fixed overhead (copies, block
 * set-up), which the JS direct loops beat only below ~128 multiply-adds (4x4x8); from 4x4x16 up,
 * including vector shapes (M or N = 1) and the K = 1 bias products, wasm is 1.4-30x faster.
 */
function useWasm(M: number, N: number, K: number): boolean {
  return M * N * K >= WASM_MIN_WORK;
}
const WASM_MIN_WORK = 128;

/** Room for the alignment padding of the three operand blocks (see wasmGemm). */
const ALIGN_SLACK = 32;
const align8 = (x: number): number => (x + 7) & ~7;

/** Bytes of per-thread scratch at the start of a kernel's memory. */
function scratchEnd(kernel: WasmKernel): number {
  return (kernel.module !== null ? parThreads : 1) * WASM_SCRATCH;
}

/** Where the operands of a call start: after the scratch and the staging region. */
function operandBase(kernel: WasmKernel): number {
  return Math.max(scratchEnd(kernel), kernel.stageAt + kernel.stageBytes);
}

// Block sizes of the operand copies (set by blockSizes).
let blkM = 0;
let blkN = 0;
let blkK = 0;

/**
 * Block sizes for the copies: whole operands when they fit the budget, else halve the largest of
 * the block's sides until they do (each has a floor, at which any budget >= 64 KiB fits). A B
 * read in place (staged) takes no room. K blocks stay multiples of WASM_KC, so blocking never
 * changes the kernel's summation order.
 */
function blockSizes(M: number, N: number, K: number, copyB: boolean): void {
  let kb = K <= WASM_KB ? K : WASM_KB;
  let mb = M;
  let nb = N;
  const budget = wasmDataBudget / 4;
  while (mb * kb + (copyB ? kb * nb : 0) + mb * nb > budget) {
    if (kb > WASM_KC && kb >= mb && kb >= nb) kb = Math.max(WASM_KC, Math.ceil(kb / 2 / WASM_KC) * WASM_KC);
    else if (mb >= nb && mb > WASM_NR) mb = Math.max(WASM_NR, Math.ceil(mb / 2 / WASM_NR) * WASM_NR);
    else if (nb > WASM_NR) nb = Math.max(WASM_NR, Math.ceil(nb / 2 / WASM_NR) * WASM_NR);
    else if (kb > WASM_KC) kb = Math.max(WASM_KC, Math.ceil(kb / 2 / WASM_KC) * WASM_KC);
    else break;
  }
  blkM = mb;
  blkN = nb;
  blkK = kb;
}

let stageOn = true;
/** Largest staging region: the operands keep room for the copy budget in the 128 MiB memory. */
const STAGE_MAX = 24 << 20;

/**
 * A view of `count` floats inside the wasm kernel's memory, for the B operand of the products
 * gemm(transA, transB, M, N, K, ...) that follow: a B (or a subarray of it) lying there is read in
 * place instead of being copied in. Callers fill it (im2col writes the column buffer straight
 * into it) and pass it, or subarrays, as B. The view stays valid and its contents untouched until
 * the next gemmStage call, as long as only products of this M x N x K shape run in between (any
 * other product may grow the memory, which detaches the view). Null when gemm() would not take
 * the unshared wasm memory for this shape (tiny products, products that may be split between
 * threads), or it would not fit: use a JS buffer then. Conv layers with 1 thread: 3-6% faster.
 */
export function gemmStage(count: number, M: number, N: number, K: number): Float32Array | null {
  if (wasm === null || !stageOn || count <= 0 || M <= 0 || N <= 0 || K <= 0 || !useWasm(M, N, K)) return null;
  const bytes = Math.ceil((4 * count) / 64) * 64;
  if (bytes > STAGE_MAX) return null;
  const kernel = pickKernel(wasm, M, N, K);
  // Not on the shared memory: im2col's row copies pair sources and destinations that differ in
  // alignment mod 8 bytes, which V8 copies into a SharedArrayBuffer byte by byte (im2col of a
  // 64 x 56 x 56 image, 3x3: 2.4 ms there against 0.45 into an ArrayBuffer, where the aligned
  // copy in costs 0.7), so there filling a JS buffer and copying it in is faster.
  if (kernel.module !== null) return null;
  const start = scratchEnd(kernel);
  // A region overlapping the scratch (threads were added since) moves; a larger one is re-laid.
  let stageAt = kernel.stageAt;
  let stageBytes = kernel.stageBytes;
  if (stageAt < start || stageBytes < bytes) {
    stageAt = start;
    stageBytes = bytes;
  }
  blockSizes(M, N, K, false);
  // Reserve the products' operands now, so that they do not grow the memory under the view.
  const end = Math.max(start, stageAt + stageBytes) + 4 * (blkM * blkK + blkM * blkN) + ALIGN_SLACK;
  if (end > WASM_MAX_PAGES * 65536) return null;
  kernel.stageAt = stageAt;
  kernel.stageBytes = stageBytes;
  const h = wasmReserve(kernel, end);
  return h.subarray(kernel.stageAt >> 2, (kernel.stageAt >> 2) + count);
}

/** Testing: when false, gemmStage() returns null (callers use their JS buffers); returns the previous value. */
export function setGemmStaging(on: boolean): boolean {
  const old = stageOn;
  stageOn = on;
  return old;
}

/** Byte address of B in the kernel's staging region, or -1 when B is elsewhere (to be copied in). */
function stagedAt(kernel: WasmKernel, B: Float32Array, floats: number): number {
  if (kernel.stageBytes === 0 || B.buffer !== kernel.heap.buffer) return -1;
  const at = B.byteOffset;
  const stageAt = kernel.stageAt;
  if (stageAt < scratchEnd(kernel) || at < stageAt || at + 4 * floats > stageAt + kernel.stageBytes) return -1;
  return at;
}

function wasmGemm(
  kernel: WasmKernel,
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
): void {
  const inB = stagedAt(kernel, B, K * N);
  blockSizes(M, N, K, inB < 0);
  const mb = blkM;
  const nb = blkN;
  const kb = blkK;
  // Scratch for every thread that may take part, the staging region, then the operands. A
  // staging region that leaves too little room for the copied operands is dropped.
  const shared = kernel.module !== null;
  const copied = 4 * (mb * kb + (inB < 0 ? kb * nb : 0) + mb * nb) + ALIGN_SLACK;
  if (inB < 0 && operandBase(kernel) + copied > WASM_MAX_PAGES * 65536) kernel.stageBytes = 0;
  // Each block starts 8-byte aligned, plus 4 bytes when its JS array starts at an odd float:
  // V8 copies to and from a SharedArrayBuffer word by word only when both sides have the same
  // alignment mod 8, else byte by byte (4x slower). Addresses never change the results.
  const pA = operandBase(kernel) + ((A.byteOffset >> 2) & 1) * 4;
  const pB = align8(pA + 4 * mb * kb) + ((B.byteOffset >> 2) & 1) * 4;
  const pC = align8(inB < 0 ? pB + 4 * kb * nb : pB) + ((C.byteOffset >> 2) & 1) * 4;
  const h = wasmReserve(kernel, pC + 4 * mb * nb);
  const { ex } = kernel;
  const tA = transA ? 1 : 0;
  const tB = transB ? 1 : 0;
  for (let i0 = 0; i0 < M; i0 += mb) {
    const m = Math.min(mb, M - i0);
    for (let j0 = 0; j0 < N; j0 += nb) {
      const n = Math.min(nb, N - j0);
      // If a worker fails during the block (never seen: it would take an engine failure), the
      // block is computed again on this thread: C has not been written yet, and the pool is retired.
      for (let ok = false; !ok; ) {
        ok = true;
        // C block (m x n, row stride n in wasm memory); beta == 0 never reads it.
        if (beta !== 0) copyIn(h, pC >> 2, C, i0 * N + j0, N, m, n);
        for (let k0 = 0; k0 < K && ok; k0 += kb) {
          const k = Math.min(kb, K - k0);
          // op(A)[i0 .. i0+m, k0 .. k0+k]: m rows of A (M x K), or k rows of A (K x M) when transposed.
          if (transA) copyIn(h, pA >> 2, A, k0 * M + i0, M, k, m);
          else copyIn(h, pA >> 2, A, i0 * K + k0, K, m, k);
          // op(B)[k0 .. k0+k, j0 .. j0+n]: k rows of B (K x N), or n rows of B (N x K) when
          // transposed; a staged B is read where it is, with its own row stride.
          let b = pB;
          let ldb = transB ? k : n;
          if (inB >= 0) {
            b = inB + 4 * (transB ? j0 * K + k0 : k0 * N + j0);
            ldb = transB ? K : N;
          } else if (transB) copyIn(h, pB >> 2, B, j0 * K + k0, K, n, k);
          else copyIn(h, pB >> 2, B, k0 * N + j0, N, k, n);
          const lda = transA ? m : k;
          const bt = k0 === 0 ? beta : 1;
          const flags = tA | (tB << 1) | (swapped(m, n) ? 4 : 0);
          if (shared && shouldSplit(m, n, k)) ok = splitCall(ex, flags, m, n, k, alpha, pA, lda, b, ldb, bt, pC, n);
          else ex.gemm(flags, m, n, k, alpha, pA, lda, b, ldb, bt, pC, n, 0, WASM_PACK_A, WASM_PACK_B, WASM_TILE, WASM_MC, WASM_KC, WASM_NC);
        }
      }
      copyOut(C, i0 * N + j0, N, h, pC >> 2, m, n);
    }
  }
}

/**
 * Whether the kernel takes a product in its swapped orientation (C^T = op(B)^T op(A)^T, see
 * gemm.wat): when that pads less, i.e. when its 16-wide tiles lie better along M than along N
 * (ResNet-50's N = 49 and 196 against M = 256 .. 2048). Either way gives the same bits.
 */
function swapped(m: number, n: number): boolean {
  const pad = (x: number, w: number): number => Math.ceil(x / w) * w;
  return pad(n, WASM_MR) * pad(m, WASM_NR) < pad(m, WASM_MR) * pad(n, WASM_NR);
}

/** Copy a rows x cols block (row stride ld) of src from offset off to h[dst..], packed (stride cols). */
function copyIn(h: Float32Array, dst: number, src: Float32Array, off: number, ld: number, rows: number, cols: number): void {
  if (cols === ld) {
    h.set(src.subarray(off, off + rows * cols), dst);
    return;
  }
  for (let r = 0; r < rows; r++, off += ld, dst += cols) h.set(src.subarray(off, off + cols), dst);
}

/** Copy a packed rows x cols block h[src..] into C at offset off with row stride ld. */
function copyOut(C: Float32Array, off: number, ld: number, h: Float32Array, src: number, rows: number, cols: number): void {
  if (cols === ld) {
    C.set(h.subarray(src, src + rows * cols), off);
    return;
  }
  for (let r = 0; r < rows; r++, off += ld, src += cols) C.set(h.subarray(src, src + cols), off);
}

/** Reference GEMM (plain triple loop, float64 sums); for tests and the benchmark baseline. */
export function gemmNaive(
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
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[k * M + i] : A[i * K + k];
        const b = transB ? B[j * K + k] : B[k * N + j];
        s += a * b;
      }
      C[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * N + j]);
    }
  }
}

/** y = alpha * op(A) * x + beta * y, A is M x N row-major (Caffe's caffe_cpu_gemv). */
export function gemv(
  transA: boolean,
  M: number,
  N: number,
  alpha: number,
  A: Float32Array,
  x: Float32Array,
  beta: number,
  y: Float32Array,
): void {
  if (!transA) {
    // y (M) = A (M x N) x (N): contiguous dot products.
    for (let i = 0; i < M; i++) {
      const o = i * N;
      let s = 0;
      for (let k = 0; k < N; k++) s += A[o + k] * x[k];
      y[i] = alpha * s + (beta === 0 ? 0 : beta * y[i]);
    }
    return;
  }
  // y (N) = A^T x: walk A row by row, accumulating in doubles.
  const acc = rowScratch(N);
  acc.fill(0, 0, N);
  for (let k = 0; k < M; k++) {
    const xk = x[k];
    const o = k * N;
    for (let i = 0; i < N; i++) acc[i] += A[o + i] * xk;
  }
  for (let i = 0; i < N; i++) y[i] = alpha * acc[i] + (beta === 0 ? 0 : beta * y[i]);
}
