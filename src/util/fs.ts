// File-system helpers.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CaffeError } from './errors.js';

/** A file that could not be written (disk full, no permission ...): names the file, keeps the errno code. */
export class FileWriteError extends CaffeError {
  constructor(
    readonly file: string,
    readonly code: string | undefined,
    detail: string,
  ) {
    super(`cannot write ${file}: ${detail}`);
  }
}

function writeError(path: string, e: unknown): Error {
  if (e instanceof CaffeError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const detail = code === 'ENOSPC' ? 'no space left on the device' : code === 'EDQUOT' ? 'disk quota exceeded' : (e as Error).message;
  return new FileWriteError(path, code, `${detail}; the previous file, if any, is unchanged`);
}

/**
 * Writes a file atomically: the bytes go to a temporary file in the same folder, which is
 * flushed and then renamed over `path`, so readers see either the old file or the complete new
 * one. The temporary file is removed if anything fails.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx', 0o666);
    let off = 0;
    while (off < data.byteLength) {
      off += writeSync(fd, data, off, Math.min(data.byteLength - off, 1 << 30));
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch {
        // already failing
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // not created, or already gone
    }
    throw writeError(path, e);
  }
}

/**
 * Atomic write for producers that need a path (an HDF5 library, say): `write` creates the
 * temporary file it is given, which is then renamed over `path`, or removed if anything fails.
 */
export function writeAtomicVia(path: string, write: (tmpPath: string) => void): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    write(tmp);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // not created, or already gone
    }
    throw writeError(path, e);
  }
}
