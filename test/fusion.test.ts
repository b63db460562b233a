// Inference fusion of Convolution + BatchNorm + Scale + ReLU chains (src/graph/fusion.ts): the
// fused net must give what the layer-by-layer net gives, keep Caffe's blobs where asked, and
// never fuse where a backward will run.
import { describe, expect, it } from 'vitest';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { globalRng, setSeed } from '../src/kernels/rng.js';
import { setSimdKernels, setSimdMin } from '../src/kernels/simd.js';

// conv1 -> bn1/sc1/relu1 all in place (ResNet), then conv2 -> bn2 into a new blob -> sc2/relu2 in
// place on it (MobileNet v2), then a conv with bias and an in-place ReLU (GoogLeNet).
const NET = `
input: "data" input_shape { dim: 2 dim: 3 dim: 9 dim: 8 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 bias_term: false weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "sc1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param { num_output: 5 kernel_size: 1 weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
layer { name: "bn2" type: "BatchNorm" bottom: "conv2" top: "conv2/bn" }
layer { name: "sc2" type: "Scale" bottom: "conv2/bn" top: "conv2/bn" scale_param { bias_term: true } }
layer { name: "relu2" type: "ReLU" bottom: "conv2/bn" top: "conv2/bn" }
layer { name: "conv3" type: "Convolution" bottom: "conv2/bn" top: "conv3"
  convolution_param { num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
layer { name: "relu3" type: "ReLU" bottom: "conv3" top: "conv3" }
`;

function build(opts: { fuse?: boolean; keepBlobs?: boolean | string[]; force?: boolean } = {}): Net {
  setSeed(7);
  const param = parseText((opts.force ? 'force_backward: true\n' : '') + NET, 'NetParameter');
  const net = new Net(param, { phase: 'TEST', fuse: opts.fuse, keepBlobs: opts.keepBlobs });
  // Statistics, scales and shifts that are not the identity, so each fold is exercised.
  const rng = globalRng();
  for (const name of ['bn1', 'bn2']) {
    const [mean, variance, factor] = net.layer(name).blobs;
    for (let c = 0; c < mean.count; c++) {
      mean.data[c] = rng.gaussian(0, 0.5);
      variance.data[c] = 0.5 + rng.uniform(0, 1);
    }
    factor.data[0] = 0.8;
  }
  for (const name of ['sc1', 'sc2']) for (const b of net.layer(name).blobs) for (let c = 0; c < b.count; c++) b.data[c] = rng.gaussian(0.5, 0.5);
  return net;
}

function input(): Float32Array {
  const x = new Float32Array(2 * 3 * 9 * 8);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.7) + 0.2;
  return x;
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let m = 0, e = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(b[i]));
    e = Math.max(e, Math.abs(a[i] - b[i]));
  }
  return e / Math.max(m, 1e-30);
}

describe('conv + BatchNorm + Scale + ReLU fusion (TEST, no backward)', () => {
  it('fuses all three chains when blobs need not be kept, and gives the unfused result', () => {
    const plain = build({ fuse: false, keepBlobs: true });
    // Keeping the compared blobs (not conv2, which the fused net skips) turns off no fusion.
    const fused = build({ keepBlobs: ['conv1', 'conv2/bn', 'conv3'] });
    expect(plain.fusedChains.size).toBe(0);
    expect([...fused.fusedChains.keys()].map((i) => fused.layerNames[i])).toEqual(['conv1', 'conv2', 'conv3']);
    const c2 = [...fused.fusedChains.values()][1];
    expect(c2.bn >= 0 && c2.scale >= 0 && c2.relu).toBe(true);
    plain.forward({ data: input() });
    fused.forward({ data: input() });
    for (const blob of ['conv1', 'conv2/bn', 'conv3']) {
      expect(maxRelErr(fused.blob(blob).data, plain.blob(blob).data), blob).toBeLessThan(1e-6);
    }
    // The blob between conv2 and bn2 is not written by the fused net.
    expect(maxRelErr(fused.blob('conv2').data, plain.blob('conv2').data)).toBeGreaterThan(1e-3);
  });
  it('with keepBlobs, only in-place links fuse and every blob is Caffe\'s', () => {
    const plain = build({ fuse: false, keepBlobs: true });
    const kept = build({ keepBlobs: true });
    const chains = [...kept.fusedChains.values()];
    expect(chains.map((c) => kept.layerNames[c.conv])).toEqual(['conv1', 'conv3']);
    plain.forward({ data: input() });
    kept.forward({ data: input() });
    for (const [name, blob] of plain.blobs) expect(maxRelErr(kept.blob(name).data, blob.data), name).toBeLessThan(1e-6);
  });
  it('uses parameters changed after the first forward', () => {
    const plain = build({ fuse: false, keepBlobs: true });
    const fused = build();
    expect(fused.fusedChains.size).toBe(3);
    fused.forward({ data: input() });
    for (const net of [plain, fused]) {
      net.layer('bn1').blobs[1].data[2] = 3;
      net.layer('sc2').blobs[0].data[1] = -2;
      net.layer('conv3').blobs[1].data[0] = 1.5;
    }
    plain.forward({ data: input() });
    fused.forward({ data: input() });
    expect(maxRelErr(fused.blob('conv3').data, plain.blob('conv3').data)).toBeLessThan(1e-6);
  });
  it('never fuses where a backward will run', () => {
    expect(build({ force: true }).fusedChains.size).toBe(0);
  });
  it('a partial forward that ends inside a chain runs its layers one by one', () => {
    const plain = build({ fuse: false, keepBlobs: true });
    const fused = build({ keepBlobs: ['conv1'] });
    for (const net of [plain, fused]) {
      net.setInputs({ data: input() });
      net.forwardFromTo(0, 2); // conv1 and bn1 only
    }
    expect(maxRelErr(fused.blob('conv1').data, plain.blob('conv1').data)).toBeLessThan(1e-6);
  });
});

