import { describe, expect, it } from 'vitest';
import { col2im, col2imNd, convOutSize, im2col, im2colNd, im2colShared } from '../src/kernels/im2col.js';
import { gemmBackend, inSharedMemory, sharedArena } from '../src/kernels/gemm.js';
import { rng } from './gradient-checker.js';

function rand(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  return a;
}

interface Geometry {
  channels: number;
  im: number[];
  kernel: number[];
  pad: number[];
  stride: number[];
  dilation: number[];
}

function outShape(g: Geometry): number[] {
  return g.im.map((d, i) => convOutSize(d, g.kernel[i], g.pad[i], g.stride[i], g.dilation[i]));
}

/** Straight from the definition: col[(c, k), o] = im[c, o*stride - pad + k*dilation] or 0. */
function referenceIm2col(g: Geometry, im: Float32Array): Float32Array {
  const out = outShape(g);
  const n = g.im.length;
  const kSize = g.kernel.reduce((a, b) => a * b, 1);
  const oSize = out.reduce((a, b) => a * b, 1);
  const iSize = g.im.reduce((a, b) => a * b, 1);
  const col = new Float32Array(g.channels * kSize * oSize);
  const unravel = (idx: number, dims: number[]) => {
    const r = new Array<number>(dims.length);
    for (let i = dims.length - 1; i >= 0; i--) {
      r[i] = idx % dims[i];
      idx = Math.floor(idx / dims[i]);
    }
    return r;
  };
  for (let c = 0; c < g.channels; c++) {
    for (let k = 0; k < kSize; k++) {
      const kk = unravel(k, g.kernel);
      for (let o = 0; o < oSize; o++) {
        const oo = unravel(o, out);
        let idx = 0;
        let inside = true;
        for (let i = 0; i < n; i++) {
          const p = oo[i] * g.stride[i] - g.pad[i] + kk[i] * g.dilation[i];
          if (p < 0 || p >= g.im[i]) inside = false;
          idx = idx * g.im[i] + p;
        }
        col[(c * kSize + k) * oSize + o] = inside ? im[c * iSize + idx] : 0;
      }
    }
  }
  return col;
}

