// The Net engine's own behaviour beyond the reference cases: construction errors, reshape,
// weight copy and save, the public accessors.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Net } from '../src/graph/net.js';
import { Blob } from '../src/graph/blob.js';
import { readNetWeights } from '../src/format/io.js';
import { parseText } from '../src/format/text.js';
import { decodeMessage } from '../src/format/binary.js';
import { LayerError, NetError } from '../src/util/errors.js';
import type { Message } from '../src/proto/schema.js';
import { readHdf5Tree } from '../src/data/hdf5.js';
import { describeFile } from '../src/cli/info.js';
import { maxBlobBytes, setMaxBlobBytes } from '../src/graph/blob.js';

const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-net-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function net(text: string, phase: 'TRAIN' | 'TEST' = 'TEST'): Net {
  return new Net(parseText(text, 'NetParameter'), { phase });
}

const INPUT = 'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }';
const DEMO = join(__dirname, '..', 'fixtures', 'demo');

describe('construction errors name the layer, its type and the shapes', () => {
  it('a bottom that no layer produces', () => {
    expect(() => net(`${INPUT} layer { name: "r" type: "ReLU" bottom: "nope" top: "y" }`)).toThrow(
      /layer 'r' \(ReLU\): unknown bottom blob 'nope'/,
    );
  });
  it('a top produced twice (not in place)', () => {
    expect(() =>
      net(`${INPUT} layer { name: "a" type: "ReLU" bottom: "x" top: "y" } layer { name: "b" type: "Sigmoid" bottom: "x" top: "y" }`),
    ).toThrow(/layer 'b' \(Sigmoid\): top blob 'y' is produced by more than one layer/);
  });
  it('a kernel larger than the padded input, at construction', () => {
    expect(() =>
      net(`${INPUT} layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 2 kernel_size: 9 } }`),
    ).toThrow(LayerError);
    expect(() =>
      net(`${INPUT} layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 2 kernel_size: 9 } }`),
    ).toThrow(/layer 'c' \(Convolution\).*\(2,3,6,6\)/);
  });
  it('a concat of mismatched shapes', () => {
    const text = `${INPUT} layer { name: "in2" type: "Input" top: "z" input_param { shape { dim: 2 dim: 3 dim: 5 dim: 6 } } }
      layer { name: "cat" type: "Concat" bottom: "x" bottom: "z" top: "c" }`;
    expect(() => net(text)).toThrow(/layer 'cat' \(Concat\)/);
  });
  it('propagate_down given a wrong number of times', () => {
    expect(() => net(`${INPUT} layer { name: "r" type: "ReLU" bottom: "x" top: "y" propagate_down: true propagate_down: false }`)).toThrow(
      /propagate_down/,
    );
  });
  it('include and exclude rules together', () => {
    expect(() => net(`${INPUT} layer { name: "r" type: "ReLU" bottom: "x" top: "y" include { phase: TEST } exclude { phase: TRAIN } }`)).toThrow(
      /either include rules or exclude rules/,
    );
  });
  it('shared parameters of different shapes', () => {
    const text = `${INPUT}
      layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" param { name: "w" } inner_product_param { num_output: 4 } }
      layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" param { name: "w" } inner_product_param { num_output: 5 } }`;
    expect(() => net(text)).toThrow(NetError);
    expect(() => net(text)).toThrow(/cannot share param 'w' owned by layer 'a' with layer 'b'/);
  });
  it('an unregistered Python layer is refused clearly, saying how to register it', () => {
    expect(() => net(`${INPUT} layer { name: "py" type: "Python" bottom: "x" top: "y" python_param { module: "m" layer: "L" } }`)).toThrow(
      /Python layer 'm\.L' is not registered: .*registerLayer\('m\.L', MyLayer\)/,
    );
  });
});

describe('running', () => {
  it('reshape propagates a new input shape through every layer', () => {
    const n = net(`${INPUT} layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 2 kernel_size: 3 } }
      layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }`);
    expect(n.blob('p').shape).toEqual([2, 2, 2, 2]);
    n.forward({ x: { shape: [1, 3, 10, 10], data: new Float32Array(300).fill(1) } });
    expect(n.blob('c').shape).toEqual([1, 2, 8, 8]);
    expect(n.blob('p').shape).toEqual([1, 2, 4, 4]);
  });
  it('forward returns the weighted loss; outputs come in name order as Caffe keeps them', () => {
    const n = net(
      `layer { name: "in" type: "Input" top: "z" top: "a" input_param { shape { dim: 2 dim: 2 } shape { dim: 2 dim: 2 } } }
       layer { name: "l" type: "EuclideanLoss" bottom: "z" bottom: "a" top: "l" loss_weight: 3 }`,
      'TRAIN',
    );
    const loss = n.forward({ z: Float32Array.of(1, 2, 3, 4), a: Float32Array.of(0, 0, 0, 0) });
    // Euclidean: sum of squares / (2 N) = 30 / 4, weighted by 3
    expect(loss).toBeCloseTo(22.5, 5);
    expect(n.outputs).toEqual(['l']);
    expect(n.inputs).toEqual(['z', 'a']);
  });
  it('a wrong-sized input is an error naming the blob', () => {
    const n = net(INPUT);
    expect(() => n.forward({ x: new Float32Array(5) })).toThrow(/input 'x' has 5 values but blob 'x' of shape \(2,3,6,6\) holds 216/);
  });
});

