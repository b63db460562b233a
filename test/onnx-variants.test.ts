// Layer parameter variants that no reference case in fixtures/ holds, exported to ONNX and run by
// onnxruntime, against caffe-ts's own forward (itself checked against Caffe's numbers by the
// fixture suites). Each net: Input layers with random data, one or two layers under test.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage } from '../src/format/binary.js';
import { fromObject } from '../src/proto/schema.js';
import { FIXTURES } from './helpers.js';
import { inDir } from '../src/check/net-case.js';
import * as ort from 'onnxruntime-node';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { compareTensor } from '../src/check/compare.js';
import { LayerError } from '../src/util/errors.js';
import { exportOnnx, encodeOnnx } from '../src/onnx/index.js';
import { session } from './onnx-roundtrip.js';

function input(name: string, shape: number[]): string {
  return `layer { name: "in_${name}" type: "Input" top: "${name}" input_param { shape { ${shape.map((d) => `dim: ${d}`).join(' ')} } } }\n`;
}

/** Deterministic data: a fixed pseudo-random sequence, shifted into [lo, lo + 2). */
function data(n: number, seed: number, lo = -1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return lo + (2 * s) / 2147483648;
  });
}

async function roundTrip(prototxt: string, inputs: Record<string, Float32Array>, phase: 'TEST' | 'TRAIN' = 'TEST'): Promise<string[]> {
  const net = new Net(parseText(prototxt, 'NetParameter'), { phase });
  const e = exportOnnx(net, { outputs: net.blobNames.filter((b) => !net.inputs.includes(b)) });
  const s = await session(encodeOnnx(e));
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of e.graph.inputs) feeds[v.name] = new ort.Tensor('float32', inputs[v.name], v.dims);
  const res = await s.run(feeds);
  await s.release();
  net.forward(inputs);
  const failures: string[] = [];
  for (const v of e.graph.outputs) {
    const b = net.blob(v.name);
    const got = res[v.name];
    if (Array.from(got.dims, Number).join('x') !== b.shape.join('x')) failures.push(`${v.name}: shape ${got.dims} vs Caffe's ${b.shape}`);
    const msg = compareTensor({ shape: b.shape, data: got.data as Float32Array }, { shape: b.shape, data: b.data }, { abs: 1e-5, rel: 1e-4 });
    if (msg) failures.push(`${v.name}: ${msg}`);
  }
  return failures;
}

const x4 = (shape: number[], lo = -1) => ({ x: data(shape.reduce((a, b) => a * b, 1), 7, lo) });

