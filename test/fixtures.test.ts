// Every BVLC Caffe reference case copied into fixtures/ runs here (see fixtures/FORMAT.md).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseTests, FIXTURES } from './helpers.js';
import { compareTensor } from '../src/check/compare.js';

// Solver cases of fixtures/solver run in test/solvers.test.ts; fixtures/oracle holds net, data and
// solver cases computed by a real Caffe from our own specs (fixtures/oracle/SOURCES.md).
const GROUPS = ['upgrade', 'layers', 'graph', 'trained', 'zoo', 'data', 'oracle'];

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
