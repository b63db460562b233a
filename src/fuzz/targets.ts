// The readers the fuzzer drives, each with its seed files (real files from fixtures/) and what
// one input goes through: the reader, then what naturally follows it (a parsed net is built and,
// when small, run forward; weights are copied into their net; a database is walked entry by entry
// and each Datum decoded).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readBlobProto, readNetParameter, readNetWeights, readSolverParameter, upgradeBytes } from '../format/io.js';
import { decodeMessage, encodeMessage } from '../format/binary.js';
import { messagesDiff } from '../format/equal.js';
import { readNpy } from '../format/npy.js';
import { decodeImage } from '../format/image.js';
import { fromObject } from '../proto/schema.js';
import { Net } from '../graph/net.js';
import { readMeanFile } from '../data/transform-config.js';
import { readHdf5, readHdf5Tree } from '../data/hdf5.js';
import { LmdbReader } from '../data/lmdb.js';
import { decodeDatum, decodeDatumImage, type DecodeMode } from '../data/datum.js';
import { createSolver } from '../solvers/registry.js';
import type { Solver } from '../solvers/solver.js';
import { describeFile } from '../cli/info.js';
import type { SeedKind } from './mutate.js';

export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** For caffemodel seeds: the net the weights belong to. */
  netPath?: string;
}

export interface Target {
  name: string;
  kind: SeedKind;
  protobuf?: boolean;
  npy?: boolean;
  /**
   * Builds nets from the input: a file declares its blobs' shapes, so memory follows the
   * declarations (each blob capped by setMaxBlobBytes), not the file's size.
   */
  buildsNets?: boolean;
  /** The file name the input is written to (its extension matters to the reader). */
  fileName: string;
  /** The reader takes the bytes: the file name only appears in messages, nothing is written. */
  bytesOnly?: boolean;
  seeds(root: string): Seed[];
  /** Runs one input; `path` holds the bytes already (when the reader wants a file); `variant` picks options. */
  run(input: Uint8Array, path: string, variant: number, seed: Seed): void;
}

/** Largest element count summed over a net's blobs that the fuzzer still runs forward. */
const FORWARD_MAX_ELEMENTS = 1 << 20;
/** Rough multiply count above which the fuzzer builds the net but skips its forward pass. */
const FORWARD_MAX_WORK = 2e8;
/** Only nets from seeds this small are built (the large zoo files are parsed and upgraded only). */
const BUILD_MAX_SEED_BYTES = 16 << 10;

function walk(dir: string, keep: (path: string) => boolean, out: string[] = [], depth = 0): string[] {
  if (!existsSync(dir) || depth > 8) return out;
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, keep, out, depth + 1);
    else if (keep(p)) out.push(p);
  }
  return out;
}

function seedsFrom(paths: string[], maxBytes: number, limit = 400): Seed[] {
  const seeds: Seed[] = [];
  for (const p of paths) {
    if (statSync(p).size > maxBytes) continue;
    seeds.push({ name: p, bytes: new Uint8Array(readFileSync(p)) });
    if (seeds.length >= limit) break;
  }
  return seeds;
}

/** Every n-th path, so a folder with hundreds of similar cases gives a spread, not its first few. */
function spread(paths: string[], limit: number): string[] {
  if (paths.length <= limit) return paths;
  const step = paths.length / limit;
  return Array.from({ length: limit }, (_, i) => paths[Math.floor(i * step)]);
}

/** Values one output of a window layer (Pooling, LRN) reads: its window clipped to the input. */
function windowArea(layer: Net['layers'][number], bottom: readonly number[]): number {
  const [c = 1, h = 1, w = 1] = bottom.slice(1);
  const lrn = layer.param.lrn_param;
  if (layer.type === 'LRN' && lrn) return lrn.norm_region === 1 ? Math.min(lrn.local_size, h) * Math.min(lrn.local_size, w) : Math.min(lrn.local_size, c);
  const pool = layer.param.pooling_param;
  if (layer.type === 'Pooling' && pool) {
    if (pool.global_pooling) return h * w;
    const kh = Number(pool.kernel_h || pool.kernel_size || 1);
    const kw = Number(pool.kernel_w || pool.kernel_size || 1);
    return Math.min(kh, h) * Math.min(kw, w);
  }
  if (layer.type === 'SPP') return h * w;
  return 1;
}