describe('backwardPlanned (layer_need_backward_) lets inference skip backward-only copies', () => {
  const BODY = `${INPUT}
    layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" batch_norm_param { use_global_stats: false } }
    layer { name: "sc" type: "Scale" bottom: "x" top: "x" scale_param { bias_term: true filler { type: "constant" value: 1.5 } } }`;
  it('follows the need-backward analysis, force_backward included', () => {
    const inference = net(BODY);
    expect(inference.layers.map((l) => l.backwardPlanned)).toEqual([false, false, false]);
    const forced = net(`force_backward: true ${BODY}`);
    expect(forced.layers.map((l) => l.backwardPlanned)).toEqual([true, true, true]);
  });
  it('gives the same forward, and forced backward still sees the saved inputs', () => {
    const x = Float32Array.from({ length: 2 * 3 * 6 * 6 }, (_, i) => Math.sin(i * 0.37) * 3);
    const a = net(BODY);
    const b = net(`force_backward: true ${BODY}`);
    a.forward({ x });
    b.forward({ x });
    expect([...a.blobs.get('x')!.data]).toEqual([...b.blobs.get('x')!.data]);
    // The same forward with backward planned, then backward: the input's diff depends on the
    // saved normalized values; compare with a net that is not in place.
    const notInPlace = net(`force_backward: true ${INPUT}
      layer { name: "bn" type: "BatchNorm" bottom: "x" top: "y" batch_norm_param { use_global_stats: false } }
      layer { name: "sc" type: "Scale" bottom: "y" top: "z" scale_param { bias_term: true filler { type: "constant" value: 1.5 } } }`);
    notInPlace.forward({ x });
    const g = Float32Array.from({ length: x.length }, (_, i) => Math.cos(i * 0.11));
    b.backward({ x: g });
    notInPlace.backward({ z: g });
    expect([...b.blobs.get('x')!.diff]).toEqual([...notInPlace.blobs.get('x')!.diff]);
  });
});

describe('weights', () => {
  it('loads a trained caffemodel, saves one Caffe reads, and the copy reloads identically', () => {
    const n = Net.fromFiles(join(DEMO, 'lenet.prototxt'), join(DEMO, 'lenet_iter_10000.caffemodel'), { phase: 'TEST' });
    expect([...n.params.keys()]).toEqual(['conv1', 'conv2', 'ip1', 'ip2']);
    const out = join(tmp, 'copy.caffemodel');
    n.save(out);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
    const saved: Message = decodeMessage(readFileSync(out), 'NetParameter');
    expect((saved.layer as Message[]).map((l) => l.name)).toEqual(n.layerNames);
    const m = Net.fromFiles(join(DEMO, 'lenet.prototxt'), out, { phase: 'TEST' });
    for (const [name, blobs] of n.params) {
      blobs.forEach((b, i) => expect(Buffer.compare(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength), Buffer.from(m.params.get(name)![i].data.buffer, m.params.get(name)![i].data.byteOffset, m.params.get(name)![i].data.byteLength))).toBe(0));
    }
  });
  it('a shape mismatch names the layer and the blob', () => {
    const text = readFileSync(join(DEMO, 'lenet.prototxt'), 'utf8').replace('num_output: 500', 'num_output: 400');
    const n = new Net(parseText(text, 'NetParameter'), { phase: 'TEST' });
    expect(() => n.copyTrainedLayersFromFile(join(DEMO, 'lenet_iter_10000.caffemodel'))).toThrow(
      /cannot copy param 0 of layer 'ip1': shape mismatch, source \(500,800\), target \(400,800\)/,
    );
  });
});

