import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStandaloneGemm } from './standalone-gemm.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  gemm,
  gemmBackend,
  gemmJs,
  gemmStage,
  gemmThreadInfo,
  gemmThreadsReady,
  gemmWasm,
  gemv,
  gemmPackCacheInfo,
  setGemmPackCacheBudget,
  setGemmThreadMinWork,
  setGemmThreads,
  setGemmStaging,
  setGemmWasmBudget,
  setGemmWorkersOnly,
  unsharedMemory,
} from '../src/kernels/gemm.js';
import { Blob } from '../src/graph/blob.js';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { createSolver } from '../src/solvers/registry.js';
import { createLayer } from '../src/layers/index.js';
import { setSeed } from '../src/kernels/rng.js';
import { fromObject } from '../src/proto/schema.js';
import { rng } from './gradient-checker.js';
// @ts-expect-error: plain ESM build script, no type declarations
import { assemble, assembleVariant, VARIANTS } from '../scripts/build-wasm.mjs';
import { wasmFma } from '../src/kernels/wasm-fma.js';

type Gemm = typeof gemm;

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

// Tolerances, in maxErr's units. The JS kernel sums in float64 and rounds to float32 once per
// 256-deep K slice: 1e-5 at any K here. The wasm kernel sums in float32 SIMD lanes, as Caffe's
// sgemm does, and float32 recursive summation has an error bound that grows linearly with K
// (gamma_K = K u, u = 2^-24, relative to the sum of |a b|): with these operands (uniform in
// [-1, 1]) the measured error reaches ~0.4 K u (1.2e-5 at K = 520), so it is allowed 2 K u,
// and never less than the JS kernel's 1e-5.
const tolJs = (_K: number): number => 1e-5;
const tolF32 = (K: number): number => Math.max(1e-5, 2 * K * 2 ** -24);

const kernels: [string, Gemm, (K: number) => number][] = [
  ['gemm', gemm, tolF32],
  ['gemmWasm', gemmWasm, tolF32],
  ['gemmJs', gemmJs, tolJs],
];

const TRANS = [[false, false], [true, false], [false, true], [true, true]] as const;
const op = (tA: boolean, tB: boolean): string => `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`;

/** Runs one product on fresh random operands and checks it against the float64 reference. */
function check(fn: Gemm, tol: (K: number) => number, r: () => number, tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number): void {
  const A = rand(M * K, r);
  const B = rand(K * N, r);
  const C = rand(M * N, r);
  const want = reference(tA, tB, M, N, K, alpha, A, B, beta, C);
  if (beta === 0) C.fill(NaN); // beta == 0 must ignore C's old contents
  fn(tA, tB, M, N, K, alpha, A, B, beta, C);
  const e = maxErr(C, want, K);
  if (!(e <= tol(K))) expect.fail(`${op(tA, tB)} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}: error ${e} > ${tol(K)}`);
}

