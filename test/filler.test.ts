import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { encodeMessage } from '../src/format/binary.js';
import { Blob } from '../src/graph/blob.js';
import { fillBlob } from '../src/graph/filler.js';
import { Rng, globalRng, setSeed } from '../src/kernels/rng.js';
import { CaffeError } from '../src/util/errors.js';
import { fromObject } from '../src/proto/schema.js';

const filler = (obj: Record<string, unknown>) => fromObject('FillerParameter', obj);

function stats(a: ArrayLike<number>): { mean: number; variance: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    s += a[i];
    min = Math.min(min, a[i]);
    max = Math.max(max, a[i]);
  }
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - mean) ** 2;
  return { mean, variance: v / a.length, min, max };
}

describe('rng', () => {
  it('is MT19937: the reference outputs of std::mt19937', () => {
    const r = new Rng(5489);
    expect(r.nextUint32()).toBe(3499211612);
    for (let i = 1; i < 9999; i++) r.nextUint32();
    expect(r.nextUint32()).toBe(4123659995); // the C++ standard's 10000th value
  });

  it('setSeed makes the global stream reproducible', () => {
    setSeed(1701);
    const a = Array.from({ length: 5 }, () => globalRng().gaussian());
    setSeed(1701);
    const b = Array.from({ length: 5 }, () => globalRng().gaussian());
    expect(a).toEqual(b);
    setSeed(1702);
    expect(Array.from({ length: 5 }, () => globalRng().gaussian())).not.toEqual(a);
  });

  it('uniform, gaussian and bernoulli have the right moments', () => {
    const r = new Rng(7);
    const n = 50000;
    const u = new Float64Array(n);
    r.fillUniform(u, -2, 3);
    const su = stats(u);
    expect(su.min).toBeGreaterThanOrEqual(-2);
    expect(su.max).toBeLessThan(3);
    expect(su.mean).toBeCloseTo(0.5, 1);
    expect(su.variance).toBeCloseTo(25 / 12, 1);
    const g = new Float64Array(n);
    r.fillGaussian(g, 1.5, 2);
    const sg = stats(g);
    expect(sg.mean).toBeCloseTo(1.5, 1);
    expect(Math.sqrt(sg.variance)).toBeCloseTo(2, 1);
    const b = new Float64Array(n);
    r.fillBernoulli(b, 0.3);
    expect(b.every((x) => x === 0 || x === 1)).toBe(true);
    expect(stats(b).mean).toBeCloseTo(0.3, 1.5);
  });
});

