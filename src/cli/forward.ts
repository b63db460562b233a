import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Net, type TensorInput } from '../graph/net.js';
import { readNpyAsFloat32, writeNpy } from '../format/npy.js';
import { CaffeError } from '../util/errors.js';
import { Classifier } from '../io/classifier.js';
import type { Command } from './commands.js';
import { applyThreadsFlag } from './flags.js';
import { IMAGE_FLAGS, IMAGE_USAGE, imageOptions } from './classify.js';

/** Blob names may hold '/' and other characters that do not belong in a file name. */
export function blobFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '~') + '.npy';
}

export const forwardCommand: Command = {
  summary: 'run a net forward on .npy inputs and write its blobs as .npy (pycaffe\'s net.blobs)',
  usage: `MODEL [--weights W] [--phase TRAIN|TEST] [--stage S]... [--level N] [--input blob=file.npy|IMAGE]... ${IMAGE_USAGE} [--dump DIR] [--threads N]`,
  run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        weights: { type: 'string' },
        phase: { type: 'string', default: 'TEST' },
        stage: { type: 'string', multiple: true },
        level: { type: 'string' },
        input: { type: 'string', multiple: true },
        dump: { type: 'string' },
        threads: { type: 'string' },
        ...IMAGE_FLAGS,
      },
    });
    applyThreadsFlag(values.threads);
    if (positionals.length !== 1) throw new TypeError('forward takes one MODEL prototxt');
    const net = Net.fromFiles(positionals[0], values.weights ?? null, {
      phase: values.phase as 'TRAIN' | 'TEST',
      stages: values.stage,
      level: values.level === undefined ? undefined : Number(values.level),
      keepBlobs: values.dump !== undefined, // --dump writes every blob as Caffe has it
    });
    net.freezeWeights(); // one forward; nothing writes the parameters
    const inputs: Record<string, TensorInput> = {};
    for (const spec of values.input ?? []) {
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new CaffeError(`--input '${spec}': expected blob=file.npy`);
      const [blob, file] = [spec.slice(0, eq), spec.slice(eq + 1)];
      if (/\.npy$/i.test(file)) {
        inputs[blob] = readNpyAsFloat32(file);
        continue;
      }
      // An image: preprocessed as `classify` does (the centre crop unless --oversample).
      const clf = new Classifier(net, { ...imageOptions(values, false), input: blob });
      const items = clf.inputsForFile(file);
      const [c, h, w] = clf.inputShape;
      const data = new Float32Array(items.length * c * h * w);
      items.forEach((x, i) => data.set(x, i * x.length));
      inputs[blob] = { shape: [items.length, c, h, w], data };
    }
    const t0 = performance.now();
    const loss = net.forward(inputs);
    const ms = performance.now() - t0;
    for (const name of net.outputs) {
      const b = net.blob(name);
      const head = Array.from(b.data.subarray(0, 6), (v) => v.toPrecision(6)).join(', ');
      process.stdout.write(`${name} ${b.shapeString()}: [${head}${b.count > 6 ? ', ...' : ''}]\n`);
    }
    if (loss !== 0) process.stdout.write(`loss: ${loss}\n`);
    process.stdout.write(`forward: ${ms.toFixed(1)} ms\n`);
    if (values.dump) {
      mkdirSync(values.dump, { recursive: true });
      for (const [name, b] of net.blobs) writeNpy(join(values.dump, blobFileName(name)), b.shape, b.data);
      process.stdout.write(`wrote ${net.blobs.size} blobs to ${values.dump}\n`);
    }
    return 0;
  },
};
