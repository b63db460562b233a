// The direct depthwise convolution (src/kernels/depthwise.ts, wasm/depthwise.wat): the WebAssembly
// kernels (forward, backward) against the JS loops bit for bit (special values included), against
// float64 references, and the Convolution layer on its direct path against its im2col + GEMM path
// (the one Caffe takes), forward and backward, over many geometries; gradient checks.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import {
  depthwiseBackend, depthwiseBackward, depthwiseBackwardJs, depthwiseEnabled, depthwiseForward, depthwiseJs, setDepthwiseKernel,
  setDepthwiseSplitMinWork, type DepthwiseConfig, type DepthwiseEpilogue,
} from '../src/kernels/depthwise.js';
import { gemmThreadInfo, gemmThreadsReady, inSharedMemory, setGemmThreads, setGemmWorkersOnly, sharedArena } from '../src/kernels/gemm.js';
import { ROW_ADD, ROW_MUL_ADD, ROW_MUL_ADD_RELU, rowMap, rowMapShortcut } from '../src/kernels/rows.js';
import type { ConvEpilogue } from '../src/graph/fusion.js';
import { convOutSize } from '../src/kernels/im2col.js';
import { setSimdKernels } from '../src/kernels/simd.js';
import { createLayer } from '../src/layers/index.js';
import { setSeed } from '../src/kernels/rng.js';
import { fromObject } from '../src/proto/schema.js';
import { assemble } from '../scripts/build-wasm.mjs';
import { checkGradient, randomBlob, rng } from './gradient-checker.js';

afterAll(() => {
  setDepthwiseKernel(true);
  setSimdKernels(true);
});

interface Shape {
  C: number;
  H: number;
  W: number;
  k: [number, number];
  s: [number, number];
  p: [number, number];
  d: [number, number];
}

function config({ C, H, W, k, s, p, d }: Shape): DepthwiseConfig {
  return {
    channels: C, inH: H, inW: W, kernelH: k[0], kernelW: k[1], strideH: s[0], strideW: s[1], padH: p[0], padW: p[1],
    dilationH: d[0], dilationW: d[1], outH: convOutSize(H, k[0], p[0], s[0], d[0]), outW: convOutSize(W, k[1], p[1], s[1], d[1]),
  };
}

/** Shapes: MobileNet's (3x3, stride 1 and 2, pad 1), then a pseudo-random sweep of the rest. */
function shapes(): Shape[] {
  const out: Shape[] = [
    { C: 8, H: 16, W: 16, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 8, H: 16, W: 16, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
    { C: 5, H: 7, W: 7, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
    { C: 3, H: 13, W: 11, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 1, H: 1, W: 1, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 2, H: 9, W: 10, k: [1, 1], s: [1, 1], p: [0, 0], d: [1, 1] },
    { C: 3, H: 6, W: 9, k: [2, 4], s: [3, 1], p: [0, 2], d: [2, 1] },
    { C: 2, H: 5, W: 5, k: [3, 3], s: [1, 1], p: [1, 1], d: [0, 0] },
    { C: 2, H: 4, W: 4, k: [3, 3], s: [1, 1], p: [5, 4], d: [1, 1] },
    // 3x3 with the strides apart, odd and even output heights (the kernels pair output rows at
    // stride 1 or 2 down the plane when it is the stride across)
    { C: 2, H: 9, W: 10, k: [3, 3], s: [2, 1], p: [1, 1], d: [1, 1] },
    { C: 2, H: 10, W: 11, k: [3, 3], s: [1, 2], p: [1, 1], d: [1, 1] },
    { C: 3, H: 6, W: 5, k: [3, 3], s: [1, 1], p: [0, 0], d: [1, 1] },
    { C: 2, H: 2, W: 6, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 3, H: 9, W: 9, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
  ];
  const r = rng(7);
  const pick = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  while (out.length < 120) {
    const k: [number, number] = [pick(1, 5), pick(1, 5)];
    const s: [number, number] = [pick(1, 3), pick(1, 3)];
    const p: [number, number] = [pick(0, 2), pick(0, 2)];
    const d: [number, number] = [pick(1, 2), pick(1, 2)];
    const sh = { C: pick(1, 7), H: pick(1, 19), W: pick(1, 23), k, s, p, d };
    const c = config(sh);
    if (c.outH > 0 && c.outW > 0) out.push(sh);
  }
  return out;
}

const desc = (s: Shape) => `C${s.C} ${s.H}x${s.W} k${s.k} s${s.s} p${s.p} d${s.d}`;

/** float64 reference of depthwiseForward. */
function reference(c: DepthwiseConfig, x: Float32Array, w: Float32Array, bias: Float32Array | null): Float64Array {
  const y = new Float64Array(c.channels * c.outH * c.outW);
  let i = 0;
  for (let ch = 0; ch < c.channels; ch++)
    for (let oy = 0; oy < c.outH; oy++)
      for (let ox = 0; ox < c.outW; ox++, i++) {
        let acc = bias ? bias[ch] : 0;
        for (let ky = 0; ky < c.kernelH; ky++)
          for (let kx = 0; kx < c.kernelW; kx++) {
            const iy = oy * c.strideH - c.padH + ky * c.dilationH;
            const ix = ox * c.strideW - c.padW + kx * c.dilationW;
            if (iy >= 0 && iy < c.inH && ix >= 0 && ix < c.inW) {
              acc += w[(ch * c.kernelH + ky) * c.kernelW + kx] * x[(ch * c.inH + iy) * c.inW + ix];
            }
          }
        y[i] = acc;
      }
  return y;
}

/** Expects a and b to hold the same bits (NaN any NaN); reports the first difference. */
function expectSameBits(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  const i = a.findIndex((v, j) => !(Object.is(v, b[j]) || (Number.isNaN(v) && Number.isNaN(b[j]))));
  expect(i < 0 ? null : { at: i, got: a[i], want: b[i] }, what).toBeNull();
}

/** Expects |a - b| < tol everywhere; reports the worst element. */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= worst)) [worst, at] = [e, i];
  }
  expect(worst < tol ? null : { at, got: a[at], want: b[at], tol }, what).toBeNull();
}

