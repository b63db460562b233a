// Structure layers: Concat, Slice, Split, Silence, Flatten, Reshape, Crop, Eltwise, Filter, Tile,
// BatchReindex, ArgMax, Reduction, Input, Parameter, DummyData, Pooling, SPP.
// Forward unit tests, error cases, finite-difference gradient checks, and the Caffe reference
// cases of these layers (fixtures/layers, a copy of ../shared/fixtures/layers).
import { describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { fromObject, type Message } from '../src/proto/schema.js';
import { createLayer } from '../src/layers/registry.js';
import { Layer, TEST, TRAIN } from '../src/layers/layer.js';
import '../src/layers/index.js';
import { LayerError } from '../src/util/errors.js';
import { checkGradient, randomBlob, rng } from './gradient-checker.js';
import { blobOf, layerCaseTests, tops } from './helpers.js';

const FIXTURE_LAYERS = ['concat', 'crop', 'eltwise', 'filter', 'flatten', 'reshape', 'slice', 'split', 'silence', 'tile',
  'batch_reindex', 'argmax', 'reduction', 'parameter', 'dummy_data', 'pooling', 'spp'];

describe('Caffe reference cases', () => layerCaseTests(FIXTURE_LAYERS));

// ---------------------------------------------------------------------------------------------
// helpers

function lp(type: string, extra: Record<string, unknown> = {}, phase = TEST): Message {
  const p = fromObject('LayerParameter', { name: `t_${type.toLowerCase()}`, type, ...extra });
  p.phase = phase;
  return p;
}

function make(type: string, extra: Record<string, unknown> = {}, phase = TEST): Layer {
  return createLayer(lp(type, extra, phase));
}

/** Sets up and runs one forward pass; returns the tops. */
function run(layer: Layer, bottom: Blob[], nTop = 1): Blob[] {
  const top = tops(nTop);
  layer.setUp(bottom, top);
  layer.forward(bottom, top);
  return top;
}

function setupError(layer: Layer, bottom: Blob[], nTop = 1): LayerError {
  try {
    const top = tops(nTop);
    layer.setUp(bottom, top);
    layer.forward(bottom, top);
  } catch (e) {
    expect(e).toBeInstanceOf(LayerError);
    return e as LayerError;
  }
  throw new Error('expected a LayerError');
}

const iota = (n: number, start = 0) => Array.from({ length: n }, (_, i) => start + i);

// ---------------------------------------------------------------------------------------------

describe('Concat', () => {
  it('joins along axis 1 by default, along 0 and along -1', () => {
    const a = blobOf([2, 1, 2], [1, 2, 3, 4]);
    const b = blobOf([2, 2, 2], [5, 6, 7, 8, 9, 10, 11, 12]);
    const [y] = run(make('Concat'), [a, b]);
    expect(y.shape).toEqual([2, 3, 2]);
    expect(Array.from(y.data)).toEqual([1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12]);

    const c = blobOf([1, 1, 2], [13, 14]);
    const [z] = run(make('Concat', { concat_param: { axis: 0 } }), [a, c]);
    expect(z.shape).toEqual([3, 1, 2]);
    expect(Array.from(z.data)).toEqual([1, 2, 3, 4, 13, 14]);

    const d = blobOf([2, 1, 1], [20, 21]);
    const [w] = run(make('Concat', { concat_param: { axis: -1 } }), [a, d]);
    expect(w.shape).toEqual([2, 1, 3]);
    expect(Array.from(w.data)).toEqual([1, 2, 20, 3, 4, 21]);
  });

  it('accepts the legacy concat_dim', () => {
    const a = blobOf([1, 2], [1, 2]);
    const b = blobOf([1, 2], [3, 4]);
    const [y] = run(make('Concat', { concat_param: { concat_dim: 0 } }), [a, b]);
    expect(y.shape).toEqual([2, 2]);
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4]);
  });

  it('rejects mismatched shapes at setup, naming layer, type and shapes', () => {
    const e = setupError(make('Concat'), [new Blob([2, 3, 4]), new Blob([2, 3, 5])]);
    expect(e.message).toContain("t_concat");
    expect(e.message).toContain('Concat');
    expect(e.message).toContain('(2,3,4)');
    expect(e.message).toContain('(2,3,5)');
    const e2 = setupError(make('Concat'), [new Blob([2, 3, 4]), new Blob([2, 3])]);
    expect(e2.message).toContain('(2,3)');
  });

  it('rejects axis together with concat_dim, and out-of-range axes', () => {
    setupError(make('Concat', { concat_param: { axis: 1, concat_dim: 1 } }), [new Blob([2, 2]), new Blob([2, 2])]);
    setupError(make('Concat', { concat_param: { axis: 3 } }), [new Blob([2, 2]), new Blob([2, 2])]);
    setupError(make('Concat', { concat_param: { concat_dim: 2 } }), [new Blob([2, 2]), new Blob([2, 2])]);
  });

  it('with one bottom shares its data and diff', () => {
    const a = randomBlob([2, 3], 3);
    const [y] = run(make('Concat'), [a]);
    expect(y.data).toBe(a.data);
    expect(y.diff).toBe(a.diff);
  });

  for (const axis of [0, 1, 2, -1]) {
    it(`gradient along axis ${axis}`, () => {
      const shapes = [[2, 3, 2, 2], [2, 3, 2, 2], [2, 3, 2, 2]].map((s) => s.slice());
      const ax = axis < 0 ? 4 + axis : axis;
      shapes[1][ax] = 1;
      shapes[2][ax] = 3;
      const bottom = shapes.map((s, i) => randomBlob(s, 10 + i));
      checkGradient(make('Concat', { concat_param: { axis } }), bottom, tops(1));
    });
  }
});