// Residual blocks: ResNet's (conv/BN/Scale -> Eltwise with the shortcut -> in-place ReLU), MobileNet
// v2's (conv -> BN into a new blob -> Scale -> Eltwise, no ReLU), and a bare conv with bias whose
// Eltwise is followed by a ReLU into a new blob.
const RES = `
input: "data" input_shape { dim: 2 dim: 4 dim: 7 dim: 6 }
layer { name: "conv0" type: "Convolution" bottom: "data" top: "x"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 bias_term: false weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "bn0" type: "BatchNorm" bottom: "x" top: "x" }
layer { name: "sc0" type: "Scale" bottom: "x" top: "x" scale_param { bias_term: true } }
layer { name: "relu0" type: "ReLU" bottom: "x" top: "x" }
layer { name: "conv1" type: "Convolution" bottom: "x" top: "b1"
  convolution_param { num_output: 6 kernel_size: 1 bias_term: false weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "bn1" type: "BatchNorm" bottom: "b1" top: "b1" }
layer { name: "sc1" type: "Scale" bottom: "b1" top: "b1" scale_param { bias_term: true } }
layer { name: "sum1" type: "Eltwise" bottom: "x" bottom: "b1" top: "sum1" }
layer { name: "relu1" type: "ReLU" bottom: "sum1" top: "sum1" }
layer { name: "conv2" type: "Convolution" bottom: "sum1" top: "c2"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 bias_term: false weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "bn2" type: "BatchNorm" bottom: "c2" top: "c2/bn" }
layer { name: "sc2" type: "Scale" bottom: "c2/bn" top: "c2/bn" scale_param { bias_term: true } }
layer { name: "sum2" type: "Eltwise" bottom: "sum1" bottom: "c2/bn" top: "sum2" }
layer { name: "conv3" type: "Convolution" bottom: "sum2" top: "c3"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
layer { name: "sum3" type: "Eltwise" bottom: "c3" bottom: "sum2" top: "sum3" eltwise_param { coeff: 1 coeff: 1 } }
layer { name: "relu3" type: "ReLU" bottom: "sum3" top: "r3" }
`;

function buildRes(opts: { fuse?: boolean; keepBlobs?: boolean | string[]; force?: boolean } = {}): Net {
  setSeed(11);
  const param = parseText((opts.force ? 'force_backward: true\n' : '') + RES, 'NetParameter');
  const net = new Net(param, { phase: 'TEST', fuse: opts.fuse, keepBlobs: opts.keepBlobs });
  const rng = globalRng();
  for (const name of ['bn0', 'bn1', 'bn2']) {
    const [mean, variance, factor] = net.layer(name).blobs;
    for (let c = 0; c < mean.count; c++) {
      mean.data[c] = rng.gaussian(0, 0.5);
      variance.data[c] = 0.5 + rng.uniform(0, 1);
    }
    factor.data[0] = 0.8;
  }
  for (const name of ['sc0', 'sc1', 'sc2']) for (const b of net.layer(name).blobs) for (let c = 0; c < b.count; c++) b.data[c] = rng.gaussian(0.5, 0.5);
  return net;
}

function resInput(): Float32Array {
  return Float32Array.from({ length: 2 * 4 * 7 * 6 }, (_, i) => Math.sin(i * 0.37) + 0.1);
}

/** Layer names of each chain: conv, then the layers folded into it. */
function chainNames(net: Net): string[][] {
  return [...net.fusedChains.values()].map((c) => net.layerNames.slice(c.conv, c.last + 1));
}