function random(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

describe('depthwise kernel', () => {
  it('is in use, and depthwise.wasm is assembled from the current depthwise.wat', async () => {
    expect(depthwiseBackend()).toBe(process.env.CAFFE_TS_SIMD === 'js' ? 'js' : 'wasm-simd');
    const wat = new URL('../src/kernels/wasm/depthwise.wat', import.meta.url);
    const bytes = await assemble(wat.pathname, readFileSync(wat, 'utf8'));
    const committed = readFileSync(new URL('../src/kernels/wasm/depthwise.wasm', import.meta.url));
    expect(committed.equals(bytes), 'src/kernels/wasm/depthwise.wasm is stale: run npm run build').toBe(true);
  });

  it('WebAssembly and JS give the same bits, within float32 rounding of a float64 sum', () => {
    shapes().forEach((sh, t) => {
      const c = config(sh);
      const x = random(c.channels * c.inH * c.inW, 2 * t + 1);
      const w = random(c.channels * c.kernelH * c.kernelW, 2 * t + 2);
      const bias = t % 2 ? random(c.channels, t + 1000) : null;
      const n = c.channels * c.outH * c.outW;
      // NaN-filled outputs: every element must be written.
      const simd = new Float32Array(n).fill(NaN);
      const js = new Float32Array(n).fill(NaN);
      depthwiseForward(c, x, w, bias, simd);
      depthwiseJs(c, x, w, bias, js);
      expectSameBits(simd, js, desc(sh));
      expectClose(js, reference(c, x, w, bias), c.kernelH * c.kernelW * 2 ** -21, desc(sh));
    });
  });

  it('WebAssembly and JS agree on special values (NaN, infinities, signed zeros in the padding)', () => {
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, 3.4e38, -3.4e38];
    for (const sh of shapes().slice(0, 12)) {
      const c = config(sh);
      const x = random(c.channels * c.inH * c.inW, 5);
      const w = random(c.channels * c.kernelH * c.kernelW, 6);
      for (let i = 0; i < x.length; i += 7) x[i] = specials[i % specials.length];
      for (let i = 0; i < w.length; i += 5) w[i] = specials[(i + 3) % specials.length];
      const simd = new Float32Array(c.channels * c.outH * c.outW);
      const js = new Float32Array(simd.length);
      depthwiseForward(c, x, w, null, simd);
      depthwiseJs(c, x, w, null, js);
      expectSameBits(simd, js, desc(sh));
    }
  });

  it('streams channels in chunks (planes larger than a chunk, many channels)', () => {
    for (const sh of [
      { C: 40, H: 70, W: 67, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
      { C: 2, H: 600, W: 300, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
    ] as Shape[]) {
      const c = config(sh);
      const x = random(c.channels * c.inH * c.inW, 11);
      const w = random(c.channels * 9, 12);
      const bias = random(c.channels, 13);
      const simd = new Float32Array(c.channels * c.outH * c.outW);
      const js = new Float32Array(simd.length);
      depthwiseForward(c, x, w, bias, simd);
      depthwiseJs(c, x, w, bias, js);
      expectSameBits(simd, js, desc(sh));
    }
  });
});

/** float64 references of depthwiseBackward's dx and (the increment of) dw. */
function referenceBackward(c: DepthwiseConfig, x: Float32Array, dy: Float32Array, w: Float32Array): [Float64Array, Float64Array] {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let ch = 0, o = 0; ch < c.channels; ch++)
    for (let oy = 0; oy < c.outH; oy++)
      for (let ox = 0; ox < c.outW; ox++, o++)
        for (let ky = 0; ky < c.kernelH; ky++)
          for (let kx = 0; kx < c.kernelW; kx++) {
            const iy = oy * c.strideH - c.padH + ky * c.dilationH;
            const ix = ox * c.strideW - c.padW + kx * c.dilationW;
            if (iy < 0 || iy >= c.inH || ix < 0 || ix >= c.inW) continue;
            const t = (ch * c.kernelH + ky) * c.kernelW + kx;
            const i = (ch * c.inH + iy) * c.inW + ix;
            dx[i] += w[t] * dy[o];
            dw[t] += dy[o] * x[i];
          }
  return [dx, dw];
}

describe('depthwise backward kernel', () => {
  it('WebAssembly and JS give the same bits, close to float64 sums; dw accumulates, dx is overwritten', () => {
    shapes().forEach((sh, t) => {
      const c = config(sh);
      const x = random(c.channels * c.inH * c.inW, 3 * t + 1);
      const dy = random(c.channels * c.outH * c.outW, 3 * t + 2);
      const w = random(c.channels * c.kernelH * c.kernelW, 3 * t + 3);
      const dw0 = random(w.length, t + 500);
      const run = (f: typeof depthwiseBackward, wantDw: boolean, wantDx: boolean) => {
        const dw = wantDw ? dw0.slice() : null;
        const dx = wantDx ? new Float32Array(x.length).fill(NaN) : null;
        f(c, x, dy, w, dw, dx);
        return [dw, dx] as const;
      };
      const [dwS, dxS] = run(depthwiseBackward, true, true);
      const [dwJ, dxJ] = run(depthwiseBackwardJs, true, true);
      expectSameBits(dwS!, dwJ!, `dw ${desc(sh)}`);
      expectSameBits(dxS!, dxJ!, `dx ${desc(sh)}`);
      // each alone gives the same as both together
      expectSameBits(run(depthwiseBackward, true, false)[0]!, dwS!, `dw alone ${desc(sh)}`);
      expectSameBits(run(depthwiseBackward, false, true)[1]!, dxS!, `dx alone ${desc(sh)}`);
      const [rdx, rdw] = referenceBackward(c, x, dy, w);
      const taps = c.kernelH * c.kernelW;
      expectClose(dxS!, rdx, taps * 2 ** -21, `dx ${desc(sh)}`);
      const terms = c.outH * c.outW;
      expectClose(dwS!.map((v, i) => v - dw0[i]), rdw, (terms + 2) * 2 ** -21, `dw ${desc(sh)}`);
    });
  });

  it('WebAssembly and JS agree on special values; large planes stream in chunks', () => {
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, 3.4e38, -3.4e38];
    const cases = shapes().slice(0, 12);
    cases.push({ C: 40, H: 70, W: 67, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] }, { C: 2, H: 600, W: 300, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] });
    cases.forEach((sh, t) => {
      const c = config(sh);
      const x = random(c.channels * c.inH * c.inW, 5);
      const dy = random(c.channels * c.outH * c.outW, 6);
      const w = random(c.channels * c.kernelH * c.kernelW, 7);
      if (t < 12) {
        for (let i = 0; i < x.length; i += 7) x[i] = specials[i % specials.length];
        for (let i = 0; i < dy.length; i += 11) dy[i] = specials[(i + 5) % specials.length];
        for (let i = 0; i < w.length; i += 5) w[i] = specials[(i + 3) % specials.length];
      }
      const dwS = new Float32Array(w.length);
      const dxS = new Float32Array(x.length);
      const dwJ = new Float32Array(w.length);
      const dxJ = new Float32Array(x.length);
      depthwiseBackward(c, x, dy, w, dwS, dxS);
      depthwiseBackwardJs(c, x, dy, w, dwJ, dxJ);
      expectSameBits(dwS, dwJ, `dw ${desc(sh)}`);
      expectSameBits(dxS, dxJ, `dx ${desc(sh)}`);
    });
  });
});

