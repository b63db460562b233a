// GEMM benchmark: the cache-blocked gemm against the naive triple loop, in GFLOP/s.
// Run: npm run build && node dist/bench/gemm.js [--quick]
import { pathToFileURL } from 'node:url';
import { gemm, gemmNaive } from '../src/kernels/gemm.js';

type GemmFn = typeof gemm;

export interface GemmBenchRow {
  shape: string;
  trans: string;
  fastGflops: number;
  naiveGflops: number;
  speedup: number;
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

/** Best GFLOP/s over a few timed rounds of at least minMs each (CPU time, less noisy when shared). */
function measure(fn: GemmFn, tA: boolean, tB: boolean, M: number, N: number, K: number, minMs: number): number {
  const A = randomArray(M * K, 1);
  const B = randomArray(K * N, 2);
  const C = new Float32Array(M * N);
  fn(tA, tB, M, N, K, 1, A, B, 0, C); // warm-up (and JIT)
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.cpuUsage();
    let reps = 0;
    let ms = 0;
    do {
      fn(tA, tB, M, N, K, 1, A, B, 0, C);
      reps++;
      const u = process.cpuUsage(start);
      ms = (u.user + u.system) / 1000;
    } while (ms < minMs);
    best = Math.max(best, (2 * M * N * K * reps) / (ms * 1e6));
  }
  return best;
}

export function runGemmBench(quick = false): GemmBenchRow[] {
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
      const fast = measure(gemm, tA, tB, M, N, K, quick ? 100 : 300);
      // The naive loop is slow: time it on the same shape but fewer rounds.
      const naive = measure(gemmNaive, tA, tB, M, N, K, quick ? 100 : 300);
      rows.push({
        shape: `${M}x${N}x${K}`,
        trans: `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`,
        fastGflops: fast,
        naiveGflops: naive,
        speedup: fast / naive,
      });
    }
  }
  return rows;
}

export function formatGemmBench(rows: GemmBenchRow[]): string {
  const lines = ['gemm (M x N x K, op)      fast GFLOP/s   naive GFLOP/s   speedup'];
  for (const r of rows) {
    lines.push(
      `${(r.shape + ' ' + r.trans).padEnd(26)}${r.fastGflops.toFixed(2).padStart(10)}${r.naiveGflops.toFixed(2).padStart(16)}${(r.speedup.toFixed(1) + 'x').padStart(10)}`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(formatGemmBench(runGemmBench(process.argv.includes('--quick'))));
}
