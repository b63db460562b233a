// Every BVLC Caffe reference case copied into fixtures/ runs here (see fixtures/FORMAT.md).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { caseTests, FIXTURES } from './helpers.js';
import { compareTensor, toleranceFor } from '../src/check/compare.js';
import { runCase } from '../src/check/runner.js';
import { readNpyAsFloat32, writeNpy } from '../src/format/npy.js';

// Solver cases of fixtures/solver run in test/solvers.test.ts; fixtures/oracle holds net, data and
// solver cases computed by a real Caffe from our own specs (fixtures/oracle/SOURCES.md).
const GROUPS = ['upgrade', 'layers', 'graph', 'trained', 'zoo', 'data', 'oracle', 'fork'];

for (const group of GROUPS) describe(group, () => caseTests(join(FIXTURES, group)));

describe('compareTensor (FORMAT.md tolerance)', () => {
  const t = (data: number[]) => ({ shape: [data.length], data });
  const tol = { abs: 1e-5, rel: 1e-4 };
  it('scales the relative part by the largest finite expected value', () => {
    expect(compareTensor(t([1000, 1]), t([1000.05, 1]), tol)).toBeNull();
    expect(compareTensor(t([1000, 1]), t([1000.2, 1]), tol)).toMatch(/max abs error 0\.2/);
  });
  it('matches NaN only with NaN and an infinity only with itself, as Caffe writes them', () => {
    // Caffe gives NaN for an AVE window past the input (0 / 0) and for roots of negatives.
    expect(compareTensor(t([NaN, 2, -Infinity]), t([NaN, 2, -Infinity]), tol)).toBeNull();
    expect(compareTensor(t([NaN, 2]), t([1, 2]), tol)).toMatch(/flat index 0/);
    expect(compareTensor(t([1, 2]), t([NaN, 2]), tol)).toMatch(/flat index 0/);
    expect(compareTensor(t([1, Infinity]), t([1, -Infinity]), tol)).toMatch(/flat index 1/);
    expect(compareTensor(t([1, 3e38]), t([1, Infinity]), tol)).toMatch(/flat index 1/);
  });
});

describe('tensor_tolerance (FORMAT.md: a tensor whose own bound replaces the case tolerance)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-tensor-tol-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  // A copy of a real case whose expected y is moved by 0.01 at one element: past the case's
  // tolerance (1e-5 + 1e-4 * max|y|), inside a tensor_tolerance of 0.02 for fwd.y.npy.
  const copyCase = (name: string, edit: (spec: any) => void): string => {
    const dir = join(tmp, name);
    cpSync(join(FIXTURES, 'layers', 'absval', 'default', 'test'), dir, { recursive: true });
    const y = readNpyAsFloat32(join(dir, 'fwd.y.npy'));
    y.data[3] += 0.01;
    writeNpy(join(dir, 'fwd.y.npy'), y.shape, y.data);
    const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
    edit(spec);
    writeFileSync(join(dir, 'case.json'), JSON.stringify(spec));
    return dir;
  };

  it('picks the tensor\'s own bound, else the case\'s, else the default', () => {
    const fallback = { abs: 1, rel: 1 };
    const spec = { tolerance: { abs: 2, rel: 0 }, tensor_tolerance: { 'a.npy': { abs: 3, rel: 0 } } };
    expect(toleranceFor(spec, 'a.npy', fallback)).toEqual({ abs: 3, rel: 0 });
    expect(toleranceFor(spec, 'b.npy', fallback)).toEqual({ abs: 2, rel: 0 });
    expect(toleranceFor({}, 'a.npy', fallback)).toBe(fallback);
    expect(toleranceFor(spec, 'constructor', fallback)).toEqual({ abs: 2, rel: 0 }); // own keys only
  });
  it('without it the moved tensor fails the case tolerance', () => {
    const r = runCase(copyCase('plain', () => {}));
    expect(r.ok).toBe(false);
    expect(r.failures.join('\n')).toMatch(/forward 'y': max abs error 0\.0100/);
  });
  it('a tensor passes only through its own bound', () => {
    const r = runCase(copyCase('own', (spec) => (spec.tensor_tolerance = { 'fwd.y.npy': { abs: 0.02, rel: 0 } })));
    expect(r.failures).toEqual([]);
  });
  it('a tensor that exceeds its own bound fails, and other tensors keep the case tolerance', () => {
    const tight = runCase(copyCase('tight', (spec) => (spec.tensor_tolerance = { 'fwd.y.npy': { abs: 0.005, rel: 0 } })));
    expect(tight.failures.join('\n')).toMatch(/forward 'y'.*exceeds 0\.005000/);
    const other = runCase(copyCase('other', (spec) => (spec.tensor_tolerance = { 'fwd.x.npy': { abs: 1, rel: 0 } })));
    expect(other.failures.join('\n')).toMatch(/forward 'y'/);
  });
  it('the solver case that needs it fails without it, naming the two noise tensors', () => {
    const dir = join(tmp, 'adam');
    cpSync(join(FIXTURES, 'solver', 'bn_scale_adam_train'), dir, { recursive: true });
    const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
    expect(Object.keys(spec.tensor_tolerance).sort()).toEqual(['after.bn1.0.npy', 'after.conv1.1.npy']);
    delete spec.tensor_tolerance;
    writeFileSync(join(dir, 'case.json'), JSON.stringify(spec));
    const r = runCase(dir);
    expect(r.failures.length).toBeGreaterThan(0);
    for (const f of r.failures) expect(f).toMatch(/^param (1 of layer 'conv1'|0 of layer 'bn1')/);
  });
});
