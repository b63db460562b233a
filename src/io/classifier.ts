// Image classification as BVLC Caffe's two examples do it, on one Net:
//
//   'py'  (python/classify.py, caffe.Classifier): load_image ([0,1] RGB), resize_image to
//         imageDims, 10 crops (corners, centre, mirrored) averaged or the centre crop,
//         Transformer.preprocess (transpose 2,0,1, channel swap, raw scale, mean, input scale).
//   'cpp' (examples/cpp_classification/classification.cpp): cv::imread unchanged, channel
//         conversion to the net's channels, cv::resize INTER_LINEAR to the input size, float,
//         minus the per-channel mean of the mean image (or the mean values); our one extension
//         is an optional input scale applied last.
import { readFileSync } from 'node:fs';
import { decodeImageBytes, type PixelImage } from '../data/datum.js';
import { resizeLinear } from '../data/resize.js';
import { grayFromBgr } from '../format/color.js';
import type { Net } from '../graph/net.js';
import { CaffeError } from '../util/errors.js';
import { centerCrop, loadImageBytes, oversample, readMean, resizeImage, Transformer, type FloatImage, type MeanArray } from './transformer.js';

export type Pipeline = 'py' | 'cpp';

export interface ClassifierOptions {
  pipeline?: Pipeline;
  /** The input blob images go to (default: the net's first input). */
  input?: string;
  /** The blob holding the class probabilities (default: the net's first output, as pycaffe). */
  output?: string;
  /** Mean file (.binaryproto or .npy); or meanValues, one per channel in the net's channel order. */
  meanFile?: string;
  meanValues?: number[];
  /** A mean already read (readMean, readMeanBytes), instead of meanFile. */
  mean?: MeanArray;
  /** 'py' only: scale of [0,1] pixels (classify.py's --raw_scale, default 255). */
  rawScale?: number;
  /** Applied after the mean (both pipelines). */
  inputScale?: number;
  /** 'py' only: channel order, default [2,1,0] (RGB -> BGR) for 3-channel nets. */
  channelSwap?: number[] | null;
  /** 'py' only: size images are resized to before cropping (default: the net input's). */
  imageDims?: [number, number];
  /** 'py' only: average 10 crops (default) or take the centre crop. */
  oversample?: boolean;
}

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/** Reads a labels file (one label per line, as classification.cpp's) for a net with `classes` outputs. */
export function readLabels(path: string, classes: number): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CaffeError(`${path}: cannot read labels: ${(e as Error).message}`);
  }
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== classes) {
    throw new CaffeError(`${path}: ${lines.length} labels, but the net's output has ${classes} classes (one label per line expected)`);
  }
  return lines;
}

/** The k largest probabilities, highest first (ties: lower index first). */
export function topK(probs: ArrayLike<number>, k: number, labels?: string[]): Prediction[] {
  const idx = Array.from({ length: probs.length }, (_, i) => i);
  idx.sort((a, b) => probs[b] - probs[a] || a - b);
  return idx.slice(0, Math.max(0, k)).map((i) => ({ index: i, label: labels ? labels[i] : String(i), probability: probs[i] }));
}

/** Classifies images with a deploy net: probabilities of its first output for each image. */
export class Classifier {
  readonly pipeline: Pipeline;
  readonly input: string;
  readonly output: string;
  /** The net input's channels, height, width. */
  readonly inputShape: [number, number, number];
  readonly imageDims: [number, number];
  readonly transformer: Transformer;
  private readonly cppMean: Float32Array | null = null;