const CASES: [string, string, Record<string, Float32Array>][] = [
  ['STOCHASTIC pooling at test time (weighted by the values)', input('x', [2, 3, 7, 7]) +
    'layer { name: "p" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: STOCHASTIC kernel_size: 3 stride: 2 } }', x4([2, 3, 7, 7], 0.1)],
  ['MAX pooling, round_mode FLOOR with padding', input('x', [1, 2, 8, 9]) +
    'layer { name: "p" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR } }', x4([1, 2, 8, 9])],
  ['AVE pooling, rectangular kernel, stride and pad', input('x', [1, 2, 7, 6]) +
    'layer { name: "p" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 1 } }', x4([1, 2, 7, 6])],
  ['ArgMax along an axis, top 2', input('x', [2, 5, 3]) +
    'layer { name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { axis: 1 top_k: 2 } }', x4([2, 5, 3])],
  ['ArgMax with out_max_val, per item', input('x', [2, 3, 2, 2]) +
    'layer { name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { out_max_val: true top_k: 3 } }', x4([2, 3, 2, 2])],
  ['Scale by a second bottom over two axes, with a learned bias', input('x', [2, 3, 4, 2]) + input('s', [3, 4]) +
    'layer { name: "s" type: "Scale" bottom: "x" bottom: "s" top: "y" scale_param { axis: 1 bias_term: true bias_filler { type: "gaussian" std: 1 } } }',
    { x: data(48, 3), s: data(12, 5) }],
  ['Bias with axis 0 and num_axes 2', input('x', [2, 3, 4]) +
    'layer { name: "b" type: "Bias" bottom: "x" top: "y" bias_param { axis: 0 num_axes: 2 filler { type: "gaussian" std: 1 } } }', x4([2, 3, 4])],
  ['InnerProduct on axis 2, transposed weights', input('x', [2, 3, 4, 5]) +
    'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 6 axis: 2 transpose: true weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }', x4([2, 3, 4, 5])],
  ['Power with power 0 (a constant), and a full power', input('x', [2, 3]) +
    'layer { name: "p0" type: "Power" bottom: "x" top: "y0" power_param { power: 0 scale: 2 } }\n' +
    'layer { name: "p1" type: "Power" bottom: "x" top: "y1" power_param { power: 2 scale: 0.5 shift: 3 } }', x4([2, 3])],
  ['Exp with base 2, shift and scale; Log with base 10', input('x', [2, 4]) +
    'layer { name: "e" type: "Exp" bottom: "x" top: "y" exp_param { base: 2 scale: 0.5 shift: 1 } }\n' +
    'layer { name: "l" type: "Log" bottom: "y" top: "z" log_param { base: 10 scale: 2 shift: 0.5 } }', x4([2, 4])],
  ['leaky ReLU in place after a grouped, strided, padded Deconvolution', input('x', [1, 4, 3, 3]) +
    'layer { name: "d" type: "Deconvolution" bottom: "x" top: "y" convolution_param { num_output: 6 group: 2 kernel_size: 3 stride: 2 pad: 1 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }\n' +
    'layer { name: "r" type: "ReLU" bottom: "y" top: "y" relu_param { negative_slope: 0.1 } }', x4([1, 4, 3, 3])],
  ['dilated Convolution, then a shared PReLU', input('x', [1, 2, 9, 8]) +
    'layer { name: "c" type: "Convolution" bottom: "x" top: "y" convolution_param { num_output: 3 kernel_size: 3 dilation: 2 stride: 2 pad: 1 weight_filler { type: "gaussian" std: 1 } } }\n' +
    'layer { name: "pr" type: "PReLU" bottom: "y" top: "z" prelu_param { channel_shared: true filler { type: "constant" value: 0.3 } } }', x4([1, 2, 9, 8])],
  ['Eltwise SUM with coefficients, and MAX', input('a', [2, 3]) + input('b', [2, 3]) +
    'layer { name: "s" type: "Eltwise" bottom: "a" bottom: "b" top: "s" eltwise_param { operation: SUM coeff: 0.5 coeff: -2 } }\n' +
    'layer { name: "m" type: "Eltwise" bottom: "a" bottom: "b" top: "m" eltwise_param { operation: MAX } }', { a: data(6, 1), b: data(6, 2) }],
  ['Reduction MEAN from axis 1 with a coefficient', input('x', [2, 3, 4]) +
    'layer { name: "r" type: "Reduction" bottom: "x" top: "y" reduction_param { operation: MEAN axis: 1 coeff: 2 } }', x4([2, 3, 4])],
  ['SPP, three levels of MAX and AVE', input('x', [1, 2, 8, 7]) +
    'layer { name: "s" type: "SPP" bottom: "x" top: "y" spp_param { pyramid_height: 3 pool: MAX } }\n' +
    'layer { name: "t" type: "SPP" bottom: "x" top: "z" spp_param { pyramid_height: 2 pool: AVE } }', x4([1, 2, 8, 7])],
  ['LRN across channels, Softmax on axis 2, Flatten with end_axis', input('x', [2, 5, 3, 2]) +
    'layer { name: "n" type: "LRN" bottom: "x" top: "y" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }\n' +
    'layer { name: "s" type: "Softmax" bottom: "y" top: "z" softmax_param { axis: 2 } }\n' +
    'layer { name: "f" type: "Flatten" bottom: "z" top: "w" flatten_param { axis: 1 end_axis: 2 } }', x4([2, 5, 3, 2])],
  ['Slice with slice points, Concat of the pieces in another order', input('x', [2, 6, 2]) +
    'layer { name: "s" type: "Slice" bottom: "x" top: "a" top: "b" top: "c" slice_param { axis: 1 slice_point: 1 slice_point: 4 } }\n' +
    'layer { name: "c" type: "Concat" bottom: "c" bottom: "a" bottom: "b" top: "y" concat_param { axis: 1 } }', x4([2, 6, 2])],
  ['Crop with per-axis offsets, Tile', input('x', [1, 2, 6, 7]) + input('r', [1, 2, 3, 4]) +
    'layer { name: "c" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { axis: 2 offset: 2 offset: 1 } }\n' +
    'layer { name: "t" type: "Tile" bottom: "y" top: "z" tile_param { axis: 1 tiles: 3 } }', { x: data(84, 4), r: data(24, 6) }],
];

