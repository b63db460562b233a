// SGDSolver: stochastic gradient descent with momentum, and the update machinery every Caffe
// solver shares (SGDSolver::ApplyUpdate):
//   rate = lr policy(iter)
//   ClipGradients: if clip_gradients >= 0 and the L2 norm of all learnable diffs exceeds it, scale
//                  every diff by clip_gradients / norm
//   per learnable param: Normalize (diff *= 1/iter_size when iter_size > 1),
//                        Regularize (diff += weight_decay*decay_mult * data, or * sign(data) for L1),
//                        ComputeUpdateValue(param, rate * lr_mult)  (the solver type's rule)
//   Net::Update: data -= diff for every learnable param (a zero lr_mult gives a zero step)
// SGD's rule: history = momentum * history + local_rate * diff; diff = history.
//
// Arithmetic is float32 as Caffe's CPU path: each vector operation Caffe performs rounds to float
// (Math.fround on intermediates, Float32Array stores for results).
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { Blob } from '../graph/blob.js';
import { blobToProto, copyProtoData } from '../layers/layer.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { decodeMessage, encodeMessage } from '../format/binary.js';
import { writeFileAtomic } from '../util/fs.js';
import { readHdf5Tree, writeHdf5Tree } from '../data/hdf5.js';
import { applyDiff, l2Decay, sgdUpdate } from '../kernels/solver-updates.js';
import { getLearningRate } from './lr-policy.js';
import { SNAPSHOT_HDF5, Solver, formatG, type SolverOptions } from './solver.js';

const f = Math.fround;

export class SGDSolver extends Solver {
  /**
   * Per-learnable-parameter solver history (momentum ...), shaped like the parameters. Solvers
   * with two histories (AdaDelta, Adam) hold 2 * N blobs: the second set after the first.
   */
  readonly history: Blob[] = [];

  constructor(param: Message, options: SolverOptions = {}) {
    super(param, options);
    const sets = this.historySets();
    for (let s = 0; s < sets; s++) {
      for (const p of this.net.learnableParams) this.history.push(new Blob(p.shape));
    }
  }

  get type(): string {
    return 'SGD';
  }

  /** How many history blobs per learnable parameter the solver keeps. */
  protected historySets(): number {
    return 1;
  }

  /** The learning rate for the current iter (updates currentStep for step/multistep). */
  getLearningRate(): number {
    const before = this.currentStep;
    const rate = getLearningRate(this.param, this);
    if (this.param.lr_policy === 'multistep' && this.currentStep !== before) {
      this.log(`MultiStep Status: Iteration ${this.iter}, step = ${this.currentStep}`);
    }
    return rate;
  }

  protected applyUpdate(): number {
    const rate = this.getLearningRate();
    if (this.param.display && this.iter % this.param.display === 0) {
      this.log(`Iteration ${this.iter}, lr = ${formatG(rate)}`);
    }
    this.clipGradients();
    const n = this.net.learnableParams.length;
    for (let id = 0; id < n; id++) {
      this.normalize(id);
      this.regularize(id);
      this.computeUpdateValue(id, rate);
    }
    this.netUpdate();
    return rate;
  }

