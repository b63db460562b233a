// Image decoding against OpenCV: every fixture in fixtures/images must decode to exactly the pixels
// cv2.imread gave for it (IMREAD_COLOR and IMREAD_GRAYSCALE; stored as .npy by
// fixtures/images/generate.py, see SOURCES.md), plus the failure paths of the JPEG decoder.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage, jpegExifOrientation, orient, type Image } from '../src/format/image.js';
import { jpegDecoderState } from '../src/format/jpeg.js';
import { decodeImageBytes } from '../src/data/datum.js';
import { resizeLinear } from '../src/data/resize.js';
import { readNpy } from '../src/format/npy.js';
import { CaffeError } from '../src/util/errors.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'images');
const images = readdirSync(DIR).filter((f) => /\.(png|jpg)$/.test(f)).sort();
const bytes = (f: string) => new Uint8Array(readFileSync(join(DIR, f)));

function expectOpenCv(img: Image, npy: string): void {
  const ref = readNpy(join(DIR, npy));
  expect([img.height, img.width, img.channels]).toEqual([ref.shape[0], ref.shape[1], ref.shape[2] ?? 1]);
  const want = Uint8Array.from(ref.data as ArrayLike<number>);
  let diffs = 0;
  for (let i = 0; i < want.length; i++) if (img.data[i] !== want[i]) diffs++;
  expect(diffs).toBe(0);
}

describe('decodeImage matches cv2.imread', () => {
  it('has the fixtures', () => {
    // each case the decoder must cover
    for (const f of ['ycc444.jpg', 'ycc420.jpg', 'ycc422.jpg', 'progressive420.jpg', 'gray.jpg', 'cmyk.jpg', 'exif6.jpg', 'truncated.jpg',
      'rgb8.png', 'rgb8_gamma.png', 'rgb8_srgb.png', 'rgb16.png', 'rgb16_gamma.png', 'rgb16_gamma_sbit4.png', 'rgba8.png', 'rgba16.png',
      'graya8.png', 'graya16.png', 'gray2.png', 'pal4.png', 'pal8_trns_gamma.png', 'rgb8_trns.png', 'gray8_trns.png', 'rgb8_exif6.png']) {
      expect(images).toContain(f);
    }
  });
  for (const f of images) {
    it(`${f}: IMREAD_COLOR and IMREAD_GRAYSCALE`, () => {
      expectOpenCv(decodeImage(bytes(f), true, f), `${f}.color.npy`);
      expectOpenCv(decodeImage(bytes(f), false, f), `${f}.gray.npy`);
    });
  }
});

// ImageData's new_height/new_width: what BVLC Caffe's ImageData layer (OpenCV 4.5's resize) put in
// its data blob for these files, CHW floats (fixtures/images/resize, see SOURCES.md).
describe('resizeLinear matches Caffe ImageData resizing', () => {
  const files = readdirSync(join(DIR, 'resize')).filter((f) => f.endsWith('.npy')).sort();
  it('has the fixtures', () => expect(files.length).toBe(30));
  for (const f of files) {
    it(f, () => {
      const m = /^(.+)\.(\d+)x(\d+)\.(color|gray)\.npy$/.exec(f)!;
      const [, img, h, w, mode] = m;
      const out = resizeLinear(decodeImage(bytes(img), mode === 'color', img), Number(w), Number(h));
      const ref = readNpy(join(DIR, 'resize', f));
      const C = out.channels;
      expect(ref.shape).toEqual([C, out.height, out.width]);
      let diffs = 0;
      for (let c = 0; c < C; c++)
        for (let i = 0; i < out.height * out.width; i++) if (out.data[i * C + c] !== (ref.data as Float32Array)[c * out.height * out.width + i]) diffs++;
      expect(diffs).toBe(0);
    });
  }
});

describe('decodeImageBytes native matches cv2.imread IMREAD_UNCHANGED (8-bit BGRA)', () => {
  for (const f of images.filter((f) => readdirSync(DIR).includes(`${f}.unchanged.npy`))) {
    it(f, () => {
      const img = decodeImageBytes(bytes(f), 'native', f);
      const ref = readNpy(join(DIR, `${f}.unchanged.npy`));
      expect([img.height, img.width, img.channels]).toEqual(ref.shape);
      expect(Array.from(img.data)).toEqual(Array.from(ref.data as ArrayLike<number>, Number));
    });
  }
});

