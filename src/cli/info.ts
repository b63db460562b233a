import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeMessage } from '../format/binary.js';
import { parseText } from '../format/text.js';
import { formatFromExtension, isBinaryProto, isHdf5 } from '../format/io.js';
import { readHdf5Tree } from '../data/hdf5.js';
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

/** HDF5 files: Caffe's weights (data/<layer>/<i>), solver states, or plain datasets (HDF5Data). */
function describeHdf5(path: string): string {
  const tree = readHdf5Tree(path);
  const lines: string[] = [];
  const shapes = (prefix: string) => tree.datasets.filter((d) => d.path.startsWith(prefix) && !d.path.slice(prefix.length).includes('/'));
  if (tree.groups.includes('data')) {
    const layers = tree.groups.filter((g) => /^data\/[^/]+$/.test(g));
    lines.push(`${path}: HDF5 weights (caffemodel.h5), ${layers.length} layers${tree.groups.includes('diff') ? ', with diffs' : ''}`);
    let total = 0;
    for (const g of layers) {
      const ds = shapes(`${g}/`).sort((a, b) => Number(a.path.split('/').pop()) - Number(b.path.split('/').pop()));
      const count = ds.reduce((a, d) => a + d.shape.reduce((x, y) => x * y, 1), 0);
      total += count;
      lines.push(`  ${g.slice(5)}${ds.length ? `  params ${ds.map((d) => fmtShape(d.shape)).join(', ')} = ${count}` : ''}`);
    }
    lines.push(`total parameters: ${total}`);
    return lines.join('\n');
  }
  const get = (name: string) => tree.datasets.find((d) => d.path === name);
  if (get('iter') && tree.groups.includes('history')) {
    const num = (name: string) => (get(name)?.data?.[0] ?? '?');
    const learned = get('learned_net')?.text;
    return `${path}: HDF5 solver state, iter ${num('iter')}, current_step ${num('current_step')}, ${shapes('history/').length} history blobs${learned !== undefined ? `, learned_net ${learned}` : ''}`;
  }
  lines.push(`${path}: HDF5 file, ${tree.datasets.length} datasets`);
  for (const d of tree.datasets) lines.push(`  ${d.path} (${d.kind}) ${d.kind === 'string' ? JSON.stringify(d.text) : fmtShape(d.shape)}`);
  return lines.join('\n');
}

export function describeFile(path: string): string {
  const bytes = readFileSync(path);
  const lines: string[] = [];
  if (isHdf5(bytes)) return describeHdf5(path);
  const named = formatFromExtension(path);
  if (named === 'binary' || (named === null && isBinaryProto(bytes))) {
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
