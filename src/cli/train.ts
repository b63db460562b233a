// `caffe-ts train`: BVLC `caffe train` (tools/caffe.cpp) in TypeScript.
//
//   caffe-ts train --solver S [--weights W[,W2...] | --snapshot X.solverstate] [--iterations N]
//                  [--stage S]... [--level N] [--sigint_effect E] [--sighup_effect E]
//
// As Caffe: --level and --stage go into the solver's train_state, --weights (comma-separated)
// are copied into the train net and every test net (CopyLayers), --snapshot restores a
// .solverstate, weights and snapshot together are refused, relative paths in the solver resolve
// against the working directory. Then Solver::Solve: step to max_iter, snapshot after training,
// the final display pass and test.
//
// The loop runs one iteration at a time and returns to the event loop in between, so that
// SIGINT/SIGHUP (Ctrl-C, hang-up) are seen while training; the solver's own display is switched
// off and done here instead (Caffe's display lines, smoothed loss over the whole run), or, on a
// terminal, replaced by a progress bar. Every snapshot (and the end of training) also writes the
// loss curve <snapshot_prefix>_loss.svg.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readSolverParameter } from '../format/io.js';
import { newMessage } from '../proto/schema.js';
import { createSolver } from '../solvers/registry.js';
import { formatG, type IterationInfo, type Solver, type TestResult } from '../solvers/solver.js';
import { CaffeError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Command } from './commands.js';
import { applyThreadsFlag, gflagsToLong, parseIntFlag, parseList, parseStages, type OutStream } from './flags.js';
import { ProgressBar } from './progress.js';
import { LossCurve, parseLossCurveSvg } from './svg.js';

const f = Math.fround;

/** What a signal does (Caffe's SolverAction), plus our default for SIGINT. */
export type SignalEffect = 'stop' | 'snapshot' | 'none' | 'snapshot-stop';

/** Caffe's GetRequestedAction. */
export function parseSignalEffect(flag: string, value: string | undefined, dflt: SignalEffect): SignalEffect {
  if (value === undefined) return dflt;
  if (value === 'stop' || value === 'snapshot' || value === 'none') return value;
  throw new CaffeError(`Invalid signal effect "${value}" was specified for --${flag} (expected stop, snapshot or none)`);
}

/**
 * Caffe's SignalHandler: installs SIGINT and SIGHUP (SIGBREAK on Windows) listeners that only
 * note the signal; the training loop asks for the requested actions between iterations.
 */
export class SignalActions {
  private gotInt = false;
  private gotHup = false;
  private installed = false;
  private readonly hupName: NodeJS.Signals = process.platform === 'win32' ? 'SIGBREAK' : 'SIGHUP';
  private readonly onInt = () => {
    this.gotInt = true;
  };
  private readonly onHup = () => {
    this.gotHup = true;
  };
  // SIGTERM still ends the process without a snapshot, as in Caffe, but from the event loop: the
  // synchronous write of a snapshot in progress completes (and is renamed into place) first, so
  // no temporary file is left behind. 128 + 15 is the status a shell reports for SIGTERM.
  private readonly onTerm = () => process.exit(143);

  constructor(
    readonly sigint: SignalEffect,
    readonly sighup: SignalEffect,
  ) {}

  install(): void {
    if (this.installed) return;
    process.on('SIGINT', this.onInt);
    process.on(this.hupName, this.onHup);
    process.on('SIGTERM', this.onTerm);
    this.installed = true;
  }

  uninstall(): void {
    if (!this.installed) return;
    process.removeListener('SIGINT', this.onInt);
    process.removeListener(this.hupName, this.onHup);
    process.removeListener('SIGTERM', this.onTerm);
    this.installed = false;
  }

  /** The actions requested since the last call (both signals may have arrived). */
  take(): { snapshot: boolean; stop: boolean; received: string[] } {
    const effects: SignalEffect[] = [];
    const received: string[] = [];
    if (this.gotHup) {
      effects.push(this.sighup);
      received.push(this.hupName);
    }
    if (this.gotInt) {
      effects.push(this.sigint);
      received.push('SIGINT');
    }
    this.gotHup = this.gotInt = false;
    return {
      snapshot: effects.some((e) => e === 'snapshot' || e === 'snapshot-stop'),
      stop: effects.some((e) => e === 'stop' || e === 'snapshot-stop'),
      received,
    };
  }
}

