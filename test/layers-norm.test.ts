// Normalization layers (BatchNorm, Scale, Bias, MVN, LRN): gradient checks in every mode,
// BatchNorm's statistics, in-place = out-of-place, and the BVLC reference cases.
import { describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { has } from '../src/proto/schema.js';
import type { Layer } from '../src/layers/index.js';
import { checkGradient, randomBlob, type GradientCheckOptions } from './gradient-checker.js';
import { layer, layerCaseTests, type Phase } from './helpers.js';


const f32 = Math.fround;

function copyOf(b: Blob): Blob {
  const c = new Blob();
  c.reshape(b.shape);
  c.data.set(b.data);
  return c;
}

function run(l: Layer, bottom: Blob[], top: Blob[], dy: Blob): void {
  l.setUp(bottom, top);
  l.forward(bottom, top);
  top[0].diff.set(dy.data);
  for (const p of l.blobs) p.diff.fill(0);
  l.backward(top, bottom.map(() => true), bottom);
}

/** Forward+backward out of place and in place (bottom[0] as top) must agree. */
function inPlaceMatches(make: () => Layer, bottoms: Blob[], setup?: (l: Layer) => void, closeTo = false) {
  const dy = randomBlob(bottoms[0].shape as number[], 99);
  const a = make();
  const ba = bottoms.map(copyOf);
  const ya = new Blob();
  a.setUp(ba, [ya]);
  setup?.(a);
  run(a, ba, [ya], dy);

  const b = make();
  const bb = bottoms.map(copyOf);
  b.setUp(bb, [bb[0]]);
  setup?.(b);
  run(b, bb, [bb[0]], dy);

  const same = (got: Float32Array, want: Float32Array) => {
    if (closeTo) got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    else expect(Array.from(got)).toEqual(Array.from(want));
  };
  same(bb[0].data, ya.data);
  same(bb[0].diff, ba[0].diff);
  for (let i = 1; i < bb.length; i++) same(bb[i].diff, ba[i].diff);
  a.blobs.forEach((p, i) => {
    same(b.blobs[i].data, p.data);
    same(b.blobs[i].diff, p.diff);
  });
}

function setBNStats(l: Layer, channels: number, s: number) {
  const [m, v, f] = l.blobs;
  for (let c = 0; c < channels; c++) {
    m.data[c] = s * (0.3 * c - 0.2);
    v.data[c] = s * (0.5 + 0.25 * c);
  }
  f.data[0] = s;
}

describe('BatchNorm', () => {
  const X = [3, 4, 3, 2];

  it('gradient, local statistics (TRAIN default)', () => {
    checkGradient(layer('BatchNorm'), [randomBlob(X, 1)], [new Blob()], { params: false, stepsize: 1e-3, threshold: 1e-2 });
  });
  it('gradient, local statistics in TEST (use_global_stats: false)', () => {
    const l = layer('BatchNorm', { batch_norm_param: { use_global_stats: false } }, 'TEST');
    checkGradient(l, [randomBlob(X, 2)], [new Blob()], { params: false, stepsize: 1e-3, threshold: 1e-2 });
  });
  it('gradient, global statistics (TEST default)', () => {
    const l = layer('BatchNorm', {}, 'TEST');
    const x = randomBlob(X, 3);
    l.setUp([x], [new Blob()]);
    setBNStats(l, 4, 2);
    checkGradient(l, [x], [new Blob()], { params: false });
  });
  it('gradient, global statistics in TRAIN (use_global_stats: true)', () => {
    const l = layer('BatchNorm', { batch_norm_param: { use_global_stats: true } }, 'TRAIN');
    const x = randomBlob(X, 4);
    l.setUp([x], [new Blob()]);
    setBNStats(l, 4, 0.5);
    checkGradient(l, [x], [new Blob()], { params: false });
  });
  it('gradient, 1-D input (one channel)', () => {
    const l = layer('BatchNorm');
    checkGradient(l, [randomBlob([6], 4)], [new Blob()], { params: false, stepsize: 1e-3, threshold: 1e-2 });
    expect(l.blobs.map((b) => b.shape)).toEqual([[1], [1], [1]]);
  });
  it('gradient, 2-D and 3-D inputs', () => {
    checkGradient(layer('BatchNorm'), [randomBlob([5, 4], 5)], [new Blob()], { params: false, stepsize: 1e-3, threshold: 1e-2 });
    checkGradient(layer('BatchNorm'), [randomBlob([2, 3, 5], 6)], [new Blob()], { params: false, stepsize: 1e-3, threshold: 1e-2 });
  });

  it('normalizes with batch statistics and updates the running sums as Caffe', () => {
    const l = layer('BatchNorm', { batch_norm_param: { moving_average_fraction: 0.5, eps: 0.001 } });
    const x = randomBlob([2, 3, 2, 2], 7, -3, 3);
    const y = new Blob();
    l.setUp([x], [y]);
    expect(l.blobs.map((b) => b.shape)).toEqual([[3], [3], [1]]);
    // Start from non-zero sums to see the moving-average arithmetic.
    const [m0, v0, s0] = l.blobs;
    m0.data.set([1, 2, 3]);
    v0.data.set([4, 5, 6]);
    s0.data[0] = 2;
    l.forward([x], [y]);
    const maf = f32(0.5);
    const m = 8; // count / channels
    for (let c = 0; c < 3; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 2; n++) for (let j = 0; j < 4; j++) vals.push(x.data[(n * 3 + c) * 4 + j]);
      const mean = vals.reduce((a, b) => a + b, 0) / m;
      const variance = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / m;
      expect(m0.data[c]).toBeCloseTo(mean + 0.5 * [1, 2, 3][c], 5);
      expect(v0.data[c]).toBeCloseTo((m / (m - 1)) * variance + 0.5 * [4, 5, 6][c], 5);
      for (let n = 0; n < 2; n++) {
        for (let j = 0; j < 4; j++) {
          const i = (n * 3 + c) * 4 + j;
          expect(y.data[i]).toBeCloseTo((x.data[i] - mean) / Math.sqrt(variance + 0.001), 4);
        }
      }
    }
    expect(s0.data[0]).toBe(f32(2 * maf) + 1);
    // A second pass keeps averaging.
    l.forward([x], [y]);
    expect(s0.data[0]).toBe(f32(f32(f32(2 * maf) + 1) * maf) + 1);
  });

  it('m == 1 uses a bias correction of 1', () => {
    const l = layer('BatchNorm', { batch_norm_param: { moving_average_fraction: 0 } });
    const x = randomBlob([1, 2], 8);
    const y = new Blob();
    l.setUp([x], [y]);
    l.forward([x], [y]);
    expect(Array.from(l.blobs[0].data)).toEqual(Array.from(x.data));
    expect(Array.from(l.blobs[1].data)).toEqual([0, 0]);
    expect(Array.from(y.data)).toEqual([0, 0]);
  });

  it('global mode uses sums / s, and 0 when s == 0', () => {
    const x = randomBlob([2, 3, 2, 2], 9);
    const l = layer('BatchNorm', {}, 'TEST');
    const y = new Blob();
    l.setUp([x], [y]);
    l.blobs[0].data.set([2, 4, 6]);
    l.blobs[1].data.set([8, 2, 18]);
    l.blobs[2].data[0] = 2;
    l.forward([x], [y]);
    const mean = [1, 2, 3];
    const variance = [4, 1, 9];
    x.data.forEach((v, i) => {
      const c = Math.floor(i / 4) % 3;
      expect(y.data[i]).toBeCloseTo((v - mean[c]) / Math.sqrt(variance[c] + 1e-5), 5);
    });
    // The statistics are not touched in global mode.
    expect(Array.from(l.blobs[0].data)).toEqual([2, 4, 6]);
    expect(l.blobs[2].data[0]).toBe(2);

    l.blobs[2].data[0] = 0;
    l.forward([x], [y]);
    x.data.forEach((v, i) => expect(y.data[i]).toBeCloseTo(v / Math.sqrt(1e-5), 2));
  });

  it('forces lr_mult 0 on its statistics', () => {
    const l = layer('BatchNorm');
    l.setUp([randomBlob([2, 3], 1)], [new Blob()]);
    expect(l.param.param.length).toBe(3);
    for (const spec of l.param.param) {
      expect(has(spec, 'lr_mult')).toBe(true);
      expect(spec.lr_mult).toBe(0);
    }
    [0, 1, 2].forEach((i) => expect(l.paramPropagateDown(i)).toBe(false));
    const ok = layer('BatchNorm', { param: [{ lr_mult: 0 }, { lr_mult: 0 }, { lr_mult: 0 }] });
    ok.setUp([randomBlob([2, 3], 1)], [new Blob()]);
    const bad = layer('BatchNorm', { param: [{ lr_mult: 0 }, { lr_mult: 1 }] });
    expect(() => bad.setUp([randomBlob([2, 3], 1)], [new Blob()])).toThrow(/lr_mult/);
  });

  it('rejects a channel change', () => {
    const l = layer('BatchNorm');
    l.setUp([randomBlob([2, 3, 2], 1)], [new Blob()]);
    expect(() => l.forward([randomBlob([2, 4, 2], 1)], [new Blob()])).toThrow(/channels/);
  });

  for (const phase of ['TRAIN', 'TEST'] as Phase[]) {
    it(`in place equals out of place (${phase})`, () => {
      inPlaceMatches(() => layer('BatchNorm', {}, phase), [randomBlob([2, 3, 2, 2], 10)], (l) => setBNStats(l, 3, 1.5));
    });
  }
});

