import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeMessage } from '../format/binary.js';
import { parseText } from '../format/text.js';
import { isBinaryProto } from '../format/io.js';
import { upgradeNetAsNeeded, upgradeSolverAsNeeded } from '../format/upgrade.js';
import { Net } from '../graph/net.js';
import { Blob } from '../graph/blob.js';
import { has, type Message } from '../proto/schema.js';
import { CaffeError } from '../util/errors.js';
import type { Command } from './commands.js';

export function netFormatVersion(net: Message): 'V0' | 'V1' | 'V2' {
  const layers: Message[] = net.layers ?? [];
  if (layers.length > 0) return layers.some((l) => has(l, 'layer')) ? 'V0' : 'V1';
  return 'V2';
}

function fmtShape(s: readonly number[]): string {
  return s.length ? s.join('x') : 'scalar';
}

export function describeFile(path: string): string {
  const bytes = readFileSync(path);
  const lines: string[] = [];
  if (isBinaryProto(bytes)) {
    if (/\.binaryproto$/i.test(path)) {
      try {
        const blob = decodeMessage(bytes, 'BlobProto', path);
        const shape = Blob.shapeFromProto(blob);
        return `${path}: BlobProto (binary), shape ${fmtShape(shape)}, ${shape.reduce((a, b) => a * b, 1)} values`;
      } catch {
        /* fall through: maybe a net */
      }
    }
    const raw = decodeMessage(bytes, 'NetParameter', path);
    const version = netFormatVersion(raw);
    const net = upgradeNetAsNeeded(raw, path).net;
    lines.push(`${path}: binary NetParameter (caffemodel), format ${version}, net '${net.name}', ${net.layer.length} layers`);
    let total = 0;
    for (const l of net.layer as Message[]) {
      const shapes = (l.blobs as Message[]).map((b) => Blob.shapeFromProto(b));
      const count = shapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
      total += count;
      lines.push(`  ${l.name} (${l.type})${shapes.length ? `  params ${shapes.map(fmtShape).join(', ')} = ${count}` : ''}`);
    }
    lines.push(`total parameters: ${total}`);
    return lines.join('\n');
  }
  const text = bytes.toString('utf8');
  let net: Message;
  try {
    net = parseText(text, 'NetParameter', path);
  } catch (netErr) {
    try {
      const solver = upgradeSolverAsNeeded(parseText(text, 'SolverParameter', path), path).solver;
      return `${path}: SolverParameter (text), type ${solver.type}, net ${solver.net || solver.train_net || '(inline)'}, base_lr ${solver.base_lr}, lr_policy ${solver.lr_policy}, max_iter ${solver.max_iter}`;
    } catch {
      throw netErr;
    }
  }
  const version = netFormatVersion(net);
  const upgraded = upgradeNetAsNeeded(net, path).net;
  lines.push(`${path}: text NetParameter (prototxt), format ${version}, net '${upgraded.name}', ${upgraded.layer.length} layers`);
  // Parameter shapes come from building the net; data layers may need files that are absent.
  let built: Net | null = null;
  let why = '';
  try {
    built = new Net(upgraded, { phase: 'TEST', source: path });
  } catch (e) {
    why = (e as Error).message;
  }
  let total = 0;
  for (const l of upgraded.layer as Message[]) {
    let params = '';
    if (built && built.layerNames.includes(l.name)) {
      const blobs = built.layer(l.name).blobs;
      const count = blobs.reduce((a, b) => a + b.count, 0);
      total += count;
      if (blobs.length) params = `  params ${blobs.map((b) => fmtShape(b.shape)).join(', ')} = ${count}`;
    }
    lines.push(`  ${l.name} (${l.type}) [${(l.bottom as string[]).join(', ')}] -> [${(l.top as string[]).join(', ')}]${params}`);
  }
  if (built) lines.push(`total parameters (TEST phase): ${total}`);
  else lines.push(`parameter shapes unavailable: ${why}`);
  return lines.join('\n');
}

export const infoCommand: Command = {
  summary: 'describe a prototxt, caffemodel, binaryproto or solver: format, layers, parameters',
  usage: 'FILE...',
  run(args) {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    if (positionals.length === 0) throw new CaffeError('info needs a file');
    for (const p of positionals) process.stdout.write(describeFile(p) + '\n');
    return 0;
  },
};