  protected clipGradients(): void {
    const clip = f(this.param.clip_gradients);
    if (clip < 0) return;
    const params = this.net.learnableParams;
    let sumsq = 0;
    for (const p of params) {
      const d = p.diff;
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i] * d[i];
      sumsq = f(sumsq + f(s));
    }
    const norm = f(Math.sqrt(sumsq));
    if (norm > clip) {
      const scale = f(clip / norm);
      this.log(`Gradient clipping: scaling down gradients (L2 norm ${formatG(norm)} > ${formatG(clip)}) by scale factor ${formatG(scale)}`);
      for (const p of params) {
        const d = p.diff;
        for (let i = 0; i < d.length; i++) d[i] *= scale;
      }
    }
  }

  protected normalize(id: number): void {
    const iterSize: number = this.param.iter_size;
    if (iterSize === 1) return;
    const s = f(1 / iterSize);
    const d = this.net.learnableParams[id].diff;
    for (let i = 0; i < d.length; i++) d[i] *= s;
  }

  protected regularize(id: number): void {
    const p = this.net.learnableParams[id];
    const decay = f(f(this.param.weight_decay) * this.net.paramsWeightDecay[id]);
    if (!decay) return;
    const type: string = this.param.regularization_type;
    const w = p.data;
    const d = p.diff;
    if (type === 'L2') {
      l2Decay(w, d, decay);
    } else if (type === 'L1') {
      for (let i = 0; i < d.length; i++) {
        const x = w[i];
        d[i] += x > 0 ? decay : x < 0 ? -decay : 0;
      }
    } else {
      throw this.error(`unknown regularization type ${JSON.stringify(type)} (expected "L2" or "L1")`);
    }
  }

  /** local_rate = rate * lr_mult, as float. */
  protected localRate(id: number, rate: number): number {
    return f(rate * this.net.paramsLr[id]);
  }

  /** history = momentum * history + local_rate * diff; diff = history. */
  protected computeUpdateValue(id: number, rate: number): void {
    const lr = this.localRate(id, rate);
    const m = f(this.param.momentum);
    const g = this.net.learnableParams[id].diff;
    const h = this.history[id].data;
    sgdUpdate(g, h, m, lr);
  }

  /** Net::Update: data -= diff for every learnable parameter. */
  protected netUpdate(): void {
    for (const p of this.net.learnableParams) {
      applyDiff(p.data, p.diff);
    }
  }

  protected snapshotSolverState(modelFilename: string): string {
    if (this.param.snapshot_format === SNAPSHOT_HDF5) {
      // SnapshotSolverStateToHDF5: int datasets iter and current_step, the string learned_net,
      // and group history with dataset i per history blob.
      const name = this.snapshotFilename('.solverstate.h5');
      const path = this.resolvePath(name);
      this.log(`Snapshotting solver state to HDF5 file ${name}`);
      writeHdf5Tree(path, {
        groups: ['history'],
        datasets: [
          { path: 'iter', shape: [1], kind: 'int', data: Int32Array.of(this.iter) },
          { path: 'learned_net', shape: [], kind: 'string', data: null, text: modelFilename },
          { path: 'current_step', shape: [1], kind: 'int', data: Int32Array.of(this.currentStep) },
          ...this.history.map((b, i) => ({ path: `history/${i}`, shape: b.shape.slice(), kind: 'float' as const, data: b.data })),
        ],
      });
      return path;
    }
    const state = newMessage('SolverState');
    state.iter = this.iter;
    state.learned_net = modelFilename;
    state.current_step = this.currentStep;
    state.history = this.history.map((b) => blobToProto(b));
    const name = this.snapshotFilename('.solverstate');
    const path = this.resolvePath(name);
    this.log(`Snapshotting solver state to binary proto file ${name}`);
    writeFileAtomic(path, encodeMessage(state, 'SolverState'));
    return path;
  }

  protected restoreSolverStateFromBinaryProto(path: string): void {
    const state = decodeMessage(readFileSync(path), 'SolverState', path);
    // Validate everything before changing anything.
    const history: Message[] = state.history;
    this.checkHistoryCount(path, history.length);
    history.forEach((proto, i) => {
      const b = this.history[i];
      const shape = Blob.shapeFromProto(proto);
      const count = shape.reduce((a, x) => a * x, 1);
      if (count !== b.count || (shape.length === b.shape.length && shape.some((d, k) => d !== b.shape[k]))) {
        throw this.error(`${path}: history blob ${i} has shape (${shape.join(',')}), the parameter has ${b.shapeString()}`);
      }
      const stored = proto.double_data?.length > 0 ? proto.double_data.length : (proto.data?.length ?? 0);
      if (stored !== 0 && stored !== count) throw this.error(`${path}: history blob ${i} holds ${stored} values, its shape (${shape.join(',')}) needs ${count}`);
    });
    const model = has(state, 'learned_net') ? this.learnedNetPath(path, state.learned_net) : null;
    if (model) this.net.copyTrainedLayersFromFile(model);
    history.forEach((proto, i) => copyProtoData(proto, this.history[i]));
    this.iter = state.iter;
    this.currentStep = state.current_step;
  }

  protected restoreSolverStateFromHdf5(path: string): void {
    const tree = readHdf5Tree(path);
    const byPath = new Map(tree.datasets.map((d) => [d.path, d]));
    const int = (name: string): number => {
      const d = byPath.get(name);
      if (!d || d.kind === 'string' || !d.data || d.data.length < 1) throw this.error(`${path}: no integer dataset '${name}' (not a solver state Caffe writes)`);
      return d.data[0];
    };
    const iter = int('iter');
    const currentStep = int('current_step');
    if (!tree.groups.includes('history')) throw this.error(`${path}: no group 'history'`);
    const links = tree.groups.filter((g) => /^history\/[^/]+$/.test(g)).length + tree.datasets.filter((d) => /^history\/[^/]+$/.test(d.path)).length;
    this.checkHistoryCount(path, links);
    const history = this.history.map((b, i) => {
      const d = byPath.get(`history/${i}`);
      if (!d || d.kind === 'string' || !d.data) throw this.error(`${path}: no dataset 'history/${i}'`);
      if (d.shape.length !== b.shape.length || d.shape.some((x, k) => x !== b.shape[k])) {
        throw this.error(`${path}: history blob ${i} has shape (${d.shape.join(',')}), the parameter has ${b.shapeString()}`);
      }
      return d.data;
    });
    const learned = byPath.get('learned_net');
    const model = learned ? this.learnedNetPath(path, learned.text ?? '') : null;
    if (model) this.net.copyTrainedLayersFromFile(model);
    history.forEach((src, i) => {
      const dst = this.history[i].data;
      for (let k = 0; k < dst.length; k++) dst[k] = src[k];
    });
    this.iter = iter;
    this.currentStep = currentStep;
  }

  private checkHistoryCount(path: string, n: number): void {
    if (n !== this.history.length) {
      throw this.error(`${path}: the state holds ${n} history blob(s), a ${this.type} solver of this net needs ${this.history.length}`);
    }
  }

  /** The weights a state names, resolved as Caffe does, or found beside the state when both were moved. */
  private learnedNetPath(statePath: string, learned: string): string {
    let model = this.resolvePath(learned);
    if (!existsSync(model) && !isAbsolute(learned)) {
      const beside = join(dirname(statePath), basename(learned));
      if (existsSync(beside)) model = beside;
    }
    if (!existsSync(model)) throw this.error(`${statePath}: learned_net '${learned}' not found (looked for ${model})`);
    return model;
  }
}