describe('Scale', () => {
  const X = [2, 3, 4, 2];
  const check = (extra: Record<string, unknown>, bottoms: Blob[], opts: GradientCheckOptions = {}) =>
    checkGradient(layer('Scale', extra), bottoms, [new Blob()], opts);
  const filler = { type: 'constant', value: 0.7 };

  it('gradient, default (axis 1, one axis)', () => check({ scale_param: { filler } }, [randomBlob(X, 1)]));
  it('gradient, bias_term', () => check({ scale_param: { filler, bias_term: true, bias_filler: { type: 'constant', value: 0.2 } } }, [randomBlob(X, 2)]));
  it('gradient, axis 0 num_axes 2 with bias', () => check({ scale_param: { axis: 0, num_axes: 2, filler, bias_term: true } }, [randomBlob(X, 3)]));
  it('gradient, axis -1', () => check({ scale_param: { axis: -1, filler } }, [randomBlob(X, 4)]));
  it('gradient, num_axes -1 (to the end)', () => check({ scale_param: { axis: 1, num_axes: -1, filler } }, [randomBlob(X, 5)]));
  it('gradient, num_axes -1 from axis 0 (element-wise)', () => check({ scale_param: { axis: 0, num_axes: -1, filler } }, [randomBlob(X, 5)]));
  it('gradient, num_axes 0 (scalar) with bias', () => check({ scale_param: { num_axes: 0, filler, bias_term: true } }, [randomBlob(X, 6)]));
  it('gradient, last axes (inner 1)', () => check({ scale_param: { axis: 2, num_axes: 2, filler } }, [randomBlob(X, 7)]));
  it('gradient, two bottoms', () => check({}, [randomBlob(X, 8), randomBlob([3], 9)]));
  it('gradient, two bottoms axis 0', () => check({ scale_param: { axis: 0 } }, [randomBlob(X, 10), randomBlob([2, 3], 11)]));
  it('gradient, two bottoms axis 2', () => check({ scale_param: { axis: 2 } }, [randomBlob(X, 12), randomBlob([4, 2], 13)]));
  it('gradient, two bottoms, scalar', () => {
    const s = new Blob();
    s.reshape([]);
    s.data[0] = 1.3;
    check({}, [randomBlob(X, 14), s]);
  });
  it('gradient, two bottoms, element-wise', () => check({ scale_param: { axis: 0 } }, [randomBlob(X, 15), randomBlob(X, 16)]));
  it('gradient, two bottoms with bias', () => check({ scale_param: { bias_term: true } }, [randomBlob(X, 17), randomBlob([3, 4], 18)]));

  it('defaults: scale 1, bias 0, bias blob after the scale blob', () => {
    const l = layer('Scale', { scale_param: { bias_term: true } });
    const x = randomBlob(X, 19);
    const y = new Blob();
    l.setUp([x], [y]);
    expect(l.blobs.map((b) => b.shape)).toEqual([[3], [3]]);
    expect(Array.from(l.blobs[0].data)).toEqual([1, 1, 1]);
    expect(Array.from(l.blobs[1].data)).toEqual([0, 0, 0]);
    l.blobs[0].data.set([1, 2, 3]);
    l.blobs[1].data.set([0.5, 0, -1]);
    l.forward([x], [y]);
    x.data.forEach((v, i) => {
      const c = Math.floor(i / 8) % 3;
      expect(y.data[i]).toBeCloseTo(v * [1, 2, 3][c] + [0.5, 0, -1][c], 6);
    });
    const two = layer('Scale', { scale_param: { bias_term: true } });
    two.setUp([x, randomBlob([3, 4], 1)], [new Blob()]);
    expect(two.blobs.map((b) => b.shape)).toEqual([[3, 4]]);
  });

  it('accumulates the learned scale diff', () => {
    const l = layer('Scale', { scale_param: { filler, bias_term: true } });
    const x = randomBlob(X, 20);
    const y = new Blob();
    l.setUp([x], [y]);
    l.forward([x], [y]);
    y.diff.set(randomBlob(X, 21).data);
    l.backward([y], [true], [x]);
    const once = l.blobs.map((b) => Array.from(b.diff));
    l.backward([y], [true], [x]);
    l.blobs.forEach((b, k) => b.diff.forEach((v, i) => expect(v).toBeCloseTo(2 * once[k][i], 5)));
  });

  it('rejects mismatched shapes', () => {
    expect(() => layer('Scale').setUp([randomBlob(X, 1), randomBlob([4], 1)], [new Blob()])).toThrow(/does not match/);
    expect(() => layer('Scale', { scale_param: { axis: 3, num_axes: 2 } }).setUp([randomBlob(X, 1)], [new Blob()])).toThrow(/extends past/);
    expect(() => layer('Scale', { scale_param: { axis: 4 } }).setUp([randomBlob(X, 1)], [new Blob()])).toThrow(/out of range/);
    expect(() => layer('Scale', { scale_param: { num_axes: -2 } }).setUp([randomBlob(X, 1)], [new Blob()])).toThrow(/num_axes/);
  });

  it('in place equals out of place (learned scale with bias)', () => {
    inPlaceMatches(() => layer('Scale', { scale_param: { filler, bias_term: true } }), [randomBlob(X, 22)]);
  });
  it('in place equals out of place (element-wise learned scale)', () => {
    inPlaceMatches(() => layer('Scale', { scale_param: { axis: 0, num_axes: -1, filler } }), [randomBlob(X, 23)]);
  });
  it('in place equals out of place (two bottoms)', () => {
    inPlaceMatches(() => layer('Scale', {}), [randomBlob(X, 24), randomBlob([3], 25)]);
  });

  // With the bottom diff wanted, backward takes a fused one-pass path; without it, Caffe's
  // general one. Their parameter diffs must agree (including Caffe's overwrite of the scale diff
  // when the scale spans the leading axes), and the bottom diff must be s * top_diff.
  const fusedCases: [string, Record<string, unknown>, () => Blob[]][] = [
    ['axis 1 with bias', { scale_param: { filler, bias_term: true, bias_filler: { type: 'constant', value: 0.2 } } }, () => [randomBlob(X, 30)]],
    ['leading axes (outer 1)', { scale_param: { axis: 0, num_axes: 2, filler, bias_term: true } }, () => [randomBlob(X, 31)]],
    ['last axes (inner 1)', { scale_param: { axis: 2, num_axes: 2, filler } }, () => [randomBlob(X, 32)]],
    ['scalar', { scale_param: { num_axes: 0, filler, bias_term: true } }, () => [randomBlob(X, 33)]],
    ['two bottoms', {}, () => [randomBlob(X, 34), randomBlob([3, 4], 35)]],
  ];
  for (const [name, extra, bottoms] of fusedCases) {
    it(`fused backward equals the general path (${name})`, () => {
      const dy = randomBlob(X, 36);
      const results = [true, false].map((wantBottom) => {
        const l = layer('Scale', extra);
        const bs = bottoms();
        const y = new Blob();
        l.setUp(bs, [y]);
        l.forward(bs, [y]);
        y.diff.set(dy.data);
        for (const p of l.blobs) p.diff.fill(0.25); // accumulated into, or overwritten
        for (const b of bs) b.diff.fill(0);
        l.backward([y], [wantBottom, true], bs);
        return { l, bs };
      });
      const [fused, general] = results;
      fused.l.blobs.forEach((p, k) => p.diff.forEach((v, i) => expect(v).toBeCloseTo(general.l.blobs[k].diff[i], 5)));
      if (fused.bs.length > 1) fused.bs[1].diff.forEach((v, i) => expect(v).toBeCloseTo(general.bs[1].diff[i], 5));
      const s = fused.bs.length > 1 ? fused.bs[1] : fused.l.blobs[0];
      fused.bs[0].diff.forEach((v, i) => expect(v).toBe(f32(scaleAt(fused.bs[0], s, i) * dy.data[i])));
    });
  }
});

