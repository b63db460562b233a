// Full-size zoo models, TEST forward: caffe-ts against OpenCV dnn's Caffe importer (Debian's
// python3-opencv, through bench/opencv_dnn.py) on the same random-weight caffemodels, measured in
// the same run and alternating (a few caffe-ts passes, then a few OpenCV passes, round after
// round), because this machine is shared and noisy: the ratio column is what to read.
// Without cv2 the caffe-ts columns are printed alone. The nets run with freezeWeights() (the
// weights never change here), which keeps each convolution's weights packed between passes.
// Run: npm run build && node dist/bench/zoo.js [--models resnet50,mobilenet_v2] [--batch 1,8]
//        [--threads 1,2] [--rounds 5] [--per-round 2] [--json]
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { Net } from '../src/graph/net.js';
import { initParams } from '../src/graph/init-params.js';
import { setSeed } from '../src/kernels/rng.js';
import { gemmThreadsReady } from '../src/kernels/gemm.js';
import { setThreads } from '../src/kernels/threads.js';
import { packageRoot } from '../src/util/paths.js';

export const MODELS: Record<string, { label: string; file: string; size: number }> = {
  resnet50: { label: 'ResNet-50', file: 'resnet50.prototxt', size: 224 },
  googlenet: { label: 'GoogLeNet', file: 'googlenet.prototxt', size: 224 },
  squeezenet: { label: 'SqueezeNet 1.1', file: 'squeezenet_v1.1.prototxt', size: 227 },
  mobilenet_v1: { label: 'MobileNet v1', file: 'mobilenet_v1.prototxt', size: 224 },
  mobilenet_v2: { label: 'MobileNet v2', file: 'mobilenet_v2.prototxt', size: 224 },
};

