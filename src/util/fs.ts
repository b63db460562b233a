// File-system helpers.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

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
    throw e;
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
    throw e;
  }
}
