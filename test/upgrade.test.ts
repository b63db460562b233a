// Legacy upgrades (src/format/upgrade.ts), file I/O (src/format/io.ts) and the upgrade-case runner
// (src/check/upgrade-case.ts).
import { describe, expect, test, beforeAll, afterAll, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cloneMessage, fromObject, has, messageType, newMessage, type Message } from '../src/proto/schema.js';
import { usesForkField } from './text-zoo.js';
import { parseText, printText } from '../src/format/text.js';
import { decodeMessage, encodeMessage } from '../src/format/binary.js';
import { messagesDiff } from '../src/format/equal.js';
import { CaffeError } from '../src/util/errors.js';
import {
  UpgradeError,
  netNeedsBatchNormUpgrade,
  netNeedsDataUpgrade,
  netNeedsInputUpgrade,
  netNeedsUpgrade,
  netNeedsV0ToV1Upgrade,
  netNeedsV1ToV2Upgrade,
  solverNeedsTypeUpgrade,
  upgradeNetAsNeeded,
  upgradeSolverAsNeeded,
  upgradeV0LayerType,
  upgradeV1LayerType,
} from '../src/format/upgrade.js';
import {
  FileFormatError,
  classifyText,
  isBinaryProto,
  readBlobProto,
  readNetParameter,
  readNetParameterText,
  readNetWeights,
  readSolverParameter,
  upgradeFile,
  writeBinaryAtomic,
  writeTextAtomic,
} from '../src/format/io.js';
import { runUpgradeCase } from '../src/check/upgrade-case.js';

// Simulated I/O failures for the atomic-write tests: when on, writeSync writes a few bytes and throws.
const ioFault = vi.hoisted(() => ({ failWrites: false, partialWrites: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs')>();
  const writeSync = ((fd: number, data: any, ...rest: any[]) => {
    if (ioFault.failWrites && ArrayBuffer.isView(data)) {
      orig.writeSync(fd, data as Uint8Array, 0, Math.min(8, (data as Uint8Array).byteLength));
      ioFault.partialWrites++;
      throw Object.assign(new Error('EIO: simulated write failure'), { code: 'EIO' });
    }
    return (orig.writeSync as any)(fd, data, ...rest);
  }) as typeof orig.writeSync;
  return { ...orig, default: { ...orig, writeSync }, writeSync };
});

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'fixtures');
const LOCAL_CASES = join(FIXTURES, 'upgrade');
// Optional addition: cases of a ../shared beside the repo that fixtures/upgrade has no copy of
// (today it has all of them; CI checks ../shared itself with `caffe-ts check`).
const SHARED_CASES = join(ROOT, '..', 'shared', 'fixtures', 'upgrade');
// The model zoo's prototxts and INDEX.md (a copy of ../shared/zoo's, see fixtures/zoo-files/README.md).
const ZOO = join(FIXTURES, 'zoo-files');
// Byte-identical copies of the zoo's lenet_mnist_trained_ethereon (V2) and
// lenet_mnist_trained_everpeace_2014 (V1) lenet_iter_10000.caffemodel.
const V2_LENET = join(FIXTURES, 'demo', 'lenet_iter_10000.caffemodel');
const V1_LENET = join(FIXTURES, 'trained', 'lenet_mnist_everpeace_2014_v1', 'test', 'weights.caffemodel');

const net = (src: string, file = '<test>') => parseText(src, 'NetParameter', file);
const solver = (src: string) => parseText(src, 'SolverParameter', '<test>');
const upgrade = (src: string, file = '<test>') => upgradeNetAsNeeded(net(src, file), file);

function caseDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((d) => join(root, d))
    .filter((d) => existsSync(join(d, 'case.json')))
    .sort();
}

