// Image decoding for data layers and the demo: PNG (pngjs) and JPEG (jpeg-js), to 8-bit pixels.
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { CaffeError } from '../util/errors.js';

export interface Image {
  width: number;
  height: number;
  /** 1 (gray) or 3 (color, in BGR order as OpenCV/Caffe load it). */
  channels: 1 | 3;
  /** Interleaved HWC pixels. */
  data: Uint8Array;
}

/** Largest image we agree to decode (pixels); guards against decompression bombs. */
const MAX_PIXELS = 1 << 28;

/** Decodes a PNG or JPEG to BGR (color) or gray, as cv::imread with IMREAD_COLOR / GRAYSCALE. */
export function decodeImage(bytes: Uint8Array, color: boolean, name = '<image>'): Image {
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  try {
    if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = png);
      rgba = png.data;
    } else if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 2048 });
      ({ width, height } = img);
      rgba = img.data;
    } else {
      throw new CaffeError('not a PNG or JPEG file');
    }
  } catch (e) {
    throw new CaffeError(`${name}: cannot decode image: ${(e as Error).message}`);
  }
  const n = width * height;
  if (color) {
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      out[3 * i] = rgba[4 * i + 2];
      out[3 * i + 1] = rgba[4 * i + 1];
      out[3 * i + 2] = rgba[4 * i];
    }
    return { width, height, channels: 3, data: out };
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    // OpenCV's RGB->gray weights, rounded as it does.
    out[i] = Math.round(0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
  }
  return { width, height, channels: 1, data: out };
}

export function readImage(path: string, color: boolean): Image {
  return decodeImage(readFileSync(path), color, path);
}
