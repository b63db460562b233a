// The direct depthwise convolution (src/kernels/depthwise.ts, wasm/depthwise.wat): the WebAssembly
// kernel against the JS loop bit for bit (special values included), both against a float64
// reference, and the Convolution layer on its direct path against its im2col + GEMM path (the
// one Caffe takes), forward and backward, over many geometries.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { depthwiseBackend, depthwiseForward, depthwiseJs, setDepthwiseKernel, type DepthwiseConfig } from '../src/kernels/depthwise.js';
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

  it('takes the same path with the SIMD kernels off (JS), and leaves other convolutions to GEMM', () => {
    const sh: Shape = { C: 6, H: 12, W: 9, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1] };
    const x = randomBlob([2, sh.C, sh.H, sh.W], 3);
    const simd = forward(sh, true, x, true);
    setSimdKernels(false);
    const js = forward(sh, true, x, true);
    setSimdKernels(true);
    expectSameBits(simd, js, 'wasm vs js');
    // force_nd_im2col: the GEMM path (bit-identical whether the direct path is on or off)
    const nd = { force_nd_im2col: true };
    expectSameBits(forward(sh, true, x, true, nd), forward(sh, true, x, false, nd), 'force_nd_im2col');
  });

  it('backward (GEMM) passes the gradient check after a direct forward', () => {
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
