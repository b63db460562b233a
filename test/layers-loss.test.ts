// Loss-group layers: Softmax, SoftmaxWithLoss, Accuracy, ContrastiveLoss, EuclideanLoss,
// HingeLoss, InfogainLoss, MultinomialLogisticLoss, SigmoidCrossEntropyLoss.
// Forward values against hand-computed numbers, finite-difference gradient checks, errors.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { fromObject } from '../src/proto/schema.js';
import { encodeMessage } from '../src/format/binary.js';
import { parseText } from '../src/format/text.js';
import { readNpyAsFloat32 } from '../src/format/npy.js';
import '../src/layers/group-loss.js';
import { createLayer } from '../src/layers/registry.js';
import type { Layer } from '../src/layers/layer.js';
import { LayerError } from '../src/util/errors.js';
import { softmaxBackward, softmaxForward } from '../src/kernels/softmax.js';
import { SoftmaxLayer } from '../src/layers/softmax.js';
import { SoftmaxWithLossLayer } from '../src/layers/softmax-with-loss.js';
import { AccuracyLayer } from '../src/layers/accuracy.js';
import { ContrastiveLossLayer } from '../src/layers/contrastive-loss.js';
import { EuclideanLossLayer } from '../src/layers/euclidean-loss.js';
import { HingeLossLayer } from '../src/layers/hinge-loss.js';
import { InfogainLossLayer } from '../src/layers/infogain-loss.js';
import { MultinomialLogisticLossLayer } from '../src/layers/multinomial-logistic-loss.js';
import { SigmoidCrossEntropyLossLayer } from '../src/layers/sigmoid-cross-entropy-loss.js';
import { checkGradient, randomBlob, rng } from './gradient-checker.js';
import { blobOf } from './helpers.js';

type Ctor = new (p: any) => Layer;
function make(C: Ctor, type: string, extra: Record<string, unknown> = {}): Layer {
  return new C(fromObject('LayerParameter', { name: 'l', type, ...extra }));
}
/** Integer labels in [0, classes), deterministic. */
function labels(shape: number[], classes: number, seed = 7): Blob {
  const b = new Blob(shape);
  const r = rng(seed);
  for (let i = 0; i < b.count; i++) b.data[i] = Math.floor(r() * classes);
  return b;
}
function run(layer: Layer, bottom: Blob[], top: Blob[]): void {
  layer.setUp(bottom, top);
  layer.forward(bottom, top);
}
function softmaxRef(v: number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}
const close = (got: ArrayLike<number>, want: number[], digits = 5) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, digits));
};

describe('softmax kernel', () => {
  it('matches the definition along channels with inner > 1, and is stable for large inputs', () => {
    // outer 1, channels 3, inner 2: columns [1,2,3] and [1000,1001,1002].
    const x = Float32Array.from([1, 1000, 2, 1001, 3, 1002]);
    const y = new Float32Array(6);
    softmaxForward(x, y, 1, 3, 2);
    const ref = softmaxRef([1, 2, 3]);
    close([y[0], y[2], y[4]], ref, 6);
    close([y[1], y[3], y[5]], ref, 6);
  });
  it('backward is (dy - <dy,y>) * y and works in place', () => {
    const y = Float32Array.from([0.2, 0.3, 0.5]);
    const dy = Float32Array.from([1, -1, 2]);
    const dot = 0.2 - 0.3 + 1.0;
    const want = [0.2 * (1 - dot), 0.3 * (-1 - dot), 0.5 * (2 - dot)];
    softmaxBackward(y, dy, dy, 1, 3, 1);
    close(dy, want, 6);
  });
});

