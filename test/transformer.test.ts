// pycaffe's caffe.io.Transformer on arrays against pycaffe itself (fixtures/classify/transformer,
// from scripts/caffe-oracle/gen-classify-cases.py): random [0,1] RGB and 8-bit BGR images, resized
// inside preprocess, per-channel and image means (resized when their size differs), raw and input
// scales, channel swaps; then deprocess back. Plus the crops of oversample and the bad-input errors.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers.js';
import { compareTensor } from '../src/check/compare.js';
import { readNpy, readNpyAsFloat32 } from '../src/format/npy.js';
import { Transformer, oversample, centerCrop, readMean, resizeImage, type FloatImage } from '../src/io/transformer.js';
import type { PixelImage } from '../src/data/datum.js';
import { CaffeError } from '../src/util/errors.js';

const DIR = join(FIXTURES, 'classify', 'transformer');

describe('Transformer against pycaffe', () => {
  for (const name of readdirSync(DIR)) {
    const dir = join(DIR, name);
    const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
    it(name, () => {
      const raw = readNpy(join(dir, 'image.npy'));
      const [h, w, c] = raw.shape;
      const image: FloatImage | PixelImage =
        raw.dtype === 'uint8'
          ? { height: h, width: w, channels: c, data: raw.data as Uint8Array }
          : { height: h, width: w, channels: c, data: Float32Array.from(raw.data as ArrayLike<number>) };
      const t = new Transformer({ data: spec.blob_shape });
      t.setTranspose('data', spec.transpose);
      if (spec.channel_swap) t.setChannelSwap('data', spec.channel_swap);
      if (spec.raw_scale !== null) t.setRawScale('data', spec.raw_scale);
      if (spec.mean) t.setMean('data', readMean(join(dir, spec.mean)));
      if (spec.input_scale !== null) t.setInputScale('data', spec.input_scale);
      const pre = t.preprocess('data', image);
      const want = readNpyAsFloat32(join(dir, 'pre.npy'));
      expect(compareTensor(want, pre, { abs: 1e-4, rel: 1e-5 })).toBeNull();
      const de = t.deprocess('data', pre);
      if (spec.deprocessed) {
        expect(compareTensor(readNpyAsFloat32(join(dir, spec.deprocessed)), de, { abs: 1e-4, rel: 1e-5 })).toBeNull();
      } else {
        // pycaffe cannot deprocess one channel; ours gives the H x W x 1 image back
        expect(de.shape).toEqual([want.shape[1], want.shape[2], 1]);
      }
    });
  }
});

describe('crops and errors', () => {
  const img = (h: number, w: number): FloatImage => ({ height: h, width: w, channels: 1, data: Float32Array.from({ length: h * w }, (_, i) => i) });

  it('oversample: corners, centre, then the same mirrored', () => {
    const crops = oversample(img(5, 6), 3, 4);
    expect(crops).toHaveLength(10);
    const first = (c: FloatImage) => c.data[0];
    // origins (0,0) (0,2) (2,0) (2,2) and the centre (trunc(2.5-1.5), trunc(3-2)) = (1,1)
    expect(crops.slice(0, 5).map(first)).toEqual([0, 2, 12, 14, 7]);
    // mirrored: first pixel is the crop's last column
    expect(crops.slice(5).map(first)).toEqual([3, 5, 15, 17, 10]);
    expect(centerCrop(img(5, 6), 3, 4).data[0]).toBe(7);
  });

  it('resize_image keeps a constant image constant', () => {
    const c: FloatImage = { height: 4, width: 4, channels: 3, data: new Float32Array(48).fill(0.25) };
    expect(Array.from(new Set(resizeImage(c, 7, 5).data))).toEqual([0.25]);
  });

  it('refuses means and settings that do not fit the input', () => {
    const t = new Transformer({ data: [1, 3, 8, 8] });
    expect(() => t.setMean('data', [1, 2])).toThrow(/2 channel values, but the input 'data' has 3 channels/);
    expect(() => t.setMean('data', { shape: [1, 8, 8], data: new Float64Array(64) }, 'm.npy')).toThrow(/m\.npy: mean image has 1 channels, but the input 'data' has 3/);
    expect(() => t.setMean('data', { shape: [1, 3, 8, 8], data: new Float64Array(192) })).toThrow(CaffeError);
    expect(() => t.setChannelSwap('data', [0, 1])).toThrow(/input channels \(3\)/);
    expect(() => t.setTranspose('data', [0, 0, 1])).toThrow(/permutation/);
    expect(() => t.preprocess('label', img(8, 8))).toThrow(/label is not one of the net inputs: data/);
  });
});
