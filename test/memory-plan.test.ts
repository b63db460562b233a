// Inference activation memory (src/graph/memory-plan.ts): blobs share storage once read, results
// stay those of a net that keeps every blob, and deep nets fit in about their two largest
// activations.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { setSeed } from '../src/kernels/rng.js';

const NET = `
input: "data" input_shape { dim: 2 dim: 3 dim: 12 dim: 10 }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1" convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "r1" type: "ReLU" bottom: "c1" top: "c1" }
layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2" convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "sum" type: "Eltwise" bottom: "c1" bottom: "c2" top: "sum" }
layer { name: "p" type: "Pooling" bottom: "sum" top: "p" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "c3" type: "Convolution" bottom: "p" top: "c3" convolution_param { num_output: 6 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "flat" type: "Flatten" bottom: "c3" top: "flat" }
layer { name: "ip" type: "InnerProduct" bottom: "flat" top: "ip" inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
`;

function build(extra: { keepBlobs?: boolean | string[]; force?: boolean } = {}): Net {
  setSeed(5);
  return new Net(parseText((extra.force ? 'force_backward: true\n' : '') + NET, 'NetParameter'), { phase: 'TEST', keepBlobs: extra.keepBlobs });
}

function input(shape: number[]): { shape: number[]; data: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.41)) };
}

describe('inference memory plan', () => {
  it('shares storage between blobs never alive together and gives the same output', () => {
    const all = build({ keepBlobs: true });
    const planned = build();
    for (let r = 0; r < 2; r++) {
      all.forward({ data: input([2, 3, 12, 10]) });
      planned.forward({ data: input([2, 3, 12, 10]) });
      expect(Array.from(planned.blob('prob').data)).toEqual(Array.from(all.blob('prob').data));
    }
    expect(all.memoryPlan).toBeUndefined();
    const plan = planned.memoryPlan!;
    expect(plan.groups).toBeGreaterThan(3);
    expect(plan.arenaBytes).toBeLessThan(plan.ownBytes);
    // c1 (read by the Eltwise) and c2 are alive together, so they never share storage.
    expect(planned.blob('c1').data.buffer === planned.blob('c2').data.buffer && planned.blob('c1').data.byteOffset === planned.blob('c2').data.byteOffset).toBe(false);
  });
  it('plans again when the input shape changes', () => {
    const all = build({ keepBlobs: true });
    const planned = build();
    planned.forward({ data: input([2, 3, 12, 10]) });
    for (const shape of [[1, 3, 16, 14], [3, 3, 8, 8]]) {
      // InnerProduct's input size is fixed: keep the pooled size (12x10 -> 6x5) only for the first
      if (shape[2] !== 12) continue;
      all.forward({ data: input(shape) });
      planned.forward({ data: input(shape) });
      expect(Array.from(planned.blob('prob').data)).toEqual(Array.from(all.blob('prob').data));
    }
    all.forward({ data: input([4, 3, 12, 10]) });
    planned.forward({ data: input([4, 3, 12, 10]) });
    expect(Array.from(planned.blob('prob').data)).toEqual(Array.from(all.blob('prob').data));
  });
  it('plans again when the input shrinks, with the blobs in the old arena', () => {
    const all = build({ keepBlobs: true });
    const planned = build();
    planned.forward({ data: input([4, 3, 12, 10]) });
    const big = planned.memoryPlan!.arenaBytes;
    for (const n of [2, 4, 1]) {
      all.forward({ data: input([n, 3, 12, 10]) });
      planned.forward({ data: input([n, 3, 12, 10]) });
      expect(Array.from(planned.blob('prob').data)).toEqual(Array.from(all.blob('prob').data));
      // Blobs that still fit the old arena are not one group of the whole arena's size.
      expect(planned.memoryPlan!.arenaBytes).toBeLessThanOrEqual((big * n) / 4 + 64);
      expect(planned.memoryPlan!.groups).toBeGreaterThan(3);
    }
  });
  it('keeps the blobs it is asked to keep', () => {
    const all = build({ keepBlobs: true });
    const planned = build({ keepBlobs: ['c2', 'p'] });
    all.forward({ data: input([2, 3, 12, 10]) });
    planned.forward({ data: input([2, 3, 12, 10]) });
    for (const name of ['c2', 'p', 'prob']) expect(Array.from(planned.blob(name).data)).toEqual(Array.from(all.blob(name).data));
  });
  it('does nothing where a backward will run', () => {
    const net = build({ force: true });
    net.forward({ data: input([2, 3, 12, 10]) });
    expect(net.memoryPlan).toBeUndefined();
  });
  it('ResNet-50 at 224x224 needs at most 1.5x its two largest activations', () => {
    const net = Net.fromFile(join(import.meta.dirname, '..', 'bench', 'models', 'resnet50.prototxt'), { phase: 'TEST' });
    net.forward();
    const sizes = [...net.blobs.values()].map((b) => b.count * 4).sort((a, b) => b - a);
    expect(net.memoryPlan!.arenaBytes).toBeLessThanOrEqual(1.5 * (sizes[0] + sizes[1]));
    expect(net.memoryPlan!.ownBytes).toBeGreaterThan(6 * net.memoryPlan!.arenaBytes);
  });
});

describe('inference memory plan, layers that share data in forward', () => {
  // Flatten makes its top the bottom's data only when it runs (as Caffe's Forward): planned
  // apart, a later layer would reuse the bottom's storage while the flattened view is still read
  // (SSD's mbox heads: conv -> Permute -> Flatten -> Concat of all heads at the end).
  const HEADS = `
input: "data" input_shape { dim: 1 dim: 3 dim: 6 dim: 5 }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1" convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "p1" type: "Permute" bottom: "c1" top: "p1" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "f1" type: "Flatten" bottom: "p1" top: "f1" }
layer { name: "c2" type: "Convolution" bottom: "data" top: "c2" convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "p2" type: "Permute" bottom: "c2" top: "p2" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "f2" type: "Flatten" bottom: "p2" top: "f2" }
layer { name: "c3" type: "Convolution" bottom: "data" top: "c3" convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "f3" type: "Flatten" bottom: "c3" top: "f3" }
layer { name: "cat" type: "Concat" bottom: "f1" bottom: "f2" bottom: "f3" top: "cat" }
`;
  it('keeps the flattened view and its bottom in one store', () => {
    const make = (keepBlobs?: boolean) => {
      setSeed(3);
      return new Net(parseText(HEADS, 'NetParameter'), { phase: 'TEST', keepBlobs });
    };
    const all = make(true);
    const planned = make();
    for (let r = 0; r < 2; r++) {
      all.forward({ data: input([1, 3, 6, 5]) });
      planned.forward({ data: input([1, 3, 6, 5]) });
      expect(Array.from(planned.blob('cat').data)).toEqual(Array.from(all.blob('cat').data));
    }
    expect(planned.memoryPlan!.groups).toBeGreaterThan(1);
  });
});
