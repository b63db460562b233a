// pycaffe's caffe.io on arrays: load_image, resize_image, oversample, and the Transformer that turns
// an HxWxC image into a net input (set_transpose, set_channel_swap, set_raw_scale, set_mean,
// set_input_scale, preprocess, deprocess), with numpy's float32 arithmetic at every step.
//
// Images come as HxWxC floats (FloatImage: [0,1] RGB from loadImage, as caffe.io.load_image
// gives them) or as the 8-bit BGR pixels OpenCV gives (PixelImage from decodeImage), which
// pycaffe would see as a uint8 array and turn into float32 0..255 values unchanged.
import { readFileSync } from 'node:fs';
import { decodeImage } from '../format/image.js';
import { readNpy } from '../format/npy.js';
import { meanFromBlobProto, readMeanFile } from '../data/transform-config.js';
import { decodeMessage } from '../format/binary.js';
import { resizeSkimage, type FloatImage } from '../data/resize.js';
import type { PixelImage } from '../data/datum.js';
import { CaffeError } from '../util/errors.js';

export type { FloatImage } from '../data/resize.js';

/** A float32 tensor in row-major order. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** A mean as pycaffe's set_mean takes it: per channel (1-D) or an image (C x H x W or H x W). */
export interface MeanArray {
  shape: number[];
  /** float64, so that a float64 .npy mean is subtracted as numpy subtracts it. */
  data: Float64Array;
}

/**
 * caffe.io.load_image: an image file as HxWxC float32 in [0, 1], RGB (color) or one intensity
 * channel, alpha dropped. Pixels come from our decoder (OpenCV's), without EXIF rotation, as
 * scikit-image reads files.
 */
export function loadImage(path: string, color = true): FloatImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CaffeError(`${path}: cannot read image: ${(e as Error).message}`);
  }
  return loadImageBytes(bytes, path, color);
}

/** loadImage for an image file's contents (`name` labels errors). */
export function loadImageBytes(bytes: Uint8Array, name = '<image>', color = true): FloatImage {
  return bgrToFloatImage(decodeImage(bytes, true, name, { exifOrientation: false }), color);
}

/** 8-bit BGR pixels as load_image's [0, 1] floats (RGB, or skimage's rgb2gray when !color). */
export function bgrToFloatImage(img: PixelImage, color = true): FloatImage {
  const { width, height, channels } = img;
  if (channels !== 3 && channels !== 1) throw new CaffeError(`expected a BGR or gray image, got ${channels} channels`);
  const n = width * height;
  const out = new Float32Array(n * (color ? 3 : 1));
  const src = img.data;
  for (let i = 0; i < n; i++) {
    const b = src[i * channels] / 255;
    const g = channels === 3 ? src[i * 3 + 1] / 255 : b;
    const r = channels === 3 ? src[i * 3 + 2] / 255 : b;
    if (color) {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    } else {
      // A gray file is read as is; a color one through skimage's rgb2gray weights.
      out[i] = r === g && g === b ? r : 0.2125 * r + 0.7154 * g + 0.0721 * b;
    }
  }
  return { height, width, channels: color ? 3 : 1, data: out };
}

/** OpenCV's 8-bit pixels as the float32 array pycaffe would get from them (values unchanged). */
export function pixelsToFloatImage(img: PixelImage): FloatImage {
  return { height: img.height, width: img.width, channels: img.channels, data: Float32Array.from(img.data) };
}

/**
 * caffe.io.resize_image (interp_order 1): scales 1- or 3-channel images to [0, 1], resizes them
 * with scikit-image and scales back; a constant image stays constant.
 */
export function resizeImage(im: FloatImage, height: number, width: number): FloatImage {
  const { channels, data } = im;
  if (channels !== 1 && channels !== 3) {
    throw new CaffeError(`resize_image: ${channels}-channel images are not supported (pycaffe's scikit-image path takes 1 or 3)`);
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < lo) lo = data[i];
    if (data[i] > hi) hi = data[i];
  }
  if (!(hi > lo)) return { height, width, channels, data: new Float32Array(height * width * channels).fill(lo) };
  const range = Math.fround(hi - lo);
  const std = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) std[i] = Math.fround(data[i] - lo) / range;
  const r = resizeSkimage({ height: im.height, width: im.width, channels, data: std }, height, width);
  for (let i = 0; i < r.data.length; i++) r.data[i] = Math.fround(r.data[i] * range) + lo;
  return r;
}

