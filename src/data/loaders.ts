// Batch loaders: the `load_batch` of Caffe's DataLayer and ImageDataLayer, as plain objects built
// from a structured-cloneable config, so that the very same loader runs on the calling thread
// (prefetch 0) or inside the prefetch worker (see prefetch.ts). A loader is deterministic: its
// order and random draws depend only on its config (seeds are drawn by the layer at setup).
import { readFileSync } from 'node:fs';
import { readImage } from '../format/image.js';
import { Rng } from '../kernels/rng.js';
import { CaffeError } from '../util/errors.js';
import { decodeDatum, type Datum, type PixelImage } from './datum.js';
import { LmdbReader, type LmdbCursor } from './lmdb.js';
import { resizeLinear } from './resize.js';
import { DataTransformer, type TransformConfig } from './transformer.js';

export interface Batch {
  /** [batch, C, H, W] */
  shape: number[];
  data: Float32Array;
  /** One label per item, or null when the layer has no label top. */
  labels: Float32Array | null;
}

export interface BatchLoader {
  /** Shape of one item ([1, C, H, W]) from the next record, without consuming it (setup). */
  peekShape(): number[];
  next(): Batch;
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// Data layer over LMDB

export interface DatumLoaderConfig {
  kind: 'datum';
  /** Absolute path of the LMDB environment. */
  source: string;
  batchSize: number;
  /** Records to skip before the first batch (the rand_skip draw). */
  skip: number;
  labels: boolean;
  transform: TransformConfig;
}

/** DataLayer::load_batch over an LMDB cursor that restarts from the first key at the end. */
export class DatumLoader implements BatchLoader {
  private readonly db: LmdbReader;
  private readonly cursor: LmdbCursor;
  private readonly transformer: DataTransformer;

  constructor(readonly config: DatumLoaderConfig) {
    this.db = new LmdbReader(config.source);
    try {
      if (this.db.entries === 0) throw new CaffeError(`${config.source}: the LMDB database is empty`);
      this.cursor = this.db.cursor();
      if (!this.cursor.valid) throw new CaffeError(`${config.source}: the LMDB database is empty`);
      for (let i = 0; i < config.skip; i++) this.advance();
    } catch (e) {
      this.db.close();
      throw e;
    }
    this.transformer = new DataTransformer(config.transform);
  }

  private where(): string {
    return `${this.config.source} record '${Buffer.from(this.cursor.key).toString('latin1')}'`;
  }

  /** Caffe's DataLayer::Next: step, and seek to the first key past the end. */
  private advance(): void {
    this.cursor.next();
    if (!this.cursor.valid) this.cursor.seekToFirst();
  }

  /** The record under the cursor, decoded (and its image decoded when encoded). */
  private current(): { item: Datum | PixelImage; label: number } {
    const where = this.where();
    try {
      const datum = decodeDatum(this.cursor.value, where);
      return { item: this.transformer.prepare(datum, where), label: datum.label };
    } catch (e) {
      throw e instanceof CaffeError && e.message.includes(where) ? e : new CaffeError(`${where}: ${(e as Error).message}`);
    }
  }

  peekShape(): number[] {
    const { item } = this.current();
    try {
      return this.transformer.inferShape(item);
    } catch (e) {
      throw new CaffeError(`${this.where()}: ${(e as Error).message}`);
    }
  }

  next(): Batch {
    const n = this.config.batchSize;
    let shape: number[] = [];
    let data = new Float32Array(0);
    const labels = this.config.labels ? new Float32Array(n) : null;
    for (let i = 0; i < n; i++) {
      const { item, label } = this.current();
      try {
        if (i === 0) {
          shape = this.transformer.inferShape(item);
          shape[0] = n;
          data = new Float32Array(shape[1] * shape[2] * shape[3] * n);
        }
        this.transformer.transform(item, data, i * shape[1] * shape[2] * shape[3], shape);
      } catch (e) {
        throw new CaffeError(`${this.where()}: ${(e as Error).message}`);
      }
      if (labels) labels[i] = label;
      this.advance();
    }
    return { shape, data, labels };
  }