/** Lets tests (and embedders) watch a run driven through the command-line interface. */
export interface TrainHooks {
  /** Where the output goes (default process.stdout); its isTTY picks the progress bar. */
  out?: OutStream;
  /** After the solver is built and weights/snapshot are loaded, before the first iteration. */
  onReady?(solver: Solver): void;
  /** After every iteration, with the run's smoothed loss. */
  onIteration?(info: IterationInfo, solver: Solver): void;
}

/** glog's line prefix (I0102 15:04:05.123456 pid file] ), for tools/extra/parse_log.py. */
function glogPrefix(): string {
  const d = new Date();
  const p2 = (n: number) => String(n).padStart(2, '0');
  const us = String(d.getMilliseconds() * 1000).padStart(6, '0');
  return `I${p2(d.getMonth() + 1)}${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${us} ${process.pid} caffe-ts] `;
}

const USAGE = `--solver S [--weights W[,W2...] | --snapshot X.solverstate] [--iterations N]
                [--stage S]... [--level N] [--sigint_effect stop|snapshot|none]
                [--sighup_effect stop|snapshot|none] [--plain] [--glog] [--threads N]

Train or fine-tune a model, as BVLC 'caffe train'.

  --solver S          the solver prototxt; relative paths in it (net, snapshot_prefix, ...)
                      resolve against the working directory, as in Caffe
  --weights W         caffemodel(s) to start from (fine-tuning), comma-separated or repeated;
                      copied by layer name into the train net and every test net
  --snapshot X        a .solverstate to resume from (iteration, history, weights); cannot be
                      combined with --weights
  --iterations N      train to iteration N instead of the solver's max_iter (not in Caffe)
  --stage S           add stages to the solver's train_state (comma-separated or repeated)
  --level N           set the solver's train_state level (Caffe sets it to 0 when the flag is
                      absent; caffe-ts then keeps the solver's own train_state level)
  --sigint_effect E   what Ctrl-C (SIGINT) does: stop, snapshot or none. When the flag is NOT
                      given, caffe-ts snapshots and then stops (BVLC Caffe's default is 'stop',
                      which snapshots only when snapshot_after_train is true)
  --sighup_effect E   what SIGHUP does (SIGBREAK on Windows): default snapshot, as Caffe
  --plain             log lines even on a terminal (no progress bar)
  --threads N         threads for the kernels (default: the machine's cores, at most 8)
  --glog              prefix log lines as glog does (I0102 15:04:05.123456 ...), so that Caffe's
                      tools/extra/parse_log.py and plot_training_log.py read the log

On a terminal a progress bar shows iteration/max_iter, smoothed loss, lr, it/s and ETA, with the
test results and snapshots logged above it; otherwise the lines Caffe logs are printed. Signals
are acted on between iterations (a running test pass is not interrupted); SIGTERM ends the run
there without a snapshot (exit status 143), after a snapshot being written is complete. At every
snapshot and at the end, <snapshot_prefix>_loss.svg plots the train loss and the test outputs.`;

const OPTIONS = {
  solver: { type: 'string' },
  weights: { type: 'string', multiple: true },
  snapshot: { type: 'string' },
  iterations: { type: 'string' },
  stage: { type: 'string', multiple: true },
  level: { type: 'string' },
  sigint_effect: { type: 'string' },
  sighup_effect: { type: 'string' },
  plain: { type: 'boolean' },
  glog: { type: 'boolean' },
  gpu: { type: 'string' },
  threads: { type: 'string' },
} as const;

export async function runTrain(args: string[], hooks: TrainHooks = {}): Promise<number> {
  const out: OutStream = hooks.out ?? process.stdout;
  // A closed output (`caffe-ts train ... | head`) stops training as a 'stop' signal would,
  // instead of an unhandled EPIPE.
  const outState = { closed: false };
  const onOutputError = () => {
    outState.closed = true;
  };
  const outEvents = out as Partial<Pick<NodeJS.WriteStream, 'on' | 'removeListener'>>;
  outEvents.on?.('error', onOutputError);
  try {
    return await train(args, hooks, out, outState);
  } finally {
    // write errors are reported on the next tick: keep listening until then
    setImmediate(() => outEvents.removeListener?.('error', onOutputError));
  }
}

