// The fuzzer's short form (every reader, a few thousand mutated real files), the inputs it found
// that once crashed or hung (fixtures/fuzz/), the extension rule for text vs binary, and the
// allocation bound for declared sizes.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fuzzer, isTypedError, runRange } from '../src/fuzz/run.js';
import { readBlobProto, readNetParameter, readNetWeights, upgradeBytes } from '../src/format/io.js';
import { readMeanFile } from '../src/data/transform-config.js';
import { readHdf5 } from '../src/data/hdf5.js';
import { LmdbReader, LmdbError } from '../src/data/lmdb.js';
import { Net } from '../src/graph/net.js';
import { decodeDatum, decodeDatumImage } from '../src/data/datum.js';
import { pixelLimit } from '../src/format/image.js';
import { encodeMessage } from '../src/format/binary.js';
import { fromObject } from '../src/proto/schema.js';
import { CaffeError, DecodeError, LayerError, NetError, ParseError, SolverError } from '../src/util/errors.js';
import { createSolver } from '../src/solvers/registry.js';
import { FIXTURES } from './helpers.js';

const CASES = join(FIXTURES, 'fuzz');
const CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-fuzz-test-'));

describe('fuzzer, short form', () => {
  it('every reader takes 300 mutated inputs with success or a typed error naming where', () => {
    const fuzzer = new Fuzzer(20240601);
    try {
      const n = fuzzer.targets.length * 300;
      const stats = runRange(fuzzer, 0, n, undefined, undefined, false);
      const report = stats.failures.map((f) => `${f.reader} #${f.index} (${f.seed}) ${f.kind}: ${f.message.split('\n')[0]}`);
      expect(report).toEqual([]);
      for (const [reader, s] of Object.entries(stats.perReader)) {
        expect(s.inputs, reader).toBe(300);
        // Both outcomes occur: the mutations reach past the first check, and they do break things.
        expect(s.typedErrors, reader).toBeGreaterThan(0);
        expect(s.typedErrors, reader).toBeLessThan(300);
      }
    } finally {
      fuzzer.close();
    }
  }, 240_000);

  it('input i is the same whenever it is generated (a run can be reproduced input by input)', () => {
    const a = new Fuzzer(7);
    const b = new Fuzzer(7);
    try {
      for (const i of [0, 5, 123, 4567]) expect(Buffer.from(a.input(i).bytes).equals(Buffer.from(b.input(i).bytes))).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });

  it('npm run fuzz runs from the command line and reports per reader', () => {
    const out = execFileSync(process.execPath, [join(import.meta.dirname, '..', 'dist', 'src', 'fuzz', 'main.js'), '--iterations', '44', '--seed', '3', '--out', join(tmp, 'fuzz-out'), '--quiet'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toMatch(/prototxt\s+4 inputs/);
    expect(out).toMatch(/total\s+44 inputs in \d+ s, 0 failure\(s\)/);
  }, 60_000);
});

describe('inputs the fuzzer found (fixtures/fuzz)', () => {
  it('SPP with pyramid_height 2^31 is refused at once (it used to build sub-layers without end)', () => {
    const t0 = Date.now();
    expect(() => Net.fromFile(join(CASES, 'spp_pyramid_height_2e31.prototxt'))).toThrow(LayerError);
    expect(() => Net.fromFile(join(CASES, 'spp_pyramid_height_2e31.prototxt'))).toThrow(/pyramid_height 2147483648 is too high for a 8x8 input: level 4 \(16 bins a side\)/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('an LRN with local_size 2^31-1: the fuzzer builds the net but does not run its O(window) forward; ACROSS_CHANNELS refuses its buffer', () => {
    const file = join(CASES, 'lrn_within_local_size_2e31.prototxt');
    const fuzzer = new Fuzzer(1, ['prototxt']);
    try {
      const target = fuzzer.targets[0];
      const t0 = Date.now();
      const o = fuzzer.runInput(target, { name: file, bytes: new Uint8Array(0) }, readFileSync(file), 0);
      expect(o).toEqual({ ok: true, typed: false });
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      fuzzer.close();
    }
    const across = readFileSync(file, 'utf8').replace('WITHIN_CHANNEL', 'ACROSS_CHANNELS');
    writeFileSync(join(tmp, 'across.prototxt'), across);
    expect(() => Net.fromFile(join(tmp, 'across.prototxt'))).toThrow(/layer 'output' \(LRN\): local_size 2147483647 needs a padded buffer of \d+ values for \(2,6,75,113\), over the allocation limit/);
  });

  it('a 686-byte encoded Datum whose JPEG declares 9233x9353 pixels is refused from its header (it decoded 250 MB of gray fill)', () => {
    const d = decodeDatum(readFileSync(join(CASES, 'datum_jpeg_bomb.bin')), 'bomb');
    expect(d.data.length).toBe(673);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = Date.now();
    for (const mode of ['native', 'color', 'gray'] as const) {
      expect(() => decodeDatumImage(d, mode, 'bomb')).toThrow(`bomb: JPEG is 9233x9353, over the ${pixelLimit(673)}-pixel limit`);
    }
    expect(pixelLimit(673)).toBe(673 * 8192);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });

  it('Pooling with stride 2^31 (uint32 in the file, int in Caffe) is refused at once (its window tables wrapped and it looped 2^31 times)', () => {
    const t0 = Date.now();
    expect(() => Net.fromFile(join(CASES, 'pooling_stride_2e31.prototxt'))).toThrow(
      "layer 'layer' (Pooling): kernel 3x3, stride 2147483648x2147483648 and pad 0x0 must fit Caffe's int (at most 2147483647)");
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('an LMDB error naming the database folder counts as naming the input', () => {
    const err = new LmdbError('/data/train.lmdb: empty LMDB branch page 4');
    expect(isTypedError(err, '/data/train.lmdb/data.mdb')).toBe(true);
    expect(isTypedError(new RangeError('/data/train.lmdb'), '/data/train.lmdb/data.mdb')).toBe(false);
    expect(isTypedError(new CaffeError('page 4 is corrupt'), '/data/train.lmdb/data.mdb')).toBe(false);
  });

  it('a dimension of 2^32 (an empty blob, so its count passes) is refused as Caffe\'s int cannot hold it (ArgMax threw a RangeError)', () => {
    expect(() => Net.fromFile(join(CASES, 'argmax_dim_2e32.prototxt'))).toThrow(/invalid blob dimension 4294967296 in \(0,4294967296\)/);
  });

  it('BatchNorm over an empty input of 2^31-1 rows refuses its (num, channels) buffer (it mapped 32 GB)', () => {
    const before = process.memoryUsage().arrayBuffers;
    expect(() => Net.fromFile(join(CASES, 'batchnorm_empty_2e31_rows.prototxt'), { phase: 'TEST' })).toThrow(
      /layer 'output' \(BatchNorm\): needs a \(num, channels\) buffer of 4294967294 values for \(2147483647,2,3,0\), over the blob limits/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('a solver state whose history blob holds fewer values than its shape is refused naming the file, before anything changes', () => {
    const dir = join(tmp, 'restore');
    mkdirSync(dir, { recursive: true });
    const state = join(dir, 'short_iter_10.solverstate');
    copyFileSync(join(CASES, 'history_short_data.solverstate'), state);
    const solver = createSolver(fromObject('SolverParameter', {
      type: 'SGD', base_lr: 0.1, momentum: 0.9, lr_policy: 'fixed',
      net_param: { layer: [
        { name: 'in', type: 'Input', top: ['x', 'y'], input_param: { shape: [{ dim: [1, 3] }, { dim: [1, 2] }] } },
        { name: 'ip', type: 'InnerProduct', bottom: ['x'], top: ['p'], inner_product_param: { num_output: 2 } },
        { name: 'loss', type: 'EuclideanLoss', bottom: ['p', 'y'], top: ['loss'] },
      ] },
    }), { baseDir: dir });
    expect(() => solver.restore(state)).toThrow(SolverError);
    expect(() => solver.restore(state)).toThrow(`${state}: history blob 1 holds 1 values, its shape (2) needs 2`);
    expect(solver.iter).toBe(0);
  });

  it('LRN WITHIN_CHANNEL over an empty input of width 2^31-1 builds no window tables (it allocated 24 GB of them)', () => {
    const before = process.memoryUsage().arrayBuffers;
    const t0 = Date.now();
    const net = Net.fromFile(join(CASES, 'lrn_empty_width_2e31.prototxt'), { phase: 'TEST' });
    net.forward();
    expect(net.blob('output').shape).toEqual([2, 6, 0, 2147483647]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('a layer whose stored blob declares 2^40 elements is refused naming the layer, before allocating', () => {
    const before = process.memoryUsage().arrayBuffers;
    expect(() => Net.fromFile(join(CASES, 'stored_blob_2e40.prototxt'))).toThrow(/layer 'x' \(Input\): stored blob 0: invalid blob dimension 1099511627776 in \(1099511627776\)/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('an HDF5 file whose symbol table HDF5 cannot read: the error names the file', () => {
    const path = join(tmp, 'corrupt.h5');
    copyFileSync(join(CASES, 'hdf5_corrupt_symbol_table.h5'), path);
    expect(() => readHdf5(path, ['data', 'label'])).toThrow(CaffeError);
    expect(() => readHdf5(path, ['data', 'label'])).toThrow(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
  });

  it('an LMDB page number past the end of the file is a corrupt-file LmdbError, not a RangeError', () => {
    const dir = join(tmp, 'bad.lmdb');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(CASES, 'lmdb_page_past_end.mdb'), join(dir, 'data.mdb'));
    const walk = () => {
      const db = new LmdbReader(dir);
      try {
        for (const c = db.cursor(); c.valid; c.next()) void c.value;
      } finally {
        db.close();
      }
    };
    expect(walk).toThrow(LmdbError);
    expect(walk).toThrow(/corrupt LMDB file: 4096 bytes at offset 16384 lie past its end \(19789 bytes\)/);
  });
});

describe('a declared 2^40-element blob without data (bounded allocation)', () => {
  const file = join(CASES, 'blob_2e40_no_data.binaryproto');

  it('is read and described (12 bytes), never allocated', () => {
    const before = process.memoryUsage().arrayBuffers;
    const proto = readBlobProto(file);
    expect(proto.shape.dim.map(Number)).toEqual([1, 1, 1048576, 1048576]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
    const out = execFileSync(process.execPath, [CLI, 'info', file], { encoding: 'utf8' });
    expect(out).toContain('BlobProto (binary), shape 1x1x1048576x1048576, 1099511627776 values');
  });

  it('is refused when loaded as a mean or into a net, with a measured peak far below its size', () => {
    const before = process.memoryUsage();
    expect(() => readMeanFile(file)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: blob shape \\(1,1,1048576,1048576\\) exceeds`));
    // Into a net: as the stored blob of a layer in a caffemodel.
    const weights = join(tmp, 'huge.caffemodel');
    const blob = readBlobProto(file);
    writeFileSync(weights, encodeMessage(fromObject('NetParameter', { name: 'n', layer: [{ name: 'ip', type: 'InnerProduct', blobs: [blob] }] }), 'NetParameter'));
    const net = new Net(fromObject('NetParameter', {
      layer: [
        { name: 'in', type: 'Input', top: ['x'], input_param: { shape: [{ dim: [1, 4] }] } },
        { name: 'ip', type: 'InnerProduct', bottom: ['x'], top: ['y'], inner_product_param: { num_output: 2, bias_term: false } },
      ],
    }));
    expect(() => net.copyTrainedLayersFrom(readNetWeights(weights), weights)).toThrow(NetError);
    expect(() => net.copyTrainedLayersFrom(readNetWeights(weights), weights)).toThrow(/shape mismatch, source 1 1 1048576 1048576 \(1099511627776\)|shape mismatch/);
    const after = process.memoryUsage();
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(16 << 20);
    expect(after.rss - before.rss).toBeLessThan(256 << 20);
  });
});

describe('the extension decides text or binary', () => {
  it('a .prototxt holding a NUL byte is broken text: ParseError with line:col', () => {
    const path = join(CASES, 'nul_byte.prototxt');
    expect(() => readNetParameter(path)).toThrow(ParseError);
    expect(() => readNetParameter(path)).toThrow(/nul_byte\.prototxt:4:15: .*\\x00/);
  });

  it('a .caffemodel holding text is decoded as binary: DecodeError with a byte offset', () => {
    const path = join(tmp, 'text.caffemodel');
    writeFileSync(path, 'name: "x"\nlayer { name: "a" type: "ReLU" }\n');
    expect(() => readNetParameter(path)).toThrow(DecodeError);
    expect(() => readNetParameter(path)).toThrow(/text\.caffemodel: at byte \d+: /);
  });

  it('an unknown extension is sniffed: the same bytes load as text under .bak and as binary under .bin', () => {
    const text = 'name: "x"\nlayer { name: "a" type: "ReLU" bottom: "d" top: "d" }\n';
    writeFileSync(join(tmp, 'net.bak'), text);
    expect(readNetParameter(join(tmp, 'net.bak')).name).toBe('x');
    const binary = encodeMessage(fromObject('NetParameter', { name: 'y' }), 'NetParameter');
    writeFileSync(join(tmp, 'net.bin'), binary);
    expect(readNetParameter(join(tmp, 'net.bin')).name).toBe('y');
    // Named binary wins even when the content is valid text of the type; named text likewise.
    writeFileSync(join(tmp, 'y.prototxt'), binary);
    expect(() => readNetParameter(join(tmp, 'y.prototxt'))).toThrow(ParseError);
    expect(upgradeBytes(readFileSync(join(tmp, 'net.bak')), join(tmp, 'net.bak')).format).toBe('text');
    expect(() => upgradeBytes(Buffer.from(text), join(tmp, 'x.caffemodel'))).toThrow(DecodeError);
  });
});