describe('Softmax', () => {
  it('forward: rows sum to one, values as hand-computed', () => {
    const l = make(SoftmaxLayer, 'Softmax');
    const x = blobOf([2, 3], [0, 1, 2, -1, -1, 5]);
    const y = new Blob();
    run(l, [x], [y]);
    expect(y.shape).toEqual([2, 3]);
    close(Array.from(y.data.subarray(0, 3)), softmaxRef([0, 1, 2]));
    close(Array.from(y.data.subarray(3)), softmaxRef([-1, -1, 5]));
  });
  it('axis 2 of a 4-D blob', () => {
    const l = make(SoftmaxLayer, 'Softmax', { softmax_param: { axis: 2 } });
    const x = randomBlob([2, 3, 4, 2], 3, -2, 2);
    const y = new Blob();
    run(l, [x], [y]);
    // Sum over axis 2 is 1 for every (n, c, w).
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let w = 0; w < 2; w++) {
      let s = 0;
      for (let h = 0; h < 4; h++) s += y.data[((n * 3 + c) * 4 + h) * 2 + w];
      expect(s).toBeCloseTo(1, 5);
    }
  });
  for (const [name, shape, axis] of [
    ['2-D', [2, 10], 1],
    ['4-D axis 1', [2, 3, 2, 2], 1],
    ['4-D axis 2', [2, 3, 2, 2], 2],
    ['4-D axis -1', [2, 3, 2, 2], -1],
  ] as [string, number[], number][]) {
    it(`gradient ${name}`, () => {
      const l = make(SoftmaxLayer, 'Softmax', { softmax_param: { axis } });
      checkGradient(l, [randomBlob(shape, 11, -2, 2)], [new Blob()]);
    });
  }
  it('writes the bottom diff even when propagate_down is false (as Caffe)', () => {
    const l = make(SoftmaxLayer, 'Softmax');
    const x = randomBlob([2, 3], 12, -2, 2);
    const y = new Blob();
    run(l, [x], [y]);
    y.diff.set([1, -1, 2, 0.5, 0, -2]);
    x.diff.fill(7);
    l.backward([y], [false], [x]);
    expect(x.diff.every((v) => v !== 7)).toBe(true);
  });
  it('rejects an axis out of range', () => {
    const l = make(SoftmaxLayer, 'Softmax', { softmax_param: { axis: 3 } });
    expect(() => l.setUp([new Blob([2, 3])], [new Blob()])).toThrow(LayerError);
  });
});