export interface ZooRow {
  model: string;
  batch: number;
  threads: number;
  caffe_ts: { median_ms: number; min_ms: number; load_ms: number; gflops: number };
  opencv: { median_ms: number; min_ms: number; load_ms: number } | null;
  /** caffe-ts median / OpenCV median (lower is faster). */
  ratio: number | null;
  ratio_min: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** FLOPs of the convolution and inner-product layers of one forward pass. */
export function netFlops(net: Net): number {
  let flops = 0;
  net.layers.forEach((layer, i) => {
    const top = net.topVecs[i][0];
    const w = layer.blobs[0];
    if (!top || !w) return;
    if (layer.type === 'Convolution') flops += 2 * top.count * (w.count / w.shape[0]);
    else if (layer.type === 'Deconvolution') flops += 2 * net.bottomVecs[i][0].count * (w.count / w.shape[0]);
    else if (layer.type === 'InnerProduct') flops += 2 * (top.count / (layer.param.inner_product_param.num_output || 1)) * w.count;
  });
  return flops;
}

/** A random-weight caffemodel for `prototxt` in the cache folder (made once, seed 1). */
export function weightsFor(key: string, prototxt: string): string {
  const dir = join(tmpdir(), 'caffe-ts-bench');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${key}.caffemodel`);
  if (!existsSync(out)) {
    setSeed(1);
    const net = Net.fromFile(prototxt, { phase: 'TEST' });
    initParams(net);
    net.save(out);
  }
  return out;
}

export function input(shape: number[]): Float32Array {
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = 1;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 32;
  }
  return x;
}

/** The OpenCV peer: a python3 process answering one JSON line per command. */
export class OpenCv {
  private lines: AsyncIterator<string>;
  private constructor(private proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }
  static python(): string | null {
    for (const py of ['python3', '/usr/bin/python3']) {
      if (spawnSync(py, ['-c', 'import cv2'], { stdio: 'ignore' }).status === 0) return py;
    }
    return null;
  }
  static start(py: string, script: string): OpenCv {
    return new OpenCv(spawn(py, [script], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }
  async ask(cmd: Record<string, unknown>): Promise<any> {
    this.proc.stdin.write(JSON.stringify(cmd) + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error('the OpenCV peer exited');
    const v = JSON.parse(r.value);
    if (v.error) throw new Error(`OpenCV peer: ${v.error}`);
    return v;
  }
  stop(): void {
    this.proc.stdin.end();
  }
}

export async function runZooBench(opts: {
  models: string[]; batches: number[]; threads: number[]; rounds: number; perRound: number; log: (l: string) => void;
}): Promise<ZooRow[]> {
  const root = packageRoot();
  const py = OpenCv.python();
  const cv = py ? OpenCv.start(py, join(root, 'bench', 'opencv_dnn.py')) : null;
  if (!cv) opts.log('python3 with cv2 not found (Debian: apt-get install python3-opencv): caffe-ts alone');
  const rows: ZooRow[] = [];
  try {
    for (const key of opts.models) {
      const m = MODELS[key];
      if (!m) throw new Error(`unknown model '${key}' (known: ${Object.keys(MODELS).join(', ')})`);
      const prototxt = join(root, 'bench', 'models', m.file);
      const weights = weightsFor(key, prototxt);
      for (const batch of opts.batches) {
        for (const threads of opts.threads) {
          setThreads(threads);
          if (threads > 1) gemmThreadsReady();
          const shape = [batch, 3, m.size, m.size];
          // Load: best of three builds with weights (the files are in the page cache after the first).
          let loadMs = Infinity;
          let net: Net | null = null;
          for (let k = 0; k < 3; k++) {
            const t = performance.now();
            net = Net.fromFiles(prototxt, weights, { phase: 'TEST' });
            loadMs = Math.min(loadMs, performance.now() - t);
          }
          net = net!;
          // The weights stay as loaded: let the convolutions keep them packed (Net.freezeWeights).
          net.freezeWeights();
          net.setInputs({ [net.inputs[0]]: { shape, data: input(shape) } });
          net.forward();
          let cvLoad = NaN;
          if (cv) {
            cvLoad = Infinity;
            for (let k = 0; k < 3; k++) cvLoad = Math.min(cvLoad, (await cv.ask({ load: prototxt, weights })).load_ms);
            await cv.ask({ threads });
            await cv.ask({ input: shape });
          }
          // Steady state on both sides: V8 tiers the layers' JS (and the workers' loops) up over
          // the first forwards, which run up to 2-3x slower; OpenCV gets the same warm-up.
          for (let k = 0, t0 = performance.now(); k < 5 || performance.now() - t0 < 500; k++) net.forward();
          if (cv) await cv.ask({ run: 5 });
          const ours: number[] = [];
          const theirs: number[] = [];
          for (let r = 0; r < opts.rounds; r++) {
            for (let k = 0; k < opts.perRound; k++) {
              const t = performance.now();
              net.forward();
              ours.push(performance.now() - t);
            }
            if (cv) theirs.push(...(await cv.ask({ run: opts.perRound })).ms);
          }
          const med = median(ours);
          const row: ZooRow = {
            model: m.label,
            batch,
            threads,
            caffe_ts: { median_ms: med, min_ms: Math.min(...ours), load_ms: loadMs, gflops: netFlops(net) / (med * 1e6) },
            opencv: cv ? { median_ms: median(theirs), min_ms: Math.min(...theirs), load_ms: cvLoad } : null,
            ratio: cv ? med / median(theirs) : null,
            ratio_min: cv ? Math.min(...ours) / Math.min(...theirs) : null,
          };
          rows.push(row);
          opts.log(formatRow(row));
        }
      }
    }
  } finally {
    cv?.stop();
  }
  return rows;
}

export const HEADER =
  'model            batch threads | caffe-ts median    min   load  GFLOP/s | OpenCV median    min   load | ratio (median, min)';

export function formatRow(r: ZooRow): string {
  const f = (x: number, w: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-').padStart(w);
  const cv = r.opencv;
  return (
    `${r.model.padEnd(17)}${String(r.batch).padStart(5)}${String(r.threads).padStart(8)} |` +
    `${f(r.caffe_ts.median_ms, 16)}${f(r.caffe_ts.min_ms, 7)}${f(r.caffe_ts.load_ms, 7)}${f(r.caffe_ts.gflops, 9)} |` +
    `${f(cv ? cv.median_ms : NaN, 14)}${f(cv ? cv.min_ms : NaN, 7)}${f(cv ? cv.load_ms : NaN, 7)} |` +
    (r.ratio === null ? '  -' : `${f(r.ratio, 7, 2)}${f(r.ratio_min!, 6, 2)}`)
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: Object.keys(MODELS).join(',') },
      batch: { type: 'string', default: '1,8' },
      threads: { type: 'string', default: '1,2' },
      rounds: { type: 'string', default: '5' },
      'per-round': { type: 'string', default: '2' },
      json: { type: 'boolean' },
    },
  });
  const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const json = !!values.json;
  const log = (l: string) => {
    if (!json) console.log(l);
  };
  log('Forward time, TEST phase, random weights; ms are wall time; ratio = caffe-ts / OpenCV dnn (same run, alternating)');
  log(HEADER);
  const rows = await runZooBench({
    models: list(values.models!),
    batches: list(values.batch!).map(Number),
    threads: list(values.threads!).map(Number),
    rounds: Number(values.rounds),
    perRound: Number(values['per-round']),
    log,
  });
  if (json) console.log(JSON.stringify(rows, null, 2));
  process.exit(0);
}
