// HDF5 reading and writing with h5wasm (the HDF5 C library compiled to WebAssembly), as Caffe's
// util/hdf5.cpp uses it: datasets are read as float32 whatever their stored numeric type
// (H5LTread_dataset_float converts), and written as float32 datasets of the blob's shape.
// h5wasm initializes asynchronously, so these run inside the data worker (see hdf5.ts for the
// synchronous API that layers use).

import { closeSync, existsSync, openSync, readSync } from 'node:fs';

/** h5wasm signals a file it could not open with a negative id (and prints HDF5's error stack). */
function checkOpened(f: { file_id: bigint }, path: string, what: string): void {
  if (BigInt(f.file_id) >= 0n) return;
  // The file can vanish between checkSignature and HDF5's own open (another process deleting it
  // mid-epoch): say so rather than HDF5's generic failure.
  const gone = what === 'opening' && !existsSync(path);
  throw new Error(`${what} HDF5 file ${path} failed${gone ? ': no such file' : ''}`);
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
/** Fails with a plain message when `path` cannot be read or is not an HDF5 file (h5wasm only reports these on HDF5's error stack). */
async function checkSignature(path: string): Promise<void> {
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
}

/** Reads the named datasets of an HDF5 file as float32 (the names are the layer's tops). */
export async function h5Read(path: string, names: string[], maxBytes = Infinity): Promise<H5Dataset[]> {
  await checkSignature(path);
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
      // A hostile header may declare any shape: refuse it before HDF5 reads (allocates) it.
      const declared = shape.reduce((a, b) => a * b, 1) * 4;
      if (declared > maxBytes) throw new Error(`${path}: dataset '${name}' of shape (${shape.join(',')}) needs ${declared} bytes, over the ${maxBytes} allowed`);
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
  await h5WriteTree(path, { groups: [], datasets: datasets.map((d) => ({ path: d.name, shape: d.shape, kind: 'float', data: d.data })) });
}

/** One dataset of a whole-file read or write: a path below the root ("data/conv1/0"). */
export interface H5Entry {
  path: string;
  shape: number[];
  /** float32 numbers, int32 numbers, or one fixed-length string (a scalar dataset). */
  kind: 'float' | 'int' | 'string';
  data: Float32Array | Int32Array | null;
  text?: string;
}

/** A whole file: its groups (paths, parents first) and datasets, each in HDF5's link-name order. */
export interface H5Tree {
  groups: string[];
  datasets: H5Entry[];
}

/**
 * Reads every group and dataset of an HDF5 file (Caffe's snapshot layouts are small trees).
 * Numeric datasets come back as float32 (float classes) or int32 (integer classes); the sum of
 * their sizes is checked against `maxBytes` before anything is read, so a hostile header cannot
 * make us allocate without bound.
 */
export async function h5ReadTree(path: string, maxBytes: number): Promise<H5Tree> {
  await checkSignature(path);
  const m = await load();
  const f = new m.File(path, 'r');
  checkOpened(f, path, 'opening');
  try {
    const tree: H5Tree = { groups: [], datasets: [] };
    const found: { path: string; ds: InstanceType<H5Module['Dataset']> }[] = [];
    const walk = (g: InstanceType<H5Module['Group']>, prefix: string, depth: number) => {
      if (depth > 64) throw new Error(`${path}: groups nested more than 64 deep`);
      for (const name of g.keys()) {
        const child = g.get(name);
        const p = prefix ? `${prefix}/${name}` : name;
        if (child instanceof m.Dataset) found.push({ path: p, ds: child });
        else if (child instanceof m.Group) {
          tree.groups.push(p);
          walk(child, p, depth + 1);
        }
      }
    };
    walk(f, '', 0);
    let bytes = 0;
    for (const { path: p, ds } of found) {
      const meta = ds.metadata as { type: number; size: number };
      const shape = ds.shape ?? [];
      const count = shape.reduce((a, b) => a * b, 1);
      bytes += meta.type === H5T_FLOAT || meta.type === H5T_INTEGER ? count * 4 : count * (meta.size || 1);
      if (bytes > maxBytes) throw new Error(`${path}: dataset '${p}' of shape (${shape.join(',')}) takes the file's datasets over the ${maxBytes} bytes allowed`);
    }
    for (const { path: p, ds } of found) {
      const meta = ds.metadata as { type: number };
      const shape = ds.shape ?? [];
      const count = shape.reduce((a, b) => a * b, 1);
      if (meta.type === H5T_FLOAT || meta.type === H5T_INTEGER) {
        const data = meta.type === H5T_FLOAT ? new Float32Array(count) : new Int32Array(count);
        const value = ds.value as ArrayLike<number | bigint> | number | bigint | null;
        if (typeof value === 'number' || typeof value === 'bigint') data[0] = Number(value);
        else if (value && count > 0) {
          if (value instanceof Float32Array && data instanceof Float32Array) data.set(value);
          else for (let i = 0; i < count; i++) data[i] = Number(value[i]);
        }
        tree.datasets.push({ path: p, shape, kind: meta.type === H5T_FLOAT ? 'float' : 'int', data });
      } else if (meta.type === 3) {
        const value = ds.value as unknown;
        const text = typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : '';
        tree.datasets.push({ path: p, shape, kind: 'string', data: null, text });
      }
      // Other classes (compound, references...) are not part of Caffe's layouts: left out.
    }
    return tree;
  } finally {
    f.close();
  }
}

/**
 * Creates (truncates) an HDF5 file holding `groups` (created in order, so parents first) and the
 * datasets: float32 and int32 arrays of their shape, strings as scalar null-terminated ASCII
 * strings (what Caffe's H5LTmake_dataset_string writes).
 */
export async function h5WriteTree(path: string, tree: H5Tree): Promise<void> {
  try {
    closeSync(openSync(path, 'w'));
  } catch (e) {
    throw new Error(`cannot create HDF5 file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (e as Error).message}`);
  }
  const m = await load();
  const f = new m.File(path, 'w');
  checkOpened(f, path, 'creating');
  try {
    for (const g of tree.groups) f.create_group(g);
    for (const d of tree.datasets) {
      if (d.kind === 'string') {
        const text = d.text ?? '';
        f.create_dataset({ name: d.path, data: text, shape: [], dtype: `A${Buffer.byteLength(text) + 1}` });
      } else {
        f.create_dataset({ name: d.path, data: d.data!, shape: d.shape, dtype: d.kind === 'float' ? '<f' : '<i' });
      }
    }
    f.flush();
  } finally {
    f.close();
  }
}
