import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, encodeMessage, readBinaryFile, MAX_DEPTH } from '../src/format/binary.js';
import { messagesDiff } from '../src/format/equal.js';
import { fromObject, has, Long, messageType, newMessage, protobuf, type Message } from '../src/proto/schema.js';
import { DecodeError } from '../src/util/errors.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
// Byte-identical copies of the model zoo's lenet_mnist_trained_everpeace_2014 (V1) and
// lenet_mnist_trained_ethereon (V2) lenet_iter_10000.caffemodel.
const V1_MODEL = join(FIXTURES, 'trained', 'lenet_mnist_everpeace_2014_v1', 'test', 'weights.caffemodel');
const V2_MODEL = join(FIXTURES, 'demo', 'lenet_iter_10000.caffemodel');
// A mean image written by BVLC Caffe (legacy 1x3x8x8 BlobProto).
const MEAN = join(FIXTURES, 'means', 'mean_3x8x8.binaryproto');

// ---- a tiny wire writer for hand-made inputs ----
class W {
  bytes: number[] = [];
  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x) b |= 0x80;
      this.bytes.push(b);
    } while (x);
    return this;
  }
  tag(field: number, wt: number): this {
    return this.varint(field * 8 + wt);
  }
  f32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes.push(...b);
    return this;
  }
  f64(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.bytes.push(...b);
    return this;
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]);
    return this;
  }
  len(field: number, body: W | ArrayLike<number>): this {
    const b = body instanceof W ? body.bytes : Array.from(body);
    return this.tag(field, 2).varint(b.length).raw(b);
  }
  str(field: number, s: string): this {
    return this.len(field, Buffer.from(s, 'utf8'));
  }
  u8(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function expectEqual(a: Message, b: Message, type: string): void {
  expect(messagesDiff(a, b, type)).toBeNull();
}

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

/** A protobufjs oracle: the library's own decoder, for cross-checking. */
function oracle(bytes: Uint8Array, type: string): Message {
  return messageType(type).decode(bytes) as Message;
}

describe('binary decode: real files', () => {
  it('decodes a V2 caffemodel (LeNet, ethereon): layer names, blob shapes and counts', () => {
    const net = readBinaryFile(V2_MODEL, 'NetParameter');
    expect(net).toBeInstanceOf(messageType('NetParameter').ctor);
    expect(net.name).toBe('LeNet');
    expect(net.layer.map((l: Message) => l.name)).toEqual(['mnist', 'conv1', 'pool1', 'conv2', 'pool2', 'ip1', 'relu1', 'ip2', 'loss']);
    const shapes = Object.fromEntries(
      net.layer
        .filter((l: Message) => l.blobs.length)
        .map((l: Message) => [l.name, l.blobs.map((b: Message) => b.shape.dim.map(Number))]),
    );
    expect(shapes).toEqual({
      conv1: [[20, 1, 5, 5], [20]],
      conv2: [[50, 20, 5, 5], [50]],
      ip1: [[500, 800], [500]],
      ip2: [[10, 500], [10]],
    });
    for (const l of net.layer) {
      for (const b of l.blobs) {
        expect(b.data).toBeInstanceOf(Float32Array);
        expect(b.data.length).toBe(b.shape.dim.reduce((p: number, d: number) => p * d, 1));
        expect(b.double_data).toBeInstanceOf(Float64Array);
      }
    }
    expect(net.layer[1].type).toBe('Convolution');
    expect(net.layer[1].convolution_param.num_output).toBe(20);
    // Same content as protobufjs's own decoder.
    expectEqual(net, oracle(readFileSync(V2_MODEL), 'NetParameter'), 'NetParameter');
  });

  it('decodes a V1 caffemodel (LeNet, everpeace 2014): layers with num/channels/height/width', () => {
    const net = readBinaryFile(V1_MODEL, 'NetParameter');
    expect(net.layer).toEqual([]);
    expect(net.layers.map((l: Message) => l.name)).toEqual(['mnist', 'conv1', 'pool1', 'conv2', 'pool2', 'ip1', 'relu1', 'ip2', 'loss']);
    const conv1 = net.layers[1];
    expect(conv1.type).toBe(4); // V1LayerParameter.LayerType.CONVOLUTION
    const dims = conv1.blobs.map((b: Message) => [b.num, b.channels, b.height, b.width]);
    expect(dims).toEqual([
      [20, 1, 5, 5],
      [1, 1, 1, 20],
    ]);
    expect(conv1.blobs[0].data.length).toBe(500);
    expect(has(conv1.blobs[0], 'shape')).toBe(false);
    const ip1 = net.layers[5];
    expect(ip1.blobs.map((b: Message) => [b.num, b.channels, b.height, b.width])).toEqual([
      [1, 1, 500, 800],
      [1, 1, 1, 500],
    ]);
    expectEqual(net, oracle(readFileSync(V1_MODEL), 'NetParameter'), 'NetParameter');
  });

  it('re-encodes decoded caffemodels byte for byte (field order and packing as Caffe)', () => {
    for (const file of [V1_MODEL, V2_MODEL]) {
      const bytes = readFileSync(file);
      const net = decodeMessage(bytes, 'NetParameter', file);
      const again = encodeMessage(net, 'NetParameter');
      expectEqual(decodeMessage(again, 'NetParameter'), net, 'NetParameter');
      expect(Buffer.compare(Buffer.from(again), bytes)).toBe(0);
    }
  });

  it('decodes a .binaryproto mean as BlobProto (1x3x8x8)', () => {
    const mean = readBinaryFile(MEAN, 'BlobProto');
    expect([mean.num, mean.channels, mean.height, mean.width]).toEqual([1, 3, 8, 8]);
    expect(mean.data).toBeInstanceOf(Float32Array);
    expect(mean.data.length).toBe(3 * 8 * 8);
    // a mean of 8-bit pixels
    for (const v of mean.data) expect(v >= 0 && v <= 255).toBe(true);
    const ref = oracle(readFileSync(MEAN), 'BlobProto');
    expect(Array.from(mean.data.subarray(0, 100))).toEqual(ref.data.slice(0, 100));
    expectEqual(mean, ref, 'BlobProto');
  });

  it('copies float data whatever the alignment of the input bytes', () => {
    const bytes = readFileSync(MEAN);
    for (const shift of [1, 2, 3]) {
      const buf = new Uint8Array(bytes.length + shift);
      buf.set(bytes, shift);
      const m = decodeMessage(buf.subarray(shift), 'BlobProto');
      expect(m.data.length).toBe(192);
      expect(m.data.buffer).not.toBe(buf.buffer); // a copy, not a view of the input
    }
  });
});

describe('binary decode: wire semantics', () => {
  it('accepts packed and unpacked floats and concatenates chunks in order', () => {
    const w = new W()
      .tag(5, 5).f32(1.5) // unpacked
      .tag(5, 5).f32(2.5)
      .tag(1, 0).varint(7) // another field in between
      .len(5, new W().f32(3).f32(4).f32(5)) // packed chunk
      .tag(5, 5).f32(6)
      .len(5, []) // empty packed chunk
      .len(5, new W().f32(7));
    const m = decodeMessage(w.u8(), 'BlobProto');
    expect(m.data).toBeInstanceOf(Float32Array);
    expect(Array.from(m.data)).toEqual([1.5, 2.5, 3, 4, 5, 6, 7]);
    expect(m.num).toBe(7);
    expect(m.diff).toBeInstanceOf(Float32Array);
    expect(m.diff.length).toBe(0);
    expect(has(m, 'diff')).toBe(false);
  });

  it('reads long unpacked float runs (counted first, then filled)', () => {
    const w = new W();
    for (let i = 0; i < 1000; i++) w.tag(5, 5).f32(i * 0.5);
    w.tag(6, 5).f32(-1);
    for (let i = 1000; i < 1500; i++) w.tag(5, 5).f32(i * 0.5);
    const m = decodeMessage(w.u8(), 'BlobProto');
    expect(m.data.length).toBe(1500);
    expect(m.data[1499]).toBe(749.5);
    expect(Array.from(m.diff)).toEqual([-1]);
  });

  it('reads double_data / double_diff, packed and unpacked, as Float64Array', () => {
    const w = new W()
      .len(8, new W().f64(Math.PI).f64(-1e300))
      .tag(8, 1).f64(1 / 3)
      .tag(9, 1).f64(2 ** -1070);
    const m = decodeMessage(w.u8(), 'BlobProto');
    expect(m.double_data).toBeInstanceOf(Float64Array);
    expect(Array.from(m.double_data)).toEqual([Math.PI, -1e300, 1 / 3]);
    expect(Array.from(m.double_diff)).toEqual([2 ** -1070]);
    const again = decodeMessage(encodeMessage(m, 'BlobProto'), 'BlobProto');
    expect(Array.from(again.double_data)).toEqual([Math.PI, -1e300, 1 / 3]);
  });

  it('accepts packed and unpacked repeated ints, int64 dims as numbers or Long', () => {
    const conv = new W().tag(4, 0).varint(3).len(4, new W().varint(5).varint(300)).tag(4, 0).varint(1);
    const layer = new W().str(1, 'c').len(106, conv);
    const m = decodeMessage(layer.u8(), 'LayerParameter');
    expect(m.convolution_param.kernel_size).toEqual([3, 5, 300, 1]);

    const shape = new W().len(1, new W().varint(2).varint(2n ** 40n).varint(2n ** 60n)).tag(1, 0).varint(-5);
    const s = decodeMessage(shape.u8(), 'BlobShape');
    expect(s.dim[0]).toBe(2);
    expect(s.dim[1]).toBe(2 ** 40);
    expect(Long.isLong(s.dim[2])).toBe(true);
    expect(s.dim[2].toString()).toBe((2n ** 60n).toString());
    expect(s.dim[3]).toBe(-5);
    const again = decodeMessage(encodeMessage(s, 'BlobShape'), 'BlobShape');
    expectEqual(again, s, 'BlobShape');
  });

  it('last value wins for singular fields; singular sub-messages merge', () => {
    const w = new W()
      .str(1, 'first')
      .len(106, new W().tag(1, 0).varint(10).tag(4, 0).varint(3))
      .str(1, 'second')
      .len(106, new W().tag(2, 0).varint(0).tag(4, 0).varint(5).tag(1, 0).varint(20));
    const m = decodeMessage(w.u8(), 'LayerParameter');
    expect(m.name).toBe('second');
    expect(m.convolution_param.num_output).toBe(20);
    expect(m.convolution_param.bias_term).toBe(false);
    expect(m.convolution_param.kernel_size).toEqual([3, 5]);
  });

  it('merges repeated floats of a singular sub-message that appears twice', () => {
    const t1 = new W().len(5, new W().f32(1).f32(2)).tag(1, 5).f32(0.5);
    const t2 = new W().tag(5, 5).f32(3).tag(2, 0).varint(1);
    const m = decodeMessage(new W().len(100, t1).str(1, 'x').len(100, t2).u8(), 'LayerParameter');
    expect(Array.from(m.transform_param.mean_value)).toEqual([1, 2, 3]);
    expect(m.transform_param.mean_value).toBeInstanceOf(Float32Array);
    expect(m.transform_param.scale).toBe(0.5);
    expect(m.transform_param.mirror).toBe(true);
    // Repeated sub-messages do not merge: each occurrence is a new element.
    const h = decodeMessage(new W().len(3, new W().len(5, new W().f32(1))).len(3, new W().tag(5, 5).f32(2)).u8(), 'SolverState');
    expect(h.history.map((b: Message) => Array.from(b.data))).toEqual([[1], [2]]);
  });

  it('skips unknown fields of every wire type and keeps nothing', () => {
    const w = new W()
      .tag(999, 0).varint(2n ** 63n)
      .tag(998, 1).f64(1)
      .len(997, [1, 2, 3])
      .tag(996, 5).f32(1)
      .str(1, 'x');
    const m = decodeMessage(w.u8(), 'LayerParameter');
    expect(m.name).toBe('x');
    expect(Object.keys(m).filter((k) => !Array.isArray(m[k]) && !ArrayBuffer.isView(m[k]))).toEqual(['name']);
  });

  it('treats unknown enum values as unknown fields (proto2)', () => {
    const m = decodeMessage(new W().tag(10, 0).varint(7).u8(), 'LayerParameter');
    expect(has(m, 'phase')).toBe(false);
    const n = decodeMessage(new W().tag(10, 0).varint(1).u8(), 'LayerParameter');
    expect(n.phase).toBe(1);
  });

  it('decodes negative int32 (10-byte varints), bools, strings as UTF-8, bytes as copies', () => {
    // In field-number order, so that re-encoding reproduces it.
    const input = new W().tag(1, 0).varint(-3).len(4, [0, 255, 7]).tag(5, 0).varint(-(2 ** 31)).tag(7, 0).varint(1).u8();
    const m = decodeMessage(input, 'Datum');
    expect(m.channels).toBe(-3);
    expect(m.label).toBe(-(2 ** 31));
    expect(m.encoded).toBe(true);
    expect(m.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(m.data)).toEqual([0, 255, 7]);
    expect(m.data.buffer).not.toBe(input.buffer);
    expect(Array.from(encodeMessage(m, 'Datum'))).toEqual(Array.from(input));
    const s = decodeMessage(new W().str(1, 'é✓ name').u8(), 'NetParameter');
    expect(s.name).toBe('é✓ name');
    expect(decodeMessage(encodeMessage(s, 'NetParameter'), 'NetParameter').name).toBe('é✓ name');
  });

  it('defaults read through the prototype; presence is an own property', () => {
    const m = decodeMessage(new W().str(1, 'l').u8(), 'LayerParameter');
    expect(m.convolution_param).toBeNull();
    expect(has(m, 'name')).toBe(true);
    expect(has(m, 'type')).toBe(false);
    expect(m.type).toBe('');
    const c = decodeMessage(new Uint8Array(0), 'ConvolutionParameter');
    expect(c.bias_term).toBe(true);
    expect(has(c, 'bias_term')).toBe(false);
  });
});

describe('binary decode: hostile input', () => {
  const name = 'bad.caffemodel';

  it('truncated data at every cut point of a real model prefix throws DecodeError with an offset', () => {
    const bytes = readFileSync(V2_MODEL).subarray(0, 600);
    // The first 600 bytes end inside a blob: decoding the prefix must fail cleanly.
    let n = 0;
    for (let cut = 1; cut < bytes.length; cut += 7) {
      try {
        decodeMessage(bytes.subarray(0, cut), 'NetParameter', name);
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
        const d = e as DecodeError;
        expect(d.file).toBe(name);
        expect(d.offset).toBeGreaterThanOrEqual(0);
        expect(d.offset).toBeLessThanOrEqual(cut);
        n++;
      }
    }
    expect(n).toBeGreaterThan(50);
    const e = decodeError(() => decodeMessage(new W().tag(5, 5).raw([0, 0]).u8(), 'BlobProto', name));
    expect(e.offset).toBe(1);
    expect(e.message).toMatch(/truncated/);
    expect(e.message).toContain(name);
  });

  it('rejects varints longer than 10 bytes', () => {
    const e = decodeError(() => decodeMessage(new W().tag(1, 0).raw([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).u8(), 'BlobProto'));
    expect(e.offset).toBe(1);
    expect(e.detail).toMatch(/more than 10 bytes/);
    const t = decodeError(() => decodeMessage(new W().tag(1, 0).raw([0x80, 0x80]).u8(), 'BlobProto'));
    expect(t.detail).toMatch(/truncated varint/);
  });

  it('rejects lengths past the end and giant declared lengths before allocating', () => {
    const e = decodeError(() => decodeMessage(new W().tag(1, 2).varint(100).raw([1, 2, 3]).u8(), 'NetParameter'));
    expect(e.offset).toBe(1);
    expect(e.detail).toMatch(/length 100 .* exceeds the 3 bytes remaining/);
    const g = decodeError(() => decodeMessage(new W().tag(5, 2).varint(2n ** 62n).u8(), 'BlobProto'));
    expect(g.offset).toBe(1);
    expect(g.detail).toMatch(/exceeds the 0 bytes remaining/);
    // Nested: the inner length is checked against the sub-message's end, not the file's.
    const inner = new W().tag(1, 2).varint(50).raw(new Array(10).fill(0));
    const n = decodeError(() => decodeMessage(new W().len(100, inner).raw(new Array(60).fill(0)).u8(), 'NetParameter'));
    expect(n.offset).toBe(4);
  });

  it('rejects wrong wire types for known fields', () => {
    const e = decodeError(() => decodeMessage(new W().str(1, 'a').tag(2, 5).f32(1).u8(), 'LayerParameter', name));
    expect(e.offset).toBe(3);
    expect(e.detail).toMatch(/LayerParameter\.type .*expected length-delimited, found 32-bit/);
    const f = decodeError(() => decodeMessage(new W().tag(5, 1).f64(1).u8(), 'BlobProto'));
    expect(f.detail).toMatch(/expected 32-bit or packed, found 64-bit/);
    const s = decodeError(() => decodeMessage(new W().len(1, [1]).u8(), 'BlobProto')); // num is int32
    expect(s.detail).toMatch(/BlobProto\.num/);
    const m = decodeError(() => decodeMessage(new W().tag(7, 0).varint(1).u8(), 'BlobProto')); // shape
    expect(m.detail).toMatch(/BlobProto\.shape/);
  });

  it('rejects groups, invalid wire types and field number 0', () => {
    for (const wt of [3, 4]) {
      const e = decodeError(() => decodeMessage(new W().str(1, 'n').tag(500, wt).u8(), 'NetParameter'));
      expect(e.offset).toBe(3);
      expect(e.detail).toMatch(/group/);
      decodeError(() => decodeMessage(new W().tag(1, wt).u8(), 'NetParameter'));
    }
    for (const wt of [6, 7]) {
      const e = decodeError(() => decodeMessage(new W().tag(500, wt).u8(), 'NetParameter'));
      expect(e.detail).toMatch(/invalid wire type/);
    }
    const z = decodeError(() => decodeMessage(new W().tag(0, 0).varint(1).u8(), 'NetParameter'));
    expect(z.detail).toMatch(/field number 0/);
  });

  it('rejects packed runs whose length is not a multiple of the element size', () => {
    const e = decodeError(() => decodeMessage(new W().len(5, [0, 0, 0, 0, 0, 0]).u8(), 'BlobProto'));
    expect(e.detail).toMatch(/not a multiple of 4/);
    const d = decodeError(() => decodeMessage(new W().len(8, [0, 0, 0, 0]).u8(), 'BlobProto'));
    expect(d.detail).toMatch(/not a multiple of 8/);
    // A varint that runs past the end of its packed run.
    const v = decodeError(() => decodeMessage(new W().len(1, [0x80]).tag(1, 0).varint(1).u8(), 'BlobShape'));
    expect(v.detail).toMatch(/truncated varint/);
  });

  it('rejects nesting deeper than 100 levels', () => {
    const root = protobuf.parse('syntax = "proto2"; message Node { optional Node child = 1; optional int32 v = 2; }', { keepCase: true }).root;
    const Node = root.lookupType('Node');
    const nest = (levels: number) => {
      // Built from the inside out, prefixes collected in reverse (linear time).
      const inner = new W().tag(2, 0).varint(levels).bytes;
      const prefixes: number[][] = [];
      let size = inner.length;
      for (let i = 0; i < levels; i++) {
        const pre = new W().tag(1, 2).varint(size).bytes;
        prefixes.push(pre);
        size += pre.length;
      }
      return Uint8Array.from([...prefixes.reverse().flat(), ...inner]);
    };
    let m = decodeMessage(nest(MAX_DEPTH), Node);
    for (let i = 0; i < MAX_DEPTH; i++) m = m.child;
    expect(m.v).toBe(MAX_DEPTH);
    const e = decodeError(() => decodeMessage(nest(MAX_DEPTH + 1), Node));
    expect(e.detail).toMatch(/deeper than 100/);
    decodeError(() => decodeMessage(nest(20000), Node)); // no stack overflow
  });

  it('decodes giant BlobShape dims (they are just numbers)', () => {
    const s = decodeMessage(new W().len(1, new W().varint(2n ** 62n).varint(2n ** 62n)).u8(), 'BlobShape');
    expect(s.dim.length).toBe(2);
  });

  it('fuzz: random corruption of a valid message throws only DecodeError, never hangs or crashes', () => {
    const net = fromObject('NetParameter', {
      name: 'fuzz',
      layer: [
        { name: 'c', type: 'Convolution', bottom: ['data'], top: ['c'], loss_weight: [1, 2], convolution_param: { num_output: 3, kernel_size: [3], weight_filler: { type: 'xavier' } }, blobs: [{ shape: { dim: [3, 1, 3, 3] }, data: Array.from({ length: 27 }, (_, i) => i) }] },
        { name: 'p', type: 'Pooling', pooling_param: { pool: 'AVE' }, include: [{ phase: 'TEST', stage: ['x'] }] },
      ],
    });
    const good = encodeMessage(net, 'NetParameter');
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let errors = 0;
    for (let iter = 0; iter < 3000; iter++) {
      const b = Uint8Array.from(good);
      const edits = 1 + rnd(4);
      for (let k = 0; k < edits; k++) b[rnd(b.length)] = rnd(4) === 0 ? 0xff : rnd(256);
      const cut = rnd(8) === 0 ? rnd(b.length) : b.length;
      try {
        decodeMessage(b.subarray(0, cut), 'NetParameter', 'fuzz');
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        expect(e.offset).toBeLessThanOrEqual(cut);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(100);
  });

  it('readBinaryFile names the path in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'caffe-ts-binary-'));
    try {
      const p = join(dir, 'cut.caffemodel');
      writeFileSync(p, readFileSync(V2_MODEL).subarray(0, 1000));
      const e = decodeError(() => readBinaryFile(p, 'NetParameter'));
      expect(e.file).toBe(p);
      expect(e.message).toContain(p);
      const missing = decodeError(() => readBinaryFile(join(dir, 'missing.caffemodel'), 'NetParameter'));
      expect(missing.message).toMatch(/missing\.caffemodel: at byte 0: cannot read the file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('binary encode', () => {
  it('round trips messages of every field kind', () => {
    const solver = fromObject('SolverParameter', {
      net: 'n.prototxt',
      test_iter: [10, 20],
      base_lr: 0.01,
      momentum: 0.9,
      random_seed: -1,
      solver_mode: 'CPU',
      type: 'Adam',
      max_iter: 2 ** 31 - 1,
      debug_info: true,
      net_param: { name: 'inner', layer: [{ name: 'a', type: 'ReLU', relu_param: { negative_slope: 0.1 } }] },
    });
    const bytes = encodeMessage(solver, 'SolverParameter');
    const back = decodeMessage(bytes, 'SolverParameter');
    expectEqual(back, solver, 'SolverParameter');
    expect(back.random_seed).toBe(-1);
    expect(back.base_lr).toBe(Math.fround(0.01));
    // protobufjs reads what we write.
    expectEqual(oracle(bytes, 'SolverParameter'), solver, 'SolverParameter');
  });

  it('writes fields in number order; packed only where the schema says packed', () => {
    const layer = newMessage('LayerParameter');
    layer.convolution_param = fromObject('ConvolutionParameter', { kernel_size: [3, 3] });
    layer.loss_weight = Float32Array.of(1, 2);
    layer.name = 'z';
    const blob = newMessage('BlobProto');
    blob.data = Float32Array.of(1, 2, 3);
    blob.num = 1;
    layer.blobs = [blob];
    const bytes = encodeMessage(layer, 'LayerParameter');
    const tags: number[] = [];
    // Walk the top level.
    let p = 0;
    const rv = () => {
      let x = 0;
      let s = 0;
      let b: number;
      do {
        b = bytes[p++];
        x += (b & 0x7f) * 2 ** s;
        s += 7;
      } while (b & 0x80);
      return x;
    };
    while (p < bytes.length) {
      const t = rv();
      tags.push(t);
      if ((t & 7) === 2) {
        const n = rv();
        p += n;
      } else if ((t & 7) === 5) p += 4;
      else rv();
    }
    // name(1), loss_weight(5) unpacked twice, blobs(7), convolution_param(106)
    expect(tags.map((t) => [t >>> 3, t & 7])).toEqual([[1, 2], [5, 5], [5, 5], [7, 2], [106, 2]]);
    // Inside the blob: num(1) then data(5) packed once.
    const blobBytes = encodeMessage(blob, 'BlobProto');
    expect(Array.from(blobBytes.subarray(0, 4))).toEqual([0x08, 0x01, 0x2a, 12]);
    // kernel_size (repeated uint32, not packed) unpacked.
    expect(Array.from(encodeMessage(layer.convolution_param, 'ConvolutionParameter'))).toEqual([0x20, 3, 0x20, 3]);
    expectEqual(decodeMessage(bytes, 'LayerParameter'), layer, 'LayerParameter');
  });

  it('presence is per own property: defaults set explicitly are written, unset ones are not', () => {
    const c = newMessage('ConvolutionParameter');
    expect(encodeMessage(c, 'ConvolutionParameter').length).toBe(0);
    c.bias_term = true; // the default, but set
    const back = decodeMessage(encodeMessage(c, 'ConvolutionParameter'), 'ConvolutionParameter');
    expect(has(back, 'bias_term')).toBe(true);
  });

  it('writes float arrays given as plain arrays, and Long / bigint / string int64 values', () => {
    const blob = newMessage('BlobProto');
    blob.data = [1, 2.5];
    blob.shape = newMessage('BlobShape');
    blob.shape.dim = [Long.fromString('1152921504606846976'), 3n, '7'];
    const back = decodeMessage(encodeMessage(blob, 'BlobProto'), 'BlobProto');
    expect(Array.from(back.data)).toEqual([1, 2.5]);
    expect(back.shape.dim.map(String)).toEqual(['1152921504606846976', '3', '7']);
  });

  it('round trips a large float blob by bulk copy', () => {
    const blob = newMessage('BlobProto');
    blob.data = new Float32Array(1 << 20).map((_, i) => Math.sin(i));
    blob.diff = blob.data.subarray(5, 1000); // a view at an offset
    const back = decodeMessage(encodeMessage(blob, 'BlobProto'), 'BlobProto');
    expect(back.data.length).toBe(blob.data.length);
    expect(Buffer.compare(Buffer.from(back.data.buffer), Buffer.from(blob.data.buffer))).toBe(0);
    expect(Array.from(back.diff)).toEqual(Array.from(blob.diff));
  });
});

describe('binary decode in place (DecodeOptions.inPlace)', () => {
  const files = [
    'fork/trained/ultraface_slim320_2/test/weights.caffemodel',
    'fork/zoo/opencv_face_detector_res10/test/weights.caffemodel',
    'zoo/squeezenet_v1.1/test/weights.caffemodel',
    'demo/lenet_iter_10000.caffemodel',
  ].map((f) => join(import.meta.dirname, '..', 'fixtures', f));

  it('gives the same messages as the copying decode, at every alignment of the input', () => {
    for (const f of files) {
      const bytes = readFileSync(f);
      const want = decodeMessage(bytes, 'NetParameter', f);
      for (let shift = 0; shift < 4; shift++) {
        const own = new Uint8Array(bytes.length + shift);
        own.set(bytes, shift);
        const got = decodeMessage(own.subarray(shift), 'NetParameter', f, { inPlace: true });
        expect(messagesDiff(got, want, 'NetParameter'), `${f} at offset ${shift}`).toBeNull();
      }
    }
  });

  it('views large runs in the given buffer (aligned) and copies small ones', () => {
    const bytes = new Uint8Array(readFileSync(files[2]));
    const msg = decodeMessage(bytes, 'NetParameter', files[2], { inPlace: true });
    let views = 0;
    let copies = 0;
    for (const layer of msg.layer as Message[]) {
      for (const b of layer.blobs as Message[]) {
        const d = b.data as Float32Array;
        if (d.buffer === bytes.buffer) {
          views++;
          expect(d.byteOffset % 4).toBe(0);
          expect(d.byteLength).toBeGreaterThanOrEqual(4096);
        } else if (d.length) {
          copies++;
          expect(d.byteLength).toBeLessThan(4096);
        }
      }
    }
    expect(views).toBeGreaterThan(0);
    expect(copies).toBeGreaterThan(0);
  });

  it('leaves the input alone without the option, and errors name the same offsets with it', () => {
    const bytes = new Uint8Array(readFileSync(files[3]));
    const before = bytes.slice();
    decodeMessage(bytes, 'NetParameter', 'w');
    expect(Buffer.compare(bytes, before)).toBe(0);
    const cut = bytes.slice(0, 20000);
    let plain = '';
    let inPlace = '';
    try { decodeMessage(cut.slice(), 'NetParameter', 'w'); } catch (e) { plain = (e as Error).message; }
    try { decodeMessage(cut.slice(), 'NetParameter', 'w', { inPlace: true }); } catch (e) { inPlace = (e as Error).message; }
    expect(plain).toMatch(/^w: at byte \d+/);
    expect(inPlace).toBe(plain);
  });
});