describe('ONNX export of parameter variants, against caffe-ts\'s forward', () => {
  for (const [name, net, inputs] of CASES) {
    it(name, async () => expect((await roundTrip(`name: "v"\n${net}`, inputs)).join('\n')).toBe(''));
  }
  it('InfogainLoss with its matrix from a file, FULL normalization, an ignored label', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-onnx-h-'));
    try {
      const h = join(tmp, 'h.binaryproto');
      writeFileSync(h, encodeMessage(fromObject('BlobProto', { shape: { dim: [4, 4] }, data: Array.from(data(16, 9, 0)) }), 'BlobProto'));
      const net = input('x', [3, 4, 2]) + input('label', [3, 2]) +
        `layer { name: "l" type: "InfogainLoss" bottom: "x" bottom: "label" top: "loss" top: "prob" loss_weight: 1 loss_weight: 0 infogain_loss_param { source: "${h}" } loss_param { ignore_label: 2 normalization: FULL } }`;
      const labels = Float32Array.of(0, 2, 3, 1, 2, 1);
      expect((await roundTrip(`name: "v"\n${net}`, { x: data(24, 11), label: labels })).join('\n')).toBe('');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
  it('a Data layer\'s tops become graph inputs, fed with what the layer produced', async () => {
    const dir = join(FIXTURES, 'oracle/data_random/000');
    const text = readFileSync(join(dir, 'net.prototxt'), 'utf8') +
      'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.1 } } }\n' +
      'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n';
    const net = inDir(dir, () => {
      const n = new Net(parseText(text, 'NetParameter'), { phase: 'TEST' });
      n.forward();
      return n;
    });
    const e = exportOnnx(net);
    expect(e.graph.inputs.map((v) => [v.name, v.dims])).toEqual([['data', net.blob('data').shape], ['label', net.blob('label').shape]]);
    const s = await session(encodeOnnx(e));
    const res = await s.run({
      data: new ort.Tensor('float32', Float32Array.from(net.blob('data').data), net.blob('data').shape),
      label: new ort.Tensor('float32', Float32Array.from(net.blob('label').data), net.blob('label').shape),
    });
    await s.release();
    expect(compareTensor({ shape: [1], data: res.loss.data as Float32Array }, { shape: [1], data: net.blob('loss').data }, { abs: 1e-5, rel: 1e-4 })).toBeNull();
  });
  it('DummyData with a random filler is an error; a constant one is a tensor', () => {
    const net = new Net(parseText('layer { name: "d" type: "DummyData" top: "x" dummy_data_param { shape { dim: 2 } data_filler { type: "gaussian" } } }', 'NetParameter'), { phase: 'TEST' });
    expect(() => exportOnnx(net)).toThrow(/layer 'd' \(DummyData\): cannot be exported to ONNX: top 0 is filled by a 'gaussian' filler at random/);
  });
  it('Dropout and STOCHASTIC pooling in TRAIN are random: an error naming the layer', () => {
    const net = new Net(parseText(`${input('x', [2, 3, 4, 4])}layer { name: "d" type: "Dropout" bottom: "x" top: "y" }`, 'NetParameter'), { phase: 'TRAIN' });
    expect(() => exportOnnx(net)).toThrow(LayerError);
    expect(() => exportOnnx(net)).toThrow(/layer 'd' \(Dropout\): cannot be exported to ONNX: Dropout drops at random in TRAIN/);
    const pool = new Net(parseText(`${input('x', [1, 1, 4, 4])}layer { name: "p" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: STOCHASTIC kernel_size: 2 } }`, 'NetParameter'), { phase: 'TRAIN' });
    expect(() => exportOnnx(pool)).toThrow(/layer 'p' \(Pooling\): cannot be exported to ONNX: STOCHASTIC pooling samples at random in TRAIN/);
  });
});
