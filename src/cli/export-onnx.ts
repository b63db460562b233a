import { parseArgs } from 'node:util';
import { Net } from '../graph/net.js';
import { CaffeError } from '../util/errors.js';
import { exportOnnx, writeOnnx, MIN_OPSET, MAX_OPSET } from '../onnx/index.js';
import type { Command } from './commands.js';

export const exportOnnxCommand: Command = {
  summary: 'convert a net (and its weights) to an ONNX model',
  usage: `MODEL [WEIGHTS] OUT.onnx [--opset ${MIN_OPSET}..${MAX_OPSET}] [--allow-custom] [--external-data] [--output BLOB]... [--phase TRAIN|TEST] [--stage S]... [--level N]`,
  run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        opset: { type: 'string' },
        'allow-custom': { type: 'boolean', default: false },
        'external-data': { type: 'boolean' },
        output: { type: 'string', multiple: true },
        phase: { type: 'string', default: 'TEST' },
        stage: { type: 'string', multiple: true },
        level: { type: 'string' },
      },
    });
    if (positionals.length < 2 || positionals.length > 3) throw new TypeError('export-onnx takes MODEL, optional WEIGHTS, and OUT.onnx');
    const [model, weights, out] = positionals.length === 3 ? positionals : [positionals[0], null, positionals[1]];
    const opset = values.opset === undefined ? undefined : Number(values.opset);
    if (opset !== undefined && !Number.isInteger(opset)) throw new CaffeError(`--opset '${values.opset}': expected an integer from ${MIN_OPSET} to ${MAX_OPSET}`);
    const net = Net.fromFiles(model, weights, {
      phase: values.phase as 'TRAIN' | 'TEST',
      stages: values.stage,
      level: values.level === undefined ? undefined : Number(values.level),
    });
    const exported = exportOnnx(net, { opset, allowCustom: values['allow-custom'], outputs: values.output });
    const r = writeOnnx(exported, out, { externalData: values['external-data'] });
    const g = exported.graph;
    process.stdout.write(`${model} -> ${r.path}: opset ${exported.opset}, ${g.nodes.length} nodes, ${g.initializers.length} initializers\n`);
    process.stdout.write(`  inputs:  ${g.inputs.map((v) => `${v.name} (${v.dims.join(',')})`).join(', ')}\n`);
    process.stdout.write(`  outputs: ${g.outputs.map((v) => `${v.name} (${v.dims.join(',')})`).join(', ')}\n`);
    if (r.dataPath) process.stdout.write(`  external data: ${r.dataPath}\n`);
    if (exported.custom) process.stdout.write(`  custom-domain nodes written (--allow-custom): onnxruntime cannot run this model as is\n`);
    return 0;
  },
};
