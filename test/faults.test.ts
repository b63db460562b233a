// Faults during training and checking: the disk filling up while a snapshot is written, SIGINT and
// SIGTERM at random (seeded) moments, a data file deleted or corrupted mid-epoch, an LMDB written
// by another process while we read it, and `check` over a folder of broken cases. Each time the
// previous snapshot stays intact and loadable, the error names the file, and resuming with
// --snapshot gives the same weights, bit for bit, as a run that was never interrupted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { readNetWeights } from '../src/format/io.js';
import { readBinaryFile } from '../src/format/binary.js';
import { Net } from '../src/graph/net.js';
import { runTrain } from '../src/cli/train.js';
import { encodeDatum } from '../src/data/datum.js';
import { FuzzRng } from '../src/fuzz/rng.js';
import { FIXTURES } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const TMP = mkdtempSync(join(tmpdir(), 'caffe-ts-faults-'));
const H5 = join(FIXTURES, 'data', 'hdf5', 'train');
const MAX_ITER = 120;
const isRoot = process.getuid?.() === 0;
const mounts: string[] = [];

afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  rmSync(TMP, { recursive: true, force: true });
});

/**
 * A training setup in its own folder: two HDF5 files of 3 rows read as one batch of 6 (so every
 * iteration sees the same batch and a resumed run is comparable with an uninterrupted one), a
 * 4-2000-3 MLP (snapshots of about 130 kB), SGD with momentum, a snapshot every 5 iterations.
 */
function setup(name: string, snapshotDir?: string): { dir: string; solver: string; prefix: string; data: string[] } {
  const dir = join(TMP, name);
  mkdirSync(dir, { recursive: true });
  const data = ['part0.h5', 'part1.h5'].map((f) => {
    copyFileSync(join(H5, f), join(dir, f));
    return join(dir, f);
  });
  writeFileSync(join(dir, 'list.txt'), data.join('\n') + '\n');
  writeFileSync(join(dir, 'net.prototxt'), `name: "mlp"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: "${join(dir, 'list.txt')}" batch_size: 6 } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1" inner_product_param { num_output: 2000 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.05 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
`);
  const snapDir = snapshotDir ?? join(dir, 'snap');
  mkdirSync(snapDir, { recursive: true });
  const prefix = join(snapDir, 'mlp');
  const solver = join(dir, 'solver.prototxt');
  writeFileSync(solver, `net: "${join(dir, 'net.prototxt')}"
base_lr: 0.01 momentum: 0.9 lr_policy: "fixed" weight_decay: 0.0005
max_iter: ${MAX_ITER} display: 1 snapshot: 5 random_seed: 1
snapshot_prefix: "${prefix}"
`);
  return { dir, solver, prefix, data };
}

function cli(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...opts.env } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Iterations with both snapshot files present (final names only), highest first. */
function snapshots(prefix: string): number[] {
  const dir = join(prefix, '..');
  const base = prefix.slice(dir.length + 1);
  const iters = readdirSync(dir)
    .map((f) => f.match(new RegExp(`^${base}_iter_(\\d+)\\.solverstate$`)))
    .filter((m): m is RegExpMatchArray => !!m)
    .map((m) => Number(m[1]))
    .filter((i) => existsSync(`${prefix}_iter_${i}.caffemodel`));
  return iters.sort((a, b) => b - a);
}

/** The snapshot at `iter` loads: weights decode and fit the net, the state decodes and points at them. */
function expectLoadable(prefix: string, iter: number, netPath: string): void {
  const model = `${prefix}_iter_${iter}.caffemodel`;
  const state = readBinaryFile(`${prefix}_iter_${iter}.solverstate`, 'SolverState');
  expect(state.iter).toBe(iter);
  expect(state.learned_net).toBe(model);
  const net = Net.fromFile(netPath, { phase: 'TEST' });
  net.copyTrainedLayersFrom(readNetWeights(model), model);
  expect(net.params.get('ip1')![0].count).toBe(8000);
}

/** Every parameter of a caffemodel, as raw float32 bytes (the file also holds the net's own paths). */
function weightBytes(path: string): Buffer[] {
  return (readNetWeights(path).layer as { blobs: { data: Float32Array }[] }[]).flatMap((l) => l.blobs.map((b) => Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)));
}

