import { parseArgs } from 'node:util';
import { upgradeFile } from '../format/io.js';
import type { Command } from './commands.js';

export const upgradeCommand: Command = {
  summary: 'upgrade a legacy net (text or binary) or solver to the current format',
  usage: 'IN OUT',
  run(args) {
    const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
    if (positionals.length !== 2) throw new TypeError('upgrade takes IN and OUT');
    const r = upgradeFile(positionals[0], positionals[1]);
    process.stdout.write(`${r.tool}: ${positionals[0]} -> ${positionals[1]} (${r.upgraded ? 'upgraded' : 'already in the current format'})\n`);
    for (const line of r.log) process.stdout.write(`  ${line}\n`);
    return 0;
  },
};