describe('SoftmaxWithLoss', () => {
  it('forward value by hand (2 x 3, VALID)', () => {
    const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss');
    const x = blobOf([2, 3], [0, 1, 2, -1, -1, 5]);
    const lab = blobOf([2], [2, 0]);
    const top = new Blob();
    run(l, [x, lab], [top]);
    expect(top.shape).toEqual([]);
    const want = -(Math.log(softmaxRef([0, 1, 2])[2]) + Math.log(softmaxRef([-1, -1, 5])[0])) / 2;
    expect(top.data[0]).toBeCloseTo(want, 5);
    expect(l.loss(0)).toBe(1);
    expect(top.diff[0]).toBe(1);
  });
  it('normalization modes on spatial labels with ignore_label', () => {
    // (2, 3, 1, 2) scores, labels (2, 1, 1, 2) with one ignored position.
    const x = randomBlob([2, 3, 1, 2], 5, -2, 2);
    const lab = blobOf([2, 1, 1, 2], [0, 2, 1, 1]);
    const nll = (n: number, w: number, c: number) => {
      const v = [0, 1, 2].map((k) => x.data[(n * 3 + k) * 2 + w]);
      return -Math.log(softmaxRef(v)[c]);
    };
    const sum = nll(0, 0, 0) + nll(0, 1, 2); // labels 1 (ignored) at n=1
    const want: Record<string, number> = { VALID: sum / 2, FULL: sum / 4, BATCH_SIZE: sum / 2, NONE: sum };
    for (const mode of Object.keys(want)) {
      const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', { loss_param: { normalization: mode, ignore_label: 1 } });
      const top = new Blob();
      run(l, [x, lab], [top]);
      expect(top.data[0], mode).toBeCloseTo(want[mode], 5);
    }
    // All ignored: the normalizer is clamped to 1, loss 0.
    const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', { loss_param: { ignore_label: 1 } });
    const top = new Blob();
    run(l, [x, blobOf([2, 1, 1, 2], [1, 1, 1, 1])], [top]);
    expect(top.data[0]).toBe(0);
  });
  it('legacy normalize: true -> VALID, false -> BATCH_SIZE', () => {
    const x = randomBlob([2, 3, 1, 2], 5, -2, 2);
    const lab = blobOf([2, 1, 1, 2], [0, 2, 1, 0]);
    const loss = (extra: Record<string, unknown>) => {
      const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', extra);
      const top = new Blob();
      run(l, [x, lab], [top]);
      return top.data[0];
    };
    const valid = loss({ loss_param: { normalization: 'VALID' } });
    const batch = loss({ loss_param: { normalization: 'BATCH_SIZE' } });
    expect(loss({ loss_param: { normalize: true } })).toBeCloseTo(valid, 6);
    expect(loss({ loss_param: { normalize: false } })).toBeCloseTo(batch, 6);
    expect(batch).toBeCloseTo(valid * 2, 5);
    // An explicit normalization wins over normalize.
    expect(loss({ loss_param: { normalize: false, normalization: 'VALID' } })).toBeCloseTo(valid, 6);
  });
  for (const mode of ['VALID', 'FULL', 'BATCH_SIZE', 'NONE']) {
    it(`gradient, spatial labels, ignore_label, ${mode}`, () => {
      const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', { loss_param: { normalization: mode, ignore_label: 2 } });
      checkGradient(l, [randomBlob([2, 4, 2, 2], 13, -2, 2), labels([2, 1, 2, 2], 4, 3)], [new Blob()], { bottoms: [0] });
    });
  }
  it('gradient with softmax axis 2 and TEST phase', () => {
    const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', { softmax_param: { axis: 2 }, phase: 'TEST' });
    checkGradient(l, [randomBlob([2, 2, 3, 2], 17, -2, 2), labels([2, 2, 1, 2], 3, 5)], [new Blob()], { bottoms: [0] });
  });
  it('loss_weight scales the diff (written into the top diff)', () => {
    const x = randomBlob([3, 4], 19, -2, 2);
    const lab = blobOf([3], [0, 3, 1]);
    const grad = (extra: Record<string, unknown>) => {
      const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', extra);
      const top = new Blob();
      l.setUp([x, lab], [top]);
      const loss = l.forward([x, lab], [top]);
      l.backward([top], [true, false], [x, lab]);
      return { loss, value: top.data[0], diff: Float32Array.from(x.diff), lw: top.diff[0] };
    };
    const one = grad({});
    const w = grad({ loss_weight: [2.5] });
    expect(w.lw).toBe(2.5);
    expect(w.value).toBeCloseTo(one.value, 6);
    expect(w.loss).toBeCloseTo(2.5 * one.loss, 5);
    w.diff.forEach((d, i) => expect(d).toBeCloseTo(2.5 * one.diff[i], 6));
  });
  it('second top holds the probabilities (needs a loss_weight per top, as in Caffe)', () => {
    const bare = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss');
    expect(() => bare.setUp([new Blob([2, 3]), blobOf([2], [1, 1])], [new Blob(), new Blob()])).toThrow(/loss_weight/);
    const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', { loss_weight: [1, 0] });
    const x = blobOf([2, 3], [0, 1, 2, -1, -1, 5]);
    const prob = new Blob();
    run(l, [x, blobOf([2], [1, 1])], [new Blob(), prob]);
    expect(prob.shape).toEqual([2, 3]);
    close(Array.from(prob.data), [...softmaxRef([0, 1, 2]), ...softmaxRef([-1, -1, 5])]);
  });
  it('rejects bad labels and label counts', () => {
    const x = randomBlob([2, 3], 1);
    const bad = (lab: Blob, extra: Record<string, unknown> = {}) => {
      const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss', extra);
      return () => run(l, [x, lab], [new Blob()]);
    };
    expect(bad(blobOf([2], [0, 3]))).toThrow(/label 3 at position 1/);
    expect(bad(blobOf([2], [0, -1]))).toThrow(LayerError);
    // Caffe's static_cast<int>: non-integers truncate toward zero (1.5 -> 1, 2.9 -> 2, -0.5 -> 0).
    expect(bad(blobOf([2], [0, 1.5]))).not.toThrow();
    expect(bad(blobOf([2], [2.9, -0.5]))).not.toThrow();
    const lossFor = (labs: number[]) => {
      const top = new Blob();
      run(make(SoftmaxWithLossLayer, 'SoftmaxWithLoss'), [x, blobOf([2], labs)], [top]);
      return top.data[0];
    };
    expect(lossFor([2.9, -0.5])).toBe(lossFor([2, 0]));
    expect(bad(blobOf([2], [0, 3.5]))).toThrow(/label 3.5 at position 1 is out of range/);
    expect(bad(blobOf([2], [0, NaN]))).toThrow(LayerError);
    expect(bad(blobOf([2], [0, -1.5]), { loss_param: { ignore_label: -1 } })).not.toThrow();
    expect(bad(blobOf([2], [0, -1]), { loss_param: { ignore_label: -1 } })).not.toThrow();
    expect(bad(blobOf([2, 2], [0, 1, 1, 0]))).toThrow(/number of labels/);
    expect(bad(blobOf([3], [0, 1, 1]))).toThrow(/same first dimension/);
    const l = make(SoftmaxWithLossLayer, 'SoftmaxWithLoss');
    const lab = blobOf([2], [0, 1]);
    const top = new Blob();
    run(l, [x, lab], [top]);
    expect(() => l.backward([top], [true, true], [x, lab])).toThrow(/label/);
    expect(l.allowForceBackward(1)).toBe(false);
  });
});

