// Convolution, Deconvolution, Im2col, InnerProduct, Embed: forward against direct reference
// loops, finite-difference gradient checks, shapes, errors, and the Caffe reference cases.
import { describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { createLayer } from '../src/layers/index.js';
import type { Layer } from '../src/layers/layer.js';
import { fromObject } from '../src/proto/schema.js';
import { setSeed } from '../src/kernels/rng.js';
import { LayerError } from '../src/util/errors.js';
import { checkGradient, randomBlob } from './gradient-checker.js';
import { layerCaseTests } from './helpers.js';

const gauss = { type: 'gaussian', std: 1 };

function layer(type: string, params: Record<string, unknown>, name = 'L'): Layer {
  setSeed(1234);
  return createLayer(fromObject('LayerParameter', { name, type, ...params }));
}
const conv = (cp: Record<string, unknown>, type = 'Convolution') =>
  layer(type, { convolution_param: { weight_filler: gauss, bias_filler: gauss, ...cp } });

// ---- direct references ---------------------------------------------------------------------

interface Geo {
  kernel: number[];
  pad: number[];
  stride: number[];
  dilation: number[];
  group: number;
}

/** Row-major unravel of idx over dims. */
function unravel(idx: number, dims: number[]): number[] {
  const r = new Array<number>(dims.length);
  for (let i = dims.length - 1; i >= 0; i--) {
    r[i] = idx % dims[i];
    idx = Math.floor(idx / dims[i]);
  }
  return r;
}
const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);

/**
 * Direct N-D grouped convolution (axis 1): y[n, o, p] = b[o] + sum_{c in group, k} w[o, c, k] *
 * x[n, g*Cg + c, p*stride - pad + k*dilation]. With `transposed`, the adjoint map (Deconvolution):
 * every x[n, c, q] scatters w[c, o, k] into y[n, g*Og + o, q*stride - pad + k*dilation].
 */