describe('EXIF orientation', () => {
  it('reads the tag from JPEG APP1', () => {
    expect(jpegExifOrientation(bytes('exif6.jpg'))).toBe(6);
    expect(jpegExifOrientation(bytes('ycc420.jpg'))).toBe(1);
  });
  it('is not applied as stored (IMREAD_UNCHANGED)', () => {
    const plain = decodeImage(bytes('ycc420.jpg'), true);
    const native = decodeImageBytes(bytes('exif6.jpg'), 'native');
    expect([native.width, native.height]).toEqual([plain.width, plain.height]);
    expect(Array.from(native.data)).toEqual(Array.from(plain.data));
  });
  it('maps all eight orientations like flip/transpose', () => {
    // 3x2 image, one channel, pixel value = index
    const img: Image = { width: 3, height: 2, channels: 1, data: Uint8Array.of(0, 1, 2, 3, 4, 5) };
    const rows = (o: number) => {
      const r = orient(img, o);
      return Array.from({ length: r.height }, (_, y) => Array.from(r.data.subarray(y * r.width, (y + 1) * r.width)));
    };
    expect(rows(1)).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(rows(2)).toEqual([[2, 1, 0], [5, 4, 3]]);
    expect(rows(3)).toEqual([[5, 4, 3], [2, 1, 0]]);
    expect(rows(4)).toEqual([[3, 4, 5], [0, 1, 2]]);
    expect(rows(5)).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(rows(6)).toEqual([[3, 0], [4, 1], [5, 2]]);
    expect(rows(7)).toEqual([[5, 2], [4, 1], [3, 0]]);
    expect(rows(8)).toEqual([[2, 5], [1, 4], [0, 3]]);
  });
});

describe('JPEG decoder failures', () => {
  const good = bytes('ycc420.jpg');
  const expected = decodeImage(good, true);

  function expectFailureThenRecovery(bad: Uint8Array, message: RegExp): void {
    expect(() => decodeImage(bad, true, 'bad.jpg')).toThrow(CaffeError);
    expect(() => decodeImage(bad, false, 'bad.jpg')).toThrow(message);
    expect(jpegDecoderState().alive).toBe(false); // dropped after the failure
    const again = decodeImage(good, true, 'good.jpg');
    expect(Array.from(again.data)).toEqual(Array.from(expected.data));
  }

  it('rejects garbage after SOI with a CaffeError naming the image, then decodes the next file', () => {
    const garbage = new Uint8Array(300).fill(0x5a);
    garbage.set([0xff, 0xd8]);
    expectFailureThenRecovery(garbage, /^bad\.jpg: cannot decode JPEG: corrupt/);
  });
  it('rejects a file cut inside its headers', () => {
    expectFailureThenRecovery(good.subarray(0, 150), /bad\.jpg: cannot decode JPEG/);
  });
  it('rejects a corrupt Huffman table', () => {
    const bad = Uint8Array.from(good);
    const dht = Buffer.from(bad).indexOf(Buffer.from([0xff, 0xc4]));
    bad.fill(0xff, dht + 5, dht + 40);
    expectFailureThenRecovery(bad, /bad\.jpg: cannot decode JPEG/);
  });
  it('refuses oversized header dimensions before allocating', () => {
    const big = Uint8Array.from(good);
    const sof = Buffer.from(big).indexOf(Buffer.from([0xff, 0xc0]));
    big.set([0xfd, 0xe8, 0xfd, 0xe8], sof + 5); // 65000 x 65000
    expect(() => decodeImage(big, true, 'big.jpg')).toThrow(/big\.jpg: JPEG is 65000x65000, over the \d+-pixel limit/);
    // a lower limit applies too, and nothing of the pixel size was allocated
    decodeImage(good, true);
    const before = jpegDecoderState().memoryBytes;
    expect(() => decodeImage(good, true, 'small.jpg', { maxPixels: 100 })).toThrow(/over the 100-pixel limit/);
    decodeImage(good, true);
    expect(jpegDecoderState().memoryBytes).toBe(before);
  });
  it('refuses oversized PNG dimensions before decoding', () => {
    const big = bytes('rgb8.png');
    big.set([0, 1, 0, 0, 0, 1, 0, 0], 16); // IHDR 65536 x 65536
    expect(() => decodeImage(big, true, 'big.png')).toThrow(/big\.png: PNG is 65536x65536, over the \d+-pixel limit/);
  });
  it('frees what it allocates: memory stays flat over repeated decodes', () => {
    const cmyk = bytes('cmyk.jpg');
    for (let i = 0; i < 3; i++) decodeImage(cmyk, i % 2 === 0);
    const before = jpegDecoderState().memoryBytes;
    for (let i = 0; i < 200; i++) {
      decodeImage(good, i % 2 === 0);
      decodeImage(cmyk, i % 2 === 1);
    }
    expect(jpegDecoderState()).toEqual({ alive: true, memoryBytes: before });
  });
  it('decodes a file cut inside the scan as OpenCV imread does (libjpeg warns, fills the rest)', () => {
    // covered pixel-exactly by truncated.jpg above; here: it is not an error
    const img = decodeImage(bytes('truncated.jpg'), true, 'truncated.jpg');
    expect([img.width, img.height]).toEqual([35, 27]);
    expect(jpegDecoderState().alive).toBe(true);
  });
  it('rejects files that are neither PNG nor JPEG', () => {
    expect(() => decodeImage(Uint8Array.of(1, 2, 3, 4), true, 'x.bmp')).toThrow(/x\.bmp: cannot decode image: not a PNG or JPEG/);
  });
});
