// `caffe-ts classify`'s pipelines against BVLC Caffe (fixtures/classify, written by
// scripts/caffe-oracle/gen-classify-cases.py): classification.cpp's top 5 as its tool printed them,
// and pycaffe's Classifier (classify.py) probabilities and preprocessed inputs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers.js';
import { Net } from '../src/graph/net.js';
import { Classifier, readLabels, topK } from '../src/io/classifier.js';
import { readNpyAsFloat32 } from '../src/format/npy.js';
import { compareTensor } from '../src/check/compare.js';

const CASES = join(FIXTURES, 'classify', 'cases');
const f = (rel: string) => join(FIXTURES, rel);

describe('classification.cpp pipeline (the classification tool, 4 decimals)', () => {
  for (const file of readdirSync(CASES).filter((n) => n.endsWith('.json'))) {
    const spec = JSON.parse(readFileSync(join(CASES, file), 'utf8'));
    it(file.replace('.json', ''), () => {
      const net = Net.fromFiles(f(spec.model), f(spec.weights), { phase: 'TEST' });
      const clf = new Classifier(net, { pipeline: 'cpp', meanFile: f(spec.mean) });
      const labels = readLabels(f(spec.labels), net.blob(clf.output).count / net.blob(clf.output).num);
      for (const r of spec.results) {
        const top = topK(clf.classifyFile(f(r.image)), r.top.length, labels);
        for (let i = 0; i < r.top.length; i++) {
          const [label, p] = r.top[i];
          expect(top[i].probability, `${r.image} #${i}`).toBeCloseTo(p, 3);
          // Equal probabilities at 4 decimals may come in either order.
          if (Math.abs(top[i].probability - (r.top[i + 1]?.[1] ?? -1)) > 2e-4 && Math.abs(top[i].probability - (r.top[i - 1]?.[1] ?? -1)) > 2e-4) {
            expect(top[i].label, `${r.image} #${i}`).toBe(label);
          }
        }
      }
    });
  }
});

describe('classify.py pipeline (pycaffe Classifier)', () => {
  for (const name of readdirSync(CASES).filter((n) => !n.endsWith('.json'))) {
    const dir = join(CASES, name);
    const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
    it(name, () => {
      const net = Net.fromFiles(f(spec.model), f(spec.weights), { phase: 'TEST' });
      const clf = new Classifier(net, {
        pipeline: 'py',
        meanFile: spec.mean_file ? f(spec.mean_file) : undefined,
        meanValues: spec.mean_value ?? undefined,
        rawScale: spec.raw_scale ?? undefined,
        inputScale: spec.input_scale ?? undefined,
        channelSwap: spec.channel_swap ?? null,
        imageDims: spec.image_dims,
        oversample: spec.oversample,
      });
      const expected = readNpyAsFloat32(join(dir, spec.probs));
      const k = expected.shape[1];
      spec.images.forEach((img: string, i: number) => {
        const inputs = clf.inputsForFile(f(img));
        const want = readNpyAsFloat32(join(dir, spec.inputs[i]));
        const got = { shape: want.shape, data: Float32Array.from(inputs.flatMap((x) => Array.from(x))) };
        expect(compareTensor(want, got, { abs: 1e-4, rel: 1e-5 }), `${img} input`).toBeNull();
        const probs = clf.predict(inputs);
        const ref = { shape: [k], data: expected.data.subarray(i * k, (i + 1) * k) };
        expect(compareTensor(ref, { shape: [k], data: probs }, spec.tolerance), `${img} probabilities`).toBeNull();
      });
    });
  }
});
