// Winograd 3x3 convolution (src/kernels/winograd.ts) against im2col + GEMM (what
// BaseConvolutionLayer.forwardGemm runs: im2col into gemmStage's view when it gives one, gemm,
// bias) on ResNet-50 and GoogLeNet 3x3 stride-1 layer shapes, one sample. The variants take
// turns round by round in the same process (the machine is shared: ratios, not absolute times);
// on 1 thread (CPU time) and on 2 (setGemmThreads; wall time). Ratios are old time / new time (> 1: faster).
// "cached": the transformed weights passed in (what a layer with a safe invalidation rule could
// do); "U share": the weight transform's share of F(4,3) with U recomputed.
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
  { name: 'squeezenet fire2 expand3x3', C: 16, M: 64, H: 55 },
  { name: 'squeezenet fire9 expand3x3', C: 64, M: 256, H: 13 },
  { name: 'inception_bn 3a 3x3', C: 64, M: 64, H: 28 },
  { name: 'thin 16->32', C: 16, M: 32, H: 28 },
  { name: 'thin 8->16', C: 8, M: 16, H: 28 },
  { name: 'first layer 3->64', C: 3, M: 64, H: 56 },
  { name: 'first layer 3->16', C: 3, M: 16, H: 112 },
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

/** Milliseconds since the call: CPU time on one thread (less noisy on a shared machine), else wall. */
function clock(threads: number): () => number {
  if (threads > 1) {
    const t = performance.now();
    return () => performance.now() - t;
  }
  const u = process.cpuUsage();
  return () => {
    const d = process.cpuUsage(u);
    return (d.user + d.system) / 1000;
  };
}

type Ratio = [number, number];

export interface WinogradBenchRow {
  shape: string;
  threads: number;
  oldMs: number;
  /** old / new per round: median and min over rounds */
  f2: Ratio;
  f4: Ratio;
  f2cached: Ratio;
  f4cached: Ratio;
  /** the weight transform's share of F(4,3)'s time (U recomputed): 1 - cached / not */
  weightShare: number;
  /** best old time / best new time, F(2,3) and F(4,3) (for the noisy wall-time runs) */
  best: [number, number];
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
    const U2 = winogradWeights(w, M, C, 2);
    const U4 = winogradWeights(w, M, C, 4);
    const fns = [
      old,
      () => winogradConvForward(cfg(2), x, w, b, y),
      () => winogradConvForward(cfg(4), x, w, b, y),
      () => winogradConvForward(cfg(2), x, w, b, y, U2),
      () => winogradConvForward(cfg(4), x, w, b, y, U4),
    ];
    for (const threads of [1, 2]) {
      setGemmThreads(threads);
      for (const f of fns) f(); // warm-up
      // Repetitions per timing: about 15 ms of the old path.
      let t0 = performance.now();
      old();
      const reps = Math.max(1, Math.round(15 / Math.max(0.05, performance.now() - t0)));
      const times: number[][] = fns.map(() => []);
      for (let r = 0; r < rounds; r++) {
        fns.forEach((f, i) => {
          const elapsed = clock(threads);
          for (let k = 0; k < reps; k++) f();
          times[i].push(elapsed() / reps);
        });
      }
      const ratio = (i: number): Ratio => {
        const q = times[0].map((t, r) => t / times[i][r]);
        return [median(q), Math.min(...q)];
      };
      rows.push({
        shape: `${s.name} ${C}->${M} ${H}x${W}`,
        threads,
        oldMs: median(times[0]),
        f2: ratio(1),
        f4: ratio(2),
        f2cached: ratio(3),
        f4cached: ratio(4),
        weightShare: 1 - median(times[4]) / median(times[2]),
        best: [Math.min(...times[0]) / Math.min(...times[1]), Math.min(...times[0]) / Math.min(...times[2])],
      });
    }
  }
  setGemmThreads(2);
  return rows;
}

export function formatWinogradBench(rows: WinogradBenchRow[]): string {
  const r2 = (v: Ratio) => `${v[0].toFixed(2)} (${v[1].toFixed(2)})`.padStart(14);
  const lines = [
    'old = im2col + gemm + bias; ratios old/new (> 1: Winograd faster), median (min) over rounds;',
    '1 thread: CPU time, 2 threads: wall time; "cached": U passed in; U share: 1 - F(4,3) cached / F(4,3);',
    'best: best old time / best new time, F(2,3) and F(4,3)',
    `${'shape'.padEnd(46)}thr  old ms        F(2,3)        F(4,3) F(2,3) cached F(4,3) cached U share  best F2  best F4`,
  ];
  for (const r of rows) {
    lines.push(`${r.shape.padEnd(46)}${String(r.threads).padStart(3)}${r.oldMs.toFixed(2).padStart(8)}${r2(r.f2)}${r2(r.f4)}${r2(r.f2cached)}${r2(r.f4cached)}` +
      `${(100 * r.weightShare).toFixed(0).padStart(7)}%${r.best[0].toFixed(2).padStart(9)}${r.best[1].toFixed(2).padStart(9)}`);
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
