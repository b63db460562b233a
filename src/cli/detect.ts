// `caffe-ts detect`: runs a net that ends in DetectionOutput (SSD and its kin) on images and
// reports each detection's label, score and box in the image's own pixels; --draw writes a copy
// of each image (an SVG holding the original file) with the boxes drawn over it.
// Each image is read as cv2.imread does, resized to the input blob's size with OpenCV's bilinear
// resize, and fed as (pixel - mean) * scale in BGR order (--rgb swaps to RGB), one image per pass.
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Net } from '../graph/net.js';
import { decodeImage, type Image } from '../format/image.js';
import { resizeLinear } from '../data/resize.js';
import { readLabelMap, type LabelName } from '../detection/labelmap.js';
import { CaffeError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Command } from './commands.js';

export interface Detection {
  label: number;
  name: string;
  score: number;
  /** Box corners in pixels of the original image (the net's [0, 1] coordinates times its size). */
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

export interface ImageDetections {
  image: string;
  width: number;
  height: number;
  detections: Detection[];
}

export interface DetectOptions {
  threshold: number;
  mean: number[];
  scale: number;
  rgb: boolean;
  labels?: Map<number, LabelName>;
}

/** The top of the net's last DetectionOutput layer. */
export function detectionOutputBlob(net: Net): string {
  for (let i = net.layers.length - 1; i >= 0; i--) {
    if (net.layers[i].type === 'DetectionOutput') return net.blobNames[net.topIds[i][0]];
  }
  throw new CaffeError('the net has no DetectionOutput layer: detect needs an SSD-style net that ends in one');
}

/** The input blob as a (pixel - mean) * scale CHW tensor of `img` resized to width x height. */
export function imageToInput(img: Image, channels: number, height: number, width: number, opts: DetectOptions): Float32Array {
  if (channels !== img.channels) throw new CaffeError(`the net takes ${channels}-channel input, the image has ${img.channels}`);
  const r = resizeLinear(img, width, height);
  const out = new Float32Array(channels * height * width);
  const plane = height * width;
  for (let c = 0; c < channels; c++) {
    const src = opts.rgb && channels === 3 ? 2 - c : c;
    const m = opts.mean.length === 0 ? 0 : opts.mean.length === 1 ? opts.mean[0] : opts.mean[c];
    for (let p = 0; p < plane; p++) out[c * plane + p] = (r.data[p * channels + src] - m) * opts.scale;
  }
  return out;
}

/** Runs the net on one image and returns the detections of image 0 scoring at least the threshold. */
export function detectImage(net: Net, img: Image, path: string, opts: DetectOptions): ImageDetections {
  const input = net.blob(net.inputs[0]);
  if (input.numAxes !== 4) throw new CaffeError(`the input blob ${net.inputs[0]} is ${input.shapeString()}, expected N x C x H x W`);
  const [, C, H, W] = input.shape;
  if (input.shape[0] !== 1) {
    input.reshape([1, C, H, W]);
    net.reshape();
  }
  input.data.set(imageToInput(img, C, H, W, opts));
  net.forward();
  const det = net.blob(detectionOutputBlob(net));
  const rows = det.count / 7;
  const detections: Detection[] = [];
  for (let r = 0; r < rows; r++) {
    const d = det.data.subarray(r * 7, r * 7 + 7);
    if (d[0] !== 0 || d[1] === -1 || !(d[2] >= opts.threshold)) continue;
    const label = d[1];
    const names = opts.labels?.get(label);
    detections.push({
      label,
      name: names ? names.displayName : String(label),
      score: d[2],
      xmin: d[3] * img.width,
      ymin: d[4] * img.height,
      xmax: d[5] * img.width,
      ymax: d[6] * img.height,
    });
  }
  return { image: path, width: img.width, height: img.height, detections };
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** An SVG of the original image file with the detections drawn as labelled boxes. */
export function detectionSvg(bytes: Uint8Array, result: ImageDetections): string {
  const mime = bytes[0] === 0x89 ? 'image/png' : 'image/jpeg';
  const { width: w, height: h } = result;
  const stroke = Math.max(2, Math.round(Math.min(w, h) / 200));
  const font = Math.max(10, Math.round(Math.min(w, h) / 30));
  const hue = (label: number) => (label * 137.508) % 360;
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`,
    `<image width="${w}" height="${h}" xlink:href="data:${mime};base64,${Buffer.from(bytes).toString('base64')}"/>`,
  ];
  for (const d of result.detections) {
    const color = `hsl(${hue(d.label).toFixed(0)},90%,50%)`;
    const x = d.xmin.toFixed(1);
    const y = d.ymin.toFixed(1);
    lines.push(
      `<rect x="${x}" y="${y}" width="${(d.xmax - d.xmin).toFixed(1)}" height="${(d.ymax - d.ymin).toFixed(1)}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`,
      `<text x="${x}" y="${(d.ymin > font ? d.ymin - stroke : d.ymin + font).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="${color}">${escapeXml(`${d.name}: ${d.score.toFixed(2)}`)}</text>`,
    );
  }
  lines.push('</svg>', '');
  return lines.join('\n');
}

