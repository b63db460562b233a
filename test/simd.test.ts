// The WebAssembly SIMD kernels (src/kernels/simd.ts, wasm/simd.wat) against the JS loops they
// replace, bit for bit: ReLU and its gradient, the element-wise sum, the per-row maps of
// kernels/rows.ts (Scale, Bias, BatchNorm, the convolution bias) and Scale's backward rows, MAX
// pooling with its argmax, LRN across channels, Dropout's Bernoulli draws and strided im2col;
// then finite-difference gradient checks of the layers with the kernels taking every run
// (SIMD_MIN lowered to 1, so the small test blobs go through them too).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { addArrays, reluArrays, reluBackwardArrays } from '../src/kernels/loops.js';
import { convOutSize, im2col } from '../src/kernels/im2col.js';
import { gemmThreadInfo, gemmThreadsReady, setGemmThreads, setGemmWorkersOnly } from '../src/kernels/gemm.js';
import { maxPoolSimd, poolWindows, setMaxPoolSplitMinWork } from '../src/kernels/pooling.js';
import { Rng } from '../src/kernels/rng.js';
import { ROW_ADD, ROW_CENTER_DIV, ROW_DIV, ROW_MUL, ROW_MUL_ADD, ROW_MUL_ADD_RELU, rowMap, scaleGradRows } from '../src/kernels/rows.js';
import { setSimdKernels, setSimdMin, SIMD_BLOCK, simdBackend } from '../src/kernels/simd.js';
import { assemble } from '../scripts/build-wasm.mjs';
import { checkGradient, randomBlob, rng } from './gradient-checker.js';
import { layer, type Phase } from './helpers.js';

const f32 = Math.fround;
const FLT_MAX = 3.4028234663852886e38;
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, FLT_MAX, -FLT_MAX, 1, -1];

/** n floats: mostly uniform in [-2, 2), with every special value in the first places. */
function values(n: number, seed: number, specials = true): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = specials && i < SPECIAL.length ? SPECIAL[i] : 4 * r() - 2;
  if (specials) for (let i = SPECIAL.length; i < n; i += 97) a[i] = SPECIAL[i % SPECIAL.length];
  return a;
}

/** The same computation with the SIMD kernels and with the JS loops; both results. */
function both<T>(f: () => T): [T, T] {
  setSimdKernels(true);
  const simd = f();
  setSimdKernels(false);
  const js = f();
  setSimdKernels(true);
  return [simd, js];
}

/** Bit-for-bit equality (NaN equals NaN, -0 differs from 0). */
function sameBits(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) expect(`[${i}] ${got[i]}`).toBe(`[${i}] ${want[i]}`);
  }
}

const LENGTHS = [1, 3, 4, 5, 255, 256, 1003, SIMD_BLOCK - 1, SIMD_BLOCK, SIMD_BLOCK + 5, 2 * SIMD_BLOCK + 3];

beforeAll(() => {
  setSimdMin(1);
});
afterAll(() => {
  setSimdMin(256);
  setSimdKernels(true);
});