describe('Slice', () => {
  it('cuts at slice points along axis 1 by default', () => {
    const x = blobOf([2, 4], iota(8));
    const [a, b, c] = run(make('Slice', { slice_param: { slice_point: [1, 3] } }), [x], 3);
    expect(a.shape).toEqual([2, 1]);
    expect(b.shape).toEqual([2, 2]);
    expect(c.shape).toEqual([2, 1]);
    expect(Array.from(a.data)).toEqual([0, 4]);
    expect(Array.from(b.data)).toEqual([1, 2, 5, 6]);
    expect(Array.from(c.data)).toEqual([3, 7]);
  });

  it('splits equally without points, and accepts legacy slice_dim', () => {
    const x = blobOf([4, 2], iota(8));
    const [a, b] = run(make('Slice', { slice_param: { axis: 0 } }), [x], 2);
    expect(a.shape).toEqual([2, 2]);
    expect(Array.from(b.data)).toEqual([4, 5, 6, 7]);
    const [c, d] = run(make('Slice', { slice_param: { slice_dim: 0 } }), [x], 2);
    expect(Array.from(c.data)).toEqual([0, 1, 2, 3]);
    expect(Array.from(d.data)).toEqual([4, 5, 6, 7]);
  });

  it('rejects invalid slice points', () => {
    const x = () => new Blob([2, 6]);
    // not increasing
    expect(setupError(make('Slice', { slice_param: { slice_point: [3, 2] } }), [x()], 3).message).toContain('increasing');
    // zero first point
    setupError(make('Slice', { slice_param: { slice_point: [0, 2] } }), [x()], 3);
    // wrong count
    expect(setupError(make('Slice', { slice_param: { slice_point: [2] } }), [x()], 3).message).toContain('slice_point');
    // beyond the axis
    setupError(make('Slice', { slice_param: { slice_point: [2, 7] } }), [x()], 3);
    // not evenly divisible
    expect(setupError(make('Slice'), [x()], 4).message).toContain('evenly');
    // axis and slice_dim
    setupError(make('Slice', { slice_param: { axis: 1, slice_dim: 1 } }), [x()], 2);
  });

  for (const [axis, points] of [[0, [1]], [1, [1, 2]], [-1, []], [2, [2]]] as [number, number[]][]) {
    it(`gradient along axis ${axis}`, () => {
      const x = randomBlob([2, 3, 4], 7);
      const n = points.length ? points.length + 1 : 2;
      checkGradient(make('Slice', { slice_param: { axis, slice_point: points } }), [x], tops(n));
    });
  }
});

describe('Split', () => {
  it('shares the bottom data with every top and sums the diffs', () => {
    const x = randomBlob([2, 3], 1);
    const layer = make('Split');
    const t = run(layer, [x], 3);
    for (const y of t) {
      expect(y.shape).toEqual([2, 3]);
      expect(y.data).toBe(x.data);
    }
    t.forEach((y, k) => y.diff.fill(k + 1));
    layer.backward(t, [true], [x]);
    expect(Array.from(x.diff)).toEqual(new Array(6).fill(6));
  });

  it('gradient', () => {
    checkGradient(make('Split'), [randomBlob([2, 3, 2], 2)], tops(3));
  });

  it('refuses to run in place', () => {
    const x = new Blob([2]);
    expect(() => make('Split').setUp([x], [x])).toThrow(LayerError);
  });
});

describe('Silence', () => {
  it('has no tops and zeroes bottom diffs in backward', () => {
    const a = randomBlob([2, 2], 1);
    const b = randomBlob([3], 2);
    a.diff.fill(5);
    b.diff.fill(5);
    const layer = make('Silence');
    layer.setUp([a, b], []);
    layer.forward([a, b], []);
    layer.backward([], [true, false], [a, b]);
    expect(Array.from(a.diff)).toEqual([0, 0, 0, 0]);
    expect(Array.from(b.diff)).toEqual([5, 5, 5]);
    expect(() => make('Silence').setUp([a], [new Blob()])).toThrow(LayerError);
  });
});

describe('Flatten', () => {
  it('flattens axes 1.. by default and [axis, end_axis] when given', () => {
    const x = randomBlob([2, 3, 4, 5], 1);
    const [y] = run(make('Flatten'), [x]);
    expect(y.shape).toEqual([2, 60]);
    expect(Array.from(y.data)).toEqual(Array.from(x.data));
    const [z] = run(make('Flatten', { flatten_param: { axis: 1, end_axis: 2 } }), [x]);
    expect(z.shape).toEqual([2, 12, 5]);
    const [w] = run(make('Flatten', { flatten_param: { axis: -2 } }), [x]);
    expect(w.shape).toEqual([2, 3, 20]);
    const [v] = run(make('Flatten', { flatten_param: { axis: 0 } }), [x]);
    expect(v.shape).toEqual([120]);
  });

  it('shares data forward and diff backward', () => {
    const x = randomBlob([2, 3, 2], 1);
    const layer = make('Flatten');
    const [y] = run(layer, [x]);
    expect(y.data).toBe(x.data);
    y.diff.set(iota(12));
    layer.backward([y], [true], [x]);
    expect(x.diff).toBe(y.diff);
    expect(Array.from(x.diff)).toEqual(iota(12));
  });

  it('refuses in place and bad axes', () => {
    const x = new Blob([2, 3]);
    expect(() => make('Flatten').setUp([x], [x])).toThrow(LayerError);
    setupError(make('Flatten', { flatten_param: { axis: 4 } }), [new Blob([2, 3])]);
  });

  it('gradient', () => {
    checkGradient(make('Flatten', { flatten_param: { axis: 1, end_axis: 2 } }), [randomBlob([2, 3, 2, 2], 4)], tops(1));
  });
});

/** Reshape's top shares the bottom's diff, so the checker's zeroing of the bottom diff would wipe
 *  the top diff; this wrapper owns a separate top and copies through the shared one. */
class ReshapeThroughCopy extends Layer {
  private inner: Layer;
  private mid = new Blob();
  constructor(param: Message) {
    super(param);
    this.inner = createLayer(param);
  }
  override get type(): string {
    return 'Reshape';
  }
  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    this.inner.setUp(bottom, [this.mid]);
  }
  override reshape(bottom: Blob[], top: Blob[]): void {
    this.inner.reshape(bottom, [this.mid]);
    top[0].reshape(this.mid.shape);
  }
  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    this.inner.forward(bottom, [this.mid]);
    top[0].data.set(this.mid.data);
  }
  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    this.mid.diff.set(top[0].diff);
    this.inner.backward([this.mid], propagateDown, bottom);
  }
}