describe('gemm', () => {
  it('uses the WebAssembly SIMD kernel, and its .wasm is assembled from the current .wat', async () => {
    if (process.env.CAFFE_TS_GEMM === 'js') return;
    expect(gemmBackend).toEqual({ kernel: 'wasm-simd', reason: '', fma: wasmFma.fma });
    const wat = new URL('../src/kernels/wasm/gemm.wat', import.meta.url);
    const bytes: Buffer = await assemble(wat.pathname, readFileSync(wat, 'utf8'));
    const committed = readFileSync(new URL('../src/kernels/wasm/gemm.wasm', import.meta.url));
    expect(committed.equals(bytes), 'src/kernels/wasm/gemm.wasm is stale: run npm run build').toBe(true);
    // And its FMA variant, generated from the same .wat.
    const variant = VARIANTS.find((v: { wasm: string }) => v.wasm === 'gemm-fma.wasm');
    const fmaBytes: Buffer = await assembleVariant(new URL('../src/kernels/wasm/', import.meta.url).pathname, variant);
    const fmaCommitted = readFileSync(new URL('../src/kernels/wasm/gemm-fma.wasm', import.meta.url));
    expect(fmaCommitted.equals(fmaBytes), 'src/kernels/wasm/gemm-fma.wasm is stale: run npm run build').toBe(true);
  });

  const r = rng(42);
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 31, 33, 64, 67];
  const cases: [number, number, number][] = [];
  // A spread of shapes: tiny, odd, exact tile multiples and shapes crossing the block sizes.
  for (let t = 0; t < 40; t++) {
    cases.push([sizes[Math.floor(r() * sizes.length)], sizes[Math.floor(r() * sizes.length)], sizes[Math.floor(r() * sizes.length)]]);
  }
  cases.push([1, 1, 1], [1, 300, 5], [300, 1, 5], [5, 9, 1], [4, 8, 300], [130, 17, 9], [9, 2100, 3], [6, 2050, 260], [131, 9, 520], [64, 40, 600]);
  // K = 1 (Caffe's bias products), vectors, and the wasm block edges: 2 x 16 micro-tiles,
  // 128-row, 256-deep and 1024-wide blocks (one either side of each), in both orientations of
  // the kernel (swapped when M pads better to 16 than N: 48 x 49, 1025 x 5, ...).
  cases.push([64, 3136, 1], [7, 13, 1], [1, 1000, 1], [1000, 1, 7], [1, 77, 300], [77, 1, 300]);
  cases.push([127, 9, 255], [128, 8, 256], [129, 10, 257], [4, 2047, 3], [3, 2048, 5], [5, 2049, 2], [12, 16, 511], [11, 15, 513]);
  cases.push([2, 16, 3], [3, 17, 5], [16, 2, 7], [17, 3, 9], [48, 49, 130], [64, 196, 20], [33, 1023, 6], [5, 1025, 7], [1025, 5, 9], [1040, 3, 4]);

  for (const [name, fn, tol] of kernels) {
    for (const [tA, tB] of TRANS) {
      it(`${name} matches a float64 reference, op ${op(tA, tB)}`, () => {
        for (const [M, N, K] of cases) {
          for (const [alpha, beta] of [[1, 0], [0.5, 1], [-1.5, 0.25], [2, -1]]) check(fn, tol, r, tA, tB, M, N, K, alpha, beta);
        }
      });
    }
  }

  it('gemm and gemmWasm on larger products (several K slices, row and column blocks)', () => {
    for (const fn of [gemm, gemmWasm]) {
      check(fn, tolF32, r, false, false, 300, 2100, 40, 1, 0);
      check(fn, tolF32, r, true, true, 257, 130, 1100, -0.5, 0.5);
      check(fn, tolF32, r, false, true, 64, 700, 2000, 1, 1);
      check(fn, tolF32, r, true, false, 520, 40, 4100, 1, 0); // K past one 4096-deep copy
    }
  });

  describe('wasm operand blocks under a small memory budget', () => {
    afterEach(() => {
      setGemmWasmBudget(64 << 20);
    });
    it('splits rows, columns and K into blocks and still matches', () => {
      setGemmWasmBudget(64 << 10); // 16K floats: every product below is cut up
      for (const [tA, tB] of TRANS) {
        for (const [M, N, K] of [[70, 90, 300], [33, 100, 5000], [300, 41, 9], [200, 300, 1], [9, 13, 9000]] as const) {
          for (const [alpha, beta] of [[1, 0], [-1.5, 0.25], [0.5, 1]]) check(gemmWasm, tolF32, r, tA, tB, M, N, K, alpha, beta);
        }
      }
    });
  });

  it('ignores NaN in C when beta is 0 (small and packed paths, every kernel)', () => {
    for (const [, fn, tol] of kernels) {
      for (const [M, N, K] of [[3, 4, 5], [40, 50, 60], [4, 8, 16], [129, 2049, 3]]) {
        const A = rand(M * K, r);
        const B = rand(K * N, r);
        const C = new Float32Array(M * N).fill(NaN);
        fn(false, false, M, N, K, 1, A, B, 0, C);
        expect(C.every(Number.isFinite)).toBe(true);
        expect(maxErr(C, reference(false, false, M, N, K, 1, A, B, 0, C), K)).toBeLessThanOrEqual(tol(K));
      }
    }
  });

  it('propagates NaN and Inf from A only into the rows that use them', () => {
    for (const [, fn] of kernels) {
      for (const [M, N, K] of [[5, 9, 7], [33, 70, 300]]) {
        const A = rand(M * K, r);
        const B = rand(K * N, r);
        A[2 * K + 3] = NaN; // op(A) row 2
        A[(M - 1) * K] = Infinity; // last row: +-Inf or NaN, never finite
        const C = new Float32Array(M * N);
        fn(false, false, M, N, K, 1, A, B, 0, C);
        for (let i = 0; i < M; i++) {
          const row = C.subarray(i * N, (i + 1) * N);
          if (i === 2) expect(row.every(Number.isNaN)).toBe(true);
          else if (i === M - 1) expect(row.some(Number.isFinite)).toBe(false);
          else expect(row.every(Number.isFinite)).toBe(true);
        }
      }
    }
  });

  it('alpha 0 or K 0 only scales C by beta', () => {
    for (const [, fn] of kernels) {
      const C = Float32Array.from([1, 2, 3, 4, 5, 6]);
      fn(false, false, 2, 3, 0, 1, new Float32Array(0), new Float32Array(0), 2, C);
      expect(Array.from(C)).toEqual([2, 4, 6, 8, 10, 12]);
      fn(false, false, 2, 3, 4, 0, rand(8, r), rand(12, r), 0, C.fill(NaN));
      expect(Array.from(C)).toEqual([0, 0, 0, 0, 0, 0]);
      fn(false, false, 0, 3, 4, 1, rand(0, r), rand(12, r), 0, C.fill(7));
      expect(Array.from(C)).toEqual([7, 7, 7, 7, 7, 7]);
    }
  });

  it('works on subarray views at odd offsets and leaves the rest of the buffers alone', () => {
    for (const [, fn, tol] of kernels) {
      for (const [tA, tB] of TRANS) {
        for (const [M, N, K] of [[9, 11, 13], [37, 45, 70], [5, 300, 1]]) {
          const bigA = rand(M * K + 12, r);
          const bigB = rand(K * N + 10, r);
          const bigC = rand(M * N + 10, r);
          const A = bigA.subarray(7, 7 + M * K);
          const B = bigB.subarray(5);
          const C = bigC.subarray(3, 3 + M * N);
          const beforeA = Float32Array.from(bigA);
          const beforeB = Float32Array.from(bigB);
          const beforeC = Float32Array.from(bigC);
          const want = reference(tA, tB, M, N, K, 1.25, A, B, -0.5, C);
          fn(tA, tB, M, N, K, 1.25, A, B, -0.5, C);
          expect(maxErr(C, want, K)).toBeLessThanOrEqual(tol(K));
          expect(Array.from(bigC.subarray(0, 3))).toEqual(Array.from(beforeC.subarray(0, 3)));
          expect(Array.from(bigC.subarray(3 + M * N))).toEqual(Array.from(beforeC.subarray(3 + M * N)));
          expect(bigA).toEqual(beforeA);
          expect(bigB).toEqual(beforeB);
        }
      }
    }
  });

  it('the wasm kernel agrees with the JS kernel to float32 accuracy on a conv-sized product', () => {
    const [M, N, K] = [64, 3136, 576];
    const A = rand(M * K, r);
    const B = rand(K * N, r);
    const cw = new Float32Array(M * N);
    const cj = new Float32Array(M * N);
    gemmWasm(false, false, M, N, K, 1, A, B, 0, cw);
    gemmJs(false, false, M, N, K, 1, A, B, 0, cj);
    let e = 0;
    for (let i = 0; i < cw.length; i++) e = Math.max(e, Math.abs(cw[i] - cj[i]) / (1 + Math.abs(cj[i])));
    expect(e).toBeLessThanOrEqual(tolF32(K));
  });

  it('falls back to the JS kernel when CAFFE_TS_GEMM=js', async () => {
    const saved = process.env.CAFFE_TS_GEMM;
    process.env.CAFFE_TS_GEMM = 'js';
    try {
      vi.resetModules();
      const mod = await import('../src/kernels/gemm.js');
      expect(mod.gemmBackend).toEqual({ kernel: 'js', reason: 'CAFFE_TS_GEMM=js', fma: false });
      expect(() => mod.gemmWasm(false, false, 1, 1, 1, 1, new Float32Array(1), new Float32Array(1), 0, new Float32Array(1))).toThrow(/unavailable/);
      for (const [tA, tB] of TRANS) check(mod.gemm, tolJs, r, tA, tB, 33, 70, 40, -1.5, 0.25);
    } finally {
      if (saved === undefined) delete process.env.CAFFE_TS_GEMM;
      else process.env.CAFFE_TS_GEMM = saved;
      vi.resetModules();
    }
  });
});