/** The scale value applied to element i of x (the scale's axes found by matching its shape). */
function scaleAt(x: Blob, s: Blob, i: number): number {
  if (s.count === 1) return s.data[0];
  for (let axis = 0; axis + s.numAxes <= x.numAxes; axis++) {
    if (s.shape.every((d, j) => d === x.shape[axis + j])) {
      const inner = x.countRange(axis + s.numAxes);
      return s.data[Math.floor(i / inner) % s.count];
    }
  }
  throw new Error('scale does not fit');
}

describe('Bias', () => {
  const X = [2, 3, 4, 2];
  const filler = { type: 'constant', value: 0.4 };
  const check = (extra: Record<string, unknown>, bottoms: Blob[]) => checkGradient(layer('Bias', extra), bottoms, [new Blob()]);

  it('gradient, default', () => check({ bias_param: { filler } }, [randomBlob(X, 1)]));
  it('gradient, axis 0 num_axes 2', () => check({ bias_param: { axis: 0, num_axes: 2, filler } }, [randomBlob(X, 2)]));
  it('gradient, num_axes 0 and -1', () => {
    check({ bias_param: { num_axes: 0, filler } }, [randomBlob(X, 3)]);
    check({ bias_param: { axis: 1, num_axes: -1, filler } }, [randomBlob(X, 4)]);
  });
  it('gradient, two bottoms', () => {
    check({}, [randomBlob(X, 5), randomBlob([3], 6)]);
    check({ bias_param: { axis: 2 } }, [randomBlob(X, 7), randomBlob([4, 2], 8)]);
    check({ bias_param: { axis: 0 } }, [randomBlob(X, 7), randomBlob(X, 8)]);
  });
  it('filler and forward', () => {
    const l = layer('Bias');
    const x = randomBlob(X, 9);
    const y = new Blob();
    l.setUp([x], [y]);
    expect(Array.from(l.blobs[0].data)).toEqual([0, 0, 0]);
    l.blobs[0].data.set([1, -1, 2]);
    l.forward([x], [y]);
    x.data.forEach((v, i) => expect(y.data[i]).toBe(f32(v + [1, -1, 2][Math.floor(i / 8) % 3])));
  });
  it('in place equals out of place', () => {
    inPlaceMatches(() => layer('Bias', { bias_param: { filler } }), [randomBlob(X, 10)]);
    inPlaceMatches(() => layer('Bias'), [randomBlob(X, 11), randomBlob([3], 12)]);
  });
});

