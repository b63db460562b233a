// The Caffe-tool commands: caffe-ts train / test / time, their progress bar and loss-curve SVG.
// The commands run in-process through their run functions (one end-to-end spawn of the built CLI
// at the end, when dist/ is built) on a tiny DummyData net: gaussian data, constant labels.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Net } from '../src/graph/net.js';
import type { IterationInfo, Solver } from '../src/solvers/solver.js';
import { runTrain } from '../src/cli/train.js';
import { runTest } from '../src/cli/test.js';
import { runTime } from '../src/cli/time.js';
import { getThreads, setThreads } from '../src/kernels/threads.js';
import { formatBar, formatDuration, ProgressBar } from '../src/cli/progress.js';
import { LossCurve, niceTicks, parseLossCurveSvg, formatTick } from '../src/cli/svg.js';
import { gflagsToLong } from '../src/cli/flags.js';
import { commands } from '../src/cli/commands.js';

const TMP = mkdtempSync(join(tmpdir(), 'caffe-ts-cli-train-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

const NET = `name: "tiny"
layer { name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param { shape { dim: 8 dim: 4 } shape { dim: 8 }
    data_filler { type: "gaussian" std: 1 } data_filler { type: "constant" value: 1 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "ip1" bottom: "label" top: "accuracy" include { phase: TEST } }
`;
const netPath = join(TMP, 'net.prototxt');
writeFileSync(netPath, NET);

function solverFile(name: string, extra: string): string {
  const path = join(TMP, `${name}.prototxt`);
  writeFileSync(
    path,
    `net: "${netPath}"\nbase_lr: 0.1\nmomentum: 0.9\nlr_policy: "fixed"\nrandom_seed: 1\nsnapshot_prefix: "${join(TMP, name)}"\n${extra}`,
  );
  return path;
}

const mainSolver = solverFile('tiny', 'test_iter: 2\ntest_interval: 5\ndisplay: 2\naverage_loss: 3\nmax_iter: 10\nsnapshot: 5\n');
const sigSolver = solverFile('sig', 'display: 0\nmax_iter: 1000\nsnapshot: 0\nsnapshot_after_train: false\n');
const snap = (name: string, iter: number, ext: string) => join(TMP, `${name}_iter_${iter}.${ext}`);

function collector(isTTY = false) {
  const chunks: string[] = [];
  return {
    out: { isTTY, columns: 100, write: (s: string) => chunks.push(s) },
    text: () => chunks.join(''),
  };
}

describe('caffe-ts train', () => {
  it('trains to max_iter with Caffe-style log lines, snapshots and a loss curve', async () => {
    const c = collector();
    const infos: IterationInfo[] = [];
    const rc = await runTrain(['--solver', mainSolver], { out: c.out, onIteration: (i) => infos.push(i) });
    expect(rc).toBe(0);
    const log = c.text();
    expect(log).not.toContain('\x1b');
    expect(log).toMatch(/^Solving tiny$/m);
    expect(log).toMatch(/^Iteration 0, Testing net \(#0\)$/m);
    expect(log).toMatch(/^ {4}Test net output #0: accuracy = [\d.]+$/m);
    expect(log).toMatch(/^ {4}Test net output #1: loss = (\S+) \(\* 1 = \1 loss\)$/m);
    expect(log).toMatch(/^Iteration 0 \(\S+ iter\/s, \S+s\/2 iters\), loss = \S+$/m);
    expect(log).toMatch(/^ {4}Train net output #0: loss = (\S+) \(\* 1 = \1 loss\)$/m);
    expect(log).toMatch(/^Iteration 4, lr = 0\.1$/m);
    expect(log).toMatch(/^Snapshotting to binary proto file .*tiny_iter_5\.caffemodel$/m);
    expect(log).toMatch(/^Iteration 10, loss = \S+$/m);
    expect(log).toMatch(/^Iteration 10, Testing net \(#0\)$/m);
    expect(log.trimEnd().split('\n').at(-1)).toBe('Optimization Done.');
    // display lines come before the snapshot of the same iteration; lr after the outputs
    expect(log.indexOf('Iteration 4 (')).toBeLessThan(log.indexOf('Iteration 4, lr'));

    // the smoothed loss runs over the whole run (average_loss 3), not per step
    expect(infos.map((i) => i.iter)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const mean3 = (k: number) => (infos[k - 2].loss + infos[k - 1].loss + infos[k].loss) / 3;
    expect(infos[4].smoothedLoss).toBeCloseTo(mean3(4), 5);
    expect(infos[9].smoothedLoss).toBeCloseTo(mean3(9), 5);
    const shown = Number(/^Iteration 8 \(.*loss = (\S+)$/m.exec(log)![1]);
    expect(shown).toBeCloseTo(infos[8].smoothedLoss, 5);

    for (const it of [5, 10]) {
      expect(existsSync(snap('tiny', it, 'caffemodel'))).toBe(true);
      expect(existsSync(snap('tiny', it, 'solverstate'))).toBe(true);
    }
    const svg = readFileSync(join(TMP, 'tiny_loss.svg'), 'utf8');
    expect(svg).toMatch(/^<\?xml/);
    expect(svg).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(svg).toContain('class="train-loss"');
    expect(svg).toContain('test accuracy (right axis)');
    const data = parseLossCurveSvg(svg)!;
    expect(data.train.map((p) => p.iter)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(data.train[3].loss).toBeCloseTo(infos[3].loss, 4);
    const acc = data.tests.find((s) => s.name === 'accuracy')!;
    expect(acc.points.map((p) => p.iter)).toEqual([0, 5, 10]);
  });

  it('--snapshot resumes the iteration count (and the loss curve)', async () => {
    const c = collector();
    const rc = await runTrain(['--solver', mainSolver, '--snapshot', snap('tiny', 5, 'solverstate'), '--iterations', '8'], c);
    expect(rc).toBe(0);
    const log = c.text();
    expect(log).toMatch(/^Resuming from .*tiny_iter_5\.solverstate$/m);
    expect(log).not.toMatch(/^Iteration [0-4] /m);
    expect(log).toMatch(/^Iteration 6 \(/m);
    expect(existsSync(snap('tiny', 8, 'caffemodel'))).toBe(true);
    const data = parseLossCurveSvg(readFileSync(join(TMP, 'tiny_loss.svg'), 'utf8'))!;
    expect(data.train.map((p) => p.iter)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('snapshot_format HDF5: .caffemodel.h5 / .solverstate.h5 snapshots, resumed and fine-tuned from', async () => {
    const h5Solver = solverFile('tinyh5', 'display: 0\nmax_iter: 4\nsnapshot: 2\nsnapshot_format: HDF5\n');
    const c = collector();
    expect(await runTrain(['--solver', h5Solver], c)).toBe(0);
    expect(c.text()).toMatch(/^Snapshotting to HDF5 file .*tinyh5_iter_2\.caffemodel\.h5$/m);
    expect(c.text()).toMatch(/^Snapshotting solver state to HDF5 file .*tinyh5_iter_2\.solverstate\.h5$/m);
    for (const n of [2, 4]) for (const ext of ['caffemodel.h5', 'solverstate.h5']) expect(existsSync(snap('tinyh5', n, ext))).toBe(true);
    const r = collector();
    expect(await runTrain(['--solver', h5Solver, '--snapshot', snap('tinyh5', 2, 'solverstate.h5'), '--iterations', '3'], r)).toBe(0);
    expect(r.text()).toMatch(/^Resuming from .*tinyh5_iter_2\.solverstate\.h5$/m);
    expect(existsSync(snap('tinyh5', 3, 'caffemodel.h5'))).toBe(true);
    const ref = Net.fromFiles(netPath, snap('tinyh5', 4, 'caffemodel.h5'), { phase: 'TEST' }).params.get('ip1')![0].data;
    let checked = false;
    const onReady = (s: Solver) => {
      expect(Array.from(s.net.params.get('ip1')![0].data)).toEqual(Array.from(ref));
      checked = true;
    };
    expect(await runTrain(['--solver', mainSolver, '--weights', snap('tinyh5', 4, 'caffemodel.h5'), '--iterations', '0'], { out: collector().out, onReady })).toBe(0);
    expect(checked).toBe(true);
  });

  it('refuses --weights with --snapshot, and unknown signal effects, as Caffe', async () => {
    await expect(
      runTrain(['--solver', mainSolver, '--snapshot', snap('tiny', 5, 'solverstate'), '--weights', snap('tiny', 5, 'caffemodel')], collector()),
    ).rejects.toThrow(/Give a snapshot to resume training or weights to finetune but not both/);
    await expect(runTrain(['--solver', mainSolver, '--sigint_effect', 'quit'], collector())).rejects.toThrow(/Invalid signal effect "quit"/);
    await expect(runTrain([], collector())).rejects.toThrow(/Need a solver definition/);
  });

  it('--weights copies into the train net and the test nets', async () => {
    const weights = snap('tiny', 10, 'caffemodel');
    const ref = Net.fromFiles(netPath, weights, { phase: 'TEST' }).params.get('ip1')![0].data;
    let checked = false;
    const onReady = (s: Solver) => {
      expect(Array.from(s.net.params.get('ip1')![0].data)).toEqual(Array.from(ref));
      expect(Array.from(s.testNets[0].params.get('ip1')![0].data)).toEqual(Array.from(ref));
      checked = true;
    };
    const c = collector();
    expect(await runTrain(['--solver', mainSolver, '--weights', weights, '--iterations', '0'], { out: c.out, onReady })).toBe(0);
    expect(checked).toBe(true);
    expect(c.text()).toMatch(/^Finetuning from .*tiny_iter_10\.caffemodel$/m);
  });

  describe('signals', () => {
    const emitAt = (iter: number, signal: 'SIGINT' | 'SIGHUP') => (info: IterationInfo) => {
      if (info.iter === iter) process.emit(signal, signal);
    };

    it('Ctrl-C by default snapshots, then stops, and unregisters its handlers', async () => {
      const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGHUP')];
      const c = collector();
      let last = 0;
      const rc = await runTrain(['--solver', sigSolver], {
        out: c.out,
        onIteration: (info) => {
          last = info.iter;
          emitAt(3, 'SIGINT')(info);
        },
      });
      expect(rc).toBe(0);
      expect(last).toBe(3);
      expect(existsSync(snap('sig', 3, 'caffemodel'))).toBe(true);
      expect(existsSync(snap('sig', 3, 'solverstate'))).toBe(true);
      expect(c.text()).toMatch(/^Received SIGINT at iteration 3: snapshot and stop$/m);
      expect(c.text()).toMatch(/^Optimization stopped early\.$/m);
      expect(existsSync(join(TMP, 'sig_loss.svg'))).toBe(true);
      expect([process.listenerCount('SIGINT'), process.listenerCount('SIGHUP')]).toEqual(before);
    });

    it('--sigint_effect stop|snapshot|none and SIGHUP behave as in Caffe', async () => {
      // stop: no snapshot when snapshot_after_train is false
      let c = collector();
      await runTrain(['--solver', sigSolver, '--sigint_effect', 'stop', '--iterations', '20'], { out: c.out, onIteration: emitAt(2, 'SIGINT') });
      expect(c.text()).toMatch(/Optimization stopped early/);
      expect(existsSync(snap('sig', 2, 'caffemodel'))).toBe(false);
      // snapshot: snapshot and go on
      c = collector();
      await runTrain(['--solver', sigSolver, '--sigint_effect', 'snapshot', '--iterations', '6'], { out: c.out, onIteration: emitAt(4, 'SIGINT') });
      expect(existsSync(snap('sig', 4, 'caffemodel'))).toBe(true);
      expect(c.text()).toMatch(/^Optimization Done\.$/m);
      // none: ignored
      c = collector();
      await runTrain(['--solver', sigSolver, '--sigint_effect', 'none', '--iterations', '7'], { out: c.out, onIteration: emitAt(5, 'SIGINT') });
      expect(existsSync(snap('sig', 5, 'caffemodel'))).toBe(false);
      expect(c.text()).toMatch(/^Optimization Done\.$/m);
      // SIGHUP: snapshot by default
      c = collector();
      await runTrain(['--solver', sigSolver, '--iterations', '3'], { out: c.out, onIteration: emitAt(1, 'SIGHUP') });
      expect(existsSync(snap('sig', 1, 'caffemodel'))).toBe(true);
      expect(c.text()).toMatch(/^Optimization Done\.$/m);
    });
  });

  it('draws a progress bar instead of the display lines on a terminal', async () => {
    const c = collector(true);
    expect(await runTrain(['--solver', mainSolver, '--iterations', '6'], { out: c.out })).toBe(0);
    const text = c.text();
    expect(text).toContain('\r\x1b[2K[');
    expect(text).toMatch(/ 6\/6 {2}loss \S+ +lr 0\.1 /);
    expect(text).not.toMatch(/Iteration 2 \(/);
    expect(text).toMatch(/Iteration 5, Testing net \(#0\)\n/);
    expect(text).toMatch(/Trained at iteration 6 \(6 iterations in [\d.]+ s\), loss \S+; loss curve .*tiny_loss\.svg\n$/);
  });
});

describe('caffe-ts test', () => {
  it('prints every batch, the mean loss and the mean outputs as caffe test', async () => {
    const c = collector();
    expect(await runTest(['--model', netPath, '--weights', snap('tiny', 10, 'caffemodel'), '--iterations', '3'], c.out)).toBe(0);
    const log = c.text();
    expect(log).toMatch(/^Running for 3 iterations\.$/m);
    const batches = [...log.matchAll(/^Batch (\d), loss = (\S+)$/gm)].map((m) => Number(m[2]));
    expect(batches).toHaveLength(3);
    expect(log).toMatch(/^Batch 2, accuracy = [\d.]+$/m);
    const meanLoss = Number(/^Loss: (\S+)$/m.exec(log)![1]);
    expect(meanLoss).toBeCloseTo((batches[0] + batches[1] + batches[2]) / 3, 4);
    expect(log).toMatch(/^accuracy = [\d.]+$/m);
    const m = /^loss = (\S+) \(\* 1 = (\S+) loss\)$/m.exec(log)!;
    expect(m[1]).toBe(m[2]);
    expect(Number(m[1])).toBeCloseTo(meanLoss, 5);
    // Caffe's order: batches, Loss, then the means
    expect(log.indexOf('Loss:')).toBeGreaterThan(log.lastIndexOf('Batch '));
    expect(log.indexOf('Loss:')).toBeLessThan(log.indexOf('\naccuracy = '));
  });
});

describe('caffe-ts time', () => {
  it('prints per-layer forward/backward averages and the totals', async () => {
    const c = collector();
    expect(await runTime(['--model', netPath, '--iterations', '2'], c.out)).toBe(0);
    const log = c.text();
    expect(log).toMatch(/^Initial loss: \S+$/m);
    expect(log).toMatch(/^Iteration: 2 forward-backward time: \S+ ms\.$/m);
    expect(log).toMatch(/^ {7}ip1\tforward: \S+ ms\.$/m);
    expect(log).toMatch(/^ {7}ip1\tbackward: \S+ ms\.$/m);
    for (const what of ['Average Forward pass', 'Average Backward pass', 'Average Forward-Backward', 'Total Time']) {
      expect(log).toMatch(new RegExp(`^${what}: \\S+ ms\\.$`, 'm'));
    }
    expect(log.trimEnd().split('\n').at(-1)).toBe('*** Benchmark ends ***');
  });

  it('--json prints one JSON object', async () => {
    const c = collector();
    expect(await runTime(['--model', netPath, '--iterations', '2', '--json'], c.out)).toBe(0);
    const r = JSON.parse(c.text());
    expect(r.iterations).toBe(2);
    expect(r.layers.map((l: { name: string }) => l.name)).toEqual(['data', 'ip1', 'loss']);
    const ip1 = r.layers[1];
    expect(ip1.type).toBe('InnerProduct');
    expect(ip1.backward).toBe(true);
    expect(r.layers[0].backward).toBe(false);
    expect(r.layers[0].backward_ms).toBe(0);
    expect(r.model).toBe(netPath);
    expect(r.batch).toBeGreaterThan(0);
    expect(r.threads).toBeGreaterThanOrEqual(1);
    expect(r.load_ms).toBeGreaterThan(0);
    for (const k of ['forward_ms', 'backward_ms']) {
      expect(r[k].min).toBeGreaterThanOrEqual(0);
      expect(r[k].median).toBeGreaterThanOrEqual(r[k].min);
    }
    for (const l of r.layers) expect(l.forward_ms).toBeGreaterThanOrEqual(0);
  });

  it('--threads 1 and a TEST net whose ReLU is fused into the convolution', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'caffe-ts-time-'));
    const model = join(dir, 'conv.prototxt');
    writeFileSync(model, `input: "data" input_shape { dim: 1 dim: 2 dim: 6 dim: 6 }
      layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 3 kernel_size: 3 } }
      layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }`);
    const before = getThreads();
    try {
      const c = collector();
      expect(await runTime(['--model', model, '--phase', 'TEST', '--iterations', '2', '--threads', '1', '--json'], c.out)).toBe(0);
      const r = JSON.parse(c.text());
      expect(r.threads).toBe(1);
      expect(r.phase).toBe('TEST');
      expect(r.layers.find((l: { name: string }) => l.name === 'relu')).toMatchObject({ forward_ms: 0, fused_into: 'conv' });
    } finally {
      setThreads(before);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('progress bar, loss curve, flags', () => {
  it('formats the bar line', () => {
    const line = formatBar({ iter: 50, total: 100, loss: 0.5, lr: 0.01, rate: 10 }, 80);
    expect(line).toMatch(/^\[=+>? *\] {2}50\/100 {2}loss 0\.5 +lr 0\.01 +10\.0 it\/s {2}ETA 0:05$/);
    expect(line.length).toBeLessThan(80);
    expect(formatBar({ iter: 1, total: 10, loss: 1, lr: 1, rate: NaN }, 30)).not.toContain('[');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('--:--');
  });

  it('redraws in place and logs above the bar', () => {
    const chunks: string[] = [];
    let t = 0;
    const bar = new ProgressBar({ isTTY: true, columns: 100, write: (s: string) => chunks.push(s) }, { total: 4, intervalMs: 0, now: () => t });
    bar.start(0);
    for (let i = 1; i <= 4; i++) {
      t += 500;
      bar.update(i, 1 / i, 0.1);
      if (i === 2) bar.log('Iteration 2, Testing net (#0)');
    }
    bar.finish();
    const text = chunks.join('');
    expect(text).toContain('\r\x1b[2KIteration 2, Testing net (#0)\n\r\x1b[2K[');
    expect(text).toMatch(/4\/4 {2}loss 0\.25 +lr 0\.1 +2\.0 it\/s {2}ETA 0:00\n$/);
    expect(bar.rate()).toBeCloseTo(2, 6);
  });

  it('computes nice ticks and round-trips the curve data', () => {
    expect(niceTicks(0, 1.07).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1, 1.2]);
    expect(niceTicks(0, 3, 8, true).ticks).toEqual([0, 1, 2, 3]);
    expect(formatTick(0.25, 0.05)).toBe('0.25');
    const curve = new LossCurve();
    curve.addTrain(0, 2.3, 2.3);
    curve.addTrain(1, NaN, NaN);
    curve.addTest({ netId: 0, iter: 0, interrupted: false, outputs: [{ index: 0, name: 'a<b', value: 0.5, lossWeight: 0 }] });
    const svg = curve.toSvg({ title: 'x & y' });
    expect(svg).toContain('x &amp; y');
    const back = parseLossCurveSvg(svg)!;
    expect(back.train[0]).toEqual({ iter: 0, loss: 2.3, smoothed: 2.3 });
    expect(back.train[1].loss).toBeNaN();
    expect(back.tests[0].name).toBe('a<b');
    expect(parseLossCurveSvg('<svg/>')).toBeNull();
  });

  it("accepts gflags' single-dash long flags and registers the commands", () => {
    expect(gflagsToLong(['-solver', 's', '-weights=w', '-x', '--level', '1'], ['solver', 'weights', 'level'])).toEqual([
      '--solver',
      's',
      '--weights=w',
      '-x',
      '--level',
      '1',
    ]);
    expect(Object.keys(commands)).toEqual(expect.arrayContaining(['train', 'test', 'time']));
  });
});

const MAIN = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
const BUILT = existsSync(MAIN) && existsSync(join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'train.js'));

// `npm test` builds first (pretest), so the compiled CLI is always there.
describe('built CLI', () => {
  it('is built', () => expect(BUILT).toBe(true));
  it('caffe train habits: -solver, paths relative to the working directory', () => {
    const dir = join(TMP, 'e2e');
    mkdirSync(dir);
    writeFileSync(join(dir, 'net.prototxt'), NET);
    writeFileSync(join(dir, 'solver.prototxt'), 'net: "net.prototxt"\nbase_lr: 0.1\nlr_policy: "fixed"\ndisplay: 1\nmax_iter: 2\nsnapshot_prefix: "e2e"\n');
    const r = spawnSync(process.execPath, [MAIN, 'train', '-solver', 'solver.prototxt'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Iteration 1 \(/m);
    expect(r.stdout).toMatch(/^Optimization Done\.$/m);
    expect(existsSync(join(dir, 'e2e_iter_2.caffemodel'))).toBe(true);
    expect(existsSync(join(dir, 'e2e_loss.svg'))).toBe(true);
  });
});