function randomGeometry(r: () => number, n: number): Geometry {
  const pick = (a: number[]) => a[Math.floor(r() * a.length)];
  for (;;) {
    const g: Geometry = { channels: pick([1, 2, 3]), im: [], kernel: [], pad: [], stride: [], dilation: [] };
    for (let i = 0; i < n; i++) {
      g.im.push(pick([1, 2, 3, 5, 6, 8]));
      g.kernel.push(pick([1, 2, 3]));
      g.pad.push(pick([0, 0, 1, 2]));
      g.stride.push(pick([1, 1, 2, 3]));
      g.dilation.push(pick([1, 1, 2]));
    }
    if (outShape(g).every((d) => d > 0)) return g;
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('im2col', () => {
  it('2-D matches the definition over random geometries', () => {
    const r = rng(3);
    for (let t = 0; t < 200; t++) {
      const g = randomGeometry(r, 2);
      const im = rand(g.channels * g.im[0] * g.im[1], r);
      const want = referenceIm2col(g, im);
      const col = new Float32Array(want.length).fill(NaN);
      im2col(im, g.channels, g.im[0], g.im[1], g.kernel[0], g.kernel[1], g.pad[0], g.pad[1], g.stride[0], g.stride[1], g.dilation[0], g.dilation[1], col);
      expect(Array.from(col), JSON.stringify(g)).toEqual(Array.from(want));
    }
  });

  it('N-D matches the definition for 1, 2, 3 and 4 spatial axes', () => {
    const r = rng(4);
    for (const n of [1, 2, 3, 4]) {
      for (let t = 0; t < 40; t++) {
        const g = randomGeometry(r, n);
        const im = rand(g.channels * g.im.reduce((a, b) => a * b, 1), r);
        const want = referenceIm2col(g, im);
        const col = new Float32Array(want.length).fill(NaN);
        const imShape = [g.channels, ...g.im];
        const colShape = [g.channels * g.kernel.reduce((a, b) => a * b, 1), ...outShape(g)];
        im2colNd(im, n, imShape, colShape, g.kernel, g.pad, g.stride, g.dilation, col);
        expect(Array.from(col), JSON.stringify(g)).toEqual(Array.from(want));
      }
    }
  });

  it('col2im is the adjoint of im2col (2-D and N-D)', () => {
    const r = rng(5);
    for (const n of [1, 2, 3]) {
      for (let t = 0; t < 30; t++) {
        const g = randomGeometry(r, n);
        const imSize = g.channels * g.im.reduce((a, b) => a * b, 1);
        const x = rand(imSize, r);
        const colX = referenceIm2col(g, x);
        const y = rand(colX.length, r);
        const imShape = [g.channels, ...g.im];
        const colShape = [g.channels * g.kernel.reduce((a, b) => a * b, 1), ...outShape(g)];
        const back = new Float32Array(imSize).fill(NaN);
        col2imNd(y, n, imShape, colShape, g.kernel, g.pad, g.stride, g.dilation, back);
        expect(dot(colX, y)).toBeCloseTo(dot(x, back), 4);
        if (n === 2) {
          const back2 = new Float32Array(imSize).fill(NaN);
          col2im(y, g.channels, g.im[0], g.im[1], g.kernel[0], g.kernel[1], g.pad[0], g.pad[1], g.stride[0], g.stride[1], g.dilation[0], g.dilation[1], back2);
          for (let i = 0; i < imSize; i++) expect(back2[i]).toBeCloseTo(back[i], 5);
        }
      }
    }
  });

  it('2-D fast paths (whole-row runs, long rows, strided rows) match the definition and the N-D code', () => {
    const r = rng(6);
    // Real-network shapes: 3x3/5x5 "same" convolutions (one run per kernel offset), dilated and
    // unpadded ones (row copies of 48+ elements), stride 2 (strided gathers), asymmetric padding.
    const cases: Geometry[] = [
      { channels: 2, im: [56, 56], kernel: [3, 3], pad: [1, 1], stride: [1, 1], dilation: [1, 1] },
      { channels: 2, im: [28, 30], kernel: [5, 5], pad: [2, 2], stride: [1, 1], dilation: [1, 1] },
      { channels: 1, im: [60, 64], kernel: [3, 3], pad: [2, 2], stride: [1, 1], dilation: [2, 2] },
      { channels: 2, im: [60, 64], kernel: [3, 3], pad: [0, 0], stride: [1, 1], dilation: [1, 1] },
      { channels: 1, im: [64, 64], kernel: [7, 7], pad: [3, 3], stride: [2, 2], dilation: [1, 1] },
      { channels: 3, im: [56, 56], kernel: [1, 1], pad: [0, 0], stride: [2, 2], dilation: [1, 1] },
      { channels: 1, im: [50, 70], kernel: [3, 5], pad: [0, 2], stride: [1, 1], dilation: [1, 1] },
      { channels: 1, im: [9, 70], kernel: [3, 3], pad: [4, 1], stride: [1, 1], dilation: [1, 1] },
    ];
    for (const g of cases) {
      const im = rand(g.channels * g.im[0] * g.im[1], r);
      const want = referenceIm2col(g, im);
      const col = new Float32Array(want.length).fill(NaN);
      im2col(im, g.channels, g.im[0], g.im[1], g.kernel[0], g.kernel[1], g.pad[0], g.pad[1], g.stride[0], g.stride[1], g.dilation[0], g.dilation[1], col);
      expect(Array.from(col), JSON.stringify(g)).toEqual(Array.from(want));
      // col2im sums in the N-D code's order: equal bit for bit.
      const y = rand(want.length, r);
      const imShape = [g.channels, ...g.im];
      const colShape = [g.channels * g.kernel[0] * g.kernel[1], ...outShape(g)];
      const nd = new Float32Array(im.length).fill(NaN);
      col2imNd(y, 2, imShape, colShape, g.kernel, g.pad, g.stride, g.dilation, nd);
      const back = new Float32Array(im.length).fill(NaN);
      col2im(y, g.channels, g.im[0], g.im[1], g.kernel[0], g.kernel[1], g.pad[0], g.pad[1], g.stride[0], g.stride[1], g.dilation[0], g.dilation[1], back);
      expect(Array.from(back), JSON.stringify(g)).toEqual(Array.from(nd));
    }
  });

  it('a known 3x3 image, kernel 2, pad 1, stride 2', () => {
    const im = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // out = (3 + 2 - 2) / 2 + 1 = 2 per axis
    const col = new Float32Array(4 * 4);
    im2col(im, 1, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1, col);
    expect(Array.from(col)).toEqual([
      0, 0, 0, 5, // kernel (0,0): positions (-1,-1) (-1,1) (1,-1) (1,1)
      0, 0, 4, 6, // kernel (0,1)
      0, 2, 0, 8, // kernel (1,0)
      1, 3, 7, 9, // kernel (1,1)
    ]);
    const back = new Float32Array(9);
    col2im(col, 1, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1, back);
    expect(Array.from(back)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('convOutSize truncates like C++ integer division', () => {
    expect(convOutSize(5, 3, 1, 2, 1)).toBe(3);
    expect(convOutSize(5, 3, 2, 1, 2)).toBe(5);
    expect(convOutSize(2, 4, 0, 1, 1)).toBe(-1);
    expect(convOutSize(2, 3, 0, 2, 1)).toBe(1); // (2 - 3) / 2 truncates to 0
  });
});

describe('im2colShared (columns in the GEMM\'s shared memory)', () => {
  const off = gemmBackend.kernel !== 'wasm-simd' || process.env.CAFFE_TS_THREADS === '1' || process.env.CAFFE_TS_SIMD === 'js';
  // [C, H, W, kH, kW, padH, padW, sH, sW, dH, dW]: conv1 shapes (7x7 s2, 3x3 s2), 5x5 "same",
  // 1x1 stride 2, dilation, asymmetric everything.
  const cases = [
    [3, 23, 21, 7, 7, 3, 3, 2, 2, 1, 1], [3, 17, 17, 3, 3, 0, 0, 2, 2, 1, 1], [5, 9, 11, 5, 5, 2, 2, 1, 1, 1, 1],
    [8, 14, 14, 1, 1, 0, 0, 2, 2, 1, 1], [4, 12, 10, 3, 3, 2, 2, 1, 1, 2, 2], [2, 8, 13, 3, 5, 1, 0, 2, 1, 1, 2],
  ];
  for (const inShared of [false, true]) {
    it(`gives im2col's values, image ${inShared ? 'in the shared memory' : 'in a JS array'}`, () => {
      if (off) return;
      const r = rng(inShared ? 3 : 4);
      for (const [C, H, W, kH, kW, pH, pW, sH, sW, dH, dW] of cases) {
        const img = Float32Array.from({ length: C * H * W }, () => r() * 2 - 1);
        const oh = convOutSize(H, kH, pH, sH, dH);
        const ow = convOutSize(W, kW, pW, sW, dW);
        const want = new Float32Array(C * kH * kW * oh * ow);
        im2col(img, C, H, W, kH, kW, pH, pW, sH, sW, dH, dW, want);
        const store = inShared ? sharedArena(img.length)! : null;
        const src = store ? store.data : img;
        if (store) store.data.set(img);
        const col = im2colShared(src, C, H, W, kH, kW, pH, pW, sH, sW, dH, dW);
        expect(col).not.toBeNull();
        expect(inSharedMemory(col!)).toBe(true);
        expect(Array.from(col!), JSON.stringify([C, H, W, kH, kW])).toEqual(Array.from(want));
      }
    });
  }
});
