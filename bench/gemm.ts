// GEMM benchmark, in GFLOP/s: gemm() on one thread (the WebAssembly SIMD kernel when available)
// against the JS kernel (gemmJs, the fallback) in the same run, as a ratio, both in CPU time; then
// gemm() on one thread against gemm() on its worker threads (CAFFE_TS_THREADS, default 2), in wall
// time, as a ratio; --naive adds the plain triple loop.
// Run: npm run build && node dist/bench/gemm.js [--quick] [--naive] [--conv] [--shape MxNxK ...] [--packed]
//   --conv: ResNet-50's convolution products (batch 1, op NN, M = output channels, N = output
//   positions, K = input channels x kernel area) instead of the default shapes, without the JS
//   kernel (too slow at these sizes to be worth the wait); --shape (repeatable): these shapes;
//   --packed: gemm() with a pack key for A (as a frozen net's convolutions: A packed once, kept).
import { pathToFileURL } from 'node:url';
import { gemm, gemmBackend, gemmJs, gemmNaive, gemmThreadInfo, gemmThreadsReady, setGemmThreads, type GemmFn, type GemmPackKey } from '../src/kernels/gemm.js';


export interface GemmBenchRow {
  shape: string;
  trans: string;
  /** gemm() on one thread: wasm SIMD unless unavailable (CPU time) */
  fastGflops: number;
  /** gemmJs(): the JS kernel */
  jsGflops: number;
  /** fastGflops / jsGflops */
  speedup: number;
  /** the naive triple loop (NaN unless asked for) */
  naiveGflops: number;
  /** gemm() on one thread, wall time */
  oneThreadGflops: number;
  /** gemm() on `threads` threads, wall time */
  threadsGflops: number;
  /** threadsGflops / oneThreadGflops */
  threadSpeedup: number;
}

function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/** Milliseconds since `start`: CPU time of the process (less noisy when shared), or wall time. */
type Clock = () => () => number;
const cpuClock: Clock = () => {
  const start = process.cpuUsage();
  return () => {
    const u = process.cpuUsage(start);
    return (u.user + u.system) / 1000;
  };
};
// Threads add up their CPU time: comparing thread counts takes the wall clock.
const wallClock: Clock = () => {
  const start = performance.now();
  return () => performance.now() - start;
};

/**
 * Best GFLOP/s of each function over a few timed rounds of at least minMs each. The functions
 * take turns round by round, so a busy spell on a shared machine hits them alike.
 */
function measure(fns: GemmFn[], tA: boolean, tB: boolean, M: number, N: number, K: number, minMs: number, clock: Clock = cpuClock): number[] {
  const A = randomArray(M * K, 1);
  const B = randomArray(K * N, 2);
  const C = new Float32Array(M * N);
  for (const fn of fns) fn(tA, tB, M, N, K, 1, A, B, 0, C); // warm-up (and JIT)
  const best = fns.map(() => 0);
  for (let round = 0; round < 3; round++) {
    fns.forEach((fn, f) => {
      const elapsed = clock();
      let reps = 0;
      let ms = 0;
      do {
        fn(tA, tB, M, N, K, 1, A, B, 0, C);
        reps++;
        ms = elapsed();
      } while (ms < minMs);
      best[f] = Math.max(best[f], (2 * M * N * K * reps) / (ms * 1e6));
    });
  }
  return best;
}

/** gemm() on `threads` threads (setGemmThreads before each call: the functions take turns), with A's pack key if given. */
const onThreads = (threads: number, aKey?: GemmPackKey): GemmFn => (tA, tB, M, N, K, alpha, A, B, beta, C) => {
  setGemmThreads(threads);
  gemm(tA, tB, M, N, K, alpha, A, B, beta, C, aKey);
};

/** The default shapes: square, and two conv-like ones. */
export const DEFAULT_SHAPES: [number, number, number][] = [
  [128, 128, 128],
  [256, 256, 256],
  [1024, 1024, 256],
  [64, 3136, 576],
  [64, 576, 3136],
];

/**
 * ResNet-50's convolution products at batch 1 (M x N x K, its share of the net's 7.7 GFLOP in
 * the comment), every distinct shape, plus the larger conv-like shapes 256x3136x576 and
 * 512x784x1152.
 */
export const CONV_SHAPES: [number, number, number][] = [
  [64, 12544, 147], // conv1, 3%
  [64, 3136, 64], // res2 1x1, 0.3%
  [64, 3136, 576], // res2 3x3, 9%
  [256, 3136, 64], // res2 1x1 expand, 5%
  [64, 3136, 256], // res2 1x1 reduce, 3%
  [256, 3136, 576],
  [128, 784, 256], // res3a 1x1 reduce, stride 2, 0.7%
  [128, 784, 1152], // res3 3x3, 12%
  [512, 784, 128], // res3 1x1 expand, 5%
  [128, 784, 512], // res3 1x1 reduce, 4%
  [512, 784, 256], // res3a projection, 3%
  [512, 784, 1152],
  [256, 196, 2304], // res4 3x3, 18%
  [1024, 196, 256], // res4 1x1 expand, 8%
  [256, 196, 1024], // res4 1x1 reduce, 7%
  [1024, 196, 512], // res4a projection, 3%
  [512, 49, 4608], // res5 3x3, 9%
  [2048, 49, 512], // res5 1x1 expand, 4%
  [512, 49, 2048], // res5 1x1 reduce, 3%
  [2048, 49, 1024], // res5a projection, 3%
];

