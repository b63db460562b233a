// `caffe-ts classify` and `forward --input blob=IMAGE` as a user runs them on the zoo's trained
// models: output lines, JSON, and bad input (unreadable or corrupt images, misfit means, short
// label files, --gpu) reported clearly, the readable images still classified.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers.js';
import { runClassify } from '../src/cli/classify.js';
import { forwardCommand } from '../src/cli/forward.js';

const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-classify-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const f = (...p: string[]) => join(FIXTURES, ...p);
const LENET = ['--model', f('demo', 'lenet.prototxt'), '--weights', f('demo', 'lenet_iter_10000.caffemodel')];
const CIFAR = ['--model', f('classify', 'models', 'cifar10_quick.prototxt'), '--weights', f('classify', 'models', 'cifar10_quick_iter_5000.caffemodel')];
const SIGNS = ['--model', f('hdf5-weights', 'cifar10_quick.prototxt'), '--weights', f('hdf5-weights', 'cifar10_quick_iter_5000.caffemodel.h5')];

async function classify(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runClassify(args, { write: (s: string) => (out += s) }, { write: (s: string) => (err += s) });
  return { code, out, err };
}

describe('classify', () => {
  it('LeNet on the ten digits: every label right, one line each', async () => {
    const digits = ['img_0_10', 'img_1_2', 'img_2_1', 'img_4_4', 'img_7_0', 'img_9_9'].map((d) => f('demo', 'digits', `${d}.png`));
    const r = await classify([...LENET, '--center-only', '--input-scale', '0.00390625', '--labels', f('classify', 'models', 'mnist_labels.txt'), '--top', '2', ...digits]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(digits.length);
    lines.forEach((l, i) => {
      const digit = /img_(\d)_/.exec(digits[i])![1];
      expect(l).toMatch(new RegExp(`^${digits[i].replace(/[.]/g, '\\.')}: [01]\\.\\d{4} "${digit} [^"]+", 0\\.\\d{4} "`));
    });
  });

  it('the classification.cpp pipeline matches its tool on CIFAR-10 (fixtures/classify/cases)', async () => {
    const spec = JSON.parse(readFileSync(f('classify', 'cases', 'cpp_cifar10_quick.json'), 'utf8'));
    const r = await classify([...CIFAR, '--pipeline', 'cpp', '--mean', f(spec.mean), '--labels', f(spec.labels), '--json', ...spec.results.map((x: { image: string }) => f(x.image))]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.pipeline).toBe('cpp');
    json.results.forEach((res: { top: { label: string; probability: number }[] }, i: number) => {
      expect(res.top).toHaveLength(5);
      expect(res.top[0].label).toBe(spec.results[i].top[0][0]);
      expect(res.top[0].probability).toBeCloseTo(spec.results[i].top[0][1], 3);
    });
  });

  it('goes on past unreadable and corrupt images, names them, exits 1', async () => {
    const good = f('classify', 'images', 'dog10.png');
    const truncated = join(tmp, 'truncated.png');
    writeFileSync(truncated, readFileSync(good).subarray(0, 200));
    const notImage = f('classify', 'models', 'cifar10_labels.txt');
    const r = await classify([...CIFAR, '--mean-value', '120', '--labels', f('classify', 'models', 'cifar10_labels.txt'), good, join(tmp, 'missing.jpg'), truncated, notImage, good]);
    expect(r.code).toBe(1);
    expect(r.out.trim().split('\n')).toHaveLength(2);
    expect(r.out).toMatch(/dog10\.png: \d\.\d{4} "dog"/);
    expect(r.err).toMatch(/missing\.jpg: cannot read image/);
    expect(r.err).toMatch(/truncated\.png: /);
    expect(r.err).toMatch(/cifar10_labels\.txt: cannot decode image: not a PNG or JPEG/);
    expect(r.err).toMatch(/3 of 5 images failed/);
  });

  it('refuses a mean or labels file that does not fit the net, naming the file', async () => {
    const img = f('classify', 'images', 'cat10.png');
    await expect(classify([...LENET, '--mean', f('classify', 'models', 'trafficsign_mean.npy'), img])).rejects.toThrow(/trafficsign_mean\.npy: mean image has 3 channels, but the input 'data' has 1/);
    await expect(classify([...SIGNS, '--pipeline', 'cpp', '--mean', f('classify', 'models', 'zero_mean_1x28x28.binaryproto'), img])).rejects.toThrow(/zero_mean_1x28x28\.binaryproto: mean image has 1 channels, but the net input has 3/);
    await expect(classify([...SIGNS, '--mean-value', '1,2', img])).rejects.toThrow(/2 mean values given, but the input 'data' has 3 channels/);
    const short = join(tmp, 'short.txt');
    writeFileSync(short, 'a\nb\nc\n');
    await expect(classify([...SIGNS, '--labels', short, img])).rejects.toThrow(/short\.txt: 3 labels, but the net's output has 9 classes/);
    await expect(classify([...SIGNS, '--mean', f('demo', 'lenet.prototxt'), img])).rejects.toThrow(/lenet\.prototxt/);
  });

  it('refuses --gpu, mixed pipelines and bad numbers clearly', async () => {
    const img = f('classify', 'images', 'cat10.png');
    await expect(classify([...CIFAR, '--gpu', '0', img])).rejects.toThrow(/CPU only/);
    await expect(classify([...CIFAR, '--pipeline', 'cpp', '--raw-scale', '255', img])).rejects.toThrow(/--raw-scale belongs to classify\.py's pipeline/);
    await expect(classify([...CIFAR, '--center-only', '--oversample', img])).rejects.toThrow(/exclude each other/);
    await expect(classify([...CIFAR, '--channel-swap', '2,x,0', img])).rejects.toThrow(/--channel-swap expects comma-separated numbers/);
    await expect(classify([...CIFAR, '--images-dim', '16,16', img])).rejects.toThrow(/smaller than the net input 32x32/);
    await expect(classify([...CIFAR])).rejects.toThrow(/at least one IMAGE/);
  });
});

describe('forward --input blob=IMAGE', () => {
  it('feeds an image through the same preprocessing and dumps the blobs', async () => {
    const dump = join(tmp, 'dump');
    let out = '';
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
    try {
      await forwardCommand.run([f('demo', 'lenet.prototxt'), '--weights', f('demo', 'lenet_iter_10000.caffemodel'), '--input', `data=${f('demo', 'digits', 'img_7_0.png')}`, '--input-scale', '0.00390625', '--dump', dump]);
    } finally {
      process.stdout.write = write;
    }
    expect(out).toMatch(/^prob \(1,10\):/m);
    const { readNpyAsFloat32 } = await import('../src/format/npy.js');
    const prob = readNpyAsFloat32(join(dump, 'prob.npy')).data;
    expect(prob.indexOf(Math.max(...prob))).toBe(7);
    const data = readNpyAsFloat32(join(dump, 'data.npy'));
    expect(data.shape).toEqual([1, 1, 28, 28]);
    expect(Math.max(...data.data)).toBeLessThanOrEqual(1);
  });
});
