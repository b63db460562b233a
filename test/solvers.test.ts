import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, findCases, runCase } from '../src/check/runner.js';
import { parseText } from '../src/format/text.js';
import { readNpyAsFloat32 } from '../src/format/npy.js';
import { readNetParameterText } from '../src/format/io.js';
import { decodeMessage } from '../src/format/binary.js';
import { Net } from '../src/graph/net.js';
import type { Blob } from '../src/graph/blob.js';
import { SolverError } from '../src/util/errors.js';
import { getLearningRate } from '../src/solvers/lr-policy.js';
import { createSolver, loadSolver, solverTypes } from '../src/solvers/registry.js';
import { formatG, type IterationInfo, type Solver } from '../src/solvers/solver.js';
import { SGDSolver } from '../src/solvers/sgd.js';
import { readHdf5Tree } from '../src/data/hdf5.js';
import { describeFile } from '../src/cli/info.js';
import { AdamSolver } from '../src/solvers/adam.js';
import { fromObject } from '../src/proto/schema.js';
import { setSimdKernels, setSimdMin } from '../src/kernels/simd.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'solver');
const TMP = mkdtempSync(join(tmpdir(), 'caffe-ts-solvers-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Reference cases computed by BVLC Caffe

// bn_scale_adam_train trains a conv bias that feeds a TRAIN BatchNorm: its exact gradient is 0, so
// conv1's bias and bn1's mean after Adam depend on BLAS rounding. The case itself carries Caffe's
// own spread for those two tensors (tensor_tolerance, fixtures/FORMAT.md); it must pass whole.
describe('solver fixture cases (BVLC Caffe reference)', () => {
  const cases = findCases(FIXTURES);
  it('finds the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(13);
  });
  for (const dir of cases) {
    const name = dir.slice(FIXTURES.length + 1);
    it(name, () => {
      const r = runCase(dir) as ReturnType<typeof runCase> & { files?: Map<string, Uint8Array> };
      expect(r.failures).toEqual([]);
      // --dump material: every parameter tensor and the per-step losses
      const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
      for (const files of Object.values(spec.params_after) as string[][]) for (const f of files) expect(r.produced.has(f)).toBe(true);
      const losses = JSON.parse(Buffer.from(r.files!.get('losses.json')!).toString('utf8'));
      expect(losses).toHaveLength(spec.steps);
      spec.losses.forEach((e: number, k: number) => expect(Math.abs(losses[k] - e)).toBeLessThanOrEqual(1e-5 + 5e-4 * Math.abs(e)));
    });
  }
});

describe('caffe-ts check on solver cases', () => {
  it('--dump writes the parameter tensors and losses.json', () => {
    const out = mkdtempSync(join(TMP, 'dump-'));
    const lines: string[] = [];
    const r = check([join(FIXTURES, 'sgd_momentum_step_l2')], { dump: out, log: (l) => lines.push(l) });
    expect(r).toEqual({ passed: 1, failed: 0 });
    expect(lines).toEqual(['1 passed, 0 failed']);
    const losses = JSON.parse(readFileSync(join(out, 'losses.json'), 'utf8'));
    expect(losses).toHaveLength(6);
    const got = readNpyAsFloat32(join(out, 'after.ip2.0.npy'));
    const want = readNpyAsFloat32(join(FIXTURES, 'sgd_momentum_step_l2', 'after.ip2.0.npy'));
    expect(got.shape).toEqual(want.shape);
  });
});

// ---------------------------------------------------------------------------------------------
// helpers

const f = Math.fround;

/** A solver over a fixture case's net (absolute path), from solver prototxt text. */
function solverFor(caseName: string, text: string, opts: Parameters<typeof createSolver>[1] = {}): Solver {
  const dir = join(FIXTURES, caseName);
  const param = parseText(`net: "${join(dir, 'net.prototxt')}"\n${text}`, 'SolverParameter');
  return createSolver(param, opts);
}

/** Feeds slice (iter % 6) of the case's feeds into the train net before each iteration. */
function feedEachIteration(solver: Solver, caseName: string): void {
  const dir = join(FIXTURES, caseName);
  const data = readNpyAsFloat32(join(dir, 'feed.data.npy'));
  const label = readNpyAsFloat32(join(dir, 'feed.label.npy'));
  const per = data.data.length / data.shape[0];
  solver.addCallback({
    onStart: (s) => {
      const k = s.iter % data.shape[0];
      s.net.setInputs({ data: data.data.subarray(k * per, (k + 1) * per), label: label.data.subarray(k * 4, (k + 1) * 4) });
    },
  });
}

function weightsOf(caseName: string): string {
  return join(FIXTURES, caseName, 'weights.caffemodel');
}

function allParams(net: Net): Map<string, Float32Array[]> {
  const m = new Map<string, Float32Array[]>();
  for (const [name, blobs] of net.params) m.set(name, blobs.map((b: Blob) => Float32Array.from(b.data)));
  return m;
}

function expectBitEqual(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------
// learning-rate policies

describe('lr policies (Caffe GetLearningRate)', () => {
  const lr = (fields: Record<string, unknown>, iter: number, currentStep = 0) => {
    const state = { iter, currentStep };
    const rate = getLearningRate(fromObject('SolverParameter', fields), state);
    return { rate, state };
  };
  const close = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) * 2e-7);

  it('fixed', () => {
    expect(lr({ lr_policy: 'fixed', base_lr: 0.01 }, 123).rate).toBe(f(0.01));
  });
  it('step: base_lr * gamma^floor(iter/stepsize), current_step tracked', () => {
    const p = { lr_policy: 'step', base_lr: 0.1, gamma: 0.5, stepsize: 3 };
    close(lr(p, 0).rate, 0.1);
    close(lr(p, 2).rate, 0.1);
    close(lr(p, 3).rate, 0.05);
    const r = lr(p, 7);
    close(r.rate, 0.025);
    expect(r.state.currentStep).toBe(2);
  });
  it('exp: base_lr * gamma^iter', () => {
    close(lr({ lr_policy: 'exp', base_lr: 0.05, gamma: 0.9 }, 3).rate, 0.05 * 0.729);
    close(lr({ lr_policy: 'exp', base_lr: 0.05, gamma: 0.9 }, 0).rate, 0.05);
  });
  it('inv: base_lr * (1 + gamma*iter)^-power', () => {
    close(lr({ lr_policy: 'inv', base_lr: 0.01, gamma: 1e-4, power: 0.75 }, 10000).rate, 0.01 * 0.5946035575013605);
    close(lr({ lr_policy: 'inv', base_lr: 0.05, gamma: 0.1, power: 0.75 }, 5).rate, 0.05 * Math.pow(1.5, -0.75));
  });
  it('multistep: one step per call when iter reaches the next stepvalue', () => {
    const p = { lr_policy: 'multistep', base_lr: 0.01, gamma: 0.3, stepvalue: [2, 4] };
    const state = { iter: 0, currentStep: 0 };
    const param = fromObject('SolverParameter', p);
    const rates: number[] = [];
    for (let i = 0; i < 6; i++) {
      state.iter = i;
      rates.push(getLearningRate(param, state));
    }
    [0.01, 0.01, 0.003, 0.003, 0.0009, 0.0009].forEach((w, i) => close(rates[i], w));
    expect(state.currentStep).toBe(2);
    // Caffe advances at most one step per call (a jump past two stepvalues takes two calls)
    const jump = { iter: 10, currentStep: 0 };
    close(getLearningRate(param, jump), 0.003);
    close(getLearningRate(param, jump), 0.0009);
  });
  it('poly: base_lr * (1 - iter/max_iter)^power', () => {
    close(lr({ lr_policy: 'poly', base_lr: 0.1, power: 2, max_iter: 10 }, 3).rate, 0.049);
    expect(lr({ lr_policy: 'poly', base_lr: 0.1, power: 2, max_iter: 10 }, 10).rate).toBe(0);
  });
  it('sigmoid: base_lr / (1 + exp(-gamma*(iter - stepsize)))', () => {
    const p = { lr_policy: 'sigmoid', base_lr: 0.1, gamma: 0.5, stepsize: 3 };
    close(lr(p, 3).rate, 0.05);
    close(lr(p, 5).rate, 0.1 / (1 + Math.exp(-1)));
    close(lr(p, 0).rate, 0.1 / (1 + Math.exp(1.5)));
  });
  it('rejects unknown policies and bad parameters', () => {
    expect(() => lr({ lr_policy: 'cosine', base_lr: 0.1 }, 0)).toThrow(SolverError);
    expect(() => lr({ base_lr: 0.1 }, 0)).toThrow(/unknown learning rate policy ""/);
    expect(() => lr({ lr_policy: 'step', base_lr: 0.1, gamma: 0.5 }, 0)).toThrow(/stepsize > 0/);
    expect(() => lr({ lr_policy: 'exp', base_lr: 0.1, gamma: -1 }, 0)).toThrow(/gamma >= 0/);
  });
});