/** The product of a shape's dimensions before its first 0 (what loops over the leading axes of an empty blob cost). */
function outerLoops(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (d === 0) break;
    n *= d;
  }
  return n;
}

/**
 * Whether a forward pass of `net` is small enough to run on every input, roughly: its elements,
 * and per layer its outputs times (parameters + window size). The fuzzer builds every net but only
 * runs these: a file may declare any amount of work (a 2^31 LRN window is Caffe's own O(window)
 * loop), and the time limit is for the readers and checks, not for work the file asks for.
 */
function forwardIsSmall(net: Net): boolean {
  let elements = 0;
  let work = 0;
  for (let i = 0; i < net.layers.length; i++) {
    const layer = net.layers[i];
    let params = 0;
    for (const b of layer.blobs) params += b.count;
    let tops = 0;
    for (const t of net.topVecs[i]) tops += t.count;
    for (const b of net.bottomVecs[i]) work += b.count;
    elements += tops + params;
    const bottom = net.bottomVecs[i][0]?.shape ?? [];
    work += tops * (1 + params + windowArea(layer, bottom));
    // Loops over the leading axes run even when a later axis is 0 (an empty blob of 2^31 rows).
    for (const b of [...net.bottomVecs[i], ...net.topVecs[i]]) work += outerLoops(b.shape);
  }
  return elements <= FORWARD_MAX_ELEMENTS && work <= FORWARD_MAX_WORK;
}

function buildAndRun(path: string, param: ReturnType<typeof readNetParameter>, variant: number): void {
  const net = new Net(param, { source: path, phase: variant & 1 ? 'TRAIN' : 'TEST' });
  if (forwardIsSmall(net)) net.forward();
}

const netCache = new Map<string, Net>();
/** The TEST net of a seed's prototxt, built once (weights are copied into it again and again). */
function cachedNet(prototxt: string): Net {
  let net = netCache.get(prototxt);
  if (!net) {
    net = Net.fromFile(prototxt, { phase: 'TEST' });
    netCache.set(prototxt, net);
  }
  return net;
}

const solvers = new Map<string, Solver>();
/** A momentum SGD solver of Input -> InnerProduct(2) -> EuclideanLoss (history (2,3) and (2)), its weights saved in `dir`. */
function restoreSolver(dir: string): Solver {
  let solver = solvers.get(dir);
  if (!solver) {
    solver = createSolver(fromObject('SolverParameter', {
      type: 'SGD', base_lr: 0.1, momentum: 0.9, lr_policy: 'fixed', max_iter: 10,
      net_param: {
        name: 'restore',
        layer: [
          { name: 'in', type: 'Input', top: ['x', 'y'], input_param: { shape: [{ dim: [1, 3] }, { dim: [1, 2] }] } },
          { name: 'ip', type: 'InnerProduct', bottom: ['x'], top: ['p'], inner_product_param: { num_output: 2, weight_filler: { type: 'gaussian', std: 1 } } },
          { name: 'loss', type: 'EuclideanLoss', bottom: ['p', 'y'], top: ['loss'] },
        ],
      },
    }), { baseDir: dir, source: join(dir, 'solver.prototxt') });
    solver.net.save(join(dir, 'x_iter_10.caffemodel'));
    solvers.set(dir, solver);
  }
  return solver;
}

