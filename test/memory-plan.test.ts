// Inference activation memory (src/graph/memory-plan.ts): blobs share storage once read, results
// stay those of a net that keeps every blob, and deep nets fit in about their two largest
// activations.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { setSeed } from '../src/kernels/rng.js';
import type { Blob } from '../src/graph/blob.js';

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
  it('gives the old arena back when it plans again', () => {
    const planned = build();
    const range = () => {
      const views = [...planned.blobs.values()].filter((b) => b.storeOwner !== null).map((b) => b.data);
      return [Math.min(...views.map((v) => v.byteOffset)), Math.max(...views.map((v) => v.byteOffset + v.byteLength))];
    };
    planned.forward({ data: input([4, 3, 12, 10]) });
    if (!planned.memoryPlan!.shared) return; // no shared memory here (CAFFE_TS_THREADS=1): JS arenas
    const [lo, hi] = range();
    for (const n of [2, 3, 1]) {
      planned.forward({ data: input([n, 3, 12, 10]) });
      expect(planned.memoryPlan!.shared).toBe(true);
      // Smaller plans land in the region the first one held, released before planning again.
      const [l, h] = range();
      expect(l).toBeGreaterThanOrEqual(lo);
      expect(h).toBeLessThanOrEqual(hi);
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

describe('inference memory plan, Concat bottoms inside the top', () => {
  const conv = (name: string, bottom: string, out: number, k = 1, relu = true) =>
    `layer { name: "${name}" type: "Convolution" bottom: "${bottom}" top: "${name}" convolution_param { num_output: ${out} kernel_size: ${k} pad: ${(k - 1) / 2} weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.1 } } }\n` +
    (relu ? `layer { name: "${name}/relu" type: "ReLU" bottom: "${name}" top: "${name}" }\n` : '');
  // GoogLeNet's inception module (four branches, one a pooling) at 9x7, with odd channel counts so
  // that slices start at odd offsets, and its top concatenated again with a conv of it.
  const INCEPTION = `
input: "data" input_shape { dim: 1 dim: 3 dim: 9 dim: 7 }
${conv('c0', 'data', 5, 3)}
${conv('b1', 'c0', 3)}
${conv('b2r', 'c0', 2)}${conv('b2', 'b2r', 5, 3)}
${conv('b3r', 'c0', 2)}${conv('b3', 'b3r', 3, 5)}
layer { name: "pool" type: "Pooling" bottom: "c0" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 } }
${conv('pp', 'pool', 2)}
layer { name: "cat" type: "Concat" bottom: "b1" bottom: "b2" bottom: "b3" bottom: "pp" top: "cat" }
${conv('d', 'cat', 3)}
layer { name: "cat2" type: "Concat" bottom: "cat" bottom: "d" top: "cat2" }
${conv('e', 'cat2', 4, 3)}
layer { name: "gp" type: "Pooling" bottom: "e" top: "gp" pooling_param { pool: AVE global_pooling: true } }
layer { name: "ip" type: "InnerProduct" bottom: "gp" top: "ip" inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
`;
  // SqueezeNet's fire module twice: squeeze, then a 1x1 and a 3x3 expand concatenated.
  const FIRE = `
input: "data" input_shape { dim: 1 dim: 3 dim: 11 dim: 11 }
${conv('conv1', 'data', 8, 3)}
${conv('f2/s', 'conv1', 3)}${conv('f2/e1', 'f2/s', 5)}${conv('f2/e3', 'f2/s', 7, 3)}
layer { name: "f2/cat" type: "Concat" bottom: "f2/e1" bottom: "f2/e3" top: "f2/cat" }
layer { name: "pool" type: "Pooling" bottom: "f2/cat" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
${conv('f3/s', 'pool', 3)}${conv('f3/e1', 'f3/s', 6)}${conv('f3/e3', 'f3/s', 6, 3)}
layer { name: "f3/cat" type: "Concat" bottom: "f3/e1" bottom: "f3/e3" top: "f3/cat" }
${conv('c10', 'f3/cat', 4, 1)}
layer { name: "gp" type: "Pooling" bottom: "c10" top: "gp" pooling_param { pool: AVE global_pooling: true } }
layer { name: "prob" type: "Softmax" bottom: "gp" top: "prob" }
`;
  const make = (text: string, keepBlobs?: boolean | string[]) => {
    setSeed(11);
    return new Net(parseText(text, 'NetParameter'), { phase: 'TEST', keepBlobs });
  };
  /** Whether `b`'s data is the slice of `top`'s at `at` floats. */
  const inside = (b: Blob, top: Blob, at: number) =>
    b.data.buffer === top.data.buffer && b.data.byteOffset === top.data.byteOffset + 4 * at;
  const runBoth = (text: string, shape: number[], keepBlobs?: string[]) => {
    const all = make(text, true);
    const planned = make(text, keepBlobs);
    for (let r = 0; r < 2; r++) {
      all.forward({ data: input(shape) });
      planned.forward({ data: input(shape) });
      expect(Array.from(planned.blob('prob').data)).toEqual(Array.from(all.blob('prob').data));
      for (const name of keepBlobs ?? []) expect(Array.from(planned.blob(name).data)).toEqual(Array.from(all.blob(name).data));
    }
    return planned;
  };

  it('has an inception module write its branches into the concatenated blob', () => {
    const net = runBoth(INCEPTION, [1, 3, 9, 7]);
    const blob = (n: string) => net.blob(n);
    const cat = blob('cat');
    let at = 0;
    for (const name of ['b1', 'b2', 'b3', 'pp']) {
      expect(inside(blob(name), cat, at), name).toBe(true);
      at += blob(name).count;
    }
    // The nested Concat: cat, with its branches, inside cat2.
    expect(inside(cat, blob('cat2'), 0)).toBe(true);
    expect(inside(blob('d'), blob('cat2'), cat.count)).toBe(true);
    expect(net.memoryPlan!.concatInPlace).toBe(6);
  });
  it('has fire modules write their expands into the concatenated blob', () => {
    const net = runBoth(FIRE, [1, 3, 11, 11]);
    for (const f of ['f2', 'f3']) {
      const cat = net.blob(`${f}/cat`);
      expect(inside(net.blob(`${f}/e1`), cat, 0)).toBe(true);
      expect(inside(net.blob(`${f}/e3`), cat, net.blob(`${f}/e1`).count)).toBe(true);
    }
    expect(net.memoryPlan!.concatInPlace).toBe(4);
  });
  it('copies at batch 2, where the slices are strided', () => {
    for (const [text, shape] of [[INCEPTION, [2, 3, 9, 7]], [FIRE, [2, 3, 11, 11]]] as const) {
      const net = runBoth(text, [...shape]);
      expect(net.memoryPlan!.concatInPlace).toBe(0);
    }
  });
  it('plans again from batch 1 to 2 and back', () => {
    const all = make(INCEPTION, true);
    const planned = make(INCEPTION);
    for (const n of [1, 2, 1]) {
      all.forward({ data: input([n, 3, 9, 7]) });
      planned.forward({ data: input([n, 3, 9, 7]) });
      expect(Array.from(planned.blob('prob').data)).toEqual(Array.from(all.blob('prob').data));
      expect(planned.memoryPlan!.concatInPlace).toBe(n === 1 ? 6 : 0);
    }
  });
  it('copies a bottom it is asked to keep', () => {
    const net = runBoth(INCEPTION, [1, 3, 9, 7], ['b2']);
    const cat = net.blob('cat');
    expect(inside(net.blob('b2'), cat, net.blob('b1').count)).toBe(false);
    expect(inside(net.blob('b1'), cat, 0)).toBe(true);
    expect(inside(net.blob('b3'), cat, net.blob('b1').count + net.blob('b2').count)).toBe(true);
  });
  it('copies the second slice of a bottom concatenated twice, and a bottom written or read after the Concat', () => {
    const TWICE = `
input: "data" input_shape { dim: 1 dim: 3 dim: 5 dim: 5 }
${conv('a', 'data', 3)}${conv('b', 'data', 2)}
layer { name: "cat" type: "Concat" bottom: "a" bottom: "b" bottom: "a" top: "cat" }
layer { name: "prob" type: "Softmax" bottom: "cat" top: "prob" }
`;
    const twice = runBoth(TWICE, [1, 3, 5, 5]);
    const a = twice.blob('a');
    expect(inside(a, twice.blob('cat'), 0)).toBe(true);
    expect(inside(twice.blob('b'), twice.blob('cat'), a.count)).toBe(true);
    expect(twice.memoryPlan!.concatInPlace).toBe(2);
    // a is read after the Concat, whose top is then changed in place: a's slice would change
    // under its reader.
    const READ = `
input: "data" input_shape { dim: 1 dim: 3 dim: 5 dim: 5 }
${conv('a', 'data', 3, 1, false)}${conv('c', 'data', 2, 1, false)}
layer { name: "cat" type: "Concat" bottom: "a" bottom: "c" top: "cat" }
layer { name: "neg" type: "Power" bottom: "cat" top: "cat" power_param { scale: -1 shift: 0.5 } }
layer { name: "ia" type: "InnerProduct" bottom: "a" top: "ia" inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "ic" type: "InnerProduct" bottom: "cat" top: "ic" inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "sum" type: "Eltwise" bottom: "ia" bottom: "ic" top: "sum" }
layer { name: "prob" type: "Softmax" bottom: "sum" top: "prob" }
`;
    // b is changed in place after the Concat, through a view: the top would change with it.
    const WRITE = `
input: "data" input_shape { dim: 1 dim: 3 dim: 5 dim: 5 }
${conv('b', 'data', 2, 1, false)}${conv('c', 'data', 2, 1, false)}
layer { name: "cat" type: "Concat" bottom: "b" bottom: "c" top: "cat" }
layer { name: "vb" type: "Reshape" bottom: "b" top: "vb" reshape_param { shape { dim: 0 dim: -1 } } }
layer { name: "bneg" type: "Power" bottom: "vb" top: "vb" power_param { scale: -1 shift: 0.5 } }
layer { name: "ib" type: "InnerProduct" bottom: "vb" top: "ib" inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "ic" type: "InnerProduct" bottom: "cat" top: "ic" inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "sum" type: "Eltwise" bottom: "ib" bottom: "ic" top: "sum" }
layer { name: "prob" type: "Softmax" bottom: "sum" top: "prob" }
`;
    for (const [text, copied] of [[READ, 'a'], [WRITE, 'b']]) {
      const net = runBoth(text, [1, 3, 5, 5]);
      const cat = net.blob('cat');
      expect(inside(net.blob(copied), cat, 0)).toBe(false);
      expect(inside(net.blob('c'), cat, net.blob(copied).count)).toBe(true);
      expect(net.memoryPlan!.concatInPlace).toBe(1);
    }
  });
  it('GoogLeNet at batch 1 gives the same output and needs at most 1.5x its two largest activations', () => {
    const file = join(import.meta.dirname, '..', 'bench', 'models', 'googlenet.prototxt');
    const make1 = (keepBlobs?: boolean) => {
      setSeed(7);
      return Net.fromFile(file, { phase: 'TEST', keepBlobs });
    };
    const all = make1(true);
    const planned = make1();
    const x = input([1, 3, 224, 224]);
    all.forward({ data: x });
    planned.forward({ data: x });
    const out = planned.outputs[0];
    expect(Array.from(planned.blob(out).data)).toEqual(Array.from(all.blob(out).data));
    // Every Concat bottom of the nine inception modules is written in place.
    expect(planned.memoryPlan!.concatInPlace).toBe(36);
    const sizes = [...planned.blobs.values()].map((b) => b.count * 4).sort((a, b) => b - a);
    expect(planned.memoryPlan!.arenaBytes).toBeLessThanOrEqual(1.5 * (sizes[0] + sizes[1]));
  });
});
