// The SSD fork's layers (Permute, Normalize, PriorBox, DetectionOutput, SmoothL1Loss,
// MultiBoxLoss): finite-difference gradient checks, errors, the box math, and the zoo's SSD
// prototxts built and run forward. Their numbers against the fork itself are the fixtures/fork
// cases (test/fixtures.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Blob } from '../src/graph/blob.js';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import '../src/layers/index.js';
import { LayerError } from '../src/util/errors.js';
import { boxSize, decodeBox, encodeBox, jaccard, matchBoxes, nms, CENTER_SIZE, CORNER, CORNER_SIZE } from '../src/detection/bbox.js';
import { setSeed } from '../src/kernels/rng.js';
import { checkGradient, randomBlob, rng } from './gradient-checker.js';
import { blobOf, layer, tops } from './helpers.js';

const ZOO = join(import.meta.dirname, '..', 'fixtures', 'zoo-files');

describe('Permute', () => {
  it('appends missing axes in natural order and moves values', () => {
    const l = layer('Permute', { permute_param: { order: [2] } });
    const x = blobOf([2, 3, 4], Array.from({ length: 24 }, (_, i) => i));
    const t = tops(1);
    l.setUp([x], t);
    l.forward([x], t);
    expect(t[0].shape).toEqual([4, 2, 3]);
    // top[k, i, j] = x[i, j, k]
    expect(t[0].data[1 * 6 + 1 * 3 + 2]).toBe(x.data[1 * 12 + 2 * 4 + 1]);
  });
  it('an identity order shares the data', () => {
    const l = layer('Permute', { permute_param: { order: [0, 1] } });
    const x = randomBlob([2, 3, 4], 3);
    const t = tops(1);
    l.setUp([x], t);
    l.forward([x], t);
    expect(t[0].data).toBe(x.data);
  });
  it.each([[[0, 2, 3, 1]], [[3, 1]], [[1, 0, 2, 3]]])('gradient, order %j', (order) => {
    const l = layer('Permute', { permute_param: { order } });
    checkGradient(l, [randomBlob([2, 3, 2, 4], 5)], tops(1));
  });
  it('rejects repeated and out-of-range axes', () => {
    expect(() => layer('Permute', { permute_param: { order: [1, 1] } }).setUp([randomBlob([2, 3])], tops(1))).toThrow(/given twice/);
    expect(() => layer('Permute', { permute_param: { order: [4] } }).setUp([randomBlob([2, 3])], tops(1))).toThrow(LayerError);
  });
});

describe('Normalize', () => {
  const cases = [
    [true, true],
    [true, false],
    [false, true],
    [false, false],
  ] as const;
  // The fork's backward scales the whole input gradient by each channel's own scale, which is the
  // exact gradient only when the channel scales are equal; the fixtures pin the fork's formula, so
  // channel-wise scales are checked here at one common value.
  it.each(cases)('gradient, across_spatial %s, channel_shared %s', (across, shared) => {
    const filler = shared ? { type: 'uniform', min: 0.5, max: 2 } : { type: 'constant', value: 1.7 };
    const l = layer('Normalize', { norm_param: { across_spatial: across, channel_shared: shared, scale_filler: filler } });
    checkGradient(l, [randomBlob([2, 3, 2, 3], 11)], tops(1), { stepsize: 1e-2, threshold: 2e-3 });
  });
  it('puts eps inside the square root', () => {
    const l = layer('Normalize', { norm_param: { across_spatial: true, eps: 0.5 } });
    const x = blobOf([1, 2, 1, 1], [3, 4]);
    const t = tops(1);
    l.setUp([x], t);
    l.forward([x], t);
    expect(t[0].data[0]).toBeCloseTo(3 / Math.sqrt(25.5), 6);
  });
});

