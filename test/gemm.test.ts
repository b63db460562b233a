import { describe, expect, it } from 'vitest';
import { gemm, gemv } from '../src/kernels/gemm.js';
import { rng } from './gradient-checker.js';

function rand(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  return a;
}

/** float64 reference of C = alpha op(A) op(B) + beta C. */
function reference(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
      out[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * N + j]);
    }
  }
  return out;
}

function maxErr(got: Float32Array, want: Float64Array, K: number): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]) + Math.sqrt(K) * 1e-3);
    if (!(d <= e)) e = d; // NaN propagates as a failure
  }
  return e;
}

describe('gemm', () => {
  const r = rng(42);
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 31, 33, 64, 67];
  const cases: [number, number, number][] = [];
  // A spread of shapes: tiny, odd, exact tile multiples and shapes crossing the block sizes.
  for (let t = 0; t < 40; t++) {
    cases.push([sizes[Math.floor(r() * sizes.length)], sizes[Math.floor(r() * sizes.length)], sizes[Math.floor(r() * sizes.length)]]);
  }
  cases.push([1, 1, 1], [1, 300, 5], [300, 1, 5], [5, 9, 1], [4, 8, 300], [130, 17, 9], [9, 2100, 3], [6, 2050, 260], [131, 9, 520], [64, 40, 600]);

  for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`matches a float64 reference, op ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`, () => {
      for (const [M, N, K] of cases) {
        for (const [alpha, beta] of [[1, 0], [0.5, 1], [-1.5, 0.25], [2, -1]]) {
          const A = rand(M * K, r);
          const B = rand(K * N, r);
          const C = rand(M * N, r);
          const want = reference(tA, tB, M, N, K, alpha, A, B, beta, C);
          gemm(tA, tB, M, N, K, alpha, A, B, beta, C);
          const e = maxErr(C, want, K);
          if (e > 1e-5) expect.fail(`M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}: error ${e}`);
        }
      }
    });
  }

  it('ignores NaN in C when beta is 0 (small and packed paths)', () => {
    for (const [M, N, K] of [[3, 4, 5], [40, 50, 60]]) {
      const A = rand(M * K, r);
      const B = rand(K * N, r);
      const C = new Float32Array(M * N).fill(NaN);
      gemm(false, false, M, N, K, 1, A, B, 0, C);
      expect(C.every(Number.isFinite)).toBe(true);
      expect(maxErr(C, reference(false, false, M, N, K, 1, A, B, 0, C), K)).toBeLessThan(1e-5);
    }
  });

  it('alpha 0 or K 0 only scales C by beta', () => {
    const C = Float32Array.from([1, 2, 3, 4, 5, 6]);
    gemm(false, false, 2, 3, 0, 1, new Float32Array(0), new Float32Array(0), 2, C);
    expect(Array.from(C)).toEqual([2, 4, 6, 8, 10, 12]);
    gemm(false, false, 2, 3, 4, 0, rand(8, r), rand(12, r), 0, C.fill(NaN));
    expect(Array.from(C)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('works on subarray views and leaves the rest of C alone', () => {
    const M = 9, N = 11, K = 13;
    const bigA = rand(M * K + 7, r);
    const bigB = rand(K * N + 5, r);
    const bigC = rand(M * N + 10, r);
    const A = bigA.subarray(7);
    const B = bigB.subarray(5);
    const C = bigC.subarray(3, 3 + M * N);
    const before = Float32Array.from(bigC);
    const want = reference(false, true, M, N, K, 1, A, B, 1, C);
    gemm(false, true, M, N, K, 1, A, B, 1, C);
    expect(maxErr(C, want, K)).toBeLessThan(1e-5);
    expect(Array.from(bigC.subarray(0, 3))).toEqual(Array.from(before.subarray(0, 3)));
    expect(Array.from(bigC.subarray(3 + M * N))).toEqual(Array.from(before.subarray(3 + M * N)));
  });
});

describe('gemv', () => {
  it('matches gemm with a vector, both orientations', () => {
    const r = rng(7);
    for (const [M, N] of [[1, 1], [3, 7], [17, 5], [64, 129]]) {
      for (const trans of [false, true]) {
        const A = rand(M * N, r);
        const x = rand(trans ? M : N, r);
        const y = rand(trans ? N : M, r);
        const y2 = Float32Array.from(y);
        gemv(trans, M, N, 0.75, A, x, 0.5, y);
        // op(A) x as a gemm with a single column
        const rows = trans ? N : M;
        const cols = trans ? M : N;
        const want = reference(trans, false, rows, 1, cols, 0.75, A, x, 0.5, y2);
        expect(maxErr(y, want, cols)).toBeLessThan(1e-5);
      }
    }
  });
});
