// Winograd F(2x2,3x3) and F(4x4,3x3) against a float64 direct convolution and against the
// im2col + GEMM path (what Convolution runs otherwise), on odd/even sizes, pads 0-2, channel
// counts that are not multiples of the GEMM's panels, batches, and large/small magnitudes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble } from '../scripts/build-wasm.mjs';
import { Blob } from '../src/graph/blob.js';
import { gemm, gemmBackend, gemmThreadInfo, gemmThreadsReady, setGemmThreads, setGemmWorkersOnly, sharedArena } from '../src/kernels/gemm.js';
import { ROW_MUL_ADD_RELU, rowMap } from '../src/kernels/rows.js';
import { im2col } from '../src/kernels/im2col.js';
import {
  setWinogradSimd, winogradApplies, winogradBackend, winogradConvForward, winogradTileFor, winogradWeights, type WinogradConfig, type WinogradTile,
} from '../src/kernels/winograd.js';
import { createLayer } from '../src/layers/index.js';
import { fromObject } from '../src/proto/schema.js';
import { rng } from './gradient-checker.js';

function rand(n: number, r: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (2 * r() - 1);
  return a;
}

interface Case {
  num: number;
  C: number;
  M: number;
  H: number;
  W: number;
  padH: number;
  padW: number;
}

const outDims = (c: Case) => [c.H + 2 * c.padH - 2, c.W + 2 * c.padW - 2];

/** Float64 direct convolution: y[n, m, i, j] = b[m] + sum_{c, u, v} w[m, c, u, v] x[n, c, i+u-padH, j+v-padW]. */
function direct(c: Case, x: Float32Array, w: Float32Array, b: Float32Array | null): Float64Array {
  const [Ho, Wo] = outDims(c);
  const y = new Float64Array(c.num * c.M * Ho * Wo);
  for (let n = 0; n < c.num; n++)
    for (let m = 0; m < c.M; m++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = b ? b[m] : 0;
          for (let ch = 0; ch < c.C; ch++)
            for (let u = 0; u < 3; u++) {
              const yy = i + u - c.padH;
              if (yy < 0 || yy >= c.H) continue;
              for (let v = 0; v < 3; v++) {
                const xx = j + v - c.padW;
                if (xx < 0 || xx >= c.W) continue;
                s += w[((m * c.C + ch) * 3 + u) * 3 + v] * x[((n * c.C + ch) * c.H + yy) * c.W + xx];
              }
            }
          y[((n * c.M + m) * Ho + i) * Wo + j] = s;
        }
  return y;
}

/** The existing path: im2col + gemm per sample, then the bias. */
function gemmPath(c: Case, x: Float32Array, w: Float32Array, b: Float32Array | null): Float32Array {
  const [Ho, Wo] = outDims(c);
  const S = Ho * Wo;
  const y = new Float32Array(c.num * c.M * S);
  const col = new Float32Array(c.C * 9 * S);
  for (let n = 0; n < c.num; n++) {
    im2col(x.subarray(n * c.C * c.H * c.W), c.C, c.H, c.W, 3, 3, c.padH, c.padW, 1, 1, 1, 1, col);
    const yn = y.subarray(n * c.M * S, (n + 1) * c.M * S);
    gemm(false, false, c.M, S, c.C * 9, 1, w, col, 0, yn);
    if (b) for (let m = 0; m < c.M; m++) for (let k = 0; k < S; k++) yn[m * S + k] += b[m];
  }
  return y;
}

function winograd(c: Case, tile: WinogradTile, x: Float32Array, w: Float32Array, b: Float32Array | null, pre = false): Float32Array {
  const [Ho, Wo] = outDims(c);
  const y = new Float32Array(c.num * c.M * Ho * Wo).fill(NaN);
  const cfg: WinogradConfig = { num: c.num, channels: c.C, numOutput: c.M, height: c.H, width: c.W, padH: c.padH, padW: c.padW, tile };
  winogradConvForward(cfg, x, w, b, y, pre ? winogradWeights(w, c.M, c.C, tile) : undefined);
  return y;
}