async function train(args: string[], hooks: TrainHooks, out: OutStream, outState: { closed: boolean }): Promise<number> {
  const { values } = parseArgs({ args: gflagsToLong(args, Object.keys(OPTIONS)), options: OPTIONS, allowPositionals: false });

  if (!values.solver) throw new CaffeError('Need a solver definition to train (--solver S).');
  applyThreadsFlag(values.threads);
  const weights = parseList(values.weights);
  if (values.snapshot && weights.length) {
    throw new CaffeError('Give a snapshot to resume training or weights to finetune but not both.');
  }
  const sigintEffect = parseSignalEffect('sigint_effect', values.sigint_effect, 'snapshot-stop');
  const sighupEffect = parseSignalEffect('sighup_effect', values.sighup_effect, 'snapshot');
  const level = parseIntFlag('level', values.level);
  const iterations = parseIntFlag('iterations', values.iterations, 0);
  const stages = parseStages(values.stage);

  const solverPath = values.solver;
  if (!existsSync(solverPath)) throw new CaffeError(`solver file '${solverPath}' not found (looked for ${resolve(solverPath)})`);
  const snapshotPath = values.snapshot ? resolve(values.snapshot) : null;
  if (snapshotPath && !existsSync(snapshotPath)) throw new CaffeError(`snapshot '${values.snapshot}' not found (looked for ${snapshotPath})`);
  for (const w of weights) if (!existsSync(w)) throw new CaffeError(`weights file '${w}' not found (looked for ${resolve(w)})`);

  // ----- output: progress bar on a terminal, Caffe's log lines otherwise
  const tty = !!out.isTTY && !values.plain;
  const glog = !!values.glog;
  const bar = tty ? new ProgressBar(out, { total: 0 }) : null;
  const emit = (line: string) => {
    if (outState.closed) return;
    const text = glog ? glogPrefix() + line : line;
    if (bar) bar.log(text);
    else out.write(text + '\n');
  };
  // Lines the solver logs while an iteration runs come after that iteration's display lines.
  let buffering = false;
  const buffered: string[] = [];
  const solverLog = (line: string) => {
    if (buffering) buffered.push(line);
    else emit(line);
  };

  if (values.gpu !== undefined) emit(`caffe-ts runs on the CPU; ignoring --gpu ${values.gpu}`);
  emit('Use CPU.');

  // ----- the SolverParameter, with the command line's train_state and max_iter
  const param = readSolverParameter(solverPath);
  if (level !== undefined || stages) {
    const state = param.train_state ?? newMessage('NetState');
    if (level !== undefined) state.level = level;
    if (stages) state.stage = [...(state.stage as string[]), ...stages];
    param.train_state = state;
  }
  if (iterations !== undefined) param.max_iter = iterations;
  const display: number = param.display;
  const averageLoss: number = param.average_loss;
  param.display = 0; // displayed here, over the whole run (see the file comment)

  // ----- the solver, with the loss curve fed from its hooks
  const curve = new LossCurve();
  let svgPath = '';
  let lastSnapshotIter = -1;
  const writeCurve = () => {
    if (!svgPath) return;
    try {
      writeFileAtomic(svgPath, curve.toSvg({ title: `${solver.net.name || 'net'}: loss, iteration ${solver.iter}` }));
    } catch (e) {
      emit(`Warning: cannot write the loss curve ${svgPath}: ${(e as Error).message}`);
    }
  };
  const onTest = (r: TestResult) => curve.addTest(r);
  const onSnapshot = (s: { iter: number }) => {
    lastSnapshotIter = s.iter;
    writeCurve();
  };
  const solver = createSolver(param, { source: solverPath, log: solverLog, onTest, onSnapshot });
  svgPath = solver.resolvePath(`${param.snapshot_prefix}_loss.svg`);

  if (snapshotPath) {
    emit(`Resuming from ${values.snapshot}`);
    solver.restore(snapshotPath);
    // Keep the curve of the run being resumed (what it drew before this iteration).
    try {
      if (existsSync(svgPath)) {
        const previous = parseLossCurveSvg(readFileSync(svgPath, 'utf8'));
        if (previous) curve.prependHistory(previous, solver.iter);
      }
    } catch {
      // an unreadable old curve is simply not continued
    }
  } else {
    for (const w of weights) {
      emit(`Finetuning from ${w}`);
      solver.net.copyTrainedLayersFromFile(w);
      for (const net of solver.testNets) net.copyTrainedLayersFromFile(w);
    }
  }
  hooks.onReady?.(solver);

  // ----- Caffe's Solve, one iteration per turn of the event loop
  const maxIter: number = param.max_iter;
  const startIter = solver.iter;
  const losses: number[] = [];
  let smoothed = 0;
  // Caffe's UpdateSmoothedLoss over the whole run (float arithmetic).
  const updateSmoothedLoss = (loss: number, iter: number) => {
    if (losses.length < averageLoss) {
      losses.push(loss);
      const size = losses.length;
      smoothed = f(f(f(smoothed * (size - 1)) + loss) / size);
    } else {
      const idx = (iter - startIter) % averageLoss;
      smoothed = f(smoothed + f(f(loss - losses[idx]) / averageLoss));
      losses[idx] = loss;
    }
  };
  let timer = performance.now();
  let iterationsLast = solver.iter;

  const displayTrain = (iter: number) => {
    const now = performance.now();
    const lapse = f((now - timer) / 1000);
    const perS = f((iter - iterationsLast) / (lapse ? lapse : 1));
    emit(`Iteration ${iter} (${formatG(perS)} iter/s, ${formatG(lapse)}s/${display} iters), loss = ${formatG(smoothed)}`);
    timer = now;
    iterationsLast = iter;
    const net = solver.net;
    let scoreIndex = 0;
    for (const id of net.outputBlobIds) {
      const name = net.blobNames[id];
      const weight = net.blobLossWeights[id] ?? 0;
      const data = net.blob(name).data;
      for (let k = 0; k < data.length; k++) {
        const extra = weight ? ` (* ${formatG(weight)} = ${formatG(f(weight * data[k]))} loss)` : '';
        emit(`    Train net output #${scoreIndex++}: ${name} = ${formatG(data[k])}${extra}`);
      }
    }
  };

  solver.onIteration = (info) => {
    const iter = info.iter - 1; // Caffe's iteration number for this loss (before the increment)
    updateSmoothedLoss(info.loss, iter);
    curve.addTrain(iter, info.loss, smoothed);
    if (!bar && display && iter % display === 0) {
      displayTrain(iter);
      emit(`Iteration ${iter}, lr = ${formatG(info.lr)}`);
    }
    buffering = false;
    for (const line of buffered.splice(0)) emit(line);
    bar?.update(info.iter, smoothed, info.lr);
    hooks.onIteration?.({ iter: info.iter, loss: info.loss, smoothedLoss: smoothed, lr: info.lr }, solver);
  };
  solver.addCallback({
    onStart: () => {
      buffering = true;
    },
  });

  const signals = new SignalActions(sigintEffect, sighupEffect);
  signals.install();
  let stopped = false;
  const t0 = performance.now();
  try {
    emit('Starting Optimization');
    emit(`Solving ${solver.net.name}`);
    emit(`Learning Rate Policy: ${param.lr_policy}`);
    if (bar) {
      bar.total = maxIter;
      bar.start(solver.iter);
    }
    while (solver.iter < maxIter) {
      solver.step(1);
      buffering = false;
      for (const line of buffered.splice(0)) emit(line);
      await new Promise((r) => setImmediate(r));
      const action = signals.take();
      if (action.received.length) {
        const what = [action.snapshot ? 'snapshot' : '', action.stop ? 'stop' : ''].filter(Boolean).join(' and ') || 'ignored';
        emit(`Received ${action.received.join(', ')} at iteration ${solver.iter}: ${what}`);
      }
      if (action.snapshot && lastSnapshotIter !== solver.iter) solver.snapshot();
      if (action.stop || outState.closed) {
        stopped = true;
        break;
      }
    }
    // Solve's tail: snapshot after training, the final display and test.
    if (param.snapshot_after_train && lastSnapshotIter !== solver.iter) solver.snapshot();
    if (stopped) {
      emit('Optimization stopped early.');
    } else {
      if (display && solver.iter % display === 0) {
        const loss = f(solver.net.forward());
        updateSmoothedLoss(loss, solver.iter);
        if (!bar) emit(`Iteration ${solver.iter}, loss = ${formatG(smoothed)}`);
      }
      if (param.test_interval && solver.iter % param.test_interval === 0) solver.testAll();
      emit('Optimization Done.');
    }
  } finally {
    signals.uninstall();
    solver.onIteration = undefined;
    bar?.finish();
  }
  writeCurve();
  if (bar && !outState.closed) {
    const secs = (performance.now() - t0) / 1000;
    out.write(
      `${stopped ? 'Stopped' : 'Trained'} at iteration ${solver.iter} (${solver.iter - startIter} iterations in ${secs.toFixed(1)} s), ` +
        `loss ${formatG(smoothed)}; loss curve ${svgPath}\n`,
    );
  }
  return 0;
}

export const trainCommand: Command = {
  summary: 'train or fine-tune a model from a solver (caffe train)',
  usage: USAGE,
  run: (args) => runTrain(args),
};

