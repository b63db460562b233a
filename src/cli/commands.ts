// Subcommand table; each command lives in its own file.
import { detectCommand } from './detect.js';
import { checkCommand } from './check.js';
import { exportOnnxCommand } from './export-onnx.js';
import { upgradeCommand } from './upgrade.js';
import { infoCommand } from './info.js';
import { forwardCommand } from './forward.js';
import { demoCommand } from './demo.js';
import { trainCommand } from './train.js';
import { testCommand } from './test.js';
import { timeCommand } from './time.js';
import { initCommand } from './init.js';
import { classifyCommand } from './classify.js';
import { drawCommand } from './draw.js';
import { webCommand } from './web.js';

export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number> | number;
}

export const commands: Record<string, Command> = {
  detect: detectCommand,
  demo: demoCommand,
  forward: forwardCommand,
  info: infoCommand,
  upgrade: upgradeCommand,
  check: checkCommand,
  'export-onnx': exportOnnxCommand,
  train: trainCommand,
  test: testCommand,
  time: timeCommand,
  init: initCommand,
  classify: classifyCommand,
  draw: drawCommand,
  web: webCommand,
};