/** Crop windows [y0, x0] of caffe.io.oversample: the four corners, then the centre. */
function cropOrigins(h: number, w: number, ch: number, cw: number): [number, number][] {
  const cy = Math.trunc(h / 2 - ch / 2);
  const cx = Math.trunc(w / 2 - cw / 2);
  return [[0, 0], [0, w - cw], [h - ch, 0], [h - ch, w - cw], [cy, cx]];
}

/** One crop of an HWC image, mirrored left-right when `mirror`. */
export function crop(im: FloatImage, y0: number, x0: number, ch: number, cw: number, mirror = false): FloatImage {
  const { width, channels: c } = im;
  if (y0 < 0 || x0 < 0 || y0 + ch > im.height || x0 + cw > width) {
    throw new CaffeError(`crop ${ch}x${cw} at (${y0}, ${x0}) does not fit a ${im.height}x${width} image`);
  }
  const out = new Float32Array(ch * cw * c);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const sx = mirror ? x0 + cw - 1 - x : x0 + x;
      for (let k = 0; k < c; k++) out[(y * cw + x) * c + k] = im.data[((y0 + y) * width + sx) * c + k];
    }
  }
  return { height: ch, width: cw, channels: c, data: out };
}

/** caffe.io.oversample for one image: 4 corners and the centre, then the same 5 mirrored. */
export function oversample(im: FloatImage, ch: number, cw: number): FloatImage[] {
  const origins = cropOrigins(im.height, im.width, ch, cw);
  return [false, true].flatMap((m) => origins.map(([y, x]) => crop(im, y, x, ch, cw, m)));
}

/** The centre crop caffe.Classifier.predict takes without oversampling. */
export function centerCrop(im: FloatImage, ch: number, cw: number): FloatImage {
  const [y, x] = cropOrigins(im.height, im.width, ch, cw)[4];
  return crop(im, y, x, ch, cw);
}

/**
 * A mean file as pycaffe would load it: `.npy` as np.load gives it, `.binaryproto` as
 * blobproto_to_array(...)[0] (C x H x W).
 */
export function readMean(path: string): MeanArray {
  if (/\.npy$/i.test(path)) {
    const a = readNpy(path);
    if (typeof a.data[0] === 'bigint') throw new CaffeError(`${path}: a mean must hold numbers, not 64-bit integers`);
    return { shape: a.shape.slice(), data: Float64Array.from(a.data as ArrayLike<number>) };
  }
  const m = readMeanFile(path);
  return { shape: [m.channels, m.height, m.width], data: Float64Array.from(m.data) };
}

/** readMean for a mean file's contents: `.npy` by `name`'s extension (or magic), else a BlobProto. */
export function readMeanBytes(bytes: Uint8Array, name = '<mean>'): MeanArray {
  const npy = /\.npy$/i.test(name) || (bytes.length > 6 && bytes[0] === 0x93 && bytes[1] === 0x4e && bytes[2] === 0x55 && bytes[3] === 0x4d);
  if (npy) {
    const a = readNpy(bytes, name);
    if (typeof a.data[0] === 'bigint') throw new CaffeError(`${name}: a mean must hold numbers, not 64-bit integers`);
    return { shape: a.shape.slice(), data: Float64Array.from(a.data as ArrayLike<number>) };
  }
  const m = meanFromBlobProto(decodeMessage(bytes, 'BlobProto', name), name);
  return { shape: [m.channels, m.height, m.width], data: Float64Array.from(m.data) };
}

function inverse(order: readonly number[]): number[] {
  const inv = new Array<number>(order.length);
  order.forEach((o, i) => (inv[o] = i));
  return inv;
}

/** Transposes a 3-D row-major tensor: out axis i is input axis order[i] (numpy's transpose). */
function transpose3(shape: readonly number[], data: Float32Array, order: readonly number[]): Tensor {
  const outShape = order.map((o) => shape[o]);
  const inStride = [shape[1] * shape[2], shape[2], 1];
  const s = order.map((o) => inStride[o]);
  const out = new Float32Array(data.length);
  let i = 0;
  for (let a = 0; a < outShape[0]; a++) {
    for (let b = 0; b < outShape[1]; b++) {
      for (let c = 0; c < outShape[2]; c++) out[i++] = data[a * s[0] + b * s[1] + c * s[2]];
    }
  }
  return { shape: outShape, data: out };
}

