// `caffe-ts init --model M --out W [--seed S]`: a caffemodel of random parameters for a net that
// comes without weights (src/graph/init-params.ts says how they are drawn), so that a published
// architecture can be timed or tried by any runtime, OpenCV's Caffe importer included.
import { parseArgs } from 'node:util';
import { Net } from '../graph/net.js';
import { initParams } from '../graph/init-params.js';
import { setSeed } from '../kernels/rng.js';
import { CaffeError } from '../util/errors.js';
import type { Command } from './commands.js';
import { parseIntFlag, parsePhaseFlag, parseStages } from './flags.js';

export const initCommand: Command = {
  summary: 'write random weights for a net (its fillers, or a fan-in gaussian where it has none)',
  usage: '--model M --out W.caffemodel [--seed S=1] [--phase TRAIN|TEST] [--stage S]... [--level N]',
  run(args) {
    const { values } = parseArgs({
      args,
      options: {
        model: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        phase: { type: 'string' },
        stage: { type: 'string', multiple: true },
        level: { type: 'string' },
      },
    });
    if (!values.model || !values.out) throw new CaffeError('init needs --model M and --out W');
    const seed = parseIntFlag('seed', values.seed, 0) ?? 1;
    setSeed(seed); // before the build, whose declared fillers draw too
    const net = Net.fromFile(values.model, {
      phase: parsePhaseFlag(values.phase, 'TEST'),
      stages: parseStages(values.stage),
      level: parseIntFlag('level', values.level),
    });
    initParams(net);
    net.save(values.out);
    const params = net.layers.reduce((n, l) => n + l.blobs.reduce((m, b) => m + b.count, 0), 0);
    process.stdout.write(`wrote ${values.out}: ${params} parameters in ${net.layers.filter((l) => l.blobs.length).length} layers (seed ${seed})\n`);
    return 0;
  },
};