function directConv(x: Blob, w: Blob, bias: Blob | null, g: Geo, outSpatial: number[], numOutput: number, transposed: boolean): Float64Array {
  const [N, C, ...inSpatial] = x.shape;
  const inS = prod(inSpatial);
  const outS = prod(outSpatial);
  const kS = prod(g.kernel);
  const y = new Float64Array(N * numOutput * outS);
  const nd = inSpatial.length;
  if (!transposed) {
    const Cg = C / g.group;
    const Og = numOutput / g.group;
    for (let n = 0; n < N; n++)
      for (let o = 0; o < numOutput; o++) {
        const grp = Math.floor(o / Og);
        for (let p = 0; p < outS; p++) {
          const pp = unravel(p, outSpatial);
          let s = bias ? bias.data[o] : 0;
          for (let c = 0; c < Cg; c++)
            for (let k = 0; k < kS; k++) {
              const kk = unravel(k, g.kernel);
              let idx = 0;
              let ok = true;
              for (let d = 0; d < nd; d++) {
                const q = pp[d] * g.stride[d] - g.pad[d] + kk[d] * g.dilation[d];
                if (q < 0 || q >= inSpatial[d]) ok = false;
                idx = idx * inSpatial[d] + q;
              }
              if (ok) s += w.data[(o * Cg + c) * kS + k] * x.data[(n * C + grp * Cg + c) * inS + idx];
            }
          y[(n * numOutput + o) * outS + p] = s;
        }
      }
    return y;
  }
  // Deconvolution: weights [C, numOutput/group, ...kernel]
  const Cg = C / g.group;
  const Og = numOutput / g.group;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < numOutput; o++) for (let p = 0; p < outS; p++) y[(n * numOutput + o) * outS + p] = bias ? bias.data[o] : 0;
    for (let c = 0; c < C; c++) {
      const grp = Math.floor(c / Cg);
      for (let q = 0; q < inS; q++) {
        const qq = unravel(q, inSpatial);
        const xv = x.data[(n * C + c) * inS + q];
        for (let o = 0; o < Og; o++)
          for (let k = 0; k < kS; k++) {
            const kk = unravel(k, g.kernel);
            let idx = 0;
            let ok = true;
            for (let d = 0; d < nd; d++) {
              const p = qq[d] * g.stride[d] - g.pad[d] + kk[d] * g.dilation[d];
              if (p < 0 || p >= outSpatial[d]) ok = false;
              idx = idx * outSpatial[d] + p;
            }
            if (ok) y[(n * numOutput + grp * Og + o) * outS + idx] += w.data[(c * Og + o) * kS + k] * xv;
          }
      }
    }
  }
  return y;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-4): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])))) expect.fail(`element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

// ---- Convolution ---------------------------------------------------------------------------

describe('Convolution', () => {
  const configs: { name: string; shape: number[]; cp: Record<string, unknown>; geo: Geo; out: number[]; numOutput: number }[] = [
    { name: '3x3 pad 1 stride 2', shape: [2, 3, 6, 5], cp: { num_output: 4, kernel_size: [3], pad: [1], stride: [2] },
      geo: { kernel: [3, 3], pad: [1, 1], stride: [2, 2], dilation: [1, 1], group: 1 }, out: [3, 3], numOutput: 4 },
    { name: 'group 2, dilation 2', shape: [2, 4, 7, 7], cp: { num_output: 6, kernel_size: [3], pad: [1], dilation: [2], group: 2 },
      geo: { kernel: [3, 3], pad: [1, 1], stride: [1, 1], dilation: [2, 2], group: 2 }, out: [5, 5], numOutput: 6 },
    { name: 'rectangular kernel_h/w, stride_h/w, pad_h/w', shape: [1, 2, 6, 7], cp: { num_output: 3, kernel_h: 3, kernel_w: 2, stride_h: 2, stride_w: 1, pad_h: 1, pad_w: 0 },
      geo: { kernel: [3, 2], pad: [1, 0], stride: [2, 1], dilation: [1, 1], group: 1 }, out: [3, 6], numOutput: 3 },
    { name: '1x1 without bias', shape: [2, 5, 3, 4], cp: { num_output: 3, kernel_size: [1], bias_term: false },
      geo: { kernel: [1, 1], pad: [0, 0], stride: [1, 1], dilation: [1, 1], group: 1 }, out: [3, 4], numOutput: 3 },
    { name: 'depthwise', shape: [2, 3, 5, 5], cp: { num_output: 3, kernel_size: [3], group: 3, pad: [1] },
      geo: { kernel: [3, 3], pad: [1, 1], stride: [1, 1], dilation: [1, 1], group: 3 }, out: [5, 5], numOutput: 3 },
    { name: '3-D, per-axis kernel/pad/stride', shape: [1, 2, 4, 5, 4], cp: { num_output: 3, kernel_size: [2, 3, 2], pad: [0, 1, 1], stride: [1, 2, 1] },
      geo: { kernel: [2, 3, 2], pad: [0, 1, 1], stride: [1, 2, 1], dilation: [1, 1, 1], group: 1 }, out: [3, 3, 5], numOutput: 3 },
    { name: '1-D', shape: [2, 3, 9], cp: { num_output: 2, kernel_size: [3], stride: [2], dilation: [2] },
      geo: { kernel: [3], pad: [0], stride: [2], dilation: [2], group: 1 }, out: [3], numOutput: 2 },
    { name: '2-D through the N-D path (force_nd_im2col)', shape: [1, 4, 5, 6], cp: { num_output: 4, kernel_size: [2, 3], stride: [2], pad: [1], group: 2, force_nd_im2col: true },
      geo: { kernel: [2, 3], pad: [1, 1], stride: [2, 2], dilation: [1, 1], group: 2 }, out: [3, 3], numOutput: 4 },
  ];

  for (const c of configs) {
    it(`${c.name}: forward matches a direct convolution`, () => {
      const l = conv(c.cp);
      const x = randomBlob(c.shape, 11);
      const y = new Blob();
      l.setUp([x], [y]);
      expect(y.shape).toEqual([c.shape[0], c.numOutput, ...c.out]);
      expect(l.blobs[0].shape).toEqual([c.numOutput, c.shape[1] / c.geo.group, ...c.geo.kernel]);
      l.forward([x], [y]);
      expectClose(y.data, directConv(x, l.blobs[0], l.blobs[1] ?? null, c.geo, c.out, c.numOutput, false));
    });
    it(`${c.name}: gradients`, () => {
      checkGradient(conv(c.cp), [randomBlob(c.shape, 12)], [new Blob()]);
    });
  }

  it('channel axis 2 (leading axes fold into the batch)', () => {
    const l = conv({ num_output: 2, kernel_size: [3], axis: 2 });
    const x = randomBlob([2, 3, 4, 5, 5], 13);
    const y = new Blob();
    l.setUp([x], [y]);
    expect(y.shape).toEqual([2, 3, 2, 3, 3]);
    l.forward([x], [y]);
    // Same as a batch of 6 samples with the channel axis at 1.
    const x2 = new Blob([6, 4, 5, 5]);
    x2.data.set(x.data);
    const want = directConv(x2, l.blobs[0], l.blobs[1], { kernel: [3, 3], pad: [0, 0], stride: [1, 1], dilation: [1, 1], group: 1 }, [3, 3], 2, false);
    expectClose(y.data, want);
    checkGradient(conv({ num_output: 2, kernel_size: [2], axis: -3 }), [randomBlob([2, 2, 3, 4, 4], 14)], [new Blob()]);
  });

  it('several bottom/top pairs share the weights', () => {
    const l = conv({ num_output: 3, kernel_size: [2], stride: [1] });
    const a = randomBlob([2, 2, 4, 4], 15);
    const b = randomBlob([2, 2, 4, 4], 16);
    const ya = new Blob();
    const yb = new Blob();
    l.setUp([a, b], [ya, yb]);
    l.forward([a, b], [ya, yb]);
    const geo = { kernel: [2, 2], pad: [0, 0], stride: [1, 1], dilation: [1, 1], group: 1 };
    expectClose(ya.data, directConv(a, l.blobs[0], l.blobs[1], geo, [3, 3], 3, false));
    expectClose(yb.data, directConv(b, l.blobs[0], l.blobs[1], geo, [3, 3], 3, false));
    checkGradient(conv({ num_output: 3, kernel_size: [2] }), [randomBlob([2, 2, 4, 4], 17), randomBlob([2, 2, 4, 4], 18)], [new Blob(), new Blob()]);
  });

  it('accumulates parameter diffs, overwrites bottom diffs, honours propagate flags', () => {
    const l = conv({ num_output: 2, kernel_size: [3], pad: [1] });
    const x = randomBlob([2, 2, 4, 4], 19);
    const y = new Blob();
    l.setUp([x], [y]);
    l.forward([x], [y]);
    y.diff.set(randomBlob(y.shape.slice(), 20).data);
    l.blobs.forEach((p) => p.diff.fill(0));
    x.diff.fill(NaN);
    l.backward([y], [true], [x]);
    const w1 = Float32Array.from(l.blobs[0].diff);
    const b1 = Float32Array.from(l.blobs[1].diff);
    const x1 = Float32Array.from(x.diff);
    expect(x1.every(Number.isFinite)).toBe(true);
    l.backward([y], [true], [x]);
    expectClose(l.blobs[0].diff, w1.map((v) => 2 * v), 1e-5);
    expectClose(l.blobs[1].diff, b1.map((v) => 2 * v), 1e-5);
    expectClose(x.diff, x1, 1e-6);

    // No param gradient when paramPropagateDown is off; no bottom diff when propagateDown is off.
    l.setParamPropagateDown(0, false);
    l.setParamPropagateDown(1, false);
    l.blobs.forEach((p) => p.diff.fill(0));
    x.diff.fill(7);
    l.backward([y], [false], [x]);
    expect(l.blobs[0].diff.every((v) => v === 0)).toBe(true);
    expect(l.blobs[1].diff.every((v) => v === 0)).toBe(true);
    expect(x.diff.every((v) => v === 7)).toBe(true);
    l.backward([y], [true], [x]);
    expectClose(x.diff, x1, 1e-6);
    expect(l.blobs[0].diff.every((v) => v === 0)).toBe(true);
  });

  it('uses stored weights when the layer parameter carries blobs, and checks their shape', () => {
    const w = { shape: { dim: [2, 1, 1, 1] }, data: [2, -1] };
    const b = { shape: { dim: [2] }, data: [0.5, 0] };
    const l = layer('Convolution', { convolution_param: { num_output: 2, kernel_size: [1] }, blobs: [w, b] });
    const x = new Blob([1, 1, 1, 2]);
    x.data.set([1, 3]);
    const y = new Blob();
    l.setUp([x], [y]);
    l.forward([x], [y]);
    expect(Array.from(y.data)).toEqual([2.5, 6.5, -1, -3]);
    const bad = layer('Convolution', { convolution_param: { num_output: 2, kernel_size: [3] }, blobs: [w, b] }, 'badw');
    expect(() => bad.setUp([randomBlob([1, 1, 4, 4])], [new Blob()])).toThrow(/incorrect weight shape: expected \(2,1,3,3\); instead, shape was \(2,1,1,1\)/);
  });

  it('rejects bad geometry with LayerErrors naming the layer, type and shapes', () => {
    const setup = (cp: Record<string, unknown>, shape = [1, 2, 4, 4], bottoms = 1) => {
      const l = layer('Convolution', { convolution_param: cp }, 'conv1');
      const bs = Array.from({ length: bottoms }, (_, i) => randomBlob(i === 1 ? [1, 2, 5, 5] : shape, i + 1));
      return () => l.setUp(bs, bs.map(() => new Blob()));
    };
    const tooBig = setup({ num_output: 2, kernel_size: [5] });
    expect(tooBig).toThrow(LayerError);
    expect(tooBig).toThrow(/layer 'conv1' \(Convolution\): kernel extent 5 .*larger than the padded input 4 \+ 2\*0.*\(1,2,4,4\)/);
    expect(setup({ num_output: 2, kernel_size: [3], dilation: [2] })).toThrow(/kernel extent 5/);
    expect(setup({ num_output: 2, kernel_size: [3], dilation: [2], pad: [1] })).not.toThrow();
    expect(setup({ num_output: 3, kernel_size: [1], group: 2 })).toThrow(/num_output 3 is not a multiple of group 2/);
    expect(setup({ num_output: 2, kernel_size: [1], group: 2 }, [1, 3, 4, 4])).toThrow(/3 input channels .*\(1,3,4,4\).*group 2/);
    expect(setup({ num_output: 2, kernel_size: [1, 2, 3] })).toThrow(/kernel_size must be specified once, or once per spatial dimension/);
    expect(setup({ num_output: 2 })).toThrow(/kernel_size must be specified/);
    expect(setup({ num_output: 2, kernel_size: [0] })).toThrow(/nonzero/);
    expect(setup({ num_output: 2, kernel_size: [1], stride: [0] })).toThrow(/stride/);
    expect(setup({ num_output: 2, kernel_h: 2, kernel_w: 2 }, [1, 2, 4, 4, 4])).toThrow(/only be used for 2-D/);
    expect(setup({ num_output: 2, kernel_size: [2], kernel_h: 2, kernel_w: 2 })).toThrow(/not both/);
    expect(setup({ num_output: 2, kernel_size: [2], pad: [1], pad_h: 1 })).toThrow(/not both/);
    expect(setup({ kernel_size: [2] })).toThrow(/num_output must be positive/);
    expect(setup({ num_output: 2, kernel_size: [2] }, [1, 2, 4, 4], 2)).toThrow(/same shape: bottom\[0\] \(1,2,4,4\) vs bottom\[1\] \(1,2,5,5\)/);
    expect(setup({ num_output: 2, kernel_size: [2], axis: 4 })).toThrow(/axis 4 is out of range/);
    // Reshaping to a different channel count after setup.
    const l = layer('Convolution', { convolution_param: { num_output: 2, kernel_size: [1] } }, 'c');
    const x = randomBlob([1, 2, 3, 3]);
    const y = new Blob();
    l.setUp([x], [y]);
    x.reshape([1, 3, 3, 3]);
    expect(() => l.forward([x], [y])).toThrow(/3 channels, the weights expect 2/);
    // Too few bottoms/tops.
    expect(() => layer('Convolution', { convolution_param: { num_output: 2, kernel_size: [1] } }).setUp([x], [y, new Blob()])).toThrow(LayerError);
  });

  it('fills weights with the requested fillers (xavier / constant bias)', () => {
    const l = layer('Convolution', { convolution_param: { num_output: 16, kernel_size: [3], weight_filler: { type: 'xavier' }, bias_filler: { type: 'constant', value: 0.25 } } });
    l.setUp([randomBlob([1, 8, 5, 5])], [new Blob()]);
    const scale = Math.sqrt(3 / 72);
    expect(l.blobs[0].data.every((v) => Math.abs(v) <= scale + 1e-6)).toBe(true);
    expect(l.blobs[0].data.some((v) => v !== 0)).toBe(true);
    expect(Array.from(l.blobs[1].data)).toEqual(new Array(16).fill(0.25));
    const bad = layer('Convolution', { convolution_param: { num_output: 2, kernel_size: [3], weight_filler: { type: 'bogus' } } }, 'cf');
    expect(() => bad.setUp([randomBlob([1, 1, 4, 4])], [new Blob()])).toThrow(/layer 'cf' \(Convolution\): weight_filler: unknown filler type 'bogus'/);
  });
});

// ---- Deconvolution -------------------------------------------------------------------------

describe('Deconvolution', () => {
  const configs: { name: string; shape: number[]; cp: Record<string, unknown>; geo: Geo; out: number[]; numOutput: number }[] = [
    { name: 'kernel 4 stride 2 pad 1', shape: [2, 3, 3, 4], cp: { num_output: 2, kernel_size: [4], stride: [2], pad: [1] },
      geo: { kernel: [4, 4], pad: [1, 1], stride: [2, 2], dilation: [1, 1], group: 1 }, out: [6, 8], numOutput: 2 },
    { name: 'group 2 without bias', shape: [2, 4, 3, 3], cp: { num_output: 4, kernel_size: [3], group: 2, bias_term: false },
      geo: { kernel: [3, 3], pad: [0, 0], stride: [1, 1], dilation: [1, 1], group: 2 }, out: [5, 5], numOutput: 4 },
    { name: 'dilation 2, rectangular', shape: [1, 2, 3, 2], cp: { num_output: 3, kernel_h: 2, kernel_w: 3, dilation: [2], stride_h: 2, stride_w: 1 },
      geo: { kernel: [2, 3], pad: [0, 0], stride: [2, 1], dilation: [2, 2], group: 1 }, out: [7, 6], numOutput: 3 },
    { name: '1x1', shape: [2, 3, 2, 3], cp: { num_output: 2, kernel_size: [1] },
      geo: { kernel: [1, 1], pad: [0, 0], stride: [1, 1], dilation: [1, 1], group: 1 }, out: [2, 3], numOutput: 2 },
    { name: '3-D', shape: [1, 2, 2, 3, 2], cp: { num_output: 2, kernel_size: [2, 3, 2], stride: [2, 1, 1], pad: [0, 1, 0] },
      geo: { kernel: [2, 3, 2], pad: [0, 1, 0], stride: [2, 1, 1], dilation: [1, 1, 1], group: 1 }, out: [4, 3, 3], numOutput: 2 },
  ];
  for (const c of configs) {
    it(`${c.name}: forward matches a direct transposed convolution`, () => {
      const l = conv(c.cp, 'Deconvolution');
      const x = randomBlob(c.shape, 21);
      const y = new Blob();
      l.setUp([x], [y]);
      expect(y.shape).toEqual([c.shape[0], c.numOutput, ...c.out]);
      expect(l.blobs[0].shape).toEqual([c.shape[1], c.numOutput / c.geo.group, ...c.geo.kernel]);
      l.forward([x], [y]);
      expectClose(y.data, directConv(x, l.blobs[0], l.blobs[1] ?? null, c.geo, c.out, c.numOutput, true));
    });
    it(`${c.name}: gradients`, () => {
      checkGradient(conv(c.cp, 'Deconvolution'), [randomBlob(c.shape, 22)], [new Blob()]);
    });
  }

  it('bilinear weights upsample a constant image to a constant interior', () => {
    const l = layer('Deconvolution', { convolution_param: { num_output: 1, kernel_size: [4], stride: [2], pad: [1], bias_term: false, weight_filler: { type: 'bilinear' } } });
    const x = new Blob([1, 1, 3, 3]);
    x.data.fill(1);
    const y = new Blob();
    l.setUp([x], [y]);
    l.forward([x], [y]);
    expect(y.shape).toEqual([1, 1, 6, 6]);
    for (let r = 1; r < 5; r++) for (let c = 1; c < 5; c++) expect(y.data[r * 6 + c]).toBeCloseTo(1, 6);
  });

  it('rejects a non-positive output size', () => {
    const l = layer('Deconvolution', { convolution_param: { num_output: 1, kernel_size: [1], pad: [2] } }, 'up');
    expect(() => l.setUp([randomBlob([1, 1, 2, 2])], [new Blob()])).toThrow(/layer 'up' \(Deconvolution\): output size -2/);
  });
});

// ---- Im2col --------------------------------------------------------------------------------

describe('Im2col', () => {
  it('shape and values agree with Convolution by an identity filter', () => {
    const l = layer('Im2col', { convolution_param: { kernel_size: [3], pad: [1], stride: [2] } });
    const x = randomBlob([2, 3, 5, 4], 31);
    const y = new Blob();
    l.setUp([x], [y]);
    expect(y.shape).toEqual([2, 27, 3, 2]);
    l.forward([x], [y]);
    // Row (c, ky, kx) at output (oy, ox) is x[c, oy*2 - 1 + ky, ox*2 - 1 + kx].
    const at = (n: number, c: number, iy: number, ix: number) => (iy < 0 || iy >= 5 || ix < 0 || ix >= 4 ? 0 : x.data[((n * 3 + c) * 5 + iy) * 4 + ix]);
    for (let n = 0; n < 2; n++)
      for (let r = 0; r < 27; r++)
        for (let oy = 0; oy < 3; oy++)
          for (let ox = 0; ox < 2; ox++) {
            const [c, ky, kx] = unravel(r, [3, 3, 3]);
            expect(y.data[((n * 27 + r) * 3 + oy) * 2 + ox]).toBe(Math.fround(at(n, c, oy * 2 - 1 + ky, ox * 2 - 1 + kx)));
          }
  });

  it('gradients: 2-D, N-D, dilation, axis', () => {
    checkGradient(layer('Im2col', { convolution_param: { kernel_size: [3], pad: [1], stride: [2] } }), [randomBlob([2, 2, 5, 5], 32)], [new Blob()]);
    checkGradient(layer('Im2col', { convolution_param: { kernel_h: 2, kernel_w: 3, dilation: [2], stride_h: 1, stride_w: 2 } }), [randomBlob([1, 2, 5, 6], 33)], [new Blob()]);
    checkGradient(layer('Im2col', { convolution_param: { kernel_size: [2, 2, 3], pad: [1, 0, 1] } }), [randomBlob([1, 2, 3, 3, 4], 34)], [new Blob()]);
    checkGradient(layer('Im2col', { convolution_param: { kernel_size: [2], force_nd_im2col: true } }), [randomBlob([1, 2, 4, 3], 35)], [new Blob()]);
    const l = layer('Im2col', { convolution_param: { kernel_size: [2], axis: 2 } });
    const y = new Blob();
    l.setUp([randomBlob([2, 3, 2, 4, 4], 36)], [y]);
    expect(y.shape).toEqual([2, 3, 8, 3, 3]);
  });

  it('writes the bottom diff even when propagate_down is false (as Caffe)', () => {
    const l = layer('Im2col', { convolution_param: { kernel_size: [2] } });
    const x = randomBlob([1, 2, 3, 3], 37);
    const y = new Blob();
    l.setUp([x], [y]);
    l.forward([x], [y]);
    y.diff.fill(1);
    x.diff.fill(7);
    l.backward([y], [false], [x]);
    expect(x.diff.every((v) => v !== 7)).toBe(true);
  });

  it('errors', () => {
    const l = layer('Im2col', { convolution_param: { kernel_size: [7] } }, 'cols');
    expect(() => l.setUp([randomBlob([1, 1, 5, 5])], [new Blob()])).toThrow(/layer 'cols' \(Im2col\): kernel extent 7.*\(1,1,5,5\)/);
    const l2 = layer('Im2col', { convolution_param: { kernel_size: [1] } }, 'cols');
    expect(() => l2.setUp([randomBlob([1, 4])], [new Blob()])).toThrow(/at least one spatial axis/);
  });
});

// ---- InnerProduct --------------------------------------------------------------------------

describe('InnerProduct', () => {
  const ip = (p: Record<string, unknown>) => layer('InnerProduct', { inner_product_param: { weight_filler: gauss, bias_filler: gauss, ...p } });

  function directIp(x: Blob, w: Blob, b: Blob | null, axis: number, N: number, transpose: boolean): Float64Array {
    const M = x.countRange(0, axis);
    const K = x.countRange(axis);
    const y = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = b ? b.data[n] : 0;
        for (let k = 0; k < K; k++) s += x.data[m * K + k] * (transpose ? w.data[k * N + n] : w.data[n * K + k]);
        y[m * N + n] = s;
      }
    return y;
  }

  const configs: [string, number[], Record<string, unknown>, number, number[]][] = [
    ['default', [3, 2, 3, 2], { num_output: 5 }, 1, [3, 5]],
    ['transpose', [4, 6], { num_output: 3, transpose: true }, 1, [4, 3]],
    ['axis 2', [2, 3, 2, 2], { num_output: 4, axis: 2 }, 2, [2, 3, 4]],
    ['axis -1, no bias', [2, 3, 5], { num_output: 2, axis: -1, bias_term: false }, 2, [2, 3, 2]],
    ['transpose, no bias, axis 0', [3, 2], { num_output: 4, axis: 0, transpose: true, bias_term: false }, 0, [4]],
  ];
  for (const [name, shape, p, axis, outShape] of configs) {
    it(`${name}: forward and gradients`, () => {
      const l = ip(p);
      const x = randomBlob(shape, 41);
      const y = new Blob();
      l.setUp([x], [y]);
      expect(y.shape).toEqual(outShape);
      const K = x.countRange(axis);
      expect(l.blobs[0].shape).toEqual(p.transpose ? [K, p.num_output] : [p.num_output, K]);
      l.forward([x], [y]);
      expectClose(y.data, directIp(x, l.blobs[0], l.blobs[1] ?? null, axis, p.num_output as number, !!p.transpose));
      checkGradient(ip(p), [randomBlob(shape, 42)], [new Blob()]);
    });
  }

  it('a larger layer through the packed GEMM path', () => {
    const p = { num_output: 37 };
    const l = ip(p);
    const x = randomBlob([9, 70], 43);
    const y = new Blob();
    l.setUp([x], [y]);
    l.forward([x], [y]);
    expectClose(y.data, directIp(x, l.blobs[0], l.blobs[1], 1, 37, false));
  });

  it('errors', () => {
    const l = layer('InnerProduct', { inner_product_param: { num_output: 2 } }, 'fc');
    const x = randomBlob([2, 3]);
    const y = new Blob();
    l.setUp([x], [y]);
    x.reshape([2, 4]);
    expect(() => l.forward([x], [y])).toThrow(/layer 'fc' \(InnerProduct\): input size incompatible.*\(2,4\) gives 4 inputs.*expect 3/);
    expect(() => layer('InnerProduct', { inner_product_param: {} }).setUp([x], [new Blob()])).toThrow(/num_output must be positive/);
    expect(() => layer('InnerProduct', { inner_product_param: { num_output: 2, axis: 3 } }).setUp([x], [new Blob()])).toThrow(/axis 3 is out of range/);
  });
});

// ---- Embed ---------------------------------------------------------------------------------

describe('Embed', () => {
  const embed = (p: Record<string, unknown>, name = 'emb') => layer('Embed', { embed_param: { weight_filler: gauss, bias_filler: gauss, ...p } }, name);
  const indices = (shape: number[], values: number[]) => {
    const b = new Blob(shape);
    b.data.set(values);
    return b;
  };

  it('looks up rows and adds the bias', () => {
    const l = embed({ num_output: 3, input_dim: 5 });
    const x = indices([2, 2], [4, 0, 2, 4]);
    const y = new Blob();
    l.setUp([x], [y]);
    expect(y.shape).toEqual([2, 2, 3]);
    expect(l.blobs[0].shape).toEqual([5, 3]);
    l.forward([x], [y]);
    const w = l.blobs[0].data;
    const b = l.blobs[1].data;
    [4, 0, 2, 4].forEach((row, n) => {
      for (let d = 0; d < 3; d++) expect(y.data[n * 3 + d]).toBeCloseTo(w[row * 3 + d] + b[d], 6);
    });
  });

  it('gradients of the weights and bias (repeated indices accumulate)', () => {
    checkGradient(embed({ num_output: 4, input_dim: 6 }), [indices([3, 2], [1, 5, 1, 0, 3, 1])], [new Blob()], { bottoms: [] });
    checkGradient(embed({ num_output: 2, input_dim: 3, bias_term: false }), [indices([4], [2, 2, 0, 1])], [new Blob()], { bottoms: [] });
  });

  it('truncates non-integer indices as Caffe; rejects out-of-range ones and a gradient request for them', () => {
    const l = embed({ num_output: 2, input_dim: 3, bias_term: false });
    const y = new Blob();
    const x = indices([3], [0, 1, 2]);
    l.setUp([x], [y]);
    l.forward([x], [y]);
    const rows = Array.from(y.data);
    x.data.set([0.7, 1.5, 2.99]);
    l.forward([x], [y]);
    expect(Array.from(y.data)).toEqual(rows);
    x.data[0] = -0.5;
    l.forward([x], [y]);
    expect(Array.from(y.data)).toEqual(rows);
    x.data[1] = 3.5;
    expect(() => l.forward([x], [y])).toThrow(/layer 'emb' \(Embed\): bottom \(3\) element 1 is 3\.5: indices \(truncated to integers\) must be in \[0, 3\)/);
    x.data[1] = 3;
    expect(() => l.forward([x], [y])).toThrow(/element 1 is 3/);
    x.data[1] = -1;
    expect(() => l.forward([x], [y])).toThrow(/element 1 is -1/);
    x.data[1] = 1;
    l.forward([x], [y]);
    expect(() => l.backward([y], [true], [x])).toThrow(/cannot backpropagate to the indices/);
    expect(() => embed({ num_output: 2 }).setUp([x], [new Blob()])).toThrow(/input_dim must be positive/);
    expect(() => embed({ input_dim: 2 }).setUp([x], [new Blob()])).toThrow(/num_output must be positive/);
  });
});

// ---- Caffe reference cases -----------------------------------------------------------------

describe('Caffe reference cases', () => layerCaseTests(['convolution', 'deconvolution', 'im2col', 'inner_product', 'embed']));