  close(): void {
    this.db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// ImageData

export interface ImageLoaderConfig {
  kind: 'image';
  /** (path, label) in list-file order; paths as written (root_folder is prepended). */
  lines: [string, number][];
  rootFolder: string;
  /** Absolute base for relative paths (the working directory at setup). */
  cwd: string;
  newHeight: number;
  newWidth: number;
  isColor: boolean;
  batchSize: number;
  /** Seed of the shuffling stream, or null when shuffle is off. */
  shuffleSeed: number | null;
  /** Index of the first line to read after the initial shuffle (the rand_skip draw). */
  start: number;
  transform: TransformConfig;
}

/** caffe::shuffle: Fisher-Yates from the back, one draw in [0, i] per position. */
export function shuffleInPlace<T>(items: T[], rng: Rng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.nextUint32() % (i + 1);
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
}

/**
 * Reads an ImageData list file: one `path label` per line, split at the last space (paths may
 * hold spaces); the label is read like C's atoi. Blank lines are skipped.
 */
export function readImageList(source: string): [string, number][] {
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (e) {
    throw new CaffeError(`cannot open the image list '${source}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const out: [string, number][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const pos = line.lastIndexOf(' ');
    const path = pos < 0 ? line : line.slice(0, pos);
    out.push([path, atoi(pos < 0 ? line : line.slice(pos + 1))]);
  }
  return out;
}

function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const v = Number(m[1]);
  return Math.max(-2147483648, Math.min(2147483647, v));
}

/** Caffe's ReadImageToCVMat: decode in color (BGR) or gray, then resize when both sizes are set. */
export function readImageForData(path: string, newHeight: number, newWidth: number, isColor: boolean): PixelImage {
  const img: PixelImage = readImage(path, isColor);
  if (newHeight > 0 && newWidth > 0) return resizeLinear(img, newWidth, newHeight);
  return img;
}

/** ImageDataLayer::load_batch: list order (reshuffled at every wrap when shuffle is on). */
export class ImageLoader implements BatchLoader {
  private readonly lines: [string, number][];
  private readonly rng: Rng | null;
  private index: number;
  private readonly transformer: DataTransformer;

  constructor(readonly config: ImageLoaderConfig) {
    if (config.lines.length === 0) throw new CaffeError('the image list is empty');
    this.lines = config.lines.map((l) => [l[0], l[1]] as [string, number]);
    this.rng = config.shuffleSeed === null ? null : new Rng(config.shuffleSeed);
    if (this.rng) shuffleInPlace(this.lines, this.rng);
    if (config.start >= this.lines.length) throw new CaffeError(`not enough images to skip ${config.start}`);
    this.index = config.start;
    this.transformer = new DataTransformer(config.transform);
  }

  private load(i: number): PixelImage {
    const p = this.lines[i][0];
    const full = resolvePath(this.config.cwd, this.config.rootFolder + p);
    try {
      return readImageForData(full, this.config.newHeight, this.config.newWidth, this.config.isColor);
    } catch (e) {
      throw new CaffeError(`could not load image '${p}' (${full}): ${(e as Error).message}`);
    }
  }

  peekShape(): number[] {
    return this.transformer.inferShape(this.load(this.index));
  }

  next(): Batch {
    const n = this.config.batchSize;
    const first = this.load(this.index);
    const shape = this.transformer.inferShape(first);
    shape[0] = n;
    const size = shape[1] * shape[2] * shape[3];
    const data = new Float32Array(size * n);
    const labels = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const img = i === 0 ? first : this.load(this.index);
      try {
        this.transformer.transform(img, data, i * size, shape);
      } catch (e) {
        throw new CaffeError(`image '${this.lines[this.index][0]}': ${(e as Error).message}`);
      }
      labels[i] = this.lines[this.index][1];
      this.index++;
      if (this.index >= this.lines.length) {
        this.index = 0;
        if (this.rng) shuffleInPlace(this.lines, this.rng);
      }
    }
    return { shape, data, labels };
  }

  close(): void {}
}

function resolvePath(cwd: string, p: string): string {
  return p.startsWith('/') ? p : `${cwd.endsWith('/') ? cwd : cwd + '/'}${p}`;
}

export type LoaderConfig = DatumLoaderConfig | ImageLoaderConfig;

export function createLoader(config: LoaderConfig): BatchLoader {
  return config.kind === 'datum' ? new DatumLoader(config) : new ImageLoader(config);
}
