// Products with a fused epilogue (GemmEpilogue: bias, folded BatchNorm/Scale, residual, ReLU) and
// operands in the kernels' shared memory (sharedArena: the inference memory plan's blobs, read
// and written in place). Each must give exactly the bits of the plain product followed by the
// row maps the layers ran before (rows.ts), on one thread and split between threads.
import { afterAll, describe, expect, it } from 'vitest';
import {
  epilogueShared,
  gemm,
  gemmBatch,
  gemmBackend,
  gemmThreadInfo,
  gemmThreadsReady,
  inSharedMemory,
  setGemmThreadMinWork,
  setGemmThreads,
  setGemmWasmBudget,
  setGemmWorkersOnly,
  sharedArena,
  type GemmEpilogue,
} from '../src/kernels/gemm.js';
import { ROW_ADD, ROW_MUL_ADD, ROW_MUL_ADD_RELU, rowMap, rowMapShortcut } from '../src/kernels/rows.js';
import { rng } from './gradient-checker.js';

const noWasm = gemmBackend.kernel !== 'wasm-simd';
const noShared = noWasm || process.env.CAFFE_TS_THREADS === '1';

/** The epilogue as the layers applied it after a plain product (rows.ts). */
function reference(C: Float32Array, M: number, N: number, epi: GemmEpilogue): void {
  if (epi.shortcut) rowMapShortcut(C, C, M, N, epi.a!, epi.b, epi.shortcut, epi.relu);
  else if (epi.a) rowMap(epi.relu ? ROW_MUL_ADD_RELU : ROW_MUL_ADD, C, C, M, N, M, epi.a, epi.b);
  else rowMap(ROW_ADD, C, C, M, N, M, null, epi.b);
}

/** n floats in the shared memory when there is one (else a JS array), filled from src. */
function place(src: Float32Array, shared: boolean): Float32Array {
  const s = shared ? sharedArena(src.length) : null;
  if (shared && s === null) throw new Error('no shared arena');
  const x = s ? s.data : new Float32Array(src.length);
  x.set(src);
  // Keep the arena's owner alive with the view for the test's duration.
  (x as unknown as { owner: unknown }).owner = s?.owner;
  return x;
}

const bits = (x: Float32Array): Uint32Array => new Uint32Array(Float32Array.from(x).buffer);

describe('gemm with a fused epilogue', () => {
  afterAll(() => {
    setGemmWorkersOnly(false);
    setGemmThreadMinWork(1 << 21);
    setGemmThreads(gemmThreadInfo().threads);
  });

  // Wide and tall (column and row panels), swapped orientation (N = 49), tails of n % 4, K over
  // the 4096-deep K block (the epilogue only after the last one).
  const shapes: [number, number, number][] = [[96, 1254, 16], [24, 196, 144], [160, 49, 320], [7, 5, 3], [300, 70, 9], [16, 33, 4100], [1000, 1, 64]];
  const kinds = ['bias', 'affine', 'affine+relu', 'shortcut', 'shortcut+relu'] as const;

  for (const where of ['js', 'shared'] as const) {
    for (const threads of [1, 2]) {
      it(`gives the bits of the product then the row maps (operands ${where === 'js' ? 'in JS arrays' : 'in the shared memory'}, ${threads} thread(s))`, () => {
        if (noWasm || (where === 'shared' && noShared)) return;
        setGemmThreads(threads);
        if (threads > 1) {
          gemmThreadsReady();
          setGemmThreadMinWork(0);
        }
        const r = rng(threads * 7 + (where === 'js' ? 1 : 2));
        let applied = 0;
        for (const [M, N, K] of shapes) {
          const A = Float32Array.from({ length: M * K }, () => r() * 2 - 1);
          const B = place(Float32Array.from({ length: K * N }, () => r() * 2 - 1), where === 'shared');
          const a = Float32Array.from({ length: M }, () => r() * 2 - 1);
          const b = Float32Array.from({ length: M }, () => r() - 0.5);
          const s = place(Float32Array.from({ length: M * N }, () => r() * 2 - 1), where === 'shared');
          for (const kind of kinds) {
            const epi: GemmEpilogue = {
              a: kind === 'bias' ? null : a,
              b,
              relu: kind.endsWith('relu'),
              shortcut: kind.startsWith('shortcut') ? s : null,
            };
            const want = new Float32Array(M * N);
            gemm(false, false, M, N, K, 1, A, Float32Array.from(B), 0, want);
            reference(want, M, N, epi);
            const C = place(new Float32Array(M * N).fill(NaN), where === 'shared');
            const did = gemm(false, false, M, N, K, 1, A, B, 0, C, undefined, epi);
            if (!did) reference(C, M, N, epi);
            else applied++;
            // A shortcut outside the shared memory is left to the caller; everything else is fused.
            expect(did, `${M}x${N}x${K} ${kind}`).toBe(!(epi.shortcut && where === 'js') && M * N * K >= 128);
            expect(bits(C), `${M}x${N}x${K} ${kind}`).toEqual(bits(want));
          }
        }
        expect(applied).toBeGreaterThan(0);
      });
    }
  }

  it('the workers apply the epilogue to the panels they compute', () => {
    if (noShared) return;
    setGemmThreads(2);
    expect(gemmThreadsReady()).toBe(2);
    setGemmThreadMinWork(0);
    setGemmWorkersOnly(true);
    const r = rng(5);
    const [M, N, K] = [64, 3000, 32];
    const A = Float32Array.from({ length: M * K }, () => r() - 0.5);
    const B = place(Float32Array.from({ length: K * N }, () => r() - 0.5), true);
    const epi: GemmEpilogue = { a: Float32Array.from({ length: M }, () => r()), b: Float32Array.from({ length: M }, () => r() - 0.5), relu: true, shortcut: place(Float32Array.from({ length: M * N }, () => r() - 0.5), true) };
    const want = new Float32Array(M * N);
    gemm(false, false, M, N, K, 1, A, Float32Array.from(B), 0, want);
    reference(want, M, N, epi);
    const before = gemmThreadInfo().workerPanels;
    const C = place(new Float32Array(M * N), true);
    expect(gemm(false, false, M, N, K, 1, A, B, 0, C, undefined, epi)).toBe(true);
    expect(gemmThreadInfo().workerPanels).toBeGreaterThan(before);
    expect(bits(C)).toEqual(bits(want));
    setGemmWorkersOnly(false);
  });

  it('operands in the shared memory under a small copy budget, and a C overlapping B, keep their bits', () => {
    if (noShared) return;
    setGemmThreads(1);
    const r = rng(9);
    const [M, N, K] = [40, 900, 300];
    const A = Float32Array.from({ length: M * K }, () => r() - 0.5);
    const Bsrc = Float32Array.from({ length: K * N }, () => r() - 0.5);
    const want = new Float32Array(M * N);
    gemm(false, false, M, N, K, 1, A, Bsrc, 0, want);
    const old = setGemmWasmBudget(64 << 10);
    try {
      const B = place(Bsrc, true);
      const C = place(new Float32Array(M * N), true);
      gemm(false, false, M, N, K, 1, A, B, 0, C);
      expect(bits(C)).toEqual(bits(want));
    } finally {
      setGemmWasmBudget(old);
    }
    // C written over B's own storage: the product reads all of B before C is written (copied).
    const both = place(new Float32Array(Math.max(K * N, M * N)), true);
    both.set(Bsrc);
    const C = both.subarray(0, M * N);
    gemm(false, false, M, N, K, 1, A, both.subarray(0, K * N), 0, C);
    expect(bits(C)).toEqual(bits(want));
  });
});

