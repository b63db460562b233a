// Loading a model into a ready net: caffe-ts's Net.fromFiles against OpenCV dnn's
// readNetFromCaffe on the same random-weight caffemodels (bench/zoo.ts's), each the FIRST load of a
// fresh process, as a command-line user pays it, alternating the two sides round after round.
// (In a long-lived process later loads are faster on both sides, unevenly: glibc hands OpenCV back
// the pages its last load freed, while V8 maps fresh ones for every large buffer, and faulting in
// 100 MB of fresh pages costs ~45 ms on this machine. bench/zoo.ts's load columns are such
// in-process best-of-three figures.) Without python3's cv2 the caffe-ts column is printed alone.
// Run: npm run build && node dist/bench/load.js [--models resnet50,googlenet] [--rounds 5]
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/paths.js';
import { MODELS, OpenCv, weightsFor } from './zoo.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds of one load in a fresh process, printed by the child as its only line. */
function child(cmd: string, args: string[]): number {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const ms = Number(r.stdout.trim().split('\n').pop());
  if (r.status !== 0 || !Number.isFinite(ms)) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  return ms;
}

export function main(argv = process.argv.slice(2)): void {
  const { values } = parseArgs({ args: argv, options: { models: { type: 'string' }, rounds: { type: 'string' } } });
  const models = (values.models ?? 'resnet50,googlenet,mobilenet_v2').split(',');
  const rounds = Number(values.rounds ?? 5);
  const root = packageRoot();
  const py = OpenCv.python();
  const netJs = pathToFileURL(join(root, 'dist', 'src', 'graph', 'net.js')).href;
  console.log('First load in a fresh process, ms (median / min over the rounds); ratio = caffe-ts / OpenCV dnn');
  console.log(`${'model'.padEnd(16)}${'weights MB'.padStart(11)} |${'caffe-ts'.padStart(10)}${'min'.padStart(8)} |${'OpenCV'.padStart(9)}${'min'.padStart(8)} |${'ratio'.padStart(7)}`);
  for (const key of models) {
    const m = MODELS[key];
    const prototxt = join(root, 'bench', 'models', m.file);
    const weights = weightsFor(key, prototxt);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      ours.push(child(process.execPath, ['--input-type=module', '-e',
        `import { Net } from ${JSON.stringify(netJs)}; const t = performance.now(); ` +
        `Net.fromFiles(${JSON.stringify(prototxt)}, ${JSON.stringify(weights)}, { phase: 'TEST' }); console.log(performance.now() - t);`]));
      if (py) {
        theirs.push(child(py, ['-c',
          `import time, cv2\nt = time.perf_counter()\ncv2.dnn.readNetFromCaffe(${JSON.stringify(prototxt)}, ${JSON.stringify(weights)})\nprint((time.perf_counter() - t) * 1000)`]));
      }
    }
    const mb = statSync(weights).size / 2 ** 20;
    const f = (x: number, w: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-').padStart(w);
    const cv = theirs.length ? median(theirs) : NaN;
    console.log(`${m.label.padEnd(16)}${f(mb, 11)} |${f(median(ours), 10)}${f(Math.min(...ours), 8)} |${f(cv, 9)}${f(theirs.length ? Math.min(...theirs) : NaN, 8)} |${f(median(ours) / cv, 7, 2)}`);
  }
  if (!py) console.log('(no python3 with cv2: OpenCV dnn not timed; Debian: apt-get install python3-opencv)');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
