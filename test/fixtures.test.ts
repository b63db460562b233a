// Every BVLC Caffe reference case copied into fixtures/ runs here (see fixtures/FORMAT.md).
import { describe, expect, it } from 'vitest';
import { join, relative } from 'node:path';
import { findCases, runCase } from '../src/check/runner.js';

const root = join(__dirname, '..', 'fixtures');
// Solver cases run in test/solvers.test.ts.
const GROUPS = ['upgrade', 'layers', 'graph', 'trained', 'zoo', 'data'];

for (const group of GROUPS) {
  const dir = join(root, group);
  describe(group, () => {
    const cases = findCases(dir);
    it('the fixture copy holds cases', () => expect(cases.length).toBeGreaterThan(0));
    for (const caseDir of cases) {
      it(relative(dir, caseDir), () => {
        const r = runCase(caseDir);
        expect(r.failures.join('\n')).toBe('');
        expect(r.ok).toBe(true);
      });
    }
  });
}
