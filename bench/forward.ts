// Forward (and forward+backward) time of real architectures, the forward also with the weights
// frozen (Net.freezeWeights), against the GEMM kernel's own throughput measured in the same run:
// "efficiency" = the net's convolution/inner-product FLOP/s (unfrozen) divided by the GFLOP/s of
// one large GEMM, so the figure survives a noisy shared machine.
// Run: npm run build && node dist/bench/forward.js
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Net } from '../src/graph/net.js';
import { gemm } from '../src/kernels/gemm.js';
import { packageRoot } from '../src/util/paths.js';
import { netFlops } from './zoo.js';

interface Model {
  name: string;
  prototxt: string;
  weights?: string;
  input: number[];
  backward?: boolean;
}

// Wall time: GEMM may use a second thread, whose CPU time would otherwise count twice.
function wallMs(start: number): number {
  return performance.now() - start;
}

/** GFLOP/s of a 256x3136x576 product (a mid-network 3x3 convolution's GEMM). */
function gemmGflops(): number {
  const M = 256, N = 3136, K = 576;
  const A = new Float32Array(M * K).map((_, i) => (i % 7) - 3);
  const B = new Float32Array(K * N).map((_, i) => (i % 5) - 2);
  const C = new Float32Array(M * N);
  gemm(false, false, M, N, K, 1, A, B, 0, C);
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    gemm(false, false, M, N, K, 1, A, B, 0, C);
    best = Math.max(best, (2 * M * N * K) / (wallMs(t) * 1e6));
  }
  return best;
}

export function runForwardBench(models: Model[]): string {
  const peak = gemmGflops();
  const lines = [`GEMM kernel: ${peak.toFixed(2)} GFLOP/s (256x3136x576), the baseline for "efficiency"`, ''];
  lines.push('model                       input              forward ms   frozen ms   fwd+bwd ms   GFLOP/s   efficiency');
  for (const m of models) {
    if (!existsSync(m.prototxt)) continue;
    const net = Net.fromFiles(m.prototxt, m.weights ?? null, { phase: m.backward ? 'TRAIN' : 'TEST' });
    const input = net.inputs[0];
    net.forward({ [input]: { shape: m.input, data: new Float32Array(m.input.reduce((a, b) => a * b, 1)).fill(0.5) } });
    const reps = 3;
    let fwd = Infinity;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      net.forward();
      fwd = Math.min(fwd, wallMs(t));
    }
    // The same with the weights frozen (Net.freezeWeights: kept packed for the GEMM kernel).
    net.freezeWeights();
    net.forward();
    let frozen = Infinity;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      net.forward();
      frozen = Math.min(frozen, wallMs(t));
    }
    net.thawWeights();
    let fb = NaN;
    if (m.backward) {
      fb = Infinity;
      for (let r = 0; r < reps; r++) {
        const t = performance.now();
        net.forward();
        net.backward();
        fb = Math.min(fb, wallMs(t));
      }
    }
    const gflops = netFlops(net) / (fwd * 1e6);
    lines.push(
      `${m.name.padEnd(28)}${m.input.join('x').padEnd(19)}${fwd.toFixed(1).padStart(10)}${frozen.toFixed(1).padStart(12)}${(Number.isNaN(fb) ? '-' : fb.toFixed(1)).padStart(13)}` +
        `${gflops.toFixed(2).padStart(10)}${((100 * gflops) / peak).toFixed(0).padStart(12)}%`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = packageRoot();
  const models = join(root, 'bench', 'models');
  console.log(
    runForwardBench([
      { name: 'LeNet (trained)', prototxt: join(root, 'fixtures/demo/lenet.prototxt'), weights: join(root, 'fixtures/demo/lenet_iter_10000.caffemodel'), input: [64, 1, 28, 28], backward: false },
      { name: 'SqueezeNet 1.1', prototxt: join(models, 'squeezenet_v1.1.prototxt'), input: [1, 3, 227, 227] },
      { name: 'GoogLeNet', prototxt: join(models, 'googlenet.prototxt'), input: [1, 3, 224, 224] },
      { name: 'ResNet-50', prototxt: join(models, 'resnet50.prototxt'), input: [1, 3, 224, 224] },
    ]),
  );
}
