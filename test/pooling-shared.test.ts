// Pooling (MAX, AVE) and LRN across channels on blobs in the kernels' shared memory (sharedArena:
// the inference memory plan's blobs), which the SIMD kernels read and write in place, split
// between threads: each must give the bits of the JS loops on JS arrays, on one thread, on two,
// and with the worker computing every chunk, and write nothing past its output. AVE pooling's
// kernel is also compared with the JS loop on JS arrays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { setAvePoolSplitMinWork } from '../src/kernels/ave-pooling.js';
import { gemmThreadInfo, gemmThreadsReady, setGemmThreads, setGemmWorkersOnly, sharedArena } from '../src/kernels/gemm.js';
import { setLrnSplitMinPositions } from '../src/kernels/lrn.js';
import { setMaxPoolSplitMinWork } from '../src/kernels/pooling.js';
import { setSimdKernels, setSimdMin, simdBackend } from '../src/kernels/simd.js';
import { rng } from './gradient-checker.js';
import { layer } from './helpers.js';

const FLT_MAX = 3.4028234663852886e38;
/** Written around the outputs in the shared memory; must be there after the forward. */
const GUARD = -12345.625;
const GUARDS = 7;

/** Every float of each array, bit for bit (NaN equals NaN, -0 differs from 0). */
function sameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) expect(`${what} [${i}] ${got[i]}`).toBe(`${what} [${i}] ${want[i]}`);
  }
}

type Fill = (r: () => number) => number;
const fills: Record<string, Fill> = {
  uniform: (r) => 4 * r() - 2,
  // Magnitudes over 2^-30 .. 2^30: double sums then depend on their order.
  spread: (r) => (r() - 0.5) * 2 ** Math.floor(60 * r() - 30),
  special: (r) => [NaN, -Infinity, -FLT_MAX, -0, 0, 1, Infinity, -1, 3.5, 1e-40][Math.floor(10 * r())],
  ties: (r) => Math.floor(3 * r()) - 1,
};

interface Run {
  outs: Float32Array[];
  /** Whether the guards around the outputs are intact (shared runs). */
  guarded: boolean;
}

/**
 * One forward of a layer (TEST, no backward unless `backward`) on `shape` filled by `fill`, its
 * blobs in JS arrays or in the shared memory (the top at an odd float offset, with guard floats
 * either side); in place (top = bottom) when inPlace. The tops' values.
 */
function forward(
  type: string, param: Record<string, unknown>, shape: number[], fill: Fill, where: 'js' | 'shared',
  opts: { inPlace?: boolean; tops?: number; backward?: boolean } = {},
): Run {
  const l = layer(type, param, 'TEST');
  l.backwardPlanned = opts.backward ?? false;
  const x = new Blob(shape);
  const tops = opts.inPlace ? [x] : Array.from({ length: opts.tops ?? 1 }, () => new Blob());
  l.setUp([x], tops);
  const owners: object[] = [];
  const guards: Float32Array[] = [];
  if (where === 'shared') {
    const blobs = opts.inPlace ? [x] : [x, ...tops];
    for (const b of blobs) {
      // An odd offset after leading guards, guards after.
      const s = sharedArena(b.count + 2 * GUARDS + 1);
      if (s === null) throw new Error('no shared arena');
      owners.push(s.owner);
      s.data.fill(GUARD);
      b.useDataStore(s.data.subarray(GUARDS, GUARDS + b.count), s.owner);
      guards.push(s.data);
    }
  }
  const r = rng(shape.reduce((p, d) => p * d, 7));
  for (let i = 0; i < x.count; i++) x.data[i] = fill(r);
  l.forward([x], tops);
  let guarded = true;
  for (const g of guards) {
    const n = g.length - 2 * GUARDS - 1;
    for (let i = 0; i < GUARDS; i++) if (g[i] !== GUARD) guarded = false;
    for (let i = GUARDS + n; i < g.length; i++) if (g[i] !== GUARD) guarded = false;
  }
  const outs = tops.map((t) => Float32Array.from(t.data));
  // With a backward planned, MAX pooling's argmax (which the backward reads) too.
  const maxIdx = (l as unknown as { maxIdx?: Int32Array }).maxIdx;
  if (opts.backward && maxIdx) outs.push(Float32Array.from(maxIdx));
  owners.length = 0;
  return { outs, guarded };
}

const noShared = (): boolean => sharedArena(1) === null;
const noThreads = (): boolean =>
  process.env.CAFFE_TS_SIMD === 'js' || process.env.CAFFE_TS_GEMM === 'js' || process.env.CAFFE_TS_THREADS === '1' || noShared();

interface Spec {
  type: string;
  param: Record<string, unknown>;
  shape: number[];
  opts?: { inPlace?: boolean; tops?: number; backward?: boolean };
}

const maxSpecs: Spec[] = [
  { type: 'Pooling', param: { pooling_param: { pool: 'MAX', kernel_size: 3, stride: 2 } }, shape: [1, 19, 15, 15] },
  { type: 'Pooling', param: { pooling_param: { pool: 'MAX', kernel_size: 3, stride: 1, pad: 1 } }, shape: [2, 7, 14, 13] },
  { type: 'Pooling', param: { pooling_param: { pool: 'MAX', kernel_size: 3, stride: 2, pad: 1 } }, shape: [1, 5, 13, 11] },
  { type: 'Pooling', param: { pooling_param: { pool: 'MAX', kernel_h: 2, kernel_w: 5, stride_h: 2, stride_w: 3, pad_w: 2, pad_h: 0 } }, shape: [1, 5, 9, 30] },
  { type: 'Pooling', param: { pooling_param: { pool: 'MAX', global_pooling: true } }, shape: [1, 9, 6, 7] },
  // The argmax wanted: a mask top, or a backward planned.
  { type: 'Pooling', param: { pooling_param: { pool: 'MAX', kernel_size: 3, stride: 2 } }, shape: [2, 6, 9, 9], opts: { tops: 2 } },
  { type: 'Pooling', param: { pooling_param: { pool: 'MAX', kernel_size: 2, stride: 2 } }, shape: [1, 11, 8, 7], opts: { backward: true } },
];