describe('SIMD kernels', () => {
  it('are in use, and simd.wasm is assembled from the current simd.wat', async () => {
    if (process.env.CAFFE_TS_SIMD === 'js') expect(simdBackend()).toEqual({ kernel: 'js', reason: 'CAFFE_TS_SIMD=js' });
    else expect(simdBackend()).toEqual({ kernel: 'wasm-simd', reason: '' });
    const wat = new URL('../src/kernels/wasm/simd.wat', import.meta.url);
    const bytes = await assemble(wat.pathname, readFileSync(wat, 'utf8'));
    const committed = readFileSync(new URL('../src/kernels/wasm/simd.wasm', import.meta.url));
    expect(committed.equals(bytes), 'src/kernels/wasm/simd.wasm is stale: run npm run build').toBe(true);
  });

  it('ReLU forward and backward equal the JS loops (slope 0 and leaky; in place; views)', () => {
    for (const n of LENGTHS) {
      const x = values(n + 3, n);
      const dy = values(n + 3, n + 1);
      for (const slope of [0, f32(0.1), f32(-2.5)]) {
        const [a, b] = both(() => {
          const y = new Float32Array(n);
          reluArrays(x.subarray(3), y, n, slope);
          const inPlace = x.slice(3);
          reluArrays(inPlace, inPlace, n, slope);
          const dx = new Float32Array(n);
          reluBackwardArrays(x.subarray(3), dy.subarray(3), dx, n, slope);
          const g = dy.slice(3);
          reluBackwardArrays(x.subarray(3), g, g, n, slope);
          return [y, inPlace, dx, g];
        });
        a.forEach((v, i) => sameBits(v, b[i]));
      }
    }
  });

  it('the element-wise sum equals the JS loop (out of place and into either operand)', () => {
    for (const n of LENGTHS) {
      const p = values(n, 2 * n);
      const q = values(n, 2 * n + 1);
      const [a, b] = both(() => {
        const y = new Float32Array(n);
        addArrays(p, q, y, n);
        const intoA = p.slice();
        addArrays(intoA, q, intoA, n);
        const intoB = q.slice();
        addArrays(p, intoB, intoB, n);
        return [y, intoA, intoB];
      });
      a.forEach((v, i) => sameBits(v, b[i]));
    }
  });

  it('the per-row maps equal the JS loops in every mode (rows of any length, operands cycling)', () => {
    const shapes: [number, number, number][] = [[1, 5, 1], [6, 49, 3], [7, 1, 7], [300, 3, 100], [2, SIMD_BLOCK + 7, 2], [64, 513, 64]];
    for (const [rows, S, dim] of shapes) {
      const x = values(rows * S, rows + S);
      const a = values(dim, dim, false);
      const b = values(dim, dim + 1, false).map((v) => Math.abs(v) + 0.01); // a std: positive
      for (const mode of [ROW_MUL, ROW_MUL_ADD, ROW_ADD, ROW_CENTER_DIV, ROW_DIV, ROW_MUL_ADD_RELU]) {
        const [s, j] = both(() => {
          const y = new Float32Array(rows * S);
          rowMap(mode, x, y, rows, S, dim, a, b);
          const inPlace = x.slice();
          rowMap(mode, inPlace, inPlace, rows, S, dim, a, b);
          return [y, inPlace];
        });
        sameBits(s[0], j[0]);
        sameBits(s[1], j[1]);
        sameBits(s[1], s[0]);
      }
    }
  });

  it("Scale's backward rows equal the JS loops (sums in the same order, every row-length remainder, in place)", () => {
    for (const S of [1, 2, 3, 4, 5, 6, 7, 49, 50, 51, SIMD_BLOCK + 3]) {
      const rows = S > 100 ? 3 : 37;
      const dim = S > 100 ? 2 : 5;
      const dy = values(rows * S, S);
      const x = values(rows * S, S + 1, false);
      const sc = values(dim, S + 2, false);
      for (const withBias of [true, false]) {
        const [a, b] = both(() => {
          const dx = new Float32Array(rows * S);
          const bias = withBias ? new Float64Array(rows) : null;
          const grad = new Float64Array(rows);
          scaleGradRows(dy, x, dx, rows, S, dim, sc, bias, grad);
          const g = dy.slice();
          const grad2 = new Float64Array(rows);
          scaleGradRows(g, x, g, rows, S, dim, sc, null, grad2);
          return [dx, grad, bias ?? new Float64Array(0), g, grad2];
        });
        a.forEach((v, i) => sameBits(v, b[i]));
      }
    }
  });

  it("Bernoulli bytes from the kernel's MT19937 are Rng.bernoulli's draws, and the stream continues alike", () => {
    for (const [skip, n, p] of [[0, 1, 0.5], [3, 1000, 0.5], [1001, 4 * SIMD_BLOCK + 77, 0.3], [7, 5000, 1], [5, 700, 0]] as const) {
      const [a, b] = both(() => {
        const r = new Rng(1234);
        for (let i = 0; i < skip; i++) r.nextUint32();
        const out = new Uint8Array(n);
        r.fillBernoulliBytes(out, n, p);
        return [out, Float64Array.from([r.nextUint32(), r.random(), r.gaussian()])];
      });
      sameBits(a[0], b[0]);
      sameBits(a[1], b[1]);
      const r = new Rng(1234);
      for (let i = 0; i < skip; i++) r.nextUint32();
      sameBits(a[0], Array.from({ length: n }, () => r.bernoulli(p)));
    }
  });

  it('im2col of strided kernels equals the JS gathers (pads, dilations, uneven strides, kernels past the image)', () => {
    const geoms = [
      // C, H, W, kH, kW, padH, padW, sH, sW, dH, dW
      [3, 11, 13, 3, 3, 1, 1, 2, 2, 1, 1],
      [2, 9, 9, 7, 7, 3, 3, 2, 2, 1, 1],
      [2, 10, 7, 3, 2, 0, 1, 1, 3, 1, 1],
      [1, 8, 12, 2, 3, 1, 2, 3, 2, 2, 2],
      [4, 5, 5, 3, 3, 2, 2, 2, 2, 1, 1],
      [2, 6, 6, 5, 5, 0, 0, 2, 2, 1, 1],
    ];
    for (const [C, H, W, kH, kW, pH, pW, sH, sW, dH, dW] of geoms) {
      const outH = convOutSize(H, kH, pH, sH, dH);
      const outW = convOutSize(W, kW, pW, sW, dW);
      const im = values(C * H * W, C + H + W);
      const [a, b] = both(() => {
        const col = new Float32Array(C * kH * kW * outH * outW).fill(7);
        im2col(im, C, H, W, kH, kW, pH, pW, sH, sW, dH, dW, col);
        return col;
      });
      sameBits(a, b);
    }
  });

  it('the per-row maps compute the float32 operations they name', () => {
    const rows = 40;
    const S = 37;
    const x = values(rows * S, 5);
    const a = values(rows, 6, false);
    const b = values(rows, 7, false).map((v) => Math.abs(v) + 1e-3);
    const want = (mode: number, v: number, r: number): number => {
      if (mode === ROW_MUL) return f32(v * a[r]);
      if (mode === ROW_MUL_ADD) return f32(f32(v * a[r]) + b[r]);
      if (mode === ROW_ADD) return f32(v + b[r]);
      if (mode === ROW_CENTER_DIV) return f32(f32(v - a[r]) / b[r]);
      if (mode === ROW_MUL_ADD_RELU) {
        const y = f32(f32(v * a[r]) + b[r]);
        return y > 0 ? y : 0 * y; // ReLU as the layer computes it: -0 for negatives, NaN kept
      }
      return f32(v / b[r]);
    };
    for (const simd of [true, false]) {
      setSimdKernels(simd);
      for (const mode of [ROW_MUL, ROW_MUL_ADD, ROW_ADD, ROW_CENTER_DIV, ROW_DIV, ROW_MUL_ADD_RELU]) {
        const y = new Float32Array(rows * S);
        rowMap(mode, x, y, rows, S, rows, a, b);
        sameBits(y, Array.from(x, (v, i) => want(mode, v, Math.floor(i / S))));
      }
    }
    setSimdKernels(true);
  });

  describe('MAX pooling', () => {
    const fills: Record<string, (r: () => number) => number> = {
      uniform: (r) => r() - 0.5,
      ties: (r) => Math.floor(3 * r()) - 1,
      special: (r) => [NaN, -Infinity, -FLT_MAX, -0, 0, 1, Infinity, -1][Math.floor(8 * r())],
      empty: (r) => (r() < 0.5 ? -Infinity : NaN),
    };

    /** The Pooling layer's top and argmax top, with the SIMD kernel or the JS loop. */
    function pool(pp: Record<string, unknown>, shape: number[], fill: (r: () => number) => number): [Float32Array, Float32Array][] {
      return both(() => {
        const l = layer('Pooling', { pooling_param: { pool: 'MAX', ...pp } }, 'TEST');
        const x = new Blob(shape);
        const r = rng(shape.reduce((p, d) => p * d, 1));
        for (let i = 0; i < x.count; i++) x.data[i] = fill(r);
        const [y, m] = [new Blob(), new Blob()];
        l.setUp([x], [y, m]);
        l.forward([x], [y, m]);
        return [y.data, m.data];
      });
    }

    /**
     * The Pooling layer's top without a mask top and with no backward planned (the kernel's values
     * alone), and whether it left the argmax array untouched (so the values export ran).
     */
    function poolValues(pp: Record<string, unknown>, shape: number[], fill: (r: () => number) => number): [Float32Array, boolean] {
      const l = layer('Pooling', { pooling_param: { pool: 'MAX', ...pp } }, 'TEST');
      l.backwardPlanned = false;
      const x = new Blob(shape);
      const r = rng(shape.reduce((p, d) => p * d, 1));
      for (let i = 0; i < x.count; i++) x.data[i] = fill(r);
      const y = new Blob();
      l.setUp([x], [y]);
      const maxIdx = (l as unknown as { maxIdx: Int32Array }).maxIdx;
      maxIdx.fill(-7);
      l.forward([x], [y]);
      return [y.data, maxIdx.every((v) => v === -7)];
    }

    it('equals the JS loop: values and argmax, over kernels, strides, padding, rounding and data', () => {
      let cases = 0;
      for (const k of [1, 2, 3, 5]) {
        for (const s of [1, 2, 3]) {
          for (const pad of [0, 1, 2]) {
            for (const [H, W] of [[7, 7], [5, 13], [11, 4]]) {
              for (const round_mode of ['CEIL', 'FLOOR']) {
                if (pad >= k || k > H + 2 * pad || k > W + 2 * pad) continue;
                for (const fill of Object.values(fills)) {
                  const [[y, m], [yJs, mJs]] = pool({ kernel_size: k, stride: s, pad, round_mode }, [2, 3, H, W], fill);
                  sameBits(y, yJs);
                  sameBits(m, mJs);
                  cases++;
                }
              }
            }
          }
        }
      }
      expect(cases).toBeGreaterThan(300);
    });

    it('equals the JS loop for rectangular windows, global pooling and planes grouped per call', () => {
      const specs: [Record<string, unknown>, number[]][] = [
        [{ kernel_h: 3, kernel_w: 2, stride_h: 1, stride_w: 2, pad_h: 1, pad_w: 0 }, [1, 4, 17, 23]],
        [{ kernel_h: 2, kernel_w: 5, stride_h: 2, stride_w: 3, pad_h: 0, pad_w: 2 }, [2, 2, 9, 30]],
        [{ global_pooling: true }, [2, 5, 6, 7]],
        [{ kernel_size: 3, stride: 2 }, [1, 200, 15, 15]], // many planes per kernel call
        [{ kernel_size: 3, stride: 2, pad: 1 }, [1, 2, 190, 190]], // one plane per call
      ];
      for (const [pp, shape] of specs) {
        const [[y, m], [yJs, mJs]] = pool(pp, shape, fills.uniform);
        sameBits(y, yJs);
        sameBits(m, mJs);
      }
    });

    it('without a mask top or a backward, the values alone equal the argmax path and the JS loop (random geometries)', () => {
      const r = rng(2024);
      const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
      let cases = 0;
      for (let t = 0; t < 400; t++) {
        const kH = int(1, 6), kW = int(1, 6);
        const pp: Record<string, unknown> = {
          kernel_h: kH, kernel_w: kW, stride_h: int(1, 4), stride_w: int(1, 4), pad_h: int(0, kH - 1), pad_w: int(0, kW - 1),
          round_mode: r() < 0.5 ? 'CEIL' : 'FLOOR',
        };
        const shape = [int(1, 2), int(1, 5), int(kH, 21), int(kW, 21)];
        const fill = Object.values(fills)[t % 4];
        const [[y, m], [yJs, mJs]] = pool(pp, shape, fill);
        sameBits(m, mJs);
        sameBits(y, yJs);
        const [yv, untouched] = poolValues(pp, shape, fill);
        expect(untouched).toBe(true);
        sameBits(yv, y);
        cases++;
      }
      // The usual shapes, the planes above the split threshold among them (threads as configured).
      for (const [pp, shape] of [
        [{ kernel_size: 3, stride: 2 }, [1, 64, 55, 55]],
        [{ kernel_size: 3, stride: 1, pad: 1 }, [1, 192, 28, 28]],
        [{ kernel_size: 3, stride: 2, pad: 1 }, [1, 2, 190, 190]],
        [{ global_pooling: true }, [2, 5, 6, 7]],
      ] as [Record<string, unknown>, number[]][]) {
        for (const fill of Object.values(fills)) {
          const [[y], [yJs]] = pool(pp, shape, fill);
          sameBits(y, yJs);
          const [yv, untouched] = poolValues(pp, shape, fill);
          expect(untouched).toBe(true);
          sameBits(yv, y);
          cases++;
        }
      }
      expect(cases).toBe(416);
    });

    it('keeps the argmax when a mask top or a backward may read it', () => {
      const pp = { pooling_param: { pool: 'MAX', kernel_size: 3, stride: 2 } };
      for (const [planned, nTops] of [[true, 1], [false, 2], [true, 2]] as [boolean, number][]) {
        const l = layer('Pooling', pp, 'TRAIN');
        l.backwardPlanned = planned;
        const x = new Blob([1, 8, 9, 9]);
        const r = rng(5);
        for (let i = 0; i < x.count; i++) x.data[i] = r() - 0.5;
        const t = Array.from({ length: nTops }, () => new Blob());
        l.setUp([x], t);
        const maxIdx = (l as unknown as { maxIdx: Int32Array }).maxIdx;
        maxIdx.fill(-7);
        l.forward([x], t);
        // Every window here holds its maximum: every argmax is a cell of the plane.
        expect(maxIdx.every((v) => v >= 0 && v < 81)).toBe(true);
        if (nTops === 2) sameBits(t[1].data, Float32Array.from(maxIdx));
        if (planned) {
          // The backward routes each top diff to its argmax, as the JS loop's mask does.
          const [gSimd, gJs] = both(() => {
            const l2 = layer('Pooling', pp, 'TRAIN');
            const t2 = Array.from({ length: nTops }, () => new Blob());
            l2.setUp([x], t2);
            l2.forward([x], t2);
            t2[0].diff.fill(1);
            x.diff.fill(0);
            l2.backward(t2, [true], [x]);
            return Float32Array.from(x.diff);
          });
          sameBits(gSimd, gJs);
        }
      }
    });

    it('maxPoolSimd with a null mask stores the values alone', () => {
      const x = Float32Array.from([1, 5, 2, 7, 3, 0, 4, 8, 6]);
      const y = new Float32Array(4);
      expect(maxPoolSimd(x, 1, 3, 3, poolWindows(2, 1, 0, 2, 3), 2, 1, 2, 0, y, null)).toBe(true);
      expect(Array.from(y)).toEqual([7, 5, 8, 8]);
    });

    for (const workersOnly of [false, true]) {
      it(`split by planes between threads, gives one thread's bits${workersOnly ? ' (the worker pooling every chunk)' : ''}`, () => {
        // Threads forced on, every pooling split; nothing to split where the environment turns threads off.
        if (process.env.CAFFE_TS_SIMD === 'js' || process.env.CAFFE_TS_GEMM === 'js' || process.env.CAFFE_TS_THREADS === '1') return;
        setGemmThreads(2);
        expect(gemmThreadsReady()).toBe(2);
        const minWas = setMaxPoolSplitMinWork(0);
        setGemmWorkersOnly(workersOnly);
        try {
          const before = gemmThreadInfo().workerPanels;
          const specs: [Record<string, unknown>, number[]][] = [
            [{ kernel_size: 3, stride: 2 }, [1, 19, 15, 15]],
            [{ kernel_size: 3, stride: 2, pad: 1 }, [2, 7, 14, 13]],
            [{ kernel_h: 2, kernel_w: 5, stride_h: 2, stride_w: 3, pad_h: 0, pad_w: 2 }, [1, 5, 9, 30]],
            [{ global_pooling: true }, [1, 9, 6, 7]],
          ];
          for (const [pp, shape] of specs) {
            for (const fill of Object.values(fills)) {
              setGemmThreads(1);
              const [[y1, m1]] = pool(pp, shape, fill);
              setGemmThreads(2);
              const [[y2, m2], [yJs, mJs]] = pool(pp, shape, fill);
              sameBits(y2, y1);
              sameBits(m2, m1);
              sameBits(y2, yJs);
              sameBits(m2, mJs);
              // The values alone, split the same way (the worker picks maxpool_values).
              const [yv, untouched] = poolValues(pp, shape, fill);
              expect(untouched).toBe(true);
              sameBits(yv, y1);
            }
          }
          // Workers only: the worker pools every chunk of every split (a Pooling layer pools its num
          // x channels planes at once; this thread keeps the first half, the rest goes in at most 4
          // chunks). Otherwise this thread may take them all before the worker wakes.
          const chunks = gemmThreadInfo().workerPanels - before;
          const split = (planes: number) => Math.min(planes - Math.floor(planes / 2), 4);
          if (workersOnly) expect(chunks).toBe(2 * Object.keys(fills).length * specs.reduce((n, [, s]) => n + split(s[0] * s[1]), 0));
        } finally {
          setMaxPoolSplitMinWork(minWas);
          setGemmWorkersOnly(false);
          setGemmThreads(gemmThreadInfo().threads);
        }
      });
    }

    it('maxPoolSimd fills values and argmax directly', () => {
      const x = Float32Array.from([1, 5, 2, 7, 3, 0, 4, 8, 6]);
      const y = new Float32Array(4);
      const m = new Int32Array(4);
      expect(maxPoolSimd(x, 1, 3, 3, poolWindows(2, 1, 0, 2, 3), 2, 1, 2, 0, y, m)).toBe(true);
      expect(Array.from(y)).toEqual([7, 5, 8, 8]);
      expect(Array.from(m)).toEqual([3, 1, 7, 7]);
    });
  });

  it('LRN across channels, forward and backward, equals the JS loop (window sizes, tiny planes, in place, batches)', () => {
    const specs: [Record<string, unknown>, number[]][] = [
      [{}, [2, 7, 5, 6]],
      [{ local_size: 3, alpha: 0.5, k: 2 }, [1, 4, 1, 3]], // planes under four floats
      [{ local_size: 1, alpha: 1e-4 }, [1, 3, 4, 4]],
      [{ local_size: 9, alpha: 0.01 }, [2, 5, 3, 7]], // a window wider than the channels
      [{ local_size: 5, alpha: 1e-4, beta: 0.75 }, [1, 64, 14, 14]],
    ];
    for (const [lp, shape] of specs) {
      for (const inPlace of [false, true]) {
        const [s, j] = both(() => {
          const l = layer('LRN', { lrn_param: lp }, 'TEST');
          const x = randomBlob(shape, 9, -3, 3);
          const y = inPlace ? x : new Blob();
          l.setUp([x], [y]);
          l.forward([x], [y]);
          const out = [y.data.slice(), (l as unknown as { scale: Float32Array }).scale.slice()];
          const dy = randomBlob(shape, 10);
          y.diff.set(dy.data);
          l.backward([y], [true], [x]);
          return [...out, x.diff.slice(), y.diff.slice()];
        });
        s.forEach((v, i) => sameBits(v, j[i]));
      }
    }
  });

  describe('gradients with the kernels on every run', () => {
    const grad = (type: string, extra: Record<string, unknown>, shape: number[], phase: Phase = 'TRAIN', opts = {}) =>
      checkGradient(layer(type, extra, phase), [randomBlob(shape, 3, -2, 2)], [new Blob()], opts);

    it('ReLU (plain and leaky)', () => {
      grad('ReLU', {}, [2, 3, 4, 5], 'TRAIN', { kinkRange: 0.02 });
      grad('ReLU', { relu_param: { negative_slope: 0.1 } }, [2, 3, 4, 5], 'TRAIN', { kinkRange: 0.02 });
    });
    it('MAX pooling (padded, strided, ceil-rounded; with the argmax top)', () => {
      // Values 0.1 apart in random order, so that the small steps never change a max.
      const distinct = (shape: number[], seed: number) => {
        const b = new Blob(shape);
        const r = rng(seed);
        const perm = Array.from({ length: b.count }, (_, i) => i).sort(() => r() - 0.5);
        b.data.set(perm.map((v) => (v - b.count / 2) * 0.1));
        return b;
      };
      const pool = (pp: Record<string, unknown>) => layer('Pooling', { pooling_param: { pool: 'MAX', ...pp } }, 'TRAIN');
      const opts = { stepsize: 1e-3, threshold: 1e-2 };
      checkGradient(pool({ kernel_size: 3, stride: 2, pad: 1 }), [distinct([2, 2, 6, 7], 3)], [new Blob()], opts);
      checkGradient(pool({ kernel_size: 2, stride: 1 }), [distinct([1, 3, 5, 5], 4)], [new Blob(), new Blob()], opts);
    });
    it('Scale with bias, Bias', () => {
      grad('Scale', { scale_param: { bias_term: true, filler: { type: 'uniform', min: -1, max: 1 }, bias_filler: { type: 'uniform' } } }, [2, 3, 4, 5]);
      grad('Scale', { scale_param: { axis: 1, num_axes: 1 } }, [2, 3, 5]);
      grad('Bias', { bias_param: { filler: { type: 'uniform' } } }, [2, 3, 4, 5]);
    });
    it('BatchNorm with local and with global statistics', () => {
      grad('BatchNorm', {}, [3, 4, 3, 2], 'TRAIN', { params: false, stepsize: 1e-3, threshold: 1e-2 });
      const l = layer('BatchNorm', {}, 'TEST');
      const x = randomBlob([3, 4, 3, 2], 4);
      l.setUp([x], [new Blob()]);
      const [m, v, f] = l.blobs;
      for (let c = 0; c < 4; c++) {
        m.data[c] = 0.3 * c - 0.2;
        v.data[c] = 0.5 + 0.25 * c;
      }
      f.data[0] = 1;
      checkGradient(l, [x], [new Blob()], { params: false });
    });
    it('LRN across channels (beta 0.75)', () => {
      checkGradient(layer('LRN', { lrn_param: { local_size: 3, alpha: 0.5 } }), [randomBlob([2, 5, 3, 2], 1)], [new Blob()], { threshold: 1e-2 });
      checkGradient(layer('LRN', { lrn_param: { alpha: 0.3, k: 2 } }), [randomBlob([2, 7, 2, 3], 2)], [new Blob()], { threshold: 1e-2 });
    });
    it('Eltwise SUM, the convolution bias and strided im2col', () => {
      const l = layer('Eltwise', {}, 'TRAIN');
      checkGradient(l, [randomBlob([2, 3, 4], 1), randomBlob([2, 3, 4], 2)], [new Blob()]);
      grad('Convolution', { convolution_param: { num_output: 3, kernel_size: [1], weight_filler: { type: 'gaussian' }, bias_filler: { type: 'gaussian' } } }, [2, 2, 3, 4]);
      // a strided 3 x 3 kernel: im2col through the kernel
      grad('Convolution', { convolution_param: { num_output: 2, kernel_size: [3], stride: [2], pad: [1], weight_filler: { type: 'gaussian' }, bias_filler: { type: 'gaussian' } } }, [2, 2, 5, 6]);
    });
  });
});