function parseNumbers(flag: string, value: string | undefined): number[] {
  if (value === undefined) return [];
  const out = value.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((v) => !Number.isFinite(v))) throw new CaffeError(`--${flag} '${value}': expected numbers separated by commas`);
  return out;
}

export const detectCommand: Command = {
  summary: 'detect objects with an SSD-style net (ending in DetectionOutput): boxes in image pixels per image',
  usage:
    '--model M --weights W IMAGE... [--labelmap labelmap.prototxt] [--threshold T (0.5)] [--json] [--draw OUT_DIR]\n' +
    '  [--mean B,G,R (0)] [--scale S (1)] [--rgb]',
  run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        weights: { type: 'string' },
        labelmap: { type: 'string' },
        threshold: { type: 'string' },
        json: { type: 'boolean', default: false },
        draw: { type: 'string' },
        mean: { type: 'string' },
        scale: { type: 'string' },
        rgb: { type: 'boolean', default: false },
      },
    });
    if (!values.model) throw new CaffeError('detect needs --model (a prototxt ending in DetectionOutput)');
    if (positionals.length === 0) throw new CaffeError('detect needs at least one IMAGE');
    const threshold = values.threshold === undefined ? 0.5 : Number(values.threshold);
    if (!Number.isFinite(threshold)) throw new CaffeError(`--threshold '${values.threshold}': expected a number`);
    const scale = values.scale === undefined ? 1 : Number(values.scale);
    if (!Number.isFinite(scale)) throw new CaffeError(`--scale '${values.scale}': expected a number`);
    const mean = parseNumbers('mean', values.mean);
    if (mean.length !== 0 && mean.length !== 1 && mean.length !== 3) throw new CaffeError(`--mean takes 1 or 3 values, got ${mean.length}`);
    const opts: DetectOptions = { threshold, mean, scale, rgb: values.rgb, labels: values.labelmap ? readLabelMap(values.labelmap) : undefined };
    const net = Net.fromFiles(values.model, values.weights ?? null, { phase: 'TEST' });
    net.freezeWeights(); // the parameters stay as loaded for every image
    if (net.inputs.length === 0) throw new CaffeError('the net declares no input blob to feed images into');
    detectionOutputBlob(net);
    const color = net.blob(net.inputs[0]).shape[1] === 3;
    if (values.draw) mkdirSync(values.draw, { recursive: true });
    const results: ImageDetections[] = [];
    for (const path of positionals) {
      const bytes = readFileSync(path);
      const result = detectImage(net, decodeImage(bytes, color, path), path, opts);
      results.push(result);
      if (!values.json) {
        process.stdout.write(`${path} (${result.width}x${result.height}): ${result.detections.length} detection(s)\n`);
        for (const d of result.detections) {
          const box = [d.xmin, d.ymin, d.xmax, d.ymax].map((v) => v.toFixed(1)).join(', ');
          process.stdout.write(`  ${d.name} ${d.score.toFixed(4)} [${box}]\n`);
        }
      }
      if (values.draw) {
        const out = join(values.draw, basename(path, extname(path)) + '.svg');
        writeFileAtomic(out, detectionSvg(bytes, result));
        if (!values.json) process.stdout.write(`  drawn: ${out}\n`);
      }
    }
    if (values.json) process.stdout.write(JSON.stringify(results, null, 1) + '\n');
    return 0;
  },
};
