import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, readNpy, readNpyAsFloat32, writeNpy } from '../src/format/npy.js';
import { readBinaryFile } from '../src/format/binary.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { NpyError } from '../src/util/errors.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

// Files written by numpy 2.4 (numpy.lib.format.write_array), base64.
const NUMPY = {
  // np.arange(6, dtype='>i2').reshape(2, 3), version (2, 0)
  v2_be_i2:
    'k05VTVBZAgB0AAAAeydkZXNjcic6ICc+aTInLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAABAAIAAwAEAAU=',
  // np.array([1.5, -2], '<f8'), version (3, 0)
  v3_f8:
    'k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4PwAAAAAAAADA',
  // np.array([[1.25, -3.5e10]], '>f4')
  v1_be_f4:
    'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/oAAA0QJimg==',
  // np.array([2**64 - 1, 5], '<u8')
  u8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHU4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr//////////wUAAAAAAAAA',
  // np.array([True, False, True])
  bool: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=',
  // np.array(3.0, '<f4'): 0-d
  scalar:
    'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAEBA',
};
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

/** A .npy file with a hand-written header (version 1.0 unless given) and data bytes. */
function craft(header: string, data: ArrayLike<number> = [], version = 1): Uint8Array {
  const h = Buffer.from(header, version === 3 ? 'utf8' : 'latin1');
  const pre = version === 1 ? 10 : 12;
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const v = new DataView(out.buffer);
  if (version === 1) v.setUint16(8, h.length, true);
  else v.setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(data, pre + h.length);
  return out;
}

