// Data layers: Data (LMDB), ImageData, HDF5Data, HDF5Output, MemoryData, WindowData, the
// DataTransformer and the LMDB reader, on small data written here into a temp folder (LMDB with the
// `lmdb` package, images with pngjs plus a fixture JPEG, HDF5 with h5wasm), plus LeNet's real train/test
// prototxt and the BVLC Caffe reference cases in fixtures/data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { PNG } from 'pngjs';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { encodeMessage } from '../src/format/binary.js';
import { readNetParameter } from '../src/format/io.js';
import { decodeImage } from '../src/format/image.js';
import { fromObject, type Message } from '../src/proto/schema.js';
import { Rng, setSeed } from '../src/kernels/rng.js';
import { LayerError } from '../src/util/errors.js';
import { encodeDatum, decodeDatum, decodeImageBytes } from '../src/data/datum.js';
import { LmdbReader, forEachEntry } from '../src/data/lmdb.js';
import { resizeLinear } from '../src/data/resize.js';
import { DataTransformer } from '../src/data/transformer.js';
import { makeTransformConfig } from '../src/data/transform-config.js';
import type { MemoryDataLayer } from '../src/layers/memory-data.js';
import { caseTests, FIXTURES } from './helpers.js';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-data-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

let dirCount = 0;
function fresh(name: string): string {
  const d = join(tmp, `${name}-${dirCount++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Writes records into a new LMDB environment (folder) with the lmdb package. */
async function writeLmdb(records: [string, Uint8Array][], name = 'db'): Promise<string> {
  const path = join(fresh(name), 'data.lmdb');
  const db = openLmdb({ path, noSubdir: false, encoding: 'binary', keyEncoding: 'binary' });
  for (const [k, v] of records) db.putSync(Buffer.from(k), Buffer.from(v));
  await db.close();
  return path;
}

function net(layers: string, phase: 'TRAIN' | 'TEST' = 'TEST'): Net {
  return new Net(parseText(`name: "t" ${layers}`, 'NetParameter'), { phase });
}

/** A deterministic uint8 CHW image. */
function pixels(c: number, h: number, w: number, salt: number): Uint8Array {
  const out = new Uint8Array(c * h * w);
  for (let i = 0; i < out.length; i++) out[i] = (i * 37 + salt * 101 + ((i * i) % 13)) & 255;
  return out;
}

function key(i: number): string {
  return String(i).padStart(8, '0');
}

/** Datums 0..n-1 of c x h x w, label 10 + i, with keys in order. */
async function uint8Db(n: number, c: number, h: number, w: number): Promise<{ path: string; raw: Uint8Array[] }> {
  const raw = Array.from({ length: n }, (_, i) => pixels(c, h, w, i));
  const path = await writeLmdb(raw.map((d, i) => [key(i), encodeDatum({ channels: c, height: h, width: w, data: d, label: 10 + i })]));
  return { path, raw };
}

function dataLayer(source: string, opts: { batch: number; transform?: string; extra?: string; tops?: number }): string {
  const tops = opts.tops === 1 ? 'top: "data"' : 'top: "data" top: "label"';
  return `layer { name: "d" type: "Data" ${tops} ${opts.transform ? `transform_param { ${opts.transform} }` : ''}
    data_param { source: ${JSON.stringify(source)} backend: LMDB batch_size: ${opts.batch} ${opts.extra ?? ''} } }`;
}

function forwardBatches(n: Net, count: number): { data: Float32Array[]; label: Float32Array[]; shapes: number[][] } {
  const out = { data: [] as Float32Array[], label: [] as Float32Array[], shapes: [] as number[][] };
  for (let i = 0; i < count; i++) {
    n.forward();
    out.data.push(Float32Array.from(n.blob('data').data));
    out.shapes.push(n.blob('data').shape.slice());
    if (n.blobs.has('label')) out.label.push(Float32Array.from(n.blob('label').data));
  }
  return out;
}

function pngBytes(width: number, height: number, rgba: Uint8Array, colorType: 0 | 2 | 6): Uint8Array {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba);
  return PNG.sync.write(png, { colorType });
}

function rgbaImage(width: number, height: number, salt: number, gray = false): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const v = (i * 29 + salt * 53) & 255;
    out[4 * i] = v;
    out[4 * i + 1] = gray ? v : (v * 3 + 7) & 255;
    out[4 * i + 2] = gray ? v : (v * 5 + 11) & 255;
    out[4 * i + 3] = 255;
  }
  return out;
}

/** HWC interleaved pixels -> CHW floats. */
function chw(img: { width: number; height: number; channels: number; data: Uint8Array }): Float32Array {
  const { width: w, height: h, channels: c, data } = img;
  const out = new Float32Array(c * h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[(k * h + y) * w + x] = data[(y * w + x) * c + k];
  return out;
}

function crop(src: ArrayLike<number>, c: number, h: number, w: number, ho: number, wo: number, size: number, mirror: boolean): number[] {
  const out: number[] = [];
  for (let k = 0; k < c; k++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) out.push(src[(k * h + ho + y) * w + wo + (mirror ? size - 1 - x : x)]);
  return out;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 0): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (Math.abs(got[i] - want[i]) > tol) throw new Error(`index ${i}: got ${got[i]}, expected ${want[i]}`);
  }
}


/** data.mdb written by LMDB 0.9.24's mdb_load (format 1, as Caffe writes): 150 records 'r0000'..'r0149'
 * of 60 bytes ((i*13 + j) & 255), except 'r0077' of 6000 bytes on overflow pages; tree depth 2. gzip + base64. */
const LMDB_V1_GZ =
  'H4sICNZDCGsCA2RhdGEubWRiAO3de5RXUxQH8Pt7/+Y9kqkoKoQk9/1QkoQ8ipg8QpIUFY0kI3kUUSQMElEoJEmoKErCeEUUiUYy' +
  'XhWVR5JBWb/bdLvfEbpnX5a0v3/Mb5rqs+as1TrdPfvs85OkLUm7H5fNXTsnIvlT6L2kpa2/g39m66+z4atR7+sx7yubM6r6NVXj' +
  '70UlDofD4XA4HA6Hw+FwOGEnEqj+//tsqk7N+j9a47V79Wu8+jX5h++Hw+FwOBwOh8PhcDgcTliJ+j4rlTZIMwr6FDQuWJI/Mr9t' +
  'flXe1LweefXzFuYOy22Vuy5nUk7XnKKc+dlDsu3sNVkTsjpnFWaVpwel1fSK1NhUcSo7NTc5INksWZkYneiQiCdmxUviTeIVsbJY' +
  'u9jG6LRor2jD6OLIiEibyAZpitB329L9mJD6ybKhTnjo4UcmPjrpscmPT3li6pNPPT1t+oxnnp0567nnZ895Ye6L8156+ZXyV197' +
  '/Y0357/19oJ33l246L33F3+w5MOPllZ8vOwTkJS7Rt99z5h77xs77v4HHhwfkAVJvvGmETePvOXW28puv+POUQFZv6Q7V1519TWD' +
  'h1x73dDrbxg2PCALkl1ycb9L+l864LLSywdeMSggC5J1bvfzevQ8/4JevftceFHfgCxI5imnnnZ65zPOPKvL2V3P6RaQBck45tjj' +
  'jm/f4YQTO550cnGngCxIestDWx3W+vA2R7Q98qij2wVkQdIOlhVV0w3Tsp1DWgRkQVIb773Pvk322/+Apgc2O6h5QBYkZbeiOnXr' +
  '7b5H/QZ77tWwUUAWJDmdlZ2Tm5dfULhLrV1rB2T9kub88utvGzdJkWgsnkimArIg2WvWfvvd9z+s+3H9Txt+rgrIgmR9WvnZ5198' +
  '+dWKlau+/mZ1QBYk07/fLA/IgmT86Ta2HSxI+vbtjttmQdIENl2PBUkV2HQ9FiRFYNP1WJBkgU3XY/2S6ghsuh4Lki2w6XosSJbA' +
  'puuxIJkCm67HgmQIbLoeC5IusOl6LEiawKbrsSCpApuux4KkCGy6HguSLLDpeqxfUhyBTddjQbIFNl2PBckS2HQ9FiRTYNP1WJAM' +
  'gU3XY0HSBTZdjwVJE3yAdlmQVMEHaJcFSRF8gHZZkGTBB2iX9UuyI/gA7bIg2YIP0C4LkiX4AO2yIJmCD9AuC5Ih+ADtsiDpgg/Q' +
  'LguSJvgA7bIgqYIP0C4LkiL4AO2yIMmCD9Au653Lz9T/JVJxNHj9PzXdI10/vTA1LNUqtS45Kdk1WZScnxiSsBNr4hPineOF8fLY' +
  'oJgaWxEdGy3m4/07QXz/Oh0nRSgXQbKrCOUiSNZqQrkIkrmcUC6CZCwilIsg6eWEchEkbSahXARJnUwoF0FSxhHKRZDkMkK56Jds' +
  'ZyihXATJLiWUiyBZvQnlIkhmF0K5CJLRkVAugqS3JZSLIGkWoVwESW1KKBdBUhoQykWQ5EJCueiXLCdGKBdBstcTykWppE7mjOBm' +
  'yUps438cy6wglH4gGQsIpR9I+jxC6QeSNp1Q+oGkTiSUfiApYwilH0jySELp55dMZzCh9APJ7k8o/UCyehJKP5DMzoTSDySjPaH0' +
  'A0lvTSj9QNI0QukHktqEUPqBpNQjlH4gybmE0g+6jc4mQukHki3aO8mwIFmivZMMC5Ip2jvJsCAZor2TDAuSLto7ybAgaaK9kwwb' +
  'Yh887lVtEam2tKpgQ8GqAq5gORwOh8PhcDgcDofD2VET8//MwDv37/0IXYq7X1tJOYFF+WlbN8rhckpTcCmlX8Dr5/Xz+nn9vH5e' +
  'P6+f18/r5/Xz+nn9vH5eP6+f18/r5/Xz+nn9vH5e/7aP63M4HA6Hw+H8y0l5n0WkIqnCPf9fwRMAHA6Hw+FwOBwOh8Ph7DDJcj9m' +
  'TvwrslH97n01z/9vfU+/qDRQqpT+6fv/sqNzIwMizSKV0ui//N5b+r93SqMIJJ3Sf5rtlzRKW2uqX1Ip3bLxfkmhNOFG+SWZ0tsa' +
  'Htr9f4NCu/+vb2j3/3UL7f6/TqHd/9cutPv/WoR2/1/z0O7/axTa/X+1Q7v/LxXa/X9Vod3/tzq0+/+Wh3b/36LQ7v8rD+3+v5mh' +
  '3f83ObT7/8aFdv9fWWj3/w0N7f6/0tDu/+vN9//x/X98/x/f/8f3//H9f3z/H/3+vyxf/d9L2hjl9//j9//bGd//T9EdypFikGzK' +
  'SWWQLMoBaJBMyrlqkAzKcW2QdMopcJA0yuFykFTKmXWQFMpReJBkyglzv6Q5lIPrINmU8/AgWZRj9iCZlNP7IBmUoQCQdMqsAUga' +
  'ZYQBJJUyGQGSQhm4AEmmzHH4JdWhjIeAZFOmTkCyKMMsIJmUGRmQDMroDUg6ZaIHJI0yKASSSpk/AkmhjDWBJFOmhfyS4lCGkECy' +
  'KbNNIFmUkSmQTMokFkgGZcALJJ0yNwaSRhlHA0mlTLmBpFCG50CSKTN50Kt1KKN+INmUCUKQLMpgIkgmZd4xxO54tq/+ryUtKVjy' +
  'H+n/hxfu/3P/n/v/3P/n/j/3/7n/z/1/7v9z/5/7/9z/5/4/9///v/3/utWn+6Nedb85W97vL1Y9HvE7D/+MKQCwAAA=';

// ---------------------------------------------------------------------------------------------

describe('Caffe reference cases (fixtures/data)', () => caseTests(join(FIXTURES, 'data')));

describe('LMDB reader', () => {
  it("reads Caffe's format-1 databases", () => {
    const db = new LmdbReader(join(__dirname, '..', 'fixtures', 'data', 'lmdb_plain', 'test', 'data.lmdb'));
    expect(db.info.version).toBe(1);
    const keys: string[] = [];
    const c = db.cursor();
    while (c.valid) {
      keys.push(Buffer.from(c.key).toString());
      const d = decodeDatum(c.value);
      expect(d.channels * d.height * d.width).toBe(d.data.length);
      c.next();
    }
    db.close();
    expect(keys).toEqual(['00000000', '00000001', '00000002', '00000003', '00000004', '00000005']);
  });

  it('walks multi-level trees and overflow pages in byte order (format 2, lmdb package)', async () => {
    const recs: [string, Uint8Array][] = [];
    for (let i = 0; i < 1500; i++) {
      const big = i % 211 === 0;
      const v = new Uint8Array(big ? 9000 + i : 40 + (i % 7));
      v.fill(i & 255);
      v[0] = i >> 8;
      recs.push([`k${(i * 7919) % 1500}`, v]);
    }
    const path = await writeLmdb(recs);
    const db = new LmdbReader(path);
    expect(db.info.version).toBe(2);
    expect(db.entries).toBe(1500);
    expect(db.info.depth).toBeGreaterThan(1);
    db.close();
    const seen: string[] = [];
    forEachEntry(path, (k, v) => {
      seen.push(Buffer.from(k).toString());
      const rec = recs.find(([rk]) => rk === Buffer.from(k).toString())!;
      expect(Buffer.compare(Buffer.from(v), Buffer.from(rec[1]))).toBe(0);
    });
    expect(seen).toEqual(recs.map(([k]) => k).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  });

  it('reads a multi-level format-1 tree with overflow pages written by LMDB itself', () => {
    const dir = fresh('v1');
    writeFileSync(join(dir, 'data.mdb'), gunzipSync(Buffer.from(LMDB_V1_GZ, 'base64')));
    const db = new LmdbReader(dir);
    expect([db.info.version, db.info.depth, db.entries]).toEqual([1, 2, 150]);
    db.close();
    let i = 0;
    forEachEntry(dir, (k, v) => {
      expect(Buffer.from(k).toString()).toBe(`r${String(i).padStart(4, '0')}`);
      expect(v.length).toBe(i === 77 ? 6000 : 60);
      expect(v.every((b, j) => b === ((i * 13 + j) & 255))).toBe(true);
      i++;
    });
    expect(i).toBe(150);
  });

  it('reports missing and non-LMDB paths', () => {
    expect(() => new LmdbReader(join(tmp, 'nope'))).toThrow(/no such file/);
    const f = join(fresh('junk'), 'data.mdb');
    writeFileSync(f, Buffer.alloc(8192, 7));
    expect(() => new LmdbReader(f)).toThrow(/not an LMDB data file/);
  });
});

describe('Data layer (LMDB)', () => {
  it('reads uint8 datums in key order, with labels, wrapping at the end', async () => {
    const { path, raw } = await uint8Db(5, 2, 3, 4);
    const n = net(dataLayer(path, { batch: 3 }));
    expect(n.blob('data').shape).toEqual([3, 2, 3, 4]);
    expect(n.blob('label').shape).toEqual([3]);
    const { data, label } = forwardBatches(n, 3);
    const order = [[0, 1, 2], [3, 4, 0], [1, 2, 3]];
    order.forEach((items, b) => {
      expect(Array.from(label[b])).toEqual(items.map((i) => 10 + i));
      expectClose(data[b], items.flatMap((i) => Array.from(raw[i])));
    });
  });

  it('orders keys bytewise, not by insertion', async () => {
    const recs: [string, Uint8Array][] = ['b', 'a', 'ab', 'B', 'a0'].map((k, i) => [k, encodeDatum({ channels: 1, height: 1, width: 1, data: Uint8Array.of(i), label: i })]);
    const n = net(dataLayer(await writeLmdb(recs), { batch: 5 }));
    n.forward();
    // bytewise: 'B' < 'a' < 'a0' < 'ab' < 'b'
    expect(Array.from(n.blob('label').data)).toEqual([3, 1, 4, 2, 0]);
  });

  it('reads float_data datums and a single top', async () => {
    const vals = [Float32Array.of(0.5, -1.25, 3, 1e-3), Float32Array.of(7, 8, 9, 10)];
    const path = await writeLmdb(vals.map((v, i) => [key(i), encodeDatum({ channels: 1, height: 2, width: 2, floatData: v, label: i })]));
    const n = net(dataLayer(path, { batch: 2, tops: 1, transform: 'scale: 2' }));
    expect(n.blobs.has('label')).toBe(false);
    n.forward();
    expectClose(n.blob('data').data, [1, -2.5, 6, 2e-3, 14, 16, 18, 20].map(Math.fround));
  });

  it('decodes encoded PNG datums: as stored, force_color, force_gray', async () => {
    const w = 5;
    const h = 4;
    const color = pngBytes(w, h, rgbaImage(w, h, 1), 2);
    const gray = pngBytes(w, h, rgbaImage(w, h, 2, true), 0);
    const rgba = rgbaImage(w, h, 3);
    for (let i = 0; i < w * h; i++) rgba[4 * i + 3] = (i * 17) & 255;
    const alpha = pngBytes(w, h, rgba, 6);
    const db = await writeLmdb([
      [key(0), encodeDatum({ data: color, encoded: true, label: 1 })],
      [key(1), encodeDatum({ data: gray, encoded: true, label: 2 })],
      [key(2), encodeDatum({ data: alpha, encoded: true, label: 3 })],
    ]);
    // as stored: BGR, then gray (1 channel), then BGRA; each batch of 1 is shaped by its datum
    const n = net(dataLayer(db, { batch: 1 }));
    const out = forwardBatches(n, 3);
    expect(out.shapes).toEqual([[1, 3, h, w], [1, 1, h, w], [1, 4, h, w]]);
    expectClose(out.data[0], chw(decodeImage(color, true)));
    const g = rgbaImage(w, h, 2, true);
    expectClose(out.data[1], Array.from({ length: w * h }, (_, i) => g[4 * i]));
    const bgra: number[] = [];
    for (const k of [2, 1, 0, 3]) for (let i = 0; i < w * h; i++) bgra.push(rgba[4 * i + k]);
    expectClose(out.data[2], bgra);
    expect(Array.from(out.label.map((l) => l[0]))).toEqual([1, 2, 3]);

    const forced = forwardBatches(net(dataLayer(db, { batch: 3, transform: 'force_gray: true' })), 1);
    expect(forced.shapes[0]).toEqual([3, 1, h, w]);
    expectClose(forced.data[0].subarray(0, w * h), chw(decodeImage(color, false)));
    const fc = forwardBatches(net(dataLayer(db, { batch: 3, transform: 'force_color: true' })), 1);
    expect(fc.shapes[0]).toEqual([3, 3, h, w]);
    expectClose(fc.data[0].subarray(3 * w * h, 6 * w * h), chw(decodeImage(gray, true)));
    expect(() => net(dataLayer(db, { batch: 1, transform: 'force_color: true force_gray: true' }))).toThrow(/force_color and force_gray/);
  });

  it('TEST crops the centre; scale multiplies (pixel - mean_value)', async () => {
    const { path, raw } = await uint8Db(2, 3, 6, 7);
    const n = net(dataLayer(path, { batch: 2, transform: 'crop_size: 4 scale: 0.5 mean_value: 10 mean_value: 20 mean_value: 30' }));
    expect(n.blob('data').shape).toEqual([2, 3, 4, 4]);
    n.forward();
    const mv = [10, 20, 30];
    const want = [0, 1].flatMap((i) => crop(raw[i], 3, 6, 7, 1, 1, 4, false).map((x, j) => Math.fround((x - mv[Math.floor(j / 16)]) * 0.5)));
    expectClose(n.blob('data').data, want);
    // one mean_value for every channel
    const one = net(dataLayer(path, { batch: 1, transform: 'mean_value: 100' }));
    one.forward();
    expectClose(one.blob('data').data, Array.from(raw[0], (x) => x - 100));
    expect(() => forwardBatches(net(dataLayer(path, { batch: 1, transform: 'mean_value: 1 mean_value: 2' })), 1)).toThrow(/mean_value/);
  });

  it('mean_file is subtracted at the crop position; it excludes mean_value', async () => {
    const { path, raw } = await uint8Db(1, 2, 5, 5);
    const mean = Float32Array.from({ length: 50 }, (_, i) => i * 1.5 + 0.25);
    const meanFile = join(fresh('mean'), 'mean.binaryproto');
    writeFileSync(meanFile, encodeMessage(fromObject('BlobProto', { num: 1, channels: 2, height: 5, width: 5, data: Array.from(mean) }), 'BlobProto'));
    const n = net(dataLayer(path, { batch: 1, transform: `crop_size: 3 mean_file: ${JSON.stringify(meanFile)} scale: 0.25` }));
    n.forward();
    const x = crop(raw[0], 2, 5, 5, 1, 1, 3, false);
    const m = crop(mean, 2, 5, 5, 1, 1, 3, false);
    expectClose(n.blob('data').data, x.map((v, i) => Math.fround(Math.fround(v - m[i]) * 0.25)));
    expect(() => net(dataLayer(path, { batch: 1, transform: `mean_file: ${JSON.stringify(meanFile)} mean_value: 3` }))).toThrow(/mean_file and mean_value/);
    // a mean of the wrong size is reported
    const bad = join(fresh('mean'), 'bad.binaryproto');
    writeFileSync(bad, encodeMessage(fromObject('BlobProto', { num: 1, channels: 2, height: 4, width: 5, data: new Array(40).fill(0) }), 'BlobProto'));
    expect(() => forwardBatches(net(dataLayer(path, { batch: 1, transform: `mean_file: ${JSON.stringify(bad)}` })), 1)).toThrow(/mean_file is 2x4x5/);
  });

  it('TRAIN random crop and mirror are valid, seeded and reproducible', async () => {
    const { path, raw } = await uint8Db(4, 2, 6, 7);
    const layer = dataLayer(path, { batch: 4, transform: 'crop_size: 4 mirror: true' });
    setSeed(1234);
    const a = forwardBatches(net(layer, 'TRAIN'), 4);
    setSeed(1234);
    const b = forwardBatches(net(layer, 'TRAIN'), 4);
    a.data.forEach((d, i) => expectClose(d, b.data[i]));
    setSeed(99);
    const c = forwardBatches(net(layer, 'TRAIN'), 4);
    expect(c.data.some((d, i) => d.some((v, j) => v !== a.data[i][j]))).toBe(true);
    // every item is some crop of its datum, mirrored or not; several different ones occur
    const seen = new Set<string>();
    a.data.forEach((batch) => {
      for (let item = 0; item < 4; item++) {
        const got = Array.from(batch.subarray(item * 32, (item + 1) * 32));
        let found = '';
        for (let ho = 0; ho <= 2 && !found; ho++)
          for (let wo = 0; wo <= 3 && !found; wo++)
            for (const m of [false, true]) if (crop(raw[item], 2, 6, 7, ho, wo, 4, m).every((v, j) => v === got[j])) found = `${ho},${wo},${m}`;
        expect(found).not.toBe('');
        seen.add(found);
      }
    });
    expect(seen.size).toBeGreaterThan(3);
    expect([...seen].some((s) => s.endsWith('true')) && [...seen].some((s) => s.endsWith('false'))).toBe(true);
  });

  it('prefetching in the background gives the same batches as reading on the spot', async () => {
    const { path } = await uint8Db(7, 1, 5, 5);
    const t = 'crop_size: 3 mirror: true scale: 0.5';
    setSeed(77);
    const bg = net(dataLayer(path, { batch: 3, transform: t, extra: 'prefetch: 2' }), 'TRAIN');
    const bgOut = forwardBatches(bg, 6);
    setSeed(77);
    const sync = net(dataLayer(path, { batch: 3, transform: t, extra: 'prefetch: 0' }), 'TRAIN');
    const syncOut = forwardBatches(sync, 6);
    bgOut.data.forEach((d, i) => expectClose(d, syncOut.data[i]));
    bgOut.label.forEach((l, i) => expectClose(l, syncOut.label[i]));
    expect(Array.from(bgOut.label[2])).toEqual([16, 10, 11]);
  });

  it('rand_skip is ignored, as by BVLC master\'s DataLayer', async () => {
    const { path } = await uint8Db(6, 1, 2, 2);
    setSeed(5);
    const n = net(dataLayer(path, { batch: 2, extra: 'rand_skip: 5' }));
    n.forward();
    expect(Array.from(n.blob('label').data)).toEqual([10, 11]);
  });

  it('reshapes each batch by its first datum', async () => {
    const recs: [string, Uint8Array][] = [
      [key(0), encodeDatum({ channels: 1, height: 2, width: 2, data: pixels(1, 2, 2, 0), label: 0 })],
      [key(1), encodeDatum({ channels: 1, height: 3, width: 2, data: pixels(1, 3, 2, 1), label: 1 })],
    ];
    const n = net(dataLayer(await writeLmdb(recs), { batch: 1 }));
    expect(forwardBatches(n, 2).shapes).toEqual([[1, 1, 2, 2], [1, 1, 3, 2]]);
    const mixed = net(dataLayer(await writeLmdb(recs), { batch: 2 }));
    expect(() => mixed.forward()).toThrow(/batch is 2x2/);
    // the failed background stream keeps reporting its error instead of waiting forever
    expect(() => mixed.forward()).toThrow(/batch is 2x2/);
  });

  it('rejects LevelDB, missing sources and empty databases with clear errors', async () => {
    const { path } = await uint8Db(1, 1, 1, 1);
    const noBackend = `layer { name: "d" type: "Data" top: "data" data_param { source: ${JSON.stringify(path)} batch_size: 1 } }`;
    expect(() => net(noBackend)).toThrow(LayerError);
    expect(() => net(noBackend)).toThrow(/LEVELDB .*not supported.*set data_param \{ backend: LMDB \}/);
    expect(() => net(dataLayer(join(tmp, 'missing.lmdb'), { batch: 1 }))).toThrow(/cannot read data_param.source .*no such file/);
    const empty = await writeLmdb([]);
    expect(() => net(dataLayer(empty, { batch: 1 }))).toThrow(/empty/);
    expect(() => net(dataLayer(path, { batch: 0 }))).toThrow(/batch_size must be positive/);
  });

  it('reads its source relative to the working directory', async () => {
    const { path } = await uint8Db(2, 1, 1, 1);
    const prev = process.cwd();
    process.chdir(join(path, '..'));
    try {
      const n = net(dataLayer('data.lmdb', { batch: 2 }));
      n.forward();
      expect(Array.from(n.blob('label').data)).toEqual([10, 11]);
    } finally {
      process.chdir(prev);
    }
  });
});

describe('DataTransformer', () => {
  it('draws the seed only when it needs randomness, and mirrors columns', () => {
    const p = fromObject('TransformationParameter', { mirror: true });
    let draws = 0;
    const cfg = makeTransformConfig(p, 1, () => (draws++, 3));
    expect(draws).toBe(1);
    expect(makeTransformConfig(fromObject('TransformationParameter', { crop_size: 2 }), 1, () => (draws++, 1)).seed).toBeNull();
    expect(makeTransformConfig(fromObject('TransformationParameter', { crop_size: 2 }), 0, () => (draws++, 1)).seed).toBe(1);
    const t = new DataTransformer(cfg);
    const r = new Rng(3);
    const datum = { channels: 1, height: 1, width: 3, data: Uint8Array.of(1, 2, 3), floatData: new Float32Array(0), label: 0, encoded: false };
    for (let i = 0; i < 8; i++) {
      const out = new Float32Array(3);
      t.transformDatum(datum, out);
      expect(Array.from(out)).toEqual(r.nextUint32() % 2 ? [3, 2, 1] : [1, 2, 3]);
    }
  });
});

describe('ImageData layer', () => {
  async function imageSet(): Promise<{ dir: string; list: string; pngs: Uint8Array[]; jpg: Uint8Array }> {
    const dir = fresh('img');
    mkdirSync(join(dir, 'sub dir'));
    const pngs = [0, 1, 2].map((i) => pngBytes(6, 4, rgbaImage(6, 4, i), 2));
    pngs.forEach((b, i) => writeFileSync(join(dir, 'sub dir', `p${i}.png`), b));
    const jpg = new Uint8Array(readFileSync(join(FIXTURES, 'images', 'tiny6x4.jpg'))); // 6x4 colour
    writeFileSync(join(dir, 'j.jpg'), jpg);
    const list = join(dir, 'list.txt');
    writeFileSync(list, 'sub dir/p0.png 3\nsub dir/p1.png 4\r\n\nj.jpg 5\nsub dir/p2.png 6\n');
    return { dir, list, pngs, jpg };
  }
  const layer = (list: string, root: string, extra = '', transform = '') =>
    `layer { name: "d" type: "ImageData" top: "data" top: "label" ${transform ? `transform_param { ${transform} }` : ''}
     image_data_param { source: ${JSON.stringify(list)} root_folder: ${JSON.stringify(root + '/')} batch_size: 2 ${extra} } }`;

  it('reads PNG and JPEG files in list order with labels, wrapping', async () => {
    const { dir, list, pngs, jpg } = await imageSet();
    const n = net(layer(list, dir));
    expect(n.blob('data').shape).toEqual([2, 3, 4, 6]);
    const out = forwardBatches(n, 3);
    expect(out.label.map((l) => Array.from(l))).toEqual([[3, 4], [5, 6], [3, 4]]);
    expectClose(out.data[0].subarray(0, 72), chw(decodeImage(pngs[0], true)));
    expectClose(out.data[1].subarray(0, 72), chw(decodeImage(jpg, true)));
    expectClose(out.data[1].subarray(72), chw(decodeImage(pngs[2], true)));
    // BGR order from the PNG's RGB
    const rgba = rgbaImage(6, 4, 0);
    expect(out.data[0][0]).toBe(rgba[2]);
    expect(out.data[0][48]).toBe(rgba[0]);
  });

  it('is_color false gives one gray channel; new_height/new_width resize', async () => {
    const { dir, list, pngs } = await imageSet();
    const g = net(layer(list, dir, 'is_color: false'));
    expect(g.blob('data').shape).toEqual([2, 1, 4, 6]);
    g.forward();
    expectClose(g.blob('data').data.subarray(0, 24), chw(decodeImage(pngs[0], false)));
    const r = net(layer(list, dir, 'new_height: 2 new_width: 3'));
    expect(r.blob('data').shape).toEqual([2, 3, 2, 3]);
    r.forward();
    expectClose(r.blob('data').data.subarray(0, 18), chw(resizeLinear(decodeImage(pngs[0], true), 3, 2)));
    expect(() => net(layer(list, dir, 'new_height: 2'))).toThrow(/new_height and new_width/);
  });

  it('shuffle is seeded and permutes the list; rand_skip starts later', async () => {
    const { dir, list } = await imageSet();
    setSeed(42);
    const a = forwardBatches(net(layer(list, dir, 'shuffle: true')), 4).label.flatMap((l) => Array.from(l));
    setSeed(42);
    const b = forwardBatches(net(layer(list, dir, 'shuffle: true')), 4).label.flatMap((l) => Array.from(l));
    expect(a).toEqual(b);
    expect(a.slice(0, 4).sort()).toEqual([3, 4, 5, 6]);
    expect(a.slice(4, 8).sort()).toEqual([3, 4, 5, 6]);
    setSeed(8);
    const skip = new Rng(8).nextUint32() % 3;
    const s = net(layer(list, dir, 'rand_skip: 3'));
    s.forward();
    expect(s.blob('label').data[0]).toBe(3 + skip);
  });

  it('applies transform_param (TEST centre crop, mean, scale) and reports unreadable images', async () => {
    const { dir, list, pngs } = await imageSet();
    const n = net(layer(list, dir, '', 'crop_size: 2 mean_value: 1 mean_value: 2 mean_value: 3 scale: 2'));
    n.forward();
    const full = chw(decodeImage(pngs[0], true));
    const want = crop(full, 3, 4, 6, 1, 2, 2, false).map((x, j) => (x - [1, 2, 3][Math.floor(j / 4)]) * 2);
    expectClose(n.blob('data').data.subarray(0, 12), want);
    const badList = join(dir, 'bad.txt');
    writeFileSync(badList, 'sub dir/p0.png 1\nmissing.png 2\n');
    const bad = net(layer(badList, dir));
    expect(() => bad.forward()).toThrow(/could not load image 'missing.png'/);
  });
});

describe('bilinear resize (OpenCV INTER_LINEAR)', () => {
  it('keeps sizes, averages 2x2 blocks when halving, interpolates within 1 of exact', () => {
    const src = { width: 4, height: 4, channels: 1, data: Uint8Array.from({ length: 16 }, (_, i) => (i * 23) & 255) };
    expect(Array.from(resizeLinear(src, 4, 4).data)).toEqual(Array.from(src.data));
    const half = resizeLinear(src, 2, 2).data;
    const d = src.data;
    expect(Array.from(half)).toEqual([0, 2, 8, 10].map((i) => (d[i] + d[i + 1] + d[i + 4] + d[i + 5] + 2) >> 2));
    // upscale: OpenCV's pixel-centre mapping with edge clamping, compared with exact arithmetic
    const up = resizeLinear(src, 7, 9);
    const at = (x: number, y: number) => d[Math.min(Math.max(y, 0), 3) * 4 + Math.min(Math.max(x, 0), 3)];
    for (let y = 0; y < 9; y++)
      for (let x = 0; x < 7; x++) {
        let fx = (x + 0.5) * (4 / 7) - 0.5;
        let fy = (y + 0.5) * (4 / 9) - 0.5;
        fx = Math.max(fx, 0);
        const sx = Math.min(Math.floor(fx), 3);
        const sy = Math.floor(fy);
        const ax = sx >= 3 ? 0 : fx - sx;
        const ay = fy - sy;
        const v = (1 - ay) * ((1 - ax) * at(sx, sy) + ax * at(sx + 1, sy)) + ay * ((1 - ax) * at(sx, sy + 1) + ax * at(sx + 1, sy + 1));
        expect(Math.abs(up.data[y * 7 + x] - v)).toBeLessThanOrEqual(1);
      }
  });
});

describe('HDF5 layers', () => {
  type H5 = typeof import('h5wasm/node');
  let h5: H5;
  beforeAll(async () => {
    h5 = await import('h5wasm/node');
    await h5.ready;
  });

  function writeH5(path: string, sets: { name: string; data: Float32Array | Float64Array | Int32Array; shape: number[]; dtype?: string }[]): void {
    const f = new h5.File(path, 'w');
    for (const s of sets) f.create_dataset({ name: s.name, data: s.data, shape: s.shape, dtype: s.dtype });
    f.close();
  }

  function rows(first: number, n: number, dim: number): Float32Array {
    return Float32Array.from({ length: n * dim }, (_, i) => first * 100 + Math.floor(i / dim) * 10 + (i % dim) + 0.5);
  }

  function h5Layer(list: string, batch: number, extra = ''): string {
    return `layer { name: "d" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: ${JSON.stringify(list)} batch_size: ${batch} ${extra} } }`;
  }

  async function files(): Promise<string> {
    const dir = fresh('h5');
    writeH5(join(dir, 'a.h5'), [
      { name: 'data', data: rows(1, 3, 4), shape: [3, 2, 2] },
      { name: 'label', data: Float64Array.of(0, 1, 2), shape: [3], dtype: '<d' },
    ]);
    writeH5(join(dir, 'b.h5'), [
      { name: 'data', data: rows(2, 4, 4), shape: [4, 2, 2] },
      { name: 'label', data: Int32Array.of(3, 4, 5, 6), shape: [4], dtype: '<i' },
    ]);
    const list = join(dir, 'list.txt');
    writeFileSync(list, `${join(dir, 'a.h5')}\n  ${join(dir, 'b.h5')}\n`);
    return list;
  }

  it('reads rows across file boundaries and wraps; int and double datasets become float', async () => {
    const list = await files();
    const n = net(h5Layer(list, 5), 'TRAIN');
    expect(n.blob('data').shape).toEqual([5, 2, 2]);
    expect(n.blob('label').shape).toEqual([5]);
    const out = forwardBatches(n, 3);
    expect(out.label.map((l) => Array.from(l))).toEqual([[0, 1, 2, 3, 4], [5, 6, 0, 1, 2], [3, 4, 5, 6, 0]]);
    const all = [...Array.from(rows(1, 3, 4)), ...Array.from(rows(2, 4, 4))];
    expectClose(out.data[1], [...all.slice(20, 28), ...all.slice(0, 12)]);
  });

  it('shuffles files and rows reproducibly', async () => {
    const list = await files();
    setSeed(3);
    const a = forwardBatches(net(h5Layer(list, 7, 'shuffle: true')), 3).label.map((l) => Array.from(l));
    setSeed(3);
    const b = forwardBatches(net(h5Layer(list, 7, 'shuffle: true')), 3).label.map((l) => Array.from(l));
    expect(a).toEqual(b);
    for (const epoch of a) expect([...epoch].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(a.some((e) => e.join() !== '0,1,2,3,4,5,6')).toBe(true);
  });

  it('reports missing datasets, missing files and transform_param', async () => {
    const list = await files();
    const one = `layer { name: "d" type: "HDF5Data" top: "data" top: "nope" hdf5_data_param { source: ${JSON.stringify(list)} batch_size: 1 } }`;
    expect(() => net(one)).toThrow(/failed to find HDF5 dataset 'nope'/);
    const missingList = join(fresh('h5'), 'l.txt');
    writeFileSync(missingList, join(tmp, 'absent.h5'));
    expect(() => net(h5Layer(missingList, 1))).toThrow(/failed opening HDF5 file .*absent.h5/);
    const tp = `layer { name: "d" type: "HDF5Data" top: "data" transform_param { scale: 2 } hdf5_data_param { source: ${JSON.stringify(list)} batch_size: 1 } }`;
    expect(() => net(tp)).toThrow(/does not transform data/);
  });

  it('HDF5Output writes data and label with legacy 4-D shapes', () => {
    const file = join(fresh('h5out'), 'out.h5');
    const n = net(`
      layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
      layer { name: "out" type: "HDF5Output" bottom: "x" bottom: "y" hdf5_output_param { file_name: ${JSON.stringify(file)} } }`);
    expect(existsSync(file)).toBe(true);
    const x = Float32Array.of(1, 2, 3, 4, 5, 6.5);
    n.forward({ x, y: Float32Array.of(7, 8) });
    let f = new h5.File(file, 'r');
    const d = f.get('data') as InstanceType<H5['Dataset']>;
    expect(d.shape).toEqual([2, 3, 1, 1]);
    expect(Array.from(d.value as Float32Array)).toEqual(Array.from(x));
    const l = f.get('label') as InstanceType<H5['Dataset']>;
    expect(l.shape).toEqual([2, 1, 1, 1]);
    expect(Array.from(l.value as Float32Array)).toEqual([7, 8]);
    f.close();
    // a second forward rewrites the file with the new batch
    n.forward({ x: Float32Array.of(0, 0, 0, 0, 0, 1), y: Float32Array.of(1, 2) });
    f = new h5.File(file, 'r');
    expect(Array.from((f.get('label') as InstanceType<H5['Dataset']>).value as Float32Array)).toEqual([1, 2]);
    f.close();
  });
});

describe('MemoryData layer', () => {
  const md = (extra = '') => `layer { name: "m" type: "MemoryData" top: "data" top: "label" ${extra} memory_data_param { batch_size: 2 channels: 1 height: 1 width: 3 } }`;

  it('serves reset arrays batch by batch and wraps', () => {
    const n = net(md());
    const layer = n.layer('m') as MemoryDataLayer;
    expect(() => n.forward()).toThrow(/MemoryData needs data/);
    const data = Float32Array.from({ length: 12 }, (_, i) => i);
    layer.reset(data, Float32Array.of(0, 1, 2, 3), 4);
    const got: number[][] = [];
    for (let i = 0; i < 3; i++) {
      n.forward();
      got.push(Array.from(n.blob('label').data));
      expect(n.blob('label').shape).toEqual([2, 1, 1, 1]);
    }
    expect(got).toEqual([[0, 1], [2, 3], [0, 1]]);
    expect(Array.from(n.blob('data').data)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => layer.reset(data, Float32Array.of(0, 1, 2), 3)).toThrow(/multiple of batch_size/);
  });

  it('takes a provider callback, and transforms datums', () => {
    const n = net(md('transform_param { scale: 0.5 mean_value: 1 }'));
    const layer = n.layer('m') as MemoryDataLayer;
    let calls = 0;
    layer.setProvider((b) => ({ data: new Float32Array(3 * b).fill(++calls), labels: new Float32Array(b).fill(calls) }));
    n.forward();
    n.forward();
    expect(Array.from(n.blob('data').data)).toEqual([2, 2, 2, 2, 2, 2]);
    layer.setProvider(null);
    const datums = [0, 1].map((i) => ({ channels: 1, height: 1, width: 3, data: Uint8Array.of(1 + i, 3, 5), floatData: new Float32Array(0), label: i, encoded: false }));
    layer.addDatums(datums);
    n.forward();
    expect(Array.from(n.blob('data').data)).toEqual([0, 1, 2, 0.5, 1, 2]);
    expect(Array.from(n.blob('label').data)).toEqual([0, 1]);
    expect(() => net(`layer { name: "m" type: "MemoryData" top: "data" top: "label" memory_data_param { batch_size: 2 channels: 1 height: 1 } }`)).toThrow(/must all be set and positive/);
  });

  it('Input layers are fed through net.forward({blob: {shape, data}})', () => {
    const n = net(`layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }
      layer { name: "p" type: "Power" bottom: "x" top: "y" power_param { scale: 2 } }`);
    n.forward({ x: { shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) } });
    expect(n.blob('y').shape).toEqual([3, 2]);
    expect(Array.from(n.blob('y').data)).toEqual([2, 4, 6, 8, 10, 12]);
  });
});

describe('WindowData', () => {
  it('is rejected with a clear error', () => {
    expect(() => net('layer { name: "w" type: "WindowData" top: "data" top: "label" window_data_param { source: "w.txt" batch_size: 1 } }'))
      .toThrow(/WindowData is not supported by caffe-ts/);
  });
});

describe("LeNet's train/test prototxt", () => {
  // BVLC examples/mnist/lenet_train_test.prototxt, copied from the model zoo (fixtures/zoo-files/README.md)
  const file = join(__dirname, '..', 'fixtures', 'zoo-files', 'mnist_lenet', 'lenet_train_test.prototxt');

  it('builds and runs in TRAIN and TEST over a small MNIST-like LMDB', async () => {
    const digits: [string, Uint8Array][] = [];
    for (let i = 0; i < 12; i++) digits.push([key(i), encodeDatum({ channels: 1, height: 28, width: 28, data: pixels(1, 28, 28, i), label: i % 10 })]);
    const db = await writeLmdb(digits, 'mnist');
    const param: Message = readNetParameter(file);
    for (const l of param.layer as Message[]) if (l.type === 'Data') l.data_param.source = db;
    setSeed(1);
    const train = new Net(param, { phase: 'TRAIN' });
    expect(train.blob('data').shape).toEqual([64, 1, 28, 28]);
    expect(train.blob('label').shape).toEqual([64]);
    const loss = train.forward();
    expect(Number.isFinite(loss)).toBe(true);
    // 64 items over 12 records: the labels cycle through the database
    expect(Array.from(train.blob('label').data.subarray(0, 14))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 0, 1]);
    expect(train.blob('data').data[1]).toBeCloseTo(pixels(1, 28, 28, 0)[1] / 256, 6);
    const test = new Net(param, { phase: 'TEST' });
    expect(test.blob('data').shape).toEqual([100, 1, 28, 28]);
    test.forward();
    expect(test.outputs).toEqual(['accuracy', 'loss']);
    const acc = test.blob('accuracy').data[0];
    expect(acc).toBeGreaterThanOrEqual(0);
    expect(acc).toBeLessThanOrEqual(1);
  });
});

describe('Datum helpers', () => {
  it('round-trips datums and reads image layouts as OpenCV does', () => {
    const d = decodeDatum(encodeDatum({ channels: 2, height: 1, width: 1, data: Uint8Array.of(4, 5), label: -3 }));
    expect([d.channels, d.height, d.width, d.label, Array.from(d.data), d.encoded]).toEqual([2, 1, 1, -3, [4, 5], false]);
    const gray = pngBytes(2, 2, rgbaImage(2, 2, 0, true), 0);
    expect(decodeImageBytes(gray, 'native').channels).toBe(1);
    expect(decodeImageBytes(gray, 'color').channels).toBe(3);
    const jpg = new Uint8Array(readFileSync(join(FIXTURES, 'images', 'tiny6x4.jpg')));
    expect(decodeImageBytes(jpg, 'native').channels).toBe(3);
    expect(decodeImageBytes(jpg, 'gray').channels).toBe(1);
  });
});