describe('MVN', () => {
  const X = [2, 3, 3, 4];
  for (const [name, p] of [
    ['default', {}],
    ['mean only', { normalize_variance: false }],
    ['across channels', { across_channels: true }],
    ['across channels, mean only', { across_channels: true, normalize_variance: false }],
  ] as [string, Record<string, unknown>][]) {
    it(`gradient, ${name}`, () => {
      checkGradient(layer('MVN', { mvn_param: p }), [randomBlob(X, 1)], [new Blob()], { stepsize: 1e-3, threshold: 1e-2 });
    });
  }
  it('eps is added to the standard deviation', () => {
    const x = randomBlob([1, 1, 2, 2], 2);
    x.data.set([1, 2, 3, 4]);
    const y = new Blob();
    const l = layer('MVN', { mvn_param: { eps: 0.5 } });
    l.setUp([x], [y]);
    l.forward([x], [y]);
    const sd = Math.sqrt(1.25) + 0.5;
    expect(Array.from(y.data).map((v) => +v.toFixed(5))).toEqual([-1.5, -0.5, 0.5, 1.5].map((v) => +(v / sd).toFixed(5)));
  });
  it('gives the top a legacy 4-D shape', () => {
    const y = new Blob();
    const l = layer('MVN');
    l.setUp([randomBlob([2, 5], 3)], [y]);
    expect(y.shape).toEqual([2, 5, 1, 1]);
  });
  // The gradient checks above run out of place: with normalize_variance Caffe's in-place backward
  // is not the true gradient (see below).
  it('in place equals out of place without normalize_variance', () => {
    inPlaceMatches(() => layer('MVN', { mvn_param: { normalize_variance: false } }), [randomBlob(X, 5)]);
    inPlaceMatches(() => layer('MVN', { mvn_param: { normalize_variance: false, across_channels: true } }), [randomBlob(X, 5)]);
  });
  it('in place with normalize_variance gives what Caffe gives (the top diff is overwritten first)', () => {
    // x = [1, 2, 3, 4]: y = (x - 2.5) / sd, sd = sqrt(1.25) + 1e-9; dy = [1, 0, 0, 0].
    // Caffe in place: D = y dy; sa = sum D = y0; D = sa; D = y sa; sb = sum D = sa sum(y) ~ 0;
    // D = y sa + sb; axpby(1, D, -1/4, D) = scal then axpy = 2 (-1/4) D; D /= sd.
    //   -> dx = -(y0 / (2 sd)) y = 0.75 y / sd^2 = 0.6 y.
    const make = () => {
      const x = new Blob([1, 1, 2, 2]);
      x.data.set([1, 2, 3, 4]);
      return x;
    };
    const sd = Math.sqrt(1.25);
    const y = [-1.5, -0.5, 0.5, 1.5].map((v) => v / sd);
    const a = make();
    const l = layer('MVN');
    l.setUp([a], [a]);
    l.forward([a], [a]);
    a.diff.set([1, 0, 0, 0]);
    l.backward([a], [true], [a]);
    a.diff.forEach((v, i) => expect(v).toBeCloseTo(0.6 * y[i], 5));
    // Out of place: (dy - mean(dy) - mean(dy y) y) / sd, the true gradient.
    const b = make();
    const top = new Blob();
    const l2 = layer('MVN');
    l2.setUp([b], [top]);
    l2.forward([b], [top]);
    top.diff.set([1, 0, 0, 0]);
    l2.backward([top], [true], [b]);
    b.diff.forEach((v, i) => expect(v).toBeCloseTo(((i === 0 ? 1 : 0) - 0.25 - (y[0] / 4) * y[i]) / sd, 5));
  });
  it('writes the bottom diff even when propagate_down is false (as Caffe)', () => {
    const x = randomBlob(X, 6);
    const y = new Blob();
    const l = layer('MVN');
    l.setUp([x], [y]);
    l.forward([x], [y]);
    y.diff.set(randomBlob(X, 7).data);
    x.diff.fill(7);
    l.backward([y], [false], [x]);
    expect(x.diff.some((v) => v !== 7)).toBe(true);
  });
});