describe('residual Eltwise SUM folded into the conv epilogue', () => {
  it('folds all three Eltwise (and the ReLU after two of them) and gives the unfused result', () => {
    const plain = buildRes({ fuse: false, keepBlobs: true });
    const fused = buildRes({ keepBlobs: ['sum1', 'sum2'] });
    expect(chainNames(fused)).toEqual([
      ['conv0', 'bn0', 'sc0', 'relu0'],
      ['conv1', 'bn1', 'sc1', 'sum1', 'relu1'],
      ['conv2', 'bn2', 'sc2', 'sum2'],
      ['conv3', 'sum3', 'relu3'],
    ]);
    for (let r = 0; r < 2; r++) {
      plain.forward({ data: resInput() });
      fused.forward({ data: resInput() });
      // Equal to float rounding: the BatchNorm/Scale fold rounds differently (see above).
      for (const blob of ['sum1', 'sum2', 'r3']) {
        expect(maxRelErr(fused.blob(blob).data, plain.blob(blob).data), blob).toBeLessThan(1e-6);
      }
    }
  });
  it('a conv with bias, the Eltwise and the ReLU give the layer-by-layer values bit for bit, on the SIMD and JS paths', () => {
    const plain = buildRes({ fuse: false, keepBlobs: true });
    plain.forward({ data: resInput() });
    // Feed conv3 the plain net's sum2 so that only the folded layers differ.
    const tail = (fuse: boolean) => {
      const net = buildRes({ fuse, keepBlobs: fuse ? [] : true });
      net.blob('sum2').data.set(plain.blob('sum2').data);
      net.forwardFromTo(net.layerNames.indexOf('conv3'), net.layers.length - 1);
      return net.blob('r3').data.slice();
    };
    const want = tail(false);
    expect(Array.from(want)).toEqual(Array.from(plain.blob('r3').data));
    const simdWas = setSimdKernels(true);
    const minWas = setSimdMin(1);
    try {
      expect(Array.from(tail(true))).toEqual(Array.from(want));
      setSimdKernels(false);
      expect(Array.from(tail(true))).toEqual(Array.from(want));
    } finally {
      setSimdKernels(simdWas);
      setSimdMin(minWas);
    }
  });
  it('keepBlobs keeps the Eltwise\'s bottoms: a kept bottom stops the fold, keepBlobs true stops every one', () => {
    const plain = buildRes({ fuse: false, keepBlobs: true });
    const some = buildRes({ keepBlobs: ['b1', 'sum1', 'c2/bn', 'r3'] });
    expect(chainNames(some)).toEqual([
      ['conv0', 'bn0', 'sc0', 'relu0'],
      ['conv1', 'bn1', 'sc1'],
      ['conv2', 'bn2', 'sc2'],
      ['conv3', 'sum3', 'relu3'],
    ]);
    const all = buildRes({ keepBlobs: true });
    expect(chainNames(all)).toEqual([['conv0', 'bn0', 'sc0', 'relu0'], ['conv1', 'bn1', 'sc1']]);
    plain.forward({ data: resInput() });
    some.forward({ data: resInput() });
    all.forward({ data: resInput() });
    for (const blob of ['b1', 'sum1', 'c2/bn', 'r3']) expect(maxRelErr(some.blob(blob).data, plain.blob(blob).data), blob).toBeLessThan(1e-6);
    for (const [name, blob] of plain.blobs) expect(maxRelErr(all.blob(name).data, blob.data), name).toBeLessThan(1e-6);
  });
  it('costs no memory (the skipped bottom shares the Eltwise top\'s store), also when a forward stops inside the chain', () => {
    const plain = buildRes({ fuse: false, keepBlobs: true });
    const fused = buildRes();
    plain.forward({ data: resInput() });
    fused.forward({ data: resInput() });
    const [b1, sum1] = [fused.blob('b1').data, fused.blob('sum1').data];
    expect(b1.buffer === sum1.buffer && b1.byteOffset === sum1.byteOffset).toBe(true);
    // Layer by layer up to sc1 (conv1 writes b1 into sum1's store), then on from sum1.
    fused.setInputs({ data: resInput() });
    fused.forwardFromTo(0, fused.layerNames.indexOf('sc1'));
    fused.forwardFromTo(fused.layerNames.indexOf('sum1'), fused.layers.length - 1);
    expect(maxRelErr(fused.blob('r3').data, plain.blob('r3').data)).toBeLessThan(1e-6);
  });
  it('never folds where a backward will run, nor with fuse: false', () => {
    expect(buildRes({ force: true }).fusedChains.size).toBe(0);
    expect(buildRes({ fuse: false }).fusedChains.size).toBe(0);
  });
});