describe('gemm on several threads', () => {
  // Threads are forced on whatever the core count (setGemmThreads), and every product is split
  // (setGemmThreadMinWork(0)), so that small shapes and edge tiles take the threaded path too.
  // Skipped where the environment turns threads or the wasm kernel off.
  const off = process.env.CAFFE_TS_GEMM === 'js' || process.env.CAFFE_TS_THREADS === '1';
  let threads = 1;
  beforeAll(() => {
    setGemmThreads(2);
    threads = gemmThreadsReady();
  });
  afterEach(() => {
    setGemmThreadMinWork(1 << 21);
    setGemmWorkersOnly(false);
    setGemmWasmBudget(64 << 20);
  });
  afterAll(() => {
    setGemmThreads(gemmThreadInfo().threads);
  });

  it('starts its worker', () => {
    if (off) return;
    expect(threads).toBe(2);
    expect(gemmThreadInfo()).toMatchObject({ threads: 2, workers: 1, reason: '' });
  });

  /** C after fn(...) on one thread and on two, from the same operands (C pre-filled with NaN when beta == 0). */
  function both(fn: Gemm, tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number, r: () => number): [Float32Array, Float32Array] {
    const A = rand(M * K, r);
    const B = rand(K * N, r);
    const C = beta === 0 ? new Float32Array(M * N).fill(NaN) : rand(M * N, r);
    const one = Float32Array.from(C);
    const two = Float32Array.from(C);
    setGemmThreads(1);
    fn(tA, tB, M, N, K, alpha, A, B, beta, one);
    setGemmThreads(2);
    fn(tA, tB, M, N, K, alpha, A, B, beta, two);
    return [one, two];
  }

  function expectSameBits(one: Float32Array, two: Float32Array, what: string): void {
    const a = new Uint32Array(one.buffer, one.byteOffset, one.length);
    const b = new Uint32Array(two.buffer, two.byteOffset, two.length);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) expect.fail(`${what}: element ${i} is ${two[i]} on two threads, ${one[i]} on one`);
  }

  // Edge tiles (2 x 16, and 16 x 2 in the swapped orientation), panels of 32 and their
  // multiples, the 128-row, 256-deep and 1024-wide kernel blocks, the 4096-deep operand blocks,
  // tall and wide shapes (row and column panels).
  const shapes: [number, number, number][] = [
    [64, 64, 1], [65, 70, 3], [33, 64, 17], [64, 33, 17], [67, 131, 9], [131, 67, 9], [100, 257, 31],
    [257, 100, 31], [129, 130, 257], [7, 2100, 5], [2100, 7, 5], [5, 2049, 40], [300, 41, 600],
    [41, 300, 600], [70, 90, 4100], [1000, 1, 64], [1, 1000, 64], [64, 3136, 27], [255, 257, 63],
    [512, 49, 70], [256, 196, 33], [48, 1025, 20], [1025, 48, 20],
  ];

  for (const workersOnly of [false, true]) {
    it(`gives bit-identical results to one thread, every op, alpha and beta${workersOnly ? ', the workers computing every panel' : ''}`, () => {
      if (off) return;
      const r = rng(workersOnly ? 11 : 12);
      setGemmThreadMinWork(0);
      setGemmWorkersOnly(workersOnly);
      const before = gemmThreadInfo().workerPanels;
      for (const [tA, tB] of TRANS) {
        for (const [M, N, K] of shapes) {
          for (const [alpha, beta] of [[1, 0], [-1.5, 0.25], [0.5, 1]]) {
            const [one, two] = both(gemm, tA, tB, M, N, K, alpha, beta, r);
            expectSameBits(one, two, `${op(tA, tB)} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}`);
          }
        }
      }
      const panels = gemmThreadInfo().workerPanels - before;
      expect(panels).toBeGreaterThan(0);
      // In workers-only mode every panel of every split product is the worker's.
      if (workersOnly) expect(panels).toBeGreaterThan(TRANS.length * shapes.length * 3 * 2);
    });
  }

  it('is bit-identical on large products at the default threshold, and when operands come in blocks', () => {
    if (off) return;
    const r = rng(13);
    for (const [tA, tB] of TRANS) {
      for (const [M, N, K, beta] of [[256, 3136, 576, 0], [520, 40, 4100, 1], [64, 576, 3136, 0.5]] as const) {
        const [one, two] = both(gemm, tA, tB, M, N, K, 1, beta, r);
        expectSameBits(one, two, `${op(tA, tB)} M=${M} N=${N} K=${K}`);
      }
    }
    setGemmThreadMinWork(0);
    setGemmWasmBudget(64 << 10); // operand blocks of 16K floats
    for (const [tA, tB] of TRANS) {
      for (const [M, N, K] of [[70, 90, 300], [33, 100, 5000], [300, 41, 9]] as const) {
        const [one, two] = both(gemmWasm, tA, tB, M, N, K, -1.5, 0.25, r);
        expectSameBits(one, two, `${op(tA, tB)} M=${M} N=${N} K=${K}, 64 KiB budget`);
      }
    }
  });

  it('matches the float64 reference on split products, and leaves the rest of view buffers alone', () => {
    if (off) return;
    const r = rng(14);
    setGemmThreadMinWork(0);
    for (const [tA, tB] of TRANS) {
      for (const [M, N, K] of [[67, 131, 40], [150, 37, 300]]) {
        check(gemm, tolF32, r, tA, tB, M, N, K, 1.25, -0.5);
        const bigA = rand(M * K + 12, r);
        const bigB = rand(K * N + 10, r);
        const bigC = rand(M * N + 10, r);
        const A = bigA.subarray(7, 7 + M * K);
        const B = bigB.subarray(5);
        const C = bigC.subarray(3, 3 + M * N);
        const beforeC = Float32Array.from(bigC);
        const want = reference(tA, tB, M, N, K, 1.25, A, B, -0.5, C);
        gemm(tA, tB, M, N, K, 1.25, A, B, -0.5, C);
        expect(maxErr(C, want, K)).toBeLessThanOrEqual(tolF32(K));
        expect(Array.from(bigC.subarray(0, 3))).toEqual(Array.from(beforeC.subarray(0, 3)));
        expect(Array.from(bigC.subarray(3 + M * N))).toEqual(Array.from(beforeC.subarray(3 + M * N)));
      }
    }
  });

  it('stays on one thread with CAFFE_TS_THREADS=1, with bit-identical results and no SharedArrayBuffer', async () => {
    if (off) return;
    const saved = process.env.CAFFE_TS_THREADS;
    process.env.CAFFE_TS_THREADS = '1';
    try {
      vi.resetModules();
      const mod = await import('../src/kernels/gemm.js');
      expect(mod.gemmThreadInfo()).toMatchObject({ threads: 1, workers: 0, reason: 'CAFFE_TS_THREADS=1' });
      expect(mod.setGemmThreads(2)).toBe(1);
      expect(mod.gemmThreadsReady()).toBe(1);
      mod.setGemmThreadMinWork(0);
      const r = rng(15);
      for (const [tA, tB] of TRANS) {
        const [M, N, K] = [200, 300, 170];
        const A = rand(M * K, r);
        const B = rand(K * N, r);
        const one = new Float32Array(M * N);
        const two = new Float32Array(M * N);
        mod.gemm(tA, tB, M, N, K, 1, A, B, 0, one);
        setGemmThreadMinWork(0);
        gemm(tA, tB, M, N, K, 1, A, B, 0, two); // this module: two threads
        setGemmThreadMinWork(1 << 21);
        expectSameBits(one, two, op(tA, tB));
      }
      expect(mod.gemmThreadInfo()).toMatchObject({ threads: 1, workers: 0, workerPanels: 0 });
    } finally {
      if (saved === undefined) delete process.env.CAFFE_TS_THREADS;
      else process.env.CAFFE_TS_THREADS = saved;
      vi.resetModules();
    }
  });

  it('gives the same bits for operands at odd and even float offsets (blocks placed by alignment)', () => {
    if (off) return;
    const r = rng(25);
    for (const [M, N, K] of [[64, 12769, 27], [33, 301, 77], [300, 41, 601]] as const) {
      const A = rand(M * K, r);
      const B = rand(K * N, r);
      const C = rand(M * N, r);
      const want = Float32Array.from(C);
      gemm(false, false, M, N, K, 1, A, B, 0.5, want);
      for (const [oa, ob, oc] of [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [3, 2, 5]]) {
        const a = new Float32Array(M * K + oa).fill(NaN);
        const b = new Float32Array(K * N + ob).fill(NaN);
        const c = new Float32Array(M * N + oc).fill(NaN);
        a.set(A, oa);
        b.set(B, ob);
        c.set(C, oc);
        gemm(false, false, M, N, K, 1, a.subarray(oa), b.subarray(ob), 0.5, c.subarray(oc));
        expectSameBits(want, c.subarray(oc), `M=${M} N=${N} K=${K}, offsets ${oa} ${ob} ${oc}`);
      }
    }
  });

  // gemmStage: B operands written straight into the kernel's memory and read in place.
  describe('with B staged in the kernel memory', () => {
    afterEach(() => {
      setGemmThreads(2);
      setGemmStaging(true);
    });

    /** gemm() with B given in a staged view (group g of G) against B in a JS array: same bits, stage untouched. */
    function stagedVsCopied(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number, G: number, r: () => number, what: string): void {
      const A = rand(M * K, r);
      const Bs = rand(G * K * N, r);
      const C0 = beta === 0 ? new Float32Array(M * N).fill(NaN) : rand(M * N, r);
      const stage = gemmStage(G * K * N, M, N, K);
      if (off) return;
      // Products that may be split between threads run on the shared memory, which is never staged.
      const split = gemmThreadInfo().threads > 1 && M * N * K >= gemmThreadInfo().minWork;
      if (split) {
        expect(stage, what).toBeNull();
        return;
      }
      expect(stage, what).not.toBeNull();
      stage!.set(Bs);
      for (let g = 0; g < G; g++) {
        const want = Float32Array.from(C0);
        const got = Float32Array.from(C0);
        gemm(tA, tB, M, N, K, alpha, A, Bs.subarray(g * K * N, (g + 1) * K * N), beta, want);
        gemm(tA, tB, M, N, K, alpha, A, stage!.subarray(g * K * N, (g + 1) * K * N), beta, got);
        expectSameBits(want, got, `${what}, group ${g}`);
      }
      expectSameBits(Bs, stage!, `${what}: the staged B after the products`);
    }

    const stagedShapes: [number, number, number][] = [
      [4, 4, 8], [65, 70, 3], [33, 64, 17], [131, 67, 9], [7, 2100, 5], [300, 41, 600], [70, 90, 4100], [1, 1000, 64],
      [64, 3136, 27], [256, 784, 576], [520, 40, 4100],
    ];

    for (const mode of ['one thread', 'one thread, 64 KiB budget', 'two threads'] as const) {
      it(`gives the bits of a copied B, every op, alpha, beta and group (${mode})`, () => {
        const r = rng(21);
        setGemmThreads(mode === 'two threads' ? 2 : 1);
        if (mode === 'one thread, 64 KiB budget') setGemmWasmBudget(64 << 10);
        for (const [tA, tB] of TRANS) {
          for (const [M, N, K] of stagedShapes) {
            for (const [alpha, beta] of [[1, 0], [-1.5, 0.25], [0.5, 1]]) {
              stagedVsCopied(tA, tB, M, N, K, alpha, beta, M * N * K < 1e6 ? 3 : 1, r, `${op(tA, tB)} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}`);
            }
          }
        }
      });
    }

    it('is null for products gemm() keeps off wasm memory or may split, and when turned off', () => {
      expect(gemmStage(8, 2, 2, 2)).toBeNull();
      expect(gemmStage(0, 64, 64, 64)).toBeNull();
      if (!off) {
        setGemmThreadMinWork(0);
        expect(gemmStage(64 * 64, 64, 64, 64)).toBeNull();
        setGemmThreadMinWork(1 << 21);
      }
      setGemmStaging(false);
      expect(gemmStage(64 * 64, 64, 64, 64)).toBeNull();
      setGemmStaging(true);
      if (!off) expect(gemmStage(64 * 64, 64, 64, 64)).toBeInstanceOf(Float32Array);
    });

    it('still gives the right bits when the view is stale or from the other memory (B is copied in)', () => {
      if (off) return;
      const r = rng(22);
      const [M, N, K] = [256, 300, 576];
      const A = rand(M * K, r);
      const B = rand(K * N, r);
      const want = new Float32Array(M * N);
      gemm(false, false, M, N, K, 1, A, B, 0, want);
      // Staged on one thread (the unshared memory), used on two (the shared one).
      setGemmThreads(1);
      const single = gemmStage(K * N, M, N, K)!;
      single.set(B);
      setGemmThreads(2);
      const got = new Float32Array(M * N);
      gemm(false, false, M, N, K, 1, A, single, 0, got);
      expectSameBits(want, got, 'view of the unshared memory');
      // B at an offset in a larger stage, the rest of it NaN.
      setGemmThreads(1);
      const larger = gemmStage(4 * K * N, M, N, K)!;
      larger.fill(NaN);
      larger.subarray(K * N, 2 * K * N).set(B);
      got.fill(0);
      gemm(false, false, M, N, K, 1, A, larger.subarray(K * N, 2 * K * N), 0, got);
      expectSameBits(want, got, 'subarray of a larger stage');
    });

    it('leaves Convolution forward bit-identical (im2col into the stage), with groups, strides, padding', () => {
      for (const [cp, shape] of [
        [{ num_output: 16, kernel_size: [3], pad: [1] }, [2, 8, 20, 20]],
        [{ num_output: 12, kernel_size: [3], stride: [2], group: 3 }, [1, 6, 33, 31]],
        [{ num_output: 64, kernel_size: [5], pad: [2] }, [1, 32, 28, 28]],
        [{ num_output: 8, kernel_size: [1] }, [1, 16, 9, 9]],
        [{ num_output: 8, kernel_h: 2, kernel_w: 3, group: 2 }, [1, 4, 7, 8]],
      ] as [Record<string, unknown>, number[]][]) {
        const run = (): Float32Array => {
          setSeed(77);
          const layer = createLayer(fromObject('LayerParameter', {
            name: 'c', type: 'Convolution',
            convolution_param: { weight_filler: { type: 'gaussian', std: 1 }, bias_filler: { type: 'gaussian', std: 1 }, ...cp },
          }));
          const x = new Blob(shape);
          const rx = rng(24);
          for (let i = 0; i < x.count; i++) x.data[i] = 2 * rx() - 1;
          const y = new Blob();
          layer.setUp([x], [y]);
          layer.forward([x], [y]);
          return Float32Array.from(y.data);
        };
        for (const threads of [1, 2]) {
          setGemmThreads(threads);
          setGemmStaging(true);
          const staged = run();
          setGemmStaging(false);
          const copied = run();
          expectSameBits(copied, staged, `Convolution ${JSON.stringify(cp)} on ${shape.join('x')}, ${threads} thread(s)`);
        }
      }
    });
  });

  it('unsharedMemory turns the shared memory import of gemm.wasm into an unshared one', () => {
    const bytes = readFileSync(new URL('../src/kernels/wasm/gemm.wasm', import.meta.url));
    const memory = (shared: boolean) => new WebAssembly.Memory({ initial: 1, maximum: 2048, shared });
    const sharedModule = new WebAssembly.Module(bytes);
    const unsharedModule = new WebAssembly.Module(unsharedMemory(bytes));
    expect(() => new WebAssembly.Instance(sharedModule, { env: { memory: memory(false) } })).toThrow();
    expect(() => new WebAssembly.Instance(unsharedModule, { env: { memory: memory(true) } })).toThrow();
    expect(() => new WebAssembly.Instance(unsharedModule, { env: { memory: memory(false) } })).not.toThrow();
    expect(unsharedMemory(bytes).length).toBe(bytes.length);
  });

  describe('a process using gemm', () => {
    // A standalone copy of gemm.ts and its kernels (they import only node: modules and each
    // other), transpiled, with the .wasm.
    let dir = '';
    beforeAll(() => {
      dir = writeStandaloneGemm('caffe-ts-gemm-');
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const run = (body: string, env: Record<string, string> = {}): { ms: number; out: string; status: number | null } => {
      const script = `import * as g from ${JSON.stringify(join(dir, 'gemm.js'))};\n` +
        'const [M, N, K] = [256, 1024, 512];\n' +
        'const A = new Float32Array(M * K).fill(0.5), B = new Float32Array(K * N).fill(0.25), C = new Float32Array(M * N);\n' +
        body;
      const t0 = Date.now();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, CAFFE_TS_THREADS: '', ...env },
      });
      return { ms: Date.now() - t0, out: r.stdout + r.stderr, status: r.status };
    };

    it('gives a shared arena\'s region back once its owner is collected', () => {
      if (off || process.env.CAFFE_TS_THREADS === '1') return;
      const script = `import * as g from ${JSON.stringify(join(dir, 'gemm.js'))};\n` +
        'let a = g.sharedArena(1 << 20);\n' +
        'const at = a.data.byteOffset;\n' +
        'const kept = g.sharedArena(1 << 20);\n' +
        'a = null;\n' +
        'for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }\n' +
        'const b = g.sharedArena(1 << 20);\n' +
        'console.log(JSON.stringify({ at, kept: kept.data.byteOffset, again: b.data.byteOffset }));\n';
      const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout.trim()) as { at: number; kept: number; again: number };
      // The freed region is the lowest free one again; the one still held is not handed out.
      expect(got.again).toBe(got.at);
      expect(got.kept).not.toBe(got.at);
    });

    it('exits promptly after products split between threads (the worker is unref\'d)', () => {
      if (off) return;
      const r = run(
        'g.setGemmThreads(2);\n' +
          'const up = g.gemmThreadsReady();\n' +
          'g.gemm(false, false, M, N, K, 1, A, B, 0, C);\n' +
          'console.log(JSON.stringify({ up, c: C[0], i: g.gemmThreadInfo() }));\n',
      );
      expect(r.status, r.out).toBe(0);
      const o = JSON.parse(r.out);
      expect(o.up).toBe(2);
      expect(o.c).toBe(64);
      expect(o.i.workers).toBe(1);
      expect(r.ms).toBeLessThan(5000);
    });

    it('exits promptly when the process ends while its worker is still starting', () => {
      if (off) return;
      const r = run('g.setGemmThreads(2);\ng.gemm(false, false, M, N, K, 1, A, B, 0, C);\nconsole.log(C[C.length - 1]);\n');
      expect(r.status, r.out).toBe(0);
      expect(r.out.trim()).toBe('64');
      expect(r.ms).toBeLessThan(5000);
    });
  });
});

