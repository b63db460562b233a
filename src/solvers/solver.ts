// Solver: the training loop of Caffe's Solver<float> (solver.cpp).
//
// Construction (Caffe's Solver::Init): checks, random_seed, the train net from exactly one of
// net / net_param / train_net / train_net_param with NetState = {phase: TRAIN} merged with the
// net's own state and then train_state, the test nets (test_net_param, test_net, then the generic
// net or net_param once per remaining test_iter) with phase TEST + own state + test_state[i], and
// the `weights` caffemodels (comma-separated lists) copied into all of them.
//
// `step(n)` is Caffe's Solver::Step: per iteration clear the parameter diffs, test when
// test_interval says so, run iter_size forward/backward passes (loss averaged over them), update
// the smoothed loss (average_loss), display, apply the update (the concrete solver), count the
// iteration, snapshot every `snapshot` iterations or on request, stop on request.
// `solve()` is Solver::Solve: optional restore, step to max_iter, snapshot_after_train, the final
// display forward and test.
//
// Relative paths in the solver (net files, weights, snapshot_prefix, learned_net in a state) are
// resolved against `baseDir`, which defaults to the working directory, as Caffe resolves them.
// Paths inside the nets (Data sources, mean files) are the layers' business: they resolve against
// the process's working directory.
import { existsSync, openSync, closeSync, unlinkSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkHdf5LayerNames } from '../graph/net-hdf5.js';
import { Net } from '../graph/net.js';
import type { Blob } from '../graph/blob.js';
import { TRAIN, TEST } from '../layers/layer.js';
import { cloneMessage, has, newMessage, toNumber, type Message } from '../proto/schema.js';
import { readNetParameterText } from '../format/io.js';
import { upgradeSolverAsNeeded } from '../format/upgrade.js';
import { SolverError } from '../util/errors.js';
import * as rng from '../kernels/rng.js';

const f = Math.fround;

/** SolverParameter.SnapshotFormat */
export const SNAPSHOT_HDF5 = 0;
export const SNAPSHOT_BINARYPROTO = 1;

/** What the per-iteration hook receives, after the update of one iteration. */
export interface IterationInfo {
  /** Iterations done so far (the solver's iter after this one; 1 after the first update). */
  iter: number;
  /** This iteration's loss (averaged over iter_size passes). */
  loss: number;
  /** The loss Caffe displays: the mean of the last average_loss losses of this step() call. */
  smoothedLoss: number;
  /** The learning rate this iteration's update used. */
  lr: number;
}

/** One value a test net produced, averaged over test_iter forward passes. */
export interface TestOutput {
  /** Caffe's "Test net output #index". */
  index: number;
  /** The output blob's name. */
  name: string;
  /** Mean over test_iter passes. */
  value: number;
  /** The blob's loss weight (0 when it is not a loss). */
  lossWeight: number;
}

export interface TestResult {
  netId: number;
  /** The train iteration at which the test ran. */
  iter: number;
  /** Mean total loss over the passes, when test_compute_loss is set. */
  loss?: number;
  outputs: TestOutput[];
  /** True when a stop request interrupted the test (outputs are then empty). */
  interrupted: boolean;
}

export interface SolverCallbacks {
  /** Before the forward/backward passes of an iteration (Caffe's Callback::on_start). */
  onStart?(solver: Solver): void;
  /** After the passes, before the update (Caffe's Callback::on_gradients_ready). */
  onGradientsReady?(solver: Solver): void;
}

export interface SolverOptions {
  /** Folder that relative paths of the solver resolve against (default: the working directory). */
  baseDir?: string;
  /** Names the solver in messages (the solver file's path). */
  source?: string;
  /** Receives the lines Caffe logs (display, lr, tests, snapshots); silent when absent. */
  log?: (line: string) => void;
  /** Called after every iteration (progress bars). */
  onIteration?: (info: IterationInfo) => void;
  /** Called after every test-net evaluation. */
  onTest?: (result: TestResult) => void;
  /** Called after every snapshot with the paths written. */
  onSnapshot?: (paths: { model: string; state: string; iter: number }) => void;
}