describe('Reshape', () => {
  const shapeOf = (bottom: number[], rp: Record<string, unknown>) => {
    const [y] = run(make('Reshape', { reshape_param: rp }), [new Blob(bottom)]);
    return y.shape;
  };

  it('copies 0 dims and infers -1', () => {
    expect(shapeOf([2, 3, 4, 5], { shape: { dim: [0, -1, 5] } })).toEqual([2, 12, 5]);
    expect(shapeOf([2, 3, 4, 5], { shape: { dim: [0, 0, -1] } })).toEqual([2, 3, 20]);
    expect(shapeOf([2, 3, 4, 5], { shape: { dim: [-1] } })).toEqual([120]);
    expect(shapeOf([2, 3, 4, 5], { shape: { dim: [6, 20] } })).toEqual([6, 20]);
  });

  it('replaces only the axes selected by axis/num_axes', () => {
    expect(shapeOf([2, 3, 5], { shape: { dim: [5, 1] }, axis: 2, num_axes: 1 })).toEqual([2, 3, 5, 1]);
    expect(shapeOf([2, 3, 5], { shape: { dim: [1] }, axis: 1, num_axes: 0 })).toEqual([2, 1, 3, 5]);
    expect(shapeOf([2, 3, 5], { shape: { dim: [-1] }, axis: 1 })).toEqual([2, 15]);
    expect(shapeOf([2, 3, 5], { shape: { dim: [1] }, axis: -1, num_axes: 0 })).toEqual([2, 3, 5, 1]);
    expect(shapeOf([2, 3, 5], { shape: { dim: [0, 1] }, axis: 1, num_axes: 1 })).toEqual([2, 3, 1, 5]);
  });

  it('rejects bad -1 and 0 dims and count mismatches', () => {
    const x = () => new Blob([2, 3, 4]);
    expect(setupError(make('Reshape', { reshape_param: { shape: { dim: [-1, -1] } } }), [x()]).message).toContain('-1');
    expect(setupError(make('Reshape', { reshape_param: { shape: { dim: [-1, 5] } } }), [x()]).message).toContain('divisible');
    expect(setupError(make('Reshape', { reshape_param: { shape: { dim: [0, 0, 0, 0] } } }), [x()]).message).toContain('0');
    expect(setupError(make('Reshape', { reshape_param: { shape: { dim: [5, 5] } } }), [x()]).message).toContain('24');
    setupError(make('Reshape', { reshape_param: { shape: { dim: [-2, 12] } } }), [x()]);
    setupError(make('Reshape', { reshape_param: { shape: { dim: [2] }, axis: 4 } }), [x()]);
    setupError(make('Reshape', { reshape_param: { shape: { dim: [2] }, axis: 2, num_axes: 2 } }), [x()]);
    const y = new Blob([2]);
    expect(() => make('Reshape', { reshape_param: { shape: { dim: [-1] } } }).setUp([y], [y])).toThrow(LayerError);
  });

  it('shares data and diff with the bottom', () => {
    const x = randomBlob([2, 3, 4], 1);
    const [y] = run(make('Reshape', { reshape_param: { shape: { dim: [0, -1] } } }), [x]);
    expect(y.data).toBe(x.data);
    expect(y.diff).toBe(x.diff);
    y.diff[5] = 42;
    expect(x.diff[5]).toBe(42);
  });

  it('gradient (through a copy, because the diff is shared)', () => {
    const p = lp('Reshape', { reshape_param: { shape: { dim: [0, -1, 2] } } });
    checkGradient(new ReshapeThroughCopy(p), [randomBlob([2, 3, 4], 2)], tops(1));
  });
});

describe('Crop', () => {
  it('crops from axis 2 with one offset for all axes', () => {
    const x = blobOf([1, 1, 4, 4], iota(16));
    const ref = new Blob([1, 1, 2, 2]);
    const [y] = run(make('Crop', { crop_param: { offset: [1] } }), [x, ref]);
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(y.data)).toEqual([5, 6, 9, 10]);
  });

  it('uses per-axis offsets and keeps axes before axis', () => {
    const x = blobOf([2, 3, 4], iota(24));
    const ref = new Blob([9, 2, 2]);
    const [y] = run(make('Crop', { crop_param: { axis: 1, offset: [1, 2] } }), [x, ref]);
    expect(y.shape).toEqual([2, 2, 2]);
    expect(Array.from(y.data)).toEqual([6, 7, 10, 11, 18, 19, 22, 23]);
  });

  it('rejects out-of-bounds crops and wrong offset counts', () => {
    expect(setupError(make('Crop', { crop_param: { offset: [2] } }), [new Blob([1, 1, 4, 4]), new Blob([1, 1, 3, 3])]).message)
      .toContain('out of bounds');
    setupError(make('Crop', { crop_param: { offset: [0, 0, 0] } }), [new Blob([1, 1, 4, 4]), new Blob([1, 1, 3, 3])]);
    setupError(make('Crop'), [new Blob([1, 1, 4, 4]), new Blob([1, 3, 3])]);
  });

  it('gradient (axis 2, one offset)', () => {
    checkGradient(make('Crop', { crop_param: { axis: 2, offset: [1] } }), [randomBlob([2, 2, 4, 5], 1), new Blob([1, 1, 2, 3])],
      tops(1), { bottoms: [0] });
  });
  it('gradient (axis 1, per-axis offsets)', () => {
    checkGradient(make('Crop', { crop_param: { axis: 1, offset: [1, 0, 2] } }), [randomBlob([2, 3, 3, 5], 2), new Blob([2, 2, 2, 2])],
      tops(1), { bottoms: [0] });
  });
});

