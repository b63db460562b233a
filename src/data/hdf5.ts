// Synchronous HDF5 reading and writing for the HDF5Data and HDF5Output layers and for HDF5
// weights and snapshots. The work is done by
// h5wasm inside the data worker (see worker-client.ts and hdf5-impl.ts); these calls block until
// it is done. Paths are resolved against the current working directory here, as Caffe opens them.
import { resolve } from 'node:path';
import { CaffeError } from '../util/errors.js';
import { maxBlobBytes } from '../graph/blob.js';
import { FileFormatError } from '../format/io.js';
import { writeAtomicVia } from '../util/fs.js';
import type { H5Dataset, H5Entry, H5Tree } from './hdf5-impl.js';
import { dataWorker } from './worker-client.js';

export type { H5Dataset, H5Entry, H5Tree };

/** Reads datasets `names` of an HDF5 file as float32 (Caffe's hdf5_load_nd_dataset). */
export function readHdf5(path: string, names: string[]): H5Dataset[] {
  const abs = resolve(path);
  try {
    return dataWorker().call({ op: 'h5read', path: abs, names, maxBytes: maxBlobBytes }, `reading ${path}`) as H5Dataset[];
  } catch (e) {
    // HDF5's own messages ("name not defined", ...) do not say which file: add it.
    const msg = (e as Error).message;
    throw new CaffeError(msg.includes(abs) || msg.includes(path) ? msg : `${path}: ${msg}`);
  }
}

/** Writes float32 datasets to a new HDF5 file (truncating an existing one). */
export function writeHdf5(path: string, datasets: H5Dataset[]): void {
  const abs = resolve(path);
  // Copy: the buffers are transferred to the worker.
  const copies = datasets.map((d) => ({ name: d.name, shape: d.shape.slice(), data: Float32Array.from(d.data) }));
  dataWorker().call({ op: 'h5write', path: abs, datasets: copies }, `writing ${path}`, copies.map((d) => d.data.buffer as ArrayBuffer));
}

/** Reads a whole HDF5 file: its groups and datasets (snapshot layouts; see hdf5-impl.ts). */
export function readHdf5Tree(path: string): H5Tree {
  const abs = resolve(path);
  try {
    return dataWorker().call({ op: 'h5readtree', path: abs, maxBytes: maxBlobBytes }, `reading ${path}`) as H5Tree;
  } catch (e) {
    throw new FileFormatError(path, (e as Error).message.replace(`${abs}: `, ''));
  }
}

/** Writes a whole HDF5 file atomically (a temporary file renamed into place). */
export function writeHdf5Tree(path: string, tree: H5Tree): void {
  const abs = resolve(path);
  const copy: H5Tree = {
    groups: tree.groups.slice(),
    datasets: tree.datasets.map((d) => ({ ...d, shape: d.shape.slice(), data: d.data ? d.data.slice() : null })),
  };
  const transfer = copy.datasets.flatMap((d) => (d.data ? [d.data.buffer as ArrayBuffer] : []));
  writeAtomicVia(abs, (tmp) => {
    try {
      dataWorker().call({ op: 'h5writetree', path: tmp, tree: copy }, `writing ${path}`, transfer);
    } catch (e) {
      throw new CaffeError((e as Error).message.replace(tmp, abs));
    }
  });
}