// -------------------------------------------------------------------------------------------
describe('reference cases (Caffe upgrade tools)', () => {
  const local = caseDirs(LOCAL_CASES);
  const localNames = new Set(local.map((d) => relative(LOCAL_CASES, d)));
  const shared = caseDirs(SHARED_CASES).filter((d) => !localNames.has(relative(SHARED_CASES, d)));

  test('the local fixture copy exists', () => {
    expect(local.length).toBeGreaterThan(0);
  });

  for (const dir of [...local, ...shared]) {
    test(relative(ROOT, dir), () => {
      const r = runUpgradeCase(dir);
      expect(r.detail ?? '', r.detail).not.toMatch(/ours vs expected|failed|detected/);
      expect(r.ok).toBe(true);
      const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
      expect(r.produced.file).toBe(spec.expected);
      expect(r.produced.bytes.length).toBeGreaterThan(0);
    });
  }

  test('binary V1 caffemodels become V2 (layer, type strings), blobs kept', () => {
    const dir = join(LOCAL_CASES, 'bin_v1_lenet');
    const r = runUpgradeCase(dir);
    const out = decodeMessage(r.produced.bytes, 'NetParameter');
    expect(out.layers.length).toBe(0);
    expect(out.layer.length).toBeGreaterThan(0);
    const ip = out.layer.find((l: Message) => l.type === 'InnerProduct');
    expect(ip.blobs.length).toBe(2);
    expect(ip.blobs[0].data.length).toBeGreaterThan(0);
  });

  test('a failing case reports a difference and still produces our output', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-upg-'));
    try {
      writeFileSync(join(tmp, 'in.prototxt'), 'name: "x" layers { name: "a" type: RELU bottom: "d" top: "d" }');
      writeFileSync(join(tmp, 'expected.prototxt'), 'name: "x" layer { name: "a" type: "TanH" bottom: "d" top: "d" }');
      writeFileSync(
        join(tmp, 'case.json'),
        JSON.stringify({ kind: 'upgrade', what: 'net', input: 'in.prototxt', expected: 'expected.prototxt' }),
      );
      const r = runUpgradeCase(tmp);
      expect(r.ok).toBe(false);
      expect(r.detail).toMatch(/layer\[0\]\.type/);
      expect(r.produced.file).toBe('expected.prototxt');
      expect(Buffer.from(r.produced.bytes).toString()).toContain('type: "ReLU"');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// -------------------------------------------------------------------------------------------
describe('model zoo', () => {
  // Per top-level folder: how many prototxt files BVLC's caffe.proto parsed (INDEX.md "parse: N OK").
  function indexCounts(): Map<string, number> {
    const m = new Map<string, number>();
    const index = readFileSync(join(ZOO, 'INDEX.md'), 'utf8');
    for (const line of index.split('\n')) {
      const mm = /^- \*\*([^*]+)\*\*.*\| parse: (\d+) OK/.exec(line);
      if (mm) m.set(mm[1], Number(mm[2]));
    }
    return m;
  }
  function prototxts(dir: string): string[] {
    const out: string[] = [];
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) out.push(...prototxts(p));
      else if (e.name.endsWith('.prototxt')) out.push(p);
    }
    return out;
  }

  const V1_SOURCES = [
    'vgg16_vgg19_v1',
    'nin_imagenet_v1',
    'lenet_mnist_trained_everpeace_2014',
    'cifar10_trained_everpeace_2014',
    'cifar10_quick_trained_ikkichung',
    'opencv_testdata_dnn/gtsrb.prototxt',
  ];

  /** Whether a parsed message sets a field that only a fork declares (proto/forks/). */
  test('every prototxt BVLC parses upgrades; V1 nets round-trip', () => {
    const counts = indexCounts();
    const parsedPerDir = new Map<string, number>();
    const failures: string[] = [];
    const v1Upgraded: string[] = [];
    for (const file of prototxts(ZOO).sort()) {
      const rel = relative(ZOO, file);
      const top = rel.split('/')[0];
      const isSolver = /solver/i.test(rel.split('/').pop()!);
      let msg: Message;
      try {
        msg = parseText(readFileSync(file, 'utf8'), isSolver ? 'SolverParameter' : 'NetParameter', rel);
      } catch {
        continue; // BVLC's caffe.proto does not accept it either (checked by the counts below)
      }
      // BVLC rejects a file that sets a fork's field (proto/forks/*.proto): it is not in the count.
      if (!usesForkField(msg, messageType(isSolver ? 'SolverParameter' : 'NetParameter'))) parsedPerDir.set(top, (parsedPerDir.get(top) ?? 0) + 1);
      try {
        if (isSolver) {
          const r = upgradeSolverAsNeeded(msg, rel);
          expect(has(r.solver, 'solver_type')).toBe(false);
          continue;
        }
        const wasV1 = netNeedsV1ToV2Upgrade(msg);
        const r = upgradeNetAsNeeded(msg, rel);
        const out = r.net;
        expect(out.layers.length, rel).toBe(0);
        expect(out.input.length, rel).toBe(0);
        // Nothing left to upgrade: a second pass changes nothing (a BatchNorm with three specs keeps
        // "needing" the upgrade in Caffe too, but it is idempotent).
        const again = upgradeNetAsNeeded(cloneMessage(out), rel);
        expect(messagesDiff(again.net, out, 'NetParameter'), rel).toBeNull();
        expect(netNeedsV0ToV1Upgrade(out) || netNeedsV1ToV2Upgrade(out) || netNeedsInputUpgrade(out), rel).toBe(false);
        for (const l of out.layer as Message[]) expect(typeof l.type, rel).toBe('string');
        // What we would write reads back as the same message.
        const back = parseText(printText(out, 'NetParameter'), 'NetParameter', `${rel} (printed)`);
        const diff = messagesDiff(back, out, 'NetParameter');
        if (diff) failures.push(`${rel}: print/parse round trip: ${diff}`);
        if (wasV1) v1Upgraded.push(rel);
      } catch (e) {
        failures.push(`${rel}: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
    // Our parser accepts exactly what BVLC's accepted.
    const mismatched: string[] = [];
    expect(counts.size).toBeGreaterThan(40);
    for (const [dir, n] of counts) {
      if ((parsedPerDir.get(dir) ?? 0) !== n) mismatched.push(`${dir}: parsed ${parsedPerDir.get(dir) ?? 0}, INDEX says ${n}`);
    }
    expect(mismatched).toEqual([]);
    for (const src of V1_SOURCES) {
      expect(v1Upgraded.some((r) => r === src || r.startsWith(src + '/')), src).toBe(true);
    }
  });
});

// -------------------------------------------------------------------------------------------
describe('V0 -> V1 -> V2', () => {
  const V0_PADDED = `
    name: "v0pad"
    input: "data"
    input_dim: 1 input_dim: 3 input_dim: 9 input_dim: 9
    layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
    layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 stride: 2 biasterm: false } bottom: "pad1" top: "conv1" }
    layers { layer { name: "pad2" type: "padding" pad: 1 } bottom: "conv1" top: "pad2" }
    layers { layer { name: "pool1" type: "pool" pool: AVE kernelsize: 3 stride: 2 } bottom: "pad2" top: "pool1" }
    layers { layer { name: "loss" type: "softmax_loss" } bottom: "pool1" bottom: "label" top: "loss" }
  `;

  test('padding layers fold into the next conv/pool layer', () => {
    // "label" is not produced by anything: Caffe dies on unknown blobs, so give it an input.
    const r = upgrade(V0_PADDED.replace('input: "data"', 'input: "data" input: "label"').replace(
      'input_dim: 9 input_dim: 9',
      'input_dim: 9 input_dim: 9 input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1',
    ));
    expect(r.upgraded).toBe(true);
    expect(r.success).toBe(true);
    const layers = r.net.layer as Message[];
    expect(layers.map((l) => l.name)).toEqual(['input', 'conv1', 'pool1', 'loss']);
    expect(layers.map((l) => l.type)).toEqual(['Input', 'Convolution', 'Pooling', 'SoftmaxWithLoss']);
    const conv = layers[1];
    expect(conv.bottom).toEqual(['data']);
    expect(Array.from(conv.convolution_param.pad)).toEqual([2]);
    expect(Array.from(conv.convolution_param.kernel_size)).toEqual([3]);
    expect(Array.from(conv.convolution_param.stride)).toEqual([2]);
    expect(conv.convolution_param.bias_term).toBe(false);
    expect(has(conv.convolution_param, 'bias_term')).toBe(true);
    const pool = layers[2];
    expect(pool.bottom).toEqual(['conv1']);
    expect(pool.pooling_param.pad).toBe(1);
    expect(pool.pooling_param.pool).toBe(1); // AVE
    expect(pool.pooling_param.kernel_size).toBe(3);
    expect(layers[0].top).toEqual(['data', 'label']);
    expect(layers[0].input_param.shape.map((s: Message) => Array.from(s.dim))).toEqual([
      [1, 3, 9, 9],
      [1, 1, 1, 1],
    ]);
  });

  test('a padding layer feeding a non-conv/pool layer is refused, naming the layer', () => {
    const src = `input: "data" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
      layers { layer { name: "pad" type: "padding" pad: 1 } bottom: "data" top: "p" }
      layers { layer { name: "r" type: "relu" } bottom: "p" top: "p" }`;
    expect(() => upgrade(src, 'pad.prototxt')).toThrow(UpgradeError);
    expect(() => upgrade(src, 'pad.prototxt')).toThrow(/pad\.prototxt.*layer 'r'.*non-convolutional/);
  });

  test('unknown bottom blobs and unknown V0 types are CaffeErrors naming the layer', () => {
    expect(() => upgrade('layers { layer { name: "c" type: "conv" } bottom: "nowhere" top: "c" }', 'a.prototxt')).toThrow(
      /a\.prototxt: layer 'c'.*unknown blob input 'nowhere'/,
    );
    const e = (() => {
      try {
        upgrade('input: "d" layers { layer { name: "weird" type: "magic" } bottom: "d" top: "w" }', 'b.prototxt');
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(CaffeError);
    expect((e as Error).message).toMatch(/b\.prototxt: layer 'weird': unknown V0 layer type 'magic'/);
    expect(() => upgradeV0LayerType('nope')).toThrow(CaffeError);
  });

  test('V0 fields that do not apply to the type: logged, success false, upgrade continues', () => {
    const r = upgrade('input: "d" layers { layer { name: "r" type: "relu" num_output: 3 kernelsize: 2 } bottom: "d" top: "d" }');
    expect(r.success).toBe(false);
    expect(r.log.join('\n')).toMatch(/Unknown parameter num_output for layer type relu/);
    expect(r.log.join('\n')).toMatch(/Unknown parameter kernelsize for layer type relu/);
    expect(r.net.layer[0].type).toBe('ReLU');
    expect(has(r.net.layer[0], 'convolution_param')).toBe(false);
  });

  test('V0 data layers: source/batchsize/scale/meanfile/cropsize/mirror', () => {
    const r = upgrade(`layers { layer { name: "d" type: "data" source: "db" batchsize: 64 scale: 0.00390625
      meanfile: "m.binaryproto" cropsize: 27 mirror: true rand_skip: 5 } top: "data" top: "label" }
      layers { layer { name: "w" type: "window_data" source: "w.txt" det_fg_threshold: 0.6 det_crop_mode: "square" det_context_pad: 16 } top: "wd" }
      layers { layer { name: "c" type: "concat" concat_dim: 0 } bottom: "data" bottom: "wd" top: "c" }
      layers { layer { name: "h" type: "hdf5_output" hdf5_output_param { file_name: "out.h5" } } bottom: "c" }`);
    expect(r.success).toBe(true);
    const [d, w, c, h] = r.net.layer as Message[];
    expect(d.type).toBe('Data');
    expect(d.data_param.source).toBe('db');
    expect(d.data_param.batch_size).toBe(64);
    expect(d.data_param.rand_skip).toBe(5);
    expect(d.transform_param.scale).toBe(Math.fround(0.00390625));
    expect(d.transform_param.mean_file).toBe('m.binaryproto');
    expect(d.transform_param.crop_size).toBe(27);
    expect(d.transform_param.mirror).toBe(true);
    expect(w.type).toBe('WindowData');
    expect(w.window_data_param.fg_threshold).toBe(Math.fround(0.6));
    expect(w.window_data_param.crop_mode).toBe('square');
    expect(w.window_data_param.context_pad).toBe(16);
    expect(c.concat_param.concat_dim).toBe(0);
    expect(has(c.concat_param, 'concat_dim')).toBe(true);
    expect(h.type).toBe('HDF5Output');
    expect(h.hdf5_output_param.file_name).toBe('out.h5');
  });

  test('every V1 enum type maps to its V2 string; unknown values are refused', () => {
    expect(upgradeV1LayerType(4)).toBe('Convolution');
    expect(upgradeV1LayerType(21)).toBe('SoftmaxWithLoss');
    expect(upgradeV1LayerType(0)).toBe('');
    expect(upgradeV1LayerType(23)).toBe('TanH');
    expect(upgradeV1LayerType(39)).toBe('Deconvolution');
    expect(() => upgradeV1LayerType(999, 'x.caffemodel', 'L')).toThrow(/x\.caffemodel: layer 'L': unknown V1LayerParameter layer type 999/);
  });

  test('V1 -> V2: ParamSpecs from param/blob_share_mode/blobs_lr/weight_decay, rules, loss_weight, params', () => {
    const r = upgrade(`name: "n" force_backward: true state { phase: TRAIN }
      layers { name: "ip" type: INNER_PRODUCT bottom: "x" top: "y"
        param: "w" param: "b" blob_share_mode: PERMISSIVE blobs_lr: 1 blobs_lr: 2 blobs_lr: 3 weight_decay: 1 weight_decay: 0
        include { phase: TRAIN stage: "s" } exclude { not_stage: "t" } loss_weight: 0.5
        inner_product_param { num_output: 10 } blobs { num: 1 channels: 1 height: 2 width: 3 data: [1, 2, 3, 4, 5, 6] } }
      layers { name: "slice" type: SLICE bottom: "y" top: "a" top: "b" slice_param { slice_point: 2 } }
      layers { name: "thr" type: THRESHOLD bottom: "a" top: "t" threshold_param { threshold: 0.3 } }`);
    expect(r.success).toBe(true);
    const out = r.net;
    expect(out.name).toBe('n');
    expect(out.force_backward).toBe(true);
    expect(out.state.phase).toBe(0);
    const [ip, slice, thr] = out.layer as Message[];
    expect(ip.type).toBe('InnerProduct');
    expect(ip.param.length).toBe(3);
    expect(ip.param[0].name).toBe('w');
    expect(ip.param[0].share_mode).toBe(1);
    expect(has(ip.param[1], 'share_mode')).toBe(false);
    expect(ip.param.map((p: Message) => p.lr_mult)).toEqual([1, 2, 3]);
    expect(has(ip.param[2], 'decay_mult')).toBe(false);
    expect(ip.param[1].decay_mult).toBe(0);
    expect(has(ip.param[1], 'decay_mult')).toBe(true);
    expect(ip.include[0].stage).toEqual(['s']);
    expect(ip.exclude[0].not_stage).toEqual(['t']);
    expect(Array.from(ip.loss_weight)).toEqual([0.5]);
    expect(ip.inner_product_param.num_output).toBe(10);
    expect(ip.blobs[0].width).toBe(3);
    expect(Array.from(ip.blobs[0].data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(slice.type).toBe('Slice');
    expect(Array.from(slice.slice_param.slice_point)).toEqual([2]);
    expect(thr.type).toBe('Threshold');
    expect(thr.threshold_param.threshold).toBe(Math.fround(0.3));
  });

  test('V1 data layers: transformation fields move into transform_param first', () => {
    const src = `layers { name: "d" type: DATA top: "data" data_param { source: "db" batch_size: 4 scale: 0.5 mean_file: "m" crop_size: 3 mirror: true } }
      layers { name: "i" type: IMAGE_DATA top: "img" image_data_param { source: "l.txt" mirror: false } }`;
    expect(netNeedsDataUpgrade(net(src))).toBe(true);
    const r = upgrade(src);
    const [d, i] = r.net.layer as Message[];
    expect(d.type).toBe('Data');
    expect(d.transform_param.scale).toBe(0.5);
    expect(d.transform_param.mean_file).toBe('m');
    expect(d.transform_param.crop_size).toBe(3);
    expect(d.transform_param.mirror).toBe(true);
    for (const f of ['scale', 'mean_file', 'crop_size', 'mirror']) expect(has(d.data_param, f)).toBe(false);
    expect(d.data_param.source).toBe('db');
    expect(i.transform_param.mirror).toBe(false);
    expect(has(i.transform_param, 'mirror')).toBe(true);
    expect(has(i.image_data_param, 'mirror')).toBe(false);
  });

  test("a net with both 'layer' and 'layers' is refused, naming the source", () => {
    const src = `layer { name: "a" type: "ReLU" bottom: "x" top: "x" }
      layers { name: "b" type: RELU bottom: "x" top: "x" }`;
    expect(() => upgrade(src, 'mixed.prototxt')).toThrow(UpgradeError);
    expect(() => upgrade(src, 'mixed.prototxt')).toThrow(/mixed\.prototxt: refusing.*both 'layer' and 'layers'/);
  });

  test('a V2 net is left alone', () => {
    const n = net('name: "ok" layer { name: "a" type: "Input" top: "x" input_param { shape { dim: 1 } } }');
    expect(netNeedsUpgrade(n)).toBe(false);
    const r = upgradeNetAsNeeded(n, 'ok');
    expect(r.upgraded).toBe(false);
    expect(r.net).toBe(n);
    expect(r.log).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------
describe('input fields and BatchNorm', () => {
  test('input_shape entries become one Input layer placed first', () => {
    const r = upgrade(`input: "a" input_shape { dim: 2 dim: 3 } input: "b" input_shape { dim: 5 }
      layer { name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" }`);
    expect(netNeedsInputUpgrade(r.net)).toBe(false);
    const [inp, c] = r.net.layer as Message[];
    expect(inp.name).toBe('input');
    expect(inp.type).toBe('Input');
    expect(inp.top).toEqual(['a', 'b']);
    expect(inp.input_param.shape.map((s: Message) => Array.from(s.dim))).toEqual([[2, 3], [5]]);
    expect(c.name).toBe('c');
    expect(has(r.net, 'input_shape')).toBe(false);
    expect(has(r.net, 'input_dim')).toBe(false);
  });

  test('input without shapes (old caffemodels) is just dropped; too few input_dim values are refused', () => {
    const r = upgrade('input: "data" layer { name: "r" type: "ReLU" bottom: "data" top: "r" }');
    expect(r.net.layer.length).toBe(1);
    expect(has(r.net, 'input')).toBe(false);
    expect(() => upgrade('input: "a" input: "b" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4', 'dims.prototxt')).toThrow(
      /dims\.prototxt: 2 input blobs need 8 input_dim values/,
    );
  });

  test('mixed old/new inputs (opencv net_input): the Input layer goes first, the others keep their order', () => {
    const file = join(ZOO, 'opencv_testdata_dnn', 'layers', 'net_input.prototxt');
    const out = readNetParameter(file);
    expect(out.layer.map((l: Message) => l.name)).toEqual([
      'input',
      'input_red',
      'input_layer_blue_green',
      'first_image',
      'second_image',
      'output',
    ]);
    expect(out.layer[0].top).toEqual(['old_style_input_blue_green', 'old_style_input_red']);
  });

  test('BatchNorm with three ParamSpecs: lr_mult and decay_mult set to 0, specs kept', () => {
    const src = `layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x"
        param { lr_mult: 0 } param { lr_mult: 0 name: "v" } param { lr_mult: 1 decay_mult: 1 } }
      layer { name: "bn2" type: "BatchNorm" bottom: "x" top: "x" param { lr_mult: 1 } param { lr_mult: 1 } }`;
    expect(netNeedsBatchNormUpgrade(net(src))).toBe(true);
    const r = upgrade(src);
    const [bn, bn2] = r.net.layer as Message[];
    expect(bn.param.length).toBe(3);
    for (const p of bn.param as Message[]) {
      expect(p.lr_mult).toBe(0);
      expect(p.decay_mult).toBe(0);
      expect(has(p, 'lr_mult') && has(p, 'decay_mult')).toBe(true);
    }
    expect(bn.param[1].name).toBe('v');
    expect(bn2.param.map((p: Message) => p.lr_mult)).toEqual([1, 1]);
    expect(has(bn2.param[0], 'decay_mult')).toBe(false);
  });

  test('order: V0 -> data -> V1 -> input -> BatchNorm, each logged', () => {
    const r = upgrade('input: "d" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1 layers { layer { name: "r" type: "relu" } bottom: "d" top: "d" }');
    const steps = r.log.filter((l) => l.startsWith('Attempting'));
    expect(steps[0]).toMatch(/V0LayerParameter/);
    expect(steps[1]).toMatch(/V1LayerParameter/);
    expect(steps[2]).toMatch(/input fields/);
    expect(netNeedsV0ToV1Upgrade(r.net) || netNeedsV1ToV2Upgrade(r.net)).toBe(false);
  });

  test('cloneMessage is deep and presence-preserving', () => {
    const a = net('layer { name: "a" type: "Convolution" convolution_param { pad: 1 bias_term: false } loss_weight: 2 }');
    const b = cloneMessage(a);
    expect(messagesDiff(a, b, 'NetParameter')).toBeNull();
    b.layer[0].convolution_param.pad.push(3);
    b.layer[0].loss_weight[0] = 5;
    expect(Array.from(a.layer[0].convolution_param.pad)).toEqual([1]);
    expect(a.layer[0].loss_weight[0]).toBe(2);
    expect(b.layer[0].loss_weight).toBeInstanceOf(Float32Array);
  });
});

// -------------------------------------------------------------------------------------------
describe('solver_type', () => {
  test('every enum value becomes its type string and the old field is cleared', () => {
    const names: Array<[string, string]> = [
      ['SGD', 'SGD'],
      ['NESTEROV', 'Nesterov'],
      ['ADAGRAD', 'AdaGrad'],
      ['RMSPROP', 'RMSProp'],
      ['ADADELTA', 'AdaDelta'],
      ['ADAM', 'Adam'],
    ];
    for (const [e, t] of names) {
      const s = solver(`base_lr: 0.01 solver_type: ${e}`);
      expect(solverNeedsTypeUpgrade(s)).toBe(true);
      const r = upgradeSolverAsNeeded(s, 's.prototxt');
      expect(r.upgraded && r.success).toBe(true);
      expect(r.solver.type).toBe(t);
      expect(has(r.solver, 'type')).toBe(true);
      expect(has(r.solver, 'solver_type')).toBe(false);
      expect(printText(r.solver, 'SolverParameter')).not.toMatch(/solver_type/);
    }
  });

  test('a solver with a type string is left alone; both fields set is refused', () => {
    const s = solver('type: "Adam"');
    expect(upgradeSolverAsNeeded(s).upgraded).toBe(false);
    expect(() => upgradeSolverAsNeeded(solver('type: "Adam" solver_type: ADAM'), 'both.prototxt')).toThrow(
      /both\.prototxt: .*solver_type.*cannot be both specified/,
    );
  });
});

// -------------------------------------------------------------------------------------------
describe('io', () => {
  let tmp = '';
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-io-'));
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  const V1_TEXT = `name: "tiny"
input: "data"
input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3
layers { name: "ip" type: INNER_PRODUCT bottom: "data" top: "ip" blobs_lr: 1 blobs_lr: 2
  inner_product_param { num_output: 2 } }
layers { name: "prob" type: SOFTMAX bottom: "ip" top: "prob" }
`;

  test('isBinaryProto tells text from binary', () => {
    const n = net(V1_TEXT);
    const bin = encodeMessage(n, 'NetParameter');
    expect(isBinaryProto(bin)).toBe(true);
    expect(isBinaryProto(bin, 'NetParameter')).toBe(true);
    expect(isBinaryProto(Buffer.from(V1_TEXT))).toBe(false);
    expect(isBinaryProto(Buffer.from(V1_TEXT), 'NetParameter')).toBe(false);
    expect(isBinaryProto(new Uint8Array(0))).toBe(false);
    expect(isBinaryProto(Uint8Array.from([0xff, 0xfe, 0x41]))).toBe(true); // not UTF-8
    // Real caffemodels (V2 and V1), a real prototxt.
    expect(isBinaryProto(readFileSync(V2_LENET))).toBe(true);
    expect(isBinaryProto(readFileSync(V1_LENET), 'NetParameter')).toBe(true);
    expect(isBinaryProto(readFileSync(join(ZOO, 'mnist_lenet', 'lenet.prototxt')))).toBe(false);
  });

  test('readNetParameter auto-detects text and binary and upgrades both the same way', () => {
    const t = join(tmp, 'net.prototxt');
    const b = join(tmp, 'net.caffemodel');
    writeFileSync(t, V1_TEXT);
    writeFileSync(b, encodeMessage(net(V1_TEXT), 'NetParameter'));
    const fromText = readNetParameter(t);
    const fromBin = readNetParameter(b);
    expect(messagesDiff(fromText, fromBin, 'NetParameter')).toBeNull();
    expect(fromText.layer.map((l: Message) => l.type)).toEqual(['Input', 'InnerProduct', 'Softmax']);
    const raw = readNetParameter(t, { upgrade: false });
    expect(raw.layers.length).toBe(2);
    const log: string[] = [];
    readNetParameterText(t, { log });
    expect(log.some((l) => /V1LayerParameter/.test(l))).toBe(true);
  });

  test('a prototxt with a stray Latin-1 byte in a comment is still read as text', () => {
    const p = join(tmp, 'latin1.prototxt');
    writeFileSync(p, Buffer.concat([Buffer.from('# (c) '), Buffer.from([0xa9]), Buffer.from('\n' + V1_TEXT)]));
    expect(readNetParameter(p).layer.length).toBe(3);
  });

  test('readNetParameter errors name the file', () => {
    const bad = join(tmp, 'bad.prototxt');
    writeFileSync(bad, 'layer { name: "a" tpye: "ReLU" }');
    expect(() => readNetParameter(bad)).toThrow(/bad\.prototxt:1:/);
    expect(() => readNetParameter(join(tmp, 'missing.prototxt'))).toThrow(FileFormatError);
    const mixed = join(tmp, 'mixed.prototxt');
    writeFileSync(mixed, 'layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }');
    expect(() => readNetParameter(mixed)).toThrow(/mixed\.prototxt: refusing/);
  });

  test('readNetWeights reads V1 binary caffemodels as V2; HDF5 is pointed to copyTrainedLayersFromFile', () => {
    const w = readNetWeights(V1_LENET);
    expect(w.layers.length).toBe(0);
    const conv1 = w.layer.find((l: Message) => l.name === 'conv1');
    expect(conv1.type).toBe('Convolution');
    expect(conv1.blobs[0].num).toBe(20);
    expect(conv1.blobs[0].data.length).toBe(20 * 1 * 5 * 5);
    // A real HDF5 file (Caffe HDF5Data test data), by name and, renamed, by its signature alone.
    const h5 = join(FIXTURES, 'data', 'hdf5', 'train', 'part0.h5');
    expect(() => readNetWeights(h5)).toThrow(/is HDF5 weights.*copyTrainedLayersFromFile/);
    const renamed = join(tmp, 'weights_h5.caffemodel');
    writeFileSync(renamed, readFileSync(h5));
    expect(() => readNetWeights(renamed)).toThrow(/is HDF5 weights/);
    const fake = join(tmp, 'w.caffemodel.h5');
    writeFileSync(fake, Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]));
    expect(() => readNetWeights(fake)).toThrow(FileFormatError);
  });

  test('readSolverParameter upgrades solver_type and sets snapshot_prefix as Caffe master does', () => {
    const p = join(tmp, 'my_solver.prototxt');
    writeFileSync(p, 'net: "n.prototxt" base_lr: 0.1 solver_type: NESTEROV');
    const s = readSolverParameter(p);
    expect(s.type).toBe('Nesterov');
    expect(has(s, 'solver_type')).toBe(false);
    expect(s.snapshot_prefix).toBe(join(tmp, 'my_solver'));
    const snapDir = join(tmp, 'snaps');
    mkdirSync(snapDir, { recursive: true });
    writeFileSync(p, `net: "n.prototxt" snapshot_prefix: "${snapDir}"`);
    expect(readSolverParameter(p).snapshot_prefix).toBe(join(snapDir, 'my_solver'));
    writeFileSync(p, 'net: "n.prototxt" snapshot_prefix: "snap/lenet"');
    expect(readSolverParameter(p).snapshot_prefix).toBe('snap/lenet');
    expect(has(readSolverParameter(p.replace('my_', 'my_'), { snapshotPrefix: false }), 'snapshot_prefix')).toBe(true);
  });

  test('readBlobProto reads a mean file', () => {
    const mean = join(ROOT, 'fixtures', 'means', 'mean_3x8x8.binaryproto');
    const b = readBlobProto(mean);
    const count = has(b, 'shape') ? b.shape.dim.reduce((a: number, d: number) => a * d, 1) : b.num * b.channels * b.height * b.width;
    expect(count).toBe(3 * 8 * 8);
    expect(b.data.length).toBe(count);
  });

  test('writeTextAtomic / writeBinaryAtomic write complete files, leave no temp files', () => {
    const n = readNetParameter(join(tmp, 'net.prototxt'));
    const t = join(tmp, 'out', 'a.prototxt');
    const b = join(tmp, 'out', 'a.caffemodel');
    mkdirSync(join(tmp, 'out'), { recursive: true });
    writeTextAtomic(t, n, 'NetParameter');
    writeBinaryAtomic(b, n, 'NetParameter');
    expect(messagesDiff(parseText(readFileSync(t, 'utf8'), 'NetParameter'), n, 'NetParameter')).toBeNull();
    expect(messagesDiff(decodeMessage(readFileSync(b), 'NetParameter'), n, 'NetParameter')).toBeNull();
    expect(readdirSync(join(tmp, 'out')).sort()).toEqual(['a.caffemodel', 'a.prototxt']);
  });

  test('a failing atomic write leaves neither a partial file nor a temp file', () => {
    const dir = join(tmp, 'fail');
    mkdirSync(dir, { recursive: true });
    const n = readNetParameter(join(tmp, 'net.prototxt'));
    // The target is a non-empty directory: the final rename fails after the temp file was written.
    const target = join(dir, 'target');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'x');
    expect(() => writeTextAtomic(target, n, 'NetParameter')).toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readdirSync(target)).toEqual(['keep']);
    // An existing file survives a write that fails half-way (simulated I/O error) untouched.
    const keep = join(dir, 'keep.prototxt');
    writeFileSync(keep, 'name: "old"\n');
    ioFault.failWrites = true;
    try {
      expect(() => writeTextAtomic(keep, n, 'NetParameter')).toThrow(/simulated/);
      expect(() => writeBinaryAtomic(keep, n, 'NetParameter')).toThrow(/simulated/);
      expect(() => upgradeFile(join(tmp, 'net.prototxt'), keep)).toThrow(/simulated/);
    } finally {
      ioFault.failWrites = false;
    }
    expect(ioFault.partialWrites).toBeGreaterThan(0);
    expect(readFileSync(keep, 'utf8')).toBe('name: "old"\n');
    expect(readdirSync(dir).sort()).toEqual(['keep.prototxt', 'target']);
    // upgradeFile refusing a net writes nothing.
    const mixed = join(dir, 'mixed.prototxt');
    writeFileSync(mixed, 'layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }');
    expect(() => upgradeFile(mixed, join(dir, 'mixed_out.prototxt'))).toThrow(UpgradeError);
    expect(existsSync(join(dir, 'mixed_out.prototxt'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['keep.prototxt', 'mixed.prototxt', 'target']);
  });

  test('upgradeFile picks the tool from the content and writes the input format', () => {
    const inText = join(tmp, 'v1.prototxt');
    writeFileSync(inText, V1_TEXT);
    const r1 = upgradeFile(inText, join(tmp, 'v1_out.prototxt'));
    expect([r1.tool, r1.kind, r1.format, r1.upgraded, r1.success]).toEqual(['upgrade_net_proto_text', 'net', 'text', true, true]);
    const back = parseText(readFileSync(join(tmp, 'v1_out.prototxt'), 'utf8'), 'NetParameter');
    expect(back.layer[0].type).toBe('Input');

    const inBin = join(tmp, 'v1.caffemodel');
    writeFileSync(inBin, encodeMessage(net(V1_TEXT), 'NetParameter'));
    const r2 = upgradeFile(inBin, join(tmp, 'v1_out.caffemodel'));
    expect([r2.tool, r2.format]).toEqual(['upgrade_net_proto_binary', 'binary']);
    expect(messagesDiff(decodeMessage(readFileSync(join(tmp, 'v1_out.caffemodel')), 'NetParameter'), back, 'NetParameter')).toBeNull();

    const inSolver = join(tmp, 'old_solver.prototxt');
    writeFileSync(inSolver, 'net: "x.prototxt"\nbase_lr: 0.01\nsolver_type: ADAGRAD\n');
    const r3 = upgradeFile(inSolver, join(tmp, 'new_solver.prototxt'));
    expect([r3.tool, r3.kind, r3.format]).toEqual(['upgrade_solver_proto_text', 'solver', 'text']);
    const s = parseText(readFileSync(join(tmp, 'new_solver.prototxt'), 'utf8'), 'SolverParameter');
    expect(s.type).toBe('AdaGrad');
    expect(has(s, 'snapshot_prefix')).toBe(false); // the tool does not touch snapshot_prefix

    // Already current: written unchanged, reported as not upgraded.
    const r4 = upgradeFile(join(tmp, 'v1_out.prototxt'), join(tmp, 'v1_again.prototxt'));
    expect(r4.upgraded).toBe(false);
    expect(readFileSync(join(tmp, 'v1_again.prototxt'), 'utf8')).toBe(readFileSync(join(tmp, 'v1_out.prototxt'), 'utf8'));
    // In place.
    upgradeFile(inText, inText);
    expect(parseText(readFileSync(inText, 'utf8'), 'NetParameter').layers.length).toBe(0);
    expect(statSync(inText).isFile()).toBe(true);
  });

  test('classifyText: nets vs solvers', () => {
    expect(classifyText('layer { name: "a" }', 'a').kind).toBe('net');
    expect(classifyText('name: "n"', 'a').kind).toBe('net');
    expect(classifyText('net: "n.prototxt" base_lr: 0.1', 'a').kind).toBe('solver');
    expect(classifyText('net_param { layer { name: "a" } } max_iter: 3', 'a').kind).toBe('solver');
    expect(() => classifyText('bogus_field: 1', 'x.prototxt')).toThrow(/x\.prototxt:1:/);
    void newMessage;
    void fromObject;
  });
});