describe('fillers', () => {
  it('constant (and the default when no filler is given)', () => {
    const b = new Blob([2, 3]);
    fillBlob(b, filler({ type: 'constant', value: 2.5 }));
    expect(Array.from(b.data)).toEqual([2.5, 2.5, 2.5, 2.5, 2.5, 2.5]);
    fillBlob(b, null);
    expect(Array.from(b.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('uniform(min, max)', () => {
    setSeed(1);
    const b = new Blob([100, 200]);
    fillBlob(b, filler({ type: 'uniform', min: 1, max: 2 }));
    const s = stats(b.data);
    expect(s.min).toBeGreaterThanOrEqual(1);
    expect(s.max).toBeLessThanOrEqual(2);
    expect(s.mean).toBeCloseTo(1.5, 2);
    expect(s.variance).toBeCloseTo(1 / 12, 2);
  });

  it('gaussian(mean, std), dense and sparse', () => {
    setSeed(2);
    const b = new Blob([100, 200]);
    fillBlob(b, filler({ type: 'gaussian', mean: 1, std: 0.5 }));
    const s = stats(b.data);
    expect(s.mean).toBeCloseTo(1, 2);
    expect(Math.sqrt(s.variance)).toBeCloseTo(0.5, 2);

    // sparse = 25 of 100 outputs: a quarter of the values survive.
    const sp = new Blob([100, 400]);
    fillBlob(sp, filler({ type: 'gaussian', mean: 0, std: 1, sparse: 25 }));
    let nonZero = 0;
    for (const x of sp.data) if (x !== 0) nonZero++;
    expect(nonZero / sp.count).toBeCloseTo(0.25, 1.5);
    const kept = sp.data.filter((x) => x !== 0);
    expect(Math.sqrt(stats(kept).variance)).toBeCloseTo(1, 1);
  });

  it('positive_unitball: rows in [0, 1] summing to 1', () => {
    setSeed(3);
    const b = new Blob([10, 3, 4, 5]);
    fillBlob(b, filler({ type: 'positive_unitball' }));
    for (let i = 0; i < 10; i++) {
      let s = 0;
      for (let j = 0; j < 60; j++) {
        const x = b.data[i * 60 + j];
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
        s += x;
      }
      expect(s).toBeCloseTo(1, 5);
    }
  });

  // shape [64, 32, 5, 5]: fan_in = 32 * 25 = 800, fan_out = 64 * 25 = 1600.
  const fans: [string, number][] = [
    ['FAN_IN', 800],
    ['FAN_OUT', 1600],
    ['AVERAGE', 1200],
  ];
  for (const [norm, n] of fans) {
    it(`xavier and msra with variance_norm ${norm}`, () => {
      setSeed(4);
      const b = new Blob([64, 32, 5, 5]);
      fillBlob(b, filler({ type: 'xavier', variance_norm: norm }));
      const scale = Math.sqrt(3 / n);
      const s = stats(b.data);
      expect(s.min).toBeGreaterThanOrEqual(-scale - 1e-7);
      expect(s.max).toBeLessThanOrEqual(scale + 1e-7);
      expect(s.mean).toBeCloseTo(0, 3);
      expect(s.variance / (scale * scale / 3)).toBeCloseTo(1, 1);

      fillBlob(b, filler({ type: 'msra', variance_norm: norm }));
      const m = stats(b.data);
      expect(m.mean).toBeCloseTo(0, 2);
      expect(m.variance / (2 / n)).toBeCloseTo(1, 1);
    });
  }

  it('xavier on a 2-D (InnerProduct) and a 1-D blob', () => {
    setSeed(5);
    const b = new Blob([100, 300]); // fan_in 300, fan_out 100
    fillBlob(b, filler({ type: 'xavier', variance_norm: 'FAN_OUT' }));
    expect(stats(b.data).variance / (1 / 100)).toBeCloseTo(1, 1);
    const v = new Blob([5000]); // 1-D: fan_in = 1, fan_out = count
    fillBlob(v, filler({ type: 'msra', variance_norm: 'FAN_OUT' }));
    expect(stats(v.data).variance / (2 / 5000)).toBeCloseTo(1, 1);
  });

  it('bilinear: exact upsampling kernels', () => {
    const b = new Blob([1, 1, 4, 4]);
    fillBlob(b, filler({ type: 'bilinear' }));
    const k1 = [0.25, 0.75, 0.75, 0.25];
    const want4 = k1.flatMap((y) => k1.map((x) => Math.fround(x * y)));
    expect(Array.from(b.data)).toEqual(want4);

    const c = new Blob([2, 1, 3, 3]);
    fillBlob(c, filler({ type: 'bilinear' }));
    const k3 = [0.5, 1, 0.5];
    const want3 = k3.flatMap((y) => k3.map((x) => x * y));
    expect(Array.from(c.data)).toEqual([...want3, ...want3]);

    expect(() => fillBlob(new Blob([1, 1, 3, 4]), filler({ type: 'bilinear' }))).toThrow(/square/);
    expect(() => fillBlob(new Blob([3, 3]), filler({ type: 'bilinear' }))).toThrow(/4-D/);
  });

  it('rejects unknown types and sparse outside gaussian', () => {
    const b = new Blob([2, 2]);
    expect(() => fillBlob(b, filler({ type: 'nonsense' }))).toThrow(CaffeError);
    expect(() => fillBlob(b, filler({ type: 'nonsense' }))).toThrow(/unknown filler type 'nonsense'/);
    expect(() => fillBlob(b, filler({ type: 'uniform', sparse: 1 }))).toThrow(/sparse/);
    expect(() => fillBlob(b, filler({ type: 'uniform', min: 2, max: 1 }))).toThrow(/min/);
  });
});

describe('fills deferred while weights load (Net.fromFiles)', () => {
  const NET = (filler: string) => `input: "x" input_shape { dim: 1 dim: 4 }
    layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "constant" value: 0.5 } } }
    layer { name: "b" type: "InnerProduct" bottom: "a" top: "b" inner_product_param { num_output: 2 weight_filler { type: "${filler}" } } }`;
  const dir = mkdtempSync(join(tmpdir(), 'caffe-ts-defer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('blobs the file holds get its values, the others their fillers, drawn as an eager build draws them', () => {
    const proto = join(dir, 'net.prototxt');
    writeFileSync(proto, NET('xavier'));
    // A weights file holding layer b only.
    const onlyB = new Net(parseText(NET('xavier'), 'NetParameter'));
    onlyB.layer('b').blobs[0].data.set([1, 2, 3, 4, 5, 6]);
    onlyB.layer('b').blobs[1].data.fill(7);
    const weightsNet = onlyB.toProto();
    weightsNet.layer = weightsNet.layer.filter((l: { name: string }) => l.name === 'b');
    const weights = join(dir, 'b.caffemodel');
    writeFileSync(weights, encodeMessage(weightsNet, 'NetParameter'));

    setSeed(11);
    const eager = Net.fromFile(proto);
    setSeed(11);
    const net = Net.fromFiles(proto, weights);
    expect(Array.from(net.layer('b').blobs[0].data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(net.layer('b').blobs[1].data)).toEqual([7, 7]);
    // Layer a was not in the file: its fillers ran, first in the stream, as in the eager build.
    expect(Array.from(net.layer('a').blobs[0].data)).toEqual(Array.from(eager.layer('a').blobs[0].data));
    expect(Array.from(net.layer('a').blobs[1].data)).toEqual([0.5, 0.5, 0.5]);
  });
  it('a filler Caffe refuses is refused at build time even when the file holds the blob', () => {
    const proto = join(dir, 'bad.prototxt');
    writeFileSync(proto, NET('no_such_filler'));
    const weights = join(dir, 'w.caffemodel');
    const good = new Net(parseText(NET('xavier'), 'NetParameter'));
    writeFileSync(weights, encodeMessage(good.toProto(), 'NetParameter'));
    expect(() => Net.fromFiles(proto, weights)).toThrow(/layer 'b'.*weight_filler: unknown filler type 'no_such_filler'/);
  });
});