describe('Accuracy', () => {
  const x = blobOf([4, 3], [
    0.1, 0.7, 0.2, // best 1, second 2
    0.5, 0.2, 0.3, // best 0, second 2
    0.3, 0.3, 0.4, // best 2, tie 0/1
    0.9, 0.05, 0.05, // best 0
  ]);
  it('top-1, not a loss', () => {
    const l = make(AccuracyLayer, 'Accuracy');
    const top = new Blob();
    run(l, [x, blobOf([4], [1, 2, 2, 0])], [top]);
    expect(top.shape).toEqual([]);
    expect(top.data[0]).toBeCloseTo(0.75, 6);
    expect(l.loss(0)).toBe(0);
  });
  it('top-2, ties count against the label', () => {
    const l = make(AccuracyLayer, 'Accuracy', { accuracy_param: { top_k: 2 } });
    const top = new Blob();
    // row 2 label 0: scores >= 0.3 are 0.3, 0.3, 0.4 -> 3 >= -> wrong for top-2.
    run(l, [x, blobOf([4], [2, 2, 0, 1])], [top]);
    expect(top.data[0]).toBeCloseTo(0.5, 6);
  });
  it('per-class accuracy with ignore_label', () => {
    const l = make(AccuracyLayer, 'Accuracy', { accuracy_param: { ignore_label: 0 } });
    const acc = new Blob();
    const per = new Blob();
    run(l, [x, blobOf([4], [1, 2, 2, 0])], [acc, per]);
    expect(per.shape).toEqual([3]);
    // counted rows: 0 (label 1, right), 1 (label 2, wrong), 2 (label 2, right)
    expect(acc.data[0]).toBeCloseTo(2 / 3, 6);
    close(Array.from(per.data), [0, 1, 0.5]);
  });
  it('spatial scores with axis and all ignored', () => {
    // (1, 2, 2): classes on axis 1, two positions.
    const s = blobOf([1, 2, 2], [0.9, 0.1, 0.1, 0.9]);
    const l = make(AccuracyLayer, 'Accuracy', { accuracy_param: { axis: 1 } });
    const top = new Blob();
    run(l, [s, blobOf([1, 2], [0, 0])], [top]);
    expect(top.data[0]).toBeCloseTo(0.5, 6);
    const l2 = make(AccuracyLayer, 'Accuracy', { accuracy_param: { ignore_label: 0 } });
    run(l2, [s, blobOf([1, 2], [0, 0])], [top]);
    expect(top.data[0]).toBe(0);
  });
  it('errors: top_k too large, no backward', () => {
    const l = make(AccuracyLayer, 'Accuracy', { accuracy_param: { top_k: 4 } });
    expect(() => l.setUp([x, blobOf([4], [0, 0, 0, 0])], [new Blob()])).toThrow(/top_k/);
    const l2 = make(AccuracyLayer, 'Accuracy');
    const top = new Blob();
    const lab = blobOf([4], [0, 0, 0, 0]);
    run(l2, [x, lab], [top]);
    expect(() => l2.backward([top], [true, false], [x, lab])).toThrow(LayerError);
  });
});

