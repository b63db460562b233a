// Layers of your own: registerLayer from TypeScript, Python layers resolved by module.layer, and
// the README's example (examples/pyloss.ts) run on BVLC's own Python-layer net.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Blob, checkGradient, Layer, Net, parseText, randomBlob, registerLayer, type NetOptions } from '../src/index.js';
import { EuclideanLossLayer } from '../examples/pyloss.js';
import { parseParamStr } from '../examples/param-str.js';
import '../examples/spatial-dropout.js';
import type { SpatialDropoutLayer } from '../examples/spatial-dropout.js';
import { generateAnchors, nms } from '../examples/proposal-layer.js';
import { layer, tops } from './helpers.js';

const ZOO = join(import.meta.dirname, '..', 'fixtures', 'zoo-files');
// Intermediate blobs are read after forward: keep them (keepBlobs turns off the inference memory
// plan where Net has one; elsewhere every blob keeps its value anyway).
const TEST_KEEPING = { phase: 'TEST', keepBlobs: true } as NetOptions;

describe('README example: pycaffe\'s EuclideanLossLayer as a registered Python layer', () => {
  it('runs BVLC\'s linreg.prototxt (type "Python", module pyloss) forward and backward', () => {
    const net = Net.fromFile(join(ZOO, 'bvlc_pycaffe_linreg', 'linreg.prototxt'), { phase: 'TRAIN' });
    expect(net.layer('loss')).toBeInstanceOf(EuclideanLossLayer);
    const loss = net.forward();
    const a = net.blob('ipx').data;
    const b = net.blob('ipy').data;
    let want = 0;
    for (let i = 0; i < a.length; i++) want += (a[i] - b[i]) ** 2;
    want /= 10 * 2;
    expect(loss).toBeCloseTo(want, 4);
    net.backward();
    // The loss gradient reaches the InnerProduct weights: d loss / d ipx = (ipx - ipy) / num.
    const dx = net.blob('ipx').diff;
    for (let i = 0; i < a.length; i++) expect(dx[i]).toBeCloseTo((a[i] - b[i]) / 10, 5);
    expect(net.params.get('ipx')![0].diff.some((v) => v !== 0)).toBe(true);
  });
  it('is gradient-checked with the suite\'s checker', () => {
    const l = layer('Python', { python_param: { module: 'pyloss', layer: 'EuclideanLossLayer' }, loss_weight: [1] });
    checkGradient(l, [randomBlob([4, 3], 1), randomBlob([4, 3], 2)], tops(1));
  });
  it('rejects inputs of different counts with a LayerError', () => {
    const l = layer('Python', { python_param: { module: 'pyloss', layer: 'EuclideanLossLayer' } });
    expect(() => l.setUp([new Blob([2, 3]), new Blob([2, 4])], tops(1))).toThrow(/same count/);
  });
});

describe('ENet\'s spatial dropout (param_str)', () => {
  it('reads the Python dict of param_str', () => {
    expect([...parseParamStr("{'phase': 'TEST', 'p': '0.01'}")]).toEqual([['phase', 'TEST'], ['p', '0.01']]);
  });
  it('TEST scales by 1 / (1 - p), as ENet; TRAIN drops whole maps', () => {
    const test = layer('Python', { python_param: { module: 'spatial_dropout', layer: 'SpatialDropoutLayer', param_str: "{'phase': 'TEST', 'p': '0.2'}" } });
    const x = randomBlob([2, 3, 2, 2], 5);
    const top = tops(1);
    test.setUp([x], top);
    test.forward([x], top);
    top[0].data.forEach((v, i) => expect(v).toBeCloseTo(x.data[i] / 0.8, 6));
    const train = layer('Python', { python_param: { module: 'spatial_dropout', layer: 'SpatialDropoutLayer', param_str: "{'phase': 'TRAIN', 'p': '0.5'}" } }) as SpatialDropoutLayer;
    const t2 = tops(1);
    train.setUp([x], t2);
    let k = 0;
    train.random = () => [0.1, 0.9][k++ % 2];
    train.forward([x], t2);
    for (let m = 0; m < 6; m++) {
      for (let i = m * 4; i < m * 4 + 4; i++) expect(t2[0].data[i]).toBeCloseTo(m % 2 === 0 ? x.data[i] * 2 : 0, 6);
    }
    k = 0;
    checkGradient(train, [x], t2, { beforeForward: () => (k = 0) });
    expect(() => layer('Python', { python_param: { module: 'spatial_dropout', layer: 'SpatialDropoutLayer', param_str: "{'p': '0.5'}" } }).setUp([x], tops(1))).toThrow(/must give 'phase' and 'p'/);
  });
});