describe('HDF5 weights (.caffemodel.h5, Caffe\'s Net::ToHDF5 layout)', () => {
  const bitEqual = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

  it('round-trips a trained net; copyTrainedLayersFromFile tells HDF5 from binary by the signature', () => {
    const n = Net.fromFiles(join(DEMO, 'lenet.prototxt'), join(DEMO, 'lenet_iter_10000.caffemodel'), { phase: 'TEST' });
    const out = join(tmp, 'lenet.caffemodel.h5');
    n.saveHdf5(out, true);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
    const tree = readHdf5Tree(out);
    // every layer has a group under data/ (and diff/), parameters are datasets 0, 1, ...
    expect(tree.groups).toEqual(['data', 'diff', ...n.layerNames.flatMap((l) => [`data/${l}`, `diff/${l}`])].sort());
    expect(tree.datasets.find((d) => d.path === 'data/ip1/0')!.shape).toEqual([500, 800]);
    const renamed = join(tmp, 'lenet-h5-weights.caffemodel');
    writeFileSync(renamed, readFileSync(out));
    const m = Net.fromFiles(join(DEMO, 'lenet.prototxt'), renamed, { phase: 'TEST' });
    for (const [name, blobs] of n.params) blobs.forEach((b, i) => expect(bitEqual(m.params.get(name)![i].data, b.data)).toBe(true));
  });

  it('loads a .caffemodel.h5 that Caffe wrote (fixtures/hdf5-weights)', () => {
    const dir = join(__dirname, '..', 'fixtures', 'hdf5-weights');
    const file = join(dir, 'cifar10_quick_iter_5000.caffemodel.h5');
    const n = Net.fromFiles(join(dir, 'cifar10_quick.prototxt'), file, { phase: 'TEST' });
    const bytes = readFileSync(file);
    const shapes: string[] = [];
    for (const [name, blobs] of n.params) {
      for (const b of blobs) {
        shapes.push(`${name}:${b.shape.join('x')}`);
        // Caffe's H5LTmake_dataset_float stores each blob contiguously: its bytes are in the file as they are.
        expect(bytes.indexOf(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength))).toBeGreaterThan(0);
        expect(b.data.some((v) => v !== 0)).toBe(true);
      }
    }
    expect(shapes).toEqual(['conv1:32x3x5x5', 'conv1:32', 'conv2:32x32x5x5', 'conv2:32', 'conv3:64x32x5x5', 'conv3:64', 'ip1:64x1024', 'ip1:64', 'ip2:9x64', 'ip2:9']);
  });

  it('shared parameters are written by their owner only, and read back through it', () => {
    const text = `${INPUT}
      layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" param { name: "w" } inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
      layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" param { name: "w" } inner_product_param { num_output: 3 bias_filler { type: "constant" value: 0.5 } } }`;
    const n = net(text);
    const out = join(tmp, 'shared.caffemodel.h5');
    n.saveHdf5(out);
    const paths = readHdf5Tree(out).datasets.map((d) => d.path);
    expect(paths).toEqual(['data/a/0', 'data/a/1', 'data/b/1']);
    const m = net(text);
    m.params.get('a')![0].data.fill(0);
    m.params.get('b')![1].data.fill(0);
    m.copyTrainedLayersFromFile(out);
    expect(bitEqual(m.params.get('b')![0].data, n.params.get('a')![0].data)).toBe(true);
    expect([...m.params.get('b')![1].data]).toEqual([0.5, 0.5, 0.5]);
  });

  it('mismatches are errors naming the file, layer and parameter; unknown layers are skipped', () => {
    const n = Net.fromFiles(join(DEMO, 'lenet.prototxt'), join(DEMO, 'lenet_iter_10000.caffemodel'), { phase: 'TEST' });
    const out = join(tmp, 'lenet2.caffemodel.h5');
    n.saveHdf5(out);
    const text = readFileSync(join(DEMO, 'lenet.prototxt'), 'utf8');
    const smaller = new Net(parseText(text.replace('num_output: 500', 'num_output: 400'), 'NetParameter'), { phase: 'TEST' });
    expect(() => smaller.copyTrainedLayersFromFile(out)).toThrow(
      /lenet2\.caffemodel\.h5: cannot copy param 0 of layer 'ip1': shape mismatch, source \(500,800\), target \(400,800\)/,
    );
    const oneBlob = net(`${INPUT} layer { name: "ip2" type: "PReLU" bottom: "x" top: "y" }`);
    expect(() => oneBlob.copyTrainedLayersFromFile(out)).toThrow(/layer 'ip2' holds 2 parameter\(s\) but the net's layer has 1/);
    const renamed = new Net(parseText(text.replace(/"ip2"/g, '"ip2b"'), 'NetParameter'), { phase: 'TEST' });
    renamed.copyTrainedLayersFromFile(out); // ip2 is not in this net: skipped, as Caffe does
    expect(bitEqual(renamed.params.get('ip1')![0].data, n.params.get('ip1')![0].data)).toBe(true);
    const h5data = join(__dirname, '..', 'fixtures', 'data', 'hdf5', 'train', 'part0.h5');
    expect(() => n.copyTrainedLayersFromFile(h5data)).toThrow(/part0\.h5: no group 'data'/);
  });

  it('caffe-ts info tells HDF5 weights, solver states and data files apart', () => {
    const n = Net.fromFiles(join(DEMO, 'lenet.prototxt'), join(DEMO, 'lenet_iter_10000.caffemodel'), { phase: 'TEST' });
    const out = join(tmp, 'info.caffemodel.h5');
    n.saveHdf5(out);
    const text = describeFile(out).split('\n');
    expect(text[0]).toBe(`${out}: HDF5 weights (caffemodel.h5), ${n.layerNames.length} layers`);
    expect(text).toContain('  ip1  params 500x800, 500 = 400500');
    expect(text.at(-1)).toBe('total parameters: 431080');
    expect(describeFile(join(DEMO, 'lenet_iter_10000.caffemodel')).split('\n').at(-1)).toBe('total parameters: 431080');
    const h5data = join(__dirname, '..', 'fixtures', 'data', 'hdf5', 'train', 'part0.h5');
    expect(describeFile(h5data)).toMatch(/part0\.h5: HDF5 file, 2 datasets\n {2}data \(float\) \d+x\d+/);
  });

  it('datasets over the allocation limit are refused before they are read', () => {
    const n = Net.fromFiles(join(DEMO, 'lenet.prototxt'), join(DEMO, 'lenet_iter_10000.caffemodel'), { phase: 'TEST' });
    const out = join(tmp, 'limit.caffemodel.h5');
    n.saveHdf5(out);
    const before = maxBlobBytes;
    setMaxBlobBytes(1 << 20); // ip1's weights alone are 1.6 MB
    try {
      expect(() => n.copyTrainedLayersFromFile(out)).toThrow(/limit\.caffemodel\.h5: .*over the \d+ bytes allowed/);
    } finally {
      setMaxBlobBytes(before);
    }
  });

  it('a layer name HDF5 cannot hold is refused before anything is written', () => {
    const n = net(`${INPUT} layer { name: "conv1/bn" type: "BatchNorm" bottom: "x" top: "x" }`);
    const out = join(tmp, 'slash.caffemodel.h5');
    expect(() => n.saveHdf5(out)).toThrow(/layer 'conv1\/bn'.*HDF5 weights file/);
    expect(readdirSync(tmp).filter((f) => f.startsWith('slash') || f.includes('.tmp'))).toEqual([]);
  });
});