describe('ContrastiveLoss', () => {
  const a = blobOf([2, 2], [1, 0, 0, 0]);
  const b = blobOf([2, 2], [0, 0, 0.5, 0]);
  const sim = blobOf([2], [1, 0]);
  it('forward by hand, both versions', () => {
    // pair 0 similar: d^2 = 1; pair 1 dissimilar: d = 0.5, d^2 = 0.25.
    const l = make(ContrastiveLossLayer, 'ContrastiveLoss', { contrastive_loss_param: { margin: 1.5 } });
    const top = new Blob();
    run(l, [a, b, sim], [top]);
    expect(top.data[0]).toBeCloseTo((1 + 1 * 1) / 4, 6);
    const legacy = make(ContrastiveLossLayer, 'ContrastiveLoss', { contrastive_loss_param: { margin: 1.5, legacy_version: true } });
    run(legacy, [a, b, sim], [top]);
    expect(top.data[0]).toBeCloseTo((1 + 1.25) / 4, 6);
    expect(l.allowForceBackward(1)).toBe(true);
    expect(l.allowForceBackward(2)).toBe(false);
  });
  for (const legacy of [false, true]) {
    it(`gradient to both features (legacy ${legacy})`, () => {
      const l = make(ContrastiveLossLayer, 'ContrastiveLoss', { contrastive_loss_param: { margin: 2, legacy_version: legacy } });
      const s = blobOf([5, 1, 1, 1], [1, 0, 0, 1, 0]);
      checkGradient(l, [randomBlob([5, 3, 1, 1], 21, -0.6, 0.6), randomBlob([5, 3, 1, 1], 22, -0.6, 0.6), s], [new Blob()],
        { bottoms: [0, 1], threshold: 2e-3 });
    });
  }
  it('rejects non-vector features', () => {
    const l = make(ContrastiveLossLayer, 'ContrastiveLoss');
    expect(() => l.setUp([new Blob([2, 2, 2]), new Blob([2, 2, 2]), new Blob([2])], [new Blob()])).toThrow(/N x C x 1 x 1/);
  });
});

describe('EuclideanLoss', () => {
  it('forward by hand', () => {
    const l = make(EuclideanLossLayer, 'EuclideanLoss');
    const top = new Blob();
    run(l, [blobOf([2, 2], [1, 2, 3, 4]), blobOf([2, 2], [0, 2, 5, 4])], [top]);
    expect(top.data[0]).toBeCloseTo((1 + 4) / 2 / 2, 6);
  });
  it('gradient to both bottoms, 4-D, loss_weight 3', () => {
    const l = make(EuclideanLossLayer, 'EuclideanLoss', { loss_weight: [3] });
    checkGradient(l, [randomBlob([2, 3, 2, 2], 31), randomBlob([2, 3, 2, 2], 32)], [new Blob()]);
    expect(l.allowForceBackward(1)).toBe(true);
  });
  it('rejects mismatched sizes', () => {
    const l = make(EuclideanLossLayer, 'EuclideanLoss');
    expect(() => l.setUp([new Blob([2, 3]), new Blob([2, 4])], [new Blob()])).toThrow(/same size/);
  });
});

describe('HingeLoss', () => {
  const x = blobOf([2, 3], [0.5, -0.5, 2, -2, 0.2, 0.1]);
  const lab = blobOf([2], [0, 1]);
  // margins: row0 t=[+,-,-]: 1-0.5=0.5, 1-0.5=0.5, 1+2=3; row1 t=[-,+,-]: max(0,-1)=0, 0.8, 1.1
  const m = [0.5, 0.5, 3, 0, 0.8, 1.1];
  it('L1 and L2 forward by hand', () => {
    const top = new Blob();
    run(make(HingeLossLayer, 'HingeLoss'), [x, lab], [top]);
    expect(top.data[0]).toBeCloseTo(m.reduce((s, v) => s + v, 0) / 2, 5);
    run(make(HingeLossLayer, 'HingeLoss', { hinge_loss_param: { norm: 'L2' } }), [x, lab], [top]);
    expect(top.data[0]).toBeCloseTo(m.reduce((s, v) => s + v * v, 0) / 2, 5);
  });
  it('forward leaves the margins in the score diff (as Caffe), backward works from them', () => {
    const xs = blobOf([2, 3], Array.from(x.data));
    const top = new Blob();
    const l = make(HingeLossLayer, 'HingeLoss', { hinge_loss_param: { norm: 'L2' } });
    run(l, [xs, lab], [top]);
    close(xs.diff, m, 6);
    top.diff[0] = 1;
    l.backward([top], [true, false], [xs, lab]);
    // L2: dx = 2 / N * t-signed margin = margin with the true class negated.
    close(xs.diff, [-0.5, 0.5, 3, 0, -0.8, 1.1], 6);
  });
  for (const norm of ['L1', 'L2']) {
    it(`gradient ${norm}`, () => {
      const l = make(HingeLossLayer, 'HingeLoss', { hinge_loss_param: { norm } });
      checkGradient(l, [randomBlob([4, 5], 41, -2, 2), labels([4], 5, 9)], [new Blob()],
        { bottoms: [0], kink: 1, kinkRange: 0.05 });
    });
  }
});

