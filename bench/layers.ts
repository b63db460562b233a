// Where the time goes, layer type by layer type, against OpenCV dnn on the same random-weight
// caffemodel (bench/zoo.ts's), TEST forward: caffe-ts's per-layer times (as `caffe-ts time`
// measures them: a fused chain's time is its convolution's) and OpenCV's getPerfProfile (its
// fused layers read ~0 the same way), alternating round by round. Without python3's cv2 it says so
// and stops.
// Run: npm run build && node dist/bench/layers.js [--models resnet50,mobilenet_v2] [--threads 2]
//        [--rounds 4] [--per-round 5]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Net } from '../src/graph/net.js';
import { gemmThreadsReady } from '../src/kernels/gemm.js';
import { setThreads } from '../src/kernels/threads.js';
import { timeNet } from '../src/cli/time.js';
import { packageRoot } from '../src/util/paths.js';
import { MODELS, OpenCv, input, weightsFor } from './zoo.js';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { models: { type: 'string' }, threads: { type: 'string' }, rounds: { type: 'string' }, 'per-round': { type: 'string' } },
  });
  const models = (values.models ?? 'resnet50,googlenet,squeezenet,mobilenet_v1,mobilenet_v2').split(',');
  const threads = Number(values.threads ?? 2);
  const rounds = Number(values.rounds ?? 4);
  const perRound = Number(values['per-round'] ?? 5);
  const root = packageRoot();
  const py = OpenCv.python();
  if (!py) {
    console.log('layers: needs python3 with cv2 (Debian: apt-get install python3-opencv); skipped');
    return;
  }
  const cv = OpenCv.start(py, join(root, 'bench', 'opencv_dnn.py'));
  try {
    setThreads(threads);
    if (threads > 1) gemmThreadsReady();
    for (const key of models) {
      const m = MODELS[key];
      const prototxt = join(root, 'bench', 'models', m.file);
      const weights = weightsFor(key, prototxt);
      const net = Net.fromFiles(prototxt, weights, { phase: 'TEST' });
      net.freezeWeights();
      const shape = [1, 3, m.size, m.size];
      net.setInputs({ [net.inputs[0]]: { shape, data: input(shape) } });
      // Steady state, as bench/zoo.ts: the first forwards run slower while V8 tiers the JS up.
      for (let k = 0, t0 = performance.now(); k < 5 || performance.now() - t0 < 500; k++) net.forward();
      await cv.ask({ load: prototxt, weights });
      await cv.ask({ threads });
      await cv.ask({ input: shape });
      await cv.ask({ run: 5 });
      const ours = new Map<string, number>();
      const theirs = new Map<string, number>();
      for (let r = 0; r < rounds; r++) {
        // timeNet runs a backward too; in TEST with no loss nothing needs one, so it is empty.
        for (const l of timeNet(net, perRound).layers) ours.set(l.type, (ours.get(l.type) ?? 0) + l.forward_ms / rounds);
        for (const l of (await cv.ask({ profile: perRound })).layers as { type: string; ms: number }[]) {
          theirs.set(l.type, (theirs.get(l.type) ?? 0) + l.ms / rounds);
        }
      }
      const total = (x: Map<string, number>) => [...x.values()].reduce((a, b) => a + b, 0);
      const to = total(ours);
      const tc = total(theirs);
      console.log(`\n${m.label}, batch 1, ${threads} thread(s): caffe-ts ${to.toFixed(1)} ms, OpenCV ${tc.toFixed(1)} ms (${(to / tc).toFixed(2)}x), per layer type:`);
      console.log(`  ${'type'.padEnd(22)}${'caffe-ts ms'.padStart(12)}${'OpenCV ms'.padStart(11)}${'ratio'.padStart(8)}${'share'.padStart(8)}`);
      const types = [...new Set([...ours.keys(), ...theirs.keys()])].sort((a, b) => (ours.get(b) ?? 0) - (ours.get(a) ?? 0));
      for (const t of types) {
        const a = ours.get(t) ?? 0;
        const b = theirs.get(t) ?? 0;
        if (a < 0.01 && b < 0.01) continue;
        console.log(`  ${t.padEnd(22)}${a.toFixed(2).padStart(12)}${b.toFixed(2).padStart(11)}${(b > 0.005 ? (a / b).toFixed(2) : '-').padStart(8)}${((100 * a) / to).toFixed(0).padStart(7)}%`);
      }
    }
  } finally {
    cv.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
