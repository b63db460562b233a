// Real models from Caffe's forks build and run forward (random weights: every parameter filled by
// its prototxt's filler): ENet (BN, Upsample, Python spatial dropout), SegNet (BN, Upsample),
// DenseNet (ceil_mode), PSPNet (BN, Interp), Fast R-CNN (ROIPooling, Dropout's scale_train). Inputs are made small where the net allows; PSPNet's pyramid pooling
// fixes its input size, so it runs at full size with its channel counts divided by 16 (every
// layer and field of the file is still used), after one full-size build.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Net, readNetParameter, type NetOptions } from '../src/index.js';
import '../examples/spatial-dropout.js';
import { randomBlob } from './gradient-checker.js';

const ZOO = join(import.meta.dirname, '..', 'fixtures', 'zoo-files');
// The tests read intermediate blobs after forward: keep them all (keepBlobs turns off the inference
// memory plan where Net has one; elsewhere every blob keeps its value anyway).
const TEST_KEEPING = { phase: 'TEST', keepBlobs: true } as NetOptions;

function runWithInput(net: Net, shape: number[]): void {
  const data = net.blob(net.inputs[0]);
  data.reshape(shape);
  data.data.set(randomBlob(shape, 3).data);
  net.reshape();
  net.forward();
}

const finite = (a: Float32Array) => a.every((v) => Number.isFinite(v));

describe('ENet (TimoSaemann/ENet)', () => {
  for (const file of ['enet_deploy_final.prototxt', 'enet_deploy.prototxt']) {
    it(`${file} builds at 512x1024 and runs forward at 64x128`, () => {
      const net = Net.fromFile(join(ZOO, 'enet', file), TEST_KEEPING);
      const out = net.blob(net.outputs[0]);
      expect(out.shape).toEqual([1, 19, 512, 1024]);
      runWithInput(net, [1, 3, 64, 128]);
      expect(out.shape).toEqual([1, 19, 64, 128]);
      expect(finite(out.data)).toBe(true);
      // The last Deconvolution has no weight_filler, so its weights are Caffe's default constant 0.
      expect(out.data.every((v) => v === 0)).toBe(true);
      expect(net.blob('prelu5_1_4').data.some((v) => v !== 0)).toBe(true);
      // Upsample undoes pooling: its output is zero except where the matching pool took its max.
      const up = net.blob('upsample4_0_4').data;
      const nonzero = up.filter((v) => v !== 0).length;
      expect(nonzero).toBeLessThanOrEqual(net.blob('pool2_0_4').count);
      expect(nonzero).toBeGreaterThan(0);
    });
  }
});

describe('SegNet (alexgkendall/SegNet-Tutorial)', () => {
  it('segnet_pascal.prototxt builds at 224x224 and runs forward at 64x64', () => {
    const net = Net.fromFile(join(ZOO, 'segnet', 'segnet_pascal.prototxt'), TEST_KEEPING);
    expect(net.blob('prob').shape).toEqual([1, 21, 224, 224]);
    runWithInput(net, [1, 3, 64, 64]);
    const prob = net.blob('prob');
    expect(prob.shape).toEqual([1, 21, 64, 64]);
    // Softmax over the 21 classes at every pixel.
    let sum = 0;
    for (let c = 0; c < 21; c++) sum += prob.data[c * 64 * 64 + 100];
    expect(sum).toBeCloseTo(1, 5);
  });
});

describe('DenseNet (shicai/DenseNet-Caffe)', () => {
  it('DenseNet_121 pools with ceil_mode: false (FLOOR) and runs forward', () => {
    const net = Net.fromFile(join(ZOO, 'densenet', 'DenseNet_121.prototxt'), TEST_KEEPING);
    // conv1 (7x7, stride 2, pad 3) gives 112x112; pool1 (3x3, stride 2, pad 1) floors to 56 (CEIL: 57).
    expect(net.blob('pool1').shape).toEqual([1, 64, 56, 56]);
    expect(net.blob('fc6').shape).toEqual([1, 1000, 1, 1]);
    runWithInput(net, [1, 3, 64, 64]);
    expect(net.blob('pool1').shape).toEqual([1, 64, 16, 16]);
    expect(finite(net.blob('fc6').data)).toBe(true);
  });
});