describe('InfogainLoss', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-infogain-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const H = blobOf([3, 3], [1, 0.5, 0, 0.2, 1, 0.1, 0, 0.3, 2]);
  it('forward by hand with H as third bottom', () => {
    const x = blobOf([2, 3], [0, 1, 2, -1, -1, 5]);
    const lab = blobOf([2], [2, 1]);
    const top = new Blob();
    run(make(InfogainLossLayer, 'InfogainLoss'), [x, lab, H], [top]);
    const p0 = softmaxRef([0, 1, 2]);
    const p1 = softmaxRef([-1, -1, 5]);
    const want = -([0, 0.3, 2].reduce((s, h, k) => s + h * Math.log(p0[k]), 0) +
      [0.2, 1, 0.1].reduce((s, h, k) => s + h * Math.log(p1[k]), 0)) / 2;
    expect(top.data[0]).toBeCloseTo(want, 5);
  });
  it('identity H equals SoftmaxWithLoss', () => {
    const x = randomBlob([3, 4], 51, -2, 2);
    const lab = blobOf([3], [3, 0, 2]);
    const I = blobOf([4, 4], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    const t1 = new Blob();
    const t2 = new Blob();
    run(make(InfogainLossLayer, 'InfogainLoss'), [x, lab, I], [t1]);
    run(make(SoftmaxWithLossLayer, 'SoftmaxWithLoss'), [x, lab], [t2]);
    expect(t1.data[0]).toBeCloseTo(t2.data[0], 5);
  });
  for (const mode of ['VALID', 'FULL', 'BATCH_SIZE', 'NONE']) {
    it(`gradient, spatial labels, axis 1, ignore_label, ${mode}`, () => {
      const h = randomBlob([3, 3], 53, 0, 2);
      const l = make(InfogainLossLayer, 'InfogainLoss', { loss_param: { normalization: mode, ignore_label: 0 } });
      checkGradient(l, [randomBlob([2, 3, 2, 1], 55, -2, 2), labels([2, 1, 2, 1], 3, 2), h], [new Blob()], { bottoms: [0] });
    });
  }
  it('gradient along axis 2', () => {
    const l = make(InfogainLossLayer, 'InfogainLoss', { infogain_loss_param: { axis: 2 } });
    checkGradient(l, [randomBlob([2, 2, 3], 57, -2, 2), labels([2, 2], 3, 4), H], [new Blob()], { bottoms: [0] });
  });
  it('reads H from a .binaryproto source; second top is the softmax', () => {
    const file = join(tmp, 'H.binaryproto');
    const proto = fromObject('BlobProto', { shape: { dim: [3, 3] }, data: Array.from(H.data) });
    writeFileSync(file, encodeMessage(proto, 'BlobProto'));
    const x = randomBlob([2, 3], 59, -2, 2);
    const lab = blobOf([2], [0, 2]);
    const fromFile = make(InfogainLossLayer, 'InfogainLoss', { infogain_loss_param: { source: file }, loss_weight: [1, 0] });
    const t1 = new Blob();
    const prob = new Blob();
    run(fromFile, [x, lab], [t1, prob]);
    const t2 = new Blob();
    run(make(InfogainLossLayer, 'InfogainLoss'), [x, lab, H], [t2]);
    expect(t1.data[0]).toBeCloseTo(t2.data[0], 6);
    close(Array.from(prob.data.subarray(0, 3)), softmaxRef(Array.from(x.data.subarray(0, 3))));
    checkGradient(make(InfogainLossLayer, 'InfogainLoss', { infogain_loss_param: { source: file } }),
      [x, lab], [new Blob()], { bottoms: [0] });
  });
  it('errors: no source, unreadable source, wrong H size, normalize, backward to H', () => {
    const x = randomBlob([2, 3], 61);
    const lab = blobOf([2], [0, 1]);
    expect(() => run(make(InfogainLossLayer, 'InfogainLoss'), [x, lab], [new Blob()])).toThrow(/source/);
    expect(() => run(make(InfogainLossLayer, 'InfogainLoss', { infogain_loss_param: { source: join(tmp, 'none') } }),
      [x, lab], [new Blob()])).toThrow(/cannot read/);
    expect(() => run(make(InfogainLossLayer, 'InfogainLoss'), [x, lab, new Blob([2, 2])], [new Blob()])).toThrow(/3 x 3/);
    expect(() => run(make(InfogainLossLayer, 'InfogainLoss', { loss_param: { normalize: true } }), [x, lab, H], [new Blob()]))
      .toThrow(/normalize/);
    const l = make(InfogainLossLayer, 'InfogainLoss');
    const top = new Blob();
    run(l, [x, lab, H], [top]);
    expect(() => l.backward([top], [true, false, true], [x, lab, H])).toThrow(/infogain matrix/);
  });
});

