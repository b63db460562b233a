// Faults during training and checking: the disk filling up while a snapshot is written, SIGINT and
// SIGTERM at random (seeded) moments, a data file deleted or corrupted mid-epoch, an LMDB written
// by another process while we read it, and `check` over a folder of broken cases. Each time the
// previous snapshot stays intact and loadable, the error names the file, and resuming with
// --snapshot gives the same weights, bit for bit, as a run that was never interrupted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { readNetWeights } from '../src/format/io.js';
import { readBinaryFile } from '../src/format/binary.js';
import { Net } from '../src/graph/net.js';
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

/**
 * Starts `train` and calls `at(iteration, child)` for every iteration line it prints; resolves
 * with the exit status, signal and output once it ends.
 */
function trainWatched(args: string[], at: (iter: number, child: ReturnType<typeof spawn>) => void): Promise<{ status: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [CLI, 'train', ...args, '--plain'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        const m = l.match(/^Iteration (\d+)[ ,]/);
        if (m) at(Number(m[1]), child);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d));
    child.on('exit', (status, signal) => resolveRun({ status, signal, out }));
  });
}

describe('SIGINT and SIGTERM at random moments of a run', () => {
  const rng = new FuzzRng(20261207);
  const moments = (['SIGINT', 'SIGTERM', 'SIGINT', 'SIGTERM'] as const).map((signal) => ({ signal, iter: 6 + rng.below(55), delayMs: rng.below(20) }));

  for (const [i, { signal, iter, delayMs }] of moments.entries()) {
    it(`${signal} ${delayMs} ms after iteration ${iter}: the snapshots left load, and --snapshot resumes bit for bit`, async () => {
      const s = setup(`signal${i}`);
      let sent = false;
      const r = await trainWatched(['--solver', s.solver], (k, child) => {
        if (k >= iter && !sent) {
          sent = true;
          setTimeout(() => child.kill(signal), delayMs);
        }
      });
      expect(sent).toBe(true);
      if (signal === 'SIGINT') {
        // caffe-ts's default for SIGINT: snapshot, then stop.
        expect(r.status, r.out).toBe(0);
        expect(r.out).toMatch(/Snapshotting to binary proto file/);
      } else {
        // SIGTERM ends the run without a snapshot (as in Caffe), with the status of a SIGTERM death.
        expect(r.status, r.out).toBe(143);
        expect(r.out).not.toMatch(/Optimization Done/);
      }
      const snapDir = join(s.prefix, '..');
      // Every file is whole: snapshots load, and no temporary is left behind.
      for (const f of readdirSync(snapDir)) {
        if (f.endsWith('.caffemodel')) expect(readNetWeights(join(snapDir, f)).layer.length, f).toBe(5);
        else if (f.endsWith('.solverstate')) expect(readBinaryFile(join(snapDir, f), 'SolverState').history.length, f).toBe(4);
        else expect(f, 'only snapshots and loss curves').toMatch(/^mlp_loss\.svg$/);
      }
      const latest = resumeAndCompare(s);
      // SIGINT snapshots where it stopped; SIGTERM keeps at least the last periodic snapshot before it.
      expect(latest).toBeGreaterThanOrEqual(signal === 'SIGINT' ? iter : Math.floor(iter / 5) * 5);
    }, 60_000);
  }
});

describe('a data source file deleted or corrupted mid-epoch', () => {
  const breakAt = async (name: string, damage: (file: string) => void) => {
    const s = setup(name);
    let done = false;
    const r = await trainWatched(['--solver', s.solver], (k, child) => {
      if (k >= 7 && !done) {
        done = true;
        // Hold the run while the file is damaged: on a busy machine its output reaches us late,
        // and a run that is not held could finish its last read of the file first.
        child.kill('SIGSTOP');
        try {
          damage(s.data[1]);
        } finally {
          child.kill('SIGCONT');
        }
      }
    });
    expect(done).toBe(true);
    expect(r.status, r.out).toBe(1);
    expect(r.out).toContain(s.data[1]);
    expect(r.out).not.toMatch(/internal error/);
    // The snapshot before the damage stays whole and loadable; repair the file and resume.
    const [latest] = snapshots(s.prefix);
    expect(latest).toBeGreaterThanOrEqual(5);
    expectLoadable(s.prefix, latest, join(s.dir, 'net.prototxt'));
    copyFileSync(join(H5, 'part1.h5'), s.data[1]);
    resumeAndCompare(s);
    return r.out;
  };

  it('deleted: the run stops with an error naming the file', async () => {
    const out = await breakAt('deleted', (f) => unlinkSync(f));
    expect(out).toMatch(/no such file/);
  }, 60_000);

  it('corrupted (overwritten with garbage): the run stops with an error naming the file', async () => {
    await breakAt('corrupted', (f) => {
      const n = readFileSync(f).length;
      writeFileSync(f, Buffer.alloc(n, 0x5a));
    });
  }, 60_000);

  it('truncated: the run stops with an error naming the file', async () => {
    await breakAt('truncated', (f) => truncateSync(f, 900));
  }, 60_000);
});