  constructor(
    readonly net: Net,
    readonly options: ClassifierOptions = {},
  ) {
    this.pipeline = options.pipeline ?? 'py';
    if (net.inputs.length < 1) throw new CaffeError(`net '${net.name}' declares no input blob to feed images to`);
    if (net.outputs.length < 1) throw new CaffeError(`net '${net.name}' has no output blob`);
    this.input = options.input ?? net.inputs[0];
    if (!net.inputs.includes(this.input)) throw new CaffeError(`'${this.input}' is not an input blob of net '${net.name}' (inputs: ${net.inputs.join(', ')})`);
    this.output = options.output ?? net.outputs[0];
    if (!net.outputs.includes(this.output)) throw new CaffeError(`'${this.output}' is not an output blob of net '${net.name}' (outputs: ${net.outputs.join(', ')})`);
    const shape = net.blob(this.input).shape;
    if (shape.length !== 4) throw new CaffeError(`input '${this.input}' has shape (${shape.join(', ')}); images need N x C x H x W`);
    const [, c, h, w] = shape;
    if (c !== 1 && c !== 3) throw new CaffeError(`input '${this.input}' has ${c} channels; image classification takes 1 (gray) or 3 (color)`);
    this.inputShape = [c, h, w];
    this.imageDims = options.imageDims ?? [h, w];
    if (this.imageDims[0] < h || this.imageDims[1] < w) {
      throw new CaffeError(`image dims ${this.imageDims.join('x')} are smaller than the net input ${h}x${w}`);
    }
    this.transformer = new Transformer({ [this.input]: [1, c, h, w] });
    let mean: MeanArray | null = null;
    if ([options.meanFile, options.meanValues, options.mean].filter((m) => m !== undefined).length > 1) {
      throw new CaffeError('give one of a mean file, mean values or a mean array');
    }
    if (options.meanFile !== undefined) mean = readMean(options.meanFile);
    if (options.mean !== undefined) mean = options.mean;
    if (options.meanValues !== undefined) {
      const v = options.meanValues.length === 1 ? new Array<number>(c).fill(options.meanValues[0]) : options.meanValues;
      if (v.length !== c) throw new CaffeError(`${v.length} mean values given, but the input '${this.input}' has ${c} channels`);
      mean = { shape: [c], data: Float64Array.from(v) };
    }
    const what = options.meanFile ?? 'mean values';
    if (this.pipeline === 'cpp') {
      for (const k of ['rawScale', 'channelSwap', 'imageDims', 'oversample'] as const) {
        if (options[k] !== undefined && options[k] !== null) throw new CaffeError(`classification.cpp's pipeline has no ${k} setting (it belongs to classify.py's)`);
      }
      if (mean) this.cppMean = channelMeans(mean, c, what);
      return;
    }
    this.transformer.setTranspose(this.input, [2, 0, 1]);
    const swap = options.channelSwap === undefined ? (c === 3 ? [2, 1, 0] : null) : options.channelSwap;
    if (swap) this.transformer.setChannelSwap(this.input, swap);
    this.transformer.setRawScale(this.input, options.rawScale ?? 255);
    if (mean) this.transformer.setMean(this.input, mean, what);
    if (options.inputScale !== undefined) this.transformer.setInputScale(this.input, options.inputScale);
  }