// ---- the Convolution layer ------------------------------------------------------------------

function dwLayer(sh: Shape, bias: boolean, extra: Record<string, unknown> = {}) {
  setSeed(1234);
  return createLayer(fromObject('LayerParameter', {
    name: 'dw', type: 'Convolution',
    convolution_param: {
      num_output: sh.C, group: sh.C, bias_term: bias, kernel_h: sh.k[0], kernel_w: sh.k[1], stride_h: sh.s[0], stride_w: sh.s[1],
      pad_h: sh.p[0], pad_w: sh.p[1], dilation: sh.d, weight_filler: { type: 'gaussian', std: 1 },
      bias_filler: { type: 'gaussian', std: 1 }, ...extra,
    },
  }));
}

/** Top of a fresh layer's forward on x, with the direct path on or off. */
function forward(sh: Shape, bias: boolean, x: Blob, direct: boolean, extra: Record<string, unknown> = {}): Float32Array {
  const old = setDepthwiseKernel(direct);
  try {
    const l = dwLayer(sh, bias, extra);
    const top = [new Blob()];
    l.setUp([x], top);
    top[0].data.fill(NaN);
    l.forward([x], top);
    return top[0].data.slice();
  } finally {
    setDepthwiseKernel(old);
  }
}

describe('Convolution, depthwise', () => {
  it('the direct path matches im2col + GEMM within float32 rounding (batch 3, bias on and off)', () => {
    shapes().forEach((sh, t) => {
      if (t >= 9 && t % 3) return;
      const x = randomBlob([3, sh.C, sh.H, sh.W], t + 1);
      for (const bias of [false, true]) {
        const gemm = forward(sh, bias, x, false);
        const direct = forward(sh, bias, x, true);
        // gaussian weights and bias (|w| < ~5), inputs in [-1, 1)
        expectClose(direct, gemm, sh.k[0] * sh.k[1] * 6e-6, desc(sh));
      }
    });
  });

  it('keeps im2col + GEMM with the SIMD kernels off (CAFFE_TS_SIMD=js) or force_nd_im2col', () => {
    const sh: Shape = { C: 6, H: 12, W: 9, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] };
    const x = randomBlob([2, sh.C, sh.H, sh.W], 3);
    const gemm = forward(sh, true, x, false);
    expect(depthwiseEnabled()).toBe(process.env.CAFFE_TS_SIMD !== 'js');
    setSimdKernels(false);
    expect(depthwiseEnabled()).toBe(false);
    expectSameBits(forward(sh, true, x, true), gemm, 'SIMD off');
    setSimdKernels(true);
    const nd = { force_nd_im2col: true };
    expectSameBits(forward(sh, true, x, true, nd), forward(sh, true, x, false, nd), 'force_nd_im2col');
  });

  it('the direct backward matches im2col + GEMM: dx bit for bit, dw within float32 rounding, bias diff', () => {
    shapes().forEach((sh, t) => {
      if (t >= 9 && t % 3) return;
      const x = randomBlob([3, sh.C, sh.H, sh.W], t + 1);
      for (const bias of [false, true]) {
        const grads = (direct: boolean) => {
          const old = setDepthwiseKernel(direct);
          try {
            const l = dwLayer(sh, bias);
            const top = [new Blob()];
            l.setUp([x], top);
            l.forward([x], top);
            top[0].diff.set(random(top[0].count, t + 77));
            for (const b of l.blobs) b.diff.fill(0.5);
            x.diff.fill(NaN);
            l.backward(top, [true], [x]);
            return [x.diff.slice(), ...l.blobs.map((b) => b.diff.slice())];
          } finally {
            setDepthwiseKernel(old);
          }
        };
        const [dxD, dwD, dbD] = grads(true);
        const [dxG, dwG, dbG] = grads(false);
        expectSameBits(dxD, dxG, `dx ${desc(sh)}`);
        // dy in [-1, 1), x in [-1, 1): |dw| <= 3 * outH * outW
        expectClose(dwD, dwG, 3 * dxD.length * 2 ** -20, `dw ${desc(sh)}`);
        if (bias) expectSameBits(dbD, dbG, `bias ${desc(sh)}`);
      }
    });
  });

  it('passes the gradient check on the direct path', () => {
    for (const sh of [
      { C: 3, H: 6, W: 5, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
      { C: 5, H: 7, W: 6, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
      { C: 2, H: 6, W: 7, k: [2, 3], s: [1, 2], p: [0, 2], d: [2, 1] },
    ] as Shape[]) {
      const l = dwLayer(sh, true);
      checkGradient(l, [randomBlob([2, sh.C, sh.H, sh.W], 9)], [new Blob()], { stepsize: 1e-2, threshold: 1e-2 });
    }
  });
});

describe('depthwise forward split by channels between threads', () => {
  // Threads forced on whatever the core count, every forward split (setDepthwiseSplitMinWork(0)).
  // Where the environment turns threads or the SIMD kernels off there is nothing to split.
  const off = process.env.CAFFE_TS_SIMD === 'js' || process.env.CAFFE_TS_GEMM === 'js' || process.env.CAFFE_TS_THREADS === '1';
  afterAll(() => {
    setDepthwiseSplitMinWork(1 << 16);
    setGemmWorkersOnly(false);
    setGemmThreads(gemmThreadInfo().threads);
  });

  // Output widths that are and are not whole vectors (a row's last vector spills past a chunk's
  // end), stride 2, 5x5, dilation, channel counts that do not divide into the chunks.
  const shapes: Shape[] = [
    { C: 32, H: 28, W: 28, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 19, H: 14, W: 14, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 13, H: 15, W: 13, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
    { C: 7, H: 7, W: 7, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 9, H: 12, W: 11, k: [5, 5], s: [2, 1], p: [2, 1], d: [1, 2] },
    { C: 3, H: 5, W: 6, k: [1, 3], s: [1, 1], p: [0, 1], d: [1, 1] },
  ];

  for (const workersOnly of [false, true]) {
    it(`gives one thread's bits${workersOnly ? ', the worker computing every chunk' : ''}`, () => {
      if (off) return;
      setGemmThreads(2);
      expect(gemmThreadsReady()).toBe(2);
      setDepthwiseSplitMinWork(0);
      setGemmWorkersOnly(workersOnly);
      const r = rng(workersOnly ? 31 : 32);
      const before = gemmThreadInfo().workerPanels;
      for (const shape of shapes) {
        const cfg = config(shape);
        const x = Float32Array.from({ length: cfg.channels * cfg.inH * cfg.inW }, () => r() * 2 - 1);
        const w = Float32Array.from({ length: cfg.channels * cfg.kernelH * cfg.kernelW }, () => r() * 2 - 1);
        for (const bias of [null, Float32Array.from({ length: cfg.channels }, () => r() - 0.5)]) {
          const one = new Float32Array(cfg.channels * cfg.outH * cfg.outW).fill(NaN);
          const two = new Float32Array(one.length).fill(NaN);
          setGemmThreads(1);
          depthwiseForward(cfg, x, w, bias, one);
          setGemmThreads(2);
          depthwiseForward(cfg, x, w, bias, two);
          expect(new Uint32Array(two.buffer), JSON.stringify(shape)).toEqual(new Uint32Array(one.buffer));
          const js = new Float32Array(one.length);
          depthwiseJs(cfg, x, w, bias, js);
          expect(new Uint32Array(js.buffer)).toEqual(new Uint32Array(one.buffer));
        }
      }
      // Workers only: the worker computes every chunk (otherwise this thread may take them all).
      const chunks = gemmThreadInfo().workerPanels - before;
      // (This thread keeps the first C / 2 channels; the rest goes in min(that, 4) chunks.)
      if (workersOnly) expect(chunks).toBe(shapes.reduce((n, s) => n + 2 * Math.min(s.C - Math.floor(s.C / 2), 4), 0));
    });
  }
});

describe('depthwise forward with the epilogue in the kernel, in place on the shared memory', () => {
  // Everything here but the operands in JS arrays on one thread needs the wasm kernels and threads.
  const off = process.env.CAFFE_TS_SIMD === 'js' || process.env.CAFFE_TS_GEMM === 'js' || process.env.CAFFE_TS_THREADS === '1';
  afterAll(() => {
    setDepthwiseSplitMinWork(1 << 16);
    setGemmWorkersOnly(false);
    setGemmThreads(gemmThreadInfo().threads);
  });

  // Output widths that are and are not whole vectors (Wo % 4 = 0 .. 3), stride 2, 5x5, dilation,
  // padding larger than the kernel's reach, a 1 x 1 plane; channel counts that do not divide
  // into the chunks.
  const cases: Shape[] = [
    { C: 32, H: 28, W: 28, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 19, H: 14, W: 13, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 13, H: 15, W: 13, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
    { C: 10, H: 11, W: 14, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
    { C: 7, H: 7, W: 7, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
    { C: 9, H: 12, W: 11, k: [5, 5], s: [2, 1], p: [2, 1], d: [1, 2] },
    { C: 6, H: 10, W: 9, k: [5, 5], s: [1, 1], p: [2, 2], d: [1, 1] },
    { C: 5, H: 9, W: 10, k: [3, 3], s: [1, 1], p: [2, 2], d: [2, 2] },
    { C: 3, H: 5, W: 6, k: [1, 3], s: [1, 1], p: [0, 1], d: [1, 1] },
    { C: 4, H: 4, W: 4, k: [3, 3], s: [1, 1], p: [5, 4], d: [1, 1] },
    { C: 3, H: 1, W: 1, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
  ];
  const kinds = ['none', 'bias', 'affine', 'affine+relu', 'bias+relu'] as const;
  type Kind = (typeof kinds)[number];

  function epilogue(kind: Kind, a: Float32Array, b: Float32Array): DepthwiseEpilogue | null {
    if (kind === 'none') return null;
    return { a: kind.startsWith('affine') ? a : null, b, relu: kind.endsWith('relu') };
  }

  /** depthwiseJs, then the row maps the layers ran after it (rows.ts). */
  function reference(c: DepthwiseConfig, x: Float32Array, w: Float32Array, kind: Kind, a: Float32Array, b: Float32Array): Float32Array {
    const y = new Float32Array(c.channels * c.outH * c.outW);
    const S = c.outH * c.outW;
    depthwiseJs(c, x, w, null, y);
    if (kind === 'bias') rowMap(ROW_ADD, y, y, c.channels, S, c.channels, null, b);
    else if (kind === 'affine') rowMap(ROW_MUL_ADD, y, y, c.channels, S, c.channels, a, b);
    else if (kind === 'affine+relu') rowMap(ROW_MUL_ADD_RELU, y, y, c.channels, S, c.channels, a, b);
    else if (kind === 'bias+relu') {
      rowMap(ROW_ADD, y, y, c.channels, S, c.channels, null, b);
      for (let i = 0; i < y.length; i++) y[i] = y[i] > 0 ? y[i] : 0 * y[i];
    }
    return y;
  }

  // Arena regions stay allocated while their owners are referenced.
  const owners: object[] = [];
  const SENTINEL = 12345.5;
  const SLACK = 8;

  /**
   * Room for n floats (and SLACK sentinels after them, to catch writes past the end) in the
   * shared memory, or in a JS array.
   */
  function place(n: number, shared: boolean): { data: Float32Array; after: Float32Array } {
    let all: Float32Array;
    if (shared) {
      const s = sharedArena(n + SLACK);
      if (s === null) throw new Error('no shared arena');
      owners.push(s.owner);
      all = s.data;
    } else all = new Float32Array(n + SLACK);
    all.fill(SENTINEL);
    return { data: all.subarray(0, n), after: all.subarray(n) };
  }

  for (const where of ['js', 'shared'] as const) {
    for (const threads of [1, 2]) {
      for (const workersOnly of threads > 1 ? [false, true] : [false]) {
        const title = `gives depthwiseJs then the row maps, bit for bit (operands ${where === 'js' ? 'in JS arrays' : 'in the shared memory'}, ` +
          `${threads} thread(s)${workersOnly ? ', the worker computing every chunk' : ''})`;
        it(title, () => {
          if (off && (where === 'shared' || threads > 1)) return;
          setGemmThreads(threads);
          if (threads > 1) expect(gemmThreadsReady()).toBe(2);
          setDepthwiseSplitMinWork(0);
          setGemmWorkersOnly(workersOnly);
          const shared = where === 'shared';
          const r = rng(17 + threads + (shared ? 10 : 0));
          const before = gemmThreadInfo().workerPanels;
          let wantChunks = 0;
          for (const sh of cases) {
            const c = config(sh);
            const n = c.channels * c.outH * c.outW;
            const x = place(c.channels * c.inH * c.inW, shared);
            x.data.set(Float32Array.from({ length: x.data.length }, () => r() * 2 - 1));
            // Special values on the first case: NaN stays NaN, negatives and -0 go to -0.
            if (sh === cases[0]) [NaN, -0, Infinity, -Infinity, 1e-40].forEach((v, i) => (x.data[37 * i + 5] = v));
            const w = Float32Array.from({ length: c.channels * c.kernelH * c.kernelW }, () => r() * 2 - 1);
            const a = Float32Array.from({ length: c.channels }, () => r() * 2 - 1);
            const b = Float32Array.from({ length: c.channels }, () => r() - 0.5);
            for (const kind of kinds) {
              const y = place(n, shared);
              y.data.fill(NaN);
              depthwiseForward(c, x.data, w, epilogue(kind, a, b), y.data);
              expectSameBits(y.data, reference(c, x.data, w, kind, a, b), `${kind} ${desc(sh)}`);
              expect(Array.from(y.after), `no write past y: ${kind} ${desc(sh)}`).toEqual(new Array(SLACK).fill(SENTINEL));
              if (kind === 'bias') {
                // A bias alone may be passed as the array.
                depthwiseForward(c, x.data, w, b, y.data);
                expectSameBits(y.data, reference(c, x.data, w, kind, a, b), `bias array ${desc(sh)}`);
              }
              if (threads > 1 && c.channels > 1) wantChunks += (kind === 'bias' ? 2 : 1) * chunksOf(c.channels, shared);
            }
            if (shared) expect(inSharedMemory(x.data) && Array.from(x.after)).toEqual(new Array(SLACK).fill(SENTINEL));
          }
          // Workers only: the worker computed every chunk (in place: C split into up to 8 chunks;
          // copied: the half beyond this thread's share, into up to 4).
          if (workersOnly) expect(gemmThreadInfo().workerPanels - before).toBe(wantChunks);
          setGemmWorkersOnly(false);
        });
      }
    }
  }

  /** Chunks of a split forward on 2 threads: in place all C channels; copied, those past this thread's share. */
  function chunksOf(C: number, shared: boolean): number {
    return shared ? Math.min(C, 8) : Math.min(C - Math.floor(C / 2), 4);
  }

  it('a blob that overlaps its input is computed through copies, as before', () => {
    if (off) return;
    setGemmThreads(1);
    const c = config({ C: 4, H: 8, W: 9, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] });
    const n = c.channels * c.inH * c.inW;
    const s = sharedArena(n)!;
    owners.push(s.owner);
    const r = rng(99);
    s.data.set(Float32Array.from({ length: n }, () => r() - 0.5));
    const w = Float32Array.from({ length: c.channels * 9 }, () => r() - 0.5);
    const b = Float32Array.from({ length: c.channels }, () => r() - 0.5);
    const want = reference(c, s.data.slice(), w, 'bias+relu', b, b);
    depthwiseForward(c, s.data, w, { a: null, b, relu: true }, s.data);
    expectSameBits(s.data, want, 'y === x');
  });
});

describe('Convolution, depthwise, with a fused epilogue', () => {
  const off = process.env.CAFFE_TS_SIMD === 'js' || process.env.CAFFE_TS_GEMM === 'js' || process.env.CAFFE_TS_THREADS === '1';
  afterAll(() => setGemmThreads(gemmThreadInfo().threads));
  const owners: object[] = [];

  /** Blob data in the shared memory (when asked and there is one), holding its current values. */
  function moveToShared(b: Blob): void {
    const s = sharedArena(b.count);
    if (s === null) throw new Error('no shared arena');
    owners.push(s.owner);
    s.data.set(b.data);
    b.useDataStore(s.data, s.owner);
  }

  /** Samples whose epilogue the layer applied after the kernel (forwardEpilogue), in the last run. */
  let after = 0;

  /** The layer's forward on x (batch 2): top data, with `epi` as its epilogue (null: none). */
  function run(sh: Shape, bias: boolean, x: Blob, epi: ConvEpilogue | null, shared: boolean): Float32Array {
    type Exposed = { epilogue: ConvEpilogue | null; forwardEpilogue(y: Float32Array, n: number): void };
    const l = dwLayer(sh, bias) as unknown as Exposed & ReturnType<typeof dwLayer>;
    const own = l.forwardEpilogue.bind(l);
    after = 0;
    l.forwardEpilogue = (y, n) => {
      after++;
      own(y, n);
    };
    const top = [new Blob()];
    l.setUp([x], top);
    if (shared) {
      moveToShared(x);
      moveToShared(top[0]);
      expect(inSharedMemory(x.data) && inSharedMemory(top[0].data)).toBe(true);
    }
    top[0].data.fill(NaN);
    l.epilogue = epi;
    l.forward([x], top);
    return top[0].data.slice();
  }

  for (const where of ['js', 'shared'] as const) {
    it(`gives the bits of the plain forward then the row maps (blobs ${where === 'js' ? 'in JS arrays' : 'in the shared memory'})`, () => {
      if (where === 'shared' && off) return;
      for (const threads of where === 'shared' ? [1, 2] : [1]) {
        setGemmThreads(threads);
        if (threads > 1) gemmThreadsReady();
        for (const sh of [
          { C: 12, H: 15, W: 13, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1] },
          { C: 9, H: 14, W: 11, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] },
          { C: 5, H: 9, W: 10, k: [5, 5], s: [1, 2], p: [2, 2], d: [2, 1] },
        ] as Shape[]) {
          const C = sh.C;
          const x = randomBlob([2, C, sh.H, sh.W], 5);
          const r = rng(C);
          const a = Float32Array.from({ length: C }, () => r() * 2 - 1);
          const b = Float32Array.from({ length: C }, () => r() - 0.5);
          const raw = run(sh, false, x, null, false);
          const S = raw.length / (2 * C);
          for (const relu of [false, true]) {
            const want = raw.slice();
            rowMap(relu ? ROW_MUL_ADD_RELU : ROW_MUL_ADD, want, want, 2 * C, S, C, a, b);
            // (With bias_term the epilogue's b holds the bias: the layer's own is not added.)
            const got = run(sh, true, x, { a, b, relu, shortcut: null, shortcutRelu: false }, where === 'shared');
            expectSameBits(got, want, `${desc(sh)} relu ${relu} ${threads} thread(s)`);
            expect(after, 'applied in the kernel').toBe(0);
          }
          // The bias alone: the kernel adds it, as forwardBias did.
          const withBias = run(sh, true, x, null, where === 'shared');
          const l = dwLayer(sh, true);
          l.setUp([x], [new Blob()]);
          const want = raw.slice();
          rowMap(ROW_ADD, want, want, 2 * C, S, C, null, l.blobs[1].data);
          expectSameBits(withBias, want, `${desc(sh)} bias`);
          expect(after, 'bias in the kernel').toBe(0);
          // A shortcut: applied after the kernel, as before.
          const s = Float32Array.from({ length: raw.length }, () => r() - 0.5);
          const want2 = raw.slice();
          for (let n = 0; n < 2; n++) {
            const part = want2.subarray(n * C * S, (n + 1) * C * S);
            rowMapShortcut(part, part, C, S, a, b, s.subarray(n * C * S, (n + 1) * C * S), true);
          }
          const got2 = run(sh, true, x, { a, b, relu: false, shortcut: s, shortcutRelu: true }, where === 'shared');
          expectSameBits(got2, want2, `${desc(sh)} shortcut`);
          expect(after, 'a shortcut after the kernel').toBe(2);
        }
      }
    });
  }
});
