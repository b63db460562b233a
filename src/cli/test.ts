// `caffe-ts test`: BVLC `caffe test` (tools/caffe.cpp): score a model. Builds the net in the TEST
// phase (with --stage/--level), copies the weights, runs --iterations forward passes and prints
// every output element of every pass ("Batch i, name = v"), the mean loss ("Loss: x") and the
// mean of every output element ("name = mean", with "(* w = w*mean loss)" for loss outputs), in
// Caffe's order and float arithmetic.
import { parseArgs } from 'node:util';
import { formatG } from '../solvers/solver.js';
import { CaffeError } from '../util/errors.js';
import type { Command } from './commands.js';
import { gflagsToLong, NET_FLAGS, openNet, parseIntFlag, parseList, parsePhaseFlag, type OutStream } from './flags.js';

const f = Math.fround;

const OPTIONS = NET_FLAGS;

const USAGE = `--model M --weights W [--iterations N] [--phase TEST|TRAIN] [--stage S]... [--level N]

Score a model, as BVLC 'caffe test': N forward passes (default 50) of M with the weights W
(comma-separated caffemodels are copied in order), printing each output of each batch, the mean
loss and the mean of every output. The phase is TEST unless --phase says otherwise.`;

export async function runTest(args: string[], out: OutStream = process.stdout): Promise<number> {
  const { values } = parseArgs({ args: gflagsToLong(args, Object.keys(OPTIONS)), options: OPTIONS, allowPositionals: false });
  if (!values.model) throw new CaffeError('Need a model definition to score (--model M).');
  const weights = parseList(values.weights);
  if (!weights.length) throw new CaffeError('Need model weights to score (--weights W).');
  const iterations = parseIntFlag('iterations', values.iterations, 1) ?? 50;
  const phase = parsePhaseFlag(values.phase, 'TEST');
  const say = (line: string) => out.write(line + '\n');
  const net = openNet(values.model, values, phase, weights, say);
  say(`Running for ${iterations} iterations.`);

  const scores: number[] = [];
  const scoreOutput: number[] = [];
  let loss = 0;
  for (let i = 0; i < iterations; i++) {
    const iterLoss = f(net.forward());
    loss = f(loss + iterLoss);
    let idx = 0;
    net.outputBlobIds.forEach((id, j) => {
      const name = net.blobNames[id];
      const data = net.blob(name).data;
      for (let k = 0; k < data.length; k++, idx++) {
        const score = data[k];
        if (i === 0) {
          scores.push(score);
          scoreOutput.push(j);
        } else {
          scores[idx] = f(scores[idx] + score);
        }
        say(`Batch ${i}, ${name} = ${formatG(score)}`);
      }
    });
  }
  loss = f(loss / iterations);
  say(`Loss: ${formatG(loss)}`);
  scores.forEach((s, i) => {
    const id = net.outputBlobIds[scoreOutput[i]];
    const name = net.blobNames[id];
    const lossWeight = net.blobLossWeights[id] ?? 0;
    const mean = f(s / iterations);
    const extra = lossWeight ? ` (* ${formatG(lossWeight)} = ${formatG(f(lossWeight * mean))} loss)` : '';
    say(`${name} = ${formatG(mean)}${extra}`);
  });
  return 0;
}

export const testCommand: Command = {
  summary: 'score a model: mean outputs over N batches (caffe test)',
  usage: USAGE,
  run: (args) => runTest(args),
};