export interface GemmBenchOptions {
  /** NN only, shorter timing rounds */
  quick?: boolean;
  /** also time the naive triple loop */
  naive?: boolean;
  /** skip the JS kernel (its columns are NaN) */
  noJs?: boolean;
  shapes?: [number, number, number][];
  /** gemm() with a pack key for A (kept packed between calls) */
  packed?: boolean;
}

export function runGemmBench(opts: GemmBenchOptions = {}): GemmBenchRow[] {
  const { quick = false, naive = false, noJs = false, shapes = DEFAULT_SHAPES, packed = false } = opts;
  const key = packed ? { version: 0 } : undefined;
  // The thread count gemm() starts with (CAFFE_TS_THREADS, cores), its workers up before timing.
  const threads = gemmThreadInfo().threads;
  gemmThreadsReady();
  const transposes: [boolean, boolean][] = quick ? [[false, false]] : [[false, false], [true, false], [false, true], [true, true]];
  const rows: GemmBenchRow[] = [];
  for (const [M, N, K] of shapes) {
    for (const [tA, tB] of transposes) {
      const [fast, js] = noJs
        ? [measure([onThreads(1, key)], tA, tB, M, N, K, quick ? 100 : 300)[0], NaN]
        : measure([onThreads(1, key), gemmJs], tA, tB, M, N, K, quick ? 100 : 300);
      const [one, many] = measure([onThreads(1, key), onThreads(threads, key)], tA, tB, M, N, K, quick ? 100 : 300, wallClock);
      // The naive loop is slow: only on request.
      const slow = naive ? measure([gemmNaive], tA, tB, M, N, K, quick ? 100 : 300)[0] : NaN;
      rows.push({
        shape: `${M}x${N}x${K}`,
        trans: `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`,
        fastGflops: fast,
        jsGflops: js,
        speedup: fast / js,
        naiveGflops: slow,
        oneThreadGflops: one,
        threadsGflops: many,
        threadSpeedup: many / one,
      });
    }
  }
  setGemmThreads(threads);
  return rows;
}

export function formatGemmBench(rows: GemmBenchRow[]): string {
  const naive = rows.some((r) => !Number.isNaN(r.naiveGflops));
  const js = rows.some((r) => !Number.isNaN(r.jsGflops));
  const t = gemmThreadInfo();
  const lines = [
    `gemm() kernel: ${gemmBackend.kernel}${gemmBackend.fma ? ' with FMA' : ''}${gemmBackend.reason ? ` (${gemmBackend.reason})` : ''}; ` +
      `threads: ${t.threads}${t.reason ? ` (${t.reason})` : ''}, from ${t.minWork} multiply-adds`,
    'CPU time: gemm on 1 thread against the JS kernel; wall time: gemm on 1 thread against gemm on N threads',
    `gemm (M x N x K, op)    gemm GFLOP/s   JS GFLOP/s   gemm/JS   1 thread   ${t.threads} threads   threads/1` +
      (naive ? '   naive GFLOP/s' : ''),
  ];
  for (const r of rows) {
    lines.push(
      `${(r.shape + ' ' + r.trans).padEnd(24)}${r.fastGflops.toFixed(2).padStart(12)}${(js ? r.jsGflops.toFixed(2) : '-').padStart(13)}` +
        `${(js ? r.speedup.toFixed(2) + 'x' : '-').padStart(10)}${r.oneThreadGflops.toFixed(2).padStart(11)}` +
        `${r.threadsGflops.toFixed(2).padStart(12)}${(r.threadSpeedup.toFixed(2) + 'x').padStart(12)}` +
        (naive ? r.naiveGflops.toFixed(2).padStart(16) : ''),
    );
  }
  const geo = (f: (r: GemmBenchRow) => number): string => Math.exp(rows.reduce((s, r) => s + Math.log(f(r)), 0) / rows.length).toFixed(2);
  lines.push(
    `geometric mean ${js ? `gemm/JS: ${geo((r) => r.speedup)}x, ` : ''}gemm 1 thread: ${geo((r) => r.fastGflops)} GFLOP/s (CPU), ` +
      `${geo((r) => r.oneThreadGflops)} (wall), ${t.threads} threads: ${geo((r) => r.threadsGflops)}, threads/1: ${geo((r) => r.threadSpeedup)}x`,
  );
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const conv = args.includes('--conv');
  const given: [number, number, number][] = [];
  args.forEach((a, i) => {
    if (a !== '--shape') return;
    const dims = (args[i + 1] ?? '').split('x').map(Number);
    if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`--shape takes MxNxK, not ${args[i + 1]}`);
    given.push(dims as [number, number, number]);
  });
  const shapes = given.length ? given : conv ? CONV_SHAPES : DEFAULT_SHAPES;
  const custom = conv || given.length > 0;
  const packed = args.includes('--packed');
  if (packed) console.log('A packed once per shape (a pack key, as a frozen net\'s weights)');
  console.log(formatGemmBench(runGemmBench({ quick: args.includes('--quick') || custom, naive: args.includes('--naive'), noJs: custom, shapes, packed })));
}