describe('LRN', () => {
  const X = [2, 7, 3, 3];
  it('gradient, across channels', () => {
    checkGradient(layer('LRN', { lrn_param: { local_size: 3, alpha: 0.5 } }), [randomBlob(X, 1)], [new Blob()], { threshold: 1e-2 });
  });
  it('gradient, across channels, size 5, k 2', () => {
    checkGradient(layer('LRN', { lrn_param: { alpha: 0.3, k: 2 } }), [randomBlob(X, 2)], [new Blob()], { threshold: 1e-2 });
  });
  it('gradient, within channel', () => {
    checkGradient(layer('LRN', { lrn_param: { local_size: 3, alpha: 0.5, norm_region: 'WITHIN_CHANNEL' } }), [randomBlob(X, 3)], [new Blob()], { threshold: 1e-2 });
  });
  it('gradient, within channel, size 5 on a small plane', () => {
    checkGradient(layer('LRN', { lrn_param: { alpha: 2, beta: 0.6, norm_region: 'WITHIN_CHANNEL' } }), [randomBlob([1, 2, 3, 4], 4)], [new Blob()], { threshold: 1e-2 });
  });

  it('across channels matches the direct formula', () => {
    const x = randomBlob(X, 5);
    const y = new Blob();
    const l = layer('LRN', { lrn_param: { local_size: 5, alpha: 0.1, beta: 0.75, k: 2 } });
    l.setUp([x], [y]);
    l.forward([x], [y]);
    const [, C, H, W] = X;
    for (let i = 0; i < x.count; i++) {
      const c = Math.floor(i / (H * W)) % C;
      let s = 0;
      for (let d = -2; d <= 2; d++) {
        if (c + d < 0 || c + d >= C) continue;
        const v = x.data[i + d * H * W];
        s += v * v;
      }
      expect(y.data[i]).toBeCloseTo(x.data[i] * (2 + (0.1 / 5) * s) ** -0.75, 5);
    }
  });

  it('within channel matches the composition (AVE pooling over size^2, no k)', () => {
    const x = randomBlob([1, 2, 4, 5], 6);
    const y = new Blob();
    const l = layer('LRN', { lrn_param: { local_size: 3, alpha: 0.5, beta: 0.75, k: 7, norm_region: 'WITHIN_CHANNEL' } });
    l.setUp([x], [y]);
    l.forward([x], [y]);
    const H = 4;
    const W = 5;
    for (let i = 0; i < x.count; i++) {
      const p = Math.floor(i / (H * W));
      const h = Math.floor(i / W) % H;
      const w = i % W;
      let s = 0;
      for (let dh = -1; dh <= 1; dh++) {
        for (let dw = -1; dw <= 1; dw++) {
          if (h + dh < 0 || h + dh >= H || w + dw < 0 || w + dw >= W) continue;
          const v = x.data[p * H * W + (h + dh) * W + w + dw];
          s += v * v;
        }
      }
      expect(y.data[i]).toBeCloseTo(x.data[i] * (1 + (0.5 * s) / 9) ** -0.75, 5);
    }
  });

  it('checks its parameters and input', () => {
    expect(() => layer('LRN', { lrn_param: { local_size: 4 } }).setUp([randomBlob(X, 1)], [new Blob()])).toThrow(/odd/);
    expect(() => layer('LRN').setUp([randomBlob([2, 3, 4], 1)], [new Blob()])).toThrow(/4-D/);
  });

  // In place BVLC Caffe does not compute LRN: the emulations below replay master's
  // lrn_layer.cpp (and, for WITHIN_CHANNEL, its internal Split/Power/Pooling/Power/Eltwise layers)
  // step by step on aliased arrays, one float32 operation at a time.
  const inPlaceCases: [string, number[], { local_size: number; alpha: number; beta: number; k: number }, number][] = [
    ['1x3x2x2, local_size 3, alpha 1, beta 0.75, k 1', [1, 3, 2, 2], { local_size: 3, alpha: 1, beta: 0.75, k: 1 }, 31],
    ['2x4x2x3, local_size 3, alpha 0.5, beta 0.6, k 2', [2, 4, 2, 3], { local_size: 3, alpha: 0.5, beta: 0.6, k: 2 }, 32],
    ['1x7x2x2, local_size 5, alpha 2, beta 0.75, k 1', [1, 7, 2, 2], { local_size: 5, alpha: 2, beta: 0.75, k: 1 }, 33],
  ];
  for (const [name, shape, p, seed] of inPlaceCases) {
    for (const region of ['ACROSS_CHANNELS', 'WITHIN_CHANNEL'] as const) {
      it(`in place gives what Caffe gives on aliased buffers (${region}, ${name})`, () => {
        const x = randomBlob(shape, seed);
        const dy = randomBlob(shape, seed + 100);
        const emulate = region === 'ACROSS_CHANNELS' ? caffeAcrossInPlace : caffeWithinInPlace;
        const want = emulate(shape, p, x.data, dy.data);
        const l = layer('LRN', { lrn_param: { ...p, norm_region: region } });
        const b = copyOf(x);
        l.setUp([b], [b]);
        l.forward([b], [b]);
        expect(Array.from(b.data)).toEqual(Array.from(want.data));
        b.diff.set(dy.data);
        l.backward([b], [true], [b]);
        expect(Array.from(b.diff)).toEqual(Array.from(want.diff));
        // and it is not the true LRN (the out-of-place result)
        const y = new Blob();
        const o = layer('LRN', { lrn_param: { ...p, norm_region: region } });
        const xo = copyOf(x);
        run(o, [xo], [y], dy);
        expect(Array.from(xo.diff)).not.toEqual(Array.from(b.diff));
        if (region === 'ACROSS_CHANNELS') expect(Array.from(y.data)).not.toEqual(Array.from(b.data));
        else expect(Array.from(y.data)).toEqual(Array.from(b.data)); // WITHIN's in-place forward is right
      });
    }
  }

  it('out of place leaves its input alone and gives the same result run twice', () => {
    for (const norm_region of ['ACROSS_CHANNELS', 'WITHIN_CHANNEL']) {
      const x = randomBlob(X, 40);
      const x0 = Array.from(x.data);
      const dy = randomBlob(X, 41);
      const l = layer('LRN', { lrn_param: { local_size: 3, alpha: 0.5, norm_region } });
      const y = new Blob();
      run(l, [x], [y], dy);
      expect(Array.from(x.data)).toEqual(x0);
      const y1 = Array.from(y.data);
      const d1 = Array.from(x.diff);
      run(l, [x], [y], dy);
      expect(Array.from(y.data)).toEqual(y1);
      expect(Array.from(x.diff)).toEqual(d1);
    }
  });
});

