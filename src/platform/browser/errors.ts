import { CaffeError } from '../../util/errors.js';

/** Something only Node can do (files, processes) was asked of caffe-ts in a browser. */
export class PlatformError extends CaffeError {
}

export function noFiles(what: string, path: unknown): never {
  throw new PlatformError(
    `${String(path)}: cannot ${what} in a browser: caffe-ts has no file system there; pass the file's contents instead (Net.fromBuffers, decodeMessage, parseText)`,
  );
}