// gemm()'s aKey: A kept packed in the kernel's memory between calls (a layer's frozen weights).
describe('gemm with a pack key', () => {
  const off = process.env.CAFFE_TS_GEMM === 'js';
  afterEach(() => {
    setGemmThreads(gemmThreadInfo().threads > 1 ? 2 : 1);
    setGemmThreadMinWork(1 << 21);
    setGemmPackCacheBudget(512 << 20);
    setGemmWasmBudget(64 << 20);
    setGemmStaging(true);
  });

  const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);
  function expectSameBits(want: Float32Array, got: Float32Array, what: string): void {
    const a = bits(want);
    const b = bits(got);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) expect.fail(`${what}: element ${i} is ${got[i]} with the key, ${want[i]} without`);
  }

  // Normal and swapped orientations, edges, several K slices, K past one 4096-deep copy block.
  const shapes: [number, number, number][] = [
    [9, 13, 17], [64, 196, 70], [512, 49, 300], [48, 1025, 20], [130, 300, 257], [70, 33, 4100], [33, 64, 1],
  ];

  for (const [threads, budget] of [[1, 64 << 20], [2, 64 << 20], [1, 64 << 10]]) {
    it(`gives the bits of an unkeyed call, every op, alpha and beta, call after call (${threads} thread(s), ${budget >> 10} KiB operand budget)`, () => {
      const r = rng(31 + threads);
      setGemmThreads(threads);
      setGemmWasmBudget(budget); // 64 KiB: operands in blocks, A not kept (its rows are cut)
      if (threads === 2) setGemmThreadMinWork(0);
      for (const [tA, tB] of TRANS) {
        for (const [M, N, K] of shapes) {
          const A = rand(M * K, r);
          const key = { version: 0 };
          for (const [alpha, beta] of [[1, 0], [-1.5, 0.25], [0.5, 1]]) {
            const B = rand(K * N, r);
            const C0 = beta === 0 ? new Float32Array(M * N).fill(NaN) : rand(M * N, r);
            const want = Float32Array.from(C0);
            gemm(tA, tB, M, N, K, alpha, A, B, beta, want);
            for (let call = 0; call < 2; call++) {
              const got = Float32Array.from(C0);
              gemm(tA, tB, M, N, K, alpha, A, B, beta, got, key);
              expectSameBits(want, got, `${op(tA, tB)} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}, call ${call}`);
            }
          }
        }
      }
    });
  }

  it('reads the packed copy until the version changes, and repacks a new A or a subarray elsewhere', () => {
    if (off) return;
    const r = rng(33);
    const [M, N, K] = [64, 100, 90];
    const big = rand(3 * M * K, r);
    const A = big.subarray(M * K, 2 * M * K);
    const B = rand(K * N, r);
    const key = { version: 0 };
    const run = (a: Float32Array, withKey: boolean): Float32Array => {
      const C = new Float32Array(M * N);
      gemm(false, false, M, N, K, 1, a, B, 0, C, withKey ? key : undefined);
      return C;
    };
    const first = run(A, true);
    expectSameBits(run(A, false), first, 'first call');
    const old = Float32Array.from(A);
    A.set(rand(M * K, r));
    // Same key, same version: the packed copy of the old A (this is what the version is for).
    expectSameBits(first, run(A, true), 'stale copy');
    key.version++;
    expectSameBits(run(A, false), run(A, true), 'after the version changed');
    // Another place in the same buffer, and another buffer with the same offset and length.
    const other = big.subarray(0, M * K);
    expectSameBits(run(other, false), run(other, true), 'another subarray');
    const copy = new Float32Array(3 * M * K);
    copy.set(old, M * K);
    expectSameBits(run(copy.subarray(M * K, 2 * M * K), false), run(copy.subarray(M * K, 2 * M * K), true), 'another buffer');
  });

  it('keeps nothing with a zero budget, and empties itself when full', () => {
    if (off) return;
    const r = rng(34);
    const [M, N, K] = [40, 70, 50];
    const B = rand(K * N, r);
    const check = (A: Float32Array, key: { version: number }, what: string): void => {
      const want = new Float32Array(M * N);
      const got = new Float32Array(M * N);
      gemm(false, false, M, N, K, 1, A, B, 0, want);
      gemm(false, false, M, N, K, 1, A, B, 0, got, key);
      expectSameBits(want, got, what);
    };
    setGemmPackCacheBudget(0);
    const A = rand(M * K, r);
    const key = { version: 0 };
    check(A, key, 'budget 0');
    A.set(rand(M * K, r));
    check(A, key, 'budget 0, new contents (nothing kept)');
    // Room for two operands: keys take turns evicting each other, results stay right.
    setGemmPackCacheBudget(2 * 4 * M * K + 64);
    const keys = [0, 1, 2, 3].map(() => ({ version: 0 }));
    const As = keys.map(() => rand(M * K, r));
    for (let round = 0; round < 3; round++) keys.forEach((k, i) => check(As[i], k, `small budget, round ${round}, operand ${i}`));
  });

  it('leaves Convolution forward bit-identical when the net freezes its weights, staged or not, 1 or 2 threads', () => {
    const proto = (group: number): string => `
      name: "f"
      input: "x" input_shape { dim: 1 dim: 8 dim: 30 dim: 30 }
      layer { name: "c1" type: "Convolution" bottom: "x" top: "c1"
        convolution_param { num_output: 32 kernel_size: 3 pad: 1 group: ${group} weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.1 } } }
      layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2"
        convolution_param { num_output: 64 kernel_size: 1 weight_filler { type: "gaussian" std: 0.5 } } }
      layer { name: "c3" type: "Convolution" bottom: "c2" top: "c3"
        convolution_param { num_output: 48 kernel_size: 3 stride: 2 group: 2 weight_filler { type: "gaussian" std: 0.5 } } }
      layer { name: "d" type: "Deconvolution" bottom: "c3" top: "d"
        convolution_param { num_output: 16 kernel_size: 2 stride: 2 weight_filler { type: "gaussian" std: 0.5 } } }`;
    const dir = mkdtempSync(join(tmpdir(), 'caffe-ts-freeze-'));
    try {
      for (const group of [1, 2]) {
        const file = join(dir, `f${group}.prototxt`);
        writeFileSync(file, proto(group));
        for (const threads of [1, 2]) {
          for (const staging of [true, false]) {
            setGemmThreads(threads);
            setGemmThreadMinWork(threads === 2 ? 0 : 1 << 21);
            setGemmStaging(staging);
            setSeed(5);
            const net = Net.fromFile(file);
            const x = rand(8 * 30 * 30, rng(6));
            const out = (): Float32Array[] => {
              net.forward({ x: { shape: [1, 8, 30, 30], data: x } });
              return ['c1', 'c2', 'c3', 'd'].map((b) => Float32Array.from(net.blob(b).data));
            };
            const want = out();
            net.freezeWeights();
            expect(net.weightsFrozen).toBe(true);
            const hits = gemmPackCacheInfo().hits;
            for (let pass = 0; pass < 3; pass++) {
              out().forEach((got, i) => expectSameBits(want[i], got, `group ${group}, ${threads} thread(s), staging ${staging}, pass ${pass}, top ${i}`));
            }
            // Every layer's products read their weights from the cache from the second pass on
            // (the first may leave a staged product out: its memory could not grow under the view).
            if (!off) expect(gemmPackCacheInfo().hits - hits, `group ${group}, ${threads} thread(s), staging ${staging}: ${JSON.stringify(gemmPackCacheInfo())} ${JSON.stringify(gemmThreadInfo())}`).toBeGreaterThanOrEqual(2 * (group + 1 + 2 + 1));
            // New weights, frozen again: the new results.
            const w = net.layer('c2').blobs[0].data;
            for (let i = 0; i < w.length; i++) w[i] *= -0.5;
            net.freezeWeights();
            const frozen = out();
            net.thawWeights();
            out().forEach((got, i) => expectSameBits(got, frozen[i], `group ${group}, ${threads} thread(s), staging ${staging}, after new weights, top ${i}`));
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a frozen net sees weights copied in by copyTrainedLayersFrom, and a solver thaws its nets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'caffe-ts-freeze-'));
    try {
      const file = join(dir, 'n.prototxt');
      writeFileSync(file, `
        name: "n"
        input: "x" input_shape { dim: 1 dim: 4 dim: 12 dim: 12 }
        layer { name: "c" type: "Convolution" bottom: "x" top: "c"
          convolution_param { num_output: 40 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } } }`);
      const x = rand(4 * 12 * 12, rng(8));
      const run = (net: InstanceType<typeof Net>): Float32Array => {
        net.forward({ x: { shape: [1, 4, 12, 12], data: x } });
        return Float32Array.from(net.blob('c').data);
      };
      setSeed(1);
      const a = Net.fromFile(file);
      setSeed(2);
      const b = Net.fromFile(file);
      const wantB = run(b);
      a.freezeWeights();
      run(a);
      run(a);
      a.copyTrainedLayersFrom(b.toProto());
      expectSameBits(wantB, run(a), 'after copyTrainedLayersFrom');
      expect(a.weightsFrozen).toBe(true);
      // A solver's step changes the weights: it thaws the nets it trains first.
      const solver = createSolver(parseText(`base_lr: 0.1 lr_policy: "fixed" display: 0
        net_param {
          layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 dim: 5 dim: 5 } } }
          layer { name: "c" type: "Convolution" bottom: "x" top: "c"
            convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "gaussian" std: 0.5 } } }
          layer { name: "l" type: "EuclideanLoss" bottom: "c" bottom: "x" top: "l" } }`, 'SolverParameter'), {});
      solver.net.freezeWeights();
      solver.step(1);
      expect(solver.net.weightsFrozen).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
