// Winograd 3x3 convolution (src/kernels/winograd.ts) against im2col + GEMM (what
// BaseConvolutionLayer.forwardGemm runs: im2col into gemmStage's view when it gives one, gemm,
// bias) on ResNet-50 and GoogLeNet 3x3 stride-1 layer shapes, one sample. The variants take
// turns round by round in the same process (the machine is shared: ratios, not absolute times);
// wall time, on 1 thread and on 2 (setGemmThreads). Ratios are old time / new time (> 1: faster).
// "gemm share": F(4,3)'s 36 products alone, timed the same way, as a share of F(4,3) with U cached;
// "U share": the weight transform alone as a share of F(4,3) (U recomputed).
// Run: npm run build && node dist/bench/winograd.js [--rounds N] [--only SUBSTRING]
import { pathToFileURL } from 'node:url';
import { gemm, gemmStage, gemmThreadsReady, setGemmThreads } from '../src/kernels/gemm.js';
import { im2col } from '../src/kernels/im2col.js';
import { ROW_ADD, rowMap } from '../src/kernels/rows.js';
import { winogradConvForward, winogradWeights, type WinogradTile } from '../src/kernels/winograd.js';

interface Shape {
  name: string;
  C: number;
  M: number;
  H: number;
}

const SHAPES: Shape[] = [
  { name: 'resnet50 res2 3x3', C: 64, M: 64, H: 56 },
  { name: 'resnet50 res3 3x3', C: 128, M: 128, H: 28 },
  { name: 'resnet50 res4 3x3', C: 256, M: 256, H: 14 },
  { name: 'resnet50 res5 3x3', C: 512, M: 512, H: 7 },
  { name: 'googlenet conv2/3x3', C: 64, M: 192, H: 56 },
  { name: 'googlenet 3a 3x3', C: 96, M: 128, H: 28 },
  { name: 'googlenet 3b 3x3', C: 128, M: 192, H: 28 },
  { name: 'googlenet 3a 5x5red-like 16->32', C: 16, M: 32, H: 28 },
  { name: 'googlenet 4a 3x3', C: 96, M: 208, H: 14 },
  { name: 'googlenet 4e 3x3', C: 160, M: 320, H: 14 },
  { name: 'googlenet 5b 3x3', C: 192, M: 384, H: 7 },
];

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = scale * (s / 2 ** 31 - 1);
  }
  return a;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

export interface WinogradBenchRow {
  shape: string;
  threads: number;
  oldMs: number;
  /** old / new per round: median, min (over rounds), for F(2,3), F(4,3), F(4,3) with cached U */
  f2: [number, number];
  f4: [number, number];
  f4cached: [number, number];
  gemmShare: number;
  /** the weight transform's share of F(4,3)'s time */
  weightShare: number;
}

export function runWinogradBench(rounds = 7, only = ''): WinogradBenchRow[] {
  gemmThreadsReady();
  const rows: WinogradBenchRow[] = [];
  for (const s of SHAPES.filter((x) => x.name.includes(only))) {
    const { C, M, H } = s;
    const W = H;
    const S = H * W; // pad 1: same size out
    const x = randomArray(C * H * W, 1);
    const w = randomArray(M * C * 9, 2, 1 / Math.sqrt(9 * C));
    const b = randomArray(M, 3);
    const y = new Float32Array(M * S);
    const col = new Float32Array(C * 9 * S);
    const old = () => {
      const staged = gemmStage(C * 9 * S, M, S, C * 9);
      const c = staged ?? col;
      im2col(x, C, H, W, 3, 3, 1, 1, 1, 1, 1, 1, c);
      gemm(false, false, M, S, C * 9, 1, w, c, 0, y);
      rowMap(ROW_ADD, y, y, M, S, M, null, b);
    };
    const cfg = (tile: WinogradTile) => ({ num: 1, channels: C, numOutput: M, height: H, width: W, padH: 1, padW: 1, tile });
    const U4 = winogradWeights(w, M, C, 4);
    const f2 = () => winogradConvForward(cfg(2), x, w, b, y);
    const f4 = () => winogradConvForward(cfg(4), x, w, b, y);
    const f4c = () => winogradConvForward(cfg(4), x, w, b, y, U4);
    // The products alone, as F(4,3) runs them.
    const T = Math.ceil(H / 4) * Math.ceil(W / 4);
    const V = randomArray(36 * C * T, 4);
    const Mt = new Float32Array(36 * M * T);
    const products = () => {
      for (let p = 0; p < 36; p++) {
        gemm(false, false, M, T, C, 1, U4.subarray(p * M * C, (p + 1) * M * C), V.subarray(p * C * T, (p + 1) * C * T), 0, Mt.subarray(p * M * T, (p + 1) * M * T));
      }
    };
    const weightsOnly = () => winogradWeights(w, M, C, 4, U4);
    const fns = [old, f2, f4, f4c, products, weightsOnly];
    for (const threads of [1, 2]) {
      setGemmThreads(threads);
      for (const f of fns) f(); // warm-up
      // Repetitions per timing: about 30 ms of the old path.
      let t0 = performance.now();
      old();
      const reps = Math.max(1, Math.round(30 / Math.max(0.05, performance.now() - t0)));
      const times: number[][] = fns.map(() => []);
      for (let r = 0; r < rounds; r++) {
        fns.forEach((f, i) => {
          t0 = performance.now();
          for (let k = 0; k < reps; k++) f();
          times[i].push((performance.now() - t0) / reps);
        });
      }
      const ratio = (i: number): [number, number] => {
        const q = times[0].map((t, r) => t / times[i][r]);
        return [median(q), Math.min(...q)];
      };
      rows.push({
        shape: `${s.name} ${C}->${M} ${H}x${W}`,
        threads,
        oldMs: median(times[0]),
        f2: ratio(1),
        f4: ratio(2),
        f4cached: ratio(3),
        gemmShare: median(times[4]) / median(times[3]),
        weightShare: median(times[5]) / median(times[2]),
      });
    }
  }
  setGemmThreads(2);
  return rows;
}

export function formatWinogradBench(rows: WinogradBenchRow[]): string {
  const r2 = (v: [number, number]) => `${v[0].toFixed(2)} (${v[1].toFixed(2)})`.padStart(14);
  const lines = [
    'old = im2col + gemm + bias; ratios old/new, median (min) over rounds; wall time',
    `${'shape'.padEnd(48)}thr   old ms        F(2,3)        F(4,3)  F(4,3) U cached  gemm share  U share`,
  ];
  for (const r of rows) {
    lines.push(`${r.shape.padEnd(48)}${String(r.threads).padStart(3)}${r.oldMs.toFixed(2).padStart(9)}${r2(r.f2)}${r2(r.f4)}${r2(r.f4cached)}` +
      `${(100 * r.gemmShare).toFixed(0).padStart(11)}%${(100 * r.weightShare).toFixed(0).padStart(8)}%`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  console.log(formatWinogradBench(runWinogradBench(Number(arg('--rounds') ?? 7), arg('--only') ?? '')));
}
