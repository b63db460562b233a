// `caffe-ts time`: BVLC `caffe time` (tools/caffe.cpp): benchmark a model layer by layer. One
// untimed forward and backward pass first, then N iterations each timing every layer's forward
// (in order) and backward (in reverse order); then the per-layer averages, the average forward,
// backward and forward-backward pass and the total, as Caffe prints them. Backward runs (and is
// timed) only for the layers the net back-propagates through, as Net::Backward does.
import { parseArgs } from 'node:util';
import { Net } from '../graph/net.js';
import { formatG } from '../solvers/solver.js';
import { CaffeError } from '../util/errors.js';
import type { Command } from './commands.js';
import { getThreads } from '../kernels/threads.js';
import { gflagsToLong, NET_FLAGS, openNet, parseIntFlag, parseList, parsePhaseFlag, type OutStream } from './flags.js';

const OPTIONS = { ...NET_FLAGS, json: { type: 'boolean' } } as const;

const USAGE = `--model M [--weights W] [--iterations N] [--phase TRAIN|TEST] [--stage S]... [--level N]
             [--threads N] [--json]

Benchmark a model, as BVLC 'caffe time': N iterations (default 50) of forward and backward in the
given phase (default TRAIN, as Caffe), timing every layer. Input blobs are used as they are
(zeros unless the net fills them); --weights is optional. A convolution that the net fuses with
the in-place BatchNorm/Scale/ReLU after it (TEST, no backward) carries their time, and those
layers show 0. --json prints one JSON object instead:
{model, batch, threads, phase, iterations, load_ms, forward_ms: {median, min},
backward_ms: {median, min}, layers: [{name, type, forward_ms, backward_ms, fused_into?}]},
pass times over the N iterations, per-layer times their mean per iteration, load_ms the time to
build the net and copy the weights.`;

export interface LayerTiming {
  name: string;
  type: string;
  /** Mean forward time per iteration (ms); 0 for a layer fused into the convolution before it. */
  forward_ms: number;
  /** Mean backward time per iteration (ms); 0 when the layer does not run backward. */
  backward_ms: number;
  /** Whether the net back-propagates through the layer. */
  backward: boolean;
  /** The convolution this layer's forward is folded into (src/graph/fusion.ts), if any. */
  fused_into?: string;
}

export interface TimeReport {
  model: string;
  /** The first axis of the first input blob. */
  batch: number;
  threads: number;
  phase: 'TRAIN' | 'TEST';
  iterations: number;
  load_ms: number;
  forward_ms: { median: number; min: number };
  backward_ms: { median: number; min: number };
  layers: LayerTiming[];
  /** Caffe's averages: forward, backward, forward-backward per iteration, and the whole run. */
  average: { forward_ms: number; backward_ms: number; forward_backward_ms: number; total_ms: number };
  initial_loss: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs the benchmark; `log` receives Caffe's progress lines (the per-iteration times). */
export function timeNet(net: Net, iterations: number, log: (line: string) => void = () => {}, meta: { model?: string; loadMs?: number } = {}): TimeReport {
  const { layers, bottomVecs, topVecs, bottomNeedBackward, layerNeedBackward } = net;
  log('Performing Forward');
  const initialLoss = Math.fround(net.forward());
  log(`Initial loss: ${formatG(initialLoss)}`);
  log('Performing Backward');
  net.backward();
  log('*** Benchmark begins ***');
  log(`Testing for ${iterations} iterations.`);
  const fwd = new Float64Array(layers.length);
  const bwd = new Float64Array(layers.length);
  const fwdPass: number[] = [];
  const bwdPass: number[] = [];
  const last = layers.length - 1;
  const acc = { loss: 0 };
  const totalStart = performance.now();
  for (let j = 0; j < iterations; j++) {
    const iterStart = performance.now();
    for (let i = 0; i <= last; i++) {
      const t = performance.now();
      const end = net.forwardStep(i, last, acc);
      fwd[i] += performance.now() - t;
      i = end;
    }
    const mid = performance.now();
    fwdPass.push(mid - iterStart);
    for (let i = last; i >= 0; i--) {
      if (!layerNeedBackward[i]) continue;
      const t = performance.now();
      layers[i].backward(topVecs[i], bottomNeedBackward[i], bottomVecs[i]);
      bwd[i] += performance.now() - t;
    }
    const end = performance.now();
    bwdPass.push(end - mid);
    log(`Iteration: ${j + 1} forward-backward time: ${formatG(end - iterStart)} ms.`);
  }
  const totalMs = performance.now() - totalStart;
  const fusedInto = new Map<number, string>();
  for (const chain of net.fusedChains.values()) {
    for (let i = chain.conv + 1; i <= chain.last; i++) fusedInto.set(i, net.layerNames[chain.conv]);
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const input = net.inputs.length ? net.blob(net.inputs[0]) : null;
  return {
    model: meta.model ?? net.name,
    batch: input && input.shape.length ? input.shape[0] : 1,
    threads: getThreads(),
    phase: net.phase === 0 ? 'TRAIN' : 'TEST',
    iterations,
    load_ms: meta.loadMs ?? 0,
    forward_ms: { median: median(fwdPass), min: Math.min(...fwdPass) },
    backward_ms: { median: median(bwdPass), min: Math.min(...bwdPass) },
    layers: layers.map((l, i) => ({
      name: net.layerNames[i],
      type: l.type,
      forward_ms: fwd[i] / iterations,
      backward_ms: bwd[i] / iterations,
      backward: layerNeedBackward[i],
      ...(fusedInto.has(i) ? { fused_into: fusedInto.get(i) } : {}),
    })),
    average: {
      forward_ms: sum(fwdPass) / iterations,
      backward_ms: sum(bwdPass) / iterations,
      forward_backward_ms: totalMs / iterations,
      total_ms: totalMs,
    },
    initial_loss: initialLoss,
  };
}

export async function runTime(args: string[], out: OutStream = process.stdout): Promise<number> {
  const { values } = parseArgs({ args: gflagsToLong(args, Object.keys(OPTIONS)), options: OPTIONS, allowPositionals: false });
  if (!values.model) throw new CaffeError('Need a model definition to time (--model M).');
  const iterations = parseIntFlag('iterations', values.iterations, 1) ?? 50;
  const phase = parsePhaseFlag(values.phase, 'TRAIN');
  const json = !!values.json;
  const say = (line: string) => {
    if (!json) out.write(line + '\n');
  };
  const t0 = performance.now();
  const net = openNet(values.model, values, phase, parseList(values.weights), say);
  const loadMs = performance.now() - t0;

  const r = timeNet(net, iterations, say, { model: values.model, loadMs });
  if (json) {
    out.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  say('Average time per layer: ');
  for (const l of r.layers) {
    say(`${l.name.padStart(10)}\tforward: ${formatG(l.forward_ms)} ms.`);
    say(`${l.name.padStart(10)}\tbackward: ${formatG(l.backward_ms)} ms.`);
  }
  say(`Average Forward pass: ${formatG(r.average.forward_ms)} ms.`);
  say(`Average Backward pass: ${formatG(r.average.backward_ms)} ms.`);
  say(`Average Forward-Backward: ${formatG(r.average.forward_backward_ms)} ms.`);
  say(`Total Time: ${formatG(r.average.total_ms)} ms.`);
  say('*** Benchmark ends ***');
  return 0;
}

export const timeCommand: Command = {
  summary: 'benchmark a model layer by layer, forward and backward (caffe time)',
  usage: USAGE,
  run: (args) => runTime(args),
};
