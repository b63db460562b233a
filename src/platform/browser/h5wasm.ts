// h5wasm in the browser bundle: HDF5 files (HDF5Data, HDF5Output, .caffemodel.h5) are read in
// Node's data worker; in a browser they are refused by name.
import { PlatformError } from './errors.js';

export function File(): never {
  throw new PlatformError('HDF5 files need Node (caffe-ts reads them with h5wasm in a worker thread); in a browser use binary caffemodels');
}

export const ready = Promise.resolve();
export default { ready, File };
