// The unrolled element-wise loops of src/kernels/loops.ts against the plain one-element loops they
// replace (bit for bit, over odd lengths and offsets so the remainder loops run too), and the two
// arithmetic shortcuts the layers rely on: BatchNorm's divide-as-multiply and LRN's x^-0.75.
import { describe, expect, it } from 'vitest';
import {
  addArrays, addScatter, axpyArrays, centerScaleRange, copyRun, gatherStrided, mulArrays, reluArrays,
  reluBackwardArrays, scaleRange, scaleShiftRange, shiftRange, sumRange, zeroRun,
} from '../src/kernels/loops.js';
import { negPow075 } from '../src/layers/lrn.js';
import { rng } from './gradient-checker.js';

const f32 = Math.fround;

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (2 * r() - 1);
  return a;
}

const same = (got: Float32Array, want: Float32Array) => expect(Array.from(got)).toEqual(Array.from(want));
const N = 103;

describe('element-wise loops', () => {
  const x = rand(N, 1);
  const z = rand(N, 2);

  it('range maps equal the one-element loops (start/end inside the array)', () => {
    for (const [start, end] of [[0, N], [3, 10], [5, 5], [7, 8], [1, N - 2]]) {
      const a = f32(1.37);
      const b = f32(-0.21);
      const got = Float32Array.from(z);
      const want = Float32Array.from(z);
      scaleRange(x, got, start, end, a);
      for (let i = start; i < end; i++) want[i] = a * x[i];
      same(got, want);
      scaleShiftRange(x, got, start, end, a, b);
      for (let i = start; i < end; i++) want[i] = f32(a * x[i]) + b;
      same(got, want);
      shiftRange(x, got, start, end, b);
      for (let i = start; i < end; i++) want[i] = x[i] + b;
      same(got, want);
      centerScaleRange(x, got, start, end, b, 1 / a);
      for (let i = start; i < end; i++) want[i] = f32(x[i] - b) / a;
      same(got, want);
      let s = 0;
      for (let i = start; i < end; i++) s += x[i];
      expect(sumRange(x, start, end)).toBeCloseTo(s, 12);
    }
  });

  it('in place gives the same as out of place', () => {
    const y = Float32Array.from(x);
    scaleShiftRange(y, y, 0, N, 0.5, 2);
    const want = new Float32Array(N);
    scaleShiftRange(x, want, 0, N, 0.5, 2);
    same(y, want);
  });

  it('whole-array maps equal the one-element loops', () => {
    for (const n of [0, 1, 3, 4, 5, N]) {
      const got = new Float32Array(N);
      const want = new Float32Array(N);
      addArrays(x, z, got, n);
      for (let i = 0; i < n; i++) want[i] = x[i] + z[i];
      same(got, want);
      mulArrays(x, z, got, n);
      for (let i = 0; i < n; i++) want[i] = x[i] * z[i];
      same(got, want);
      axpyArrays(0.3, x, got, n);
      for (let i = 0; i < n; i++) want[i] += 0.3 * x[i];
      same(got, want);
      for (const slope of [0, 0.1]) {
        reluArrays(x, got, n, slope);
        for (let i = 0; i < n; i++) want[i] = x[i] > 0 ? x[i] : slope * x[i];
        same(got, want);
        reluBackwardArrays(x, z, got, n, slope);
        for (let i = 0; i < n; i++) want[i] = x[i] > 0 ? z[i] : z[i] * slope;
        same(got, want);
      }
    }
  });

  it('ReLU keeps NaN and gives slope * x below zero, as before', () => {
    const v = Float32Array.of(NaN, -2, 0, 3, -Infinity, Infinity);
    const y = new Float32Array(v.length);
    reluArrays(v, y, v.length, 0);
    expect(Array.from(y)).toEqual([NaN, -0, 0, 3, NaN, Infinity]);
  });

  it('copies, gathers, zero runs and scatter-adds', () => {
    const big = rand(400, 3);
    for (const n of [0, 5, 47, 48, 120]) {
      const got = new Float32Array(400).fill(7);
      const want = new Float32Array(400).fill(7);
      copyRun(big, 11, got, 5, n);
      for (let i = 0; i < n; i++) want[5 + i] = big[11 + i];
      same(got, want);
      zeroRun(got, 9, n);
      for (let i = 0; i < n; i++) want[9 + i] = 0;
      same(got, want);
      const m = Math.min(n, 90);
      gatherStrided(big, 2, 3, got, 1, m);
      for (let i = 0; i < m; i++) want[1 + i] = big[2 + i * 3];
      same(got, want);
      addScatter(big, 4, got, 6, 2, m);
      for (let i = 0; i < m; i++) want[6 + i * 2] += big[4 + i];
      same(got, want);
    }
  });
});

describe('arithmetic shortcuts', () => {
  it('f32(t * (1 / d)) equals the float32 quotient f32(t / d) (BatchNorm)', () => {
    const r = rng(11);
    for (let i = 0; i < 200000; i++) {
      const t = f32((2 * r() - 1) * Math.exp(20 * (r() - 0.5)));
      const d = f32(Math.sqrt(f32(r() * Math.exp(10 * (r() - 0.5)) + 1e-5)));
      if (f32(t * (1 / d)) !== f32(t / d)) expect([t, d]).toBe('a quotient that rounds differently');
    }
  });

  it('1 / (sqrt(s) * sqrt(sqrt(s))) rounds to float32 as Math.pow(s, -0.75) (LRN)', () => {
    const r = rng(12);
    for (let i = 0; i < 200000; i++) {
      const s = f32(Math.exp(60 * (r() - 0.5)));
      if (f32(negPow075(s)) !== f32(Math.pow(s, -0.75))) expect(s).toBe('a power that rounds differently');
    }
    expect(negPow075(0)).toBe(Infinity);
    expect(negPow075(Infinity)).toBe(0);
    expect(negPow075(-1)).toBeNaN();
    expect(negPow075(NaN)).toBeNaN();
  });
});
