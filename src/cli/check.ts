import { parseArgs } from 'node:util';
import { check } from '../check/runner.js';
import type { Command } from './commands.js';

export const checkCommand: Command = {
  summary: 'run reference cases (folders with case.json) and compare with Caffe\'s numbers',
  usage: 'DIR... [--dump OUT]',
  run(args) {
    const { values, positionals } = parseArgs({ args, options: { dump: { type: 'string' } }, allowPositionals: true });
    if (positionals.length === 0) throw new TypeError('check needs at least one folder');
    const { failed } = check(positionals, { dump: values.dump });
    return failed === 0 ? 0 : 1;
  },
};
