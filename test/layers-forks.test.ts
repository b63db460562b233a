// Layers of Caffe's forks (proto/forks/): numbers derived by hand from each fork's definition,
// finite-difference checks of every backward, and the errors for bad parameters or shapes.
import { describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, encodeMessage } from '../src/format/binary.js';
import { parseText } from '../src/format/text.js';
import { Net } from '../src/graph/net.js';
import { CaffeError, LayerError } from '../src/util/errors.js';
import { checkGradient, randomBlob, rng } from './gradient-checker.js';
import { blobOf, layer, tops } from './helpers.js';

const near = (got: ArrayLike<number>, want: number[], tol = 1e-5) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(Math.abs(got[i] - w), `element ${i}: ${got[i]} vs ${w}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(w))));
};
const iota = (n: number) => Array.from({ length: n }, (_, i) => i);

function run(type: string, extra: Record<string, unknown>, bottoms: Blob[], nTop = 1, phase: 'TRAIN' | 'TEST' = 'TRAIN') {
  const l = layer(type, extra, phase);
  const top = tops(nTop);
  l.setUp(bottoms, top);
  l.forward(bottoms, top);
  return { l, top };
}

describe('Interp (PSPNet)', () => {
  const x22 = () => blobOf([1, 1, 2, 2], [1, 2, 3, 4]);
  it('zoom_factor 2: align-corners bilinear', () => {
    const { top } = run('Interp', { interp_param: { zoom_factor: 2 } }, [x22()]);
    expect(top[0].shape).toEqual([1, 1, 3, 3]);
    near(top[0].data, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
  });
  it('shrink_factor 2 keeps every other pixel', () => {
    const { top } = run('Interp', { interp_param: { shrink_factor: 2 } }, [blobOf([1, 1, 3, 3], iota(9))]);
    expect(top[0].shape).toEqual([1, 1, 2, 2]);
    near(top[0].data, [0, 2, 6, 8]);
  });
  it('height and width', () => {
    const { top } = run('Interp', { interp_param: { height: 2, width: 3 } }, [x22()]);
    near(top[0].data, [1, 1.5, 2, 3, 3.5, 4]);
  });
  it('a second bottom gives the size', () => {
    const { top } = run('Interp', {}, [x22(), new Blob([1, 5, 3, 3])]);
    expect(top[0].shape).toEqual([1, 1, 3, 3]);
    near(top[0].data, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
  });
  it('pad_beg / pad_end crop the input first', () => {
    const { top } = run('Interp', { interp_param: { zoom_factor: 2, pad_beg: -1, pad_end: -1 } }, [blobOf([1, 1, 4, 4], iota(16))]);
    expect(top[0].shape).toEqual([1, 1, 3, 3]);
    near(top[0].data, [5, 5.5, 6, 7, 7.5, 8, 9, 9.5, 10]);
  });
  it('nearest_neighbor rounds the source position', () => {
    const { top } = run('Interp', { interp_param: { zoom_factor: 2, interp_type: 'nearest_neighbor' } }, [x22()]);
    near(top[0].data, [1, 2, 2, 3, 4, 4, 3, 4, 4]);
  });
  it('equal sizes copy; planes are independent', () => {
    const x = randomBlob([2, 3, 4, 5], 3);
    const { top } = run('Interp', { interp_param: { height: 4, width: 5 } }, [x]);
    expect(Array.from(top[0].data)).toEqual(Array.from(x.data));
  });
  it('PSPNet pyramid: 60x60 from 1x1 and from 2x2', () => {
    const one = run('Interp', { interp_param: { height: 6, width: 6 } }, [blobOf([1, 1, 1, 1], [7])]).top[0];
    expect(Array.from(one.data).every((v) => v === 7)).toBe(true);
    const two = run('Interp', { interp_param: { height: 4, width: 4 } }, [blobOf([1, 1, 2, 2], [0, 3, 6, 9])]).top[0];
    near(two.data, [0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9]);
  });
  it('rejects several size specifications, padding and unknown types', () => {
    expect(() => run('Interp', { interp_param: { zoom_factor: 2, shrink_factor: 2 } }, [x22()])).toThrow(/exactly one way/);
    expect(() => run('Interp', {}, [x22()])).toThrow(LayerError);
    expect(() => run('Interp', { interp_param: { zoom_factor: 2, pad_beg: 1 } }, [x22()])).toThrow(/cropping only/);
    expect(() => run('Interp', { interp_param: { zoom_factor: 2, interp_type: 'cubic' } }, [x22()])).toThrow(/interp_type/);
    expect(() => run('Interp', { interp_param: { height: 0, width: 3 } }, [x22()])).toThrow(/must be positive/);
  });
  it('gradient: zoom, odd sizes, cropping, nearest', () => {
    checkGradient(layer('Interp', { interp_param: { zoom_factor: 3 } }), [randomBlob([2, 2, 3, 2], 5)], tops(1), { params: false });
    checkGradient(layer('Interp', { interp_param: { height: 5, width: 7 } }), [randomBlob([1, 2, 3, 4], 6)], tops(1));
    checkGradient(layer('Interp', { interp_param: { height: 2, width: 3 } }), [randomBlob([1, 2, 5, 7], 9)], tops(1));
    checkGradient(layer('Interp', { interp_param: { shrink_factor: 2, pad_beg: -1, pad_end: 0 } }), [randomBlob([1, 1, 6, 5], 7)], tops(1));
    checkGradient(layer('Interp', { interp_param: { zoom_factor: 2, interp_type: 'nearest_neighbor' } }), [randomBlob([1, 2, 3, 3], 8)], tops(1));
  });
});

describe('Upsample (SegNet / ENet)', () => {
  const x = [1, 5, 2, 0, 3, 4, 8, 1, 0, 0, 1, 2, 9, 1, 3, 7];
  function pooled(values: number[], shape: number[], pool: Record<string, unknown> = { kernel_size: 2, stride: 2 }) {
    return run('Pooling', { pooling_param: { pool: 'MAX', ...pool } }, [blobOf(shape, values)], 2).top;
  }
  it('puts each pooled value back where the max was', () => {
    const [p, mask] = pooled(x, [1, 1, 4, 4]);
    near(mask.data, [1, 6, 12, 15]);
    const { top } = run('Upsample', { upsample_param: { scale: 2 } }, [p, mask]);
    expect(top[0].shape).toEqual([1, 1, 4, 4]);
    near(top[0].data, [0, 5, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 9, 0, 0, 7]);
  });
  it('upsample_h / upsample_w give an odd output size; pad_out_h drops a row', () => {
    const odd = [1, 2, 3, 4, 9, 6, 7, 8, 5];
    const [p, mask] = pooled(odd, [1, 1, 3, 3]);
    expect(p.shape).toEqual([1, 1, 2, 2]);
    const { top } = run('Upsample', { upsample_param: { upsample_h: 3, upsample_w: 3 } }, [p, mask]);
    near(top[0].data, [0, 0, 0, 0, 9, 6, 0, 8, 5]);
    const padded = run('Upsample', { upsample_param: { scale: 2, pad_out_h: true } }, [p, mask]).top[0];
    expect(padded.shape).toEqual([1, 1, 3, 4]);
  });
  it('rejects a mask that does not fit the output', () => {
    const [p, mask] = pooled(x, [1, 1, 4, 4]);
    mask.data[3] = 16;
    expect(() => run('Upsample', { upsample_param: { scale: 2 } }, [p, mask])).toThrow(/mask offset 16 is outside the 4x4 output/);
    expect(() => run('Upsample', { upsample_param: { scale: 1 } }, [p, mask])).toThrow(/scale must be > 1/);
    expect(() => run('Upsample', {}, [p, new Blob([1, 1, 2, 3])])).toThrow(/must have the bottom's shape/);
  });
  it('gradient (the pooled values; the mask is an index)', () => {
    const [p, mask] = pooled(Array.from(randomBlob([2, 3, 6, 4], 4).data), [2, 3, 6, 4]);
    checkGradient(layer('Upsample', { upsample_param: { scale: 2 } }), [p, mask], tops(1), { bottoms: [0] });
  });
});

describe('BN (SegNet / ENet and PSPNet)', () => {
  const x4 = () => blobOf([1, 1, 1, 4], [1, 2, 3, 4]);
  it('SegNet INFERENCE: scale * x + shift', () => {
    const { l, top } = run('BN', { bn_param: { bn_mode: 'INFERENCE', scale_filler: { type: 'constant', value: 2 }, shift_filler: { type: 'constant', value: 0.5 } } }, [x4()]);
    expect(l.blobs.map((b) => b.shape)).toEqual([[1, 1, 1, 1], [1, 1, 1, 1]]);
    near(top[0].data, [2.5, 4.5, 6.5, 8.5]);
  });
  it('SegNet LEARN: batch statistics, E(x^2) - mean^2, eps 1e-9; mean and variance tops', () => {
    const { top } = run('BN', { bn_param: { scale_filler: { type: 'constant', value: 1 } } }, [x4()], 3);
    const s = Math.sqrt(1.25 + 1e-9);
    near(top[0].data, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
    near(top[1].data, [2.5]);
    near(top[2].data, [1.25]);
  });
  it('PSPNet: stored statistics in TEST, and as frozen', () => {
    for (const [phase, frozen] of [['TEST', false], ['TRAIN', true]] as const) {
      const l = layer('BN', { bn_param: { slope_filler: { type: 'constant', value: 2 }, bias_filler: { type: 'constant', value: 1 }, frozen } }, phase);
      const top = tops(1);
      const x = x4();
      l.setUp([x], top);
      expect(l.blobs.length).toBe(4);
      l.blobs[2].data[0] = 1;
      l.blobs[3].data[0] = 4;
      l.forward([x], top);
      const s = Math.sqrt(4 + 1e-5);
      near(top[0].data, [0, 2 / s, 4 / s, 6 / s].map((v) => v * 1 + 1));
      expect(Array.from(l.blobs[2].data)).toEqual([1]);
    }
  });
  it('PSPNet TRAIN: batch statistics, and the stored ones move by momentum', () => {
    const { l, top } = run('BN', { bn_param: { slope_filler: { type: 'constant', value: 1 }, momentum: 0.9 } }, [x4()]);
    const s = Math.sqrt(1.25 + 1e-5);
    near(top[0].data, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
    near(l.blobs[2].data, [0.25]);
    near(l.blobs[3].data, [0.125]);
  });
  it('PSPNet: the statistics (and, frozen, everything) get lr_mult and decay_mult 0; frozen starts at variance 1', () => {
    const l = layer('BN', { bn_param: { frozen: true } });
    l.setUp([randomBlob([2, 3, 2, 2], 1)], tops(1));
    expect(l.param.param.map((p: { lr_mult: number; decay_mult: number }) => [p.lr_mult, p.decay_mult])).toEqual([[0, 0], [0, 0], [0, 0], [0, 0]]);
    expect(Array.from(l.blobs[3].data)).toEqual([1, 1, 1]);
    const m = layer('BN', { bn_param: { momentum: 0.5 } });
    m.setUp([randomBlob([2, 3, 2, 2], 1)], tops(1));
    expect(m.param.param.map((p: { lr_mult: number }) => p.lr_mult)).toEqual([1, 1, 0, 0]);
  });
  it('the form follows bn_param; mixing the two forks is refused', () => {
    expect(() => run('BN', { bn_param: { scale_filler: { type: 'constant' }, slope_filler: { type: 'constant' } } }, [x4()])).toThrow(/mixes SegNet's fields/);
    expect(() => run('BN', { bn_param: { frozen: true } }, [x4()], 3)).toThrow(/at most 1 top/);
    expect(() => run('BN', {}, [blobOf([4], [1, 2, 3, 4])])).toThrow(/channel axis/);
  });
  it('in place gives the out-of-place numbers (SegNet INFERENCE keeps its input for backward)', () => {
    const p = { bn_param: { bn_mode: 'INFERENCE', scale_filler: { type: 'gaussian' }, shift_filler: { type: 'gaussian' } } };
    const x = randomBlob([2, 3, 2, 2], 3);
    const dy = randomBlob([2, 3, 2, 2], 4);
    const a = layer('BN', p);
    const xa = blobOf([2, 3, 2, 2], x.data);
    const ya = new Blob();
    a.setUp([xa], [ya]);
    const b = layer('BN', p);
    const xb = blobOf([2, 3, 2, 2], x.data);
    b.setUp([xb], [xb]);
    b.blobs.forEach((blob, i) => blob.data.set(a.blobs[i].data));
    a.forward([xa], [ya]);
    b.forward([xb], [xb]);
    expect(Array.from(xb.data)).toEqual(Array.from(ya.data));
    ya.diff.set(dy.data);
    xb.diff.set(dy.data);
    a.backward([ya], [true], [xa]);
    b.backward([xb], [true], [xb]);
    expect(Array.from(xb.diff)).toEqual(Array.from(xa.diff));
    expect(Array.from(b.blobs[0].diff)).toEqual(Array.from(a.blobs[0].diff));
  });
  const filled = { type: 'uniform', min: 0.5, max: 1.5 };
  it('gradient: SegNet LEARN and INFERENCE', () => {
    checkGradient(layer('BN', { bn_param: { scale_filler: filled, shift_filler: filled } }), [randomBlob([2, 3, 2, 3], 11)], tops(1), { threshold: 3e-3 });
    checkGradient(layer('BN', { bn_param: { bn_mode: 'INFERENCE', scale_filler: filled, shift_filler: filled } }), [randomBlob([2, 3, 2, 3], 12)], tops(1));
  });
  it('gradient: PSPNet TRAIN, and frozen (input only: frozen learns nothing)', () => {
    checkGradient(layer('BN', { bn_param: { slope_filler: filled, bias_filler: filled } }), [randomBlob([2, 3, 2, 3], 13)], tops(1), { threshold: 3e-3 });
    const frozen = layer('BN', { bn_param: { slope_filler: filled, bias_filler: filled, frozen: true } });
    checkGradient(frozen, [randomBlob([2, 3, 2, 3], 14)], tops(1), { params: false });
  });
});

describe('ROIPooling (Fast R-CNN)', () => {
  const map = () => blobOf([1, 1, 4, 4], iota(16));
  const pool = (rois: number[], p: Record<string, unknown>, x = map()) =>
    run('ROIPooling', { roi_pooling_param: p }, [x, blobOf([rois.length / 5, 5], rois)]).top[0];
  it('max over each bin of the scaled, rounded ROI', () => {
    const y = pool([0, 0, 0, 3, 3, 0, 1, 1, 2, 2, 0, 0, 0, 6, 6], { pooled_h: 2, pooled_w: 2 });
    expect(y.shape).toEqual([3, 1, 2, 2]);
    near(y.data, [5, 7, 13, 15, 5, 6, 9, 10, 15, 15, 15, 15]);
    near(pool([0, 0, 0, 6, 6], { pooled_h: 2, pooled_w: 2, spatial_scale: 0.5 }).data, [5, 7, 13, 15]);
  });
  it("rounds halves away from zero (C's round), bins clipped to the map", () => {
    // x1 = y1 = -1 * 0.5 rounds to -1: a 4x4 ROI from -1, bins [-1, 1) and [1, 3).
    near(pool([0, -1, -1, 3, 3], { pooled_h: 2, pooled_w: 2, spatial_scale: 0.5 }).data, [0, 2, 8, 10]);
  });
  it('an empty bin outputs 0', () => {
    near(pool([0, 10, 10, 12, 12], { pooled_h: 1, pooled_w: 1 }).data, [0]);
  });
  it('rejects a bad batch index, bad ROI rows and pooled sizes', () => {
    expect(() => pool([1, 0, 0, 3, 3], { pooled_h: 2, pooled_w: 2 })).toThrow(/ROI 0 names batch item 1/);
    expect(() => run('ROIPooling', { roi_pooling_param: { pooled_h: 2, pooled_w: 2 } }, [map(), new Blob([2, 4])])).toThrow(/rows of 5 values/);
    expect(() => pool([0, 0, 0, 3, 3], { pooled_h: 0, pooled_w: 2 })).toThrow(/must be > 0/);
  });
  it('gradient (feature map; overlapping ROIs over two images accumulate)', () => {
    const rois = blobOf([3, 5], [0, 0, 0, 5, 4, 1, 1, 2, 4, 5, 0, 2, 1, 5, 5]);
    // Distinct values 0.1 apart, so no perturbation changes which cell wins a bin.
    const r = rng(21);
    const values = iota(144).map((i) => i * 0.1).sort(() => r() - 0.5);
    checkGradient(layer('ROIPooling', { roi_pooling_param: { pooled_h: 2, pooled_w: 3 } }), [blobOf([2, 2, 6, 6], values), rois], tops(1), { bottoms: [0] });
  });
});

describe('ShuffleChannel (ShuffleNet)', () => {
  it('transposes the group x (C / group) channel matrix', () => {
    const { top } = run('ShuffleChannel', { shuffle_channel_param: { group: 2 } }, [blobOf([1, 6, 1, 1], iota(6))]);
    near(top[0].data, [0, 3, 1, 4, 2, 5]);
    const g3 = run('ShuffleChannel', { shuffle_channel_param: { group: 3 } }, [blobOf([1, 6, 1, 2], iota(12))]).top[0];
    near(g3.data, [0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11]);
  });
  it('rejects channels that are not a multiple of group', () => {
    expect(() => run('ShuffleChannel', { shuffle_channel_param: { group: 2 } }, [new Blob([1, 5, 2, 2])])).toThrow(/not a multiple of group 2/);
    expect(() => run('ShuffleChannel', { shuffle_channel_param: { group: 0 } }, [new Blob([1, 4, 2, 2])])).toThrow(/group must be positive/);
  });
  it('gradient', () => {
    checkGradient(layer('ShuffleChannel', { shuffle_channel_param: { group: 3 } }), [randomBlob([2, 6, 2, 3], 31)], tops(1));
  });
});

describe('ReLU6', () => {
  it('clamps to [0, 6]', () => {
    const { top } = run('ReLU6', {}, [blobOf([5], [-1, 0, 3, 6, 7])]);
    near(top[0].data, [0, 0, 3, 6, 6]);
  });
  it('gradient (away from the kinks at 0 and 6), in place too', () => {
    const r = rng(41);
    const values = Array.from({ length: 60 }, () => {
      let v = -3 + 12 * r();
      if (Math.abs(v) < 0.05 || Math.abs(v - 6) < 0.05) v += 0.2;
      return v;
    });
    checkGradient(layer('ReLU6', {}), [blobOf([3, 4, 5], values)], tops(1));
    const x = blobOf([3, 4, 5], values);
    const l = layer('ReLU6', {});
    l.setUp([x], [x]);
    l.forward([x], [x]);
    x.diff.fill(1);
    l.backward([x], [true], [x]);
    expect(Array.from(x.diff)).toEqual(values.map((v) => (v > 0 && v < 6 ? 1 : 0)));
  });
});

describe('DepthwiseConvolution', () => {
  const conv = { num_output: 6, kernel_size: [3], pad: [1], weight_filler: { type: 'gaussian' }, bias_filler: { type: 'gaussian' } };
  it('is Convolution with group = channels, whatever group says', () => {
    const x = randomBlob([2, 3, 5, 4], 51);
    const dw = run('DepthwiseConvolution', { convolution_param: conv }, [x]);
    expect(dw.l.blobs[0].shape).toEqual([6, 1, 3, 3]);
    const ref = layer('Convolution', { convolution_param: { ...conv, group: 3 } });
    const top = tops(1);
    ref.setUp([x], top);
    ref.blobs.forEach((b, i) => b.data.set(dw.l.blobs[i].data));
    ref.forward([x], top);
    expect(Array.from(dw.top[0].data)).toEqual(Array.from(top[0].data));
    expect(run('DepthwiseConvolution', { convolution_param: { ...conv, group: 1 } }, [x]).l.blobs[0].shape).toEqual([6, 1, 3, 3]);
    expect(() => run('DepthwiseConvolution', { convolution_param: { ...conv, num_output: 4 } }, [x])).toThrow(/not a multiple of group 3/);
  });
  it('gradient', () => {
    checkGradient(layer('DepthwiseConvolution', { convolution_param: conv }), [randomBlob([1, 3, 4, 4], 52)], tops(1));
  });
});

describe('Pooling ceil_mode (fork field)', () => {
  const poolingOf = (text: string) => parseText(`layer { name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 ${text} } }`, 'NetParameter', 'p.prototxt').layer[0];
  const outSize = (text: string) => {
    const lp = poolingOf(text);
    const l = layer('Pooling', { pooling_param: lp.pooling_param });
    const top = tops(1);
    l.setUp([new Blob([1, 1, 6, 6])], top);
    return top[0].shape.slice(2);
  };
  it('true is CEIL, false is FLOOR; unset leaves round_mode in charge', () => {
    expect(outSize('')).toEqual([3, 3]);
    expect(outSize('ceil_mode: true')).toEqual([3, 3]);
    expect(outSize('ceil_mode: false')).toEqual([2, 2]);
    expect(outSize('round_mode: FLOOR')).toEqual([2, 2]);
    expect(outSize('round_mode: FLOOR ceil_mode: true')).toEqual([3, 3]);
  });
});

describe('errors are typed', () => {
  it('a LayerError names the layer and type', () => {
    try {
      run('ShuffleChannel', { shuffle_channel_param: { group: 4 } }, [new Blob([1, 6, 1, 1])]);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CaffeError);
      expect(String(e)).toMatch(/'l'.*ShuffleChannel/);
    }
  });
});

describe('Dropout scale_train (Fast R-CNN fork field)', () => {
  it('false: TEST multiplies by 1 - dropout_ratio', () => {
    const x = blobOf([4], [1, 2, 3, 4]);
    const { top } = run('Dropout', { dropout_param: { dropout_ratio: 0.25, scale_train: false } }, [x], 1, 'TEST');
    near(top[0].data, [0.75, 1.5, 2.25, 3]);
    near(run('Dropout', { dropout_param: { dropout_ratio: 0.25 } }, [x], 1, 'TEST').top[0].data, [1, 2, 3, 4]);
  });
});

describe('fork fields in binary files', () => {
  const NET = `name: "n"
    layer { name: "bn" type: "BN" bottom: "x" top: "y" bn_param { frozen: true momentum: 0.5 } }
    layer { name: "i" type: "Interp" bottom: "y" top: "z" interp_param { zoom_factor: 2 } }
    layer { name: "p" type: "Pooling" bottom: "z" top: "w" pooling_param { kernel_size: 3 ceil_mode: false } }
    layer { name: "r" type: "ROIPooling" bottom: "w" bottom: "rois" top: "v" roi_pooling_param { pooled_h: 2 pooled_w: 2 spatial_scale: 0.5 } }`;
  it('fields with their own number survive; text-only ones are left out', () => {
    const msg = parseText(NET, 'NetParameter', 'n.prototxt');
    const back = decodeMessage(encodeMessage(msg, 'NetParameter'), 'NetParameter');
    expect(back.layer[0].bn_param.frozen).toBe(true);
    expect(back.layer[0].bn_param.momentum).toBe(0.5);
    expect(back.layer[3].roi_pooling_param.spatial_scale).toBe(0.5);
    expect(back.layer[1].interp_param).toBeNull();
    expect(back.layer[2].pooling_param.ceil_mode).toBe(true); // the default: not written
  });
  it("a fork's own number of a text-only field is skipped when its wire type is not BVLC's", () => {
    // PSPNet's interp_param { height: 60 } as its caffemodels hold it: field 143 (BVLC's
    // input_param, a message of BlobShapes) holding field 1 as a varint.
    const bytes = Uint8Array.from([0x0a, 0x01, 0x69, 0xfa, 0x08, 0x02, 0x08, 60]);
    const lp = decodeMessage(bytes, 'LayerParameter');
    expect(lp.name).toBe('i');
    expect(lp.input_param).toBeNull();
    // BVLC's own input_param under 143 still decodes.
    const shape = decodeMessage(Uint8Array.from([0xfa, 0x08, 0x04, 0x0a, 0x02, 0x08, 0x05]), 'LayerParameter');
    expect(shape.input_param.shape[0].dim).toEqual([5]);
    // A wrong wire type under a number no fork uses stays an error (102: accuracy_param, as a varint).
    expect(() => decodeMessage(Uint8Array.from([0x0a, 0x01, 0x69, 0xb0, 0x06, 60]), 'LayerParameter')).toThrow(/wrong wire type/);
    // A value under 143 longer than the file is still an error (only whole values are skipped).
    expect(() => decodeMessage(Uint8Array.from([0xfa, 0x08, 0x09, 0x0a, 0x05]), 'LayerParameter')).toThrow(/truncated|length|end/i);
  });
  it('a PSPNet BN layer saves and reloads its four blobs', () => {
    const text = `name: "n" layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 2 dim: 2 } } }
      layer { name: "bn" type: "BN" bottom: "x" top: "y" bn_param { slope_filler { type: "gaussian" } bias_filler { type: "gaussian" } momentum: 0.5 } }`;
    const a = new Net(parseText(text, 'NetParameter'), { phase: 'TRAIN' });
    a.blob('x').data.set(randomBlob([2, 3, 2, 2], 3).data);
    a.forward();
    const dir = mkdtempSync(join(tmpdir(), 'bn-'));
    a.save(join(dir, 'bn.caffemodel'));
    const b = new Net(parseText(text, 'NetParameter'), { phase: 'TEST' });
    b.copyTrainedLayersFromFile(join(dir, 'bn.caffemodel'));
    a.params.get('bn')!.forEach((blob, i) => expect(Array.from(b.params.get('bn')![i].data)).toEqual(Array.from(blob.data)));
    expect(b.params.get('bn')![2].data.some((v) => v !== 0)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});