describe('registerLayer: a type of your own', () => {
  // y = x * factor, the factor from the layer's own message (power_param.scale here) or from
  // param_str, used by Net like any built-in layer.
  class TimesLayer extends Layer {
    private factor = 1;
    get type(): string {
      return 'Times';
    }
    override exactNumBottomBlobs(): number {
      return 1;
    }
    override exactNumTopBlobs(): number {
      return 1;
    }
    override layerSetUp(): void {
      const s = this.param.python_param?.param_str;
      this.factor = s ? Number(s) : (this.param.power_param?.scale ?? 1);
      this.check(Number.isFinite(this.factor), () => `param_str must be a number, got "${s}"`);
    }
    override reshape(bottom: Blob[], top: Blob[]): void {
      top[0].reshapeLike(bottom[0]);
    }
    protected forwardCpu(bottom: Blob[], top: Blob[]): void {
      bottom[0].data.forEach((v, i) => (top[0].data[i] = v * this.factor));
    }
    protected override backwardCpu(top: Blob[], down: boolean[], bottom: Blob[]): void {
      if (down[0]) top[0].diff.forEach((v, i) => (bottom[0].diff[i] = v * this.factor));
    }
  }
  registerLayer('Times', TimesLayer);

  const text = (extra: string) => `name: "t" force_backward: true
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
    layer { name: "times" type: "Times" bottom: "x" top: "y" ${extra} }
    layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "x" top: "loss" }`;
  it('Net builds it and runs it forward and backward, with its parameters from the prototxt', () => {
    for (const [extra, factor] of [['power_param { scale: 3 }', 3], ['python_param { param_str: "0.5" }', 0.5]] as const) {
      const net = new Net(parseText(text(extra), 'NetParameter'), { phase: 'TRAIN' });
      net.blob('x').data.set([1, 2, 3, 4, 5, 6]);
      net.forward();
      expect(Array.from(net.blob('y').data)).toEqual([1, 2, 3, 4, 5, 6].map((v) => v * factor));
      net.backward();
      // loss = sum((y - x)^2) / 2 / 2, so dx = (factor - 1) * (y - x) / 2 (through Times and the loss).
      const dx = Array.from(net.blob('x').diff);
      [1, 2, 3, 4, 5, 6].forEach((v, i) => expect(dx[i]).toBeCloseTo(((factor - 1) * (v * factor - v)) / 2, 5));
    }
  });
  it('a bad parameter is a LayerError naming the layer, through Net', () => {
    expect(() => new Net(parseText(text('python_param { param_str: "abc" }'), 'NetParameter'))).toThrow(/'times'.*param_str must be a number/s);
  });
  it('registering a type twice, and an unregistered Python layer, are clear errors', () => {
    expect(() => registerLayer('Times', TimesLayer)).toThrow(/registered twice/);
    expect(() => layer('Python', { python_param: { module: 'rpn.anchor_target_layer', layer: 'AnchorTargetLayer' } })).toThrow(
      /Python layer 'rpn\.anchor_target_layer\.AnchorTargetLayer' is not registered: .*registerLayer\('rpn\.anchor_target_layer\.AnchorTargetLayer', MyLayer\)/,
    );
  });
});

describe('README', () => {
  it("shows examples/pyloss.ts as it is (importing from 'caffe-ts')", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const shown = /```ts\n(import \{ Blob, Layer, registerLayer \} from 'caffe-ts';\n[\s\S]*?)```/.exec(readme)?.[1];
    const file = readFileSync(join(import.meta.dirname, '..', 'examples', 'pyloss.ts'), 'utf8');
    const code = file.slice(file.indexOf('import ')).replace("from '../src/index.js'", "from 'caffe-ts'");
    expect(shown).toBe(code);
  });
});

