// The plain-JS GEMM kernel (the fallback when WebAssembly SIMD is unavailable or CAFFE_TS_GEMM=js,
// and gemm()'s path for tiny products), with Caffe's caffe_cpu_gemm argument order:
//   C = alpha * op(A) * op(B) + beta * C,  op(A) is M x K, op(B) is K x N, C is M x N, row-major.
// Also gemv and the naive reference. gemm.ts dispatches to this kernel or to gemm-wasm.ts.
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

/**
 * C = alpha op(A) op(B) + beta C on the JS kernel, for M, N, K >= 1 and alpha != 0 (gemm.ts handles
 * the rest): direct loops for small or skinny products, else the packed path.
 */
export function jsGemm(
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

/** C[0 .. n) *= beta; beta == 0 overwrites with zeros (NaN in C never leaks in). */
export function scaleC(C: Float32Array, n: number, beta: number): void {
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
