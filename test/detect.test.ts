// `caffe-ts detect` and the LabelMap: boxes in image pixels against the net's own rows, drawing,
// errors. The net is the fork's thinned res10 face detector (fixtures/fork/zoo) with its random
// but fixed weights, so it detects plenty, only not faces.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Net } from '../src/graph/net.js';
import { readImage } from '../src/format/image.js';
import { resizeLinear } from '../src/data/resize.js';
import { parseLabelMap, readLabelMap } from '../src/detection/labelmap.js';
import { detectImage, detectionOutputBlob } from '../src/cli/detect.js';
import { parseText } from '../src/format/text.js';
import { ParseError } from '../src/util/errors.js';
import '../src/layers/index.js';
import { rng } from './gradient-checker.js';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const FACE = join(ROOT, 'fixtures', 'fork', 'zoo', 'opencv_face_detector_res10', 'test');
const MODEL = join(FACE, 'net.prototxt');
const WEIGHTS = join(FACE, 'weights.caffemodel');
const IMAGE = join(ROOT, 'fixtures', 'images', 'progressive420.jpg');
const MEAN = [104, 177, 123];

describe('detect', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-detect-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("reports the net's rows times the image size, at or above the threshold", () => {
    // The net's own rows, from an input prepared here independently of detect.ts.
    const net = Net.fromFiles(MODEL, WEIGHTS, { phase: 'TEST' });
    const img = readImage(IMAGE, true);
    const input = net.blob('data');
    const [, C, H, W] = input.shape;
    const r = resizeLinear(img, W, H);
    for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) input.data[c * H * W + p] = r.data[p * C + c] - MEAN[c];
    net.forward();
    const det = net.blob('detection_out');
    const threshold = 0.3;
    const expected: number[][] = [];
    for (let k = 0; k < det.shape[2]; k++) {
      const row = Array.from(det.data.subarray(k * 7, k * 7 + 7));
      if (row[1] !== -1 && row[2] >= threshold) {
        expected.push([row[1], row[2], row[3] * img.width, row[4] * img.height, row[5] * img.width, row[6] * img.height]);
      }
    }
    expect(expected.length).toBeGreaterThan(0);

    const out = spawnSync(process.execPath, [MAIN, 'detect', '--model', MODEL, '--weights', WEIGHTS, IMAGE,
      '--mean', MEAN.join(','), '--threshold', String(threshold), '--json', '--draw', tmp], { encoding: 'utf8', timeout: 60_000 });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    const results = JSON.parse(out.stdout);
    expect(results).toHaveLength(1);
    expect([results[0].width, results[0].height]).toEqual([img.width, img.height]);
    const got = results[0].detections.map((d: any) => [d.label, d.score, d.xmin, d.ymin, d.xmax, d.ymax]);
    expect(got).toEqual(expected);
    // --draw: one SVG holding the image and a box per detection
    const svg = readFileSync(join(tmp, 'progressive420.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('data:image/jpeg;base64,');
    expect(svg.match(/<rect /g)).toHaveLength(expected.length);
    expect(readdirSync(tmp)).toEqual(['progressive420.svg']);
  }, 60_000);

  it('names labels from a LabelMap', () => {
    const net = Net.fromFiles(MODEL, WEIGHTS, { phase: 'TEST' });
    const labels = parseLabelMap('item { name: "bg" label: 0 } item { name: "face" label: 1 display_name: "Face" }');
    const res = detectImage(net, readImage(IMAGE, true), IMAGE, { threshold: 0.5, mean: MEAN, scale: 1, rgb: false, labels });
    expect(res.detections.length).toBeGreaterThan(0);
    expect(new Set(res.detections.map((d) => d.name))).toEqual(new Set(['Face']));
  });

  it("runs OpenCV's res10 face-detector prototxt as published (clip: 1 keeps boxes inside the image)", () => {
    const net = Net.fromFile(join(ROOT, 'fixtures', 'zoo-files', 'opencv_face_detector_res10_ssd', 'deploy.prototxt'), { phase: 'TEST' });
    const r = rng(3);
    for (const l of net.layers) for (const b of l.blobs) for (let i = 0; i < b.count; i++) b.data[i] = (r() - 0.5) * 0.1;
    // BatchNorm statistics: mean 0, variance 1, scale factor 1
    for (const l of net.layers) if (l.type === 'BatchNorm') l.blobs.forEach((b, k) => b.data.fill(k === 0 ? 0 : 1));
    const img = readImage(IMAGE, true);
    const res = detectImage(net, img, IMAGE, { threshold: 0, mean: MEAN, scale: 1, rgb: false });
    expect(res.detections.length).toBeGreaterThan(0);
    for (const d of res.detections) {
      expect(d.label).toBe(1);
      expect(d.xmin >= 0 && d.xmax <= img.width && d.ymin >= 0 && d.ymax <= img.height).toBe(true);
    }
  }, 60_000);

  it('refuses a net without DetectionOutput, with a clear message', () => {
    const net = new Net(parseText('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }', 'NetParameter'));
    expect(() => detectionOutputBlob(net)).toThrow(/no DetectionOutput layer/);
    const out = spawnSync(process.execPath, [MAIN, 'detect', '--model', MODEL, IMAGE, '--mean', '1,2'], { encoding: 'utf8' });
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/--mean takes 1 or 3 values/);
  });
});

describe('LabelMap', () => {
  it("reads the zoo's labelmap.prototxt", () => {
    const m = readLabelMap(join(ROOT, 'fixtures', 'zoo-files', 'mobilenet_ssd', 'labelmap.prototxt'));
    expect(m.size).toBe(6);
    expect(m.get(0)).toEqual({ name: 'none_of_the_above', displayName: 'background' });
    expect(m.get(2)?.name).toBe('bus');
  });
  it('rejects a label given twice and reports parse errors with a position', () => {
    expect(() => parseLabelMap('item { name: "a" label: 1 } item { name: "b" label: 1 }', 'lm.prototxt')).toThrow(/lm\.prototxt: label 1 is given twice/);
    expect(() => parseLabelMap('item { nam: "a" }', 'lm.prototxt')).toThrow(ParseError);
  });
});

describe('AnnotatedData', () => {
  it('parses, and refuses to build with a clear error', () => {
    const text = readFileSync(join(ROOT, 'fixtures', 'zoo-files', 'mobilenet_ssd', 'train.prototxt'), 'utf8');
    const param = parseText(text, 'NetParameter');
    expect(param.layer[0].type).toBe('AnnotatedData');
    expect(param.layer[0].annotated_data_param.batch_sampler.length).toBeGreaterThan(0);
    expect(() => new Net(param, { phase: 'TRAIN' })).toThrow(/AnnotatedData' is not supported/);
  });
});
