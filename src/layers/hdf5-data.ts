// HDF5Data: rows of HDF5 datasets (Caffe's HDF5DataLayer).
//
//   hdf5_data_param.source      a text file listing .h5 files (whitespace-separated names,
//                               relative to the working directory, as Caffe opens them)
//   hdf5_data_param.batch_size  rows per batch
//   hdf5_data_param.shuffle     shuffle the file order and the rows of each file
//
// Each top reads the dataset of the same name; all of a file's datasets must have the same number
// of rows (first axis), and top i has shape [batch_size, ...dataset i's other axes]. Datasets of
// any integer or float type are read as float32. A batch takes consecutive rows and carries on into
// the next file (in list order, wrapping to the first), loading one file at a time as Caffe does.
// With shuffle, the files are reshuffled at every pass and each file's rows whenever it is
// (re)entered, from a stream seeded by one draw of the global generator (Caffe uses
// std::random_shuffle, so shuffled orders differ from Caffe's). Transformations are refused:
// HDF5 data is generic.
//
// HDF5 files are read with h5wasm in the data worker (src/data/hdf5.ts).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Blob } from '../graph/blob.js';
import { Rng, globalRng } from '../kernels/rng.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { readHdf5, type H5Dataset } from '../data/hdf5.js';
import { shuffleInPlace } from '../data/loaders.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class HDF5DataLayer extends Layer {
  private files: string[] = [];
  private filePerm: number[] = [];
  private currentFile = 0;
  private currentRow = 0;
  private rows: H5Dataset[] = [];
  private rowPerm: number[] = [];
  private rng: Rng | null = null;
  private batchSize = 0;

  override get type(): string {
    return 'HDF5Data';
  }
  override exactNumBottomBlobs(): number {
    return 0;
  }
  override minTopBlobs(): number {
    return 1;
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    this.check(!has(this.param, 'transform_param'), 'HDF5Data does not transform data: remove transform_param');
    const p: Message = this.param.hdf5_data_param ?? newMessage('HDF5DataParameter');
    const source: string = p.source ?? '';
    this.check(source !== '', 'hdf5_data_param.source is not set');
    let text: string;
    try {
      text = readFileSync(resolve(source), 'utf8');
    } catch (e) {
      throw this.error(`failed to open source file '${source}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    this.files = text.split(/\s+/).filter((s) => s !== '').map((f) => resolve(f));
    this.check(this.files.length >= 1, `must have at least 1 HDF5 filename listed in '${source}'`);
    this.batchSize = p.batch_size;
    this.check(this.batchSize > 0, `hdf5_data_param.batch_size must be positive, got ${this.batchSize}`);
    this.rng = p.shuffle ? new Rng(globalRng().nextUint32()) : null;
    this.filePerm = this.files.map((_, i) => i);
    if (this.rng) shuffleInPlace(this.filePerm, this.rng);
    this.currentFile = 0;
    this.loadFile(this.files[this.filePerm[0]]);
    this.currentRow = 0;
    this.rows.forEach((d, i) => top[i].reshape([this.batchSize, ...d.shape.slice(1)]));
  }

  private loadFile(file: string): void {
    const names: string[] = this.param.top;
    let sets: H5Dataset[];
    try {
      sets = readHdf5(file, names);
    } catch (e) {
      throw this.error((e as Error).message);
    }
    const num = sets[0].shape[0];
    for (let i = 1; i < sets.length; i++) {
      this.check(sets[i].shape[0] === num,
        () => `${file}: dataset '${names[i]}' has ${sets[i].shape[0]} rows but '${names[0]}' has ${num}; every dataset needs the same number of rows`);
    }
    this.check(num > 0, () => `${file}: the datasets hold no rows`);
    if (this.rows.length) {
      // Later files must give rows of the shapes the tops were set up with.
      sets.forEach((d, i) => {
        const want = this.rows[i].shape.slice(1).join('x');
        this.check(d.shape.slice(1).join('x') === want,
          () => `${file}: dataset '${names[i]}' has rows of shape (${d.shape.slice(1).join(',')}) but the first file's are (${this.rows[i].shape.slice(1).join(',')})`);
      });
    }
    this.rows = sets;
    this.rowPerm = Array.from({ length: num }, (_, i) => i);
    if (this.rng) shuffleInPlace(this.rowPerm, this.rng);
  }

  /** Caffe's HDF5DataLayer::Next. */
  private next(): void {
    if (++this.currentRow === this.rows[0].shape[0]) {
      if (this.files.length > 1) {
        this.currentFile++;
        if (this.currentFile === this.files.length) {
          this.currentFile = 0;
          if (this.rng) shuffleInPlace(this.filePerm, this.rng);
        }
        this.loadFile(this.files[this.filePerm[this.currentFile]]);
      }
      this.currentRow = 0;
      if (this.rng) shuffleInPlace(this.rowPerm, this.rng);
    }
  }

  override reshape(_bottom: Blob[], _top: Blob[]): void {}

  protected override forwardCpu(_bottom: Blob[], top: Blob[]): void {
    for (let i = 0; i < this.batchSize; i++) {
      const row = this.rowPerm[this.currentRow];
      for (let j = 0; j < top.length; j++) {
        const dim = top[j].count / top[j].shape[0];
        top[j].data.set(this.rows[j].data.subarray(row * dim, (row + 1) * dim), i * dim);
      }
      this.next();
    }
  }

  protected override backwardCpu(): void {}
}

registerLayer('HDF5Data', HDF5DataLayer);
