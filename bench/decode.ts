// Benchmark: decoding a ResNet-152-sized caffemodel (~230 MB) with src/format/binary.ts,
// against a plain fs.readFileSync of the same file.
//
// The model is synthesized once (ResNet-152's layer and blob shapes, deterministic values) into
// os.tmpdir() and reused by later runs. Each measurement runs in its own child process, so the
// peak RSS (process.resourceUsage().maxRSS) is that measurement's alone.
//
//   node dist/bench/decode.js            run the benchmark, print a table
//   node dist/bench/decode.js --child <read|decode> <file>   (internal: one measurement)
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeMessage, encodeMessage } from '../src/format/binary.js';
import { newMessage, type Message } from '../src/proto/schema.js';

const MODEL_FILE = join(tmpdir(), 'caffe-ts-bench-resnet152-v1.caffemodel');

// ---------------------------------------------------------------------------------------------
// Model synthesis.

interface BlobSpec {
  shape: number[];
}
interface LayerSpec {
  name: string;
  type: string;
  blobs: BlobSpec[];
}

/** ResNet-152's parameter layers (conv + BatchNorm + Scale per convolution, then fc1000). */
function resnet152(): LayerSpec[] {
  const layers: LayerSpec[] = [];
  const conv = (name: string, cin: number, cout: number, k: number) => {
    layers.push({ name, type: 'Convolution', blobs: [{ shape: [cout, cin, k, k] }] });
    layers.push({ name: `bn_${name}`, type: 'BatchNorm', blobs: [{ shape: [cout] }, { shape: [cout] }, { shape: [1] }] });
    layers.push({ name: `scale_${name}`, type: 'Scale', blobs: [{ shape: [cout] }, { shape: [cout] }] });
  };
  conv('conv1', 3, 64, 7);
  let cin = 64;
  const stages: Array<[number, number]> = [
    [3, 64],
    [8, 128],
    [36, 256],
    [3, 512],
  ];
  stages.forEach(([blocks, width], s) => {
    for (let b = 0; b < blocks; b++) {
      const name = `res${s + 2}${b === 0 ? 'a' : `b${b}`}`;
      if (b === 0) conv(`${name}_branch1`, cin, width * 4, 1);
      conv(`${name}_branch2a`, cin, width, 1);
      conv(`${name}_branch2b`, width, width, 3);
      conv(`${name}_branch2c`, width, width * 4, 1);
      cin = width * 4;
    }
  });
  layers.push({ name: 'fc1000', type: 'InnerProduct', blobs: [{ shape: [1000, 2048] }, { shape: [1000] }] });
  return layers;
}