describe('MultinomialLogisticLoss', () => {
  it('forward by hand, with the 1e-20 floor', () => {
    const top = new Blob();
    run(make(MultinomialLogisticLossLayer, 'MultinomialLogisticLoss'),
      [blobOf([2, 3], [0.2, 0.5, 0.3, 0, 0.6, 0.4]), blobOf([2], [1, 0])], [top]);
    expect(top.data[0]).toBeCloseTo(-(Math.log(0.5) + Math.log(Math.fround(1e-20))) / 2, 4);
  });
  it('gradient', () => {
    const l = make(MultinomialLogisticLossLayer, 'MultinomialLogisticLoss');
    checkGradient(l, [randomBlob([4, 5], 71, 0.2, 1), labels([4, 1, 1, 1], 5, 6)], [new Blob()], { bottoms: [0], stepsize: 1e-3 });
  });
  it('rejects labels with more than one value per item', () => {
    const l = make(MultinomialLogisticLossLayer, 'MultinomialLogisticLoss');
    expect(() => l.setUp([new Blob([2, 3]), new Blob([2, 2])], [new Blob()])).toThrow(/N x 1 x 1 x 1/);
  });
});

describe('SigmoidCrossEntropyLoss', () => {
  const ce = (x: number, t: number) => {
    const s = 1 / (1 + Math.exp(-x));
    return -(t * Math.log(s) + (1 - t) * Math.log(1 - s));
  };
  const x = blobOf([2, 3], [0.5, -1, 2, -3, 0, 1]);
  const t = blobOf([2, 3], [1, 0, 0.5, 0, 1, -1]);
  it('forward: default BATCH_SIZE, VALID with ignore_label, large inputs stay finite', () => {
    const top = new Blob();
    const all = [0, 1, 2, 3, 4, 5].reduce((s, i) => s + ce(x.data[i], t.data[i]), 0);
    run(make(SigmoidCrossEntropyLossLayer, 'SigmoidCrossEntropyLoss'), [x, t], [top]);
    expect(top.data[0]).toBeCloseTo(all / 2, 5);
    const some = all - ce(1, -1);
    run(make(SigmoidCrossEntropyLossLayer, 'SigmoidCrossEntropyLoss', { loss_param: { ignore_label: -1, normalization: 'VALID' } }),
      [x, t], [top]);
    expect(top.data[0]).toBeCloseTo(some / 5, 5);
    run(make(SigmoidCrossEntropyLossLayer, 'SigmoidCrossEntropyLoss'), [blobOf([1, 2], [100, -100]), blobOf([1, 2], [0, 1])], [top]);
    expect(top.data[0]).toBeCloseTo(200, 3);
  });
  for (const [name, extra] of [
    ['default', {}],
    ['VALID + ignore_label', { loss_param: { ignore_label: -1, normalization: 'VALID' } }],
    ['FULL', { loss_param: { normalization: 'FULL' } }],
    ['NONE + loss_weight 0.5', { loss_param: { normalization: 'NONE' }, loss_weight: [0.5] }],
  ] as [string, Record<string, unknown>][]) {
    it(`gradient ${name}`, () => {
      const target = randomBlob([2, 3, 2, 2], 83, 0, 1);
      for (let i = 0; i < target.count; i += 5) target.data[i] = -1;
      const l = make(SigmoidCrossEntropyLossLayer, 'SigmoidCrossEntropyLoss', extra);
      checkGradient(l, [randomBlob([2, 3, 2, 2], 81, -3, 3), target], [new Blob()], { bottoms: [0] });
    });
  }
  it('rejects count mismatch', () => {
    const l = make(SigmoidCrossEntropyLossLayer, 'SigmoidCrossEntropyLoss');
    expect(() => l.setUp([new Blob([2, 3]), new Blob([2, 2])], [new Blob()])).toThrow(/same count/);
  });
});