let reference: Buffer[];
beforeAll(() => {
  // The uninterrupted run every interrupted-and-resumed run must match.
  const s = setup('reference');
  const r = cli(['train', '--solver', s.solver, '--plain']);
  expect(r.status, r.out).toBe(0);
  reference = weightBytes(`${s.prefix}_iter_${MAX_ITER}.caffemodel`);
  expect(reference.length).toBe(4);
}, 120_000);

/** Resumes from the latest snapshot to max_iter and checks the result against the reference, byte for byte. */
function resumeAndCompare(s: ReturnType<typeof setup>): number {
  const [latest] = snapshots(s.prefix);
  expect(latest, 'a snapshot survived').toBeGreaterThan(0);
  expectLoadable(s.prefix, latest, join(s.dir, 'net.prototxt'));
  const r = cli(['train', '--solver', s.solver, '--snapshot', `${s.prefix}_iter_${latest}.solverstate`, '--plain']);
  expect(r.status, r.out).toBe(0);
  const resumed = weightBytes(`${s.prefix}_iter_${MAX_ITER}.caffemodel`);
  expect(resumed.length).toBe(reference.length);
  resumed.forEach((b, i) => expect(b.equals(reference[i]), `parameter blob ${i} bit for bit`).toBe(true));
  return latest;
}

/** A small tmpfs (root only); null when it cannot be mounted. */
function smallDisk(name: string, size: string): string | null {
  if (!isRoot) return null;
  const dir = join(TMP, name);
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (r.status !== 0) return null;
  mounts.push(dir);
  return dir;
}

/** A preloaded module that makes writes to the snapshot folder fail with ENOSPC once `budget` bytes went there. */
function injectedFullDisk(dir: string, budget: number): string {
  const path = join(TMP, `full-disk-${budget}.mjs`);
  writeFileSync(path, `import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
let used = 0;
const fds = new Set();
const open = fs.openSync, write = fs.writeSync, close = fs.closeSync;
fs.openSync = (p, ...a) => { const fd = open(p, ...a); if (String(p).startsWith(${JSON.stringify(dir)})) fds.add(fd); return fd; };
fs.closeSync = (fd) => { fds.delete(fd); return close(fd); };
fs.writeSync = (fd, buf, off = 0, len, ...a) => {
  if (fds.has(fd)) {
    const n = len ?? buf.byteLength - off;
    if (used + n > ${budget}) { const e = new Error('ENOSPC: no space left on device, write'); e.code = 'ENOSPC'; e.errno = -28; throw e; }
    used += n;
  }
  return write(fd, buf, off, len, ...a);
};
syncBuiltinESMExports();
`);
  return path;
}

describe('the disk fills up while a snapshot is written', () => {
  const check = (s: ReturnType<typeof setup>, r: { status: number | null; out: string }, snapDir: string, freeSpace: () => void) => {
    // The first snapshot (iteration 5, ~130 kB) fits; the second does not.
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(new RegExp(`cannot write ${s.prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}_iter_10\\.(caffemodel|solverstate): no space left on the device`));
    expect(snapshots(s.prefix)).toEqual([5]);
    // No partial file left behind: no temporary, no half-written snapshot.
    expect(readdirSync(snapDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The weights of iteration 10 may have fitted (they are written first): then they are whole.
    expect(readdirSync(snapDir).filter((f) => f.includes('_iter_10') && f !== 'mlp_iter_10.caffemodel')).toEqual([]);
    if (existsSync(`${s.prefix}_iter_10.caffemodel`)) expect(readNetWeights(`${s.prefix}_iter_10.caffemodel`).layer.length).toBe(5);
    freeSpace();
    expect(resumeAndCompare(s)).toBe(5);
  };

  it.runIf(isRoot)('on a 200 kB tmpfs mounted for the test (root)', () => {
    const disk = smallDisk('diskfull', '200k');
    expect(disk, 'mount -t tmpfs works as root').not.toBeNull();
    const s = setup('tmpfsrun', disk!);
    const r = cli(['train', '--solver', s.solver, '--plain']);
    check(s, r, disk!, () => expect(spawnSync('mount', ['-o', 'remount,size=16m', disk!]).status).toBe(0));
  }, 60_000);

  it('with an injected ENOSPC after 200 kB (no root needed)', () => {
    const s = setup('injectrun');
    const snapDir = join(s.prefix, '..');
    const r = cli(['train', '--solver', s.solver, '--plain'], { env: { NODE_OPTIONS: `--import ${injectedFullDisk(snapDir, 200_000)}` } });
    check(s, r, snapDir, () => {});
  }, 60_000);
});
