// node:fs in the browser bundle: the package's own embedded files read as on disk (assets.ts);
// any other path is a PlatformError that says to pass the contents instead. Nothing is written.
import { assetBytes, assetDir, assetName } from './assets.js';
import { noFiles } from './errors.js';

type PathLike = string | URL;

function pathOf(p: PathLike): string {
  return typeof p === 'string' ? p : p.href;
}

export function readFileSync(p: PathLike | number, encoding?: string | { encoding?: string }): Uint8Array | string {
  const name = typeof p === 'number' ? undefined : assetName(pathOf(p));
  if (name === undefined) noFiles('read', p);
  const bytes = assetBytes(name);
  const enc = typeof encoding === 'string' ? encoding : encoding?.encoding;
  return enc ? new TextDecoder().decode(bytes) : bytes;
}

export function existsSync(p: PathLike): boolean {
  const s = pathOf(p);
  return assetName(s) !== undefined || assetDir(s) !== undefined;
}

export function readdirSync(p: PathLike): string[] {
  const names = assetDir(pathOf(p));
  if (!names) noFiles('list', p);
  return names;
}

export function statSync(p: PathLike, opts?: { throwIfNoEntry?: boolean }): { size: number; isFile(): boolean; isDirectory(): boolean } | undefined {
  const s = pathOf(p);
  const name = assetName(s);
  if (name !== undefined) return { size: assetBytes(name).length, isFile: () => true, isDirectory: () => false };
  if (assetDir(s)) return { size: 0, isFile: () => false, isDirectory: () => true };
  if (opts?.throwIfNoEntry === false) return undefined;
  return noFiles('stat', p);
}

const refuse = (what: string) => (p: unknown) => noFiles(what, p);

export const openSync = refuse('open');
export const fstatSync = refuse('stat');
export const readSync = refuse('read');
export const closeSync = (): void => {};
export const writeSync = refuse('write');
export const writeFileSync = refuse('write');
export const fsyncSync = refuse('sync');
export const renameSync = refuse('rename');
export const unlinkSync = refuse('remove');
export const rmSync = refuse('remove');
export const mkdirSync = refuse('create the folder');
export const mkdtempSync = refuse('create a temporary folder');

export default { readFileSync, existsSync, readdirSync, statSync, openSync, fstatSync, readSync, closeSync, writeSync, writeFileSync, fsyncSync, renameSync, unlinkSync, rmSync, mkdirSync, mkdtempSync };