/** An LMDB written through the lmdb package (kept open as the other writer) and a Data-layer net + solver reading it. */
function lmdbTraining(name: string, batch: number, solverLine: string): { writer: ReturnType<typeof openLmdb>; path: string; solver: string; dir: string } {
  const dir = join(TMP, name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'data.lmdb');
  const writer = openLmdb({ path, encoding: 'binary', keyEncoding: 'binary' });
  writeFileSync(join(dir, 'net.prototxt'), `name: "lmdb"
layer { name: "data" type: "Data" top: "data" top: "label" data_param { source: "${path}" batch_size: ${batch} backend: LMDB } transform_param { scale: 0.00390625 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
`);
  const solver = join(dir, 'solver.prototxt');
  writeFileSync(solver, `net: "${join(dir, 'net.prototxt')}"\nbase_lr: 0.01 lr_policy: "fixed" random_seed: 1 display: 1 snapshot_prefix: "${join(dir, 'snap')}"\n${solverLine}\n`);
  return { writer, path, solver, dir };
}

describe('an LMDB opened by another writer while we train from it', () => {
  it('the run reads the committed snapshot it opened and finishes; the writer is not disturbed', async () => {
    const { writer, solver, dir } = lmdbTraining('lmdbwriter', 8, 'max_iter: 400 snapshot: 100');
    const datum = (i: number) => Buffer.from(encodeDatum({ channels: 1, height: 2, width: 2, data: Uint8Array.from([i, 2 * i, 3 * i, 255 - i]), label: i % 3 }));
    for (let i = 0; i < 64; i++) writer.putSync(Buffer.from(`${String(i).padStart(8, '0')}`), datum(i));
    let written = 64;
    const r = await trainWatched(['--solver', solver], (k) => {
      // The other writer keeps committing new records (and rewriting old ones) while we read.
      if (k % 5 === 0) {
        writer.putSync(Buffer.from(`${String(written).padStart(8, '0')}`), datum(written));
        writer.putSync(Buffer.from(`${String(written % 64).padStart(8, '0')}`), datum(written));
        written++;
      }
    });
    expect(r.status, r.out).toBe(0);
    expect(written).toBeGreaterThan(64);
    expect(snapshots(join(dir, 'snap'))).toEqual([400, 300, 200, 100]);
    // The writer's own view is intact.
    expect(writer.getKeysCount()).toBe(written);
    await writer.close();
  }, 60_000);
});

describe('an LMDB larger than the reader\'s page cache, rewritten by another writer while we train', () => {
  it('ends in success or an error naming the data file, never a crash', async () => {
    // caffe-ts does not register as a reader in lock.mdb, so the writer may reuse pages of the
    // snapshot we read: what we then read is checked like any other page (see README).
    const { writer, solver } = lmdbTraining('lmdbrewrite', 50, 'max_iter: 90 snapshot: 0 snapshot_after_train: false');
    const datum = (i: number) => Buffer.from(encodeDatum({ channels: 3, height: 16, width: 16, data: new Uint8Array(768).fill(i & 255), label: i % 3 }));
    const key = (i: number) => Buffer.from(String(i).padStart(8, '0'));
    await writer.transaction(() => {
      for (let i = 0; i < 1500; i++) writer.put(key(i), datum(i));
    });
    let round = 0;
    const r = await trainWatched(['--solver', solver], () => {
      // Rewrite a slice of the records in one transaction per iteration: pages are freed and reused.
      round++;
      writer.transactionSync(() => {
        for (let i = 0; i < 100; i++) writer.putSync(key((round * 100 + i) % 1500), datum(round + i));
      });
    });
    if (r.status !== 0) {
      expect(r.status, r.out).toBe(1);
      expect(r.out).toMatch(/data\.lmdb/);
    }
    expect(r.out).not.toMatch(/internal error/);
    expect(round).toBeGreaterThan(10);
    await writer.close();
  }, 60_000);
});

describe('caffe-ts check over a folder with broken cases', () => {
  it('reports each broken case (bad JSON, missing .npy) clearly and goes on to the rest', () => {
    const dir = join(TMP, 'check');
    cpSync(join(FIXTURES, 'layers', 'relu'), join(dir, 'relu'), { recursive: true });
    cpSync(join(FIXTURES, 'layers', 'absval'), join(dir, 'absval'), { recursive: true });
    spawnSync('chmod', ['-R', 'u+w', dir]);
    writeFileSync(join(dir, 'relu', 'default', 'train', 'case.json'), '{ "format": 1, "name": ');
    unlinkSync(join(dir, 'relu', 'default', 'test', 'fwd.y.npy'));
    const r = cli(['check', dir]);
    expect(r.status).toBe(1);
    expect(r.out).toContain(`FAIL ${join(dir, 'relu', 'default', 'train')}: CaffeError: ${join(dir, 'relu', 'default', 'train', 'case.json')}: not valid JSON`);
    expect(r.out).toContain(`FAIL relu/default/test: NpyError: ${join(dir, 'relu', 'default', 'test', 'fwd.y.npy')}: cannot read`);
    const passed = Number(r.out.match(/(\d+) passed, 2 failed/)?.[1]);
    expect(passed).toBeGreaterThanOrEqual(3);
  });
});
