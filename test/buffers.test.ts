// File contents instead of paths (what the browser build has): Net.fromBuffers, readMeanBytes and
// Classifier.classifyBytes give what their path-taking twins give, and name the file in errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers.js';
import { Net } from '../src/graph/net.js';
import { Classifier } from '../src/io/classifier.js';
import { readMean, readMeanBytes } from '../src/io/transformer.js';
import { DecodeError } from '../src/util/errors.js';
import { FileFormatError } from '../src/format/io.js';

const DEMO = join(FIXTURES, 'demo');
const PROTO = join(DEMO, 'lenet.prototxt');
const WEIGHTS = join(DEMO, 'lenet_iter_10000.caffemodel');
const DIGIT = join(DEMO, 'digits', 'img_4_6.png');

describe('Net.fromBuffers', () => {
  it('builds the same net with the same weights as fromFiles, from text or bytes', () => {
    const a = Net.fromFiles(PROTO, WEIGHTS, { phase: 'TEST' });
    for (const model of [readFileSync(PROTO, 'utf8'), new Uint8Array(readFileSync(PROTO))]) {
      const b = Net.fromBuffers(model, new Uint8Array(readFileSync(WEIGHTS)), { phase: 'TEST' });
      expect(b.layerNames).toEqual(a.layerNames);
      b.layers.forEach((l, i) => l.blobs.forEach((blob, j) => expect(blob.data).toEqual(a.layers[i].blobs[j].data)));
    }
  });

  it('names the weights in a decoding error, with the byte offset', () => {
    const broken = new Uint8Array(readFileSync(WEIGHTS)).subarray(0, 20000);
    expect(() => Net.fromBuffers(readFileSync(PROTO, 'utf8'), broken, { phase: 'TEST' }, { weights: 'lenet.caffemodel' }))
      .toThrow(DecodeError);
    expect(() => Net.fromBuffers(readFileSync(PROTO, 'utf8'), broken, {}, { weights: 'lenet.caffemodel' }))
      .toThrow(/^lenet\.caffemodel: at byte \d+: /);
  });

  it('names the model in a parse error, with line and column', () => {
    expect(() => Net.fromBuffers('name: "x"\nlayer { name: }\n', null, {}, { model: 'bad.prototxt' })).toThrow(/bad\.prototxt:2:/);
  });

  it('refuses HDF5 weights by name (they need Net.fromFiles)', () => {
    const h5 = new Uint8Array(readFileSync(join(FIXTURES, 'hdf5-weights', 'cifar10_quick_iter_5000.caffemodel.h5')));
    const proto = readFileSync(join(FIXTURES, 'hdf5-weights', 'cifar10_quick.prototxt'), 'utf8');
    expect(() => Net.fromBuffers(proto, h5, {}, { weights: 'w.caffemodel.h5' })).toThrow(FileFormatError);
  });
});

describe('readMeanBytes and classifyBytes', () => {
  it('reads .binaryproto and .npy means as readMean does', () => {
    for (const f of ['mean_3x8x8.binaryproto', 'mean_3x8x8_f8.npy']) {
      const path = join(FIXTURES, 'means', f);
      expect(readMeanBytes(new Uint8Array(readFileSync(path)), f)).toEqual(readMean(path));
    }
  });

  it('classifies an image from its bytes as from its file, in both pipelines', () => {
    const net = Net.fromFiles(PROTO, WEIGHTS, { phase: 'TEST' });
    for (const pipeline of ['py', 'cpp'] as const) {
      const c = new Classifier(net, { pipeline, inputScale: 0.00390625, ...(pipeline === 'py' ? { oversample: false } : {}) });
      const fromFile = c.classifyFile(DIGIT);
      expect(c.classifyBytes(new Uint8Array(readFileSync(DIGIT)), 'img_4_6.png')).toEqual(fromFile);
      expect(fromFile.indexOf(Math.max(...fromFile))).toBe(4);
    }
  });
});
