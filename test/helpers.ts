// Helpers shared by the test suites (besides gradient-checker.ts).
import { expect, it } from 'vitest';
import { join, relative } from 'node:path';
import { Blob } from '../src/graph/blob.js';
import { findCases, runCase } from '../src/check/runner.js';
import { createLayer, type Layer } from '../src/layers/index.js';
import { fromObject } from '../src/proto/schema.js';

/** The repo's copy of the BVLC Caffe reference cases. */
export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/**
 * One test per reference case under `dir` (named by its path below `root`), after one checking
 * that there are some (named `holds`).
 */
export function caseTests(dir: string, root = dir, holds = 'the fixture copy holds cases'): void {
  const cases = findCases(dir);
  it(holds, () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(relative(root, c), () => {
      const r = runCase(c);
      expect(r.failures.join('\n')).toBe('');
      expect(r.ok).toBe(true);
    });
  }
}

/** caseTests for the layer groups fixtures/layers/<name>. */
export function layerCaseTests(names: readonly string[]): void {
  const root = join(FIXTURES, 'layers');
  for (const name of names) caseTests(join(root, name), root, `fixtures hold cases of ${name}`);
}

/** A blob of `shape` holding `values`. */
export function blobOf(shape: number[], values: ArrayLike<number>): Blob {
  const b = new Blob(shape);
  b.data.set(values);
  return b;
}

/** `n` empty blobs, to pass as tops. */
export function tops(n: number): Blob[] {
  return Array.from({ length: n }, () => new Blob());
}

export type Phase = 'TRAIN' | 'TEST';

/** A layer of `type` named 'l', in `phase`, with `extra` LayerParameter fields. */
export function layer(type: string, extra: Record<string, unknown> = {}, phase: Phase = 'TRAIN'): Layer {
  return createLayer(fromObject('LayerParameter', { name: 'l', type, phase, ...extra }));
}