/** max |got - ref| / max |ref|. */
function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let e = 0;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(got[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return e / m;
}

const shapes: Case[] = [
  { num: 1, C: 1, M: 1, H: 3, W: 3, padH: 0, padW: 0 },
  { num: 1, C: 3, M: 5, H: 7, W: 9, padH: 1, padW: 1 },
  { num: 2, C: 7, M: 6, H: 8, W: 8, padH: 0, padW: 0 },
  { num: 1, C: 5, M: 9, H: 11, W: 6, padH: 2, padW: 2 },
  { num: 3, C: 13, M: 11, H: 10, W: 13, padH: 1, padW: 0 },
  { num: 1, C: 2, M: 3, H: 1, W: 1, padH: 1, padW: 1 },
  { num: 1, C: 4, M: 4, H: 2, W: 5, padH: 1, padW: 2 },
  { num: 1, C: 33, M: 17, H: 15, W: 14, padH: 1, padW: 1 },
  { num: 2, C: 64, M: 40, H: 14, W: 14, padH: 1, padW: 1 },
  { num: 1, C: 19, M: 70, H: 28, W: 27, padH: 1, padW: 1 },
];

describe('winograd 3x3 convolution', () => {
  it('runs the WebAssembly SIMD transforms here, from the current winograd.wat', async () => {
    expect(winogradBackend()).toBe(process.env.CAFFE_TS_SIMD === 'js' ? 'js' : 'wasm-simd');
    const wat = new URL('../src/kernels/wasm/winograd.wat', import.meta.url);
    const bytes = await assemble(wat.pathname, readFileSync(wat, 'utf8'));
    const committed = readFileSync(new URL('../src/kernels/wasm/winograd.wasm', import.meta.url));
    expect(committed.equals(bytes), 'src/kernels/wasm/winograd.wasm is stale: run npm run build').toBe(true);
  });

  // Each tile twice: the SIMD transforms (float32) and the JS ones (doubles).
  const variants = [[2, true], [2, false], [4, true], [4, false]] as const;
  for (const [tile, simd] of variants) {
    for (const c of shapes) {
      const name = `F(${tile}x${tile},3x3) ${simd ? 'simd' : 'js'} ${c.num}x${c.C}x${c.H}x${c.W} -> ${c.M}, pad ${c.padH},${c.padW}`;
      it(name, () => {
        const was = setWinogradSimd(simd);
        try {
          const r = rng(c.C * 1000 + c.M * 10 + c.H + tile);
          const x = rand(c.num * c.C * c.H * c.W, r);
          const w = rand(c.M * c.C * 9, r, 1 / Math.sqrt(9 * c.C));
          const b = rand(c.M, r);
          const ref = direct(c, x, w, b);
          const got = winograd(c, tile, x, w, b);
          const eNew = relErr(got, ref);
          const old = gemmPath(c, x, w, b);
          const eOld = relErr(old, ref);
          // float32: the GEMM path sits near 2^-24 * sqrt(K); the transforms add a few bits.
          expect(eNew).toBeLessThan(tile === 2 ? 2e-6 : 1e-5);
          expect(eOld).toBeLessThan(2e-6);
          expect(relErr(got, old)).toBeLessThan(tile === 2 ? 3e-6 : 1e-5);
          // Pre-transformed weights give the same values, bit for bit.
          expect(winograd(c, tile, x, w, b, true)).toEqual(got);
        } finally {
          setWinogradSimd(was);
        }
      });
    }
  }

  it('scales with the data: tiny and huge values, no bias', () => {
    const c: Case = { num: 1, C: 21, M: 10, H: 9, W: 12, padH: 1, padW: 1 };
    for (const scale of [1e-20, 1e20]) {
      const r = rng(7);
      const x = rand(c.num * c.C * c.H * c.W, r, scale);
      const w = rand(c.M * c.C * 9, r);
      const ref = direct(c, x, w, null);
      for (const simd of [true, false]) {
        const was = setWinogradSimd(simd);
        for (const tile of [2, 4] as const) expect(relErr(winograd(c, tile, x, w, null), ref)).toBeLessThan(1e-5);
        setWinogradSimd(was);
      }
    }
  });

  it('large batches are cut into chunks with the same results', () => {
    const c: Case = { num: 5, C: 128, M: 64, H: 30, W: 30, padH: 1, padW: 1 };
    const r = rng(11);
    const x = rand(c.num * c.C * c.H * c.W, r);
    const w = rand(c.M * c.C * 9, r, 0.03);
    const b = rand(c.M, r);
    const all = winograd(c, 4, x, w, b);
    const per = c.C * c.H * c.W;
    const [Ho, Wo] = outDims(c);
    const one: Case = { ...c, num: 1 };
    for (let n = 0; n < c.num; n++) {
      const y = winograd(one, 4, x.subarray(n * per, (n + 1) * per), w, b);
      const part = all.subarray(n * c.M * Ho * Wo, (n + 1) * c.M * Ho * Wo);
      expect(relErr(part, y)).toBeLessThan(1e-6);
    }
  });

  it('matches the Convolution layer (im2col + GEMM) on two threads as well', () => {
    const old = setGemmThreads(2);
    try {
      const c: Case = { num: 2, C: 48, M: 36, H: 17, W: 18, padH: 1, padW: 1 };
      const layer = createLayer(fromObject('LayerParameter', {
        name: 'c', type: 'Convolution',
        convolution_param: { num_output: c.M, kernel_size: [3], pad: [1], weight_filler: { type: 'gaussian', std: 0.05 }, bias_filler: { type: 'gaussian', std: 1 } },
      }));
      const r = rng(3);
      const bottom = new Blob([c.num, c.C, c.H, c.W]);
      bottom.data.set(rand(bottom.count, r));
      const top = new Blob();
      layer.setUp([bottom], [top]);
      layer.forward([bottom], [top]);
      const ref = direct(c, bottom.data, layer.blobs[0].data, layer.blobs[1].data);
      for (const tile of [2, 4] as const) {
        const got = winograd(c, tile, bottom.data, layer.blobs[0].data, layer.blobs[1].data);
        expect(relErr(got, top.data)).toBeLessThan(1e-5);
        expect(relErr(got, ref)).toBeLessThan(1e-5);
      }
    } finally {
      setGemmThreads(old);
    }
  });

  it('applies to 2-D 3x3 stride-1 undilated ungrouped convolutions only', () => {
    const g = { kernel: [3, 3], stride: [1, 1], pad: [1, 1], dilation: [1, 1], group: 1 };
    expect(winogradApplies(g)).toBe(true);
    expect(winogradApplies({ ...g, pad: [0, 2] })).toBe(true);
    expect(winogradApplies({ ...g, stride: [2, 2] })).toBe(false);
    expect(winogradApplies({ ...g, dilation: [2, 2] })).toBe(false);
    expect(winogradApplies({ ...g, group: 2 })).toBe(false);
    expect(winogradApplies({ ...g, kernel: [3, 1] })).toBe(false);
    expect(winogradApplies({ ...g, kernel: [3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], dilation: [1, 1, 1] })).toBe(false);
    expect(winogradApplies({ ...g, reverse: true })).toBe(false);
    expect(winogradApplies({ ...g, forceNd: true })).toBe(false);
  });

  it('picks F(4,3) on large images, F(2,3) or nothing on small ones, nothing before a backward', () => {
    expect(winogradTileFor(3, 64, 224, 224)).toBe(0);
    expect(winogradTileFor(8, 16, 28, 28)).toBe(0);
    expect(winogradTileFor(16, 64, 55, 55)).toBe(4);
    expect(winogradTileFor(64, 64, 56, 56)).toBe(4);
    expect(winogradTileFor(128, 128, 28, 28)).toBe(4);
    expect(winogradTileFor(256, 256, 14, 14)).toBe(2);
    expect(winogradTileFor(64, 256, 13, 13)).toBe(2);
    expect(winogradTileFor(256, 256, 14, 14, { cachedWeights: true })).toBe(4);
    expect(winogradTileFor(512, 512, 7, 7)).toBe(0);
    expect(winogradTileFor(512, 512, 7, 7, { cachedWeights: true })).toBe(2);
    // Before a backward pass: im2col + GEMM (accuracy).
    expect(winogradTileFor(64, 64, 56, 56, { backward: true })).toBe(0);
    expect(winogradTileFor(256, 256, 14, 14, { backward: true, cachedWeights: true })).toBe(0);
  });

  it('transforms F(4,3) weights in SIMD as in JS (to float32 rounding), any kernel count', () => {
    for (const [M, C] of [[1, 1], [3, 5], [8, 8], [7, 33]]) {
      const w = rand(M * C * 9, rng(M * 100 + C));
      const simd = winogradWeights(w, M, C, 4);
      const was = setWinogradSimd(false);
      const js = winogradWeights(w, M, C, 4);
      setWinogradSimd(was);
      expect(simd.length).toBe(js.length);
      let e = 0;
      for (let i = 0; i < js.length; i++) e = Math.max(e, Math.abs(simd[i] - js[i]));
      expect(e).toBeLessThan(4e-7);
    }
  });
});

describe('winograd on blobs in the shared memory (the inference arena)', () => {
  // Transforms in place there, V and Mt in a scratch region of it: the bits of the copying path,
  // and nothing written past the output.
  const off = gemmBackend.kernel !== 'wasm-simd' || process.env.CAFFE_TS_THREADS === '1' || process.env.CAFFE_TS_SIMD === 'js';
  for (const threads of [1, 2]) {
    it(`gives the copying path's bits, ${threads} thread(s)`, () => {
      if (off) return;
      setGemmThreads(threads);
      if (threads > 1) gemmThreadsReady();
      const r = rng(40 + threads);
      for (const c of shapes) {
        for (const tile of [2, 4] as WinogradTile[]) {
          const [Ho, Wo] = outDims(c);
          const x = rand(c.num * c.C * c.H * c.W, r);
          const w = rand(c.M * c.C * 9, r, 0.3);
          const b = rand(c.M, r);
          const want = winograd(c, tile, x, w, b);
          const n = c.num * c.M * Ho * Wo;
          const xs = sharedArena(x.length)!;
          const ys = sharedArena(n + 8)!;
          xs.data.set(x);
          ys.data.fill(NaN, 0, n);
          ys.data.fill(7, n);
          const y = ys.data.subarray(0, n);
          const cfg: WinogradConfig = { num: c.num, channels: c.C, numOutput: c.M, height: c.H, width: c.W, padH: c.padH, padW: c.padW, tile };
          winogradConvForward(cfg, xs.data, w, b, y);
          expect(new Uint32Array(Float32Array.from(y).buffer), JSON.stringify({ ...c, tile })).toEqual(new Uint32Array(want.buffer));
          expect(Array.from(ys.data.subarray(n))).toEqual(new Array(8).fill(7));
          // With the transform cached and keyed (a frozen layer's), the products go whole to the threads.
          const nn = (tile + 2) ** 2;
          const keys = Array.from({ length: nn }, () => ({ version: 0 }));
          y.fill(NaN);
          winogradConvForward(cfg, xs.data, w, b, y, winogradWeights(w, c.M, c.C, tile), keys);
          const keyed = winograd(c, tile, x, w, b, true);
          expect(new Uint32Array(Float32Array.from(y).buffer), JSON.stringify({ ...c, tile, keyed: true })).toEqual(new Uint32Array(keyed.buffer));
          // A folded BatchNorm/Scale + ReLU applied in the output transform: the bits of the row
          // map after the plain forward (no bias: the epilogue holds it), the workers taking
          // every chunk when they run.
          const a = rand(c.M, r);
          const eb = rand(c.M, r);
          const plainY = winograd(c, tile, x, w, null, true);
          const wantEpi = Float32Array.from(plainY);
          rowMap(ROW_MUL_ADD_RELU, wantEpi, wantEpi, c.num * c.M, Ho * Wo, c.M, a, eb);
          for (const workersOnly of threads > 1 ? [false, true] : [false]) {
            setGemmWorkersOnly(workersOnly);
            y.fill(NaN);
            const applied = winogradConvForward(cfg, xs.data, w, null, y, winogradWeights(w, c.M, c.C, tile), keys, { a, b: eb, relu: true });
            setGemmWorkersOnly(false);
            expect(applied).toBe(true);
            expect(new Uint32Array(Float32Array.from(y).buffer), JSON.stringify({ ...c, tile, epi: true, workersOnly })).toEqual(new Uint32Array(wantEpi.buffer));
            expect(Array.from(ys.data.subarray(n))).toEqual(new Array(8).fill(7));
          }
          // JS arrays: left to the caller.
          expect(winogradConvForward(cfg, x, w, null, new Float32Array(n), undefined, undefined, { a, b: eb, relu: true })).toBe(false);
        }
      }
      setGemmThreads(gemmThreadInfo().threads);
    });
  }
});

describe('winograd with frozen weights (transform cached, planes kept packed)', () => {
  it('gives the thawed forward bit for bit, and a refreeze picks up new weights', async () => {
    const { Net } = await import('../src/graph/net.js');
    const { parseText } = await import('../src/format/text.js');
    for (const [size, channels] of [[28, 32], [14, 64], [56, 64]]) {
      const text = `layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: ${channels} dim: ${size} dim: ${size} } } }
layer { name: "c" type: "Convolution" bottom: "x" top: "y" convolution_param { num_output: ${channels} kernel_size: 3 pad: 1
  weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "uniform" min: -1 max: 1 } } }`;
      const net = new Net(parseText(text, 'NetParameter'), { phase: 'TEST' });
      const conv = net.layer('c') as unknown as { winoTile: number };
      const r = rng(size);
      const x = new Float32Array(2 * channels * size * size).map(() => 2 * r() - 1);
      net.forward({ x: { shape: [2, channels, size, size], data: x } });
      expect(conv.winoTile, `${size}x${size}x${channels} runs Winograd`).toBeGreaterThan(0);
      const thawed = Float32Array.from(net.blob('y').data);
      net.freezeWeights();
      for (let pass = 0; pass < 2; pass++) {
        net.forward({ x: { shape: [2, channels, size, size], data: x } });
        expect(net.blob('y').data, `pass ${pass}`).toEqual(thawed);
      }
      // New weights: thaw, write, freeze again; the cached transform must not survive.
      net.thawWeights();
      const w = net.layer('c').blobs[0].data;
      for (let i = 0; i < w.length; i++) w[i] *= -0.5;
      net.forward({ x: { shape: [2, channels, size, size], data: x } });
      const changed = Float32Array.from(net.blob('y').data);
      expect(changed).not.toEqual(thawed);
      net.freezeWeights();
      net.forward({ x: { shape: [2, channels, size, size], data: x } });
      expect(net.blob('y').data).toEqual(changed);
    }
  });
});