describe('Eltwise', () => {
  const abc = () => [randomBlob([2, 3, 2], 1), randomBlob([2, 3, 2], 2), randomBlob([2, 3, 2], 3)];

  it('computes PROD, SUM with coeff and MAX', () => {
    const [a, b, c] = abc();
    const [p] = run(make('Eltwise', { eltwise_param: { operation: 'PROD' } }), [a, b, c]);
    const [s] = run(make('Eltwise', { eltwise_param: { operation: 'SUM', coeff: [1, -0.5, 2] } }), [a, b, c]);
    const [m] = run(make('Eltwise', { eltwise_param: { operation: 'MAX' } }), [a, b, c]);
    for (let i = 0; i < a.count; i++) {
      expect(p.data[i]).toBeCloseTo(a.data[i] * b.data[i] * c.data[i], 6);
      expect(s.data[i]).toBeCloseTo(a.data[i] - 0.5 * b.data[i] + 2 * c.data[i], 6);
      expect(m.data[i]).toBe(Math.max(a.data[i], b.data[i], c.data[i]));
    }
  });

  it('in place SUM gives what Caffe gives (the top is cleared before bottom[0] is read)', () => {
    const a = blobOf([3], [1, 2, 3]);
    const b = blobOf([3], [10, 20, 30]);
    const layer = make('Eltwise');
    layer.setUp([a, b], [a]);
    layer.forward([a, b], [a]);
    expect(Array.from(a.data)).toEqual([10, 20, 30]);
  });

  /**
   * Caffe's SUM on views of one buffer (as the inference arena gives): zero the top, then add
   * c * bottom[i] in turn. A bottom that is the top blob itself reads the top as it then is
   * (Caffe's in-place use); any other bottom reads its values from before the layer ran (Caffe
   * would have given it a buffer of its own).
   */
  function caffeSum(before: Float32Array, offsets: number[], isTop: boolean[], coeffs: number[], n: number): Float32Array {
    const ref = before.slice();
    const [to, ...bs] = offsets;
    for (let k = 0; k < n; k++) ref[to + k] = 0;
    bs.forEach((bo, i) => {
      const src = isTop[i] ? ref : before;
      for (let k = 0; k < n; k++) ref[to + k] += coeffs[i] * src[bo + k];
    });
    return ref;
  }

  // Bottoms and top as views of one arena, at the given float offsets (top first); one blob per
  // offset unless `distinct`, which gives every view its own blob.
  function arenaCase(offsets: number[], coeffs: number[] | null, n: number, distinct = false) {
    const r = rng(offsets.length * 131 + n);
    const arena = new Float32Array(Math.max(...offsets) + n).map(() => r() * 2 - 1);
    const before = arena.slice();
    const blobs = new Map<number, Blob>();
    const view = (o: number) => {
      if (distinct || !blobs.has(o)) {
        const b = new Blob([n]);
        b.useDataStore(arena.subarray(o, o + n));
        blobs.set(o, b);
      }
      return blobs.get(o)!;
    };
    const [top, ...bottom] = offsets.map(view);
    const layer = make('Eltwise', coeffs ? { eltwise_param: { coeff: coeffs } } : {});
    layer.setUp(bottom, [top]);
    layer.forward(bottom, [top]);
    const want = caffeSum(before, offsets, bottom.map((b) => b === top), coeffs ?? bottom.map(() => 1), n);
    return { got: arena, want };
  }

  it('SUM on views of one arena: disjoint (the SIMD add), in place on either bottom (Caffe\'s order), and other blobs over the top\'s storage (read as before)', () => {
    const n = 1000; // past SIMD_MIN, so the SIMD add runs when the views are disjoint
    for (const offsets of [[0, 1000, 2000], [2000, 0, 1000], [0, 0, 1000], [1000, 0, 1000], [500, 0, 1000], [0, 1000, 2000, 3000]]) {
      for (const coeffs of [null, offsets.length === 3 ? [1, -0.5] : [1, -0.5, 2]]) {
        for (const distinct of [false, true]) {
          const { got, want } = arenaCase(offsets, coeffs, n, distinct);
          expect(Array.from(got), `offsets ${offsets} coeffs ${coeffs} distinct ${distinct}`).toEqual(Array.from(want));
        }
      }
    }
  });

  it('MAX ties go to bottom[1] of the first pair, then stay', () => {
    const a = blobOf([2], [1, 1]);
    const b = blobOf([2], [1, 0]);
    const c = blobOf([2], [1, 1]);
    const layer = make('Eltwise', { eltwise_param: { operation: 'MAX' } });
    const [y] = run(layer, [a, b, c]);
    y.diff.set([1, 1]);
    layer.backward([y], [true, true, true], [a, b, c]);
    expect(Array.from(a.diff)).toEqual([0, 1]);
    expect(Array.from(b.diff)).toEqual([1, 0]);
    expect(Array.from(c.diff)).toEqual([0, 0]);
  });

  it('rejects a wrong number of coeffs, coeff with PROD and mismatched shapes', () => {
    setupError(make('Eltwise', { eltwise_param: { coeff: [1] } }), [new Blob([2]), new Blob([2])]);
    setupError(make('Eltwise', { eltwise_param: { operation: 'PROD', coeff: [1, 1] } }), [new Blob([2]), new Blob([2])]);
    expect(setupError(make('Eltwise'), [new Blob([2, 3]), new Blob([3, 2])]).message).toContain('(3,2)');
  });

  it('gradient PROD (stable)', () => {
    checkGradient(make('Eltwise', { eltwise_param: { operation: 'PROD' } }), abc(), tops(1));
  });
  it('gradient PROD (unstable: top / bottom)', () => {
    const bottoms = [randomBlob([2, 3], 4, 0.5, 1.5), randomBlob([2, 3], 5, 0.5, 1.5), randomBlob([2, 3], 6, -1.5, -0.5)];
    checkGradient(make('Eltwise', { eltwise_param: { operation: 'PROD', stable_prod_grad: false } }), bottoms, tops(1));
  });
  it('gradient SUM with coeff', () => {
    checkGradient(make('Eltwise', { eltwise_param: { operation: 'SUM', coeff: [1, -0.5, 2] } }), abc(), tops(1));
  });
  it('gradient MAX', () => {
    // Well separated values so that a step never changes the winner.
    const r = rng(9);
    const perm = iota(36).sort(() => r() - 0.5);
    const bottoms = [0, 1, 2].map((k) => blobOf([2, 3, 2], perm.slice(k * 12, k * 12 + 12).map((v) => v * 0.1)));
    checkGradient(make('Eltwise', { eltwise_param: { operation: 'MAX' } }), bottoms, tops(1), { stepsize: 1e-3, threshold: 1e-2 });
  });
});