function swapAxis0(t: Tensor, order: readonly number[]): Tensor {
  const plane = t.shape[1] * t.shape[2];
  const out = new Float32Array(t.data.length);
  order.forEach((src, i) => out.set(t.data.subarray(src * plane, (src + 1) * plane), i * plane));
  return { shape: t.shape.slice(), data: out };
}

function isPermutation(order: readonly number[], n: number): boolean {
  return order.length === n && order.every((v) => Number.isInteger(v) && v >= 0 && v < n) && new Set(order).size === n;
}

interface InputSettings {
  transpose?: number[];
  channelSwap?: number[];
  rawScale?: number;
  mean?: MeanArray;
  inputScale?: number;
}

/**
 * pycaffe's caffe.io.Transformer: formats HxWxC images for the net inputs named in `inputs`
 * (name -> blob shape N x C x H x W) and back.
 */
export class Transformer {
  private readonly settings = new Map<string, InputSettings>();
  private readonly inputs: Map<string, number[]>;

  constructor(inputs: Record<string, readonly number[]>) {
    this.inputs = new Map(Object.entries(inputs).map(([k, v]) => [k, v.slice()]));
  }

  private input(name: string): { shape: number[]; s: InputSettings } {
    const shape = this.inputs.get(name);
    if (!shape) throw new CaffeError(`${name} is not one of the net inputs: ${[...this.inputs.keys()].join(', ')}`);
    let s = this.settings.get(name);
    if (!s) this.settings.set(name, (s = {}));
    return { shape, s };
  }

  /** Axis order, e.g. [2, 0, 1] for HxWxC -> CxHxW. */
  setTranspose(name: string, order: number[]): void {
    const { shape, s } = this.input(name);
    if (order.length !== shape.length - 1) throw new CaffeError('Transpose order needs to have the same number of dimensions as the input.');
    if (!isPermutation(order, 3)) throw new CaffeError(`transpose order ${order.join(',')} is not a permutation of 0,1,2`);
    s.transpose = order.slice();
  }

  /** Channel order after transposing, e.g. [2, 1, 0] for RGB -> BGR. */
  setChannelSwap(name: string, order: number[]): void {
    const { shape, s } = this.input(name);
    if (order.length !== shape[1]) throw new CaffeError(`Channel swap needs to have the same number of dimensions as the input channels (${shape[1]}), got ${order.length}.`);
    if (!isPermutation(order, order.length)) throw new CaffeError(`channel swap ${order.join(',')} is not a permutation`);
    s.channelSwap = order.slice();
  }

  /** Scale applied after the channel swap, before the mean (255 for [0,1] images to 0..255 models). */
  setRawScale(name: string, scale: number): void {
    this.input(name).s.rawScale = scale;
  }

  /** Scale applied last, after the mean. */
  setInputScale(name: string, scale: number): void {
    this.input(name).s.inputScale = scale;
  }

  /**
   * The mean to subtract: per channel (1-D, C values) or an image (C x H x W or H x W), which is
   * resized to the input as pycaffe resizes it when its size differs.
   */
  setMean(name: string, mean: MeanArray | ArrayLike<number>, what = 'mean'): void {
    const { shape, s } = this.input(name);
    const m: MeanArray = 'shape' in mean ? mean : { shape: [mean.length], data: Float64Array.from(mean) };
    const [c, h, w] = shape.slice(1);
    if (m.shape.length === 1) {
      if (m.shape[0] !== c) throw new CaffeError(`${what}: ${m.shape[0]} channel values, but the input '${name}' has ${c} channels`);
      s.mean = m;
      return;
    }
    const ms = m.shape.length === 2 ? [1, ...m.shape] : m.shape;
    if (ms.length !== 3) throw new CaffeError(`${what}: a mean image is C x H x W or H x W, got shape (${m.shape.join(', ')})`);
    if (ms[0] !== c) throw new CaffeError(`${what}: mean image has ${ms[0]} channels, but the input '${name}' has ${c}`);
    if (ms[1] === h && ms[2] === w) {
      s.mean = { shape: ms, data: m.data };
      return;
    }
    // pycaffe: normalise to [0,1], resize as an HxWxC image, scale back (in float64).
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of m.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const hwc = new Float32Array(m.data.length);
    const plane = ms[1] * ms[2];
    for (let k = 0; k < ms[0]; k++) for (let i = 0; i < plane; i++) hwc[i * ms[0] + k] = (m.data[k * plane + i] - lo) / (hi - lo);
    const r = resizeImage({ height: ms[1], width: ms[2], channels: ms[0], data: hwc }, h, w);
    const out = new Float64Array(c * h * w);
    for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[k * h * w + i] = r.data[i * c + k] * (hi - lo) + lo;
    s.mean = { shape: [c, h, w], data: out };
  }