const targets: Target[] = [
  {
    name: 'prototxt',
    kind: 'text',
    buildsNets: true,
    fileName: 'net.prototxt',
    seeds: (root) => [
      ...seedsFrom(spread(walk(join(root, 'fixtures/layers'), (p) => p.endsWith('net.prototxt')), 120), 64 << 10),
      ...seedsFrom(walk(join(root, 'fixtures/zoo-files'), (p) => /\.prototxt$/.test(p) && !/solver/.test(p)), 256 << 10),
      ...seedsFrom(spread(walk(join(root, 'fixtures/upgrade'), (p) => /\.prototxt$/.test(p)), 40), 64 << 10),
    ],
    run(input, path, variant, seed) {
      if (variant & 4) describeFile(path);
      const param = readNetParameter(path);
      if (seed.bytes.length <= BUILD_MAX_SEED_BYTES && input.length <= 2 * BUILD_MAX_SEED_BYTES) buildAndRun(path, param, variant);
    },
  },
  {
    name: 'solver',
    kind: 'text',
    fileName: 'solver.prototxt',
    seeds: (root) => seedsFrom([
      ...walk(join(root, 'fixtures/solver'), (p) => p.endsWith('solver.prototxt')),
      ...walk(join(root, 'fixtures/zoo-files'), (p) => /solver.*\.prototxt$/.test(p)),
    ], 64 << 10),
    run(_input, path) {
      readSolverParameter(path, { snapshotPrefix: false });
    },
  },
  {
    name: 'caffemodel',
    kind: 'binary',
    protobuf: true,
    fileName: 'weights.caffemodel',
    seeds: (root) => {
      const models = spread(walk(join(root, 'fixtures/layers'), (p) => p.endsWith('weights.caffemodel') && existsSync(join(p, '../net.prototxt'))), 60);
      return seedsFrom(models, 64 << 10).map((s) => ({ ...s, netPath: join(s.name, '../net.prototxt') }));
    },
    run(input, path, variant, seed) {
      if (variant & 4) describeFile(path);
      const weights = readNetWeights(path);
      // readNetWeights decodes in place: it must give what the copying decode gives.
      if (variant & 2) {
        const copied = decodeMessage(input, 'NetParameter', path);
        const inPlace = decodeMessage(input.slice(), 'NetParameter', path, { inPlace: true });
        const diff = messagesDiff(inPlace, copied, 'NetParameter');
        if (diff !== null) throw new Error(`in-place decode differs from the copying decode: ${diff}`);
      }
      const net = cachedNet(seed.netPath!);
      net.copyTrainedLayersFrom(weights, path);
      if (variant & 1 && forwardIsSmall(net)) net.forward();
    },
  },
  {
    name: 'binaryproto',
    kind: 'binary',
    protobuf: true,
    fileName: 'mean.binaryproto',
    seeds: (root) => [
      ...seedsFrom(walk(join(root, 'fixtures'), (p) => p.endsWith('.binaryproto')), 64 << 10, 40),
      // A declared 2^40-element blob without data: described, never allocated.
      { name: '<huge declared blob>', bytes: encodeMessage(fromObject('BlobProto', { shape: { dim: [1, 1, 1 << 20, 1 << 20] } }), 'BlobProto') },
    ],
    run(_input, path, variant) {
      if (variant & 4) describeFile(path);
      readBlobProto(path);
      readMeanFile(path);
    },
  },
  {
    name: 'solverstate',
    kind: 'binary',
    protobuf: true,
    fileName: 'x_iter_10.solverstate',
    seeds: () => [
      { name: '<sgd state>', bytes: encodeMessage(fromObject('SolverState', { iter: 10, learned_net: 'x_iter_10.caffemodel', current_step: 1, history: [{ shape: { dim: [2, 3] }, data: [0.5, -1, 2, 0, 1e-3, 7] }, { shape: { dim: [2] }, data: [1, 2] }] }), 'SolverState') },
      // The legacy 4-D history shape Caffe's older snapshots hold.
      { name: '<legacy sgd state>', bytes: encodeMessage(fromObject('SolverState', { iter: 3, learned_net: 'x_iter_10.caffemodel', history: [{ num: 1, channels: 1, height: 2, width: 3, data: [1, 2, 3, 4, 5, 6] }, { num: 1, channels: 1, height: 1, width: 2, data: [3, 4] }] }), 'SolverState') },
    ],
    run(input, path) {
      decodeMessage(input, 'SolverState', path);
      // Restored into a small SGD solver whose weights file lies beside the state.
      restoreSolver(dirname(path)).restore(path);
    },
  },
  {
    name: 'npy',
    bytesOnly: true,
    kind: 'binary',
    npy: true,
    fileName: 'blob.npy',
    seeds: (root) => [
      ...seedsFrom(spread(walk(join(root, 'fixtures'), (p) => p.endsWith('.npy')), 60), 32 << 10),
    ],
    run(input, path) {
      readNpy(input, path);
    },
  },
  {
    name: 'hdf5',
    kind: 'binary',
    fileName: 'data.h5',
    seeds: (root) => seedsFrom(walk(join(root, 'fixtures'), (p) => p.endsWith('.h5')), 64 << 10, 20),
    run(_input, path, variant) {
      if (variant & 4) describeFile(path);
      if (variant & 1) readHdf5(path, ['data', 'label']);
      else readHdf5Tree(path);
    },
  },
  {
    name: 'lmdb',
    kind: 'binary',
    fileName: 'db/data.mdb',
    seeds: (root) => seedsFrom(walk(join(root, 'fixtures'), (p) => p.endsWith('data.mdb')), 256 << 10, 12),
    run(_input, path, variant) {
      const db = new LmdbReader(join(path, '..'));
      try {
        const c = db.cursor();
        for (let n = 0; c.valid && n < 4096; n++) {
          const d = decodeDatum(c.value, `${path}: entry ${n}`);
          if (d.encoded && variant & 1) decodeDatumImage(d, 'native', `${path}: entry ${n}`);
          c.next();
        }
      } finally {
        db.close();
      }
    },
  },
  {
    name: 'image',
    bytesOnly: true,
    kind: 'binary',
    fileName: 'image.bin',
    seeds: (root) => seedsFrom([
      ...walk(join(root, 'fixtures/images'), (p) => /\.(jpe?g|png)$/i.test(p)),
      ...spread(walk(join(root, 'fixtures/demo'), (p) => /\.(jpe?g|png)$/i.test(p)), 4),
    ], 64 << 10),
    run(input, path, variant) {
      decodeImage(input, (variant & 1) === 0, path, { exifOrientation: (variant & 2) === 0 });
    },
  },
  {
    name: 'datum',
    bytesOnly: true,
    kind: 'binary',
    protobuf: true,
    fileName: 'datum.bin',
    seeds: (root) => {
      const seeds: Seed[] = [];
      for (const img of walk(join(root, 'fixtures/images'), (p) => /\.(jpe?g|png)$/i.test(p)).slice(0, 6)) {
        const bytes = readFileSync(img);
        if (bytes.length > 16 << 10) continue;
        seeds.push({ name: img, bytes: encodeMessage(fromObject('Datum', { channels: 3, height: 0, width: 0, data: bytes, label: 1, encoded: true }), 'Datum') });
      }
      seeds.push({ name: '<raw datum>', bytes: encodeMessage(fromObject('Datum', { channels: 2, height: 3, width: 2, data: new Uint8Array(12).fill(7), label: 3 }), 'Datum') });
      seeds.push({ name: '<float datum>', bytes: encodeMessage(fromObject('Datum', { channels: 1, height: 2, width: 2, float_data: [1, 2, 3, 4], label: 0 }), 'Datum') });
      return seeds;
    },
    run(input, path, variant) {
      const d = decodeDatum(input, path);
      const modes: DecodeMode[] = ['native', 'color', 'gray'];
      if (d.encoded) decodeDatumImage(d, modes[variant % 3], path);
    },
  },
  {
    name: 'upgrade',
    bytesOnly: true,
    kind: 'text',
    protobuf: true,
    fileName: 'legacy.bin',
    seeds: (root) => seedsFrom(spread(walk(join(root, 'fixtures/upgrade'), (p) => /\.(prototxt|caffemodel)$/.test(p)), 60), 64 << 10),
    run(input, path) {
      upgradeBytes(input, path);
    },
  },
  {
    name: 'h5weights',
    kind: 'binary',
    fileName: 'weights.caffemodel.h5',
    seeds: (root) => seedsFrom(walk(join(root, 'fixtures/hdf5-weights'), (p) => p.endsWith('.caffemodel.h5')), 1 << 20)
      .map((s) => ({ ...s, netPath: join(s.name, '../cifar10_quick.prototxt') })),
    run(_input, path, _variant, seed) {
      // Caffe's layout of HDF5 weights (data/<layer>/<i>) copied into the net they belong to.
      cachedNet(seed.netPath!).copyTrainedLayersFromFile(path);
    },
  },
];

export function allTargets(): Target[] {
  return targets;
}

/** Writes the input where the target's reader will look for it. */
export function placeInput(dir: string, target: Target, input: Uint8Array): string {
  const path = join(dir, target.fileName);
  if (!target.bytesOnly) writeFileSync(path, input);
  return path;
}
