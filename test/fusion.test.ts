// Inference fusion of Convolution + BatchNorm + Scale + ReLU chains (src/graph/fusion.ts): the
// fused net must give what the layer-by-layer net gives, keep Caffe's blobs where asked, and
// never fuse where a backward will run.
import { describe, expect, it } from 'vitest';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { globalRng, setSeed } from '../src/kernels/rng.js';

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