describe('Blob data on first use, and weights adopted from the decoded file', () => {
  it('adoptData takes an array only while the blob has not allocated its data', () => {
    const b = new Blob([2, 3]);
    expect(b.adoptData(new Float32Array(5))).toBe(false); // wrong size
    const v = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(b.adoptData(v)).toBe(true);
    expect(b.data).toBe(v);
    expect(b.adoptData(new Float32Array(6))).toBe(false); // already has data
    const c = new Blob([4]);
    c.data[0] = 1; // allocated by use
    expect(c.adoptData(new Float32Array(4))).toBe(false);
    expect(c.data[0]).toBe(1);
  });
  it('Net.fromFiles gives the weights copyTrainedLayersFromFile gives, and shared weights stay shared', () => {
    const proto = join(DEMO, 'lenet.prototxt');
    const weights = join(DEMO, 'lenet_iter_10000.caffemodel');
    const a = Net.fromFiles(proto, weights, { phase: 'TEST' });
    const b = Net.fromFile(proto, { phase: 'TEST' });
    b.copyTrainedLayersFrom(readNetWeights(weights), weights);
    for (const [name, blobs] of b.params) blobs.forEach((blob, i) => expect(Array.from(a.params.get(name)![i].data)).toEqual(Array.from(blob.data)));

    const dir = mkdtempSync(join(tmpdir(), 'caffe-ts-adopt-'));
    try {
      const shared = `input: "x" input_shape { dim: 1 dim: 3 }
        layer { name: "p" type: "InnerProduct" bottom: "x" top: "p" param { name: "w" } inner_product_param { num_output: 3 bias_term: false weight_filler { type: "gaussian" } } }
        layer { name: "q" type: "InnerProduct" bottom: "p" top: "q" param { name: "w" } inner_product_param { num_output: 3 bias_term: false weight_filler { type: "gaussian" } } }`;
      writeFileSync(join(dir, 'net.prototxt'), shared);
      Net.fromFile(join(dir, 'net.prototxt')).save(join(dir, 'w.caffemodel'));
      const n = Net.fromFiles(join(dir, 'net.prototxt'), join(dir, 'w.caffemodel'));
      n.layer('p').blobs[0].data[4] = 42;
      expect(n.layer('q').blobs[0].data[4]).toBe(42); // still one storage
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
