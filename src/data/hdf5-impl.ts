// HDF5 reading and writing with h5wasm (the HDF5 C library compiled to WebAssembly), as Caffe's
// util/hdf5.cpp uses it: datasets are read as float32 whatever their stored numeric type
// (H5LTread_dataset_float converts), and written as float32 datasets of the blob's shape.
// h5wasm initializes asynchronously, so these run inside the data worker (see hdf5.ts for the
// synchronous API that layers use).

import { closeSync, openSync, readSync } from 'node:fs';

/** h5wasm signals a file it could not open with a negative id (and prints HDF5's error stack). */
function checkOpened(f: { file_id: bigint }, path: string, what: string): void {
  if (BigInt(f.file_id) < 0n) throw new Error(`${what} HDF5 file ${path} failed`);
}

export interface H5Dataset {
  name: string;
  shape: number[];
  data: Float32Array;
}

type H5Module = typeof import('h5wasm/node');
let h5: Promise<H5Module> | null = null;

async function load(): Promise<H5Module> {
  h5 ??= (async () => {
    const m = await import('h5wasm/node');
    await m.ready;
    return m;
  })();
  return h5;
}

// HDF5's H5T_class_t values that h5wasm reports as metadata.type.
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const CLASS_NAMES: Record<number, string> = {
  2: 'H5T_TIME',
  3: 'H5T_STRING',
  4: 'H5T_BITFIELD',
  5: 'H5T_OPAQUE',
  6: 'H5T_COMPOUND',
  7: 'H5T_REFERENCE',
  8: 'H5T_ENUM',
  9: 'H5T_VLEN',
  10: 'H5T_ARRAY',
};

/** Reads the named datasets of an HDF5 file as float32 (the names are the layer's tops). */
export async function h5Read(path: string, names: string[]): Promise<H5Dataset[]> {
  // Check the file first: h5wasm reports unreadable files only on the HDF5 error stack.
  const head = new Uint8Array(8);
  try {
    const fd = openSync(path, 'r');
    try {
      readSync(fd, head, 0, 8, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new Error(`failed opening HDF5 file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  if (sig.some((b, i) => head[i] !== b)) {
    throw new Error(`failed opening HDF5 file ${path}: not an HDF5 file`);
  }
  const m = await load();
  const f = new m.File(path, 'r');
  checkOpened(f, path, 'opening');
  try {
    return names.map((name) => {
      const ds = f.get(name);
      if (!ds || !(ds instanceof m.Dataset)) throw new Error(`${path}: failed to find HDF5 dataset '${name}'${f.keys().length ? ` (the file holds: ${f.keys().join(', ')})` : ''}`);
      const meta = ds.metadata as { type: number };
      if (meta.type !== H5T_FLOAT && meta.type !== H5T_INTEGER) {
        throw new Error(`${path}: dataset '${name}' has unsupported datatype class ${CLASS_NAMES[meta.type] ?? meta.type}; expected float or integer numbers`);
      }
      const shape = ds.shape ?? [];
      if (shape.length < 1) throw new Error(`${path}: dataset '${name}' is a scalar; it needs at least 1 axis`);
      const value = ds.value as ArrayLike<number | bigint> | null;
      const count = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(count);
      if (value && count > 0) {
        if (value instanceof Float32Array) data.set(value);
        else for (let i = 0; i < count; i++) data[i] = Number(value[i]);
      }
      return { name, shape, data };
    });
  } finally {
    f.close();
  }
}

/** Creates (truncates) an HDF5 file holding the given float32 datasets. */
export async function h5Write(path: string, datasets: H5Dataset[]): Promise<void> {
  // Create (truncate) the file with the file system first, for a plain error when it cannot be.
  try {
    closeSync(openSync(path, 'w'));
  } catch (e) {
    throw new Error(`cannot create HDF5 file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (e as Error).message}`);
  }
  const m = await load();
  const f = new m.File(path, 'w');
  checkOpened(f, path, 'creating');
  try {
    for (const d of datasets) {
      f.create_dataset({ name: d.name, data: d.data, shape: d.shape, dtype: '<f' });
    }
    f.flush();
  } finally {
    f.close();
  }
}
