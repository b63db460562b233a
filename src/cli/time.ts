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
import { gflagsToLong, NET_FLAGS, openNet, parseIntFlag, parseList, parsePhaseFlag, type OutStream } from './flags.js';

const OPTIONS = { ...NET_FLAGS, json: { type: 'boolean' } } as const;

const USAGE = `--model M [--weights W] [--iterations N] [--phase TRAIN|TEST] [--stage S]... [--level N] [--json]

Benchmark a model, as BVLC 'caffe time': N iterations (default 50) of forward and backward in the
given phase (default TRAIN, as Caffe), timing every layer. Input blobs are used as they are
(zeros unless the net fills them); --weights is optional. --json prints one JSON object instead:
{layers: [{name, type, forwardMs, backwardMs, backward}], forwardMs, backwardMs,
forwardBackwardMs, totalMs, iterations}, where the per-layer and pass times are averages per
iteration, totalMs is the whole benchmark, and backward says whether the layer runs backward.`;

export interface LayerTiming {
  name: string;
  type: string;
  /** Average forward time per iteration (ms). */
  forwardMs: number;
  /** Average backward time per iteration (ms); 0 when the layer does not run backward. */
  backwardMs: number;
  /** Whether the net back-propagates through the layer. */
  backward: boolean;
}

export interface TimeReport {
  layers: LayerTiming[];
  forwardMs: number;
  backwardMs: number;
  forwardBackwardMs: number;
  totalMs: number;
  iterations: number;
  initialLoss: number;
  phase: 'TRAIN' | 'TEST';
}

/** Runs the benchmark; `log` receives Caffe's progress lines (the per-iteration times). */
export function timeNet(net: Net, iterations: number, log: (line: string) => void = () => {}): TimeReport {
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
  let forwardTime = 0;
  let backwardTime = 0;
  const totalStart = performance.now();
  for (let j = 0; j < iterations; j++) {
    const iterStart = performance.now();
    for (let i = 0; i < layers.length; i++) {
      const t = performance.now();
      layers[i].forward(bottomVecs[i], topVecs[i]);
      fwd[i] += performance.now() - t;
    }
    const mid = performance.now();
    forwardTime += mid - iterStart;
    for (let i = layers.length - 1; i >= 0; i--) {
      if (!layerNeedBackward[i]) continue;
      const t = performance.now();
      layers[i].backward(topVecs[i], bottomNeedBackward[i], bottomVecs[i]);
      bwd[i] += performance.now() - t;
    }
    const end = performance.now();
    backwardTime += end - mid;
    log(`Iteration: ${j + 1} forward-backward time: ${formatG(end - iterStart)} ms.`);
  }
  const totalMs = performance.now() - totalStart;
  return {
    layers: layers.map((l, i) => ({
      name: net.layerNames[i],
      type: l.type,
      forwardMs: fwd[i] / iterations,
      backwardMs: bwd[i] / iterations,
      backward: layerNeedBackward[i],
    })),
    forwardMs: forwardTime / iterations,
    backwardMs: backwardTime / iterations,
    forwardBackwardMs: totalMs / iterations,
    totalMs,
    iterations,
    initialLoss,
    phase: net.phase === 0 ? 'TRAIN' : 'TEST',
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
  const net = openNet(values.model, values, phase, parseList(values.weights), say);

  const r = timeNet(net, iterations, say);
  if (json) {
    out.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  say('Average time per layer: ');
  for (const l of r.layers) {
    say(`${l.name.padStart(10)}\tforward: ${formatG(l.forwardMs)} ms.`);
    say(`${l.name.padStart(10)}\tbackward: ${formatG(l.backwardMs)} ms.`);
  }
  say(`Average Forward pass: ${formatG(r.forwardMs)} ms.`);
  say(`Average Backward pass: ${formatG(r.backwardMs)} ms.`);
  say(`Average Forward-Backward: ${formatG(r.forwardBackwardMs)} ms.`);
  say(`Total Time: ${formatG(r.totalMs)} ms.`);
  say('*** Benchmark ends ***');
  return 0;
}

export const timeCommand: Command = {
  summary: 'benchmark a model layer by layer, forward and backward (caffe time)',
  usage: USAGE,
  run: (args) => runTime(args),
};