function npyError(fn: () => unknown): NpyError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NpyError);
    return e as NpyError;
  }
  throw new Error('expected an NpyError');
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'caffe-ts-npy-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('readNpy', () => {
  it('reads Caffe reference fixtures (<f4, C order)', () => {
    const f = `${FIXTURES}/layers/absval/default/train/in.x.npy`;
    const a = readNpy(f);
    expect(a.dtype).toBe('float32');
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(a.data.length).toBe(a.shape.reduce((p, d) => p * d, 1));
    expect(a.shape.length).toBeGreaterThan(0);
    const b = readNpyAsFloat32(f);
    expect(b.shape).toEqual(a.shape);
    expect(b.data).toEqual(a.data);
    // The data equals the raw little-endian float32 bytes after the header.
    const raw = readFileSync(f);
    const tail = raw.subarray(raw.length - a.data.length * 4);
    expect(Buffer.compare(Buffer.from(a.data.buffer), tail)).toBe(0);
  });

  it('reads a <f8 mean file and converts it to float32', () => {
    // A Caffe-written mean, saved as float64 by numpy (fixtures/means/README.md).
    const dir = `${FIXTURES}/means`;
    const f = `${dir}/mean_3x8x8_f8.npy`;
    const a = readNpy(f);
    expect(a.dtype).toBe('float64');
    expect(a.shape).toEqual([3, 8, 8]);
    expect(a.data).toBeInstanceOf(Float64Array);
    expect(a.data.length).toBe(192);
    const b = readNpyAsFloat32(f);
    expect(b.shape).toEqual([3, 8, 8]);
    expect(b.data).toBeInstanceOf(Float32Array);
    expect(b.data[123]).toBe(Math.fround(a.data[123] as number));
    expect(b.data[191]).toBe(Math.fround(a.data[191] as number));
    // The data equals the raw little-endian float64 bytes after the header.
    const raw = readFileSync(f);
    const tail = raw.subarray(raw.length - a.data.length * 8);
    expect(Buffer.compare(Buffer.from((a.data as Float64Array).buffer, (a.data as Float64Array).byteOffset, a.data.length * 8), tail)).toBe(0);
    // Same values as the .binaryproto it was made from (float32 there).
    const mean = readBinaryFile(`${dir}/mean_3x8x8.binaryproto`, 'BlobProto');
    expect(Array.from(b.data)).toEqual(Array.from(mean.data));
  });

  it('reads numpy-written version 2.0 and 3.0 headers, big-endian data, u8, bool, 0-d', () => {
    const v2 = readNpy(b64(NUMPY.v2_be_i2));
    expect(v2).toEqual({ shape: [2, 3], dtype: 'int16', data: Int16Array.of(0, 1, 2, 3, 4, 5) });
    const v3 = readNpy(b64(NUMPY.v3_f8));
    expect(v3.shape).toEqual([2]);
    expect(Array.from(v3.data as Float64Array)).toEqual([1.5, -2]);
    const be = readNpy(b64(NUMPY.v1_be_f4));
    expect(be.dtype).toBe('float32');
    expect(Array.from(be.data as Float32Array)).toEqual([1.25, Math.fround(-3.5e10)]);
    const u8 = readNpy(b64(NUMPY.u8));
    expect(u8.data).toEqual(BigUint64Array.of(2n ** 64n - 1n, 5n));
    expect(Array.from(readNpyAsFloat32(b64(NUMPY.u8)).data)).toEqual([2 ** 64, 5]);
    const bool = readNpy(b64(NUMPY.bool));
    expect(bool.dtype).toBe('bool');
    expect(Array.from(bool.data as Uint8Array)).toEqual([1, 0, 1]);
    const s = readNpy(b64(NUMPY.scalar));
    expect(s.shape).toEqual([]);
    expect(Array.from(s.data as Float32Array)).toEqual([3]);
  });

  it('converts every supported big-endian dtype', () => {
    const cases: Array<[string, number, number[], string]> = [
      ['>f8', 8, [0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18], 'float64'],
      ['>u2', 2, [0x12, 0x34], 'uint16'],
      ['>i4', 4, [0xff, 0xff, 0xff, 0xfe], 'int32'],
      ['>u4', 4, [0x80, 0, 0, 1], 'uint32'],
      ['>i8', 8, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd], 'int64'],
    ];
    const want = [Math.PI, 0x1234, -2, 0x80000001, -3n];
    cases.forEach(([descr, , bytes, name], i) => {
      const a = readNpy(craft(`{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }\n`, bytes));
      expect(a.dtype).toBe(name);
      expect(a.data[0]).toBe(want[i]);
    });
    const i1 = readNpy(craft(`{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }\n`, [0xff, 5]));
    expect(Array.from(i1.data as Int8Array)).toEqual([-1, 5]);
  });

  it('accepts header variations numpy and Python 2 wrote (key order, quotes, 3L longs)', () => {
    const data = new Uint8Array(Float32Array.of(1, 2, 3, 4, 5, 6).buffer);
    for (const h of [
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }`,
      `{"shape": (2, 3), "fortran_order": False, "descr": "<f4"}`,
      `{'fortran_order':False,'shape':(2,3),'descr':'<f4'}   \n`,
    ]) {
      const a = readNpy(craft(h, data));
      expect(a.shape).toEqual([2, 3]);
      expect(a.data[5]).toBe(6);
    }
    const v3 = readNpy(craft(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'note': 'é'}`, [0, 0, 0x80, 0x3f], 3));
    expect(Array.from(v3.data as Float32Array)).toEqual([1]);
  });

  it('names the file and the problem in errors', () => {
    const p = join(dir, 'bad.npy');
    writeFileSync(p, 'not numpy at all');
    const e = npyError(() => readNpy(p));
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/magic/);
    expect(npyError(() => readNpy(join(dir, 'missing.npy'))).message).toMatch(/missing\.npy: cannot read/);
  });

  it('rejects fortran order, unsupported dtypes and versions, bad shapes, truncation', () => {
    const hdr = (descr: string, shape: string, fortran = 'False') => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;
    const cases: Array<[Uint8Array, RegExp]> = [
      [craft(hdr('<f4', '(1,)', 'True'), [0, 0, 0, 0]), /fortran_order True/],
      [craft(hdr('<c8', '(1,)'), new Array(8).fill(0)), /unsupported dtype '<c8'/],
      [craft(hdr('<U3', '(1,)'), new Array(12).fill(0)), /unsupported dtype/],
      [craft(hdr('<f2', '(1,)'), [0, 0]), /unsupported dtype '<f2'/],
      [craft(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }`, [0, 0, 0, 0]), /structured/],
      [craft(hdr('<f4', '(2, -1)')), /bad dimension -1/],
      [craft(hdr('<f4', '(2.5,)')), /bad .npy header|bad dimension/],
      [craft(hdr('<f4', '(3,)'), [0, 0, 0, 0]), /truncated data.*needs 12 bytes, 4 present/],
      [craft(hdr('<f4', '(1,)'), [0, 0, 0, 0, 9]), /1 unexpected bytes/],
      [craft(hdr('<f4', '(100000, 100000, 100000, 100000, 100000)')), /truncated data/],
      [craft(`{'descr': '<f4', 'shape': (1,)}`, [0, 0, 0, 0]), /fortran_order' is missing/],
      [craft(`{'descr': '<f4', 'fortran_order': False}`, [0, 0, 0, 0]), /'shape' is missing/],
      [craft(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,) `), /expected ',' or '}'/],
      [craft(`{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (1,)}`), /bad .npy header/],
      [craft(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} extra`), /trailing characters/],
      [craft(`{'descr': '<f4\\n', 'fortran_order': False, 'shape': (1,)}`), /escape/],
      [craft(`{'descr': '<f4', 'fortran_order': False, 'shape': ((((((1,),),),),),)}`), /nested too deeply/],
      [craft(`{'descr': '<f4', 'fortran_order': False, 'shape': (${new Array(65).fill(1).join(',')})}`), /more than 64/],
      [craft(`{'descr': '<f4', 'fortran_order': False, 'shape': (123456789012345678901234567890,)}`), /too large/],
      [craft(hdr('<f4', '(1,)'), [], 4), /unsupported .npy format version 4.0/],
    ];
    for (const [bytes, re] of cases) {
      const e = npyError(() => readNpy(bytes, 'x.npy'));
      expect(e.message).toMatch(/^x\.npy: /);
      expect(e.message).toMatch(re);
    }
    // Header lengths past the end or above the limit.
    const cut = craft(hdr('<f4', '(1,)'), [0, 0, 0, 0]).subarray(0, 30);
    expect(npyError(() => readNpy(cut)).message).toMatch(/truncated .npy header/);
    const huge = new Uint8Array(16);
    huge.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff, 0xff, 0x7f]);
    expect(npyError(() => readNpy(huge)).message).toMatch(/exceeds the limit/);
    expect(npyError(() => readNpy(new Uint8Array(3))).message).toMatch(/magic/);
  });
});

describe('writeNpy', () => {
  it('round trips float32 by default, with a numpy-style 64-byte aligned header', () => {
    const p = join(dir, 'a.npy');
    const data = Float32Array.from({ length: 24 }, (_, i) => i * 0.25 - 1);
    writeNpy(p, [2, 3, 4], data);
    const bytes = readFileSync(p);
    const headerLen = bytes.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    expect(bytes.subarray(10, 10 + headerLen).toString('latin1')).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3, 4\), \} *\n$/);
    const back = readNpy(p);
    expect(back).toEqual({ shape: [2, 3, 4], dtype: 'float32', data });
    // plain numbers are written as float32
    writeNpy(p, [2], [0.1, 2]);
    expect(readNpy(p).data).toEqual(Float32Array.of(0.1, 2));
  });

  it('round trips every dtype, 0-d, 1-d and empty arrays', () => {
    const d = [-3, 0, 1, 2, 100, 7];
    const types = ['float64', 'int8', 'int16', 'int32', 'uint8', 'uint16', 'uint32', 'bool'] as const;
    for (const t of types) {
      const vals = t.startsWith('u') ? d.map(Math.abs) : t === 'bool' ? d.map((x) => (x ? 1 : 0)) : d;
      const a = readNpy(encodeNpy([3, 2], vals, t));
      expect(a.dtype).toBe(t);
      expect(Array.from(a.data as ArrayLike<number>)).toEqual(vals);
    }
    const i64 = readNpy(encodeNpy([2], [-(2n ** 62n), 5n], 'int64'));
    expect(i64.data).toEqual(BigInt64Array.of(-(2n ** 62n), 5n));
    expect(readNpy(encodeNpy([], [7])).shape).toEqual([]);
    expect(readNpy(encodeNpy([5], [1, 2, 3, 4, 5])).shape).toEqual([5]);
    const e = readNpy(encodeNpy([0, 3], []));
    expect(e.shape).toEqual([0, 3]);
    expect(e.data.length).toBe(0);
    // A header too long for version 1.0 is written as 2.0.
    const many = readNpy(encodeNpy(new Array(64).fill(1), [4]));
    expect(many.shape.length).toBe(64);
  });

  it('checks shape against data', () => {
    expect(() => encodeNpy([2, 2], [1, 2, 3])).toThrow(NpyError);
    expect(() => encodeNpy([-1], [])).toThrow(/bad dimension/);
  });

  it('writes atomically and leaves no temp files', () => {
    const sub = join(dir, 'atomic');
    mkdirSync(sub);
    const p = join(sub, 'x.npy');
    writeNpy(p, [1], [1]);
    writeNpy(p, [2], [1, 2]); // replaces
    expect(readNpy(p).shape).toEqual([2]);
    expect(readdirSync(sub)).toEqual(['x.npy']);
  });
});

describe('writeFileAtomic', () => {
  it('writes bytes and strings, replacing the old file', () => {
    const p = join(dir, 'f.bin');
    writeFileAtomic(p, Uint8Array.of(1, 2, 3));
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3]);
    writeFileAtomic(p, 'hello');
    expect(readFileSync(p, 'utf8')).toBe('hello');
  });

  it('removes the temp file when the rename fails, and fails for a missing folder', () => {
    const sub = join(dir, 'fail');
    mkdirSync(join(sub, 'target'), { recursive: true });
    writeFileSync(join(sub, 'target', 'keep'), 'x'); // a non-empty folder cannot be replaced by a file
    expect(() => writeFileAtomic(join(sub, 'target'), 'data')).toThrow();
    expect(readdirSync(sub)).toEqual(['target']);
    expect(() => writeFileAtomic(join(dir, 'no', 'such', 'dir', 'f'), 'x')).toThrow();
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });
});
