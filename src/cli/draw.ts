// `caffe-ts draw NET OUT.svg`: python/draw_net.py's picture of a net, as SVG.
import { parseArgs } from 'node:util';
import { drawNet } from '../draw/index.js';
import { readNetParameter } from '../format/io.js';
import { CaffeError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Command } from './commands.js';

export const drawCommand: Command = {
  summary: "draw a net as SVG (draw_net.py's picture: layers, blobs, in-place layers folded)",
  usage: 'NET.prototxt OUT.svg [--rankdir LR|TB|BT|RL] [--phase TRAIN|TEST|ALL]',
  run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { rankdir: { type: 'string', default: 'LR' }, phase: { type: 'string', default: 'ALL' } },
    });
    if (positionals.length !== 2) throw new CaffeError('draw takes NET.prototxt and OUT.svg');
    const rankdir = values.rankdir!.toUpperCase();
    if (!['LR', 'TB', 'BT', 'RL'].includes(rankdir)) throw new CaffeError(`--rankdir must be LR, TB, BT or RL, got '${values.rankdir}'`);
    const phase = values.phase!.toUpperCase();
    if (!['TRAIN', 'TEST', 'ALL'].includes(phase)) throw new CaffeError(`--phase must be TRAIN, TEST or ALL, got '${values.phase}'`);
    const [input, output] = positionals;
    const svg = drawNet(readNetParameter(input), {
      rankdir: rankdir as 'LR' | 'TB' | 'BT' | 'RL',
      phase: phase === 'ALL' ? null : (phase as 'TRAIN' | 'TEST'),
    });
    writeFileAtomic(output, svg);
    process.stdout.write(`Drawing net to ${output}\n`);
    return 0;
  },
};
