#!/usr/bin/env node
// The caffe-ts command line. Subcommands mirror Caffe's tools where one exists.
import { CaffeError } from '../util/errors.js';
import { commands } from './commands.js';

const USAGE = `caffe-ts <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`)
  .join('\n')}

Run 'caffe-ts <command> --help' for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 1;
  }
  if (cmd === '--version') {
    process.stdout.write('caffe-ts 0.1.0\n');
    return 0;
  }
  const c = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
  if (!c) {
    process.stderr.write(`caffe-ts: unknown command '${cmd}'\n\n${USAGE}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`caffe-ts ${cmd} ${c.usage}\n\n${c.summary}\n`);
    return 0;
  }
  try {
    return await c.run(rest);
  } catch (e) {
    if (e instanceof CaffeError || (e instanceof Error && (e as NodeJS.ErrnoException).code !== undefined)) {
      process.stderr.write(`caffe-ts ${cmd}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof TypeError && /parseArgs|Unknown option|ERR_PARSE_ARGS/.test(String((e as NodeJS.ErrnoException).code ?? e.message))) {
      process.stderr.write(`caffe-ts ${cmd}: ${e.message}\nusage: caffe-ts ${cmd} ${c.usage}\n`);
      return 2;
    }
    throw e;
  }
}

// `caffe-ts ... | head`: a reader that closes the pipe ends the command quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`caffe-ts: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  },
);
