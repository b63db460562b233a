import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Net } from '../graph/net.js';
import { readImage } from '../format/image.js';
import { packageRoot } from '../util/paths.js';
import type { Command } from './commands.js';

export interface DemoRow {
  file: string;
  label: number | null;
  predicted: number;
  probability: number;
}

/** Classifies the shipped MNIST digits with the shipped trained LeNet. */
export function runDemo(dir = join(packageRoot(), 'fixtures', 'demo')): DemoRow[] {
  const net = Net.fromFiles(join(dir, 'lenet.prototxt'), join(dir, 'lenet_iter_10000.caffemodel'), { phase: 'TEST' });
  const files = readdirSync(join(dir, 'digits')).filter((f) => f.endsWith('.png')).sort();
  const batch = new Float32Array(files.length * 28 * 28);
  files.forEach((f, i) => {
    const img = readImage(join(dir, 'digits', f), false);
    if (img.width !== 28 || img.height !== 28) throw new Error(`${f}: expected a 28x28 digit, got ${img.width}x${img.height}`);
    // LeNet was trained on pixels scaled by 1/256 (its data layer's transform_param).
    for (let p = 0; p < 28 * 28; p++) batch[i * 784 + p] = img.data[p] * 0.00390625;
  });
  net.forward({ data: { shape: [files.length, 1, 28, 28], data: batch } });
  const prob = net.blob('prob');
  const classes = prob.count / files.length;
  return files.map((file, i) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (prob.data[i * classes + c] > prob.data[i * classes + best]) best = c;
    const m = /^img_(\d+)_/.exec(basename(file));
    return { file, label: m ? Number(m[1]) : null, predicted: best, probability: prob.data[i * classes + best] };
  });
}

export const demoCommand: Command = {
  summary: 'classify ten real MNIST digits with a trained LeNet shipped in the repo',
  usage: '[--json]',
  run(args) {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
    const rows = runDemo();
    if (values.json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return 0;
    }
    process.stdout.write('LeNet (trained on MNIST) on ten MNIST test digits\n\n');
    process.stdout.write('image            label  predicted  probability\n');
    let right = 0;
    for (const r of rows) {
      if (r.label === r.predicted) right++;
      process.stdout.write(`${r.file.padEnd(16)} ${String(r.label ?? '?').padStart(5)}  ${String(r.predicted).padStart(9)}  ${r.probability.toFixed(4).padStart(11)}\n`);
    }
    process.stdout.write(`\n${right}/${rows.length} correct\n`);
    return 0;
  },
};