  /** The net input(s) for one image file: 10 crops or 1 ('py'), or the resized image ('cpp'). */
  inputsForFile(path: string): Float32Array[] {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new CaffeError(`${path}: cannot read image: ${(e as Error).message}`);
    }
    return this.inputsForBytes(bytes, path);
  }

  /** inputsForFile for an image file's contents (`name` labels errors). */
  inputsForBytes(bytes: Uint8Array, name = '<image>'): Float32Array[] {
    if (this.pipeline === 'cpp') return [this.cppInput(decodeImageBytes(bytes, 'native', name))];
    return this.pyInputs(loadImageBytes(bytes, name, this.inputShape[0] === 3));
  }

  /** classify.py's inputs for an HxWxC image: resized to imageDims, cropped, preprocessed. */
  pyInputs(image: FloatImage): Float32Array[] {
    const [, h, w] = this.inputShape;
    const resized = resizeImage(image, this.imageDims[0], this.imageDims[1]);
    const crops = this.options.oversample === false ? [centerCrop(resized, h, w)] : oversample(resized, h, w);
    return crops.map((c) => this.transformer.preprocess(this.input, c).data);
  }

  /** classification.cpp's input for 8-bit pixels (BGR / BGRA / gray as cv::imread unchanged gives). */
  cppInput(img: PixelImage): Float32Array {
    const [c, h, w] = this.inputShape;
    let px = toChannels(img, c);
    if (px.width !== w || px.height !== h) px = resizeLinear(px, w, h);
    const out = new Float32Array(c * h * w);
    const scale = this.options.inputScale === undefined ? null : Math.fround(this.options.inputScale);
    for (let k = 0; k < c; k++) {
      const m = this.cppMean ? this.cppMean[k] : 0;
      for (let i = 0; i < h * w; i++) {
        let v = Math.fround(px.data[i * c + k] - m);
        if (scale !== null) v = Math.fround(v * scale);
        out[k * h * w + i] = v;
      }
    }
    return out;
  }

  /** Runs the net on a batch of preprocessed inputs and returns their mean output (classify.py's crop average). */
  predict(inputs: Float32Array[]): Float32Array {
    const [c, h, w] = this.inputShape;
    const n = inputs.length;
    const batch = new Float32Array(n * c * h * w);
    inputs.forEach((x, i) => batch.set(x, i * c * h * w));
    this.net.forward({ [this.input]: { shape: [n, c, h, w], data: batch } });
    const out = this.net.blob(this.output);
    const k = out.count / n;
    const mean = new Float32Array(k);
    if (n === 1) {
      mean.set(out.data.subarray(0, k));
      return mean;
    }
    // numpy's mean over the crop axis: float32 sum (pairwise for 10 items is a plain loop), then divide.
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s = Math.fround(s + out.data[i * k + j]);
      mean[j] = Math.fround(s / n);
    }
    return mean;
  }

  /** Class probabilities for one image file's contents. */
  classifyBytes(bytes: Uint8Array, name = '<image>'): Float32Array {
    return this.predict(this.inputsForBytes(bytes, name));
  }

  /** Class probabilities for one image file. */
  classifyFile(path: string): Float32Array {
    return this.predict(this.inputsForFile(path));
  }
}

/** Per-channel means of a mean (classification.cpp: cv::mean of the mean image). */
function channelMeans(mean: MeanArray, c: number, what: string): Float32Array {
  if (mean.shape.length === 1) return Float32Array.from(mean.data);
  const ms = mean.shape.length === 2 ? [1, ...mean.shape] : mean.shape.length === 4 && mean.shape[0] === 1 ? mean.shape.slice(1) : mean.shape;
  if (ms.length !== 3) throw new CaffeError(`${what}: a mean image is C x H x W, got shape (${mean.shape.join(', ')})`);
  if (ms[0] !== c) throw new CaffeError(`${what}: mean image has ${ms[0]} channels, but the net input has ${c} (Caffe: "Number of channels of mean file doesn't match input layer.")`);
  const plane = ms[1] * ms[2];
  const out = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    let s = 0;
    for (let i = 0; i < plane; i++) s += mean.data[k * plane + i];
    out[k] = s / plane;
  }
  return out;
}

/** cv::cvtColor to the net's channels: BGR(A) -> GRAY with OpenCV's fixed-point weights, GRAY -> BGR, BGRA -> BGR. */
function toChannels(img: PixelImage, c: number): PixelImage {
  const { width, height, channels: from, data } = img;
  if (from === c) return img;
  const n = width * height;
  const out = new Uint8Array(n * c);
  for (let i = 0; i < n; i++) {
    if (c === 1) {
      out[i] = grayFromBgr(data[i * from], data[i * from + 1], data[i * from + 2]);
    } else if (from === 1) {
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = data[i];
    } else {
      out[i * 3] = data[i * from];
      out[i * 3 + 1] = data[i * from + 1];
      out[i * 3 + 2] = data[i * from + 2];
    }
  }
  return { width, height, channels: c, data: out };
}