/** Formats a number as C++'s default ostream does (%g with 6 significant digits). */
export function formatG(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mant, expStr] = x.toExponential(5).split('e');
  const exp = Number(expStr);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 6) {
    const e = Math.abs(exp);
    return `${strip(mant)}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  return strip(x.toFixed(5 - exp));
}

/** Proto2 MergeFrom for NetState: set scalars overwrite, stages append. */
function mergeNetState(into: Message, from: Message | null | undefined): void {
  if (!from) return;
  if (has(from, 'phase')) into.phase = from.phase;
  if (has(from, 'level')) into.level = from.level;
  if (has(from, 'stage')) into.stage = [...(into.stage as string[]), ...(from.stage as string[])];
}

export abstract class Solver {
  /** The SolverParameter (upgraded copy). */
  readonly param: Message;
  readonly net: Net;
  readonly testNets: Net[] = [];
  /** Folder relative paths resolve against. */
  readonly baseDir: string;
  readonly source: string;

  /** Number of updates done. */
  iter = 0;
  /** Learning-rate schedule position (step / multistep policies). */
  currentStep = 0;
  /** Smoothed loss of the current (or last) step() call, as Caffe displays it. */
  smoothedLoss = 0;
  /** Loss of the last iteration (averaged over iter_size). */
  lastLoss = NaN;
  /** Learning rate of the last update. */
  learningRate = 0;
  /** Mean scores of the last test of each test net (Caffe's mean_scores_). */
  readonly meanScores: number[][] = [];
  /** The last TestResult of each test net. */
  readonly lastTests: (TestResult | undefined)[] = [];

  protected losses: number[] = [];
  protected requestedEarlyExit = false;
  private pendingSnapshot = false;
  private pendingStop = false;
  private iterationsLast = 0;
  private timerStart = 0;
  private readonly callbacks: SolverCallbacks[] = [];
  protected readonly log: (line: string) => void;
  onIteration?: (info: IterationInfo) => void;
  onTest?: (result: TestResult) => void;
  onSnapshot?: (paths: { model: string; state: string; iter: number }) => void;

  constructor(param: Message, options: SolverOptions = {}) {
    this.source = options.source ?? '<solver>';
    this.baseDir = resolve(options.baseDir ?? process.cwd());
    this.log = options.log ?? (() => {});
    this.onIteration = options.onIteration;
    this.onTest = options.onTest;
    this.onSnapshot = options.onSnapshot;
    const p = cloneMessage(param, 'SolverParameter');
    upgradeSolverAsNeeded(p, this.source);
    this.param = p;

    if (!(p.average_loss >= 1)) throw this.error(`average_loss must be at least 1, got ${p.average_loss}`);
    if (!(p.iter_size >= 1)) throw this.error(`iter_size must be at least 1, got ${p.iter_size}`);
    if (p.snapshot < 0) throw this.error(`snapshot must be >= 0, got ${p.snapshot}`);
    if (p.snapshot_format !== SNAPSHOT_BINARYPROTO && p.snapshot_format !== SNAPSHOT_HDF5) throw this.error(`unknown snapshot_format ${p.snapshot_format}`);
    this.checkParams();
    this.checkSnapshotWritePermissions();
    const seed = toNumber(p.random_seed);
    if (seed >= 0) rng.setSeed(seed);

    this.net = this.initTrainNet();
    this.initTestNets();
    for (const w of p.weights as string[]) {
      for (const net of [this.net, ...this.testNets]) this.loadWeights(net, w);
    }
    if (p.snapshot_format === SNAPSHOT_HDF5) {
      // Caffe would only fail at the first snapshot, after hours of training perhaps.
      try {
        checkHdf5LayerNames(this.net);
      } catch (e) {
        throw this.error(`snapshot_format HDF5: ${(e as Error).message}`);
      }
    }
    this.log('Solver scaffolding done.');
    this.iter = 0;
    this.currentStep = 0;
  }

  /** The solver's type string ("SGD", "Adam" ...). */
  abstract get type(): string;

  /** Computes and applies one update from the accumulated diffs; returns the learning rate used. */
  protected abstract applyUpdate(): number;
  /** Writes the solver state for a snapshot whose weights went to `modelFilename`; returns its path. */
  protected abstract snapshotSolverState(modelFilename: string): string;
  /** Restores the solver state (and the weights it names) from a binary .solverstate. */
  protected abstract restoreSolverStateFromBinaryProto(path: string): void;
  /** Restores the solver state (and the weights it names) from a .solverstate.h5. */
  protected abstract restoreSolverStateFromHdf5(path: string): void;

  /** Solver-type checks of the parameters (Caffe's constructor_sanity_check). */
  protected checkParams(): void {}

  protected error(detail: string): SolverError {
    return new SolverError(`${this.source}: ${detail}`);
  }

  /** A path of the solver resolved as Caffe does (relative to baseDir). */
  resolvePath(p: string): string {
    return isAbsolute(p) ? p : resolve(this.baseDir, p);
  }

  private readNetFile(field: string, file: string): Message {
    const path = this.resolvePath(file);
    if (!existsSync(path)) {
      throw this.error(`${field} file '${file}' not found (looked for ${path}; relative paths are resolved against ${this.baseDir})`);
    }
    return readNetParameterText(path);
  }

  private loadWeights(net: Net, list: string): void {
    for (const name of list.split(',').map((s) => s.trim())) {
      if (!name) continue;
      const path = this.resolvePath(name);
      if (!existsSync(path)) throw this.error(`weights file '${name}' not found (looked for ${path})`);
      this.log(`Finetuning from ${name}`);
      net.copyTrainedLayersFromFile(path);
    }
  }

  private checkSnapshotWritePermissions(): void {
    const p = this.param;
    if (!p.snapshot) return;
    if (!has(p, 'snapshot_prefix')) throw this.error('snapshot is specified but snapshot_prefix is not');
    const probe = this.resolvePath(this.snapshotFilename('.tempfile'));
    try {
      closeSync(openSync(probe, 'w'));
      unlinkSync(probe);
    } catch (e) {
      throw this.error(
        `cannot write to snapshot prefix '${p.snapshot_prefix}' (${(e as Error).message}); make sure the directory exists and is writable`,
      );
    }
  }

  private initTrainNet(): Net {
    const p = this.param;
    const fields = ['net', 'net_param', 'train_net', 'train_net_param'];
    const given = fields.filter((k) => has(p, k));
    if (given.length < 1) throw this.error(`the solver must specify a train net using one of these fields: ${fields.join(', ')}`);
    if (given.length > 1) {
      throw this.error(`the solver must not give more than one of these fields specifying a train net: ${fields.join(', ')} (got ${given.join(', ')})`);
    }
    let netParam: Message;
    let source: string;
    if (has(p, 'train_net_param')) {
      netParam = cloneMessage(p.train_net_param, 'NetParameter');
      source = 'train_net_param';
    } else if (has(p, 'train_net')) {
      netParam = this.readNetFile('train_net', p.train_net);
      source = this.resolvePath(p.train_net);
    } else if (has(p, 'net_param')) {
      netParam = cloneMessage(p.net_param, 'NetParameter');
      source = 'net_param';
    } else {
      netParam = this.readNetFile('net', p.net);
      source = this.resolvePath(p.net);
    }
    const state = newMessage('NetState');
    state.phase = TRAIN;
    mergeNetState(state, netParam.state);
    mergeNetState(state, p.train_state);
    netParam.state = state;
    this.log(`Creating training net from ${source}`);
    return new Net(netParam, { source });
  }

  private initTestNets(): void {
    const p = this.param;
    const hasNetParam = has(p, 'net_param');
    const hasNetFile = has(p, 'net');
    if (hasNetParam && hasNetFile) throw this.error('both net_param and net may not be specified');
    const testNetParams: Message[] = p.test_net_param;
    const testNetFiles: string[] = p.test_net;
    const testIter: number[] = p.test_iter;
    const numTestNets = testNetParams.length + testNetFiles.length;
    if (hasNetParam || hasNetFile) {
      if (testIter.length < numTestNets) {
        throw this.error(`test_iter must be specified for each test network (${numTestNets} test net(s), ${testIter.length} test_iter)`);
      }
    } else if (testIter.length !== numTestNets) {
      throw this.error(`test_iter must be specified for each test network (${numTestNets} test net(s), ${testIter.length} test_iter)`);
    }
    const numInstances = testIter.length;
    const testStates: Message[] = p.test_state;
    if (testStates.length && testStates.length !== numInstances) {
      throw this.error(`test_state must be unspecified or specified once per test net (${numInstances} test net(s), ${testStates.length} test_state)`);
    }
    if (numInstances && !(p.test_interval > 0)) {
      throw this.error(`test_interval must be greater than 0 when there are test nets (got ${p.test_interval})`);
    }
    const params: { param: Message; source: string }[] = [];
    for (const tp of testNetParams) params.push({ param: cloneMessage(tp, 'NetParameter'), source: 'test_net_param' });
    for (const file of testNetFiles) params.push({ param: this.readNetFile('test_net', file), source: this.resolvePath(file) });
    const remaining = numInstances - params.length;
    for (let i = 0; i < remaining; i++) {
      if (hasNetParam) params.push({ param: cloneMessage(p.net_param, 'NetParameter'), source: 'net_param' });
      else params.push({ param: this.readNetFile('net', p.net), source: this.resolvePath(p.net) });
    }
    params.forEach(({ param: np, source }, i) => {
      const state = newMessage('NetState');
      state.phase = TEST;
      mergeNetState(state, np.state);
      if (testStates.length) mergeNetState(state, testStates[i]);
      np.state = state;
      this.log(`Creating test net (#${i}) specified by ${source}`);
      this.testNets.push(new Net(np, { source }));
      this.meanScores.push([]);
      this.lastTests.push(undefined);
    });
  }

  /** Registers Caffe-style callbacks (on_start / on_gradients_ready). */
  addCallback(cb: SolverCallbacks): void {
    this.callbacks.push(cb);
  }

  /** Asks the solver to write a snapshot after the current iteration (or test pass). */
  requestSnapshot(): void {
    this.pendingSnapshot = true;
  }

  /** Asks the solver to stop after the current iteration (or test pass); solve() then snapshots if snapshot_after_train. */
  requestStop(): void {
    this.pendingStop = true;
  }

  /** True when the last step()/solve() ended on a stop request. */
  get stoppedEarly(): boolean {
    return this.requestedEarlyExit;
  }

  private takeRequests(): { snapshot: boolean; stop: boolean } {
    const r = { snapshot: this.pendingSnapshot, stop: this.pendingStop };
    this.pendingSnapshot = false;
    this.pendingStop = false;
    return r;
  }

  /** One forward and backward pass of the train net; returns the loss (Net::ForwardBackward). */
  protected forwardBackward(): number {
    const loss = this.net.forward();
    this.net.backward();
    return loss;
  }

  /** Caffe's UpdateSmoothedLoss (float arithmetic). */
  protected updateSmoothedLoss(loss: number, startIter: number, averageLoss: number): void {
    if (this.losses.length < averageLoss) {
      this.losses.push(loss);
      const size = this.losses.length;
      this.smoothedLoss = f(f(f(this.smoothedLoss * (size - 1)) + loss) / size);
    } else {
      const idx = (this.iter - startIter) % averageLoss;
      this.smoothedLoss = f(this.smoothedLoss + f(f(loss - this.losses[idx]) / averageLoss));
      this.losses[idx] = loss;
    }
  }

  /** Runs `iters` iterations (Caffe's Solver::Step). */
  step(iters: number): void {
    const p = this.param;
    const startIter = this.iter;
    const stopIter = this.iter + iters;
    const averageLoss: number = p.average_loss;
    const iterSize: number = p.iter_size;
    this.losses = [];
    this.smoothedLoss = 0;
    this.requestedEarlyExit = false;
    this.timerStart = performance.now();
    // The updates change the parameters: no net of this solver may keep them frozen.
    for (const net of [this.net, ...this.testNets]) if (net.weightsFrozen) net.thawWeights();

    while (this.iter < stopIter) {
      this.net.clearParamDiffs();
      if (p.test_interval && this.iter % p.test_interval === 0 && (this.iter > 0 || p.test_initialization)) {
        this.testAll();
        if (this.requestedEarlyExit) break;
      }
      for (const cb of this.callbacks) cb.onStart?.(this);
      const display = p.display > 0 && this.iter % p.display === 0;
      let loss = 0;
      for (let i = 0; i < iterSize; i++) loss = f(loss + f(this.forwardBackward()));
      loss = f(loss / iterSize);
      this.lastLoss = loss;
      this.updateSmoothedLoss(loss, startIter, averageLoss);
      if (display) this.displayTrain();
      for (const cb of this.callbacks) cb.onGradientsReady?.(this);
      const lr = this.applyUpdate();
      this.learningRate = lr;
      this.iter++;
      this.onIteration?.({ iter: this.iter, loss, smoothedLoss: this.smoothedLoss, lr });

      const request = this.takeRequests();
      if ((p.snapshot && this.iter % p.snapshot === 0) || request.snapshot) this.snapshot();
      if (request.stop) {
        this.requestedEarlyExit = true;
        break;
      }
    }
  }

  private displayTrain(): void {
    const now = performance.now();
    const lapse = f((now - this.timerStart) / 1000);
    const perS = f((this.iter - this.iterationsLast) / (lapse ? lapse : 1));
    this.log(`Iteration ${this.iter} (${formatG(perS)} iter/s, ${formatG(lapse)}s/${this.param.display} iters), loss = ${formatG(this.smoothedLoss)}`);
    this.timerStart = now;
    this.iterationsLast = this.iter;
    let scoreIndex = 0;
    for (const id of this.net.outputBlobIds) {
      const name = this.net.blobNames[id];
      const weight = this.net.blobLossWeights[id] ?? 0;
      const data = this.net.blob(name).data;
      for (let k = 0; k < data.length; k++) {
        const extra = weight ? ` (* ${formatG(weight)} = ${formatG(f(weight * data[k]))} loss)` : '';
        this.log(`    Train net output #${scoreIndex++}: ${name} = ${formatG(data[k])}${extra}`);
      }
    }
  }

  /**
   * Trains to max_iter (Caffe's Solver::Solve): restores from `resumeFile` (a .solverstate) if
   * given, steps, snapshots after training unless snapshot_after_train is false (or the last
   * iteration already snapshotted), then the final display pass and test.
   */
  solve(resumeFile?: string | null): void {
    const p = this.param;
    this.log(`Solving ${this.net.name}`);
    this.log(`Learning Rate Policy: ${p.lr_policy}`);
    this.requestedEarlyExit = false;
    if (resumeFile) {
      this.log(`Restoring previous solver status from ${resumeFile}`);
      this.restore(resumeFile);
    }
    const startIter = this.iter;
    this.step(p.max_iter - this.iter);
    if (p.snapshot_after_train && (!p.snapshot || this.iter % p.snapshot !== 0)) this.snapshot();
    if (this.requestedEarlyExit) {
      this.log('Optimization stopped early.');
      return;
    }
    if (p.display && this.iter % p.display === 0) {
      const loss = f(this.net.forward());
      this.updateSmoothedLoss(loss, startIter, p.average_loss);
      this.log(`Iteration ${this.iter}, loss = ${formatG(this.smoothedLoss)}`);
    }
    if (p.test_interval && this.iter % p.test_interval === 0) this.testAll();
    this.log('Optimization Done.');
  }

  /** Evaluates every test net (stops early on a stop request). */
  testAll(): TestResult[] {
    const out: TestResult[] = [];
    for (let id = 0; id < this.testNets.length && !this.requestedEarlyExit; id++) out.push(this.test(id));
    return out;
  }

  /**
   * Evaluates test net `netId` as Caffe's Solver::Test: shares the train net's weights, runs
   * test_iter[netId] forward passes, and averages every element of every output blob.
   */
  test(netId: number): TestResult {
    const p = this.param;
    const testNet = this.testNets[netId];
    if (!testNet) throw this.error(`there is no test net #${netId} (${this.testNets.length} test net(s))`);
    this.log(`Iteration ${this.iter}, Testing net (#${netId})`);
    testNet.shareTrainedLayersWith(this.net);
    const testIter: number = p.test_iter[netId];
    const scores: number[] = [];
    const scoreOutput: number[] = [];
    let loss = 0;
    for (let i = 0; i < testIter; i++) {
      const r = this.takeRequests();
      if (r.snapshot) this.snapshot();
      if (r.stop) this.requestedEarlyExit = true;
      if (this.requestedEarlyExit) break;
      const iterLoss = f(testNet.forward());
      if (p.test_compute_loss) loss = f(loss + iterLoss);
      let idx = 0;
      testNet.outputBlobIds.forEach((id, j) => {
        const data = testNet.blob(testNet.blobNames[id]).data;
        for (let k = 0; k < data.length; k++) {
          if (i === 0) {
            scores.push(data[k]);
            scoreOutput.push(j);
          } else {
            scores[idx] = f(scores[idx] + data[k]);
          }
          idx++;
        }
      });
    }
    if (this.requestedEarlyExit) {
      this.log('Test interrupted.');
      const r: TestResult = { netId, iter: this.iter, outputs: [], interrupted: true };
      this.onTest?.(r);
      return r;
    }
    const result: TestResult = { netId, iter: this.iter, outputs: [], interrupted: false };
    if (p.test_compute_loss) {
      result.loss = f(loss / testIter);
      this.log(`Test loss: ${formatG(result.loss)}`);
    }
    const mean: number[] = [];
    scores.forEach((s, i) => {
      const blobId = testNet.outputBlobIds[scoreOutput[i]];
      const name = testNet.blobNames[blobId];
      const lossWeight = testNet.blobLossWeights[blobId] ?? 0;
      const value = f(s / testIter);
      mean.push(value);
      result.outputs.push({ index: i, name, value, lossWeight });
      const extra = lossWeight ? ` (* ${formatG(lossWeight)} = ${formatG(f(lossWeight * value))} loss)` : '';
      this.log(`    Test net output #${i}: ${name} = ${formatG(value)}${extra}`);
    });
    this.meanScores[netId] = mean;
    this.lastTests[netId] = result;
    this.onTest?.(result);
    return result;
  }

  /** Caffe's SnapshotFilename: `<snapshot_prefix>_iter_<iter><extension>` (not resolved). */
  snapshotFilename(extension: string): string {
    return `${this.param.snapshot_prefix}_iter_${this.iter}${extension}`;
  }

  /**
   * Writes `<prefix>_iter_<iter>.caffemodel` (the train net, diffs too if snapshot_diff) and
   * `<prefix>_iter_<iter>.solverstate`, each atomically; with snapshot_format HDF5 they are
   * `.caffemodel.h5` and `.solverstate.h5` in Caffe's HDF5 layouts. Returns both paths (resolved).
   */
  snapshot(): { model: string; state: string } {
    const hdf5 = this.param.snapshot_format === SNAPSHOT_HDF5;
    const modelFilename = this.snapshotFilename(hdf5 ? '.caffemodel.h5' : '.caffemodel');
    const model = this.resolvePath(modelFilename);
    if (hdf5) {
      this.log(`Snapshotting to HDF5 file ${modelFilename}`);
      this.net.saveHdf5(model, this.param.snapshot_diff);
    } else {
      this.log(`Snapshotting to binary proto file ${modelFilename}`);
      this.net.save(model, this.param.snapshot_diff);
    }
    const state = this.snapshotSolverState(modelFilename);
    this.onSnapshot?.({ model, state, iter: this.iter });
    return { model, state };
  }

  /**
   * Restores a snapshot (Caffe's Solver::Restore): iter, current_step and history from the
   * .solverstate, and the weights from the caffemodel it names (learned_net). As in Caffe, a
   * name ending in .h5 is read as an HDF5 state, anything else as a binary one.
   */
  restore(stateFile: string): void {
    const path = this.resolvePath(stateFile);
    if (!existsSync(path)) throw this.error(`solver state '${stateFile}' not found (looked for ${path})`);
    if (stateFile.endsWith('.h5')) this.restoreSolverStateFromHdf5(path);
    else this.restoreSolverStateFromBinaryProto(path);
    this.iterationsLast = this.iter;
  }

  /** Train-net parameter blobs by layer name (pycaffe's solver.net.params). */
  get params(): Map<string, Blob[]> {
    return this.net.params;
  }
}