interface LRNP {
  local_size: number;
  alpha: number;
  beta: number;
  k: number;
}

/** Master's CrossChannelForward_cpu + CrossChannelBackward_cpu with top == bottom. */
function caffeAcrossInPlace(shape: number[], p: LRNP, x: Float32Array, dy: Float32Array) {
  const [N, C, H, W] = shape;
  const hw = H * W;
  const count = N * C * hw;
  const size = p.local_size;
  const prePad = (size - 1) / 2;
  // the one blob: data and diff, shared by "top" and "bottom"
  const data = Float32Array.from(x);
  const diff = new Float32Array(count);
  const bottomData = data;
  const topData = data;
  const axpy = (n: number, a: number, xs: Float32Array, xo: number, ys: Float32Array, yo: number) => {
    for (let i = 0; i < n; i++) ys[yo + i] = f32(ys[yo + i] + f32(a * xs[xo + i]));
  };
  // forward
  const scale = new Float32Array(count).fill(p.k);
  const padded = new Float32Array((C + size - 1) * hw);
  const aos = f32(p.alpha / size);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < C * hw; i++) padded[prePad * hw + i] = f32(bottomData[n * C * hw + i] * bottomData[n * C * hw + i]);
    for (let c = 0; c < size; c++) axpy(hw, aos, padded, c * hw, scale, n * C * hw);
    for (let c = 1; c < C; c++) {
      const o = (n * C + c) * hw;
      for (let i = 0; i < hw; i++) scale[o + i] = scale[o - hw + i];
      axpy(hw, aos, padded, (c + size - 1) * hw, scale, o);
      axpy(hw, -aos, padded, (c - 1) * hw, scale, o);
    }
  }
  for (let i = 0; i < count; i++) topData[i] = f32(Math.pow(scale[i], -p.beta)); // caffe_powx
  for (let i = 0; i < count; i++) topData[i] = f32(topData[i] * bottomData[i]); // caffe_mul
  const out = Float32Array.from(data);
  // backward: top diff set by the caller
  diff.set(dy);
  const topDiff = diff;
  const bottomDiff = diff;
  const ratio = new Float32Array((C + size - 1) * hw);
  const accum = new Float32Array(hw);
  const times = new Float32Array(hw);
  const crv = f32((2 * p.alpha * p.beta) / size);
  for (let i = 0; i < count; i++) bottomDiff[i] = f32(Math.pow(scale[i], -p.beta)); // caffe_powx
  for (let i = 0; i < count; i++) bottomDiff[i] = f32(topDiff[i] * bottomDiff[i]); // caffe_mul
  const inversePrePad = size - (size + 1) / 2;
  for (let n = 0; n < N; n++) {
    const b = n * C * hw;
    for (let i = 0; i < C * hw; i++) ratio[inversePrePad * hw + i] = f32(topDiff[b + i] * topData[b + i]);
    for (let i = 0; i < C * hw; i++) ratio[inversePrePad * hw + i] = f32(ratio[inversePrePad * hw + i] / scale[b + i]);
    accum.fill(0);
    for (let c = 0; c < size - 1; c++) axpy(hw, 1, ratio, c * hw, accum, 0);
    for (let c = 0; c < C; c++) {
      axpy(hw, 1, ratio, (c + size - 1) * hw, accum, 0);
      for (let i = 0; i < hw; i++) times[i] = f32(bottomData[b + c * hw + i] * accum[i]);
      axpy(hw, -crv, times, 0, bottomDiff, b + c * hw);
      axpy(hw, -1, ratio, c * hw, accum, 0);
    }
  }
  return { data: out, diff: Float32Array.from(diff) };
}

