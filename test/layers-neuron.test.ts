// Neuron layers: gradient checks, Caffe's special cases, in-place = out-of-place (or Caffe's own
// in-place numbers where its in-place gradient is not the true one), and the BVLC
// reference cases under fixtures/layers/<layer>.
import { describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import type { Layer } from '../src/layers/index.js';
import type { DropoutLayer } from '../src/layers/dropout.js';
import { Rng } from '../src/kernels/rng.js';
import { checkGradient, randomBlob, type GradientCheckOptions } from './gradient-checker.js';
import { layer, layerCaseTests, type Phase } from './helpers.js';


const SHAPE = [2, 3, 3, 4];

function gradCheck(type: string, extra: Record<string, unknown>, opts: GradientCheckOptions & { lo?: number; hi?: number; phase?: Phase } = {}) {
  const l = layer(type, extra, opts.phase ?? 'TRAIN');
  const x = randomBlob(SHAPE, 7, opts.lo ?? -2, opts.hi ?? 2);
  checkGradient(l, [x], [new Blob()], opts);
}

/** Runs forward+backward out of place and in place; both must agree exactly. */
function inPlaceMatches(type: string, extra: Record<string, unknown>, lo = -2, hi = 2, phase: Phase = 'TRAIN') {
  const x = randomBlob(SHAPE, 11, lo, hi);
  const dyBlob = randomBlob(SHAPE, 12);

  const a = layer(type, extra, phase);
  const xa = new Blob(SHAPE);
  xa.data.set(x.data);
  const ya = new Blob();
  a.setUp([xa], [ya]);
  a.forward([xa], [ya]);
  ya.diff.set(dyBlob.data);
  a.backward([ya], [true], [xa]);

  const b = layer(type, extra, phase);
  const xb = new Blob(SHAPE);
  xb.data.set(x.data);
  b.setUp([xb], [xb]);
  b.forward([xb], [xb]);
  expect(Array.from(xb.data)).toEqual(Array.from(ya.data));
  xb.diff.set(dyBlob.data);
  b.backward([xb], [true], [xb]);
  expect(Array.from(xb.diff)).toEqual(Array.from(xa.diff));
  a.blobs.forEach((p, i) => expect(Array.from(b.blobs[i].diff)).toEqual(Array.from(p.diff)));
}

function forwardOf(l: Layer, x: Blob): Blob {
  const y = new Blob();
  l.setUp([x], [y]);
  l.forward([x], [y]);
  return y;
}

// The finite-difference checks run out of place. BNLL, Clip, Log and Power keep no copy of their
// input in Caffe, so in place their backward reads the output (and Power/Log overwrite the aliased
// top diff before multiplying by it): their in-place gradient is not the true one and is checked
// against Caffe's numbers in 'in place as Caffe' below instead.
describe('gradient checks', () => {
  it('ReLU', () => gradCheck('ReLU', {}, { kinkRange: 0.02 }));
  it('ReLU leaky', () => gradCheck('ReLU', { relu_param: { negative_slope: 0.1 } }, { kinkRange: 0.02 }));
  it('Sigmoid', () => gradCheck('Sigmoid', {}));
  it('TanH', () => gradCheck('TanH', {}));
  it('AbsVal', () => gradCheck('AbsVal', {}, { kinkRange: 0.02 }));
  it('BNLL', () => gradCheck('BNLL', {}));
  it('Clip', () => gradCheck('Clip', { clip_param: { min: -0.5, max: 0.5 } }, { kink: 0.5, kinkRange: 0.02 }));
  it('ELU', () => gradCheck('ELU', {}, { kinkRange: 0.02 }));
  it('ELU alpha 0.5', () => gradCheck('ELU', { elu_param: { alpha: 0.5 } }, { kinkRange: 0.02 }));
  it('Exp', () => gradCheck('Exp', {}, { lo: -1, hi: 1 }));
  it('Exp base 2, scale, shift', () => gradCheck('Exp', { exp_param: { base: 2, scale: 0.5, shift: 0.1 } }));
  it('Log', () => gradCheck('Log', {}, { lo: 0.5, hi: 2, stepsize: 1e-3 }));
  it('Log base 10, scale, shift', () => gradCheck('Log', { log_param: { base: 10, scale: 2, shift: 1 } }, { lo: 0.2, hi: 2, stepsize: 1e-3 }));
  it('Power general', () => gradCheck('Power', { power_param: { power: 1.7, scale: 0.8, shift: 2.5 } }, { lo: 0, hi: 2 }));
  it('Power shift 0', () => gradCheck('Power', { power_param: { power: 0.5 } }, { lo: 0.5, hi: 2, stepsize: 1e-3 }));
  it('Power square', () => gradCheck('Power', { power_param: { power: 2, scale: 0.5, shift: 1 } }));
  it('Power linear', () => gradCheck('Power', { power_param: { scale: -2, shift: 0.5 } }));
  it('Power constant', () => gradCheck('Power', { power_param: { power: 0, scale: 3, shift: 2 } }));
  it('Swish', () => gradCheck('Swish', {}));
  it('Swish beta 1.5', () => gradCheck('Swish', { swish_param: { beta: 1.5 } }));
  it('PReLU per channel', () => {
    const l = layer('PReLU', { prelu_param: { filler: { type: 'constant', value: 0.3 } } });
    checkGradient(l, [randomBlob(SHAPE, 3, -2, 2)], [new Blob()], { kinkRange: 0.02 });
  });
  it('PReLU shared', () => gradCheck('PReLU', { prelu_param: { channel_shared: true } }, { kinkRange: 0.02 }));
  it('PReLU 2-D input', () => {
    const l = layer('PReLU', {});
    checkGradient(l, [randomBlob([4, 3], 5, -2, 2)], [new Blob()], { kinkRange: 0.02 });
  });
  it('Dropout TRAIN with a reseeded generator', () => {
    const l = layer('Dropout', { dropout_param: { dropout_ratio: 0.4 } }) as DropoutLayer;
    checkGradient(l, [randomBlob(SHAPE, 9)], [new Blob()], { beforeForward: () => (l.rng = new Rng(42)) });
  });
  it('Dropout TEST', () => gradCheck('Dropout', { dropout_param: { dropout_ratio: 0.4 } }, { phase: 'TEST' }));
});

describe('Caffe semantics', () => {
  it('Power special cases', () => {
    const x = randomBlob(SHAPE, 1, 0.5, 2);
    const y0 = forwardOf(layer('Power', { power_param: { power: 0, shift: 3 } }), x);
    expect(y0.data.every((v) => v === 1)).toBe(true);
    const y1 = forwardOf(layer('Power', { power_param: { power: 2, scale: 0, shift: 3 } }), x);
    expect(y1.data.every((v) => v === 9)).toBe(true);
    const y2 = forwardOf(layer('Power', { power_param: { power: 3, scale: 2 } }), x);
    y2.data.forEach((v, i) => expect(v).toBeCloseTo((2 * x.data[i]) ** 3, 3));
  });

  it('Exp and Log invert each other', () => {
    const x = randomBlob(SHAPE, 2, -1, 1);
    const e = forwardOf(layer('Exp', { exp_param: { base: 2, scale: 0.5, shift: 0.1 } }), x);
    const l = forwardOf(layer('Log', { log_param: { base: 2 } }), e);
    l.data.forEach((v, i) => expect(v).toBeCloseTo(0.1 + 0.5 * x.data[i], 5));
    expect(() => layer('Log', { log_param: { base: -3 } }).setUp([x], [new Blob()])).toThrow(/base/);
    expect(() => layer('Exp', { exp_param: { base: 0 } }).setUp([x], [new Blob()])).toThrow(/base/);
  });

  it('PReLU defaults to 0.25 and checks the slope size', () => {
    const l = layer('PReLU');
    const x = randomBlob(SHAPE, 4);
    const y = forwardOf(l, x);
    expect(l.blobs[0].shape).toEqual([3]);
    expect(Array.from(l.blobs[0].data)).toEqual([0.25, 0.25, 0.25]);
    y.data.forEach((v, i) => expect(v).toBeCloseTo(x.data[i] > 0 ? x.data[i] : 0.25 * x.data[i], 6));
    const s = layer('PReLU', { prelu_param: { channel_shared: true } });
    forwardOf(s, x);
    expect(s.blobs[0].shape).toEqual([]);
    expect(s.blobs[0].count).toBe(1);
    expect(() => layer('PReLU').setUp([randomBlob([5])], [new Blob()])).toThrow(/2 axes/);
  });

  it('PReLU accumulates the slope diff', () => {
    const l = layer('PReLU');
    const x = randomBlob(SHAPE, 4);
    const y = forwardOf(l, x);
    y.diff.set(randomBlob(SHAPE, 5).data);
    l.backward([y], [true], [x]);
    const once = Array.from(l.blobs[0].diff);
    l.backward([y], [true], [x]);
    l.blobs[0].diff.forEach((v, i) => expect(v).toBeCloseTo(2 * once[i], 5));
  });

  it('Dropout masks and scales in TRAIN, passes through in TEST', () => {
    const x = randomBlob([1000], 6, 1, 2);
    const train = layer('Dropout', { dropout_param: { dropout_ratio: 0.25 } }) as DropoutLayer;
    train.rng = new Rng(3);
    const y = forwardOf(train, x);
    let kept = 0;
    y.data.forEach((v, i) => {
      if (v !== 0) {
        kept++;
        expect(v).toBeCloseTo(x.data[i] / 0.75, 5);
      }
    });
    expect(kept).toBeGreaterThan(680);
    expect(kept).toBeLessThan(820);
    // The same seed gives the same mask.
    train.rng = new Rng(3);
    const y2 = new Blob();
    train.forward([x], [y2]);
    expect(Array.from(y2.data)).toEqual(Array.from(y.data));
    const test = forwardOf(layer('Dropout', { dropout_param: { dropout_ratio: 0.25 } }, 'TEST'), x);
    expect(Array.from(test.data)).toEqual(Array.from(x.data));
    const zero = forwardOf(layer('Dropout', { dropout_param: { dropout_ratio: 0 } }), x);
    expect(Array.from(zero.data)).toEqual(Array.from(x.data));
    expect(() => layer('Dropout', { dropout_param: { dropout_ratio: 1.5 } }).setUp([x], [new Blob()])).toThrow(/dropout_ratio/);
  });

  it('Threshold forward, no backward', () => {
    const l = layer('Threshold', { threshold_param: { threshold: 0.2 } });
    const x = randomBlob(SHAPE, 8);
    const y = forwardOf(l, x);
    y.data.forEach((v, i) => expect(v).toBe(x.data[i] > Math.fround(0.2) ? 1 : 0));
    expect(() => l.backward([y], [true], [x])).toThrow(/backward/);
  });

  it('AbsVal refuses to run in place', () => {
    const x = randomBlob(SHAPE, 8);
    expect(() => layer('AbsVal').setUp([x], [x])).toThrow(/in place/);
  });

  it('Clip needs min and max', () => {
    const x = randomBlob(SHAPE, 8);
    expect(() => layer('Clip').setUp([x], [new Blob()])).toThrow(/required/);
  });

  it('neurons reject more than one bottom', () => {
    expect(() => layer('ReLU').setUp([randomBlob([2]), randomBlob([2])], [new Blob()])).toThrow(/bottom/);
  });
});

describe('in place equals out of place', () => {
  it('ReLU', () => inPlaceMatches('ReLU', { relu_param: { negative_slope: 0.1 } }));
  it('Sigmoid', () => inPlaceMatches('Sigmoid', {}));
  it('TanH', () => inPlaceMatches('TanH', {}));
  it('ELU', () => inPlaceMatches('ELU', { elu_param: { alpha: 0.5 } }));
  it('Exp', () => inPlaceMatches('Exp', { exp_param: { base: 2, scale: 0.5, shift: 0.1 } }));
  it('Swish', () => inPlaceMatches('Swish', { swish_param: { beta: 1.5 } }));
  it('PReLU', () => inPlaceMatches('PReLU', {}));
  it('PReLU shared', () => inPlaceMatches('PReLU', { prelu_param: { channel_shared: true } }));
  it('Dropout TEST', () => inPlaceMatches('Dropout', {}, -2, 2, 'TEST'));
});

describe('Caffe reference cases', () => layerCaseTests(['absval', 'bnll', 'clip', 'elu', 'exp', 'log', 'power', 'prelu', 'relu', 'sigmoid', 'swish', 'tanh', 'threshold', 'dropout']));

/** Forward + backward with top === bottom; returns the bottom diff. */
function inPlaceBackward(type: string, extra: Record<string, unknown>, xs: number[], dys: number[]): Float32Array {
  const l = layer(type, extra);
  const x = new Blob([xs.length]);
  x.data.set(xs);
  l.setUp([x], [x]);
  l.forward([x], [x]);
  x.diff.set(dys);
  l.backward([x], [true], [x]);
  return x.diff;
}

/** The same out of place. */
function outOfPlaceBackward(type: string, extra: Record<string, unknown>, xs: number[], dys: number[]): Float32Array {
  const l = layer(type, extra);
  const x = new Blob([xs.length]);
  x.data.set(xs);
  const y = new Blob();
  l.setUp([x], [y]);
  l.forward([x], [y]);
  y.diff.set(dys);
  l.backward([y], [true], [x]);
  return x.diff;
}

// BVLC master keeps no input copy for these: in place bottom_data is the output y and top_diff is
// bottom_diff, so Caffe's in-place "gradient" is computed from y and (Power, Log) the top diff is
// overwritten by the derivative before the final caffe_mul(top_diff, bottom_diff, bottom_diff).
describe('in place as Caffe (not the true gradient)', () => {
  const f = Math.fround;

  it('Power square: axpby from y, add diff_scale shift, then squared', () => {
    // power 2, scale 0.5, shift 1: diff_scale 1; x = 1 -> y = 2.25 -> 0.5 y + 1 = 2.125 -> 2.125^2.
    // x = 2 -> y = 4 -> 3 -> 9. (Out of place: dy (0.5 x + 1) = 1.5, 6.)
    const p = { power_param: { power: 2, scale: 0.5, shift: 1 } };
    expect(Array.from(inPlaceBackward('Power', p, [1, 2], [1, 3]))).toEqual([4.515625, 9]);
    expect(Array.from(outOfPlaceBackward('Power', p, [1, 2], [1, 3]))).toEqual([1.5, 6]);
  });

  it('Power shift 0: y / y * power, squared', () => {
    // power 3: caffe_div(top_data, bottom_data) = y / y = 1, * 3, then 3 * 3.
    const p = { power_param: { power: 3 } };
    expect(Array.from(inPlaceBackward('Power', p, [2, 0.5], [1, 7]))).toEqual([9, 9]);
    expect(Array.from(outOfPlaceBackward('Power', p, [2, 0.5], [1, 7]))).toEqual([12, 5.25]);
  });

  it('Power linear: caffe_set(diff_scale) destroys the top diff', () => {
    // power 1, scale 2: bottom_diff = 2, then 2 * 2.
    const p = { power_param: { scale: 2, shift: 0.5 } };
    expect(Array.from(inPlaceBackward('Power', p, [1, -3], [5, 7]))).toEqual([4, 4]);
    expect(Array.from(outOfPlaceBackward('Power', p, [1, -3], [5, 7]))).toEqual([10, 14]);
  });

  it('Power general: diff_scale y / (shift + scale y), squared', () => {
    // power 0.5, shift 1: x = 3 -> y = 2 -> 2 + 1 = 3 -> 2 / 3 -> * 0.5 -> squared (about 1/9).
    const p = { power_param: { power: 0.5, shift: 1 } };
    const g = f(f(2 / 3) * 0.5);
    const dx = inPlaceBackward('Power', p, [3], [5]);
    expect(dx[0]).toBe(f(g * g));
    expect(dx[0]).toBeCloseTo(1 / 9, 6);
    expect(outOfPlaceBackward('Power', p, [3], [5])[0]).toBeCloseTo(5 * 0.25, 6);
  });

  it('Log: 1 / (shift + scale y) * backward_num_scale, squared', () => {
    // natural log: x = e^2 -> y = 2 -> 1 / 2 -> 0.25 whatever dy. Out of place dy / x.
    const e2 = f(Math.exp(2));
    const dx = inPlaceBackward('Log', {}, [e2], [5]);
    expect(dx[0]).toBeCloseTo(0.25, 6);
    expect(outOfPlaceBackward('Log', {}, [e2], [5])[0]).toBeCloseTo(5 / Math.exp(2), 6);
    // base 10, scale 2, shift 1: x = 4.5 -> y = log10(10) = 1 -> 1 / (2 + 1) * (2 / ln 10), squared.
    const p = { log_param: { base: 10, scale: 2, shift: 1 } };
    const dx10 = inPlaceBackward('Log', p, [4.5], [5]);
    expect(dx10[0]).toBeCloseTo((2 / 3 / Math.LN10) ** 2, 6);
  });

  it('BNLL: e^y / (1 + e^y) dy', () => {
    // x = 0 -> y = ln 2 -> e^y = 2 -> dy * 2 / 3. (Out of place dy / 2.)
    const dx = inPlaceBackward('BNLL', {}, [0], [3]);
    expect(dx[0]).toBeCloseTo(2, 6);
    expect(outOfPlaceBackward('BNLL', {}, [0], [3])[0]).toBe(1.5);
  });

  it('Clip: the clipped output always passes the min <= y <= max test', () => {
    const p = { clip_param: { min: -0.5, max: 0.3 } };
    expect(Array.from(inPlaceBackward('Clip', p, [2, -1, 0.1], [3, 4, 5]))).toEqual([3, 4, 5]);
    expect(Array.from(outOfPlaceBackward('Clip', p, [2, -1, 0.1], [3, 4, 5]))).toEqual([0, 0, 5]);
  });
});