describe('gemmBatch', () => {
  it('gives each product\'s bits, whole products taken by the workers too', () => {
    if (noShared) return;
    setGemmThreads(2);
    expect(gemmThreadsReady()).toBe(2);
    const r = rng(21);
    for (const [M, N, K, count] of [[64, 196, 64, 36], [33, 17, 40, 16], [512, 4, 300, 36], [16, 49, 16, 3]]) {
      const A = Array.from({ length: count }, () => Float32Array.from({ length: M * K }, () => r() - 0.5));
      const B = Array.from({ length: count }, () => place(Float32Array.from({ length: K * N }, () => r() - 0.5), true));
      const want = A.map((a, i) => {
        const c = new Float32Array(M * N);
        gemm(false, false, M, N, K, 1, a, Float32Array.from(B[i]), 0, c);
        return c;
      });
      const keys = A.map(() => ({ version: 0 }));
      for (const workersOnly of [false, true]) {
        setGemmWorkersOnly(workersOnly);
        const before = gemmThreadInfo().workerPanels;
        const C = A.map(() => place(new Float32Array(M * N).fill(NaN), true));
        gemmBatch(M, N, K, A, B, C, keys);
        C.forEach((c, i) => expect(bits(c), `${M}x${N}x${K} #${i}`).toEqual(bits(want[i])));
        if (workersOnly) expect(gemmThreadInfo().workerPanels).toBeGreaterThan(before);
      }
      setGemmWorkersOnly(false);
      // Operands in JS arrays: one product after the other, the same bits.
      const C = A.map(() => new Float32Array(M * N));
      gemmBatch(M, N, K, A, B.map((b) => Float32Array.from(b)), C, keys);
      C.forEach((c, i) => expect(bits(c)).toEqual(bits(want[i])));
    }
  });
});

describe('epilogueShared', () => {
  it('applies the epilogue in place to a blob in the shared memory, with the row maps\' bits', () => {
    const r = rng(11);
    const [M, N] = [37, 203];
    const x = Float32Array.from({ length: M * N }, () => r() * 2 - 1);
    const a = Float32Array.from({ length: M }, () => r() * 2 - 1);
    const b = Float32Array.from({ length: M }, () => r() - 0.5);
    if (noShared) {
      expect(epilogueShared(Float32Array.from(x), M, N, { a, b, relu: true, shortcut: null })).toBe(false);
      return;
    }
    const s = place(Float32Array.from({ length: M * N }, () => r() * 2 - 1), true);
    for (const epi of [{ a: null, b, relu: false, shortcut: null }, { a, b, relu: true, shortcut: null }, { a, b, relu: true, shortcut: s }] as GemmEpilogue[]) {
      const want = Float32Array.from(x);
      reference(want, M, N, epi);
      const C = place(x, true);
      expect(epilogueShared(C, M, N, epi)).toBe(true);
      expect(bits(C)).toEqual(bits(want));
      // A JS array is left to the caller.
      expect(epilogueShared(Float32Array.from(x), M, N, epi)).toBe(false);
    }
  });
});

describe('sharedArena', () => {
  it('hands out zeroed views of the shared memory, and nothing without one', () => {
    const s = sharedArena(1000);
    if (noShared) {
      expect(s).toBeNull();
      return;
    }
    expect(s).not.toBeNull();
    expect(s!.data.length).toBe(1000);
    expect(s!.data.every((v) => v === 0)).toBe(true);
    expect(inSharedMemory(s!.data)).toBe(true);
    expect(inSharedMemory(new Float32Array(4))).toBe(false);
    const t = sharedArena(1000)!;
    // Two live regions never overlap.
    const [x, y] = [s!.data, t.data];
    expect(x.byteOffset + x.byteLength <= y.byteOffset || y.byteOffset + y.byteLength <= x.byteOffset).toBe(true);
    expect(sharedArena(0)).toBeNull();
  });
});