/**
 * Master's WithinChannelForward/Backward with top == bottom: Split (tops share the bottom's data,
 * own diffs), Power(2), AVE Pooling (kernel size, pad (size-1)/2), Power(-beta, alpha, 1),
 * Eltwise PROD (stable_prod_grad) into the top.
 */
function caffeWithinInPlace(shape: number[], p: LRNP, x: Float32Array, dy: Float32Array) {
  const [N, C, H, W] = shape;
  const count = N * C * H * W;
  const size = p.local_size;
  const pad = (size - 1) / 2;
  const data = Float32Array.from(x); // bottom == top; Split's two tops share it
  const diff = new Float32Array(count);
  const productInput = data;
  const squareInput = data;
  // Power(2): copy, powx
  const squareOut = new Float32Array(count);
  for (let i = 0; i < count; i++) squareOut[i] = squareInput[i];
  for (let i = 0; i < count; i++) squareOut[i] = f32(Math.pow(squareOut[i], 2));
  // AVE pooling, stride 1
  const PH = Math.ceil((H + 2 * pad - size) / 1) + 1;
  const PW = Math.ceil((W + 2 * pad - size) / 1) + 1;
  const win = (ph: number, pw: number) => {
    let hs = ph - pad;
    let ws = pw - pad;
    let he = Math.min(hs + size, H + pad);
    let we = Math.min(ws + size, W + pad);
    const poolSize = (he - hs) * (we - ws);
    hs = Math.max(hs, 0);
    ws = Math.max(ws, 0);
    he = Math.min(he, H);
    we = Math.min(we, W);
    return { hs, ws, he, we, poolSize };
  };
  const poolOut = new Float32Array(N * C * PH * PW);
  for (let q = 0; q < N * C; q++) {
    for (let ph = 0; ph < PH; ph++) {
      for (let pw = 0; pw < PW; pw++) {
        const { hs, ws, he, we, poolSize } = win(ph, pw);
        const t = q * PH * PW + ph * PW + pw;
        for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) poolOut[t] = f32(poolOut[t] + squareOut[q * H * W + h * W + w]);
        poolOut[t] = f32(poolOut[t] / poolSize);
      }
    }
  }
  // Power(-beta, alpha, 1): copy, scal, add_scalar, powx
  const powerOut = new Float32Array(count);
  for (let i = 0; i < count; i++) powerOut[i] = poolOut[i];
  if (p.alpha !== 1) for (let i = 0; i < count; i++) powerOut[i] = f32(p.alpha * powerOut[i]);
  for (let i = 0; i < count; i++) powerOut[i] = f32(powerOut[i] + 1);
  for (let i = 0; i < count; i++) powerOut[i] = f32(Math.pow(powerOut[i], -p.beta));
  // Eltwise PROD into the top (= the bottom's data)
  for (let i = 0; i < count; i++) data[i] = f32(productInput[i] * powerOut[i]);
  const out = Float32Array.from(data);

  // backward
  diff.set(dy);
  const topDiff = diff;
  const productInputDiff = new Float32Array(count);
  const powerOutDiff = new Float32Array(count);
  for (let i = 0; i < count; i++) productInputDiff[i] = powerOut[i];
  for (let i = 0; i < count; i++) productInputDiff[i] = f32(productInputDiff[i] * topDiff[i]);
  for (let i = 0; i < count; i++) powerOutDiff[i] = productInput[i]; // the overwritten data
  for (let i = 0; i < count; i++) powerOutDiff[i] = f32(powerOutDiff[i] * topDiff[i]);
  // Power(-beta, alpha, 1) backward, general branch
  const diffScale = f32(-p.beta * p.alpha);
  const poolDiff = new Float32Array(count);
  for (let i = 0; i < count; i++) poolDiff[i] = poolOut[i];
  if (p.alpha !== 1) for (let i = 0; i < count; i++) poolDiff[i] = f32(poolDiff[i] * p.alpha);
  for (let i = 0; i < count; i++) poolDiff[i] = f32(poolDiff[i] + 1);
  for (let i = 0; i < count; i++) poolDiff[i] = f32(powerOut[i] / poolDiff[i]);
  if (diffScale !== 1) for (let i = 0; i < count; i++) poolDiff[i] = f32(poolDiff[i] * diffScale);
  for (let i = 0; i < count; i++) poolDiff[i] = f32(powerOutDiff[i] * poolDiff[i]);
  // AVE pooling backward
  const squareOutDiff = new Float32Array(count);
  for (let q = 0; q < N * C; q++) {
    for (let ph = 0; ph < PH; ph++) {
      for (let pw = 0; pw < PW; pw++) {
        const { hs, ws, he, we, poolSize } = win(ph, pw);
        const g = poolDiff[q * PH * PW + ph * PW + pw];
        for (let h = hs; h < he; h++) {
          for (let w = ws; w < we; w++) {
            const j = q * H * W + h * W + w;
            squareOutDiff[j] = f32(squareOutDiff[j] + f32(g / poolSize));
          }
        }
      }
    }
  }
  // Power(2) backward: axpby(diff_scale * scale = 2, bottom_data, 0, bottom_diff), then mul
  const squareInputDiff = new Float32Array(count);
  for (let i = 0; i < count; i++) squareInputDiff[i] = f32(2 * squareInput[i]); // the overwritten data
  for (let i = 0; i < count; i++) squareInputDiff[i] = f32(squareOutDiff[i] * squareInputDiff[i]);
  // Split backward: caffe_add into the bottom diff (= the top diff)
  for (let i = 0; i < count; i++) diff[i] = f32(productInputDiff[i] + squareInputDiff[i]);
  return { data: out, diff: Float32Array.from(diff) };
}

describe('Caffe reference cases', () => layerCaseTests(['batch_norm', 'scale', 'bias', 'mvn', 'lrn']));