const aveSpecs: Spec[] = [
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', global_pooling: true } }, shape: [1, 16, 7, 7] },
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', global_pooling: true } }, shape: [2, 13, 14, 14] }, // planes not in fours
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', kernel_size: 3, stride: 1, pad: 1 } }, shape: [1, 11, 9, 9] },
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', kernel_size: 5, stride: 3 } }, shape: [1, 6, 14, 14] },
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', kernel_size: 3, stride: 2, pad: 1 } }, shape: [2, 5, 13, 11] },
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', kernel_h: 2, kernel_w: 3, stride_h: 1, stride_w: 2, pad_h: 1, pad_w: 2 } }, shape: [1, 9, 5, 12] },
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', kernel_size: 2, stride: 2, round_mode: 'FLOOR' } }, shape: [1, 7, 9, 9] },
  // CEIL with a stride over the kernel: the last windows lie past the plane (an empty sum over a
  // negative span, -0).
  { type: 'Pooling', param: { pooling_param: { pool: 'AVE', kernel_size: 1, stride: 3 } }, shape: [1, 4, 5, 5] },
];

const lrnSpecs: Spec[] = [];
for (const [lp, shape] of [
  [{}, [1, 16, 7, 9]],
  [{ local_size: 3, alpha: 0.5, k: 2 }, [2, 7, 5, 6]],
  [{ local_size: 9, alpha: 0.01 }, [1, 5, 3, 7]], // a window wider than the channels
  [{ local_size: 1, alpha: 1e-4 }, [1, 3, 4, 4]],
  [{ local_size: 5, alpha: 1e-4, beta: 0.75 }, [1, 64, 14, 14]], // several blocks of positions
  [{ local_size: 3 }, [3, 4, 1, 3]], // planes under four floats, chunks across images
] as [Record<string, unknown>, number[]][]) {
  for (const inPlace of [false, true]) lrnSpecs.push({ type: 'LRN', param: { lrn_param: lp }, shape, opts: { inPlace } });
}
// A backward planned keeps the scale: the images go through the copying path.
lrnSpecs.push({ type: 'LRN', param: { lrn_param: {} }, shape: [2, 16, 7, 9], opts: { backward: true } });

const groups: [string, Spec[]][] = [['MAX pooling', maxSpecs], ['AVE pooling', aveSpecs], ['LRN across channels', lrnSpecs]];

describe('pooling and LRN on blobs in the shared memory', () => {
  let restore: (() => void) | null = null;
  beforeAll(() => {
    const simdMin = setSimdMin(1);
    const maxMin = setMaxPoolSplitMinWork(0);
    const aveMin = setAvePoolSplitMinWork(0);
    const lrnMin = setLrnSplitMinPositions(0);
    restore = () => {
      setSimdMin(simdMin);
      setMaxPoolSplitMinWork(maxMin);
      setAvePoolSplitMinWork(aveMin);
      setLrnSplitMinPositions(lrnMin);
      setGemmWorkersOnly(false);
      setSimdKernels(true);
      setGemmThreads(gemmThreadInfo().threads);
    };
  });
  afterAll(() => restore?.());

  /** The JS loop's tops on JS arrays (the reference). */
  function reference(s: Spec, fill: Fill): Float32Array[] {
    setSimdKernels(false);
    try {
      return forward(s.type, s.param, s.shape, fill, 'js', s.opts).outs;
    } finally {
      setSimdKernels(true);
    }
  }

  for (const [name, specs] of groups) {
    it(`${name}: the kernels on JS arrays give the JS loop's bits`, () => {
      for (const s of specs) {
        for (const [fname, fill] of Object.entries(fills)) {
          const want = reference(s, fill);
          const got = forward(s.type, s.param, s.shape, fill, 'js', s.opts).outs;
          got.forEach((g, i) => sameBits(g, want[i], `${s.shape} ${JSON.stringify(s.param)} ${fname} top ${i}`));
        }
      }
    });

    for (const mode of ['1 thread', '2 threads', 'the worker computing every chunk'] as const) {
      it(`${name}: in place in the shared memory (${mode}) gives the same bits and writes nothing past the outputs`, () => {
        if (noShared() || (mode !== '1 thread' && noThreads())) return;
        setGemmThreads(mode === '1 thread' ? 1 : 2);
        if (mode !== '1 thread') expect(gemmThreadsReady()).toBe(2);
        setGemmWorkersOnly(mode === 'the worker computing every chunk');
        const before = gemmThreadInfo().workerPanels;
        try {
          for (const s of specs) {
            for (const [fname, fill] of Object.entries(fills)) {
              const want = reference(s, fill);
              const run = forward(s.type, s.param, s.shape, fill, 'shared', s.opts);
              const what = `${s.shape} ${JSON.stringify(s.param)} ${JSON.stringify(s.opts ?? {})} ${fname}`;
              expect(run.guarded, what).toBe(true);
              run.outs.forEach((g, i) => sameBits(g, want[i], `${what} top ${i}`));
            }
          }
        } finally {
          setGemmWorkersOnly(false);
        }
        // With the worker taking every chunk, it computed them.
        if (mode === 'the worker computing every chunk' && simdBackend().kernel === 'wasm-simd') {
          expect(gemmThreadInfo().workerPanels).toBeGreaterThan(before);
        }
      });
    }
  }

});