function countOf(shape: number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/**
 * Writes the model (if not there yet) and returns its path, layer count and float count.
 * Layers are encoded one at a time and appended as NetParameter.layer fields, so generation
 * never holds the whole model in memory.
 */
function ensureModel(): { file: string; layers: number; floats: number; generated: boolean } {
  const specs = resnet152();
  const floats = specs.reduce((t, l) => t + l.blobs.reduce((u, b) => u + countOf(b.shape), 0), 0);
  if (existsSync(MODEL_FILE)) return { file: MODEL_FILE, layers: specs.length, floats, generated: false };
  const tmp = `${MODEL_FILE}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const name = Buffer.from('ResNet-152 (synthetic)');
    writeSync(fd, Uint8Array.from([0x0a, ...varint(name.length), ...name]));
    let seed = 1;
    for (const spec of specs) {
      const layer = newMessage('LayerParameter');
      layer.name = spec.name;
      layer.type = spec.type;
      layer.blobs = spec.blobs.map((b) => {
        const blob: Message = newMessage('BlobProto');
        blob.shape = newMessage('BlobShape');
        blob.shape.dim = b.shape.slice();
        const data = new Float32Array(countOf(b.shape));
        for (let i = 0; i < data.length; i++) {
          seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
          data[i] = (seed / 4294967296 - 0.5) * 0.1;
        }
        blob.data = data;
        return blob;
      });
      const body = encodeMessage(layer, 'LayerParameter');
      writeSync(fd, Uint8Array.from([0xa2, 0x06, ...varint(body.length)])); // field 100, wire type 2
      writeSync(fd, body);
    }
    closeSync(fd);
    renameSync(tmp, MODEL_FILE);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(tmp);
    } catch {
      // gone
    }
    throw e;
  }
  return { file: MODEL_FILE, layers: specs.length, floats, generated: true };
}

// ---------------------------------------------------------------------------------------------
// One measurement (child process).

interface ChildResult {
  readMs: number;
  decodeMs: number;
  maxRssKB: number;
  layers: number;
  floats: number;
}

function child(mode: string, file: string): void {
  const t0 = performance.now();
  const bytes = readFileSync(file);
  const t1 = performance.now();
  let layers = 0;
  let floats = 0;
  let t2 = t1;
  if (mode === 'decode' || mode === 'inplace') {
    const net = decodeMessage(bytes, 'NetParameter', file, { inPlace: mode === 'inplace' });
    t2 = performance.now();
    layers = net.layer.length;
    for (const l of net.layer) for (const b of l.blobs) floats += b.data.length;
  } else {
    // touch the bytes so the read is not optimized away
    floats = bytes[bytes.length - 1];
  }
  const result: ChildResult = { readMs: t1 - t0, decodeMs: t2 - t1, maxRssKB: process.resourceUsage().maxRSS, layers, floats };
  process.stdout.write(JSON.stringify(result) + '\n');
}

function measure(mode: 'read' | 'decode' | 'inplace', file: string): ChildResult {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [self, '--child', mode, file], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`benchmark child (${mode}) failed: ${r.stderr || r.error}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

// ---------------------------------------------------------------------------------------------

export function main(): void {
  const t0 = performance.now();
  const model = ensureModel();
  const genMs = performance.now() - t0;
  const size = statSync(model.file).size;
  const mb = size / 1e6;
  console.log(`decode: ${model.file}`);
  console.log(
    `  ${mb.toFixed(1)} MB, ${model.layers} layers, ${model.floats.toLocaleString('en-US')} floats` +
      (model.generated ? ` (generated in ${(genMs / 1000).toFixed(1)} s)` : ' (reused)'),
  );
  const base = measure('read', model.file);
  const dec = measure('decode', model.file);
  const inPlace = measure('inplace', model.file);
  for (const d of [dec, inPlace]) {
    if (d.layers !== model.layers || d.floats !== model.floats) {
      throw new Error(`decode returned ${d.layers} layers / ${d.floats} floats, expected ${model.layers} / ${model.floats}`);
    }
  }
  const rows: Array<[string, number, number]> = [
    ['fs.readFileSync', base.readMs, base.maxRssKB],
    ['readFileSync + decodeMessage', dec.readMs + dec.decodeMs, dec.maxRssKB],
    ['  decodeMessage alone', dec.decodeMs, NaN],
    ['readFileSync + decode inPlace', inPlace.readMs + inPlace.decodeMs, inPlace.maxRssKB],
    ['  decode inPlace alone', inPlace.decodeMs, NaN],
  ];
  const pad = (s: string, n: number) => s.padStart(n);
  console.log(`  ${'what'.padEnd(30)}${pad('ms', 9)}${pad('MB/s', 9)}${pad('time x', 9)}${pad('peak RSS MB', 13)}${pad('RSS x', 8)}`);
  for (const [what, ms, rss] of rows) {
    const rssMB = rss / 1024;
    console.log(
      `  ${what.padEnd(30)}${pad(ms.toFixed(0), 9)}${pad((mb / (ms / 1000)).toFixed(0), 9)}` +
        `${pad((ms / base.readMs).toFixed(2), 9)}` +
        `${pad(Number.isNaN(rss) ? '-' : rssMB.toFixed(0), 13)}${pad(Number.isNaN(rss) ? '-' : (rss / base.maxRssKB).toFixed(2), 8)}`,
    );
  }
  console.log(`  (one run each; time x and RSS x are relative to fs.readFileSync; file size ${mb.toFixed(0)} MB)`);
}

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isEntry) {
  if (process.argv[2] === '--child') child(process.argv[3], process.argv[4]);
  else main();
}