// Layer-level replay of the BVLC Caffe reference cases of this group (fixtures/FORMAT.md):
// the layer named "layer" is run alone on the case's recorded bottoms (the forward values of its
// inputs), its tops and bottom diffs compared with Caffe's. The full net runs belong to the
// fixture runner; this keeps the layers checked without the Net engine.
// The repo's copy (fixtures/layers is a full copy of ../shared/fixtures/layers); CAFFE_TS_FIXTURES
// may point at another fixtures folder.
const FIXTURES = process.env.CAFFE_TS_FIXTURES ?? join(import.meta.dirname, '..', 'fixtures');
const GROUP = ['softmax', 'softmax_loss', 'accuracy', 'contrastive_loss', 'euclidean_loss', 'hinge_loss',
  'infogain_loss', 'multinomial_logistic_loss', 'sigmoid_ce_loss'];

function caseDirs(groups: string[] = GROUP): string[] {
  const out: string[] = [];
  for (const g of groups) {
    const root = join(FIXTURES, 'layers', g);
    if (!existsSync(root)) continue;
    for (const c of readdirSync(root).sort()) {
      for (const phase of ['train', 'test']) {
        const d = join(root, c, phase);
        if (existsSync(join(d, 'case.json'))) out.push(d);
      }
    }
  }
  return out;
}

function replay(dir: string): void {
  const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  const net = parseText(readFileSync(join(dir, spec.net ?? 'net.prototxt'), 'utf8'), 'NetParameter');
  const lp = net.layer.find((l: any) => l.name === 'layer');
  lp.phase = spec.phase === 'TEST' ? 1 : 0;
  const tol = spec.tolerance ?? { abs: 1e-5, rel: 1e-4 };
  const load = (file: string) => readNpyAsFloat32(join(dir, file));
  const cmp = (what: string, got: Float32Array, file: string) => {
    const want = load(file);
    expect(got.length, `${what}: size`).toBe(want.data.length);
    let maxExp = 0;
    let err = 0;
    for (let i = 0; i < got.length; i++) {
      maxExp = Math.max(maxExp, Math.abs(want.data[i]));
      err = Math.max(err, Math.abs(got[i] - want.data[i]));
    }
    expect(err, `${what}: max error`).toBeLessThanOrEqual(tol.abs + tol.rel * maxExp);
  };
  const bottomNames: string[] = lp.bottom;
  const topNames: string[] = lp.top;
  const bottom = bottomNames.map((n) => {
    const t = load(spec.forward[n]);
    const b = new Blob(t.shape);
    b.data.set(t.data);
    return b;
  });
  const top = topNames.map(() => new Blob());
  const layer = createLayer(lp);
  layer.setUp(bottom, top);
  layer.forward(bottom, top);
  topNames.forEach((n, i) => cmp(`forward ${n}`, top[i].data, spec.forward[n]));
  if (!spec.backward) return;
  topNames.forEach((n, i) => {
    if (spec.top_diffs?.[n]) top[i].diff.set(load(spec.top_diffs[n]).data);
  });
  // Which bottoms Caffe sends gradients to: with force_backward every bottom the layer allows;
  // otherwise only those computed by a layer with parameters (here: InfogainLoss's scaled input).
  const producedByLayer = new Set<string>(net.layer.filter((l: any) => l.type !== 'Input').flatMap((l: any) => l.top));
  const propagate = bottomNames.map((n, i) =>
    net.force_backward ? layer.allowForceBackward(i) : producedByLayer.has(n) && layer.allowForceBackward(i));
  layer.backward(top, propagate, bottom);
  bottomNames.forEach((n, i) => {
    if (spec.backward[n]) cmp(`backward ${n}`, bottom[i].diff, spec.backward[n]);
  });
}

describe('Caffe reference cases, layer alone', () => {
  it.each(GROUP)('fixtures hold cases of %s', (g) => {
    expect(caseDirs([g]).length).toBeGreaterThan(0);
  });
  for (const dir of caseDirs()) {
    it(dir.slice(join(FIXTURES, 'layers').length + 1), () => replay(dir));
  }
});