describe('Filter', () => {
  it('forwards the selected items and resizes the tops', () => {
    const x = blobOf([4, 2], iota(8));
    const z = blobOf([4, 1], [10, 11, 12, 13]);
    const sel = blobOf([4], [0, 1, 0, 1]);
    const layer = make('Filter');
    const t = tops(2);
    layer.setUp([x, z, sel], t);
    expect(t[0].shape).toEqual([4, 2]);
    layer.forward([x, z, sel], t);
    expect(t[0].shape).toEqual([2, 2]);
    expect(Array.from(t[0].data)).toEqual([2, 3, 6, 7]);
    expect(Array.from(t[1].data)).toEqual([11, 13]);
    t[0].diff.set([1, 2, 3, 4]);
    x.diff.fill(9);
    layer.backward(t, [true, false, false], [x, z, sel]);
    expect(Array.from(x.diff)).toEqual([0, 0, 1, 2, 0, 0, 3, 4]);
    expect(() => layer.backward(t, [true, false, true], [x, z, sel])).toThrow(LayerError);
  });

  it('rejects bad selectors and top counts', () => {
    setupError(make('Filter'), [new Blob([4, 2]), new Blob([4, 2])]);
    setupError(make('Filter'), [new Blob([4, 2]), new Blob([3])]);
    setupError(make('Filter'), [new Blob([4, 2]), new Blob([4])], 2);
  });

  it('gradient', () => {
    const sel = blobOf([4, 1, 1], [1, 0, 1, 1]);
    checkGradient(make('Filter'), [randomBlob([4, 3, 2], 1), randomBlob([4, 2], 2), sel], tops(2), { bottoms: [0, 1] });
  });
});