describe('PSPNet (hszhao/PSPNet)', () => {
  it('pspnet50_ADE20K_473 builds at full size', () => {
    const net = Net.fromFile(join(ZOO, 'pspnet', 'pspnet50_ADE20K_473.prototxt'), TEST_KEEPING);
    expect(net.blob('conv6_interp').shape).toEqual([1, 150, 473, 473]);
    expect(net.blob('conv5_3_pool1_interp').shape).toEqual([1, 512, 60, 60]);
  });
  for (const [file, size, classes, side] of [
    ['pspnet50_ADE20K_473.prototxt', 473, 150, 60],
    ['pspnet101_VOC2012_473.prototxt', 473, 21, 60],
    ['pspnet101_cityscapes_713.prototxt', 713, 19, 90],
  ] as const) {
    it(`${file} (channels / 16) runs forward`, () => {
      const param = readNetParameter(join(ZOO, 'pspnet', file));
      let convs = 0;
      for (const l of param.layer) {
        const cp = l.convolution_param;
        if (l.type === 'Convolution' && l.name !== 'conv6') {
          cp.num_output = Math.max(1, Math.floor(cp.num_output / 16));
          convs++;
        }
      }
      expect(convs).toBeGreaterThan(50);
      const net = new Net(param, TEST_KEEPING);
      runWithInput(net, [1, 3, size, size]);
      const out = net.blob('conv6_interp');
      expect(out.shape).toEqual([1, classes, size, size]);
      expect(finite(out.data)).toBe(true);
      // The 1x1 pyramid level is one value per channel, so its interpolation is constant per plane.
      const p1 = net.blob('conv5_3_pool1_interp');
      expect(p1.shape.slice(2)).toEqual([side, side]);
      const plane = side * side;
      for (let c = 0; c < p1.shape[1]; c++) {
        const v = p1.data.subarray(c * plane, (c + 1) * plane);
        expect(v.every((x) => x === v[0])).toBe(true);
      }
    });
  }
});

describe('Fast R-CNN (rbgirshick/py-faster-rcnn)', () => {
  it('ZF fast_rcnn/test.prototxt pools its ROIs from conv5 and classifies each', () => {
    const net = Net.fromFile(join(ZOO, 'py_faster_rcnn', 'ZF', 'fast_rcnn', 'test.prototxt'), TEST_KEEPING);
    // The prototxt has no fillers (weights come from a caffemodel): give every weight random values.
    let seed = 1;
    for (const blobs of net.params.values()) {
      for (const b of blobs) b.data.set(randomBlob(b.shape as number[], seed++, -0.05, 0.05).data);
    }
    const rois = [0, 0, 0, 223, 223, 0, 16, 32, 100, 90, 0, -8, 40, 60, 250];
    net.forward({ data: { shape: [1, 3, 224, 224], data: randomBlob([1, 3, 224, 224], 99, -50, 50).data }, rois: { shape: [3, 5], data: rois } });
    const conv5 = net.blob('conv5');
    const pooled = net.blob('roi_pool_conv5');
    expect(pooled.shape).toEqual([3, conv5.shape[1], 6, 6]);
    // ROI 0 scaled by 1/16 spans cells 0..14 (clipped to the 14x14 map): bins of 2.5 cells, the
    // first covering rows and columns [0, 3).
    const [, channels, h, w] = conv5.shape;
    for (const c of [0, 17, channels - 1]) {
      let m = -Infinity;
      for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) m = Math.max(m, conv5.data[(c * h + y) * w + x]);
      expect(pooled.data[c * 36]).toBe(m);
    }
    const prob = net.blob('cls_prob');
    expect(prob.shape).toEqual([3, 21]);
    for (let r = 0; r < 3; r++) expect(prob.data.subarray(r * 21, r * 21 + 21).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(net.blob('bbox_pred').shape).toEqual([3, 84]);
  });
});