describe('PriorBox', () => {
  it('orders boxes min, sqrt(min*max), then each ratio and its flip; sizes are truncated', () => {
    const l = layer('PriorBox', {
      prior_box_param: { min_size: [30.7], max_size: [60.2], aspect_ratio: [2], flip: true, variance: [0.1, 0.1, 0.2, 0.2] },
    });
    const t = tops(1);
    const feat = new Blob([1, 1, 1, 1]);
    const img = new Blob([1, 3, 100, 100]);
    l.setUp([feat, img], t);
    l.forward([feat, img], t);
    expect(t[0].shape).toEqual([1, 2, 16]);
    const w = (k: number) => t[0].data[k * 4 + 2] - t[0].data[k * 4];
    const h = (k: number) => t[0].data[k * 4 + 3] - t[0].data[k * 4 + 1];
    expect(w(0) * 100).toBeCloseTo(30, 4);
    expect(w(1) * 100).toBeCloseTo(Math.sqrt(30 * 60), 4);
    expect(w(2) / h(2)).toBeCloseTo(2, 4);
    expect(h(3) / w(3)).toBeCloseTo(2, 4);
    expect(Array.from(t[0].data.subarray(16, 20))).toEqual([0.1, 0.1, 0.2, 0.2].map(Math.fround));
  });
  it('errors name the layer', () => {
    expect(() => layer('PriorBox', { prior_box_param: {} }).setUp([new Blob([1, 1, 2, 2]), new Blob([1, 3, 8, 8])], tops(1))).toThrow(/min_size/);
    expect(() => layer('PriorBox', { prior_box_param: { min_size: [4], variance: [1, 2] } }).setUp([new Blob([1, 1, 2, 2]), new Blob([1, 3, 8, 8])], tops(1))).toThrow(/1 or 4 variances/);
  });
});

describe('box math', () => {
  const priors = Float32Array.of(0.1, 0.2, 0.5, 0.6, 0.3, 0.3, 0.9, 0.8);
  const variances = Float32Array.of(0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2);
  it.each([[CORNER], [CENTER_SIZE], [CORNER_SIZE]])('decode inverts encode (code type %i)', (code) => {
    const gt = Float32Array.of(0.15, 0.25, 0.55, 0.7);
    const enc = new Float32Array(4);
    const dec = new Float32Array(4);
    for (const inTarget of [false, true]) {
      encodeBox(priors, variances, 1, code, inTarget, gt, 0, enc, 0);
      decodeBox(priors, variances, 1, code, inTarget, enc, 0, dec, 0);
      for (let k = 0; k < 4; k++) expect(dec[k]).toBeCloseTo(gt[k], 5);
    }
  });
  it('IoU, sizes and NMS', () => {
    const b = Float32Array.of(0, 0, 1, 1, 0, 0, 0.5, 1, 0.6, 0, 1, 1, 2, 2, 1, 1);
    expect(boxSize(b, 3)).toBe(0);
    expect(jaccard(b, 0, b, 1)).toBeCloseTo(0.5, 6);
    expect(jaccard(b, 1, b, 2)).toBe(0);
    // box 1 overlaps box 0 by exactly 0.5: kept at threshold 0.5, dropped below
    expect(nms(b, [0.9, 0.8, 0.7, 0.01], 0.05, 0.5, 1, -1)).toEqual([0, 1, 2]);
    expect(nms(b, [0.9, 0.8, 0.7, 0.01], 0.05, 0.45, 1, -1)).toEqual([0, 2].filter((i) => i !== 2 || jaccard(b, 0, b, 2) <= 0.45));
    expect(nms(b, [0.9, 0.8, 0.7, 0.01], 0.8, 0.5, 1, -1)).toEqual([0]); // the score test is strict
    expect(nms(b, [0.9, 0.8, 0.7, 0.01], 0, 0.5, 1, 1)).toEqual([0]); // top_k before NMS
  });
  it('matching: bipartite first, then per prediction above the threshold', () => {
    const gt = Float32Array.of(0, 0, 0.5, 0.5);
    const pred = Float32Array.of(0, 0, 0.5, 0.5, 0, 0, 0.5, 0.6, 0.5, 0.5, 1, 1);
    const bi = matchBoxes(gt, [0], pred, 3, false, 0.5, false);
    expect(Array.from(bi.indices)).toEqual([0, -1, -1]);
    const pp = matchBoxes(gt, [0], pred, 3, true, 0.5, false);
    expect(Array.from(pp.indices)).toEqual([0, 0, -1]);
  });
});