// ---------------------------------------------------------------------------------------------
// snapshot and restore

describe('snapshot + restore', () => {
  const configs: [string, string][] = [
    ['adam_multistep', 'type: "Adam" base_lr: 0.01 momentum: 0.9 momentum2: 0.999 lr_policy: "multistep" gamma: 0.3 stepvalue: 2 stepvalue: 4'],
    ['bn_scale_sgd_train', 'type: "SGD" base_lr: 0.05 momentum: 0.9 weight_decay: 0.0005 lr_policy: "step" gamma: 0.5 stepsize: 2'],
    ['adadelta', 'type: "AdaDelta" base_lr: 1.0 momentum: 0.95 delta: 1e-6 lr_policy: "fixed"'],
    ['nesterov_exp', 'type: "Nesterov" base_lr: 0.05 momentum: 0.9 lr_policy: "exp" gamma: 0.9 iter_size: 2'],
  ];
  const runs = [...configs.map(([c, t]) => [c, t, 'BINARYPROTO'] as const), ...configs.slice(0, 2).map(([c, t]) => [c, t, 'HDF5'] as const)];
  for (const [caseName, text, format] of runs) {
    it(`3 + snapshot + restore + 3 equals 6 straight, bit for bit (${caseName}, ${format})`, () => {
      const dir = mkdtempSync(join(TMP, `${caseName}-`));
      const prefix = join(dir, 'snap');
      const common = `${text} max_iter: 100 display: 0 random_seed: 1 snapshot_prefix: "${prefix}" snapshot_format: ${format}`;
      const hdf5 = format === 'HDF5';

      const straight = solverFor(caseName, `${common} snapshot: 0`);
      straight.net.copyTrainedLayersFromFile(weightsOf(caseName));
      feedEachIteration(straight, caseName);
      straight.step(6);

      const first = solverFor(caseName, `${common} snapshot: 3`);
      first.net.copyTrainedLayersFromFile(weightsOf(caseName));
      feedEachIteration(first, caseName);
      first.step(3);
      const model = `${prefix}_iter_3.caffemodel${hdf5 ? '.h5' : ''}`;
      const state = `${prefix}_iter_3.solverstate${hdf5 ? '.h5' : ''}`;
      expect(existsSync(model)).toBe(true);
      expect(existsSync(state)).toBe(true);
      const sets = caseName === 'adam_multistep' || caseName === 'adadelta' ? 2 : 1;
      if (hdf5) {
        // Caffe's layout: int datasets iter and current_step, string learned_net, history/<i>
        const tree = readHdf5Tree(state);
        const get = (p: string) => tree.datasets.find((d) => d.path === p)!;
        expect([...get('iter').data!]).toEqual([3]);
        expect([...get('current_step').data!]).toEqual([first.currentStep]);
        expect(get('learned_net').text).toBe(model);
        expect(tree.groups).toEqual(['history']);
        expect(tree.datasets.filter((d) => d.path.startsWith('history/')).length).toBe(first.net.learnableParams.length * sets);
        expect(describeFile(state)).toBe(`${state}: HDF5 solver state, iter 3, current_step ${first.currentStep}, ${first.net.learnableParams.length * sets} history blobs, learned_net ${model}`);
      } else {
        const st = decodeMessage(readFileSync(state), 'SolverState');
        expect(st.iter).toBe(3);
        expect(st.learned_net).toBe(model);
        expect(st.history.length).toBe(first.net.learnableParams.length * sets);
      }

      // a fresh solver (random initial weights) restored from the snapshot
      const resumed = solverFor(caseName, `${common} snapshot: 0`);
      feedEachIteration(resumed, caseName);
      resumed.restore(state);
      expect(resumed.iter).toBe(3);
      expect(resumed.currentStep).toBe(first.currentStep);
      resumed.step(3);

      expect(resumed.iter).toBe(6);
      expect(resumed.currentStep).toBe(straight.currentStep);
      const a = allParams(straight.net);
      const b = allParams(resumed.net);
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [layer, blobs] of a) blobs.forEach((blob, i) => expectBitEqual(b.get(layer)![i], blob, `${layer}[${i}]`));
      const ha = (straight as SGDSolver).history;
      const hb = (resumed as SGDSolver).history;
      expect(hb.length).toBe(ha.length);
      ha.forEach((h, i) => expectBitEqual(hb[i].data, h.data, `history[${i}]`));
    });
  }

  it('restore finds a moved snapshot next to its state file, and names missing files', () => {
    const dir = mkdtempSync(join(TMP, 'moved-'));
    const s = solverFor('sgd_fixed', `type: "SGD" base_lr: 0.1 lr_policy: "fixed" snapshot_prefix: "snap"`, { baseDir: dir });
    s.net.copyTrainedLayersFromFile(weightsOf('sgd_fixed'));
    feedEachIteration(s, 'sgd_fixed');
    s.step(2);
    const { model, state } = s.snapshot();
    expect(model).toBe(join(dir, 'snap_iter_2.caffemodel'));
    expect(state).toBe(join(dir, 'snap_iter_2.solverstate'));
    expect(decodeMessage(readFileSync(state), 'SolverState').learned_net).toBe('snap_iter_2.caffemodel');
    // learned_net is relative to baseDir (Caffe: the working directory); from another baseDir the
    // model is found beside the state
    const other = solverFor('sgd_fixed', `type: "SGD" base_lr: 0.1 lr_policy: "fixed"`, { baseDir: TMP });
    other.restore(state);
    expect(other.iter).toBe(2);
    expectBitEqual(other.net.layer('ip2').blobs[0].data, s.net.layer('ip2').blobs[0].data, 'ip2');
    expect(() => other.restore(join(dir, 'nope.solverstate'))).toThrow(/nope\.solverstate/);
    expect(() => other.restore(join(dir, 'x.solverstate.h5'))).toThrow(/x\.solverstate\.h5/);
    // a binary state given an .h5 name is read as HDF5, as Caffe decides by the name
    const misnamed = join(dir, 'binary.solverstate.h5');
    writeFileSync(misnamed, readFileSync(state));
    expect(() => other.restore(misnamed)).toThrow(/binary\.solverstate\.h5: .*not an HDF5 file/);
    // a state from a solver with two history sets does not fit SGD
    const adam = solverFor('sgd_fixed', `type: "Adam" base_lr: 0.1 lr_policy: "fixed" snapshot_prefix: "${join(dir, 'adam')}"`);
    const adamState = adam.snapshot().state;
    expect(() => other.restore(adamState)).toThrow(/history blob/);
  });

  it('snapshot every N iterations, on request, and after training (solve)', () => {
    const dir = mkdtempSync(join(TMP, 'solve-'));
    const prefix = join(dir, 'run');
    const s = solverFor('sgd_fixed', `type: "SGD" base_lr: 0.1 lr_policy: "fixed" max_iter: 7 snapshot: 3 snapshot_prefix: "${prefix}"`);
    feedEachIteration(s, 'sgd_fixed');
    const seen: IterationInfo[] = [];
    s.onIteration = (info) => {
      seen.push(info);
      if (info.iter === 2) s.requestSnapshot();
    };
    s.solve();
    expect(seen.map((i) => i.iter)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seen.every((i) => i.lr === f(0.1))).toBe(true);
    for (const n of [2, 3, 6, 7]) {
      expect(existsSync(`${prefix}_iter_${n}.caffemodel`), `iter ${n}`).toBe(true);
      expect(existsSync(`${prefix}_iter_${n}.solverstate`), `iter ${n}`).toBe(true);
    }
    for (const n of [1, 4, 5]) expect(existsSync(`${prefix}_iter_${n}.caffemodel`)).toBe(false);
    // the written weights are the net's
    const check = new Net(readNetParameterText(join(FIXTURES, 'sgd_fixed', 'net.prototxt')), { phase: 'TRAIN' });
    check.copyTrainedLayersFromFile(`${prefix}_iter_7.caffemodel`);
    expectBitEqual(check.layer('conv1').blobs[0].data, s.net.layer('conv1').blobs[0].data, 'conv1');
  });

  it('requestStop ends solve early, with the snapshot_after_train snapshot', () => {
    const dir = mkdtempSync(join(TMP, 'stop-'));
    const prefix = join(dir, 'run');
    const s = solverFor('sgd_fixed', `type: "SGD" base_lr: 0.1 lr_policy: "fixed" max_iter: 100 snapshot_prefix: "${prefix}"`);
    feedEachIteration(s, 'sgd_fixed');
    s.onIteration = (info) => {
      if (info.iter === 4) s.requestStop();
    };
    s.solve();
    expect(s.iter).toBe(4);
    expect(s.stoppedEarly).toBe(true);
    expect(existsSync(`${prefix}_iter_4.solverstate`)).toBe(true);
  });

  it('snapshot_format HDF5 with layer names HDF5 cannot hold fails at construction, not at the first snapshot', () => {
    const param = parseText(
      `net_param { layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
        layer { name: "fc/1" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 2 } }
        layer { name: "l" type: "EuclideanLoss" bottom: "y" bottom: "y" top: "loss" } }
       base_lr: 0.1 lr_policy: "fixed" snapshot_format: HDF5 snapshot_prefix: "${join(TMP, 'slash')}"`,
      'SolverParameter',
    );
    expect(() => createSolver(param, {})).toThrow(/snapshot_format HDF5: layer 'fc\/1'.*binary format/);
    param.snapshot_format = 1; // BINARYPROTO
    expect(() => createSolver(param, {})).not.toThrow();
  });

  it('a snapshot without prefix or with an unwritable one is a clear error', () => {
    expect(() => solverFor('sgd_fixed', 'base_lr: 0.1 lr_policy: "fixed" snapshot: 10')).toThrow(/snapshot_prefix/);
    expect(() => solverFor('sgd_fixed', `base_lr: 0.1 lr_policy: "fixed" snapshot: 10 snapshot_prefix: "${join(TMP, 'no', 'such', 'dir', 'x')}"`)).toThrow(
      /cannot write to snapshot prefix/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// training semantics

describe('training semantics', () => {
  it('layers with lr_mult 0 do not change (weight decay and momentum notwithstanding)', () => {
    const s = solverFor('bn_finetune_frozen_backbone', 'type: "SGD" base_lr: 0.1 momentum: 0.9 weight_decay: 0.01 lr_policy: "fixed"');
    s.net.copyTrainedLayersFromFile(weightsOf('bn_finetune_frozen_backbone'));
    const before = allParams(s.net);
    feedEachIteration(s, 'bn_finetune_frozen_backbone');
    s.step(5);
    const after = allParams(s.net);
    for (const layer of ['conv1', 'scale1']) before.get(layer)!.forEach((b, i) => expectBitEqual(after.get(layer)![i], b, `${layer}[${i}]`));
    // trained layers and the BatchNorm statistics did change
    expect(after.get('ip1')![0]).not.toEqual(before.get('ip1')![0]);
    expect(after.get('bn1')![2][0]).not.toBe(before.get('bn1')![2][0]);
  });

  it('BatchNorm moving averages are updated in TRAIN and used by the test net', () => {
    const caseName = 'bn_scale_sgd_train';
    const s = solverFor(caseName, 'type: "SGD" base_lr: 0.05 momentum: 0.9 lr_policy: "fixed" test_iter: 1 test_interval: 1000 test_initialization: false');
    expect(s.testNets).toHaveLength(1);
    expect(s.testNets[0].phase).toBe(1);
    s.net.copyTrainedLayersFromFile(weightsOf(caseName));
    const statsBefore = s.net.layer('bn1').blobs.map((b) => Float32Array.from(b.data));
    feedEachIteration(s, caseName);
    s.step(3);
    const bn = s.net.layer('bn1').blobs;
    // 3 forward passes: scale factor s = (s0 * 0.999 + 1) three times
    let factor = statsBefore[2][0];
    for (let i = 0; i < 3; i++) factor = f(f(factor * f(0.999)) + 1);
    expect(bn[2].data[0]).toBeCloseTo(factor, 5);
    expect(bn[0].data).not.toEqual(statsBefore[0]);

    const data = readNpyAsFloat32(join(FIXTURES, caseName, 'feed.data.npy'));
    const label = readNpyAsFloat32(join(FIXTURES, caseName, 'feed.label.npy'));
    const inputs = { data: data.data.subarray(0, 432), label: label.data.subarray(0, 4) };
    const statsTrained = bn.map((b) => Float32Array.from(b.data));
    s.testNets[0].setInputs(inputs);
    const result = s.test(0);
    // the test net reads the train net's statistics (shared) and does not change them
    s.testNets[0].layer('bn1').blobs.forEach((b, i) => expectBitEqual(b.data, statsTrained[i], `test bn1[${i}]`));
    bn.forEach((b, i) => expectBitEqual(b.data, statsTrained[i], `train bn1[${i}]`));
    // ... and computes what a TEST net with the trained weights computes
    const ref = new Net(readNetParameterText(join(FIXTURES, caseName, 'net.prototxt')), { phase: 'TEST' });
    ref.copyTrainedLayersFrom(s.net.toProto());
    ref.forward(inputs);
    expect(result.outputs).toEqual([{ index: 0, name: 'loss', value: ref.blob('loss').data[0], lossWeight: 1 }]);
    expect(s.meanScores[0]).toEqual([ref.blob('loss').data[0]]);
    // with batch statistics instead (a TRAIN-phase forward) the loss differs
    const train = new Net(readNetParameterText(join(FIXTURES, caseName, 'net.prototxt')), { phase: 'TRAIN' });
    train.copyTrainedLayersFrom(s.net.toProto());
    train.forward(inputs);
    expect(train.blob('loss').data[0]).not.toBe(result.outputs[0].value);
  });

  it('tests at test_interval (and at 0 with test_initialization), averaging over test_iter', () => {
    const caseName = 'sgd_fixed';
    const s = solverFor(caseName, 'type: "SGD" base_lr: 0.1 lr_policy: "fixed" test_iter: 3 test_interval: 2 test_compute_loss: true');
    feedEachIteration(s, caseName);
    const data = readNpyAsFloat32(join(FIXTURES, caseName, 'feed.data.npy'));
    const label = readNpyAsFloat32(join(FIXTURES, caseName, 'feed.label.npy'));
    s.testNets[0].setInputs({ data: data.data.subarray(0, 432), label: label.data.subarray(0, 4) });
    const at: number[] = [];
    s.onTest = (r) => {
      at.push(r.iter);
      expect(r.outputs).toHaveLength(1);
      // the same input three times: the mean is the single value (float sums of 3 equal values / 3)
      const one = s.testNets[0].blob('loss').data[0];
      expect(r.outputs[0].value).toBeCloseTo(one, 6);
      expect(r.loss).toBeCloseTo(one, 6);
    };
    s.step(5);
    expect(at).toEqual([0, 2, 4]);
  });

  it('iter_size accumulates gradients over passes and averages them (and the loss)', () => {
    const caseName = 'sgd_fixed';
    const one = solverFor(caseName, 'type: "SGD" base_lr: 0.1 lr_policy: "fixed"');
    const two = solverFor(caseName, 'type: "SGD" base_lr: 0.1 lr_policy: "fixed" iter_size: 2');
    for (const s of [one, two]) {
      s.net.copyTrainedLayersFromFile(weightsOf(caseName));
      feedEachIteration(s, caseName);
    }
    const l1: number[] = [];
    const l2: number[] = [];
    one.onIteration = (i) => l1.push(i.loss);
    two.onIteration = (i) => l2.push(i.loss);
    let passes = 0;
    const net2 = two.net;
    const orig = net2.backward.bind(net2);
    net2.backward = (d?: Record<string, ArrayLike<number>>) => {
      passes++;
      orig(d);
    };
    one.step(3);
    two.step(3);
    expect(passes).toBe(6);
    // the same data in both passes: the mean loss is the single-pass loss and the averaged
    // gradient the single-pass gradient (up to float accumulation order)
    l1.forEach((l, i) => expect(l2[i]).toBeCloseTo(l, 5));
    const a = allParams(one.net);
    const b = allParams(two.net);
    for (const [layer, blobs] of a) blobs.forEach((x, i) => x.forEach((v, k) => expect(Math.abs(b.get(layer)![i][k] - v)).toBeLessThan(1e-5)));
  });

  it('average_loss smooths the displayed loss over the last N iterations of a step() call', () => {
    const caseName = 'sgd_fixed';
    const s = solverFor(caseName, 'type: "SGD" base_lr: 0.1 lr_policy: "fixed" average_loss: 3');
    feedEachIteration(s, caseName);
    const seen: IterationInfo[] = [];
    s.onIteration = (i) => seen.push(i);
    s.step(5);
    const losses = seen.map((i) => i.loss);
    seen.forEach((info, k) => {
      const window = losses.slice(Math.max(0, k - 2), k + 1);
      const mean = window.reduce((a, x) => a + x, 0) / window.length;
      expect(info.smoothedLoss).toBeCloseTo(mean, 5);
    });
    expect(s.smoothedLoss).toBe(seen[4].smoothedLoss);
    // a new step() call starts a new window, as Caffe's Step
    s.step(1);
    expect(s.smoothedLoss).toBe(s.lastLoss);
  });

  it('display logs the lr, the smoothed loss and the train outputs as Caffe', () => {
    const lines: string[] = [];
    const s = solverFor('sgd_fixed', 'type: "SGD" base_lr: 0.1 lr_policy: "fixed" display: 2', { log: (l) => lines.push(l) });
    feedEachIteration(s, 'sgd_fixed');
    s.step(3);
    expect(lines.filter((l) => / lr = /.test(l))).toEqual(['Iteration 0, lr = 0.1', 'Iteration 2, lr = 0.1']);
    const shown = lines.filter((l) => /^Iteration \d+ \(.* iter\/s, .*s\/2 iters\), loss = /.test(l));
    expect(shown).toHaveLength(2);
    const out = lines.filter((l) => l.startsWith('    Train net output #0: loss = '));
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^ {4}Train net output #0: loss = [\d.e+-]+ \(\* 1 = [\d.e+-]+ loss\)$/);
  });

  it('gradient clipping scales all diffs to the clip norm', () => {
    const s = solverFor('sgd_fixed', 'type: "SGD" base_lr: 1 lr_policy: "fixed" clip_gradients: 0.01') as SGDSolver;
    feedEachIteration(s, 'sgd_fixed');
    const before = allParams(s.net);
    s.step(1);
    const after = allParams(s.net);
    let sq = 0;
    for (const [layer, blobs] of before) blobs.forEach((b, i) => b.forEach((v, k) => (sq += (v - after.get(layer)![i][k]) ** 2)));
    // lr 1, lr_mult 1 and 2: the step norm is between clip and 2 * clip
    expect(Math.sqrt(sq)).toBeGreaterThan(0.0099);
    expect(Math.sqrt(sq)).toBeLessThan(0.0201);
  });
});

// ---------------------------------------------------------------------------------------------
// setup errors, registry

describe('solver setup', () => {
  it('a missing net file is a clear error naming it', () => {
    const param = parseText('net: "no/such/net.prototxt" base_lr: 0.1 lr_policy: "fixed"', 'SolverParameter');
    expect(() => createSolver(param, { baseDir: TMP })).toThrow(SolverError);
    expect(() => createSolver(param, { baseDir: TMP })).toThrow(/net file 'no\/such\/net\.prototxt' not found/);
    const test = parseText(`train_net: "${join(FIXTURES, 'sgd_fixed', 'net.prototxt')}" test_net: "missing_test.prototxt" test_iter: 1 test_interval: 5`, 'SolverParameter');
    expect(() => createSolver(test, { baseDir: TMP })).toThrow(/test_net file 'missing_test\.prototxt'/);
    expect(() => loadSolver(join(TMP, 'missing_solver.prototxt'))).toThrow(/missing_solver\.prototxt/);
  });

  it('exactly one train net field', () => {
    expect(() => createSolver(parseText('base_lr: 0.1', 'SolverParameter'))).toThrow(/must specify a train net/);
    const net = join(FIXTURES, 'sgd_fixed', 'net.prototxt');
    expect(() => createSolver(parseText(`net: "${net}" train_net: "${net}"`, 'SolverParameter'))).toThrow(/more than one/);
  });

  it('test_iter must match the test nets; test_interval must be set', () => {
    const net = join(FIXTURES, 'sgd_fixed', 'net.prototxt');
    expect(() => createSolver(parseText(`train_net: "${net}" test_net: "${net}"`, 'SolverParameter'))).toThrow(/test_iter/);
    expect(() => createSolver(parseText(`net: "${net}" test_iter: 1`, 'SolverParameter'))).toThrow(/test_interval/);
    expect(() => createSolver(parseText(`net: "${net}" test_iter: 1 test_interval: 1 test_state { stage: "a" } test_state { stage: "b" }`, 'SolverParameter'))).toThrow(/test_state/);
  });

  it('net states: TRAIN merged with the net state and train_state; TEST with test_state', () => {
    const netText = `name: "staged" state { level: 3 stage: "own" }
      layer { name: "input" type: "Input" top: "data" top: "label" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
      layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 } }
      layer { name: "extra" type: "InnerProduct" bottom: "ip" top: "extra" inner_product_param { num_output: 2 } include { stage: "own" stage: "more" } }
      layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" include { phase: TRAIN min_level: 3 } }`;
    const netParam = parseText(netText, 'NetParameter');
    const param = fromObject('SolverParameter', { base_lr: 0.1, lr_policy: 'fixed', test_iter: [1, 1], test_interval: 10 });
    param.net_param = netParam;
    param.train_state = fromObject('NetState', { stage: ['more'] });
    param.test_state = [fromObject('NetState', { stage: ['more'] }), fromObject('NetState', { level: 1 })];
    const s = createSolver(param);
    expect(s.net.phase).toBe(0);
    expect(s.net.layerNames).toContain('extra');
    expect(s.net.layerNames).toContain('loss');
    expect(s.testNets.map((n) => n.phase)).toEqual([1, 1]);
    expect(s.testNets[0].layerNames).toContain('extra');
    expect(s.testNets[1].layerNames).not.toContain('extra');
    expect(s.testNets[0].layerNames).not.toContain('loss');
  });

  it('the `weights` field fine-tunes the train and test nets', () => {
    const dir = join(FIXTURES, 'sgd_fixed');
    const s = solverFor('sgd_fixed', `base_lr: 0.1 lr_policy: "fixed" weights: " ${join(dir, 'weights.caffemodel')} " test_iter: 1 test_interval: 10`);
    const ref = new Net(readNetParameterText(join(dir, 'net.prototxt')), { phase: 'TRAIN' });
    ref.copyTrainedLayersFromFile(join(dir, 'weights.caffemodel'));
    expectBitEqual(s.net.layer('ip1').blobs[0].data, ref.layer('ip1').blobs[0].data, 'train ip1');
    expectBitEqual(s.testNets[0].layer('ip1').blobs[0].data, ref.layer('ip1').blobs[0].data, 'test ip1');
  });

  it('registry: types, legacy solver_type, unknown types, sanity checks', () => {
    expect(solverTypes()).toEqual(['SGD', 'Nesterov', 'AdaGrad', 'RMSProp', 'AdaDelta', 'Adam']);
    const net = join(FIXTURES, 'sgd_fixed', 'net.prototxt');
    const legacy = createSolver(parseText(`net: "${net}" base_lr: 0.1 lr_policy: "fixed" solver_type: ADAM`, 'SolverParameter'));
    expect(legacy).toBeInstanceOf(AdamSolver);
    expect(legacy.type).toBe('Adam');
    for (const t of solverTypes()) {
      const extra = t === 'AdaGrad' || t === 'RMSProp' ? '' : 'momentum: 0.9';
      expect(createSolver(parseText(`net: "${net}" type: "${t}" ${extra}`, 'SolverParameter')).type).toBe(t);
    }
    expect(() => createSolver(parseText(`net: "${net}" type: "adam"`, 'SolverParameter'))).toThrow(/unknown solver type 'adam' \(did you mean 'Adam'\?\)/);
    expect(() => createSolver(parseText(`net: "${net}" type: "AdaGrad" momentum: 0.9`, 'SolverParameter'))).toThrow(/momentum cannot be used with AdaGrad/);
    expect(() => createSolver(parseText(`net: "${net}" type: "RMSProp" rms_decay: 1`, 'SolverParameter'))).toThrow(/rms_decay/);
    expect(() => createSolver(parseText(`net: "${net}" average_loss: 0`, 'SolverParameter'))).toThrow(/average_loss/);
  });

  it('loadSolver resolves the net relative to the working directory (baseDir)', () => {
    const dir = join(FIXTURES, 'sgd_fixed');
    const s = loadSolver('solver.prototxt', { baseDir: dir });
    expect(s.type).toBe('SGD');
    expect(s.net.layerNames[0]).toBe('input');
    expect(s.param.snapshot_prefix).toBe(join(dir, 'solver'));
  });

  it('random_seed makes filler initialization reproducible', () => {
    const make = () => solverFor('sgd_fixed', 'base_lr: 0.1 lr_policy: "fixed" random_seed: 42');
    const a = make().net.layer('ip1').blobs[0].data;
    const b = make().net.layer('ip1').blobs[0].data;
    expectBitEqual(a, b, 'ip1');
  });

  it('formatG prints as C++ ostream', () => {
    expect(formatG(0.1)).toBe('0.1');
    expect(formatG(f(0.1))).toBe('0.1');
    expect(formatG(2.385662078857422)).toBe('2.38566');
    expect(formatG(1e-5)).toBe('1e-05');
    expect(formatG(0.0001234567)).toBe('0.000123457');
    expect(formatG(1234567)).toBe('1.23457e+06');
    expect(formatG(100)).toBe('100');
    expect(formatG(0)).toBe('0');
  });
});

// The update passes (L2 decay, SGD momentum, data -= diff) run in the WebAssembly SIMD module for
// parameters of SIMD_MIN elements or more; with it off they loop in JS. Same float32 operations,
// so the parameters must come out bit for bit the same.
describe('solver update passes: SIMD kernels equal the JS loops', () => {
  const run = (type: string, simd: boolean): Float32Array[] => {
    const old = setSimdMin(1);
    setSimdKernels(simd);
    try {
      const momentum = type === 'AdaGrad' || type === 'RMSProp' ? '' : 'momentum: 0.9 ';
      const s = solverFor('sgd_fixed', `type: "${type}" base_lr: 0.05 ${momentum}weight_decay: 0.01 lr_policy: "fixed" ` +
        'max_iter: 100 display: 0 snapshot: 0 random_seed: 1');
      feedEachIteration(s, 'sgd_fixed');
      s.step(4);
      return s.net.learnableParams.map((p) => p.data.slice());
    } finally {
      setSimdKernels(true);
      setSimdMin(old);
    }
  };
  for (const type of ['SGD', 'Nesterov', 'Adam', 'AdaGrad', 'RMSProp', 'AdaDelta']) {
    it(type, () => {
      const a = run(type, true);
      const b = run(type, false);
      expect(a.length).toBe(b.length);
      a.forEach((p, i) => expect(Buffer.from(p.buffer).equals(Buffer.from(b[i].buffer))).toBe(true));
    });
  }
});