  /** Transformer.preprocess: an HxWxC image (resized to the input when its size differs) to C x H x W. */
  preprocess(name: string, image: FloatImage | PixelImage): Tensor {
    const { shape, s } = this.input(name);
    let im: FloatImage = image.data instanceof Float32Array ? (image as FloatImage) : pixelsToFloatImage(image as PixelImage);
    const [h, w] = shape.slice(2);
    if (im.height !== h || im.width !== w) im = resizeImage(im, h, w);
    let t: Tensor = { shape: [im.height, im.width, im.channels], data: Float32Array.from(im.data) };
    if (s.transpose) t = transpose3(t.shape, t.data, s.transpose);
    if (s.channelSwap) {
      if (t.shape[0] !== s.channelSwap.length) throw new CaffeError(`channel swap has ${s.channelSwap.length} entries but the image has ${t.shape[0]} channels`);
      t = swapAxis0(t, s.channelSwap);
    }
    const d = t.data;
    if (s.rawScale !== undefined) {
      const k = Math.fround(s.rawScale);
      for (let i = 0; i < d.length; i++) d[i] *= k;
    }
    if (s.mean) subtractMean(t, s.mean, -1);
    if (s.inputScale !== undefined) {
      const k = Math.fround(s.inputScale);
      for (let i = 0; i < d.length; i++) d[i] *= k;
    }
    return t;
  }

  /**
   * Transformer.deprocess: a C x H x W input (or 1 x C x H x W) back to the image it came from.
   * Unlike pycaffe, which squeezes every axis of size 1 and then fails on one-channel inputs,
   * only a leading batch axis of 1 is dropped.
   */
  deprocess(name: string, input: Tensor): Tensor {
    const { s } = this.input(name);
    const shape = input.shape.length === 4 && input.shape[0] === 1 ? input.shape.slice(1) : input.shape.slice();
    if (shape.length !== 3) throw new CaffeError(`deprocess expects a C x H x W input, got shape (${input.shape.join(', ')})`);
    let t: Tensor = { shape, data: Float32Array.from(input.data) };
    const d = t.data;
    if (s.inputScale !== undefined) {
      const k = Math.fround(s.inputScale);
      for (let i = 0; i < d.length; i++) d[i] /= k;
    }
    if (s.mean) subtractMean(t, s.mean, 1);
    if (s.rawScale !== undefined) {
      const k = Math.fround(s.rawScale);
      for (let i = 0; i < d.length; i++) d[i] /= k;
    }
    if (s.channelSwap) t = swapAxis0(t, inverse(s.channelSwap));
    if (s.transpose) t = transpose3(t.shape, t.data, inverse(s.transpose));
    return t;
  }
}

/** t += sign * mean, broadcast per channel or element-wise, rounded to float32 as numpy does. */
function subtractMean(t: Tensor, mean: MeanArray, sign: 1 | -1): void {
  const [c, h, w] = t.shape;
  const plane = h * w;
  const perChannel = mean.shape.length === 1;
  if (!perChannel && mean.data.length !== t.data.length) {
    throw new CaffeError(`mean of shape (${mean.shape.join(', ')}) does not fit the input (${t.shape.join(', ')})`);
  }
  for (let k = 0; k < c; k++) {
    for (let i = 0; i < plane; i++) {
      const j = k * plane + i;
      t.data[j] = t.data[j] + sign * mean.data[perChannel ? k : j];
    }
  }
}