describe('DetectionOutput', () => {
  it('gives one [i, -1, ...] row per image when the batch has no detection', () => {
    const l = layer('DetectionOutput', { detection_output_param: { num_classes: 2, confidence_threshold: 0.99, code_type: CENTER_SIZE } }, 'TEST');
    const P = 2;
    const loc = new Blob([2, P * 4]);
    const conf = blobOf([2, P * 2], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    const prior = blobOf([1, 2, P * 4], [0.1, 0.1, 0.4, 0.4, 0.5, 0.5, 0.9, 0.9, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2]);
    const t = tops(1);
    l.setUp([loc, conf, prior], t);
    l.forward([loc, conf, prior], t);
    expect(t[0].shape).toEqual([1, 1, 2, 7]);
    expect(Array.from(t[0].data)).toEqual([0, -1, -1, -1, -1, -1, -1, 1, -1, -1, -1, -1, -1, -1]);
  });
  it('clip (OpenCV) clamps decoded boxes to the image', () => {
    const run = (clip: boolean) => {
      const l = layer('DetectionOutput', { detection_output_param: { num_classes: 2, clip, code_type: CORNER } }, 'TEST');
      const loc = blobOf([1, 4], [-5, -5, 5, 5]);
      const conf = blobOf([1, 2], [0.1, 0.9]);
      const prior = blobOf([1, 2, 4], [0.2, 0.2, 0.8, 0.8, 0.1, 0.1, 0.2, 0.2]);
      const t = tops(1);
      l.setUp([loc, conf, prior], t);
      l.forward([loc, conf, prior], t);
      return Array.from(t[0].data.subarray(3, 7));
    };
    expect(run(true)).toEqual([0, 0, 1, 1]);
    expect(run(false).map((v) => Math.round(v * 100) / 100)).toEqual([-0.3, -0.3, 1.8, 1.8]);
  });
  it('checks its inputs against num_classes', () => {
    const l = layer('DetectionOutput', { detection_output_param: { num_classes: 3 } }, 'TEST');
    expect(() => l.setUp([new Blob([1, 8]), new Blob([1, 4]), new Blob([1, 2, 8])], tops(1))).toThrow(/confidence input/);
  });
});

describe('SmoothL1Loss', () => {
  it('gradient', () => {
    const a = randomBlob([3, 4, 2], 21, -2, 2);
    const b = randomBlob([3, 4, 2], 22, -2, 2);
    checkGradient(layer('SmoothL1Loss'), [a, b], tops(1), { stepsize: 1e-3, threshold: 1e-2 });
  });
});

describe('MultiBoxLoss', () => {
  // 2 images, a 3x3 grid of priors, 3 classes; ground truth: two boxes in image 0, one in image 1.
  const P = 9;
  const C = 3;
  const priorBlob = (): Blob => {
    const b = new Blob([1, 2, P * 4]);
    for (let p = 0; p < P; p++) {
      const cx = ((p % 3) + 0.5) / 3;
      const cy = (Math.floor(p / 3) + 0.5) / 3;
      b.data.set([cx - 0.2, cy - 0.2, cx + 0.2, cy + 0.2], p * 4);
      b.data.set([0.1, 0.1, 0.2, 0.2], P * 4 + p * 4);
    }
    return b;
  };
  const gtBlob = (): Blob =>
    blobOf([1, 1, 4, 8], [
      0, 1, 0, 0.05, 0.05, 0.4, 0.45, 0,
      0, 2, 1, 0.5, 0.4, 0.95, 0.9, 0,
      1, 1, 0, 0.3, 0.3, 0.7, 0.72, 0,
      -1, 0, 0, 0, 0, 0, 0, 0,
    ]);
  const run = (param: Record<string, unknown>, L = 1) => {
    const loc = randomBlob([2, P * L * 4], 31, -0.5, 0.5);
    const conf = randomBlob([2, P * C], 32, -1, 1);
    return { bottoms: [loc, conf, priorBlob(), gtBlob()], l: layer('MultiBoxLoss', { multibox_loss_param: { num_classes: C, ...param } }) };
  };
  it.each([
    ['softmax, mining none', { mining_type: 'NONE', code_type: 'CENTER_SIZE' }, 1],
    ['logistic, mining none, two images', { mining_type: 'NONE', conf_loss_type: 'LOGISTIC', code_type: 'CENTER_SIZE' }, 1],
    ['L2, corner, bipartite', { mining_type: 'NONE', loc_loss_type: 'L2', match_type: 'BIPARTITE' }, 1],
    ['per-class locations', { mining_type: 'NONE', share_location: false, code_type: 'CORNER_SIZE' }, C],
    ['max negative mining', { mining_type: 'MAX_NEGATIVE', code_type: 'CENTER_SIZE', neg_pos_ratio: 1 }, 1],
  ])('gradient of loc and conf: %s', (_name, param, L) => {
    const { l, bottoms } = run(param, L);
    checkGradient(l, bottoms, tops(1), { bottoms: [0, 1], stepsize: 1e-3, threshold: 1e-2 });
  });
  it('map_object_to_agnostic: every object is class 1 of 2 (mining included)', () => {
    const loc = randomBlob([2, P * 4], 41, -0.5, 0.5);
    const conf = randomBlob([2, P * 2], 42, -1, 1);
    const l = layer('MultiBoxLoss', { multibox_loss_param: { num_classes: 2, map_object_to_agnostic: true, code_type: 'CENTER_SIZE', neg_pos_ratio: 1 } });
    checkGradient(l, [loc, conf, priorBlob(), gtBlob()], tops(1), { bottoms: [0, 1], stepsize: 1e-3, threshold: 1e-2 });
  });
  it('the logistic targets of image i sit at i*P*C (the fork wrote them at i*P)', () => {
    const { l, bottoms } = run({ mining_type: 'NONE', conf_loss_type: 'LOGISTIC', code_type: 'CENTER_SIZE', loc_weight: 0 });
    const t = tops(1);
    l.setUp(bottoms, t);
    l.forward(bottoms, t);
    l.backward(t, [false, true, false, false], bottoms);
    // The gradient is (sigmoid(x) - target) / normalizer: recover the 0/1 targets from it.
    const conf = bottoms[1].data;
    const normalizer = (l as any).normalizer() as number;
    const ones: number[] = [];
    for (let k = 0; k < conf.length; k++) {
      const target = 1 / (1 + Math.exp(-conf[k])) - bottoms[1].diff[k] * normalizer;
      expect(Math.abs(target - Math.round(target))).toBeLessThan(1e-4);
      if (Math.round(target) === 1) ones.push(k);
    }
    // background_label_id 0 fills the rest with 0, so the ones are the matched priors' classes,
    // and image 1's match lies in image 1's rows.
    expect(ones.length).toBe((l as any).numMatches);
    expect(ones.some((k) => k >= P * C)).toBe(true);
  });
  it('propagate_down decides which terms the loss holds', () => {
    const a = run({ mining_type: 'NONE' });
    const t = tops(1);
    a.l.setUp(a.bottoms, t);
    const both = a.l.forward(a.bottoms, t);
    const b = run({ mining_type: 'NONE' });
    b.l.param.propagate_down = [true, false, false, false];
    b.l.setUp(b.bottoms, t);
    const locOnly = b.l.forward(b.bottoms, t);
    expect(locOnly).toBeGreaterThan(0);
    expect(locOnly).toBeLessThan(both);
  });
  it('rejects ground truth labelled background', () => {
    const { l, bottoms } = run({ mining_type: 'NONE' });
    bottoms[3].data[1] = 0;
    const t = tops(1);
    l.setUp(bottoms, t);
    expect(() => l.forward(bottoms, t)).toThrow(/background label/);
  });
});

// Channels thinned 8x outside the multibox heads (whose widths are tied to priors and classes),
// depthwise groups following their channels.
function thin(net: any): any {
  for (const lp of net.layer) {
    const cp = lp.convolution_param;
    if (!cp || /mbox|_loc|_conf/.test(lp.name)) continue;
    const n = cp.num_output;
    const g = cp.group;
    cp.num_output = Math.max(1, Math.ceil(n / 8));
    if (g > 1 && g === n) cp.group = cp.num_output;
  }
  return net;
}

describe("the zoo's SSD prototxts build and run forward", () => {
  // Every parameter random: what is checked is that the nets build, run and end in detections.
  const runNet = (file: string, thinned = true) => {
    const parsed = parseText(readFileSync(join(ZOO, file), 'utf8'), 'NetParameter', file);
    const param = thinned ? thin(parsed) : parsed;
    // random weights score every class near 1/classes: let the low scores through
    for (const lp of param.layer) if (lp.detection_output_param) lp.detection_output_param.confidence_threshold = 0.01;
    const net = new Net(param, { phase: 'TEST' });
    const r = rng(5);
    for (const l of net.layers) for (const b of l.blobs) for (let i = 0; i < b.count; i++) b.data[i] = (r() - 0.5) * 0.2;
    // BatchNorm statistics: mean 0, variance 1, scale factor 1
    for (const l of net.layers) if (l.type === 'BatchNorm') l.blobs.forEach((b, k) => b.data.fill(k === 0 ? 0 : 1));
    const input = net.blob(net.blobNames[0]);
    for (let i = 0; i < input.count; i++) input.data[i] = r() * 255 - 128;
    net.forward();
    return net;
  };
  it.each([
    ['mobilenet_ssd/deploy.prototxt', 'detection_out', 21],
    ['opencv_face_detector_res10_ssd/deploy.prototxt', 'detection_out', 2],
    ['ssd_vgg16_voc0712_300/deploy.prototxt', 'detection_out', 21],
  ])('%s', (file, out, classes) => {
    const net = runNet(file);
    const det = net.blob(out);
    expect(det.shape[3]).toBe(7);
    expect(det.data.every((v) => Number.isFinite(v))).toBe(true);
    let found = 0;
    for (let r = 0; r < det.shape[2]; r++) {
      const row = det.data.subarray(r * 7, r * 7 + 7);
      if (row[1] === -1) continue;
      found++;
      expect(row[1]).toBeGreaterThan(0);
      expect(row[1]).toBeLessThan(classes);
    }
    expect(found).toBeGreaterThan(0);
  }, 60000);
  it('UltraFace (Permute only) builds and runs forward', () => {
    const net = runNet('ultraface_rfb320_slim320/slim-320.prototxt', false);
    expect(net.blob('boxes').shape).toEqual([1, 4420, 4]);
  }, 60000);
});

describe('fine-tuning an SSD head with labels fed through Input', () => {
  it("MobileNet-SSD's train net (AnnotatedData swapped for Input) trains: the loss falls under SGD", () => {
    const param = parseText(readFileSync(join(ZOO, 'mobilenet_ssd/train.prototxt'), 'utf8'), 'NetParameter', 'train.prototxt');
    expect(param.layer[0].type).toBe('AnnotatedData');
    param.layer[0] = parseText(
      'name: "data" type: "Input" top: "data" top: "label" input_param { shape { dim: 2 dim: 3 dim: 300 dim: 300 } shape { dim: 1 dim: 1 dim: 3 dim: 8 } }',
      'LayerParameter',
    );
    thin(param);
    setSeed(1701);
    const net = new Net(param, { phase: 'TRAIN' });
    const r = rng(9);
    const data = net.blob('data');
    for (let i = 0; i < data.count; i++) data.data[i] = r() * 2 - 1;
    // (item, label, instance, xmin, ymin, xmax, ymax, difficult)
    net.blob('label').data.set([0, 15, 0, 0.1, 0.2, 0.5, 0.9, 0, 0, 7, 0, 0.5, 0.5, 0.9, 0.8, 0, 1, 12, 0, 0.3, 0.1, 0.7, 0.6, 0]);
    const step = (): number => {
      const loss = net.forward();
      net.clearParamDiffs();
      net.backward();
      for (const p of net.learnableParams) for (let i = 0; i < p.count; i++) p.data[i] -= 1e-3 * p.diff[i];
      return loss;
    };
    const first = step();
    expect(Number.isFinite(first) && first > 0).toBe(true);
    const headDiff = net.layer('conv11_mbox_conf').blobs[0].diff;
    expect(headDiff.some((v) => v !== 0)).toBe(true);
    let last = first;
    for (let k = 0; k < 4; k++) last = step();
    expect(last).toBeLessThan(first);
  }, 120000);
});