describe('Tile', () => {
  it('repeats blocks along the axis', () => {
    const x = blobOf([2, 2], [1, 2, 3, 4]);
    const [y] = run(make('Tile', { tile_param: { tiles: 2 } }), [x]);
    expect(y.shape).toEqual([2, 4]);
    expect(Array.from(y.data)).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
    const [z] = run(make('Tile', { tile_param: { axis: 0, tiles: 2 } }), [x]);
    expect(z.shape).toEqual([4, 2]);
    expect(Array.from(z.data)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
  });

  it('requires a positive tiles', () => {
    setupError(make('Tile'), [new Blob([2, 2])]);
    setupError(make('Tile', { tile_param: { tiles: 0 } }), [new Blob([2, 2])]);
  });

  for (const axis of [0, 1, -1]) {
    it(`gradient along axis ${axis}`, () => {
      checkGradient(make('Tile', { tile_param: { axis, tiles: 3 } }), [randomBlob([2, 2, 3], 5)], tops(1));
    });
  }
});

describe('BatchReindex', () => {
  it('picks items by index, repeats allowed', () => {
    const x = blobOf([3, 2], iota(6));
    const idx = blobOf([4], [2, 0, 2, 1]);
    const layer = make('BatchReindex');
    const [y] = run(layer, [x, idx]);
    expect(y.shape).toEqual([4, 2]);
    expect(Array.from(y.data)).toEqual([4, 5, 0, 1, 4, 5, 2, 3]);
    y.diff.set([1, 1, 2, 2, 3, 3, 4, 4]);
    layer.backward([y], [true, false], [x, idx]);
    expect(Array.from(x.diff)).toEqual([2, 2, 4, 4, 4, 4]);
  });

  it('rejects out-of-range indices and non-1-D index blobs', () => {
    expect(setupError(make('BatchReindex'), [new Blob([3, 2]), blobOf([1], [3])]).message).toContain('batch size');
    setupError(make('BatchReindex'), [new Blob([3, 2]), blobOf([1], [-1])]);
    setupError(make('BatchReindex'), [new Blob([3, 2]), new Blob([1, 1])]);
  });

  it('gradient', () => {
    checkGradient(make('BatchReindex'), [randomBlob([3, 2, 2], 1), blobOf([5], [0, 2, 2, 1, 0])], tops(1), { bottoms: [0] });
  });
});

describe('ArgMax', () => {
  const x = () => blobOf([2, 4], [0.1, 0.9, 0.3, 0.9, 5, -1, 2, 3]);

  it('default: index of the max per item, top (N,1,1); ties to the larger index', () => {
    const [y] = run(make('ArgMax'), [x()]);
    expect(y.shape).toEqual([2, 1, 1]);
    expect(Array.from(y.data)).toEqual([3, 0]);
  });

  it('top_k with out_max_val: indices then values, top (N,2,k)', () => {
    const [y] = run(make('ArgMax', { argmax_param: { top_k: 2, out_max_val: true } }), [x()]);
    expect(y.shape).toEqual([2, 2, 2]);
    expect(Array.from(y.data)).toEqual([3, 1, 0.9, 0.9, 0, 3, 5, 3].map(Math.fround));
  });

  it('along an axis', () => {
    const b = blobOf([2, 3, 2], [1, 6, 2, 5, 3, 4, 9, 0, 8, 1, 7, 2]);
    const [y] = run(make('ArgMax', { argmax_param: { axis: 1, top_k: 2 } }), [b]);
    expect(y.shape).toEqual([2, 2, 2]);
    expect(Array.from(y.data)).toEqual([2, 0, 1, 1, 0, 2, 1, 1]);
    const [v] = run(make('ArgMax', { argmax_param: { axis: 1, out_max_val: true } }), [b]);
    expect(v.shape).toEqual([2, 1, 2]);
    expect(Array.from(v.data)).toEqual([3, 6, 9, 2]);
  });

  it('rejects top_k beyond the size', () => {
    setupError(make('ArgMax', { argmax_param: { top_k: 5 } }), [x()]);
    setupError(make('ArgMax', { argmax_param: { top_k: 3, axis: 0 } }), [x()]);
  });
});

describe('Reduction', () => {
  const x = () => blobOf([2, 3], [1, -2, 3, -4, 5, -6]);
  const val = (op: string, axis = 0, coeff = 1) => {
    const [y] = run(make('Reduction', { reduction_param: { operation: op, axis, coeff } }), [x()]);
    return { shape: y.shape, data: Array.from(y.data) };
  };

  it('computes every op to a scalar by default and per leading index with axis', () => {
    expect(val('SUM')).toEqual({ shape: [], data: [-3] });
    expect(val('ASUM')).toEqual({ shape: [], data: [21] });
    expect(val('SUMSQ')).toEqual({ shape: [], data: [91] });
    expect(val('MEAN').data[0]).toBeCloseTo(-0.5, 6);
    expect(val('SUM', 1, 2)).toEqual({ shape: [2], data: [4, -10] });
    expect(val('ASUM', -1)).toEqual({ shape: [2], data: [6, 15] });
    expect(val('MEAN', 1, 3).data).toEqual([2, -5]);
  });

  for (const op of ['SUM', 'ASUM', 'SUMSQ', 'MEAN']) {
    for (const axis of [0, 1, -1]) {
      it(`gradient ${op} axis ${axis}`, () => {
        checkGradient(make('Reduction', { reduction_param: { operation: op, axis, coeff: 1.5 } }), [randomBlob([2, 3, 2], 3)], tops(1),
          { kink: 0, kinkRange: op === 'ASUM' ? 0.02 : -1 });
      });
    }
  }
});

describe('Input', () => {
  it('shapes all tops from one shape or one per top', () => {
    const t = tops(2);
    make('Input', { input_param: { shape: [{ dim: [2, 3] }] } }).setUp([], t);
    expect(t[0].shape).toEqual([2, 3]);
    expect(t[1].shape).toEqual([2, 3]);
    const u = tops(2);
    make('Input', { input_param: { shape: [{ dim: [2] }, { dim: [4, 1] }] } }).setUp([], u);
    expect(u[1].shape).toEqual([4, 1]);
  });

  it('rejects a shape count that is neither 1 nor the top count', () => {
    expect(() => make('Input', { input_param: { shape: [{ dim: [1] }, { dim: [2] }] } }).setUp([], tops(3))).toThrow(LayerError);
  });

  it('forward leaves the tops alone', () => {
    const t = tops(1);
    const layer = make('Input', { input_param: { shape: [{ dim: [3] }] } });
    layer.setUp([], t);
    t[0].data.set([1, 2, 3]);
    layer.forward([], t);
    expect(Array.from(t[0].data)).toEqual([1, 2, 3]);
  });
});

describe('Parameter', () => {
  it('exposes its blob as top, sharing data and diff', () => {
    const layer = make('Parameter', { parameter_param: { shape: { dim: [2, 3] } } });
    const [p] = run(layer, []);
    expect(layer.blobs.length).toBe(1);
    expect(layer.blobs[0].shape).toEqual([2, 3]);
    expect(p.shape).toEqual([2, 3]);
    expect(p.data).toBe(layer.blobs[0].data);
    expect(p.diff).toBe(layer.blobs[0].diff);
    expect(Array.from(p.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('DummyData', () => {
  it('fills with constant 0 by default, once', () => {
    const layer = make('DummyData', { dummy_data_param: { shape: [{ dim: [2, 2] }] } });
    const t = tops(2);
    layer.setUp([], t);
    expect(t[1].shape).toEqual([2, 2]);
    expect(Array.from(t[0].data)).toEqual([0, 0, 0, 0]);
    t[0].data.fill(7);
    layer.forward([], t);
    expect(Array.from(t[0].data)).toEqual([7, 7, 7, 7]);
  });

  it('uses one filler per top and the legacy 4-D fields', () => {
    const layer = make('DummyData', {
      dummy_data_param: {
        num: [1, 2], channels: [1], height: [2], width: [1],
        data_filler: [{ type: 'constant', value: 0.5 }, { type: 'constant', value: -1 }],
      },
    });
    const t = tops(2);
    layer.setUp([], t);
    expect(t[0].shape).toEqual([1, 1, 2, 1]);
    expect(t[1].shape).toEqual([2, 1, 2, 1]);
    expect(Array.from(t[0].data)).toEqual([0.5, 0.5]);
    expect(Array.from(t[1].data)).toEqual([-1, -1, -1, -1]);
  });

  it('refills non-constant tops on every forward, constant ones never', () => {
    const layer = make('DummyData', {
      dummy_data_param: {
        shape: [{ dim: [50] }],
        data_filler: [{ type: 'uniform', min: 1, max: 2 }, { type: 'constant', value: 3 }],
      },
    });
    const t = tops(2);
    layer.setUp([], t);
    // Caffe's setup pass fills only the constant tops.
    expect(Array.from(t[0].data).every((v) => v === 0)).toBe(true);
    expect(Array.from(t[1].data).every((v) => v === 3)).toBe(true);
    t[1].data.fill(9);
    layer.forward([], t);
    const first = Array.from(t[0].data);
    expect(first.every((v) => v >= 1 && v <= 2)).toBe(true);
    expect(Array.from(t[1].data).every((v) => v === 9)).toBe(true);
    layer.forward([], t);
    expect(Array.from(t[0].data)).not.toEqual(first);
  });

  it('rejects inconsistent shapes and filler counts', () => {
    expect(() => make('DummyData', { dummy_data_param: { shape: [{ dim: [1] }, { dim: [2] }] } }).setUp([], tops(3))).toThrow(LayerError);
    expect(() => make('DummyData', { dummy_data_param: { num: [1], channels: [1], height: [1] } }).setUp([], tops(1))).toThrow(LayerError);
    expect(() => make('DummyData', { dummy_data_param: { shape: [{ dim: [1] }], num: [1], channels: [1], height: [1], width: [1] } })
      .setUp([], tops(1))).toThrow(LayerError);
    expect(() => make('DummyData', {
      dummy_data_param: { shape: [{ dim: [1] }], data_filler: [{ value: 1 }, { value: 2 }] },
    }).setUp([], tops(3))).toThrow(LayerError);
  });
});

/** Values 0.1 apart in random order, so that small steps never change a max. */
function distinctBlob(shape: number[], seed: number): Blob {
  const b = new Blob(shape);
  const r = rng(seed);
  const perm = iota(b.count).sort(() => r() - 0.5);
  b.data.set(perm.map((v) => (v - b.count / 2) * 0.1));
  return b;
}

describe('Pooling', () => {
  const pool = (extra: Record<string, unknown>, phase = TEST) => make('Pooling', { pooling_param: extra }, phase);
  const ones = (h: number, w: number) => blobOf([1, 1, h, w], new Array(h * w).fill(1));

  it('AVE divides by the window clipped to the padded image', () => {
    const [y] = run(pool({ pool: 'AVE', kernel_size: 3, stride: 2, pad: 1 }), [ones(4, 4)]);
    expect(y.shape).toEqual([1, 1, 3, 3]);
    const want = [4 / 9, 6 / 9, 2 / 6, 6 / 9, 1, 3 / 6, 2 / 6, 3 / 6, 1 / 4];
    want.forEach((v, i) => expect(y.data[i]).toBeCloseTo(v, 6));
    const [z] = run(pool({ pool: 'AVE', kernel_size: 3, stride: 2, pad: 1 }), [ones(3, 3)]);
    expect(z.shape).toEqual([1, 1, 2, 2]);
    for (const v of z.data) expect(v).toBeCloseTo(4 / 9, 6);
  });

  it('rounds the output size up, dropping a last window that starts in the trailing padding', () => {
    expect(run(pool({ kernel_size: 2, stride: 2, pad: 1 }), [new Blob([1, 1, 5, 5])])[0].shape).toEqual([1, 1, 3, 3]);
    expect(run(pool({ kernel_size: 3, stride: 2 }), [new Blob([1, 1, 4, 6])])[0].shape).toEqual([1, 1, 2, 3]);
    expect(run(pool({ kernel_size: 3, stride: 2, round_mode: 'FLOOR' }), [new Blob([1, 1, 4, 6])])[0].shape).toEqual([1, 1, 1, 2]);
    expect(run(pool({ kernel_h: 2, kernel_w: 3, stride_h: 1, stride_w: 2 }), [new Blob([2, 3, 4, 5])])[0].shape).toEqual([2, 3, 3, 2]);
  });

  it('MAX writes the max and, with a second top, its index in the plane', () => {
    const x = blobOf([1, 2, 3, 3], [1, 5, 2, 7, 3, 0, 4, 8, 6, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
    const [y, m] = run(pool({ kernel_size: 2, stride: 1 }), [x], 2);
    expect(Array.from(y.data)).toEqual([7, 5, 8, 8, -1, -2, -4, -5]);
    expect(Array.from(m.data)).toEqual([3, 1, 7, 7, 0, 1, 3, 4]);
    const [g] = run(pool({ pool: 'MAX', global_pooling: true }), [x]);
    expect(g.shape).toEqual([1, 2, 1, 1]);
    expect(Array.from(g.data)).toEqual([8, -1]);
    const [a] = run(pool({ pool: 'AVE', global_pooling: true }), [x]);
    expect(a.data[0]).toBeCloseTo(36 / 9, 6);
  });

  it('STOCHASTIC in TEST takes sum(x^2)/sum(x); TRAIN is refused', () => {
    const x = blobOf([1, 1, 2, 2], [1, 2, 3, 4]);
    const [y] = run(pool({ pool: 'STOCHASTIC', kernel_size: 2 }), [x]);
    expect(y.data[0]).toBeCloseTo(30 / 10, 6);
    expect(setupError(pool({ pool: 'STOCHASTIC', kernel_size: 2 }, TRAIN), [x]).message).toContain('STOCHASTIC');
  });

  it('rejects bad parameters and bottoms', () => {
    const x = () => new Blob([1, 1, 4, 4]);
    setupError(pool({}), [x()]);
    setupError(pool({ kernel_size: 2, kernel_h: 2, kernel_w: 2 }), [x()]);
    setupError(pool({ kernel_h: 2 }), [x()]);
    setupError(pool({ kernel_size: 2, pad: 2 }), [x()]);
    setupError(pool({ kernel_size: 2, pad: 1, pad_h: 1, pad_w: 1 }), [x()]);
    setupError(pool({ global_pooling: true, kernel_size: 2 }), [x()]);
    setupError(pool({ global_pooling: true, stride: 2 }), [x()]);
    setupError(pool({ pool: 'STOCHASTIC', kernel_size: 2, pad: 1 }), [x()]);
    setupError(pool({ kernel_size: 2 }), [new Blob([1, 4, 4])]);
    setupError(pool({ kernel_size: 5 }), [new Blob([1, 1, 3, 3])]);
    expect(() => pool({ pool: 'AVE', kernel_size: 2 }).setUp([x()], tops(2))).toThrow(LayerError);
  });

  it('MAX 3x3 (the written-out three-wide windows) scans as Caffe: first max wins, NaN never, all -inf gives -FLT_MAX at -1', () => {
    const FLT_MAX = 3.4028234663852886e38;
    const r = rng(21);
    const [H, W] = [7, 9];
    const x = new Blob([1, 2, H, W]);
    // Few distinct values (many ties), some NaN, one plane window of -Infinity.
    for (let i = 0; i < x.count; i++) x.data[i] = [0, 0, 1, -1, 2, NaN][Math.floor(r() * 6)];
    for (const i of [0, 1, 2, W, W + 1, W + 2, 2 * W, 2 * W + 1, 2 * W + 2]) x.data[H * W + i] = -Infinity;
    for (const p of [{ kernel_size: 3, stride: 1, pad: 1 }, { kernel_size: 3, stride: 2 }, { kernel_h: 3, kernel_w: 2, stride: 2 }]) {
      const [y, mask] = run(pool({ pool: 'MAX', ...p }), [x], 2);
      const [y1] = run(pool({ pool: 'MAX', ...p }), [x]);
      expect(Array.from(y1.data)).toEqual(Array.from(y.data));
      const kh = 3;
      const kw = 'kernel_w' in p ? 2 : 3;
      const pad = 'pad' in p ? p.pad : 0;
      const [PH, PW] = [y.shape[2], y.shape[3]];
      for (let c = 0; c < 2; c++) {
        for (let ph = 0; ph < PH; ph++) {
          for (let pw = 0; pw < PW; pw++) {
            let best = -FLT_MAX;
            let arg = -1;
            for (let h = Math.max(ph * p.stride - pad, 0); h < Math.min(ph * p.stride - pad + kh, H); h++) {
              for (let w = Math.max(pw * p.stride - pad, 0); w < Math.min(pw * p.stride - pad + kw, W); w++) {
                const v = x.data[c * H * W + h * W + w];
                if (v > best) {
                  best = v;
                  arg = h * W + w;
                }
              }
            }
            const o = (c * PH + ph) * PW + pw;
            expect(y.data[o]).toBe(Math.fround(best));
            expect(mask.data[o]).toBe(arg);
          }
        }
      }
    }
  });

  it('gradient MAX with padding and ceil rounding', () => {
    checkGradient(pool({ pool: 'MAX', kernel_size: 3, stride: 2, pad: 1 }), [distinctBlob([2, 2, 5, 5], 3)], tops(1), { stepsize: 1e-3, threshold: 1e-2 });
  });
  it('gradient MAX with a mask top', () => {
    checkGradient(pool({ pool: 'MAX', kernel_size: 2, stride: 2, pad: 1 }), [distinctBlob([1, 2, 5, 4], 4)], tops(2), { stepsize: 1e-3, threshold: 1e-2 });
  });
  it('gradient AVE with padding and ceil rounding', () => {
    checkGradient(pool({ pool: 'AVE', kernel_size: 3, stride: 2, pad: 1 }), [randomBlob([2, 2, 4, 5], 5)], tops(1));
  });
  it('gradient AVE rectangular', () => {
    checkGradient(pool({ pool: 'AVE', kernel_h: 2, kernel_w: 3, stride_h: 1, stride_w: 2 }), [randomBlob([1, 2, 4, 5], 6)], tops(1));
  });
  it('gradient global MAX and AVE', () => {
    checkGradient(pool({ pool: 'MAX', global_pooling: true }), [distinctBlob([2, 2, 3, 3], 7)], tops(1), { stepsize: 1e-3, threshold: 1e-2 });
    checkGradient(pool({ pool: 'AVE', global_pooling: true }), [randomBlob([2, 2, 3, 3], 8)], tops(1));
  });
});

describe('SPP', () => {
  const spp = (pyramid_height: number, p: string) => make('SPP', { spp_param: { pyramid_height, pool: p } });

  it('concatenates flattened pyramid levels', () => {
    const x = distinctBlob([2, 3, 8, 8], 1);
    const [y] = run(spp(3, 'MAX'), [x]);
    expect(y.shape).toEqual([2, 3 * 21]);
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 3; c++) {
        const plane = x.data.subarray((n * 3 + c) * 64, (n * 3 + c + 1) * 64);
        // level 0: the global max; level 1: quadrant maxes (offset C*1)
        expect(y.data[n * 63 + c]).toBe(Math.max(...plane));
        const q = (qh: number, qw: number) => {
          let m = -Infinity;
          for (let h = qh * 4; h < qh * 4 + 4; h++) for (let w = qw * 4; w < qw * 4 + 4; w++) m = Math.max(m, plane[h * 8 + w]);
          return m;
        };
        expect(y.data[n * 63 + 3 + c * 4 + 3]).toBe(q(1, 1));
        expect(y.data[n * 63 + 3 + c * 4 + 1]).toBe(q(0, 1));
      }
    }
  });

  it('with pyramid_height 1 is one pooling to (N, C, 1, 1)', () => {
    const x = randomBlob([2, 3, 5, 4], 2);
    const [y] = run(spp(1, 'AVE'), [x]);
    expect(y.shape).toEqual([2, 3, 1, 1]);
    let s = 0;
    for (let i = 0; i < 20; i++) s += x.data[i];
    expect(y.data[0]).toBeCloseTo(s / 20, 5);
  });

  it('follows the inner Pooling checks (a pad not smaller than the kernel fails, as in Caffe)', () => {
    expect(setupError(spp(3, 'MAX'), [new Blob([1, 1, 5, 5])]).message).toContain('pad');
    setupError(spp(2, 'MAX'), [new Blob([1, 5, 5])]);
  });

  it('reshapes when the bottom changes', () => {
    const layer = spp(2, 'AVE');
    const x = randomBlob([1, 2, 4, 4], 3);
    const t = run(layer, [x]);
    expect(t[0].shape).toEqual([1, 10]);
    x.reshape([3, 2, 6, 6]);
    layer.forward([x], t);
    expect(t[0].shape).toEqual([3, 10]);
  });

  it('gradient MAX', () => {
    checkGradient(spp(2, 'MAX'), [distinctBlob([2, 2, 5, 5], 4)], tops(1), { stepsize: 1e-3, threshold: 1e-2 });
  });
  it('gradient AVE', () => {
    checkGradient(spp(3, 'AVE'), [randomBlob([1, 2, 4, 4], 5)], tops(1));
  });
});

describe('InnerProduct with frozen weights (packed, transposed product at small batches)', () => {
  it('gives the unfrozen forward, for both weight layouts and batches 1..20', async () => {
    const { Net } = await import('../src/graph/net.js');
    const { parseText } = await import('../src/format/text.js');
    for (const transpose of [false, true]) {
      for (const batch of [1, 3, 16, 17]) {
        const text = `layer { name: "in" type: "Input" top: "x" input_param { shape { dim: ${batch} dim: 37 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 300 transpose: ${transpose}
  weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "uniform" min: -1 max: 1 } } }`;
        const net = new Net(parseText(text, 'NetParameter'), { phase: 'TEST' });
        const x = new Float32Array(batch * 37).map((_, i) => Math.cos(i * 1.7) * 3);
        net.forward({ x: { shape: [batch, 37], data: x } });
        const want = Float32Array.from(net.blob('y').data);
        net.freezeWeights();
        for (let pass = 0; pass < 2; pass++) {
          net.forward({ x: { shape: [batch, 37], data: x } });
          // The same dot products in the same order: the same bits.
          expect(net.blob('y').data, `transpose ${transpose} batch ${batch} pass ${pass}`).toEqual(want);
        }
        net.thawWeights();
      }
    }
  });
});
