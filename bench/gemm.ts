// GEMM benchmark, in GFLOP/s: gemm() (the WebAssembly SIMD kernel when available) against the JS
// kernel (gemmJs, the fallback) in the same run, as a ratio; --naive adds the plain triple loop.
// Run: npm run build && node dist/bench/gemm.js [--quick] [--naive]
import { pathToFileURL } from 'node:url';
import { gemm, gemmBackend, gemmJs, gemmNaive } from '../src/kernels/gemm.js';

type GemmFn = typeof gemm;

export interface GemmBenchRow {
  shape: string;
  trans: string;
  /** gemm(): wasm SIMD unless unavailable */
  fastGflops: number;
  /** gemmJs(): the JS kernel */
  jsGflops: number;
  /** fastGflops / jsGflops */
  speedup: number;
  /** the naive triple loop (NaN unless asked for) */
  naiveGflops: number;
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

/**
 * Best GFLOP/s of each function over a few timed rounds of at least minMs each (CPU time, less
 * noisy when shared). The functions take turns round by round, so a busy spell on a shared
 * machine hits them alike.
 */
function measure(fns: GemmFn[], tA: boolean, tB: boolean, M: number, N: number, K: number, minMs: number): number[] {
  const A = randomArray(M * K, 1);
  const B = randomArray(K * N, 2);
  const C = new Float32Array(M * N);
  for (const fn of fns) fn(tA, tB, M, N, K, 1, A, B, 0, C); // warm-up (and JIT)
  const best = fns.map(() => 0);
  for (let round = 0; round < 3; round++) {
    fns.forEach((fn, f) => {
      const start = process.cpuUsage();
      let reps = 0;
      let ms = 0;
      do {
        fn(tA, tB, M, N, K, 1, A, B, 0, C);
        reps++;
        const u = process.cpuUsage(start);
        ms = (u.user + u.system) / 1000;
      } while (ms < minMs);
      best[f] = Math.max(best[f], (2 * M * N * K * reps) / (ms * 1e6));
    });
  }
  return best;
}

export function runGemmBench(quick = false, naive = false): GemmBenchRow[] {
  const shapes: [number, number, number][] = [
    [256, 256, 256],
    [1024, 1024, 256],
    [64, 3136, 576],
    [64, 576, 3136],
  ];
  const transposes: [boolean, boolean][] = quick ? [[false, false]] : [[false, false], [true, false], [false, true], [true, true]];
  const rows: GemmBenchRow[] = [];
  for (const [M, N, K] of shapes) {
    for (const [tA, tB] of transposes) {
      const [fast, js] = measure([gemm, gemmJs], tA, tB, M, N, K, quick ? 100 : 300);
      // The naive loop is slow: only on request.
      const slow = naive ? measure([gemmNaive], tA, tB, M, N, K, quick ? 100 : 300)[0] : NaN;
      rows.push({
        shape: `${M}x${N}x${K}`,
        trans: `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`,
        fastGflops: fast,
        jsGflops: js,
        speedup: fast / js,
        naiveGflops: slow,
      });
    }
  }
  return rows;
}

export function formatGemmBench(rows: GemmBenchRow[]): string {
  const naive = rows.some((r) => !Number.isNaN(r.naiveGflops));
  const lines = [
    `gemm() kernel: ${gemmBackend.kernel}${gemmBackend.reason ? ` (${gemmBackend.reason})` : ''}`,
    'gemm (M x N x K, op)    gemm GFLOP/s   JS GFLOP/s   gemm/JS' + (naive ? '   naive GFLOP/s' : ''),
  ];
  for (const r of rows) {
    lines.push(
      `${(r.shape + ' ' + r.trans).padEnd(24)}${r.fastGflops.toFixed(2).padStart(12)}${r.jsGflops.toFixed(2).padStart(13)}` +
        `${(r.speedup.toFixed(2) + 'x').padStart(10)}` +
        (naive ? r.naiveGflops.toFixed(2).padStart(16) : ''),
    );
  }
  const geo = Math.exp(rows.reduce((s, r) => s + Math.log(r.speedup), 0) / rows.length);
  lines.push(`geometric mean gemm/JS: ${geo.toFixed(2)}x`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(formatGemmBench(runGemmBench(process.argv.includes('--quick'), process.argv.includes('--naive'))));
}
