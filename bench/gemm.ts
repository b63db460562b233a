// GEMM benchmark, in GFLOP/s: gemm() on one thread (the WebAssembly SIMD kernel when available)
// against the JS kernel (gemmJs, the fallback) in the same run, as a ratio, both in CPU time; then
// gemm() on one thread against gemm() on its worker threads (CAFFE_TS_THREADS, default 2), in wall
// time, as a ratio; --naive adds the plain triple loop.
// Run: npm run build && node dist/bench/gemm.js [--quick] [--naive]
import { pathToFileURL } from 'node:url';
import { gemm, gemmBackend, gemmJs, gemmNaive, gemmThreadInfo, gemmThreadsReady, setGemmThreads } from '../src/kernels/gemm.js';

type GemmFn = typeof gemm;

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

/** gemm() on `threads` threads (setGemmThreads before each call: the functions take turns). */
const onThreads = (threads: number): GemmFn => (...args) => {
  setGemmThreads(threads);
  gemm(...args);
};

export function runGemmBench(quick = false, naive = false): GemmBenchRow[] {
  // The thread count gemm() starts with (CAFFE_TS_THREADS, cores), its workers up before timing.
  const threads = gemmThreadInfo().threads;
  gemmThreadsReady();
  const shapes: [number, number, number][] = [
    [128, 128, 128],
    [256, 256, 256],
    [1024, 1024, 256],
    [64, 3136, 576],
    [64, 576, 3136],
  ];
  const transposes: [boolean, boolean][] = quick ? [[false, false]] : [[false, false], [true, false], [false, true], [true, true]];
  const rows: GemmBenchRow[] = [];
  for (const [M, N, K] of shapes) {
    for (const [tA, tB] of transposes) {
      const [fast, js] = measure([onThreads(1), gemmJs], tA, tB, M, N, K, quick ? 100 : 300);
      const [one, many] = measure([onThreads(1), onThreads(threads)], tA, tB, M, N, K, quick ? 100 : 300, wallClock);
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
  const t = gemmThreadInfo();
  const lines = [
    `gemm() kernel: ${gemmBackend.kernel}${gemmBackend.reason ? ` (${gemmBackend.reason})` : ''}; ` +
      `threads: ${t.threads}${t.reason ? ` (${t.reason})` : ''}, from ${t.minWork} multiply-adds`,
    'CPU time: gemm on 1 thread against the JS kernel; wall time: gemm on 1 thread against gemm on N threads',
    `gemm (M x N x K, op)    gemm GFLOP/s   JS GFLOP/s   gemm/JS   1 thread   ${t.threads} threads   threads/1` +
      (naive ? '   naive GFLOP/s' : ''),
  ];
  for (const r of rows) {
    lines.push(
      `${(r.shape + ' ' + r.trans).padEnd(24)}${r.fastGflops.toFixed(2).padStart(12)}${r.jsGflops.toFixed(2).padStart(13)}` +
        `${(r.speedup.toFixed(2) + 'x').padStart(10)}${r.oneThreadGflops.toFixed(2).padStart(11)}` +
        `${r.threadsGflops.toFixed(2).padStart(12)}${(r.threadSpeedup.toFixed(2) + 'x').padStart(12)}` +
        (naive ? r.naiveGflops.toFixed(2).padStart(16) : ''),
    );
  }
  const geo = (f: (r: GemmBenchRow) => number): string => Math.exp(rows.reduce((s, r) => s + Math.log(f(r)), 0) / rows.length).toFixed(2);
  lines.push(`geometric mean gemm/JS: ${geo((r) => r.speedup)}x, threads/1: ${geo((r) => r.threadSpeedup)}x`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(formatGemmBench(runGemmBench(process.argv.includes('--quick'), process.argv.includes('--naive'))));
}