describe("Faster R-CNN's proposal layer (examples/proposal-layer.ts)", () => {
  it("anchors are py-faster-rcnn's generate_anchors() (numpy's round half to even)", () => {
    expect(generateAnchors()).toEqual([
      [-84, -40, 99, 55], [-176, -88, 191, 103], [-360, -184, 375, 199],
      [-56, -56, 71, 71], [-120, -120, 135, 135], [-248, -248, 263, 263],
      [-36, -80, 51, 95], [-80, -168, 95, 183], [-168, -344, 183, 359],
    ]);
  });
  it('NMS keeps a box unless it overlaps a better one by more than the threshold', () => {
    // IoU(0, 1) = 81 / 119 = 0.68 (kept); IoU(0, 2) = 90 / 100 = 0.9 (suppressed).
    const boxes = Float64Array.from([0, 0, 9, 9, 1, 1, 10, 10, 0, 0, 9, 8, 50, 50, 60, 60]);
    expect(nms(boxes, 4, 0.7)).toEqual([0, 1, 3]);
  });
  it('turns anchors, deltas and scores into clipped, filtered, suppressed ROIs', () => {
    const l = layer('Python', { python_param: { module: 'rpn.proposal_layer', layer: 'ProposalLayer', param_str: "'feat_stride': 16" } }, 'TEST');
    const scores = new Blob([1, 18, 1, 1]);
    for (let a = 0; a < 9; a++) scores.data[9 + a] = (a + 1) / 10;
    const deltas = new Blob([1, 36, 1, 1]);
    const info = new Blob([1, 3]);
    info.data.set([100, 200, 1]);
    const top = tops(2);
    l.setUp([scores, deltas, info], top);
    l.forward([scores, deltas, info], top);
    const r = top[0];
    // The best anchor (index 8, [-168, -344, 183, 359]) through zero deltas: centre 8 and width 352
    // give x2 = 8 + 352 / 2 = 184 (bbox_transform_inv adds no -1), then clipped to the 200x100 image.
    expect(Array.from(r.data.subarray(0, 5))).toEqual([0, 0, 0, 184, 99]);
    expect(top[1].data[0]).toBeCloseTo(0.9, 6);
    expect(r.shape[0]).toBeGreaterThan(1);
    const boxes = Float64Array.from({ length: r.shape[0] * 4 }, (_, i) => r.data[5 * Math.floor(i / 4) + 1 + (i % 4)]);
    // Already suppressed: NMS over the output keeps everything.
    expect(nms(boxes, r.shape[0], 0.7)).toEqual([...Array(r.shape[0]).keys()]);
    for (let i = 0; i < r.shape[0]; i++) {
      const [x1, y1, x2, y2] = boxes.subarray(4 * i, 4 * i + 4);
      expect(x1 >= 0 && y1 >= 0 && x2 <= 199 && y2 <= 99 && x2 - x1 + 1 >= 16 && y2 - y1 + 1 >= 16).toBe(true);
    }
    expect(() => layer('Python', { python_param: { module: 'rpn.proposal_layer', layer: 'ProposalLayer' } }).setUp([scores, deltas, info], tops(1))).toThrow(/feat_stride/);
  });
  it("runs py-faster-rcnn's ZF faster_rcnn_end2end/test.prototxt (RPN, proposals, ROIPooling) forward", () => {
    const net = Net.fromFile(join(ZOO, 'py_faster_rcnn', 'ZF', 'faster_rcnn_end2end', 'test.prototxt'), TEST_KEEPING);
    let seed = 1;
    for (const blobs of net.params.values()) for (const b of blobs) b.data.set(randomBlob(b.shape as number[], seed++, -0.05, 0.05).data);
    net.forward({ data: { shape: [1, 3, 224, 224], data: randomBlob([1, 3, 224, 224], 7, -50, 50).data }, im_info: [224, 224, 1] });
    const rois = net.blob('rois');
    expect(rois.shape[1]).toBe(5);
    expect(rois.shape[0]).toBeGreaterThan(0);
    expect(rois.shape[0]).toBeLessThanOrEqual(300);
    for (let i = 0; i < rois.shape[0]; i++) {
      const [b, x1, y1, x2, y2] = rois.data.subarray(5 * i, 5 * i + 5);
      expect(b === 0 && x1 >= 0 && y1 >= 0 && x2 <= 223 && y2 <= 223).toBe(true);
    }
    const prob = net.blob('cls_prob');
    expect(prob.shape).toEqual([rois.shape[0], 21]);
    expect(prob.data.subarray(0, 21).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
  });
});
